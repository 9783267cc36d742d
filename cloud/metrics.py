"""The cloud's /metrics (Prometheus text format) and /readyz.

Sync requests are counted by a middleware on the sync path, by answer (``stored`` or the refusal's status),
and the records of accepted batches by what the ack says (stored, duplicates), so ingest itself stays as it is.
/healthz keeps its contract (the edge's sync agent probes it); /readyz answers the same question for an
orchestrator, with the check named. Who may scrape: observability.scrape (token file ``<data_dir>/metrics-token``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cloud.appkeys import CONFIG, DB
from cloud.permissions import public
from observability.loop_lag import LoopLagMonitor
from observability.scrape import TOKEN_FILE_NAME, exposition, may_scrape, refused
from observability.version import software_version
from sync.wire import SYNC_PATH, SyncAck

PREFIX = "outpost_cloud"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CloudMetrics:
    """The cloud app's own registry and instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.sync_requests = Counter(
            f"{PREFIX}_sync_requests",
            "Sync batches received, by answer: ok, or the HTTP status of the refusal",
            ["result"],
            registry=registry,
        )
        self.records = Counter(
            f"{PREFIX}_sync_records",
            "Records in accepted batches: stored (new) or duplicate (replayed)",
            ["outcome"],
            registry=registry,
        )
        info = Gauge(f"{PREFIX}_info", "This server's software version", ["version"], registry=registry)
        info.labels(version=software_version()).set(1)
        self.loop_lag = LoopLagMonitor(registry, PREFIX)

    def on_sync_answer(self, response: web.StreamResponse) -> None:
        """Count one answer to a sync request."""
        if response.status != 200:
            self.sync_requests.labels(result=str(response.status)).inc()
            return
        self.sync_requests.labels(result="ok").inc()
        body = response.body if isinstance(response, web.Response) else None
        if isinstance(body, bytes):
            try:
                ack = SyncAck.model_validate_json(body)
            except ValidationError:
                return
            self.records.labels(outcome="stored").inc(ack.stored)
            self.records.labels(outcome="duplicate").inc(ack.duplicates)


CLOUD_METRICS = web.AppKey("cloud_metrics", CloudMetrics)


@web.middleware
async def sync_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count sync requests by answer (outermost, so refusals raised by inner layers count too)."""
    if request.path != SYNC_PATH:
        return await handler(request)
    metrics = request.app[CLOUD_METRICS]
    try:
        response = await handler(request)
    except web.HTTPException as err:
        metrics.sync_requests.labels(result=str(err.status)).inc()
        raise
    except Exception:
        metrics.sync_requests.labels(result="500").inc()
        raise
    metrics.on_sync_answer(response)
    return response


async def observe(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx stage: measure the event loop's lag while the app runs."""
    monitor = app[CLOUD_METRICS].loop_lag
    await monitor.start()
    yield
    await monitor.stop()


@public
async def handle_metrics(request: web.Request) -> web.StreamResponse:
    """GET /metrics: loopback, or the bearer token from <data_dir>/metrics-token (mode 0600)."""
    if not may_scrape(request, request.app[CONFIG].data_dir / TOKEN_FILE_NAME):
        return refused()
    return exposition(request.app[CLOUD_METRICS].registry)


@public
async def handle_readyz(request: web.Request) -> web.StreamResponse:
    """GET /readyz: 200 when the database answers (the web answering is this reply)."""
    try:
        async with request.app[DB]() as session:
            await session.execute(text("SELECT 1"))
        database = True
    except (OSError, SQLAlchemyError):
        database = False
    checks = {"web": True, "database": database}
    return web.json_response({"ready": database, "checks": checks}, status=200 if database else 503)


def install(app: web.Application) -> None:
    """Give the cloud app its registry, the sync-counting middleware, /metrics, /readyz and the observe stage."""
    app[CLOUD_METRICS] = CloudMetrics()
    app.middlewares.insert(0, sync_metrics_middleware)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/readyz", handle_readyz)
    app.cleanup_ctx.append(observe)
