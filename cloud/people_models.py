"""Pydantic models of the people, badge, site-policy and conflict API (HQ-managed site configuration)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, field_validator

from cloud.api_models import PLAIN_TEXT, ApiModel
from sync.policy import SLUG

MAX_BADGES = 32  # ConfigPerson.credentials holds at most 32


class BadgeIn(ApiModel):
    """A badge to add to a person."""

    number: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", description="Card number")
    active: bool = Field(default=True, description="False: known but not honoured")
    valid_from: AwareDatetime | None = Field(default=None, description="Not valid before")
    valid_until: AwareDatetime | None = Field(default=None, description="Not valid from then on")


class PersonFields(ApiModel):
    """The editable fields of a person (`PUT /api/v1/people/{id}` replaces them all)."""

    name: str = Field(min_length=1, max_length=120, pattern=PLAIN_TEXT, description="Full name")
    active: bool = Field(default=True, description="False: suspended at every site")
    role: str | None = Field(default=None, pattern=SLUG, description="Role, e.g. one that may override lockdown")
    valid_from: AwareDatetime | None = Field(default=None, description="Not valid before")
    valid_until: AwareDatetime | None = Field(default=None, description="Not valid from then on")
    levels: list[str] = Field(default_factory=list, max_length=64, description="Access level ids")
    sites: list[str] = Field(default_factory=list, max_length=1000, description="Ids of the sites they apply to")

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value

    @field_validator("levels")
    @classmethod
    def _slugs(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(SLUG, value):
                raise ValueError(f"level {value!r} is not an id (a-z, 0-9, _ and -)")
        return sorted(set(values))


class PersonIn(PersonFields):
    """`POST /api/v1/people`: a new person, optionally with badges."""

    badges: list[BadgeIn] = Field(default_factory=list, max_length=MAX_BADGES, description="Badges")


class BadgeOut(ApiModel):
    """A badge of a person."""

    number: str
    active: bool
    valid_from: datetime | None
    valid_until: datetime | None


class PersonOut(ApiModel):
    """A person as HQ manages them."""

    id: str
    name: str
    active: bool
    role: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    levels: list[str]
    sites: list[str]
    badges: list[BadgeOut]
    removed_at: datetime | None
    updated_at: datetime


class PersonList(ApiModel):
    """`GET /api/v1/people`."""

    people: list[PersonOut]


PolicyKindPath = Literal["access-levels", "schedules", "holidays", "doors"]


class PolicyList(ApiModel):
    """`GET /api/v1/sites/{site_id}/policy`: a site's levels, schedules, holidays and door policies."""

    site_id: str
    version: int = Field(description="The site's current configuration version")
    access_levels: dict[str, Any]
    schedules: dict[str, Any]
    holidays: dict[str, Any]
    doors: dict[str, Any]


class ConflictOut(ApiModel):
    """A person edited on both sides since the box's document: how it was resolved."""

    id: int
    site_id: str
    person_id: str
    record_seq: int
    winner: str
    reason: str
    cloud_state: dict[str, Any]
    box_state: dict[str, Any]
    detected_at: datetime


class ConflictList(ApiModel):
    """`GET /api/v1/conflicts`: newest first."""

    conflicts: list[ConflictOut]
