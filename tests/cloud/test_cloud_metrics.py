"""/metrics and /readyz on a real cloud app: counters move when a batch is ingested, replayed or refused."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from cloud_helpers import make_batch, send_batch
from prometheus_client.parser import text_string_to_metric_families

from cloud.app import RunningCloud
from sync.wire import EnrollResponse


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.text)


async def test_counters_move_when_a_batch_is_ingested(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    before = await scrape(http)
    assert ("outpost_cloud_sync_requests_total", (("result", "ok"),)) not in before
    at = datetime.now(UTC)
    batch = make_batch(site.site_id, [1, 2, 3], at=at)
    assert (await send_batch(http, site, batch)).status_code == 200
    replay = make_batch(site.site_id, [2, 3, 4], at=at)
    assert (await send_batch(http, site, replay)).status_code == 200
    wrong = make_batch("no-such-site", [1])
    refused = await send_batch(http, site, wrong)
    assert refused.status_code >= 400

    after = await scrape(http)
    assert after[("outpost_cloud_sync_requests_total", (("result", "ok"),))] == 2
    assert after[("outpost_cloud_sync_requests_total", (("result", str(refused.status_code)),))] == 1
    assert after[("outpost_cloud_sync_records_total", (("outcome", "stored"),))] == 4
    assert after[("outpost_cloud_sync_records_total", (("outcome", "duplicate"),))] == 2
    assert ("outpost_cloud_event_loop_lag_seconds", ()) in after
    assert any(name == "outpost_cloud_info" for name, _labels in after)


async def test_readyz_and_healthz(http: httpx.AsyncClient, cloud: RunningCloud) -> None:
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"web": True, "database": True}}
    health = await http.get("/healthz")  # the sync agent's probe keeps its contract
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
