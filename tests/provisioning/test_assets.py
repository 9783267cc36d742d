"""Tests for provisioning.assets: finding or fetching the demo video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from provisioning.assets import REPO_ROOT, AssetError, find_demo_video, video_problem


def _write_video(path: Path, width: int = 768, height: int = 576) -> Path:
    """Write a two-frame MJPG AVI, a small stand-in for vtest.avi."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    assert writer.isOpened()
    for shade in (40, 200):
        writer.write(np.full((height, width, 3), shade, np.uint8))
    writer.release()
    return path


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A repository root with no ../shared beside it."""
    repo = tmp_path / "checkout" / "main"
    repo.mkdir(parents=True)
    return repo


def test_uses_the_shared_video(shared_dir: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    found = find_demo_video(tmp_path / "cache", progress=messages.append)
    assert (REPO_ROOT.parent / "shared").resolve() == shared_dir.resolve()
    assert found.resolve() == (shared_dir / "data" / "vtest.avi").resolve()
    assert messages == [f"demo video: using {found} (shared data)"]
    assert not (tmp_path / "cache").exists(), "nothing is copied or downloaded"


def test_shared_beside_another_repo_root(fake_repo: Path, tmp_path: Path) -> None:
    shared = _write_video(fake_repo.parent / "shared" / "data" / "vtest.avi")
    cached = _write_video(tmp_path / "cache" / "data" / "vtest.avi")
    assert cached != shared
    assert find_demo_video(tmp_path / "cache", progress=lambda _: None, repo_root=fake_repo) == shared


def test_uses_the_cache_when_shared_is_absent(fake_repo: Path, tmp_path: Path) -> None:
    cached = _write_video(tmp_path / "cache" / "data" / "vtest.avi")
    messages: list[str] = []
    found = find_demo_video(
        tmp_path / "cache", progress=messages.append, repo_root=fake_repo, system_copy=tmp_path / "none.avi"
    )
    assert found == cached
    assert messages == [f"demo video: using {cached} (cache)"]


def test_uses_an_installed_opencv_doc(fake_repo: Path, tmp_path: Path) -> None:
    system = _write_video(tmp_path / "usr-share" / "vtest.avi")
    found = find_demo_video(tmp_path / "cache", progress=lambda _: None, repo_root=fake_repo, system_copy=system)
    assert found == system


def test_video_problem(tmp_path: Path) -> None:
    assert video_problem(_write_video(tmp_path / "ok.avi")) is None
    assert video_problem(_write_video(tmp_path / "small.avi", 320, 240)) == "frames are 320x240, expected 768x576"
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + b"\x00" * 100)
    assert video_problem(junk) == "OpenCV cannot decode a frame"


def test_fetch_explains_empty_package_lists(fake_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An apt configuration whose package lists folder is empty, as on a machine never `apt-get update`d.
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    config = tmp_path / "apt.conf"
    config.write_text(f'Dir::State::Lists "{lists}";\n')
    monkeypatch.setenv("APT_CONFIG", str(config))
    # A cached file of the wrong size is skipped rather than returned.
    _write_video(tmp_path / "cache" / "data" / "vtest.avi", 320, 240)
    messages: list[str] = []

    with pytest.raises(AssetError, match=r"run `apt-get update`") as caught:
        find_demo_video(
            tmp_path / "cache", progress=messages.append, repo_root=fake_repo, system_copy=tmp_path / "none"
        )
    assert "Unable to locate package opencv-doc" in str(caught.value)
    assert "ignoring" in messages[0] and "320x240" in messages[0]
    assert sorted(p.name for p in (tmp_path / "cache" / "data").iterdir()) == ["vtest.avi"], "no leftovers"


@pytest.mark.network
@pytest.mark.timeout(900)
def test_fetch_from_debian_for_real(fake_repo: Path, tmp_path: Path, shared_dir: Path) -> None:
    """Download opencv-doc (~96 MB) with apt-get and take vtest.avi out of it."""
    messages: list[str] = []
    found = find_demo_video(
        tmp_path / "cache", progress=messages.append, repo_root=fake_repo, system_copy=tmp_path / "none"
    )
    assert found == tmp_path / "cache" / "data" / "vtest.avi"
    assert video_problem(found) is None
    assert found.read_bytes() == (shared_dir / "data" / "vtest.avi").read_bytes()
    assert sorted(p.name for p in found.parent.iterdir()) == ["vtest.avi"], "the .deb is removed"
    assert messages[-1] == f"demo video: cached {found}"
