"""`outpost-provision add-camera`: the bundled video and a real RTSP server (gst-rtsp-server, with a password) are
probed, the real NanoDet model runs on them, the snapshot shows its boxes, the camera lands in a valid config;
an unreachable stream, a refused or missing password, a wrong path and a file that is no video are named."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w

from edge.config import load_config
from edge.vision.annotate import PERSON_COLOUR
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.provisioning.installer_helpers import VTEST, provision, rtsp_camera, write_vtest_frames


def box_config(path: Path, data_dir: Path) -> None:
    path.write_text(tomli_w.dumps(site_config_dict(data_dir)))
    path.chmod(0o600)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds of vtest.avi as numbered JPEGs for the RTSP server to loop over."""
    return write_vtest_frames(tmp_path_factory.mktemp("frames"), 30)


@pytest.fixture
async def site_camera(frames: Path, tmp_path: Path) -> AsyncIterator[str]:
    """A real RTSP server on loopback that wants user 'cam', password 'secret'; yields host:port."""
    async with rtsp_camera(frames, tmp_path / "rtsp.log", user="cam", password="secret", path="/plaza") as address:
        yield address


def snapshot_has_boxes(path: Path) -> None:
    """The snapshot is a full frame with person boxes drawn (their colour never occurs in the raw clip)."""
    image = cv2.imread(str(path))
    assert image is not None and image.shape[:2] == (576, 768)
    near_box_colour = np.abs(image.astype(int) - np.array(PERSON_COLOUR)).max(axis=2) < 40
    assert near_box_colour.sum() > 500


async def test_bundled_video_is_probed_detected_and_added(tmp_path: Path) -> None:
    config_path = tmp_path / "edge.toml"
    box_config(config_path, tmp_path / "box")
    snapshot = tmp_path / "plaza.jpg"
    rc, out, err = await provision(
        "add-camera", str(VTEST), "--id", "plaza", "--zone", "plaza", "--config", str(config_path),
        "--snapshot", str(snapshot),
    )  # fmt: skip
    assert rc == 0, err
    assert "Camera plaza: 768x576, 10.0 fps (file)" in out
    assert "person" in out  # the real model finds the people on the plaza
    assert "loading the detector model" in err and "ms per frame" in err  # progress while it works
    snapshot_has_boxes(snapshot)
    camera = next(c for c in load_config(config_path, environ={}).cameras if c.id == "plaza")
    assert camera.source == str(VTEST) and camera.zone == "plaza" and 0.5 <= camera.fps <= 10
    assert f"fps = {camera.fps:g}" in out

    again = tmp_path / "again.jpg"
    rc, _, err = await provision(
        "add-camera", str(VTEST), "--id", "plaza2", "--config", str(config_path), "--snapshot", str(again)
    )
    assert rc == 1 and "already camera 'plaza'" in err
    assert not again.exists() and "loading the detector model" not in err  # refused before any probing


async def test_rtsp_camera_with_a_password(site_camera: str, tmp_path: Path) -> None:
    config_path = tmp_path / "edge.toml"
    box_config(config_path, tmp_path / "box")
    snapshot = tmp_path / "gate.jpg"
    url = f"rtsp://cam:secret@{site_camera}/plaza"
    rc, out, err = await provision(
        "add-camera", url, "--id", "gate", "--config", str(config_path), "--snapshot", str(snapshot),
        "--seconds", "2",
    )  # fmt: skip
    assert rc == 0, err
    assert "Camera gate: 768x576" in out and "(stream)" in out
    assert "(measured)" in err
    snapshot_has_boxes(snapshot)
    camera = next(c for c in load_config(config_path, environ={}).cameras if c.id == "gate")
    assert camera.source == url
    assert "secret" not in err  # credentials are not echoed in progress lines

    before = config_path.read_text()
    failures = {
        f"rtsp://{site_camera}/plaza": "authentication required",
        f"rtsp://cam:wrong@{site_camera}/plaza": "authentication failed: the camera at",
        f"rtsp://cam:secret@{site_camera}/nothing-here": "no stream at /nothing-here",
        f"rtsp://127.0.0.1:{free_port()}/plaza": "unreachable: cannot connect",
    }
    for bad_url, message in failures.items():
        rc, _, err = await provision("add-camera", bad_url, "--id", "other", "--config", str(config_path))
        assert rc == 1 and message in err, (bad_url, err)
        assert "Traceback" not in err
    assert config_path.read_text() == before


async def test_a_file_that_is_no_video_and_bad_arguments_are_named(tmp_path: Path) -> None:
    config_path = tmp_path / "edge.toml"
    box_config(config_path, tmp_path / "box")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 100)
    rc, _, err = await provision("add-camera", str(text), "--id", "x", "--config", str(config_path))
    assert rc == 1 and "not a video" in err
    rc, _, err = await provision("add-camera", "7", "--id", "usb", "--config", str(config_path))
    assert rc == 1 and "cannot open USB camera 7" in err and "/dev/video" in err
    rc, _, err = await provision("add-camera", str(VTEST), "--id", "Bad Id", "--config", str(config_path))
    assert rc == 1 and "--id:" in err
    rc, _, err = await provision("add-camera", str(VTEST), "--id", "x", "--config", str(tmp_path / "none.toml"))
    assert rc == 1 and "no such config file" in err and "init-local" in err
    assert "cameras" not in tomllib.loads(config_path.read_text())
