"""The edge's /metrics (Prometheus text format) and /readyz.

Counters the components already keep (broker denials, device messages, camera frames, sync attempts) are read
at scrape time by a collector; events that need a distribution or a label the components do not keep are
observed as they happen: access decisions (from the journal), door command latency (from the lock commander).
The outbox's backlog and age are read from the database on each scrape. Who may scrape: observability.scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from edge import keys
from edge.storage.journal import JournalEntry
from observability.loop_lag import LoopLagMonitor
from observability.scrape import TOKEN_FILE_NAME, exposition, may_scrape, refused
from observability.version import software_version

PREFIX = "outpost_edge"
COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
READY_TIMEOUT_S = 2.0


class _ComponentCollector(Collector):
    """Reads the counters the running components keep, at scrape time."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        app = self._app
        broker = app.get(keys.BROKER)
        gateway = app.get(keys.GATEWAY)
        messages = CounterMetricFamily(
            f"{PREFIX}_broker_messages", "Device messages the site core took in from the broker", labels=["outcome"]
        )
        denials = CounterMetricFamily(
            f"{PREFIX}_broker_denials", "Broker refusals: topic ACL, and CONNECTs by reason", labels=["kind"]
        )
        if gateway is not None:
            stats = gateway.stats()
            messages.add_metric(["accepted"], stats["received"])
            messages.add_metric(["bad"], stats["bad_messages"])
        if broker is not None:
            denials.add_metric(["acl"], broker.directory.denied)
            for reason, count in sorted(broker.refused_connects.items()):
                denials.add_metric([f"connect_{reason}"], count)
        yield messages
        yield denials
        yield from self._cameras()
        yield from self._sync()
        yield from self._rules()

    def _rules(self) -> Iterator[Metric]:
        rules = self._app.get(keys.RULES)
        if rules is None:
            return
        firings = CounterMetricFamily(
            f"{PREFIX}_rule_firings", "Rule firings: run, or dropped by the rule's rate limit", labels=["outcome"]
        )
        firings.add_metric(["run"], rules.engine.fired)
        firings.add_metric(["rate_limited"], rules.engine.suppressed)
        yield firings
        yield CounterMetricFamily(f"{PREFIX}_rule_events", "Events the rules engine evaluated", rules.engine.events)
        attempts = CounterMetricFamily(
            f"{PREFIX}_notification_attempts", "Notification delivery attempts", labels=["outcome"]
        )
        attempts.add_metric(["sent"], rules.notifier.sent)
        attempts.add_metric(["failed"], rules.notifier.failed_attempts)
        yield attempts

    def _cameras(self) -> Iterator[Metric]:
        frames = CounterMetricFamily(f"{PREFIX}_camera_frames", "Frames analysed per camera", labels=["camera"])
        skipped = CounterMetricFamily(
            f"{PREFIX}_camera_frames_skipped",
            "Frames not given to the detector: motion gate (nothing moved) or dropped (analysis fell behind)",
            labels=["camera", "why"],
        )
        detector = SummaryMetricFamily(
            f"{PREFIX}_detector_latency_seconds", "Time spent in the detector per run", labels=["camera"]
        )
        for camera_id, pipeline in sorted(self._app.get(keys.CAMERAS, {}).items()):
            stats = pipeline.analyzer.stats
            # Read each counter once: the analysis thread may move them while this runs.
            seen, runs, spent = stats.frames, stats.detector_runs, stats.detect_s
            frames.add_metric([camera_id], seen)
            skipped.add_metric([camera_id, "motion_gate"], max(0, seen - runs))
            skipped.add_metric([camera_id, "dropped"], pipeline.status.frames_dropped)
            detector.add_metric([camera_id], count_value=runs, sum_value=spent)
        yield frames
        yield skipped
        yield detector

    def _sync(self) -> Iterator[Metric]:
        agent = self._app.get(keys.SYNC)
        errors = CounterMetricFamily(f"{PREFIX}_sync_errors", "Failed attempts to deliver the outbox to the cloud")
        batches = CounterMetricFamily(f"{PREFIX}_sync_batches", "Batches the cloud acknowledged")
        errors.add_metric([], agent.failed_attempts if agent is not None else 0)
        batches.add_metric([], agent.batches_sent if agent is not None else 0)
        yield errors
        yield batches
        last = GaugeMetricFamily(
            f"{PREFIX}_sync_last_success_timestamp_seconds", "When the cloud last acknowledged a batch (0: never)"
        )
        last.add_metric([], agent.last_success.timestamp() if agent is not None and agent.last_success else 0.0)
        yield last


class EdgeMetrics:
    """The edge's own registry and the instruments fed as things happen."""

    def __init__(self, app: web.Application) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.decisions = Counter(
            f"{PREFIX}_access_decisions",
            "Badge decisions by result and reason",
            ["result", "reason"],
            registry=registry,
        )
        self.command_latency = Histogram(
            f"{PREFIX}_door_command_latency_seconds",
            "From a lock command's first transmission to the lock's acknowledgement",
            ["action"],
            buckets=COMMAND_BUCKETS,
            registry=registry,
        )
        self.outbox_backlog = Gauge(f"{PREFIX}_outbox_backlog", "Records waiting for the cloud", registry=registry)
        self.outbox_age = Gauge(
            f"{PREFIX}_outbox_oldest_age_seconds", "Age of the oldest record waiting for the cloud", registry=registry
        )
        self.outbox_quarantined = Gauge(
            f"{PREFIX}_outbox_quarantined", "Records the cloud refused, kept aside", registry=registry
        )
        info = Gauge(f"{PREFIX}_info", "This box's software version", ["version"], registry=registry)
        info.labels(version=software_version()).set(1)
        self.loop_lag = LoopLagMonitor(registry, PREFIX)
        registry.register(_ComponentCollector(app))

    def on_journal(self, entry: JournalEntry) -> None:
        """Count access decisions (the journal's audit records of type access_decision)."""
        payload = entry.payload
        if entry.kind != "audit" or payload.get("type") != "access_decision":
            return
        reason = str(payload.get("reason", "unknown"))
        result = "granted" if payload.get("granted") else "waiting" if reason == "two_person_pending" else "denied"
        self.decisions.labels(result=result, reason=reason).inc()

    def on_command_latency(self, action: str, seconds: float) -> None:
        """Observe one acknowledged lock command."""
        self.command_latency.labels(action=action).observe(seconds)

    async def refresh(self, app: web.Application) -> None:
        """Read what lives in the database (outbox backlog and age) just before a scrape."""
        outbox = app.get(keys.OUTBOX)
        if outbox is None:
            return
        self.outbox_backlog.set(await outbox.backlog())
        self.outbox_quarantined.set(await outbox.quarantine_count())
        oldest = await outbox.oldest_pending()
        self.outbox_age.set(0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds()))


EDGE_METRICS = web.AppKey("edge_metrics", EdgeMetrics)


async def observe(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx stage (after every component): feed the instruments, measure the loop's lag."""
    metrics = app[EDGE_METRICS]
    unsubscribe = app[keys.JOURNAL].subscribe(metrics.on_journal)
    access = app.get(keys.ACCESS)
    if access is not None:
        access.commander.on_latency = metrics.on_command_latency
    await metrics.loop_lag.start()
    yield
    await metrics.loop_lag.stop()
    unsubscribe()


async def handle_metrics(request: web.Request) -> web.StreamResponse:
    """GET /metrics: loopback, or the bearer token from <data dir>/metrics-token (mode 0600)."""
    config = request.app[keys.CONFIG]
    if not may_scrape(request, config.storage.data_dir / TOKEN_FILE_NAME):
        return refused()
    metrics = request.app[EDGE_METRICS]
    await metrics.refresh(request.app)
    return exposition(metrics.registry)


async def _broker_answers(app: web.Application) -> bool:
    broker = app.get(keys.BROKER)
    if broker is None:
        return False
    try:
        _reader, writer = await asyncio.open_connection(broker.client_host, broker.port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _database_answers(app: web.Application) -> bool:
    db = app.get(keys.DATABASE)
    if db is None:
        return False
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure means not ready; the reason is in the database's own log lines
        return False
    return True


async def component_checks(app: web.Application) -> dict[str, bool]:
    """Whether the broker accepts TCP connections and the database answers (also the systemd watchdog's test)."""
    checks: dict[str, bool] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            checks["broker"] = await _broker_answers(app)
            checks["database"] = await _database_answers(app)
    except TimeoutError:
        checks.setdefault("broker", False)
        checks.setdefault("database", False)
    return checks


async def handle_readyz(request: web.Request) -> web.StreamResponse:
    """GET /readyz: 200 when the broker accepts TCP connections, the database answers and the web serves (this)."""
    checks = {"web": True, **await component_checks(request.app)}
    ready = all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


def install(app: web.Application) -> None:
    """Give the edge app its metrics registry, the /metrics and /readyz routes and the observe stage."""
    app[EDGE_METRICS] = EdgeMetrics(app)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/readyz", handle_readyz)
    app.cleanup_ctx.append(observe)
