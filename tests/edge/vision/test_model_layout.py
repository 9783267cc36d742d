"""One layout decision for the edge's `type = "auto"` loading and `outpost-provision model import`.

Each case is a real ONNX file (constant outputs) loaded by onnxruntime; the edge and the import must both accept
it with the same family and classes, or both refuse it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.vision import COCO_CLASSES, DetectorConfig, DetectorError, load_detector
from edge.vision.detectors import ModelLayoutError, describe_layout
from provisioning.model_build import COCO_CLASSES as PROVISIONING_COCO
from provisioning.model_import import ModelImportError, import_model
from tests.onnx_writer import constant_outputs_model

SIZE = 64  # NanoDet cells at strides 8/16/32: 64, 16, 4


def _nanodet_outputs(classes: int, bins: int = 44) -> dict[str, np.ndarray]:
    outputs: dict[str, np.ndarray] = {}
    for stride in (8, 16, 32):
        cells = (SIZE // stride) ** 2
        outputs[f"cls_{stride}"] = np.zeros((1, cells, classes), np.float32)
        outputs[f"box_{stride}"] = np.zeros((1, cells, bins), np.float32)
    return outputs


def _yolo_outputs(classes: int) -> dict[str, np.ndarray]:
    return {"output0": np.zeros((1, 4 + classes, 21), np.float32)}


CASES = {
    # (outputs, metadata, expected (family, classes) or None when both must refuse)
    "nanodet coco, no names": (_nanodet_outputs(80), {}, ("nanodet", COCO_CLASSES)),
    "nanodet 2 classes with names": (
        _nanodet_outputs(2),
        {"names": "{0: 'person', 1: 'forklift'}"},
        ("nanodet", ("person", "forklift")),
    ),
    "nanodet-plus bins (reg_max 7)": (_nanodet_outputs(80, bins=32), {}, ("nanodet", COCO_CLASSES)),
    "nanodet 3 classes, no names": (_nanodet_outputs(3), {}, None),
    "nanodet names disagree with the head": (_nanodet_outputs(2), {"names": "['a', 'b', 'c']"}, None),
    "yolo coco, no names": (_yolo_outputs(80), {}, ("yolo", COCO_CLASSES)),
    "yolo 2 classes with names": (_yolo_outputs(2), {"names": "{0: 'cat', 1: 'dog'}"}, ("yolo", ("cat", "dog"))),
    "yolo 2 classes, no names": (_yolo_outputs(2), {}, None),
    "yolo unparsable names": (_yolo_outputs(2), {"names": "{0: 'cat', 1:"}, None),
    "five outputs": (dict(list(_nanodet_outputs(80).items())[:5]), {}, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_edge_and_import_agree(tmp_path: Path, case: str) -> None:
    outputs, metadata, expected = CASES[case]
    path = tmp_path / "model.onnx"
    path.write_bytes(constant_outputs_model([1, 3, SIZE, SIZE], outputs, metadata))
    # Keep only labels the model has, so the edge's class filter accepts it.
    classes = list(expected[1][:1]) if expected else ["person"]
    cfg = DetectorConfig(model_path=path, classes=classes, type="auto")

    if expected is None:
        with pytest.raises(DetectorError, match="no supported detector layout") as edge_err:
            load_detector(cfg)
        with pytest.raises(ModelImportError, match="not a supported object detector") as import_err:
            import_model(path, tmp_path / "models", lambda _: None)
        assert isinstance(edge_err.value.__cause__, ModelLayoutError)
        reason = edge_err.value.__cause__.reason
        assert reason in str(import_err.value)  # the same reason, word for word
        return

    detector = load_detector(cfg)
    info = import_model(path, tmp_path / "models", lambda _: None)
    assert (detector.type_key, detector.class_names) == expected
    assert (info.family, tuple(info.classes)) == expected
    assert detector.input_size == info.input_size == SIZE


def test_one_coco_list() -> None:
    assert PROVISIONING_COCO is COCO_CLASSES and len(COCO_CLASSES) == 80


def test_dynamic_yolo_size_comes_from_imgsz_metadata() -> None:
    layout = describe_layout([("images", [1, 3, "h", "w"])], [("output0", [1, 84, "anchors"])], {"imgsz": "[320, 320]"})
    assert (layout.family, layout.input_size, layout.dynamic_input) == ("yolo", 320, True)


def test_nanodet_needs_a_fixed_input() -> None:
    outputs = [(name, list(a.shape)) for name, a in _nanodet_outputs(80).items()]
    with pytest.raises(ModelLayoutError, match="NanoDet needs a fixed square input"):
        describe_layout([("images", [1, 3, "h", "w"])], outputs, {})
