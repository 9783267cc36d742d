"""Validated HTML forms and CSV rows of the console's people pages (edge.web.people_view, people_import).

Browsers send every field as text: an empty field means "not given". Dates and times without an offset (the
``datetime-local`` inputs, CSV cells like ``2026-12-24 18:00``) are in the site's time zone (`localise`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from edge.access.pins import PIN_PATTERN
from edge.web.forms import PersonName

_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_BADGE = r"^[^\x00-\x1f\x7f]{1,128}$"


def _blank_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _split(value: Any) -> Any:
    """'a; b,c' -> ['a', 'b', 'c'] (badges and levels in one text field or CSV cell)."""
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
    return value


Optional = BeforeValidator(_blank_none)
When = Annotated[datetime | None, Optional]
Pin = Annotated[Annotated[str, Field(pattern=PIN_PATTERN)] | None, Optional, Field(description="4-12 digits")]
Role = Annotated[
    Annotated[str, Field(pattern=_SLUG)] | None, Optional, Field(description="Role id (lower case, digits, - and _)")
]
Badge = Annotated[str, Field(pattern=_BADGE, description="Badge number as printed or read")]
Badges = Annotated[list[Badge], BeforeValidator(_split), Field(max_length=16)]
Levels = Annotated[list[Annotated[str, Field(pattern=_SLUG)]], BeforeValidator(_split), Field(max_length=64)]


def localise(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """`value` with the site's time zone if it has none."""
    return value.replace(tzinfo=tz) if value is not None and value.tzinfo is None else value


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Validity(_Form):
    valid_from: When = Field(default=None, description="Access from (site time)")
    valid_until: When = Field(default=None, description="Access until (site time)")

    @model_validator(mode="after")
    def _ordered(self) -> _Validity:
        if self.valid_from and self.valid_until and _naive(self.valid_until) <= _naive(self.valid_from):
            raise ValueError("valid until must be after valid from")
        return self


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


class PersonRowIn(_Validity):
    """A person to add: the add form, and one row of a CSV import."""

    name: PersonName
    badges: Badges = Field(default_factory=list, description="Badge numbers, separated by ; or ,")
    levels: Levels = Field(default_factory=list, description="Access level ids, separated by ; or ,")
    role: Role = None
    pin: Pin = None


class PersonEditIn(_Validity):
    """The person form: every field is sent; an empty PIN leaves the PIN as it is."""

    name: PersonName
    active: bool = Field(default=False, description="Unchecked suspends every badge")
    levels: list[Annotated[str, Field(pattern=_SLUG)]] = Field(default_factory=list, max_length=64)
    role: Role = None
    pin: Pin = None
    clear_pin: bool = Field(default=False, description="Remove the PIN")


class BadgeIn(_Validity):
    """A badge typed in for a person."""

    number: Badge


class RevokeIn(_Form):
    """The badge to revoke."""

    number: Badge


class EnrolIn(_Form):
    """Arm a reader: the next unknown card read there within `seconds` becomes the person's badge."""

    reader: str = Field(min_length=1, max_length=64, description="Reader device id")
    seconds: int = Field(default=30, ge=5, le=300, description="How long to wait for the card")


class VisitorIn(_Form):
    """A temporary visitor badge: expires by itself."""

    name: PersonName
    badge: Badge
    hours: float = Field(gt=0, le=24 * 14, description="Valid for this many hours from now")
    levels: list[Annotated[str, Field(pattern=_SLUG)]] = Field(default_factory=list, max_length=64)
    host: str = Field(default="", max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$", description="Who they visit")

    def until(self, now: datetime) -> datetime:
        """When the visitor's badge stops working."""
        return now + timedelta(hours=self.hours)


def form_errors(err: ValidationError) -> dict[str, list[str]]:
    """Messages by field name ('form' for the whole form)."""
    out: dict[str, list[str]] = {}
    for e in err.errors(include_url=False):
        name = str(e["loc"][0]) if e["loc"] else "form"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "string_pattern_mismatch":
            message = "not in the expected format"
        out.setdefault(name, []).append(message)
    return out


def error_text(err: ValidationError) -> str:
    """All messages in one line ('field: message; ...')."""
    return "; ".join(f"{k}: {m}" for k, ms in form_errors(err).items() for m in ms)
