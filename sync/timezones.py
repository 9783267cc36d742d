"""IANA time zone names, checked the one way every config file, form and wire model uses."""

from __future__ import annotations

import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, Field


def check_timezone(name: str) -> str:
    """Return `name` if it names an IANA time zone, else raise ValueError.

    `zoneinfo.ZoneInfo` answers a directory of the zone database (``"America"``) with IsADirectoryError, a NUL
    with ValueError and other junk with other errors; all of them mean "not a time zone" here.
    """
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_timezone)]
