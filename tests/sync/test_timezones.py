"""The one time-zone type: directories of the zone database and junk are refused, real zones pass."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sync.timezones import check_timezone
from sync.wire import EnrollResponse

NOT_ZONES = ["America", "Europe", "Etc", "", "Europe/", "/etc/localtime", "../etc/passwd", "UTC\x00", "zone.tab"]


@pytest.mark.parametrize("name", NOT_ZONES)
def test_what_is_not_a_zone_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        check_timezone(name)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_real_zones_pass(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize("name", ["America", "Etc"])
def test_an_enrollment_answer_with_no_zone_is_refused(name: str) -> None:
    answer = {"site_id": "s", "site_name": "HQ", "tenant_id": "t", "secret": "ab" * 32, "timezone": name}

    with pytest.raises(ValidationError, match="timezone"):
        EnrollResponse.model_validate(answer)
