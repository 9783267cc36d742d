"""A real Ultralytics ONNX export through `model import` and the edge's detector, compared with Ultralytics.

An untrained YOLO11n is built from Ultralytics' model YAML (no weight download) in the cached export venv
(tests/provisioning/ultralytics_venv.py: ~1.7 GB, a few minutes the first time, hence `network`), saved as .pt
and exported to ONNX offline. `model import` must take both files; the edge must load the ONNX file, decode its
[1, 84, 8400] output and find the same boxes as Ultralytics' own pre- and post-processing on the same frame.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import COCO_CLASSES, DetectorConfig, YoloDetector, load_detector
from provisioning.model_import import ImportedModelRecord, import_model
from tests.provisioning.ultralytics_venv import clean_env, ensure_export_venv, network_attempts, offline_env

pytestmark = [pytest.mark.network, pytest.mark.timeout(1800)]

REFERENCE_SCRIPT = Path(__file__).with_name("ultralytics_reference.py")
IMGSZ = 640


@pytest.fixture(scope="module")
def export_python() -> Path:
    """The export venv's python (built on first use)."""
    return ensure_export_venv()


@pytest.fixture(scope="module")
def exported(export_python: Path, tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> Path:
    """A folder with the untrained model (.pt and .onnx), the frame and Ultralytics' detections on it."""
    work = tmp_path_factory.mktemp("ultralytics")
    capture = cv2.VideoCapture(str(vtest_path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 200)
    ok, frame = capture.read()
    capture.release()
    assert ok
    np.save(work / "frame.npy", frame)
    (work / "classes.json").write_text(json.dumps(list(COCO_CLASSES)))
    proc = subprocess.run(
        [str(export_python), str(REFERENCE_SCRIPT), str(work), str(IMGSZ)],
        cwd=work,
        env={**clean_env(), **offline_env(work)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert network_attempts(work) == [], "Ultralytics tried to reach the network"
    return work


def reference(exported: Path) -> dict:
    return json.loads((exported / "reference.json").read_text())


def test_model_import_takes_the_onnx_export(exported: Path, tmp_path: Path) -> None:
    onnx_path = exported / reference(exported)["onnx"]

    info = import_model(onnx_path, tmp_path / "models", lambda _: None)

    assert (info.family, info.input_size, info.classes) == ("yolo", IMGSZ, list(COCO_CLASSES))
    record = ImportedModelRecord.model_validate_json((tmp_path / "models" / "yolo11n.json").read_text())
    assert (record.family, record.converted_from_pt) == ("yolo", False)


def test_model_import_exports_pt_weights_offline(
    exported: Path, export_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = {k: v for k, v in offline_env(tmp_path).items() if not k.startswith("YOLO_") or k == "YOLO_CONFIG_DIR"}
    for key, value in guard.items():  # the export subprocess inherits these; it must go offline by itself
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("YOLO_OFFLINE", raising=False)
    monkeypatch.delenv("YOLO_AUTOINSTALL", raising=False)
    messages: list[str] = []

    info = import_model(
        exported / "yolo11n-untrained.pt", tmp_path / "models", messages.append, imgsz=320, python=str(export_python)
    )

    assert (info.family, info.input_size, info.classes) == ("yolo", 320, list(COCO_CLASSES))
    assert info.path == tmp_path / "models" / "yolo11n-untrained.onnx"
    assert ImportedModelRecord.model_validate_json(info.path.with_suffix(".json").read_text()).converted_from_pt
    assert any("exporting yolo11n-untrained.pt to ONNX" in m for m in messages)
    assert network_attempts(tmp_path) == [], "the export tried to reach the network"


def test_edge_decodes_the_export_like_ultralytics(exported: Path) -> None:
    ref = reference(exported)
    frame = np.load(exported / "frame.npy")
    cfg = DetectorConfig(
        model_path=exported / ref["onnx"],
        classes=list(COCO_CLASSES),
        score_threshold=ref["threshold"],
        nms_iou=ref["iou"],
        threads=1,
    )

    detector = load_detector(cfg)  # type "auto": the layout decides
    assert isinstance(detector, YoloDetector)
    assert (detector.input_size, detector.class_names) == (IMGSZ, COCO_CLASSES)
    tensor, _ = detector.preprocess(frame)
    (raw,) = detector.session.run(None, {detector.session.get_inputs()[0].name: tensor})
    assert list(raw.shape) == ref["raw_shape"] == [1, 4 + len(COCO_CLASSES), 8400]  # channels first
    detections = detector.detect(frame)

    want = sorted(ref["detections"], key=lambda d: -d["score"])
    got = sorted(detections, key=lambda d: -d.score)
    assert len(want) >= 20, "the reference should hold enough detections to compare"
    assert [(d.class_id, d.label) for d in got] == [(w["class_id"], COCO_CLASSES[w["class_id"]]) for w in want]
    np.testing.assert_allclose([d.score for d in got], [w["score"] for w in want], rtol=1e-4)
    np.testing.assert_allclose([d.box for d in got], [w["box"] for w in want], atol=0.05)
