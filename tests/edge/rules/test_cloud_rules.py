"""Rules arriving from the cloud in the site configuration document: applied atomically with it, or refused."""

from __future__ import annotations

from typing import Any

from edge import keys
from edge.access.site_config import SiteConfigApplier
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from sync.rules import Rule
from tests.edge.access.site_documents import document

CLOUD_RULE: dict[str, Any] = {
    "id": "hq-lockdown-on-forced",
    "name": "Lock down on a forced door",
    "trigger": {"type": "event", "filter": {"type": "alarm", "alarm": "forced", "match": {"state": "raised"}}},
    "actions": [{"type": "lockdown", "active": True, "reason": "forced door"}],
}


def cloud_applier(edge: EdgeRunner) -> SiteConfigApplier:
    """The applier wired as the composition root wires it (access policy, then rules)."""
    app = edge.app

    async def use_policy(effective: EdgeConfig) -> None:
        await app[keys.ACCESS].use_config(effective)
        await app[keys.RULES].use_config(effective)

    return SiteConfigApplier(
        app[keys.CONFIG], app[keys.DATABASE], app[keys.PEOPLE], app[keys.JOURNAL], on_policy=use_policy
    )


async def test_document_rules_replace_the_cloud_rules_and_keep_local_ones(edge_app: EdgeRunner) -> None:
    rules = edge_app.app[keys.RULES]
    local = Rule.model_validate({**CLOUD_RULE, "id": "local-one", "name": "Local"})
    await rules.save(local, by="admin")
    sink = cloud_applier(edge_app)
    assert (await sink.apply(document(1, rules=[CLOUD_RULE]))).applied
    stored = {s.rule.id: s.source for s in await rules.rules()}
    assert stored == {"local-one": "local", "hq-lockdown-on-forced": "cloud"}
    assert set(rules.engine.rules) == {"local-one", "hq-lockdown-on-forced"}
    # A document without `rules` leaves them; one with an empty list removes the cloud's (never the box's own).
    assert (await sink.apply(document(2))).applied
    assert "hq-lockdown-on-forced" in rules.engine.rules
    assert (await sink.apply(document(3, rules=[]))).applied
    assert set(rules.engine.rules) == {"local-one"}


async def test_document_with_a_rule_naming_an_unknown_door_is_refused_whole(edge_app: EdgeRunner) -> None:
    rules = edge_app.app[keys.RULES]
    sink = cloud_applier(edge_app)
    bad = {**CLOUD_RULE, "actions": [{"type": "door", "door": "garage", "action": "lock"}]}
    outcome = await sink.apply(document(1, rules=[bad]))
    assert not outcome.applied
    assert "rules.hq-lockdown-on-forced" in outcome.reason and "unknown door 'garage'" in outcome.reason
    assert await sink.applied_version() == 0 and await rules.rules() == []
