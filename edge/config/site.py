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
    local_id: str | None = Field(
        default=None,
        pattern=SLUG,
        description="The id this box had before its (latest) enrollment, set by outpost-provision: people created "
        "on the box keep the HQ ids derived from it, so enrolling a local site later creates no duplicates",
    )

    @property
    def people_id_site(self) -> str:
        """The site id that HQ ids of people created on this box derive from (`local_id` if it has one)."""
        return self.local_id or self.id
