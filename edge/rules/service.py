"""The rules component of the edge: stored rules -> engine on the journal, durable timers, actions, notifications.

Built and started by the composition root (`edge.app`) after access control (actions command doors through it)
and before the console. It listens to the journal, so it sees every event the box records, whoever records it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.broker.directory import BrokerUser
from edge.broker.server import SiteBroker
from edge.config import EdgeConfig
from edge.rules.actions import ActionPorts, ActionRunner
from edge.rules.dryrun import DryRunResult, dry_run, latest_entries
from edge.rules.engine import RulesEngine
from edge.rules.events import EventReader
from edge.rules.notify import Notifier
from edge.rules.references import reference_errors
from edge.rules.state import SiteView
from edge.rules.store import RuleSource, RuleStore, RunHistory, StoredRule, TimerRows
from edge.rules.timers import DurableTimers
from edge.storage.database import Database
from edge.storage.journal import Journal, JournalEntry
from firmware_adapters.base import AdapterError, MqttEndpoint
from firmware_adapters.broker_link import BrokerLink
from firmware_adapters.mqtt_link import open_link
from sync.rules import Rule

log = logging.getLogger(__name__)
MQTT_ACCOUNT = "outpost-rules"
WARM_HOURS = 24
WARM_EVENTS = 20_000


class RuleRejected(ValueError):
    """A rule names what the site does not have; `errors` maps field paths to reasons."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class RulesMqtt:
    """The rules' own broker account (publish anywhere, subscribe nowhere), in-process when the broker is."""

    def __init__(self, broker: SiteBroker, use_local: bool) -> None:
        self._broker = broker
        self._use_local = use_local
        self._link: BrokerLink | None = None

    async def start(self) -> None:
        """Create the account and connect (a failure is logged; publishes then fail with the reason)."""
        password = secrets.token_urlsafe(24)
        directory = self._broker.directory
        hashed = await asyncio.to_thread(directory.hash_password, password)
        directory.add(BrokerUser(MQTT_ACCOUNT, hashed, publish=("#",), subscribe=()))
        local = self._broker.local if self._use_local else None
        endpoint = MqttEndpoint(self._broker.client_host, self._broker.port, MQTT_ACCOUNT, password, local=local)

        async def ignore(_topic: str, _payload: bytes) -> None:
            return None

        link = open_link(endpoint, [], ignore, name="rules")
        try:
            await link.start()
        except AdapterError as err:
            log.error("rules: MQTT actions unavailable: %s", err)
            return
        self._link = link

    async def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish (QoS 1); ConnectionError when not connected or refused."""
        if self._link is None:
            raise ConnectionError("not connected to the site broker")
        try:
            await self._link.publish(topic, payload, qos=1, retain=retain)
        except AdapterError as err:
            raise ConnectionError(str(err)) from err

    async def stop(self) -> None:
        """Disconnect."""
        if self._link is not None:
            await self._link.stop()
            self._link = None


class RulesService:
    """Owns the engine, its timers, the notification queue and the rule documents."""

    def __init__(
        self,
        config: EdgeConfig,
        db: Database,
        journal: Journal,
        ports: ActionPorts,
        *,
        mqtt: RulesMqtt | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._db = db
        self._journal = journal
        self._mqtt = mqtt
        self.store = RuleStore(db)
        self.history = RunHistory(db, config.rules.history_per_rule)
        self.tz = ZoneInfo(config.site.timezone)
        self.timers = DurableTimers(TimerRows(db), self.tz, clock)
        self.notifier = Notifier(db, config.rules, publish=mqtt.publish if mqtt else None, clock=clock)
        ports.notifier = self.notifier
        if mqtt is not None:
            ports.publish = mqtt.publish
        ports.door_ids = frozenset(d.id for d in config.doors)
        self.actions = ActionRunner(ports)
        self.reader = EventReader(config)
        self.door_zones = {d.id: d.zone for d in config.doors}
        self.engine = RulesEngine(
            self.reader,
            SiteView(self.door_zones),
            tz=self.tz,
            calendars=dict(config.holidays),
            runs=self.history,
            timers=self.timers,
            execute=self.actions,
            clock=clock,
        )
        self.load_errors: dict[str, str] = {}
        self._clock = clock
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Load rules and timers, resume what was waiting (catch-up policy), start listening and sending."""
        if self._mqtt is not None:
            await self._mqtt.start()
        await self.timers.load()
        await self.reload()
        # The last day's events rebuild what conditions look at (doors, lockdowns, readings, counts), so a run
        # that waited across a restart checks its conditions against the site as it was left.
        # Events committed while that runs are held and evaluated right after it, so none falls in between.
        held: list[JournalEntry] = []
        stop_holding = self._journal.subscribe(held.append)
        try:
            entries = await latest_entries(self._db, self._clock() - timedelta(hours=WARM_HOURS), WARM_EVENTS)
            await asyncio.to_thread(self.engine.warm, [self.reader.read(e) for e in entries])
        finally:
            stop_holding()
        self._unsubscribe = self._journal.subscribe(self.engine.on_entry)
        warmed_up_to = entries[-1].id if entries else 0
        for entry in held:
            if entry.id > warmed_up_to:
                self.engine.on_entry(entry)
        self.timers.start(self.engine.timer_due)
        await self.notifier.start()
        log.info("rules: %d loaded", len(self.engine.rules))

    async def stop(self) -> None:
        """Stop listening, let running actions finish (bounded), stop timers and sending."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.engine.stop()
        await self.timers.stop()
        await self.notifier.stop()
        if self._mqtt is not None:
            await self._mqtt.stop()

    async def use_config(self, config: EdgeConfig) -> None:
        """Use a new effective configuration (a cloud document applied: holidays, maybe rules), and reload."""
        self.config = config
        self.engine.calendars = dict(config.holidays)
        await self.reload()

    async def reload(self) -> None:
        """Run the stored rules from now on."""
        stored = await self.store.all()
        rules = [s.rule for s in stored]
        errors = {
            r.id: "; ".join(f"{k}: {v}" for k, v in e.items()) for r in rules if (e := reference_errors(r, self.config))
        }
        self.load_errors = {**errors, **self.engine.load([r for r in rules if r.id not in errors])}

    def check(self, rule: Rule) -> None:
        """Raise RuleRejected if `rule` names doors, zones, devices, cameras, channels or calendars the site lacks."""
        errors = reference_errors(rule, self.config)
        if errors:
            raise RuleRejected(errors)

    async def save(self, rule: Rule, by: str, source: RuleSource = "local") -> None:
        """Check, store and run a rule (replacing one with its id)."""
        self.check(rule)
        await self.store.save(rule, source, by)
        await self.reload()

    async def delete(self, rule_id: str) -> bool:
        """Remove a rule; True if it existed."""
        removed = await self.store.delete(rule_id)
        if removed:
            await self.reload()
        return removed

    async def rules(self) -> list[StoredRule]:
        """Every stored rule."""
        return await self.store.all()

    async def dry_run(self, rules: list[Rule], hours: float = 24) -> DryRunResult:
        """What `rules` would have done over the journal's last `hours`."""
        return await dry_run(
            self._db,
            rules,
            self.reader,
            door_zones=self.door_zones,
            tz=self.tz,
            calendars=dict(self.config.holidays),
            hours=hours,
        )
