"""The config puller and the edge applier against a real HTTP server on loopback speaking the downlink contract."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from edge.access.decision import Reason
from sync.puller import ConfigPuller
from tests.edge.access.harness import AccessHarness, HarnessFactory
from tests.edge.access.site_documents import applier, badge, document
from tests.polling import eventually
from tests.sync.contract_cloud import ContractCloud


@pytest.fixture
async def cloud() -> AsyncIterator[ContractCloud]:
    server = ContractCloud()
    await server.start()
    yield server
    await server.stop()


def puller_for(h: AccessHarness, cloud: ContractCloud, wait_s: int = 2) -> ConfigPuller:
    return ConfigPuller(
        applier(h),
        cloud_url=cloud.url,
        site_id="test-site",
        secret=cloud.secret,
        wait_s=wait_s,
        base_backoff_s=0.05,
        max_backoff_s=0.2,
        rng=random.Random(1),
    )


async def test_pulls_applies_and_reports(access_harness: HarnessFactory, cloud: ContractCloud) -> None:
    h = await access_harness()
    puller = puller_for(h, cloud)
    await puller.start()
    try:
        cloud.publish(document(1))
        await eventually(lambda: len(cloud.reports) == 1)
        assert (cloud.reports[0].version, cloud.reports[0].status, cloud.reports[0].reason) == (1, "applied", "")
        assert await badge(h, "77:1") == Reason.GRANTED
        # A refused document: reported with the reason, version 1 stays in force.
        cloud.publish(document(2, access_levels={"cloud-day": {"doors": ["front"], "schedule": "nope"}}))
        await eventually(lambda: len(cloud.reports) == 2)
        assert cloud.reports[1].status == "refused" and "unknown schedule 'nope'" in cloud.reports[1].reason
        assert await applier(h).applied_version() == 1
        assert await badge(h, "77:1", "reader-front-out") == Reason.GRANTED  # out again (hard anti-passback)
        # The puller then asks for versions newer than the refused one: no resend loop.
        await eventually(lambda: cloud.polled_versions[-1] == 2)
        assert (puller.version, puller.refused_version) == (1, 2) and "nope" in puller.last_refusal
        cloud.publish(document(3))
        await eventually(lambda: len(cloud.reports) == 3)
        assert (cloud.reports[2].version, cloud.reports[2].status) == (3, "applied")
        assert puller.applied == 2 and puller.refused == 1
    finally:
        await puller.stop()


async def test_document_with_a_bad_signature_is_not_applied(
    access_harness: HarnessFactory, cloud: ContractCloud
) -> None:
    h = await access_harness()
    puller = puller_for(h, cloud)
    cloud.tamper = True
    cloud.publish(document(1))
    await puller.start()
    try:
        await eventually(lambda: puller.bad_signatures >= 2)
        assert cloud.reports == [] and await applier(h).applied_version() == 0
        assert await badge(h, "77:1") == Reason.UNKNOWN_CREDENTIAL
        cloud.tamper = False
        await eventually(lambda: len(cloud.reports) == 1)
        assert cloud.reports[0].status == "applied"
    finally:
        await puller.stop()


async def test_malformed_document_is_reported_refused(access_harness: HarnessFactory, cloud: ContractCloud) -> None:
    h = await access_harness()
    puller = puller_for(h, cloud)
    cloud.publish(b'{"site_id": "test-site", "version": 4, "issued_at": "yesterday"}', version=4)
    await puller.start()
    try:
        await eventually(lambda: len(cloud.reports) == 1)
        assert cloud.reports[0].version == 4 and cloud.reports[0].status == "refused"
        assert "issued_at" in cloud.reports[0].reason
        assert await applier(h).applied_version() == 0
    finally:
        await puller.stop()


async def test_cloud_away_then_back(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    cloud = ContractCloud()
    await cloud.start()
    port = cloud.port
    await cloud.stop()  # nobody listens on the port now
    puller = ConfigPuller(
        applier(h),
        cloud_url=f"http://127.0.0.1:{port}",
        site_id="test-site",
        secret=cloud.secret,
        wait_s=2,
        base_backoff_s=0.05,
        max_backoff_s=0.2,
    )
    await puller.start()
    try:
        await eventually(lambda: puller.errors >= 3)
        assert puller.last_error is not None
        cloud.publish(document(1))
        await cloud.start(port)
        await eventually(lambda: len(cloud.reports) == 1)
        assert await badge(h, "77:1") == Reason.GRANTED
        # A cloud answering 503 is an error like an absent one: counted, backed off, no crash.
        cloud.failing = True
        before = puller.errors
        await eventually(lambda: puller.errors > before)
    finally:
        await puller.stop()
        await cloud.stop()
