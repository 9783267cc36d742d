"""Run a provisioning tool (npm, pip, a converter or exporter script) to completion and keep its output."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def run_captured(
    cmd: Sequence[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` with stdout and stderr captured together as text (undecodable bytes replaced).

    Raises OSError when it cannot start and subprocess.TimeoutExpired when it overruns `timeout`;
    a non-zero exit is the caller's to judge.
    """
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def output_tail(text: str, lines: int = 25) -> str:
    """Return the last `lines` lines of a tool's output (where its error usually is)."""
    return "\n".join(text.rstrip().splitlines()[-lines:])
