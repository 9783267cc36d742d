"""Import a user's detector into the models folder: validate, test-run, copy, and record it.

An ``.onnx`` file must have the NanoDet or Ultralytics YOLO layout (`describe_onnx_model`) and survive one
real onnxruntime inference on a blank frame. A ``.pt`` file is first exported to ONNX by Ultralytics in a
subprocess, which needs the ``export`` extra (ultralytics + torch); the appliance's runtime never imports it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import (
    Fail,
    InvalidArgument,
    InvalidGraph,
    InvalidProtobuf,
    NoSuchFile,
    RuntimeException,
)
from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from provisioning.child_process import output_tail, run_captured
from provisioning.model_build import ModelBuildError, ModelInfo, Progress, describe_onnx_model, write_checksum

EXPORT_HINT = "pip install 'outpost[export]'"
DEFAULT_EXPORT_IMGSZ = 640
EXPORT_TIMEOUT_S = 1800.0
_EXIT_NO_ULTRALYTICS = 3
# Ultralytics probes the internet (DNS) on import, sends usage analytics when online, and pip-installs missing
# export requirements; an import on a site box does none of that.
EXPORT_OFFLINE_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}
_ORT_ERRORS = (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile, OrtNotImplemented, RuntimeException)

# Runs in a subprocess so torch never loads into the caller; argv: weights path, image size.
_EXPORT_SCRIPT = """\
import sys
try:
    from ultralytics import YOLO
except ModuleNotFoundError as err:
    print(f"missing module: {err.name}", file=sys.stderr)
    sys.exit(3)
print(YOLO(sys.argv[1]).export(format="onnx", imgsz=int(sys.argv[2])))
"""


class ModelImportError(RuntimeError):
    """A model file cannot be imported."""


class ImportedModelRecord(BaseModel):
    """The facts written beside an imported model as ``<stem>.json``."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="Name of the ONNX file in the models folder.")
    family: Literal["nanodet", "yolo"] = Field(description="Output layout, which selects the decoder.")
    classes: list[str] = Field(description="Class names in output order.")
    input_size: int = Field(gt=0, description="Side of the square network input, in pixels.")
    sha256: str = Field(description="SHA-256 of the ONNX file, hex.")
    imported_at: AwareDatetime = Field(description="When the file was imported (UTC).")
    source: str = Field(description="Name of the file given to the import (.onnx or .pt).")
    converted_from_pt: bool = Field(description="Whether the ONNX file was exported from PyTorch weights.")


def import_model(
    src: Path,
    models_dir: Path,
    progress: Progress = print,
    *,
    imgsz: int = DEFAULT_EXPORT_IMGSZ,
    replace: bool = False,
    python: str = sys.executable,
) -> ModelInfo:
    """Validate `src` (.onnx, or .pt exported with Ultralytics), copy it into models_dir and record it."""
    src = Path(src)
    if not src.is_file():
        raise ModelImportError(f"{src}: no such file")
    suffix = src.suffix.lower()
    if suffix not in (".onnx", ".pt"):
        raise ModelImportError(f"{src.name}: expected an .onnx file or Ultralytics .pt weights, not '{suffix}'")
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=models_dir) as tmp:
        onnx_path = src
        if suffix == ".pt":
            progress(f"[1/4] exporting {src.name} to ONNX with Ultralytics (imgsz {imgsz})")
            onnx_path = _export_pt(src, Path(tmp), imgsz, python)
        else:
            progress(f"[1/4] reading {src.name}")
        progress("[2/4] checking the detector layout")
        info = _describe(onnx_path, src.name)
        progress(f"      {info.family}, {len(info.classes)} classes, {info.input_size}px input")
        progress("[3/4] running one inference with onnxruntime")
        _test_run(onnx_path, info, src.name)
        dest = models_dir / f"{src.stem}.onnx"
        progress(f"[4/4] copying to {dest}")
        _install(onnx_path, dest, info.sha256, replace, Path(tmp))
    record = ImportedModelRecord(
        file=dest.name,
        family=info.family,
        classes=info.classes,
        input_size=info.input_size,
        sha256=info.sha256,
        imported_at=datetime.now(UTC),
        source=src.name,
        converted_from_pt=suffix == ".pt",
    )
    record_path = dest.with_suffix(".json")
    tmp_record = record_path.with_name(f".{record_path.name}.tmp")
    tmp_record.write_text(record.model_dump_json(indent=2) + "\n")
    os.replace(tmp_record, record_path)
    write_checksum(dest, info.sha256)  # `outpost-provision doctor` verifies the model against it
    return info.model_copy(update={"path": dest})


def _describe(path: Path, shown: str) -> ModelInfo:
    """Return the detector description, with errors that say what is wrong with the user's file."""
    try:
        return describe_onnx_model(path)
    except ModelBuildError as err:
        text = str(err)
        marker = "onnxruntime cannot load it: "
        if marker in text:
            raise ModelImportError(
                f"{shown}: not a valid ONNX model (onnxruntime cannot parse it): {text.partition(marker)[2]}"
            ) from err
        raise ModelImportError(
            f"{shown}: not a supported object detector (NanoDet or Ultralytics YOLO): "
            f"{text.removeprefix(f'{path.name}: ').removeprefix('unsupported detector: ')}"
        ) from err


def _test_run(path: Path, info: ModelInfo, shown: str) -> None:
    """Run the model once on a blank frame and check the outputs have the described layout."""
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        size = info.input_size
        blank = np.zeros((1, 3, size, size), np.float32)
        outputs = session.run(None, {session.get_inputs()[0].name: blank})
    except _ORT_ERRORS as err:
        raise ModelImportError(f"{shown}: onnxruntime loads the model but cannot run it: {err}") from err
    nc = len(info.classes)
    shapes = [tuple(o.shape) for o in outputs]
    if info.family == "yolo":
        ok = len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] == 1 and 4 + nc in shapes[0][1:]
    else:
        cells = sorted((size // s) ** 2 for s in (8, 16, 32) for _ in range(2))
        ok = len(shapes) == 6 and sorted(s[1] for s in shapes) == cells and all(s[0] == 1 for s in shapes)
    if not ok or not all(np.isfinite(o).all() for o in outputs):
        raise ModelImportError(f"{shown}: a test inference gave unexpected outputs {shapes} for {info.family}")


def _install(onnx_path: Path, dest: Path, sha256: str, replace: bool, tmp: Path) -> None:
    """Copy the model to dest atomically; refuse to overwrite a different model unless replace."""
    if dest.exists() and not replace:
        if _file_sha256(dest) == sha256:
            return  # the same model imported again: nothing to copy
        raise ModelImportError(
            f"{dest} already exists and holds a different model; rename the file or import with replace"
        )
    staged = tmp / f"staged-{dest.name}"  # not dest.name: a .pt export already wrote that name in tmp
    shutil.copyfile(onnx_path, staged)
    os.replace(staged, dest)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _export_pt(src: Path, work: Path, imgsz: int, python: str) -> Path:
    """Export Ultralytics weights to ONNX in a subprocess; return the ONNX path inside `work`."""
    if imgsz <= 0 or imgsz % 32:
        raise ModelImportError(f"imgsz {imgsz} must be a positive multiple of 32")
    # Ultralytics writes the .onnx beside the weights: export a copy so the user's folder stays untouched.
    weights = work / src.name
    shutil.copyfile(src, weights)
    try:
        cmd = [python, "-c", _EXPORT_SCRIPT, str(weights), str(imgsz)]
        proc = run_captured(cmd, timeout=EXPORT_TIMEOUT_S, cwd=work, env={**os.environ, **EXPORT_OFFLINE_ENV})
    except subprocess.TimeoutExpired as err:
        raise ModelImportError(f"{src.name}: the ONNX export did not finish within {EXPORT_TIMEOUT_S:.0f} s") from err
    except OSError as err:
        raise ModelImportError(f"cannot run {python} for the ONNX export: {err}") from err
    if proc.returncode == _EXIT_NO_ULTRALYTICS:
        raise ModelImportError(
            f"{src.name}: converting .pt weights needs Ultralytics and PyTorch, which are not installed "
            f"({proc.stdout.strip()}). Install the export extra with: {EXPORT_HINT} "
            "(or export to ONNX elsewhere and import the .onnx file)"
        )
    if proc.returncode != 0:
        raise ModelImportError(
            f"{src.name}: the Ultralytics ONNX export failed (exit {proc.returncode}):\n{output_tail(proc.stdout, 20)}"
        )
    exported = weights.with_suffix(".onnx")
    if not exported.is_file():
        raise ModelImportError(f"{src.name}: the Ultralytics export reported success but wrote no {exported.name}")
    return exported
