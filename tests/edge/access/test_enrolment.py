"""Enrolment by tap in the badge path: the next unknown card at the armed reader within the window is bound once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from firmware_adapters.messages import BadgeRead


async def test_two_cards_racing_at_the_armed_reader_enrol_only_the_first(access_harness) -> None:
    site = await access_harness()
    person_id = await site.people.add_person("Newcomer", [], "admin", levels=["all"])
    desk = site.service.enrolments
    enrolment = desk.arm("reader-front", person_id, "admin", 30)
    first, second = await asyncio.gather(
        site.service.on_badge("reader-front", BadgeRead(credential="AA01")),
        site.service.on_badge("reader-front", BadgeRead(credential="AA02")),
    )
    assert not first.granted and not second.granted  # a tap that enrols opens nothing
    assert enrolment.state == "enrolled" and enrolment.credential == "AA01"
    assert site.service.credential_index.get("AA01") is not None
    assert site.service.credential_index.get("AA02") is None
    audits = await site.audits()
    assert [(a["credential"], a["enrolment_for"]) for a in reversed(audits)] == [("AA01", person_id), ("AA02", None)]
    # the enrolled card now opens the front door
    assert (await site.service.on_badge("reader-front", BadgeRead(credential="aa:01"))).granted


async def test_only_the_armed_reader_and_only_within_the_window(access_harness) -> None:
    site = await access_harness()
    person_id = await site.people.add_person("Late", [], "admin")
    desk = site.service.enrolments
    enrolment = desk.arm("reader-front", person_id, "admin", 10)
    await site.service.on_badge("reader-side", BadgeRead(credential="BB01"))  # another reader: not enrolled
    assert enrolment.state == "waiting"
    site.clock.now += timedelta(seconds=11)
    await site.service.on_badge("reader-front", BadgeRead(credential="BB02"))
    assert enrolment.state == "expired"
    assert site.service.credential_index.get("BB01") is None and site.service.credential_index.get("BB02") is None
    # arming again replaces the person's earlier enrolment; a card already held by someone is refused by the store
    await site.people.add_person("Holder", ["CC01"], "admin")
    old = desk.arm("reader-side", person_id, "admin", 10)
    new = desk.arm("reader-front", person_id, "admin", 10)
    assert old.state == "cancelled" and desk.of_person(person_id) is new
    await desk.bind(new, "CC01")
    assert new.state == "failed" and "already belongs" in (new.error or "")
