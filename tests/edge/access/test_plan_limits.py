"""The plan's per-site allowances travel in HQ's document; the box keeps them (to show going over), enforces nothing."""

from __future__ import annotations

from edge.access.site_config import stored_policy
from tests.edge.access.harness import HarnessFactory
from tests.edge.access.site_documents import applier, document

LIMITS = {"plan": "Starter v1", "cameras": 2, "doors": 1, "devices": 10, "overage_policy": "block"}


async def test_the_applied_documents_plan_limits_are_kept_and_a_document_without_them_drops_them(
    access_harness: HarnessFactory,
) -> None:
    h = await access_harness()
    sink = applier(h)
    assert (await sink.apply(document(1, limits=LIMITS))).applied
    _, policy = await stored_policy(h.db)
    assert policy is not None and policy.limits is not None
    assert (policy.limits.plan, policy.limits.doors, policy.limits.overage_policy) == ("Starter v1", 1, "block")
    assert (await sink.apply(document(2))).applied  # the tenant's subscription ended
    _, policy = await stored_policy(h.db)
    assert policy is not None and policy.limits is None
