"""The site's identity section."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import SLUG, Section
from sync.timezones import TimeZoneName


class SiteConfig(Section):
    """Identity of the site this box serves."""

    id: str = Field(default="unenrolled", pattern=SLUG, description="Site id assigned at enrollment")
    name: str = Field(default="Outpost site", max_length=120, description="Human name of the site")
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone used for schedules")
