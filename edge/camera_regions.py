"""Zones and lines of one camera, as the console edits them: validated, saved to the config file, used at once.

The console's drawing (normalised coordinates, as `edge.vision.config` defines them) arrives as `CameraRegionsIn`;
`save_regions` writes it into the camera's entry of the config file (the whole file validated, then replaced
atomically: `edge.config.file_edit`), and `use_regions` hands it to the running camera, whose analytics count with
it from the next frame on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.config.base import ConfigError
from edge.config.file_edit import edit_config_file
from edge.vision.config import CameraConfig, LineConfig, ZoneRegionConfig
from edge.vision.pipeline import CameraPipeline

MAX_REGIONS = 32  # per kind and camera: a console drawing, not a data set


class CameraRegionsIn(BaseModel):
    """The complete set of zones and lines of one camera (replaces the ones it had)."""

    model_config = ConfigDict(extra="forbid")

    zones: list[ZoneRegionConfig] = Field(
        default_factory=list, max_length=MAX_REGIONS, description="Polygons, normalised to 0..1 of the frame."
    )
    lines: list[LineConfig] = Field(
        default_factory=list, max_length=MAX_REGIONS, description="Counting lines, normalised to 0..1 of the frame."
    )

    @model_validator(mode="after")
    def _names_unique(self) -> CameraRegionsIn:
        for kind, names in (("zones", [z.name for z in self.zones]), ("lines", [ln.name for ln in self.lines])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind} names must be unique per camera: {dupes}")
        return self

    def as_json(self) -> dict[str, Any]:
        """The regions as JSON (the shape this model reads)."""
        return self.model_dump(mode="json")


class CameraNotInFile(ConfigError):
    """The config file has no camera with this id (it was changed by hand since the box started)."""


def regions_of(camera: CameraConfig) -> CameraRegionsIn:
    """The zones and lines the camera counts with now."""
    return CameraRegionsIn(zones=list(camera.zones), lines=list(camera.lines))


def save_regions(path: Path, camera_id: str, regions: CameraRegionsIn) -> None:
    """Replace the camera's zones and lines in the config file at `path` (blocking: run it in a thread).

    Raises `edge.config.file_edit.ConfigFileInvalid` (naming the key) when the result is not a valid config, e.g.
    a door still names a line that is gone; nothing is written then.
    """

    def change(data: dict[str, Any]) -> None:
        entry = next((c for c in data.get("cameras", []) if c.get("id") == camera_id), None)
        if entry is None:
            raise CameraNotInFile(f"{path} has no camera {camera_id!r}; was it changed since the box started?")
        # Defaults left out (TOML has no null, and the file stays as short as an installer would write it).
        entry["zones"] = [z.model_dump(mode="json", exclude_defaults=True) for z in regions.zones]
        entry["lines"] = [ln.model_dump(mode="json", exclude_defaults=True) for ln in regions.lines]

    edit_config_file(path, change)


def use_regions(camera: CameraConfig, pipeline: CameraPipeline | None, regions: CameraRegionsIn) -> None:
    """Make the running box count with `regions`: the camera's config and, if it runs, its analytics."""
    camera.zones = list(regions.zones)
    camera.lines = list(regions.lines)
    if pipeline is not None:
        pipeline.analyzer.use_regions(camera.zones, camera.lines)
