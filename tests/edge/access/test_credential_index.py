"""The in-memory credential index: every way people change is seen by the next badge; no SQLite per badge."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import tomli_w

from edge.access.decision import Reason
from edge.access.snapshot import CredentialSnapshot
from firmware_adapters.messages import BadgeRead
from tests.edge.access.harness import AccessHarness, HarnessFactory, access_site_dict
from tests.polling import eventually


def snapshot(version: int, people: list[dict[str, object]], **extra: object) -> CredentialSnapshot:
    return CredentialSnapshot.model_validate({"version": version, "people": people, **extra})


async def badge(h: AccessHarness, credential: str, reader: str = "reader-yard-in") -> Reason:
    """Present a card at the yard gate (soft anti-passback: repeated reads still decide on the card)."""
    return (await h.service.on_badge(reader, BadgeRead(credential=credential))).reason


@pytest.fixture
def no_database_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a badge decision reads credentials from SQLite."""

    async def forbidden(self: object, number: str) -> None:
        raise AssertionError("a badge decision read the credential from the database")

    monkeypatch.setattr("edge.access.credentials.CredentialStore.lookup", forbidden)


@pytest.mark.usefixtures("no_database_lookups")
async def test_console_people_changes_are_seen_by_the_next_badge(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    assert await badge(h, "123:4501") == Reason.UNKNOWN_CREDENTIAL
    person = await h.people.add_person("Ada", ["123:4501"], "admin", levels=["staff"])
    assert await badge(h, "123:4501") == Reason.GRANTED
    await h.people.update_person(person, {"active": False}, "admin")
    assert await badge(h, "123:4501") == Reason.SUSPENDED
    await h.people.update_person(person, {"active": True, "levels": ["nights"]}, "admin")
    assert await badge(h, "123:4501") == Reason.NO_ACCESS_LEVEL  # nights does not open the yard
    await h.people.update_person(person, {"levels": ["all"]}, "admin")
    assert await badge(h, "0123:04501") == Reason.GRANTED  # normalised like the database lookup


@pytest.mark.usefixtures("no_database_lookups")
async def test_store_writes_refresh_the_index(access_harness: HarnessFactory) -> None:
    """Code that enrols through the CredentialStore directly (tests, tools) is seen too."""
    h = await access_harness()
    await h.store.add_person("Bob", ["04-a1-b2-c3"], levels=["staff"])
    assert await badge(h, "04A1B2C3") == Reason.GRANTED


@pytest.mark.usefixtures("no_database_lookups")
async def test_snapshots_are_seen_by_the_next_badge(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    ada = {"id": "p-1", "name": "Ada", "levels": ["staff"], "credentials": [{"number": "7:1"}]}
    await h.people.apply_credential_snapshot(snapshot(1, [ada]))
    assert await badge(h, "7:1") == Reason.GRANTED
    moved = {**ada, "credentials": [{"number": "7:2"}]}
    await h.people.apply_credential_snapshot(snapshot(2, [moved], kind="delta", base_version=1))
    assert (await badge(h, "7:1"), await badge(h, "7:2")) == (Reason.UNKNOWN_CREDENTIAL, Reason.GRANTED)
    await h.people.apply_credential_snapshot(snapshot(3, [], kind="delta", removed=["p-1"]))
    assert await badge(h, "7:2") == Reason.UNKNOWN_CREDENTIAL


async def test_a_person_added_by_the_cli_of_another_process_is_seen(
    access_harness: HarnessFactory, tmp_path: Path
) -> None:
    h = await access_harness()
    config_path = tmp_path / "edge.toml"
    config_path.write_text(tomli_w.dumps(access_site_dict(tmp_path / "site0")))  # the harness's database
    config_path.chmod(0o600)
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge.cli",
        "--config",
        str(config_path),
        "add-person",
        "Lin",
        "--badge",
        "123:77",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, output.decode()
    # Within the index's poll interval (1 s): the triggers' change counter moved.
    await eventually(lambda: h.service.credential_index.get("123:77") is not None, timeout_s=5)
    assert await badge(h, "123:77") == Reason.NO_ACCESS_LEVEL  # known now (the CLI gives no levels)


async def test_decisions_see_the_old_or_the_new_set_never_a_mix(access_harness: HarnessFactory) -> None:
    """Index reads race a big snapshot: each sees one version entirely, never the old again once the new."""
    h = await access_harness()
    count = 400
    old = [
        {"id": f"p-{i}", "name": f"old-{i}", "levels": ["staff"], "credentials": [{"number": f"7:{i}"}]}
        for i in range(count)
    ]
    new = [{**p, "name": f"new-{i}", "levels": ["nights"]} for i, p in enumerate(old)]
    await h.people.apply_credential_snapshot(snapshot(1, old))
    seen: list[str] = []
    done = asyncio.Event()

    async def reader() -> None:
        i = 0
        while not done.is_set():
            record = h.service.credential_index.get(f"7:{i % count}")
            assert record is not None, "a card vanished while the snapshot was applied"
            generation = record.person_name.split("-")[0]
            assert record.levels == frozenset({"staff" if generation == "old" else "nights"}), "mixed state"
            seen.append(generation)
            i += 7
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    try:
        await eventually(lambda: "old" in seen, interval_s=0.001)  # reads before the switch...
        await h.people.apply_credential_snapshot(snapshot(2, new))
        await eventually(lambda: seen.count("new") >= 10, interval_s=0.001)  # ...and after it
    finally:
        done.set()
        await task
    assert "old" in seen and "new" in seen
    assert "old" not in seen[seen.index("new") :]
    assert h.service.credential_index.get("7:5").person_name == "new-5"  # current once the call returned


async def test_concurrent_enrolments_are_all_visible_and_refreshes_share_reloads(
    access_harness: HarnessFactory,
) -> None:
    h = await access_harness()
    index = h.service.credential_index
    await asyncio.gather(*(h.store.add_person(f"P{i}", [f"9:{i}"], levels=["staff"]) for i in range(12)))
    assert all(index.get(f"9:{i}") is not None for i in range(12))
    before = index.reloads
    await asyncio.gather(*(index.refresh() for _ in range(10)))  # e.g. a burst of API enrolments
    assert index.reloads - before == 2  # the running reload, then one for everyone who asked meanwhile
