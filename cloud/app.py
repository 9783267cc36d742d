"""Composition root of the cloud aggregator: builds the aiohttp application and runs it.

Start order (teardown runs in reverse through `cleanup_ctx`): database (migrated to head) -> auth -> web.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud import (
    admin_api,
    admin_portal,
    api,
    configsync,
    enrollment,
    enrollment_files,
    forgot_password,
    ingest,
    media,
    metrics,
    openapi,
    people_api,
    people_portal,
    portal,
    secret_rotation,
)
from cloud.analytics import api as analytics_api
from cloud.analytics import portal as analytics_portal
from cloud.analytics.partitions import maintenance_ctx as analytics_maintenance_ctx
from cloud.apikeys import API_KEYS, ApiKeyStore
from cloud.appkeys import CONFIG, DB, ENGINE
from cloud.audit import audit_middleware
from cloud.auth import (
    API_LOGIN_PATH,
    API_LOGOUT_PATH,
    AUTHENTICATOR,
    LOGIN_PATH,
    LOGIN_THROTTLE,
    LOGOUT_PATH,
    Authenticator,
    access_middleware,
    session_middleware,
    tenant_context_middleware,
)
from cloud.billing import portal as billing_portal
from cloud.billing.schedule import billing_ctx
from cloud.config import CloudConfig
from cloud.db.engine import create_engine, is_sqlite, session_factory
from cloud.db.migrate import upgrade
from cloud.enrollment import ENROLL_LIMITER
from cloud.fleet import api as fleet_api
from cloud.fleet import maintenance_api as fleet_maintenance_api
from cloud.fleet import maintenance_portal as fleet_maintenance_portal
from cloud.fleet import portal as fleet_portal
from cloud.hr import api as hr_api
from cloud.hr import portal as hr_portal
from cloud.hr import time_api as hr_time_api
from cloud.hr import time_portal as hr_time_portal
from cloud.hr import timeline_portal as hr_timeline_portal
from cloud.offline_enrollment import ENROLLMENT_SIGNER
from cloud.responses import api_error_middleware, reject_nul_middleware
from cloud.sessions import SESSIONS, SessionStore, load_session_secret
from cloud.siteconfig import NOTIFIER, ConfigNotifier
from observability.heap import freeze_startup_heap
from sync.codec import MAX_BODY_BYTES
from sync.downlink import CONFIG_PATH, CONFIG_REPORT_PATH
from sync.enrollment_file import signing_key_from_secret
from sync.media import MEDIA_PATH
from sync.rotation import ROTATE_PATH, SITE_STATUS_PATH
from sync.wire import ENROLL_PATH, HEALTH_PATH, SYNC_PATH
from webguard.headers import install_security_headers
from webguard.login_throttle import LoginThrottle
from webguard.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# The portal's templates carry their style inline; nothing else may load, and no script at all.
PORTAL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SHUTDOWN_TIMEOUT_S = 10.0
CHECKPOINT_TIMEOUT_S = 10.0


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # Uploaded snapshots and clips: readable by the cloud's user only.
    config.media_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    config.media_path.chmod(0o700)
    await upgrade(config.database_url)
    engine = create_engine(config.database_url)
    app[ENGINE] = engine
    app[DB] = session_factory(engine)
    log.info("database ready (%s)", engine.url.render_as_string(hide_password=True))
    yield
    if is_sqlite(config.database_url):
        try:
            async with asyncio.timeout(CHECKPOINT_TIMEOUT_S), engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        except TimeoutError:
            log.warning("SQLite WAL checkpoint did not finish within %.0f s", CHECKPOINT_TIMEOUT_S)
    await engine.dispose()


async def _auth(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    secret = load_session_secret(config)
    app[SESSIONS] = SessionStore(app[DB], secret)
    app[LOGIN_THROTTLE] = LoginThrottle(secret, config.rate_limit_attempts, config.rate_limit_window_s)
    app[ENROLLMENT_SIGNER] = signing_key_from_secret(secret)
    app[AUTHENTICATOR] = await Authenticator.create(app[DB])
    app[API_KEYS] = ApiKeyStore(app[DB])
    yield


async def _wake_long_polls(app: web.Application) -> None:
    # Waiting configuration pulls answer 204 at once instead of holding the shutdown for up to MAX_WAIT_S.
    app[NOTIFIER].close()


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _path_segment(value: str) -> str:
    """A value placed in one URL path segment ("/" too is escaped, unlike jinja's urlencode)."""
    return urllib.parse.quote(value, safe="")


def _add_routes(app: web.Application) -> None:
    router = app.router
    # Machine endpoints (edge boxes).
    router.add_post(SYNC_PATH, ingest.handle_sync_batch)
    router.add_post(ENROLL_PATH, enrollment.handle_enroll)
    router.add_get(HEALTH_PATH, ingest.handle_health)
    router.add_post(ROTATE_PATH, secret_rotation.handle_rotate)
    router.add_get(SITE_STATUS_PATH, secret_rotation.handle_site_status)
    router.add_get(f"{MEDIA_PATH}/{{media_id}}", media.handle_media_state)
    router.add_put(f"{MEDIA_PATH}/{{media_id}}", media.handle_media_chunk)
    router.add_get(CONFIG_PATH, configsync.handle_config_pull)
    router.add_post(CONFIG_REPORT_PATH, configsync.handle_config_report)
    # JSON API (session cookie + X-CSRF-Token).
    router.add_post(API_LOGIN_PATH, api.handle_login)
    router.add_post(API_LOGOUT_PATH, api.handle_logout)
    router.add_get("/api/v1/sites", api.handle_sites)
    router.add_get("/api/v1/sites/{site_id}", api.handle_site)
    router.add_get("/api/v1/sites/{site_id}/records", api.handle_site_records)
    router.add_post("/api/v1/sites/{site_id}/revoke", api.handle_revoke_site)
    router.add_post("/api/v1/enrollment-codes", api.handle_create_code)
    router.add_post(enrollment_files.ENROLLMENT_FILES_PATH, api.handle_create_enrollment_file)
    router.add_get(enrollment_files.ENROLLMENT_KEY_PATH, enrollment_files.handle_enrollment_key)
    people_api.add_routes(router)
    analytics_api.add_routes(router)
    hr_api.add_routes(router)
    fleet_api.add_routes(router)
    fleet_maintenance_api.add_routes(router)
    hr_time_api.add_routes(router)
    router.add_get(openapi.OPENAPI_PATH, openapi.handle_openapi)
    # HTML portal.
    router.add_get("/", portal.handle_root)
    router.add_get(LOGIN_PATH, portal.handle_login_page)
    router.add_post(LOGIN_PATH, portal.handle_login_form)
    router.add_post(LOGOUT_PATH, portal.handle_logout)
    router.add_get(portal.PORTAL_PATH, portal.handle_portal)
    router.add_post(f"{portal.PORTAL_PATH}/enrollment-codes", portal.handle_create_code_form)
    router.add_post(f"{portal.PORTAL_PATH}/enrollment-files", portal.handle_create_file_form)
    router.add_get(f"{portal.PORTAL_PATH}/sites/{{site_id}}", portal.handle_site_page)
    router.add_post(f"{portal.PORTAL_PATH}/sites/{{site_id}}/revoke", portal.handle_revoke_form)
    router.add_get(f"{portal.PORTAL_PATH}/sites/{{site_id}}/media/{{media_id}}", portal.handle_media_page)
    people_portal.add_routes(router)
    analytics_portal.add_routes(router)
    billing_portal.add_routes(router)
    hr_portal.add_routes(router)
    hr_timeline_portal.add_routes(router)
    fleet_portal.add_routes(router)
    fleet_maintenance_portal.add_routes(router)
    hr_time_portal.add_routes(router)
    admin_portal.add_routes(router)  # users, API keys, audit log; one-time password links
    admin_api.add_routes(router)  # GET /api/v1/audit
    forgot_password.install(app)  # self-service reset links (with SMTP)


def build_app(config: CloudConfig) -> web.Application:
    """Build the cloud application; the database is migrated and opened when the app starts.

    Serve it through `make_runner` (or `started_cloud`, `run_cloud`): sync bodies must stay compressed.
    """
    app = web.Application(
        # The sync body is gzip JSON, at most MAX_BODY_BYTES once decompressed; compressed it is smaller.
        client_max_size=MAX_BODY_BYTES,
        middlewares=[
            api_error_middleware,
            reject_nul_middleware,
            tenant_context_middleware,
            session_middleware,
            access_middleware,
            audit_middleware,
        ],
    )
    app[CONFIG] = config
    app[NOTIFIER] = ConfigNotifier()
    app[ingest.NONCE_PRUNING] = ingest.NoncePruning()
    app.on_shutdown.append(_wake_long_polls)
    install_security_headers(app, csp=PORTAL_CSP)
    app[media.MEDIA_LOCKS] = {}
    app[ENROLL_LIMITER] = RateLimiter(config.rate_limit_attempts, config.rate_limit_window_s)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_auth)
    app.cleanup_ctx.append(billing_ctx)  # default plans, the scheduled period close
    app.cleanup_ctx.append(analytics_maintenance_ctx)  # partitions ahead, retention (every 6 h)
    filters: dict[str, Callable[..., str]] = {"utc": _utc, "path_segment": _path_segment}
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.ChoiceLoader(
            [jinja2.PackageLoader("cloud", "templates"), jinja2.PackageLoader("cloud.billing", "templates")]
        ),
        autoescape=True,
        filters=filters,
    )
    _add_routes(app)
    metrics.install(app)  # /metrics, /readyz, sync counters
    return app


@dataclass(frozen=True)
class RunningCloud:
    """A started cloud server: where it listens and its services (for demos and tests)."""

    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. http://127.0.0.1:8600."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        """The session factory, e.g. for `cloud.admin.bootstrap_tenant`."""
        return self.app[DB]


def make_runner(app: web.Application) -> web.AppRunner:
    """Wrap the app in a runner with the settings the cloud needs; use this rather than a bare AppRunner."""
    # auto_decompress=False: the sync HMAC covers the gzip bytes as sent (Content-Encoding: gzip), so the
    # server must hand them over untouched; sync.codec inflates them afterwards, with a size bound.
    return web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, auto_decompress=False)


@asynccontextmanager
async def started_cloud(config: CloudConfig) -> AsyncIterator[RunningCloud]:
    """Start the cloud on config.host/port (0 picks a free port), yield it, stop it on exit."""
    runner = make_runner(build_app(config))
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        running = RunningCloud(app=runner.app, host=host, port=port)
        log.info("cloud listening on %s", running.url)
        yield running
    finally:
        # Stops accepting, waits for in-flight requests, then runs cleanup_ctx in reverse (database last).
        await runner.cleanup()


async def run_cloud(config: CloudConfig, ready: asyncio.Future[RunningCloud] | None = None) -> None:
    """Serve until cancelled; `ready` (if given) receives the RunningCloud once the port is bound."""
    try:
        async with started_cloud(config) as running:
            freeze_startup_heap()  # full collections then skip the start-up heap (observability.heap)
            if ready is not None and not ready.done():
                ready.set_result(running)
            await asyncio.Event().wait()
    except BaseException as err:
        # A demo awaiting `ready` must not hang if start-up fails or is cancelled before the port is bound.
        if ready is not None and not ready.done():
            if isinstance(err, Exception):
                ready.set_exception(err)
            else:
                ready.cancel()
        raise
