"""Validated HTTP bodies of the console and API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginForm(_Body):
    """The login form."""

    username: str = Field(min_length=1, max_length=64, description="Console user name")
    password: str = Field(min_length=1, max_length=256, description="Password")


class PersonIn(_Body):
    """A person to add, with credential numbers."""

    name: str = Field(min_length=1, max_length=120, description="Full name")
    credentials: list[str] = Field(default_factory=list, max_length=16, description="Card numbers")
    valid_from: datetime | None = Field(default=None, description="Credentials valid from (aware)")
    valid_until: datetime | None = Field(default=None, description="Credentials valid until (aware)")
