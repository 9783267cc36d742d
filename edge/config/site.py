"""The site's identity section."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from edge.config.base import SLUG, Section


class SiteConfig(Section):
    """Identity of the site this box serves."""

    id: str = Field(default="unenrolled", pattern=SLUG, description="Site id assigned at enrollment")
    name: str = Field(default="Outpost site", max_length=120, description="Human name of the site")
    timezone: str = Field(default="UTC", description="IANA time zone used for schedules")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value
