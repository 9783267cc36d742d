"""Console edits of doors and schedules under HQ's documents: HQ's values win, the console's stay where HQ is silent,
both survive a restart, and edits of what HQ manages are refused."""

from __future__ import annotations

from typing import Any

import pytest

from edge.access.decision import Reason
from edge.access.policy_edits import ManagedByHq, PolicyEditor, PolicyEditRefused
from edge.access.site_config import SiteConfigApplier, load_effective_config
from sync.policy import DoorPolicy, Schedule, ScheduleWindow
from tests.edge.access.harness import AccessHarness, HarnessFactory
from tests.edge.access.site_documents import badge, document


def editor_and_applier(h: AccessHarness) -> tuple[PolicyEditor, SiteConfigApplier]:
    """The console's editor and HQ's applier sharing one lock and one listener, as edge.app wires them."""

    async def use(config: Any) -> None:
        await h.service.use_config(config)

    editor = PolicyEditor(h.config, h.db, h.journal, on_policy=use)
    applier = SiteConfigApplier(h.config, h.db, h.people, h.journal, on_policy=use, lock=editor.lock)
    return editor, applier


async def test_console_edits_under_hq_documents(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    editor, applier = editor_and_applier(h)
    # The console holds the yard door unlocked on a schedule of its own and sets the front door's timings.
    mornings = Schedule(windows=[ScheduleWindow(days=["wed"], start="09:00", end="11:00")])
    await editor.set_schedule("morning", mornings, "admin")
    await editor.set_door("yard", DoorPolicy(unlock_schedule="morning"), "admin")
    await editor.set_door("front", DoorPolicy(unlock_s=9, held_open_s=40), "admin")
    assert h.state.doors["yard"].mode == "unlocked (schedule)"  # Wednesday 10:00: applied at once

    # HQ's document sets the front door's unlock time: HQ wins there, the console's held-open time stays.
    assert (await applier.apply(document(1))).applied
    view = await editor.view()
    front = next(d for d in view.effective.doors if d.id == "front")
    assert (front.unlock_s, front.held_open_s) == (7, 40)
    assert view.hq_door_fields["front"] == {"unlock_s"}
    assert h.state.doors["yard"].mode == "unlocked (schedule)"  # the console's door mode survives HQ's document
    assert await badge(h, "77:1") == Reason.GRANTED

    # What HQ manages is not the console's to change.
    with pytest.raises(ManagedByHq):
        await editor.set_door("front", DoorPolicy(unlock_s=3), "admin")
    with pytest.raises(ManagedByHq):
        await editor.set_schedule("cloud-hours", mornings, "admin")
    # A schedule still in use is not removed; the reason names the door.
    with pytest.raises(PolicyEditRefused, match="yard"):
        await editor.remove_schedule("morning", "admin")

    # After a restart: the console's edits and HQ's document, both in force.
    effective = await load_effective_config(h.db, h.config)
    front = next(d for d in effective.doors if d.id == "front")
    yard = next(d for d in effective.doors if d.id == "yard")
    assert (front.unlock_s, front.held_open_s, yard.unlock_schedule) == (7, 40, "morning")
    assert "morning" in effective.schedules and "cloud-hours" in effective.schedules
