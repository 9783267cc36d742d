"""Credential formats readers send, PIN hashing with the site key, and the access config checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.access.credentials import CredentialFormatError, CredentialInUse, normalise_credential
from edge.access.decision import Reason
from edge.access.pins import PinHasher
from edge.config import ConfigError, EdgeConfig
from firmware_adapters.messages import BadgeRead
from firmware_adapters.outpost_mqtt.codec import decode, encode
from tests.edge.access.harness import PIN_KEY, access_site_dict


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("123:45678", "123:45678"),  # Wiegand 26/34/37-bit as decoded by the reader adapter
        ("007:0045678", "7:45678"),
        (" 12 : 345 ", "12:345"),
        ("04a1b2c3", "04A1B2C3"),  # raw UIDs: case and separators do not matter
        ("04:A1:B2:C3", "04A1B2C3"),
        ("04-a1-b2-c3", "04A1B2C3"),
        ("04 a1 b2 c3 d4 e5 f6", "04A1B2C3D4E5F6"),
        ("80:00:80:00:80/34", "8000800080/34"),  # raw Wiegand bits of an unknown format, with the bit count
        ("0004217", "0004217"),  # legacy decimal numbers keep their digits
        ("card-0", "card-0"),  # opaque vendor strings stay as sent
    ],
)
def test_normalise_credential(raw: str, normal: str) -> None:
    assert normalise_credential(raw) == normal


def test_bad_credentials_are_refused() -> None:
    for bad in ("", "   ", "x" * 129):
        with pytest.raises(CredentialFormatError):
            normalise_credential(bad)


async def test_reader_formats_match_enrolled_numbers(access_harness) -> None:
    h = await access_harness()
    await h.store.add_person("Ada", ["04:a1:b2:c3", "00123:45678"], levels=["staff"])
    assert (await h.store.lookup("04A1B2C3")).person_name == "Ada"
    assert (await h.store.lookup("04-a1-b2-c3")).person_name == "Ada"
    assert (await h.store.lookup("123:45678")).person_name == "Ada"
    assert await h.store.lookup("123:45679") is None
    with pytest.raises(CredentialInUse):
        await h.store.add_person("Eve", ["04A1B2C3"])
    assert [p["name"] for p in await h.store.list_people()] == ["Ada"]  # Eve was not half-created


def test_pin_hashes_are_keyed_salted_and_verified() -> None:
    pins = PinHasher(PIN_KEY)
    one, two = pins.hash("1234"), pins.hash("1234")
    assert one != two  # salted: equal PINs do not look equal, so a PIN cannot be looked up
    assert "1234" not in one
    assert pins.verify("1234", one) and pins.verify("1234", two)
    assert not pins.verify("1235", one)
    assert not PinHasher(bytes(32)).verify("1234", one)  # another site's key
    assert not pins.verify("1234", None) and not pins.verify("1234", "garbage")
    assert "key" in repr(pins) and PIN_KEY.hex() not in repr(pins)


def test_pin_key_file_is_created_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "access-pin.key"
    first = PinHasher.from_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    stored = first.hash("4321")
    assert PinHasher.from_file(path).verify("4321", stored)  # same key on the next start
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        PinHasher.from_file(path)


async def test_pin_is_never_stored_in_clear(access_harness) -> None:
    h = await access_harness()
    person_id = await h.people.add_person("Grace", ["555"], "admin", levels=["vault"], pin="918273")
    await h.people.update_person(person_id, {"pin": "564738"}, "admin")
    await h.db.checkpoint()
    raw = b"".join(p.read_bytes() for p in h.config.storage.data_dir.glob("edge.db*"))
    assert b"918273" not in raw and b"564738" not in raw
    with sqlite3.connect(h.config.storage.database_path) as conn:
        (stored,) = conn.execute("SELECT pin_hash FROM person_access WHERE person_id = ?", (person_id,)).fetchone()
    assert stored.startswith("hmac-sha256$")
    detail = await h.store.get_person(person_id)
    assert detail["has_pin"] is True and "pin_hash" not in detail
    audits = [e.payload for e in await h.journal.recent(10, "audit")]
    assert {"person_added", "person_changed"} <= {a["type"] for a in audits}
    assert "564738" not in repr(audits) and "918273" not in repr(audits)


async def test_card_then_pin_and_combined(access_harness) -> None:
    h = await access_harness()
    ada = await h.people.add_person("Ada", ["777"], "admin", levels=["vault"], pin="2468")
    bob = await h.people.add_person("Bob", ["778"], "admin", levels=["vault"], pin="1357")
    await h.people.add_person("Cy", ["779"], "admin", levels=["vault"])  # no PIN enrolled

    # Card first: the door waits for the PIN; then the reader sends the card again with the PIN.
    waiting = await h.service.on_badge("reader-vault", BadgeRead(credential="777"))
    assert (waiting.granted, waiting.reason) == (False, Reason.PIN_REQUIRED)
    wrong = await h.service.on_badge("reader-vault", BadgeRead(credential="777", pin="0000"))
    assert wrong.reason == Reason.WRONG_PIN
    right = await h.service.on_badge("reader-vault", BadgeRead(credential="777", pin="2468"))
    assert right.reason == Reason.TWO_PERSON_PENDING  # the vault also needs a second person
    second = await h.service.on_badge("reader-vault", BadgeRead(credential="778", pin="1357"))
    assert second.granted
    assert (await h.audits())[0]["companion_id"] == ada
    assert (await h.audits())[0]["person_id"] == bob
    assert (await h.audits())[0]["pin_presented"] is True

    # A PIN arriving after the card's wait ran out is refused.
    await h.service.on_badge("reader-vault", BadgeRead(credential="777"))
    h.clock.now = h.clock.now.replace(second=11)
    late = await h.service.on_badge("reader-vault", BadgeRead(credential="777", pin="2468"))
    assert late.reason == Reason.PIN_TIMEOUT
    assert (await h.service.on_badge("reader-vault", BadgeRead(credential="779", pin="2468"))).reason == (
        Reason.PIN_NOT_SET
    )


def test_badge_pin_field_is_optional_validated_and_hidden() -> None:
    with_pin = BadgeRead(credential="123:45678", pin="1234")
    assert "1234" not in repr(with_pin)
    _, decoded = decode("outpost/reader-vault/event", encode(with_pin))
    assert decoded.pin == "1234"
    _, plain = decode("outpost/reader-vault/event", b'{"type":"badge","credential":"1"}')
    assert plain.pin is None and b"pin" not in encode(plain)
    with pytest.raises(ValidationError):
        BadgeRead(credential="1", pin="12a4")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["access"]["levels"]["staff"].update(doors=["nope"]), "unknown door 'nope'"),
        (lambda c: c["access"]["levels"]["staff"].update(schedule="nope"), "unknown schedule 'nope'"),
        (lambda c: c["doors"][2].update(unlock_schedule=None), "first_person_in needs an unlock_schedule"),
        (lambda c: c["doors"][0].update(rex="reader-side"), "is a reader, not a contact"),
        (lambda c: c["doors"][1].update(readers=["reader-front"]), "is already at door 'front'"),
        (lambda c: c["schedules"]["office-hours"].update(holidays=["mars"]), "unknown holiday calendar 'mars'"),
        (lambda c: c["holidays"]["de-by"].update(annual=["13-01"]), "is not MM-DD"),
        (lambda c: c["zones"][1].update(passback="hard"), "needs at least one 'in' and one 'out' reader"),
        (lambda c: c["access"].update(lockdown_override_roles=["Not A Slug"]), "must match"),
    ],
)
def test_access_config_errors_name_the_key(tmp_path: Path, change, message: str) -> None:
    data = access_site_dict(tmp_path)
    change(data)
    with pytest.raises(ValidationError, match=message):
        EdgeConfig.model_validate(data)


def test_bare_reader_ids_are_entry_readers(tmp_path: Path) -> None:
    config = EdgeConfig.model_validate(access_site_dict(tmp_path))
    front = config.doors[0]
    assert {r.device: r.direction for r in front.readers} == {"reader-front": "in", "reader-front-out": "out"}
