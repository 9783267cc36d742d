"""Zones (areas) of the site."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.config.base import SLUG, Section

PassbackMode = Literal["off", "soft", "hard"]


class ZoneConfig(Section):
    """An area of the site."""

    id: str = Field(pattern=SLUG, description="Zone id")
    name: str = Field(description="Human name")
    passback: PassbackMode = Field(
        default="off",
        description="Anti-passback for this zone: 'hard' denies re-entry without exit (and exit without "
        "entry), 'soft' grants but flags it, 'off' does not track",
    )
