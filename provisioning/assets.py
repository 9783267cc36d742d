"""Find or fetch the demo video (OpenCV's ``vtest.avi``) on a machine that may not have ../shared.

Debian's ``opencv-doc`` package ships the file; ``apt-get download`` fetches the .deb as any user without
installing it, and ``dpkg-deb --fsys-tarfile`` streams its contents so only the one video is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2

Progress = Callable[[str], None]

VIDEO_NAME = "vtest.avi"
VIDEO_SIZE = (768, 576)  # width, height
DEB_PACKAGE = "opencv-doc"
DEB_MEMBER = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"
SYSTEM_COPY = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
REPO_ROOT = Path(__file__).resolve().parent.parent

# apt-get's words when its package lists are empty or do not know the package.
_NO_LISTS = ("Unable to locate package", "has no installation candidate", "Can't select candidate version")


class AssetError(RuntimeError):
    """A demo asset could not be found or fetched."""


def find_demo_video(
    cache_dir: Path,
    progress: Progress = print,
    *,
    repo_root: Path = REPO_ROOT,
    system_copy: Path = SYSTEM_COPY,
) -> Path:
    """Return a usable vtest.avi: ../shared, the cache, an installed opencv-doc, or a fresh download."""
    cached = Path(cache_dir) / "data" / VIDEO_NAME
    for candidate, label in (
        (repo_root.parent / "shared" / "data" / VIDEO_NAME, "shared data"),
        (cached, "cache"),
        (system_copy, "installed opencv-doc"),
    ):
        if candidate.is_file():
            problem = video_problem(candidate)
            if problem is None:
                progress(f"demo video: using {candidate} ({label})")
                return candidate
            progress(f"demo video: ignoring {candidate}: {problem}")
    _fetch_from_deb(cached, progress)
    return cached


def video_problem(path: Path) -> str | None:
    """Say why a file is not the expected demo video, or None when it is."""
    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        return "OpenCV cannot decode a frame"
    height, width = frame.shape[:2]
    if (width, height) != VIDEO_SIZE:
        return f"frames are {width}x{height}, expected {VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}"
    return None


def _fetch_from_deb(target: Path, progress: Progress) -> None:
    """Download opencv-doc's .deb and place its vtest.avi at target atomically."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AssetError(f"{VIDEO_NAME} is not available and apt-get/dpkg-deb are missing (not a Debian system?)")
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"demo video: downloading Debian package {DEB_PACKAGE} (about 96 MB) for {VIDEO_NAME}")
    with tempfile.TemporaryDirectory(prefix=".opencv-doc-", dir=target.parent) as tmp:
        work = Path(tmp)
        deb = _apt_download(work)
        progress(f"demo video: extracting {VIDEO_NAME} from {deb.name}")
        partial = work / VIDEO_NAME
        _extract_member(deb, DEB_MEMBER, partial)
        problem = video_problem(partial)
        if problem is not None:
            raise AssetError(f"{VIDEO_NAME} from {deb.name} is unusable: {problem}")
        os.replace(partial, target)
    progress(f"demo video: cached {target}")


def _apt_download(work: Path) -> Path:
    try:
        proc = subprocess.run(
            ["apt-get", "download", DEB_PACKAGE],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=1800,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise AssetError(f"apt-get download {DEB_PACKAGE} did not finish within 30 minutes") from err
    output = proc.stdout.strip()
    debs = sorted(work.glob(f"{DEB_PACKAGE}_*.deb"))
    if proc.returncode != 0 or len(debs) != 1:
        hint = ""
        if any(words in output for words in _NO_LISTS):
            hint = " apt's package lists are empty or stale: run `apt-get update` (as root) and try again."
        tail = "\n".join(output.splitlines()[-10:])
        raise AssetError(f"apt-get download {DEB_PACKAGE} failed (exit {proc.returncode}).{hint}\n{tail}")
    return debs[0]


def _extract_member(deb: Path, member: str, dest: Path) -> None:
    """Stream the .deb's data tarball and copy out one regular file."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None  # PIPE was asked for
        found = False
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for info in tar:
                    if info.name == member and info.isfile():
                        source = tar.extractfile(info)
                        assert source is not None  # isfile() above
                        with dest.open("wb") as out:
                            shutil.copyfileobj(source, out)
                        found = True
                        break
        except tarfile.TarError as err:
            raise AssetError(f"{deb.name}: cannot read its contents: {err}") from err
        finally:
            proc.stdout.close()  # leaving early stops dpkg-deb with SIGPIPE, which is expected
            proc.wait()
        if not found:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip()
            raise AssetError(f"{deb.name} has no {member}" + (f": {detail}" if detail else ""))
