"""A cached virtualenv with the `export` extra (Ultralytics + CPU torch), kept apart from the test venv.

Ultralytics depends on `opencv-python`, which would overwrite the runtime's `opencv-python-headless` (STACK.md),
so, like the tf2onnx converter of provisioning/model_build.py, it lives in its own venv, built once (~1.7 GB,
a few minutes; torch comes from the local wheel) and reused while the extra's requirements stay the same.

Code run in that venv is kept offline: Ultralytics' own switches (`YOLO_OFFLINE`, no auto-install, a private
settings folder) plus a `sitecustomize` guard that refuses, and logs, any connection or DNS lookup off the
loopback, so a test can assert that nothing tried to download (fonts, weights, missing packages).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from tests.paths import REPO

DEFAULT_VENV = Path.home() / ".cache" / "outpost" / "ultralytics-export-venv"

_GUARD = '''\
"""Refuse network access off the loopback (Outpost test guard); log each attempt to $OUTPOST_NET_GUARD_LOG."""
import ipaddress
import os
import socket

_LOG = os.environ.get("OUTPOST_NET_GUARD_LOG")
_LOCAL = {None, "", "localhost", "127.0.0.1", "::1"}


def _refuse(what):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(what + "\\n")
    raise OSError(f"network access blocked by the Outpost test guard: {what}")


def _loopback(address):
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except (ValueError, TypeError, IndexError):
        return True  # not an IP socket address (AF_UNIX)


_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in _LOCAL:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            _refuse(f"getaddrinfo {name}")
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
        _refuse(f"connect {address}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
        _refuse(f"connect {address}")
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
'''


def export_requirements() -> list[str]:
    """The `export` extra of pyproject.toml, plus the runtime's onnxruntime (ONNX simplification runs it)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [*project["optional-dependencies"]["export"], f"onnxruntime=={metadata.version('onnxruntime')}"]


def ensure_export_venv(venv_dir: Path = DEFAULT_VENV) -> Path:
    """Create the export venv once (or again when the requirements changed); return its python."""
    venv_dir = Path(os.environ.get("OUTPOST_EXPORT_VENV", venv_dir))
    python = venv_dir / "bin" / "python"
    marker = venv_dir / ".outpost-requirements"
    wanted = "\n".join(export_requirements()) + "\n"
    if python.is_file() and marker.is_file() and marker.read_text() == wanted:
        return python
    shutil.rmtree(venv_dir, ignore_errors=True)  # a half-built venv is not worth repairing
    subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True, timeout=300)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-input", *export_requirements()],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install of the export extra failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    marker.write_text(wanted)
    return python


def clean_env() -> dict[str, str]:
    """The environment without the test venv's Python settings."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def offline_env(work: Path) -> dict[str, str]:
    """Variables that keep Ultralytics offline and confined to `work` (settings, guard log, no auto-install)."""
    guard_dir = work / "net-guard"
    guard_dir.mkdir(parents=True, exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(_GUARD)
    return {
        "PYTHONPATH": str(guard_dir),
        "OUTPOST_NET_GUARD_LOG": str(work / "net-guard.log"),
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_CONFIG_DIR": str(work / "ultralytics-settings"),
        "YOLO_VERBOSE": "false",
    }


def network_attempts(work: Path) -> list[str]:
    """What code run with `offline_env(work)` tried to reach."""
    log = work / "net-guard.log"
    return log.read_text().splitlines() if log.exists() else []
