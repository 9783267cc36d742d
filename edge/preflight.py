"""Checks beyond the schema that `outpost-edge --check-config` runs: the files the config relies on work.

The schema (pydantic) says whether the config is well formed; these say whether the box can run it, so that
systemd's `ExecStartPre=... --check-config` stops a start that would fail, naming the key to fix.
"""

from __future__ import annotations

from edge.config import EdgeConfig
from edge.vision.detectors.base import DetectorError
from edge.vision.detectors.registry import load_detector
from edge.vision.model_files import ModelNotFoundError

DETECTOR_KEY = "vision.detector.model_path"


def detector_problem(config: EdgeConfig) -> str | None:
    """Why the enabled cameras would run without detection ('key: reason'), or None if the model loads."""
    if not any(camera.enabled for camera in config.cameras):
        return None
    try:
        load_detector(config.vision.detector)
    except (ModelNotFoundError, DetectorError) as err:
        return f"{DETECTOR_KEY}: {err}"
    return None


def preflight(config: EdgeConfig) -> list[str]:
    """Every problem that would keep part of the box from working, as 'dotted.key: reason' lines."""
    problems = []
    detector = detector_problem(config)
    if detector is not None:
        problems.append(detector)
    return problems
