"""BrokerDirectory: memoised ACL decisions follow account changes; both password formats verify."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge.broker.directory import BrokerDirectory, BrokerUser, hash_password
from edge.broker.passwords import mosquitto_hash, scheme_of, verify_password
from edge.broker.server import EmbeddedBroker
from tests.paho_device import PahoDevice


def test_memoised_decisions_follow_account_changes() -> None:
    directory = BrokerDirectory()
    directory.add(BrokerUser("dev", "x", publish=("outpost/dev/event",), subscribe=()))
    changes: list[int] = []
    directory.on_change(lambda: changes.append(directory.version))
    assert directory.may_publish("dev", "outpost/dev/event")
    assert not directory.may_publish("dev", "outpost/dev/telemetry")
    assert not directory.may_publish("dev", "outpost/dev/telemetry")  # a cached denial still counts
    assert directory.denied == 2
    directory.add(BrokerUser("dev", "x", publish=("outpost/dev/+",), subscribe=()))
    assert directory.may_publish("dev", "outpost/dev/telemetry")
    directory.remove("dev")
    assert not directory.may_publish("dev", "outpost/dev/event")
    assert len(changes) == 2


def test_decision_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.broker.directory.ACL_CACHE_SIZE", 8)
    directory = BrokerDirectory()
    directory.add(BrokerUser("dev", "x", publish=("a/#",), subscribe=()))
    for i in range(50):
        assert directory.may_publish("dev", f"a/{i}")
    assert len(directory._acl_cache) <= 8  # noqa: SLF001


def test_mosquitto_passwd_hashes_verify_and_ours_are_its_format(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "dev", "s3cret"], check=True)
    theirs = passwd.read_text().strip().split(":", 1)[1]
    assert scheme_of(theirs) == "mosquitto"
    assert verify_password(theirs, "s3cret")
    assert not verify_password(theirs, "s3cret!")
    ours = mosquitto_hash("s3cret")
    assert ours.split("$")[1:3] == theirs.split("$")[1:3]  # "7", iterations
    assert verify_password(ours, "s3cret") and not verify_password(ours, "other")
    assert scheme_of(hash_password("s3cret")) == "argon2"
    assert scheme_of("$7$101$bad$bad") is None and not verify_password("plain", "plain")


async def test_embedded_broker_accepts_mosquitto_hashes() -> None:
    """One config works with either broker once its hashes are in Mosquitto's format."""
    directory = BrokerDirectory()
    directory.add(BrokerUser("dev", mosquitto_hash("pw-dev"), publish=("outpost/dev/event",), subscribe=()))
    broker = EmbeddedBroker(directory, host="127.0.0.1", port=0)
    await broker.start()
    good = PahoDevice(broker.port, "dev", "dev", "pw-dev")
    bad = PahoDevice(broker.port, "dev2", "dev", "pw-wrong")
    try:
        assert await good.connect()
        assert not await bad.connect()
    finally:
        good.close()
        bad.close()
        await broker.stop()


def test_hash_password_cli_prints_either_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge.cli import main

    secret = tmp_path / "pw"
    secret.write_text("dev-secret\n")
    for fmt, scheme in (("mosquitto", "mosquitto"), ("argon2", "argon2")):
        assert main(["hash-password", "--password-file", str(secret), "--format", fmt]) == 0
        printed = capsys.readouterr().out.strip()
        assert scheme_of(printed) == scheme and verify_password(printed, "dev-secret")


HASH_LOCK = hash_password("pw-lock")  # at import: argon2 is slow
HASH_READER = hash_password("pw-reader")


async def test_account_name_client_id_belongs_to_its_account_despite_an_old_binding() -> None:
    """A binding stored before account names were reserved (a reader squatting "lock-9") no longer wins."""
    directory = BrokerDirectory(bindings={"lock-9": "reader-9"})
    directory.add(BrokerUser("lock-9", HASH_LOCK, publish=(), subscribe=("outpost/lock-9/command",)))
    directory.add(BrokerUser("reader-9", HASH_READER, publish=(), subscribe=()))
    assert not await directory.authenticate("lock-9", "reader-9", "pw-reader")
    assert await directory.authenticate("lock-9", "lock-9", "pw-lock")
    # A session restored after a restart carries no username: it resolves to the account, not the squatter.
    assert directory.username_for("lock-9", None) == "lock-9"
    assert directory.may_receive(directory.username_for("lock-9", None), "outpost/lock-9/command")
