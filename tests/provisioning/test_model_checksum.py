"""`model import` keeps `<model>.sha256` beside the model, and doctor's model check verifies the model against it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edge.config import EdgeConfig
from provisioning.doctor import check_model
from provisioning.model_build import install_model
from provisioning.model_import import import_model
from tests.edge.site import site_config_dict


def _config(tmp_path: Path, model: Path) -> EdgeConfig:
    data = site_config_dict(tmp_path / "edge")
    data["cameras"] = [{"id": "gate", "name": "Gate", "source": str(tmp_path / "gate.mp4")}]
    data["vision"] = {"detector": {"model_path": str(model)}}
    return EdgeConfig.model_validate(data)


def test_an_imported_model_passes_and_a_corrupted_one_fails(tmp_path: Path, nanodet_path: Path) -> None:
    info = import_model(nanodet_path, tmp_path / "models", lambda _: None)
    model = tmp_path / "models" / "nanodet-coco-416.onnx"
    recorded = model.with_name("nanodet-coco-416.onnx.sha256")
    assert recorded.read_text() == f"{info.sha256}  nanodet-coco-416.onnx\n"  # sha256sum's format
    assert info.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    config = _config(tmp_path, model)
    passed = check_model(config, lambda _: None)
    assert passed.status == "pass", passed
    assert "matches nanodet-coco-416.onnx.sha256" in passed.detail

    # One flipped bit in the weights: onnxruntime still loads it, only the checksum can tell.
    damaged = bytearray(model.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    model.write_bytes(bytes(damaged))
    failed = check_model(config, lambda _: None)
    assert failed.status == "fail", failed
    assert "does not match" in failed.detail and "re-import" in failed.fix


def test_an_installed_model_gets_its_checksum(tmp_path: Path, nanodet_path: Path) -> None:
    installed = install_model(nanodet_path, tmp_path / "service-models")
    recorded = installed.with_name(installed.name + ".sha256")
    digest = hashlib.sha256(nanodet_path.read_bytes()).hexdigest()
    assert recorded.read_text() == f"{digest}  {installed.name}\n"
    assert check_model(_config(tmp_path, installed), lambda _: None).status == "pass"
