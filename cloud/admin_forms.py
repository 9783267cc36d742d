"""The admin pages' form bodies and query strings, validated with pydantic."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from multidict import MultiDictProxy
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.days import CalendarDay
from cloud.permissions import Role

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class SiteChoice(_Form):
    """ "All sites" or a list of site ids."""

    all_sites: bool = False
    sites: list[str] = Field(default_factory=list, max_length=10_000)

    @property
    def site_ids(self) -> list[str] | None:
        """None for all sites, else the chosen ones."""
        return None if self.all_sites else self.sites


class InviteForm(SiteChoice):
    """Invite a user."""

    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    role: Role


class UserForm(SiteChoice):
    """Change a user's role and sites."""

    role: Role


class ApiKeyForm(SiteChoice):
    """Create an API key."""

    name: str = Field(min_length=1, max_length=120)
    permissions: list[str] = Field(min_length=1, max_length=100)


class SetPasswordForm(_Form):
    """Set a password through a one-time link."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    password: str = Field(min_length=8, max_length=1024)
    confirm: str = Field(max_length=1024)


class AuditQuery(_Form):
    """Filters and page of the audit log (dates are whole UTC days; `until` is inclusive)."""

    actor: str = Field(default="", max_length=320)
    action: str = Field(default="", max_length=64)
    since: CalendarDay | None = None
    until: CalendarDay | None = None
    page: int = Field(default=1, ge=1, le=100_000)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def since_at(self) -> datetime | None:
        """Start of the `since` day, UTC."""
        return None if self.since is None else datetime.combine(self.since, time(), UTC)

    @property
    def until_at(self) -> datetime | None:
        """End of the `until` day (exclusive bound), UTC."""
        return None if self.until is None else datetime.combine(self.until + timedelta(days=1), time(), UTC)


def form_data(form: MultiDictProxy[Any], lists: tuple[str, ...] = ("sites", "permissions")) -> dict[str, Any]:
    """A posted form as a dict: repeated fields named in `lists` become lists, checkboxes become booleans."""
    data: dict[str, Any] = {}
    for key in set(form.keys()):
        if key in lists:
            data[key] = [str(v) for v in form.getall(key)]
        else:
            data[key] = str(form.get(key, ""))
    if "all_sites" in data:
        data["all_sites"] = data["all_sites"] == "1"
    return data
