"""Validated HTTP bodies of the console and API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from edge.web.roles import Role

_PIN = r"^[0-9]{4,12}$"
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# A name is printable text: no NUL or other control characters (NUL cannot be stored in the cloud's PostgreSQL).
_NAME = r"^[^\x00-\x1f\x7f-\x9f]+$"
PersonName = Annotated[str, Field(min_length=1, max_length=120, pattern=_NAME, description="Full name")]
_PERSON_NAME: TypeAdapter[str] = TypeAdapter(PersonName)


def validate_person_name(name: str) -> str:
    """`name` if it is a valid person name (the console's rule, for the CLI too); else ValueError saying why."""
    try:
        return _PERSON_NAME.validate_python(name)
    except ValidationError as err:
        if not name:
            raise ValueError("a person's name must not be empty") from None
        if len(name) > 120:
            raise ValueError("a person's name must be at most 120 characters") from None
        raise ValueError(f"a person's name must be printable text (no NUL or control characters): {name!r}") from err


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginForm(_Body):
    """The login form."""

    username: str = Field(min_length=1, max_length=64, description="Console user name")
    password: str = Field(min_length=1, max_length=256, description="Password")


class ConsoleUserIn(_Body):
    """A console user to add (the users page)."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$", description="Name")
    password: str = Field(min_length=8, max_length=256, repr=False, description="Password, at least 8 characters")
    role: Role = Field(description="admin, guard or viewer")


class ConsoleRoleIn(_Body):
    """A console user's new role."""

    role: Role = Field(description="admin, guard or viewer")


class PersonIn(_Body):
    """A person to add, with credential numbers and, optionally, levels, role and PIN."""

    name: PersonName
    credentials: list[str] = Field(default_factory=list, max_length=16, description="Card numbers")
    valid_from: datetime | None = Field(default=None, description="Credentials valid from (aware)")
    valid_until: datetime | None = Field(default=None, description="Credentials valid until (aware)")
    levels: list[str] = Field(default_factory=list, max_length=64, description="Access level ids")
    role: str | None = Field(default=None, pattern=_SLUG, description="Role, e.g. one that may override lockdown")
    pin: str | None = Field(default=None, pattern=_PIN, repr=False, description="PIN (stored only as a keyed hash)")
    duress_pin: str | None = Field(
        default=None, pattern=_PIN, repr=False, description="Duress PIN: opens like the PIN and raises an alarm"
    )

    @model_validator(mode="after")
    def _duress_differs(self) -> PersonIn:
        if self.duress_pin is not None and self.duress_pin == self.pin:
            raise ValueError("duress_pin must differ from pin")
        return self


class PersonPatch(_Body):
    """Changes to a person; a field left out is unchanged, `null` clears role/validity/PIN."""

    name: PersonName | None = None
    active: bool | None = Field(default=None, description="False suspends every credential, true reactivates")
    levels: list[str] | None = Field(default=None, max_length=64, description="Replace the access levels")
    role: str | None = Field(default=None, pattern=_SLUG, description="Role; null clears")
    valid_from: AwareDatetime | None = Field(default=None, description="Person valid from; null clears")
    valid_until: AwareDatetime | None = Field(default=None, description="Person valid until; null clears")
    pin: str | None = Field(default=None, pattern=_PIN, repr=False, description="New PIN; null clears")
    duress_pin: str | None = Field(
        default=None, pattern=_PIN, repr=False, description="New duress PIN (must differ from the PIN); null clears"
    )
    reset_passback: bool = Field(default=False, description="Forget where anti-passback thinks the person is")

    @model_validator(mode="after")
    def _something(self) -> PersonPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        if "active" in self.model_fields_set and self.active is None:
            raise ValueError("active cannot be null")
        if self.duress_pin is not None and self.duress_pin == self.pin:
            raise ValueError("duress_pin must differ from pin")
        return self


class LockdownIn(_Body):
    """Start or lift a lockdown of the site or one zone."""

    zone: str | None = Field(default=None, max_length=64, description="Zone id; null = the whole site")
    active: bool = Field(description="True locks down, false lifts")
    reason: str = Field(default="", max_length=200, description="Why (audited)")


class AlarmAckIn(_Body):
    """An operator acknowledges an alarm."""

    comment: str = Field(default="", max_length=500, description="Optional note (journaled with the acknowledgement)")


class PinLockoutClearIn(_Body):
    """An operator ends a credential's PIN lockout (the body may be empty)."""

    reason: str = Field(default="", max_length=200, description="Why (audited)")


class CredentialPath(_Body):
    """A credential number in a URL path."""

    credential: str = Field(min_length=1, max_length=128, description="Card number, as enrolled or as read")
