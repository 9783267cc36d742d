"""Composition root of the edge appliance: builds every component and starts them in order.

Start order: database -> sync agent -> broker -> device adapters/access -> rules -> config puller -> vision ->
Home Assistant -> web.
aiohttp's cleanup_ctx tears down in reverse, which gives the staged shutdown we want:
stop serving, stop intake (cameras, then device messages), stop the broker, then a last
bounded sync flush, then checkpoint and close the database. The sync agent starts before
intake so that its final flush runs after intake has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import insert, select

from edge import keys, metrics
from edge.access.assembly import build_access
from edge.access.credentials import CredentialStore
from edge.access.door_watch import DoorWatch
from edge.access.muster import MusterRoll
from edge.access.pins import PinHasher
from edge.access.policy_edits import PolicyEditor
from edge.access.site_config import SiteConfigApplier, load_effective_config
from edge.access.vehicle_gate import VehicleGates
from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.broker.mosquitto import ManagedMosquitto, SystemMosquitto
from edge.broker.server import EmbeddedBroker, SiteBroker
from edge.clock import WallClock
from edge.config import EdgeConfig
from edge.devices.accounts import config_accounts
from edge.devices.gateway import DeviceGateway
from edge.devices.router import REMEMBERED_EVENTS, DeviceRouter, HandledEvents
from edge.devices.state import SiteState
from edge.homeassistant.bridge import HomeAssistantBridge
from edge.homeassistant.store import DiscoveryStore
from edge.homeassistant.topics import BRIDGE_USERNAME, HaTopics, bridge_acl, home_assistant_user
from edge.inventory import InventoryReporter, inventory_of
from edge.rules.actions import ActionPorts
from edge.rules.service import RulesMqtt, RulesService
from edge.secret_file import SecretFile
from edge.service_notify import SystemdNotifier, Watchdog, watchdog_interval_s
from edge.storage.database import Database
from edge.storage.device_events import recent_device_event_ids
from edge.storage.journal import Journal, Outbox
from edge.storage.media import MediaQueue
from edge.storage.schema import mqtt_client_bindings
from edge.storage.thinning import OutboxThinner
from edge.test_hooks import install_wedge_hook
from edge.vision.clips import ClipRecorder
from edge.vision.detectors.base import DetectorError
from edge.vision.detectors.batching import with_batching
from edge.vision.detectors.registry import load_detector
from edge.vision.detectors.tiling import with_tiling
from edge.vision.door_snapshots import DoorSnapshots
from edge.vision.events import TrackEvent
from edge.vision.frame_ring import FrameRing, FrameSink
from edge.vision.live import LiveFeed
from edge.vision.model_files import ModelNotFoundError
from edge.vision.pipeline import CameraPipeline, DetectionEvent
from edge.vision.plates import PlateRead, PlateReader
from edge.vision.retention import RetentionSweeper
from edge.web.auth import CONSOLE_AUTH, ConsoleAuth
from edge.web.live import LIVE_FEEDS
from edge.web.server import build_console
from firmware_adapters.base import AdapterError, MqttEndpoint
from firmware_adapters.zigbee2mqtt.config import Zigbee2MqttConfig
from observability.heap import freeze_startup_heap, trim_native_heap_every, tune_native_heap
from observability.version import software_version
from sync.agent import SyncAgent
from sync.media import MediaKind, media_name
from sync.puller import ConfigPuller
from sync.signing import SecretSource

log = logging.getLogger(__name__)
STAGE_TIMEOUT_S = 10.0
HEAP_TRIM_INTERVAL_S = 30.0


async def _native_heap(_app: web.Application) -> AsyncIterator[None]:
    """glibc's heap settings before the components start their threads; free pages handed back periodically."""
    tune_native_heap()
    trimmer = asyncio.create_task(trim_native_heap_every(HEAP_TRIM_INTERVAL_S), name="heap-trim")
    yield
    trimmer.cancel()
    await asyncio.gather(trimmer, return_exceptions=True)


async def _clock(app: web.Application) -> AsyncIterator[None]:
    """Watch the wall clock for steps (edge.clock) before anything plans by it."""
    clock = app[keys.CLOCK]
    await clock.start()
    yield
    await clock.stop()


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    db = Database(config.storage.database_path)
    version = await db.migrate()
    log.info("edge database %s at schema version %d", db.path, version)
    app[keys.DATABASE] = db
    app[keys.JOURNAL] = Journal(db)
    app[keys.OUTBOX] = Outbox(db)
    app[keys.MEDIA] = MediaQueue(db)
    app[keys.CREDENTIALS] = CredentialStore(db)
    auth = ConsoleAuth(db, config.web.session_hours)
    app[CONSOLE_AUTH] = auth
    pw_file = config.web.initial_admin_password_file
    if pw_file is not None and await auth.user_count() == 0:
        await auth.create_user("admin", pw_file.read_text().strip())
        log.info("created console user 'admin' from %s", pw_file)
    if await auth.user_count() == 0:
        log.warning(
            "no console user exists, so nobody can log in to the console: create one with "
            "`outpost-edge --config <this config> add-user NAME`, or set web.initial_admin_password_file"
        )
    yield
    await _stage("checkpoint database", db.checkpoint())
    await db.close()


async def _sync(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    # Offline sites too: their outbox grows until a cloud is configured, so the budget always holds.
    thinner = OutboxThinner(
        app[keys.DATABASE], config.storage.outbox_budget_bytes, config.storage.outbox_check_interval_s
    )
    app[keys.THINNER] = thinner
    await thinner.start()
    agent: SyncAgent | None = None
    secret = sync_secret(config)
    if config.cloud.url and secret:
        agent = SyncAgent(
            app[keys.OUTBOX],
            cloud_url=config.cloud.url,
            site_id=config.site.id,
            secret=secret,
            batch_size=config.cloud.batch_size,
            catch_up_batch_size=config.cloud.catch_up_batch_size,
            interval_s=config.cloud.sync_interval_s,
            max_backoff_s=config.cloud.max_backoff_s,
            media=app[keys.MEDIA],
            claim=config.cloud.enrollment_claim,
        )
        app[keys.JOURNAL].subscribe(lambda _entry: agent.notify())
        await agent.start()
        log.info("syncing to %s as site %s", config.cloud.url, config.site.id)
    else:
        log.info("no cloud configured: running offline")
    app[keys.SYNC] = agent
    # Billing meters what the site has; reported even offline (it waits in the outbox like any record).
    inventory = InventoryReporter(app[keys.JOURNAL], inventory_of(config))
    await inventory.start()
    yield
    await inventory.stop()
    if agent is not None:
        await agent.stop(flush_timeout_s=STAGE_TIMEOUT_S)
    await thinner.stop()


def sync_secret(config: EdgeConfig) -> SecretSource | None:
    """The site secret: from the config, or its file re-read when it changes (rotation without a restart)."""
    secret = config.cloud.read_secret()
    if secret and config.cloud.secret is None and config.cloud.secret_file is not None:
        return SecretFile(config.cloud.secret_file, secret)
    return secret


def build_directory(config: EdgeConfig) -> BrokerDirectory:
    """Create broker accounts: devices that connect themselves (own topics only) and configured extras."""
    directory = BrokerDirectory()
    for user in config_accounts(config):
        directory.add(user)
    if config.homeassistant.enabled:
        directory.add(home_assistant_user(config))
    return directory


def site_broker(config: EdgeConfig, directory: BrokerDirectory) -> SiteBroker:
    """The configured MQTT broker: embedded amqtt, or an external Mosquitto fed from `directory` (docs/MQTT.md)."""
    mqtt = config.mqtt
    if mqtt.mode == "embedded":
        session_db = config.storage.data_dir / "broker-sessions.db" if mqtt.persist_sessions else None
        return EmbeddedBroker(directory, host=mqtt.host, port=mqtt.port, session_db=session_db)
    # Accounts the edge creates itself (the adapters') must be checkable by Mosquitto too.
    directory.password_scheme = "mosquitto"
    files_dir = config.storage.data_dir / "mosquitto"
    if mqtt.external_manage:
        return ManagedMosquitto(
            directory,
            host=mqtt.host,
            port=mqtt.port,
            state_dir=files_dir,
            binary=mqtt.external_binary,
            persistence=mqtt.persist_sessions,
        )
    return SystemMosquitto(
        directory,
        host=mqtt.external_host,
        port=mqtt.external_port,
        files_dir=mqtt.external_files_dir or files_dir,
        reload_command=mqtt.external_reload_command,
    )


async def _broker(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    db = app[keys.DATABASE]
    directory = build_directory(config)
    async with db.engine.connect() as conn:
        for row in (await conn.execute(select(mqtt_client_bindings))).all():
            directory.bindings[row.client_id] = row.username

    async def persist_binding(client_id: str, username: str) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(insert(mqtt_client_bindings).values(client_id=client_id, username=username))

    directory.persist_binding = persist_binding
    broker = site_broker(config, directory)
    await broker.start()
    app[keys.BROKER] = broker
    state = SiteState(config, app[keys.JOURNAL])
    app[keys.SITE_STATE] = state
    local_host = broker.client_host
    # Adapter accounts are added to the live directory before any adapter connects.
    in_process = broker.local if config.mqtt.core_in_process else None
    gateway = await DeviceGateway.create(config.devices, directory, local_host, broker.port, local=in_process)
    pins = PinHasher.from_file(config.access.pin_key_file or config.storage.data_dir / "access-pin.key")
    # The last document applied from the cloud stays in force across restarts (and a week offline).
    effective = await load_effective_config(db, config)
    clock = app[keys.CLOCK]
    access, people = build_access(
        effective, db, app[keys.CREDENTIALS], app[keys.JOURNAL], gateway, state, pins, clock=clock.now
    )
    unsubscribe_modes = clock.subscribe(access.modes.clock_stepped)
    app[keys.GATEWAY] = gateway
    app[keys.ACCESS] = access
    app[keys.PEOPLE] = people
    await access.load()  # lockdowns and anti-passback presence, before the first badge arrives
    muster = MusterRoll(app[keys.JOURNAL], effective.doors)
    await muster.load()
    app[keys.MUSTER] = muster
    handled = HandledEvents()  # a device's re-send of an event stored before a restart is only confirmed again
    handled.load(await recent_device_event_ids(db, REMEMBERED_EVENTS))
    await gateway.start(DeviceRouter(state, access, gateway, handled))
    await access.start()  # door modes (scheduled unlocks, lockdown) need the adapters to send commands
    yield
    await _stage("stop device intake", gateway.stop())
    unsubscribe_modes()
    await _stage("stop door modes and lock commands", access.stop())
    muster.stop()
    await _stage("stop broker", broker.stop())


def _device_topic_roots(config: EdgeConfig) -> frozenset[str]:
    """First topic levels of this site's devices beyond the fixed ones (sync.mqtt_topics): bridges, HA discovery."""
    bridges = {d.adapter.base_topic for d in config.devices if isinstance(d.adapter, Zigbee2MqttConfig)}
    discovery = {config.homeassistant.discovery_prefix} if config.homeassistant.enabled else set()
    return frozenset(bridges | discovery)


async def _rules(app: web.Application) -> AsyncIterator[None]:
    """Site rules (edge.rules): on every journaled event, after access control is up (actions operate doors)."""
    config = app[keys.CONFIG]
    access = app[keys.ACCESS]
    ports = ActionPorts(
        journal=app[keys.JOURNAL],
        access=access,
        alarms=access.supervisor.alarms,
        gateway=app[keys.GATEWAY],
        media=app[keys.MEDIA],
        snapshot_dir=config.storage.snapshot_dir,
        device_topic_roots=_device_topic_roots(config),
    )
    broker = app[keys.BROKER]
    mqtt = RulesMqtt(broker, use_local=config.mqtt.core_in_process and broker.local is not None)
    # The box's config with the cloud's policy overlaid (holiday calendars the rules' time windows name).
    effective = await load_effective_config(app[keys.DATABASE], config)
    clock = app[keys.CLOCK]
    service = RulesService(effective, app[keys.DATABASE], app[keys.JOURNAL], ports, mqtt=mqtt, clock=clock.now)
    await service.start()
    unsubscribe_timers = clock.subscribe(service.timers.clock_stepped)
    unsubscribe_notifier = clock.subscribe(service.notifier.clock_stepped)
    app[keys.RULES] = service

    async def use_policy(effective: EdgeConfig) -> None:
        await access.use_config(effective)
        await service.use_config(effective)  # holidays, and the cloud's rules if a document has them

    # Door settings, schedules and holidays edited in the console, applied like a cloud document's policy.
    app[keys.POLICY] = PolicyEditor(config, app[keys.DATABASE], app[keys.JOURNAL], on_policy=use_policy)
    yield
    unsubscribe_timers()
    unsubscribe_notifier()
    await _stage("stop rules", service.stop())


async def _config_pull(app: web.Application) -> AsyncIterator[None]:
    """Pull the cloud-managed site configuration (enrolled boxes only) and apply it through the access service."""
    config = app[keys.CONFIG]
    puller: ConfigPuller | None = None
    secret = sync_secret(config)
    if config.cloud.url and secret:
        editor = app[keys.POLICY]
        applier = SiteConfigApplier(
            config,
            app[keys.DATABASE],
            app[keys.PEOPLE],
            app[keys.JOURNAL],
            on_policy=editor.apply_effective,
            lock=editor.lock,
            alarms=app[keys.ACCESS].supervisor.alarms,
        )
        puller = ConfigPuller(
            applier,
            cloud_url=config.cloud.url,
            site_id=config.site.id,
            secret=secret,
            wait_s=config.cloud.config_wait_s,
            max_backoff_s=config.cloud.max_backoff_s,
        )
        await puller.start()
    app[keys.CONFIG_PULLER] = puller
    yield
    if puller is not None:
        await _stage("stop config puller", puller.stop())


async def _vision(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    pipelines: dict[str, CameraPipeline] = {}
    app[keys.CAMERAS] = pipelines
    app[keys.CAMERA_FAULTS] = {}
    feeds: dict[str, LiveFeed] = {}
    app[LIVE_FEEDS] = feeds
    cameras = [c for c in config.cameras if c.enabled]
    if not cameras:
        yield
        return
    loop = asyncio.get_running_loop()
    try:
        detector = await loop.run_in_executor(None, load_detector, config.vision.detector)
    except (ModelNotFoundError, DetectorError) as err:
        # Detection is an add-on: the doors, broker and console keep running; each camera gets an alarm.
        await _detection_unavailable(app, [c.id for c in cameras], str(err))
        yield
        return
    # Cameras share one detector; with a dynamic-batch model their concurrent frames share inferences.
    # Tiling wraps batching: each tile is one frame to the (possibly batching) detector.
    detector = with_tiling(with_batching(detector, config.vision.detector, len(cameras)), config.vision.detector)
    # Capture has a thread per camera (in the pipeline); this pool runs inference, snapshots, clips, OCR.
    executor = ThreadPoolExecutor(max_workers=min(len(cameras), os.cpu_count() or 2) + 1, thread_name_prefix="vision")
    journal = app[keys.JOURNAL]
    plates = PlateReader(config.vision.plates) if any(c.read_plates for c in cameras) else None
    if plates is not None:
        await loop.run_in_executor(executor, plates.load)

    registrations: set[asyncio.Task[None]] = set()
    gates = VehicleGates(app[keys.ACCESS], config.doors, config.access.plate_gate)

    async def on_plate(camera_id: str, read: PlateRead, at: datetime) -> None:
        await gates.on_read(camera_id, read.text, read.confidence, at)

    def notify_sync() -> None:
        if (agent := app[keys.SYNC]) is not None:
            agent.notify()

    async def upload(path: Path, kind: MediaKind) -> None:
        # After the record naming the file is journaled: the media queue sends it after that record.
        # Snapshots and clips live in <dir>/<camera id>/<file>; events name the camera and the file.
        if await app[keys.MEDIA].register(path, kind, media_name(path.name, path.parent.name)) is not None:
            notify_sync()

    def upload_soon(path: Path, kind: MediaKind) -> None:
        task = asyncio.create_task(upload(path, kind), name=f"media-{path.name}")
        registrations.add(task)
        task.add_done_callback(registrations.discard)

    async def on_detection(event: DetectionEvent) -> None:
        await journal.record(
            "detection",
            {
                "kind": "count",
                "camera_id": event.camera_id,
                "zone": event.zone,
                "category": event.category,
                "count": event.count,
                "detections": [d.model_dump(mode="json") for d in event.detections],
                "snapshot": event.snapshot_path.name if event.snapshot_path else None,
            },
            source=event.camera_id,
            summary=f"{event.count} {event.category}{'s' if event.count != 1 else ''} on {event.camera_id}",
            occurred_at=event.occurred_at,
        )
        if event.snapshot_path is not None:
            upload_soon(event.snapshot_path, "snapshot")  # hashing the file must not hold up the camera

    async def on_track_event(event: TrackEvent) -> None:
        await journal.record(
            "detection", event.payload(), source=event.camera_id, summary=event.summary(), occurred_at=event.occurred_at
        )
        if event.snapshot_path is not None:
            upload_soon(event.snapshot_path, "snapshot")  # hashing the file must not hold up the camera
        # A clip is registered once its file is complete (ClipRecorder's on_saved).

    door_cameras = {door.camera for door in config.doors if door.camera is not None}
    rings: dict[str, FrameRing] = {}
    door_clips: dict[str, ClipRecorder] = {}
    for cam in cameras:
        clips = (
            ClipRecorder(
                cam.id,
                config.storage.clip_dir,
                config.vision.clips,
                executor,
                on_saved=lambda path: upload_soon(path, "clip"),
            )
            if cam.record_clips
            else None
        )
        sinks: list[FrameSink] = []
        if cam.id in door_cameras:
            # Door decisions link the frame of their moment; door alarms get a clip around it.
            rings[cam.id] = FrameRing(cam.id, config.vision.door_frames)
            door_clips[cam.id] = clips or ClipRecorder(
                cam.id,
                config.storage.clip_dir,
                config.vision.clips,
                executor,
                on_saved=lambda path: upload_soon(path, "clip"),
            )
            sinks.append(rings[cam.id])
            if clips is None:
                sinks.append(door_clips[cam.id])
        feeds[cam.id] = LiveFeed(cam.id, executor)
        pipeline = CameraPipeline(
            cam,
            detector,
            config.storage.snapshot_dir,
            on_detection,
            executor=executor,
            on_track_event=on_track_event,
            clips=clips,
            on_frame=feeds[cam.id].on_frame,
            plates=plates if cam.read_plates else None,
            frame_sinks=sinks,
            on_plate=on_plate if cam.id in gates.cameras and cam.read_plates else None,
        )
        await pipeline.start()
        pipelines[cam.id] = pipeline
    sweeper = RetentionSweeper(
        [config.storage.snapshot_dir, config.storage.clip_dir], config.vision.retention, executor=executor
    )
    await sweeper.start()
    door_snapshots = DoorSnapshots(
        journal,
        app[keys.MEDIA],
        config.storage.snapshot_dir,
        {door.id: door.camera for door in config.doors if door.camera in pipelines},
        on_queued=notify_sync,
        rings=rings,
        clips=door_clips,
    )
    door_snapshots.start()
    access = app[keys.ACCESS]
    door_watch = DoorWatch(
        journal,
        access.supervisor.alarms,
        [door for door in config.doors if door.camera in pipelines],
        held_unlocked=access.modes.held_unlocked,
    )
    door_watch.start()
    yield
    await _stage("stop door watch", door_watch.stop())
    await _stage("stop door snapshots", door_snapshots.stop())
    await _stage("stop retention", sweeper.stop())
    await _stage("stop cameras", asyncio.gather(*(p.stop() for p in pipelines.values())))
    for task in list(registrations):  # a clip saved during shutdown stays on disk but is not queued for upload
        task.cancel()
    await asyncio.gather(*registrations, return_exceptions=True)
    await _stage("close live views", _close_live_feeds(app))
    executor.shutdown(wait=False, cancel_futures=True)


async def _home_assistant(app: web.Application) -> AsyncIterator[None]:
    """Publish the box to Home Assistant (homeassistant.enabled) under the box's own broker account."""
    config = app[keys.CONFIG]
    app[keys.HOME_ASSISTANT] = None
    if not config.homeassistant.enabled:
        yield
        return
    broker = app[keys.BROKER]
    directory = broker.directory
    topics = HaTopics.of(config)
    password = secrets.token_urlsafe(24)
    password_hash = await asyncio.to_thread(directory.hash_password, password)
    directory.add(BrokerUser(BRIDGE_USERNAME, password_hash, *bridge_acl(topics)))
    local = broker.local if config.mqtt.core_in_process else None
    endpoint = MqttEndpoint(
        broker.client_host, broker.port, BRIDGE_USERNAME, password, local=local, will=(topics.status, b"offline")
    )
    bridge = HomeAssistantBridge(
        config,
        state=app[keys.SITE_STATE],
        access=app[keys.ACCESS],
        journal=app[keys.JOURNAL],
        store=DiscoveryStore(app[keys.DATABASE]),
        cameras=app[keys.CAMERAS],
        software_version=software_version(),
    )
    try:
        await bridge.start(endpoint)
    except AdapterError as err:
        # Home Assistant is an add-on: the doors and the console run on without it.
        log.error("Home Assistant discovery did not start: %s", err)
        yield
        return
    app[keys.HOME_ASSISTANT] = bridge
    yield
    await _stage("stop Home Assistant", bridge.stop())


async def _detection_unavailable(app: web.Application, camera_ids: list[str], reason: str) -> None:
    """Run the cameras' site without detection: log, list the reason per camera, raise an alarm for each."""
    log.error("camera detection disabled for %s: %s", ", ".join(camera_ids), reason)
    alarms = app[keys.ACCESS].supervisor.alarms
    now = datetime.now(UTC)
    for camera_id in camera_ids:
        app[keys.CAMERA_FAULTS][camera_id] = reason
        await alarms.raised(camera_id, "detector_unavailable", reason, now)


async def _close_live_feeds(app: web.Application) -> None:
    """End live MJPEG streams (on shutdown, before aiohttp waits for open requests)."""
    await asyncio.gather(*(feed.close() for feed in app.get(LIVE_FEEDS, {}).values()))


async def _stage(name: str, awaitable: object) -> None:
    """Run one shutdown stage with a timeout, logging if it overruns."""
    try:
        await asyncio.wait_for(awaitable, STAGE_TIMEOUT_S)  # type: ignore[arg-type]
    except TimeoutError:
        log.error("shutdown stage %r did not finish within %.0fs", name, STAGE_TIMEOUT_S)


def build_app(config: EdgeConfig, config_path: Path | None = None, clock: WallClock | None = None) -> web.Application:
    """Build the edge application; components start when the app starts.

    `config_path` is the file `config` came from: the console saves its edits of the config there. `clock` is
    the wall clock the access service and the rules plan by (default: the system's; tests step their own).
    """
    app = web.Application(client_max_size=1024 * 1024)
    app[keys.CONFIG] = config
    app[keys.CONFIG_PATH] = config_path
    app[keys.CLOCK] = clock or WallClock()
    app.cleanup_ctx.extend(
        [_native_heap, _clock, _database, _sync, _broker, _rules, _config_pull, _vision, _home_assistant]
    )
    build_console(app)
    metrics.install(app)  # /metrics, /readyz; its stage runs last, once every component exists
    app.on_shutdown.append(_close_live_feeds)
    return app


class EdgeRunner:
    """Runs the edge app on its web port; usable from the CLI, the demo and tests."""

    def __init__(self, config: EdgeConfig, config_path: Path | None = None, *, clock: WallClock | None = None) -> None:
        self.config = config
        self.app = build_app(config, config_path, clock)
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        self.web_port: int | None = None

    @property
    def mqtt_port(self) -> int:
        """The broker's TCP port (known once started)."""
        return self.app[keys.BROKER].port

    async def start(self) -> None:
        """Start every component and the web listener."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.web.host, self.config.web.port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound socket only here
        sockets = getattr(server, "sockets", None) or []
        self.web_port = sockets[0].getsockname()[1] if sockets else self.config.web.port
        log.info("console on http://%s:%s/", self.config.web.host, self.web_port)

    async def web_answers(self) -> bool:
        """Whether the console's port accepts a TCP connection."""
        host = self.config.web.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1" if host != "::" else "::1"
        try:
            _reader, writer = await asyncio.open_connection(host, self.web_port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def stop(self) -> None:
        """Staged shutdown (see module docstring)."""
        await self._runner.cleanup()


async def run_edge(config: EdgeConfig, config_path: Path | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down in stages (`config_path`: the file `config` came from)."""
    runner = EdgeRunner(config, config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.start()
    freeze_startup_heap()
    print(
        f"outpost-edge: console http://{config.web.host}:{runner.web_port}/  mqtt port {runner.mqtt_port}",
        flush=True,
    )
    notifier = SystemdNotifier.from_environ()
    watchdog: Watchdog | None = None
    if notifier is not None:
        watchdog = await _notify_ready(runner, notifier)
    install_wedge_hook(loop, notifier)
    await stop.wait()
    log.info("stopping")
    if notifier is not None:
        notifier.send("STOPPING=1")
    if watchdog is not None:
        await watchdog.stop()
    await runner.stop()


async def _notify_ready(runner: EdgeRunner, notifier: SystemdNotifier) -> Watchdog | None:
    """Tell systemd the edge is up once broker, database and web answer; start feeding its watchdog if it asks."""

    async def health() -> dict[str, bool]:
        return {"web": await runner.web_answers(), **await metrics.component_checks(runner.app)}

    checks = await health()
    while not all(checks.values()):  # each component started before this, so this is a short wait at most
        log.warning("waiting before READY: %s not answering", ", ".join(k for k, ok in checks.items() if not ok))
        await asyncio.sleep(0.5)
        checks = await health()
    notifier.send("READY=1", f"STATUS=running: console port {runner.web_port}, mqtt port {runner.mqtt_port}")
    interval = watchdog_interval_s()
    if interval is None:
        return None
    watchdog = Watchdog(notifier, interval, health)
    watchdog.start()
    log.info("feeding the systemd watchdog every %.1fs while broker, database and web are healthy", interval)
    return watchdog
