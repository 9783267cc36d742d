"""Importing user detector files: validation, a real test inference, the copy and its record."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioning.model_build import COCO_CLASSES
from provisioning.model_import import ImportedModelRecord, ModelImportError, import_model

SHARED_NANODET_SHA256 = "373237b3c8617671573b61f008a822b19e6bc5f5c4efa428d400b4c8ffd27e74"
# The Ultralytics stand-in of tests/provisioning/test_model_build.py (YOLO_CHANNELS_FIRST): input [1,3,64,64],
# names "{0: 'cat', 1: 'dog'}", imgsz "[64, 64]", one output [1,6,84] = Expand(ReduceMean(images)).
TINY_YOLO = base64.b64decode(
    "CAgSDG91dHBvc3QtdGVzdDqlAQooCgZpbWFnZXMSAW0iClJlZHVjZU1lYW4qDwoIa2VlcGRpbXMYAKABAgobCgFtCgVzaGFwZRIHb3V0"
    "cHV0MCIGRXhwYW5kEgl5b2xvX3N0dWIqEAgDEAc6AwEGVEIFc2hhcGVaIAoGaW1hZ2VzEhYKFAgBEhAKAggBCgIIAwoCCEAKAghAYh0K"
    "B291dHB1dDASEgoQCAESDAoCCAEKAggGCgIIVEIECgAQEXIdCgVuYW1lcxIUezA6ICdjYXQnLCAxOiAnZG9nJ31yEQoFaW1nc3oSCFs2"
    "NCwgNjRd"
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imports_the_shared_nanodet(tmp_path: Path, nanodet_path: Path) -> None:
    models = tmp_path / "models"
    messages: list[str] = []
    before = datetime.now(UTC)

    info = import_model(nanodet_path, models, messages.append)

    dest = models / "nanodet-coco-416.onnx"
    assert info.path == dest
    assert (info.family, info.input_size, info.classes) == ("nanodet", 416, list(COCO_CLASSES))
    assert info.sha256 == sha256(dest) == SHARED_NANODET_SHA256
    record = ImportedModelRecord.model_validate_json((models / "nanodet-coco-416.json").read_text())
    assert record.file == dest.name
    assert record.family == "nanodet"
    assert record.classes[:3] == ["person", "bicycle", "car"]
    assert record.input_size == 416
    assert record.sha256 == SHARED_NANODET_SHA256
    assert record.source == "nanodet-coco-416.onnx" and not record.converted_from_pt
    assert before <= record.imported_at <= datetime.now(UTC)
    assert any("running one inference" in m for m in messages)
    assert sorted(p.name for p in models.iterdir()) == [
        "nanodet-coco-416.json",
        "nanodet-coco-416.onnx",
        "nanodet-coco-416.onnx.sha256",
    ]


def test_importing_the_same_model_again_is_harmless(tmp_path: Path, nanodet_path: Path) -> None:
    models = tmp_path / "models"
    import_model(nanodet_path, models, lambda _: None)

    again = import_model(nanodet_path, models, lambda _: None)

    assert again.sha256 == SHARED_NANODET_SHA256


def test_a_different_model_of_the_same_name_needs_replace(tmp_path: Path, nanodet_path: Path) -> None:
    models = tmp_path / "models"
    import_model(nanodet_path, models, lambda _: None)
    other = tmp_path / "upload" / "nanodet-coco-416.onnx"
    other.parent.mkdir()
    other.write_bytes(TINY_YOLO)

    with pytest.raises(ModelImportError, match="already exists and holds a different model"):
        import_model(other, models, lambda _: None)
    assert sha256(models / "nanodet-coco-416.onnx") == SHARED_NANODET_SHA256

    info = import_model(other, models, lambda _: None, replace=True)
    assert info.family == "yolo"
    assert json.loads((models / "nanodet-coco-416.json").read_text())["family"] == "yolo"


def test_imports_an_ultralytics_layout_onnx(tmp_path: Path) -> None:
    src = tmp_path / "pets.onnx"
    src.write_bytes(TINY_YOLO)

    info = import_model(src, tmp_path / "models", lambda _: None)

    assert (info.family, info.classes, info.input_size) == ("yolo", ["cat", "dog"], 64)
    assert (tmp_path / "models" / "pets.json").is_file()


def test_rejects_blazeface_as_no_object_detector(tmp_path: Path, shared_dir: Path) -> None:
    models = tmp_path / "models"

    with pytest.raises(
        ModelImportError,
        match=r"blazeface-256\.onnx: not a supported object detector \(NanoDet or Ultralytics YOLO\): "
        r"expected one NCHW image input \[1,3,S,S\]; found inputs .*\[1, 256, 256, 3\]",
    ):
        import_model(shared_dir / "models" / "blazeface-256.onnx", models, lambda _: None)
    assert not [p for p in models.iterdir()]  # nothing copied, no record, no temporary folder


def test_rejects_a_text_file_named_onnx(tmp_path: Path) -> None:
    fake = tmp_path / "detector.onnx"
    fake.write_text("this is a readme, not a model\n")

    with pytest.raises(ModelImportError, match=r"detector\.onnx: not a valid ONNX model \(onnxruntime cannot parse"):
        import_model(fake, tmp_path / "models", lambda _: None)


def test_pt_without_ultralytics_names_the_export_extra(tmp_path: Path) -> None:
    assert importlib.util.find_spec("ultralytics") is None, "this test needs a venv without the export extra"
    weights = tmp_path / "yolo11n.pt"
    weights.write_bytes(b"PK\x03\x04 not really torch weights")

    with pytest.raises(ModelImportError, match=r"needs Ultralytics and PyTorch.*pip install 'outpost\[export\]'"):
        import_model(weights, tmp_path / "models", lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "yolo11n.pt"]  # no .onnx beside the source
    assert not list((tmp_path / "models").iterdir())


@pytest.mark.parametrize("name", ["model.tflite", "weights"])
def test_rejects_other_file_types(tmp_path: Path, name: str) -> None:
    src = tmp_path / name
    src.write_bytes(b"\x00")

    with pytest.raises(ModelImportError, match="expected an .onnx file or Ultralytics .pt weights"):
        import_model(src, tmp_path / "models", lambda _: None)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="no such file"):
        import_model(tmp_path / "absent.onnx", tmp_path / "models", lambda _: None)
