"""The pure decision: every reason, in its order, with explicit aware datetimes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.access.credentials import CredentialRecord
from edge.access.decision import AccessPolicy, Reason, decide, door_policy
from edge.access.schedule import compile_schedules
from edge.config import EdgeConfig
from tests.edge.access.harness import BERLIN, access_site_dict

WED_10 = datetime(2026, 6, 10, 10, 0, tzinfo=BERLIN)
WED_23 = datetime(2026, 6, 10, 23, 0, tzinfo=BERLIN)
SAT_10 = datetime(2026, 6, 13, 10, 0, tzinfo=BERLIN)
CHRISTMAS_10 = datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN)  # a Friday and an annual holiday


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    config = EdgeConfig.model_validate(access_site_dict(tmp_path_factory.mktemp("d") / "edge"))
    schedules = compile_schedules(config.schedules, BERLIN, config.holidays)
    doors = {d.id: door_policy(d, schedules) for d in config.doors}
    return AccessPolicy.from_config(config, schedules), doors


def card(**changes) -> CredentialRecord:
    base = CredentialRecord(
        number="123:45678",
        active=True,
        valid_from=None,
        valid_until=None,
        person_id=1,
        person_name="Ada",
        person_active=True,
        levels=frozenset({"staff"}),
    )
    return replace(base, **changes)


def test_granted_names_the_level(site) -> None:
    policy, doors = site
    decision = decide(card(), doors["front"], policy, WED_10)
    assert (decision.granted, decision.reason, decision.level) == (True, Reason.GRANTED, "staff")


@pytest.mark.parametrize(
    ("credential", "door", "now", "reason"),
    [
        (None, "front", WED_10, Reason.UNKNOWN_CREDENTIAL),
        (card(active=False), "front", WED_10, Reason.CREDENTIAL_INACTIVE),
        (card(person_active=False), "front", WED_10, Reason.SUSPENDED),
        (card(valid_from=WED_10 + timedelta(seconds=1)), "front", WED_10, Reason.NOT_YET_VALID),
        (card(person_valid_from=WED_10 + timedelta(days=1)), "front", WED_10, Reason.NOT_YET_VALID),
        (card(valid_until=WED_10), "front", WED_10, Reason.EXPIRED),  # valid_until is exclusive
        (card(person_valid_until=WED_10 - timedelta(days=1)), "front", WED_10, Reason.EXPIRED),
        (card(levels=frozenset()), "front", WED_10, Reason.NO_ACCESS_LEVEL),
        (card(levels=frozenset({"unknown-level"})), "front", WED_10, Reason.NO_ACCESS_LEVEL),
        (card(), "vault", WED_10, Reason.NO_ACCESS_LEVEL),  # staff does not cover the vault
        (card(), "front", WED_23, Reason.OUTSIDE_SCHEDULE),
        (card(), "front", SAT_10, Reason.OUTSIDE_SCHEDULE),
        (card(), "front", CHRISTMAS_10, Reason.OUTSIDE_SCHEDULE),  # holiday calendar of office-hours
    ],
)
def test_denials_name_their_reason(site, credential, door, now, reason) -> None:
    policy, doors = site
    decision = decide(credential, doors[door], policy, now)
    assert decision.granted is False
    assert decision.reason == reason


def test_reader_without_door(site) -> None:
    policy, _ = site
    assert decide(card(), None, policy, WED_10).reason == Reason.NO_DOOR


def test_any_level_that_is_open_grants(site) -> None:
    policy, doors = site
    both = card(levels=frozenset({"staff", "nights"}))
    assert decide(both, doors["front"], policy, WED_23).level == "nights"
    assert decide(both, doors["front"], policy, WED_10).level == "staff"
    master = card(levels=frozenset({"all"}))
    assert decide(master, doors["vault"], policy, SAT_10, pin="ok").level == "all"


def test_lockdown_denies_except_override_roles(site) -> None:
    policy, doors = site
    assert decide(card(), doors["front"], policy, WED_10, lockdown=True).reason == Reason.LOCKDOWN
    guard = card(role="security")
    decision = decide(guard, doors["front"], policy, WED_10, lockdown=True)
    assert decision.granted and decision.lockdown_override
    assert decide(card(role="cleaner"), doors["front"], policy, WED_10, lockdown=True).reason == Reason.LOCKDOWN
    # An override role does not stand in for a level.
    assert decide(card(role="security", levels=frozenset()), doors["front"], policy, WED_10, lockdown=True).reason == (
        Reason.NO_ACCESS_LEVEL
    )


@pytest.mark.parametrize(
    ("pin", "granted", "reason"),
    [
        ("absent", False, Reason.PIN_REQUIRED),
        ("wrong", False, Reason.WRONG_PIN),
        ("not_set", False, Reason.PIN_NOT_SET),
        ("timeout", False, Reason.PIN_TIMEOUT),
        ("ok", True, Reason.GRANTED),
    ],
)
def test_card_and_pin_door(site, pin, granted, reason) -> None:
    policy, doors = site
    decision = decide(card(levels=frozenset({"vault"})), doors["vault"], policy, WED_10, pin=pin)
    assert (decision.granted, decision.reason) == (granted, reason)


def test_pin_is_ignored_where_not_required(site) -> None:
    policy, doors = site
    assert decide(card(), doors["front"], policy, WED_10, pin="wrong").granted


def test_passback_hard_denies_soft_flags(site) -> None:
    policy, doors = site
    hard = decide(card(), doors["front"], policy, WED_10, passback="hard")
    assert (hard.granted, hard.reason, hard.passback_violation) == (False, Reason.PASSBACK, True)
    soft = decide(card(), doors["yard"], policy, WED_10, passback="soft")
    assert (soft.granted, soft.reason, soft.passback_violation) == (True, Reason.GRANTED, True)


def test_without_levels_every_valid_credential_opens_every_door(tmp_path: Path) -> None:
    data = access_site_dict(tmp_path)
    data["access"] = {}
    config = EdgeConfig.model_validate(data)
    schedules = compile_schedules(config.schedules, BERLIN, config.holidays)
    policy = AccessPolicy.from_config(config, schedules)
    decision = decide(card(levels=frozenset()), door_policy(config.doors[0], schedules), policy, SAT_10)
    assert (decision.granted, decision.level) == (True, "*")
    assert decide(
        card(valid_until=datetime(2020, 1, 1, tzinfo=UTC)), door_policy(config.doors[0], schedules), policy, SAT_10
    ).reason == (Reason.EXPIRED)
