"""Rules engine throughput and trigger-to-action latency: 500 rules over a stream of mixed site events.

    python -m bench.rules [--quick|--smoke] [--events N] [--rules R]

Real parts: the edge's SQLite database and journal (group commit, FULL sync), the rules service with its durable
timers (APScheduler), run history and action runner. Events are journaled as the site records them (detections,
door contacts, badge decisions, telemetry from 200 sensors), at most `IN_FLIGHT` waiting for their commit at once.
Rules mix event triggers with filters, count and quiet conditions, time windows, sensor thresholds with
hysteresis and absence triggers, each with the default rate limit (10 runs a minute); the actions are MQTT
publishes into a recording sink (the broker is measured by bench.broker_throughput).

Throughput is measured flat out; trigger-to-action in a second pass at a steady `PACED_RATE` (1,000 events/s, a
busy site), since at saturation it measures the queue in front of the loop (reported as `saturated_*`).
Trigger-to-action ends when the rule's run is done (its actions carried out, its history line queued). `p99_ms`
counts from the event's commit (the moment the journal hands it to its listeners, the engine among them);
`submit_to_action_p99_ms` from `journal.submit`, so it also holds the group-commit queue (up to `IN_FLIGHT`
events waiting for one fsync).

The baseline journals the same events with no rules listening. Last line: JSON with `events_per_s`, `p99_ms`,
`baseline_events_per_s` (and `p50_ms`, `submit_to_action_p99_ms`, `saturated_*`, `runs`, `runs_per_event`,
`rate_limited`, `rules`, `events`, `ratio`, `baseline_commit_p99_ms`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import emit, machine, percentile, progress
from edge.config import EdgeConfig
from edge.rules.actions import ActionPorts
from edge.rules.engine import Firing
from edge.rules.service import RulesService
from edge.storage.database import Database
from edge.storage.journal import Journal, JournalEntry
from observability.heap import freeze_startup_heap
from sync.rules import Rule

IN_FLIGHT = 256
PACED_RATE = 1000  # events/s of the latency phase: a busy site's steady stream, below saturation
ZONES = [f"zone-{i}" for i in range(20)]
DOORS = [f"door-{i}" for i in range(16)]
SENSORS = [f"sensor-{i}" for i in range(200)]
REGIONS = [f"area-{i}" for i in range(5)]  # image zones and lines of each zone's camera
SEED = 15


def site(data_dir: Path) -> EdgeConfig:
    """A busy site: 20 zones, 16 doors with their locks, readers and contacts, 200 sensors."""
    devices: list[dict[str, Any]] = []
    doors: list[dict[str, Any]] = []
    for i, door in enumerate(DOORS):
        zone = ZONES[i % len(ZONES)]
        devices += [
            {"id": f"lock-{i}", "kind": "lock", "zone": zone},
            {"id": f"reader-{i}", "kind": "reader", "zone": zone},
            {"id": f"contact-{i}", "kind": "contact", "zone": zone},
        ]
        doors.append(
            {
                "id": door,
                "name": door,
                "zone": zone,
                "lock": f"lock-{i}",
                "readers": [f"reader-{i}"],
                "contact": f"contact-{i}",
            }
        )
    devices += [{"id": s, "kind": "sensor", "zone": ZONES[i % len(ZONES)]} for i, s in enumerate(SENSORS)]
    return EdgeConfig.model_validate(
        {
            "site": {"id": "bench", "name": "Bench", "timezone": "Europe/Berlin"},
            "storage": {"data_dir": str(data_dir)},
            "zones": [{"id": z, "name": z} for z in ZONES],
            "devices": devices,
            "doors": doors,
        }
    )


def rules(count: int, rng: random.Random) -> list[Rule]:
    """`count` rules of the kinds sites write, spread over the zones, doors and sensors."""
    always = {"type": "time_window", "start": "00:00", "end": "00:00"}  # 24 h: evaluated, always open
    mqtt = {"type": "mqtt", "topic": "bench/{rule_id}", "payload": {"what": "{summary}"}}
    made: list[Rule] = []
    for i in range(count):
        kind = i % 10
        zone, door, sensor = rng.choice(ZONES), rng.choice(DOORS), rng.choice(SENSORS)
        trigger: dict[str, Any]
        conditions: list[Any] = [always]
        if kind < 4:  # a person entering one image zone of a site zone (the yard recipe)
            flt = {"kind": "detection", "type": "zone_entered", "zone": zone, "region": rng.choice(REGIONS)}
            trigger = {"type": "event", "filter": {**flt, "category": "person"}}
        elif kind < 6:  # a door opening
            trigger = {"type": "event", "filter": {"type": "door_contact", "door": door, "match": {"open": True}}}
            conditions.append({"type": "quiet", "filter": {"type": "access_decision", "door": door}, "minutes": 1})
        elif kind == 6:  # repeated denied badges at a door
            denied = {"type": "access_decision", "door": door, "match": {"granted": False}}
            trigger = {"type": "event", "filter": denied}
            conditions.append({"type": "count", "filter": denied, "at_least": 3, "within_s": 60})
        elif kind == 7:  # a sensor threshold
            trigger = {"type": "threshold", "sensor": sensor, "metric": "temperature_c", "above": 24, "hysteresis": 1}
        elif kind == 8:  # any reading while another sensor is high
            trigger = {"type": "event", "filter": {"kind": "telemetry", "sensor": sensor}}
            conditions.append({"type": "sensor", "sensor": rng.choice(SENSORS), "metric": "humidity_pct", "above": 60})
        else:  # nobody at a door for an hour
            trigger = {"type": "absence", "filter": {"type": "access_decision", "door": door}, "minutes": 60}
        made.append(
            Rule.model_validate(
                {
                    "id": f"rule-{i}",
                    "name": f"Rule {i}",
                    "trigger": trigger,
                    "conditions": conditions,
                    "actions": [mqtt],
                }
            )
        )
    return made


def events(count: int, rng: random.Random) -> list[tuple[str, dict[str, Any], str]]:
    """A mixed stream: 35% detections, 15% door contacts, 15% badge decisions, 35% telemetry."""
    made: list[tuple[str, dict[str, Any], str]] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.35:
            zone = rng.choice(ZONES)
            payload = {
                "kind": rng.choice(["zone_entered", "track_started", "zone_left"]),
                "camera_id": f"cam-{zone}",
                "zone": zone,
                "category": rng.choice(["person", "person", "vehicle"]),
                "region": rng.choice(REGIONS),
                "n": n,
            }
            made.append(("detection", payload, "detection"))
        elif roll < 0.50:
            payload = {"type": "door_contact", "door_id": rng.choice(DOORS), "open": rng.random() < 0.5, "n": n}
            made.append(("event", payload, "contact"))
        elif roll < 0.65:
            payload = {"type": "access_decision", "door_id": rng.choice(DOORS), "granted": rng.random() < 0.7, "n": n}
            made.append(("audit", payload, "badge"))
        else:
            values = {"temperature_c": round(rng.uniform(18, 28), 1), "humidity_pct": round(rng.uniform(40, 70), 1)}
            made.append(("telemetry", {"device_id": rng.choice(SENSORS), "values": values, "n": n}, "reading"))
    return made


async def stream(
    journal: Journal, stream_events: list[tuple[str, dict[str, Any], str]], rate: float | None = None
) -> tuple[float, dict[int, float], list[float]]:
    """Journal every event (at most IN_FLIGHT uncommitted; at `rate` a second if given, else as fast as it goes);
    return elapsed s, journal id -> submit time, commit ms."""
    submitted: dict[int, float] = {}
    commit_ms: list[float] = []
    window = asyncio.Semaphore(IN_FLIGHT)
    pending: set[asyncio.Future[JournalEntry]] = set()
    started = time.perf_counter()
    for n, (kind, payload, summary) in enumerate(stream_events):
        if rate is not None and (ahead := started + n / rate - time.perf_counter()) > 0.001:
            await asyncio.sleep(ahead)  # pacing a load generator, not synchronisation
        await window.acquire()
        t0 = time.perf_counter()
        future = journal.submit(kind, payload, source="bench", summary=summary)  # type: ignore[arg-type]

        def done(f: asyncio.Future[JournalEntry], t0: float = t0) -> None:
            window.release()
            entry = f.result()
            submitted[entry.id] = t0
            commit_ms.append((time.perf_counter() - t0) * 1000)

        future.add_done_callback(done)
        pending.add(future)
        future.add_done_callback(pending.discard)
    await asyncio.gather(*list(pending))
    return time.perf_counter() - started, submitted, commit_ms


async def run_once(n_events: int, n_rules: int, with_rules: bool, rate: float | None = None) -> dict[str, Any]:
    """One pass over a fresh database."""
    rng = random.Random(SEED)
    rule_set = rules(n_rules, rng)
    stream_events = events(n_events, rng)
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        config = site(Path(tmp))
        db = Database(config.storage.database_path)
        await db.migrate()
        journal = Journal(db)
        ran: list[tuple[int | None, float]] = []
        published = 0

        async def publish(_topic: str, _payload: bytes, _retain: bool) -> None:
            nonlocal published
            published += 1

        committed: dict[int, float] = {}

        def on_commit(entry: JournalEntry) -> None:
            committed[entry.id] = time.perf_counter()

        journal.subscribe(on_commit)  # before the engine's listener: the moment the event is on disk
        service: RulesService | None = None
        try:
            if with_rules:
                service = RulesService(config, db, journal, ActionPorts(journal=journal))
                service.actions.ports.publish = publish
                for rule in rule_set:
                    await service.store.save(rule, "local", "bench")
                await service.start()
                assert not service.load_errors, service.load_errors
                freeze_startup_heap()  # as outpost-edge does after start (edge.app)

                def on_ran(firing: Firing, outcome: str) -> None:
                    assert outcome == "ran", outcome
                    ran.append((firing.journal_id, time.perf_counter()))

                service.engine.on_ran = on_ran
            elapsed, submitted, commit_ms = await stream(journal, stream_events, rate)
            if service is not None:
                while service.engine._tasks:  # noqa: SLF001 - the runs still in flight count in the time
                    await asyncio.gather(*list(service.engine._tasks))  # noqa: SLF001
                first = min(submitted.values())
                elapsed_all = max([elapsed] + [t - first for _, t in ran])
            else:
                elapsed_all = elapsed
            latencies = [(t - committed[j]) * 1000 for j, t in ran if j in committed]
            from_submit = [(t - submitted[j]) * 1000 for j, t in ran if j in submitted]
            result = {
                "events": n_events,
                "elapsed_s": round(elapsed_all, 3),
                "events_per_s": round(n_events / elapsed_all, 1),
                "commit_p99_ms": round(percentile(commit_ms, 99), 2),
                "runs": len(ran),
                "published": published,
                "p50_ms": round(percentile(latencies, 50), 2) if latencies else None,
                "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
                "submit_p99_ms": round(percentile(from_submit, 99), 2) if from_submit else None,
            }
            if service is not None:
                result["engine_events"] = service.engine.events
                result["rate_limited"] = service.engine.suppressed
            return result
        finally:
            if service is not None:
                await service.stop()
            await db.close()


async def run(n_events: int, n_rules: int) -> dict[str, Any]:
    """Baseline, then rules, then baseline again (the machine is shared: the two baselines bracket the run)."""
    progress(f"baseline: journal {n_events} events")
    base_1 = await run_once(n_events, n_rules, with_rules=False)
    progress(f"baseline: {base_1['events_per_s']} events/s")
    progress(f"rules: {n_rules} rules over {n_events} events")
    with_rules = await run_once(n_events, n_rules, with_rules=True)
    progress(f"rules: {with_rules['events_per_s']} events/s, {with_rules['runs']} runs, p99 {with_rules['p99_ms']} ms")
    base_2 = await run_once(n_events, n_rules, with_rules=False)
    progress(f"baseline again: {base_2['events_per_s']} events/s")
    paced_events = max(1000, n_events // 5)
    progress(f"latency: {paced_events} events at {PACED_RATE} events/s through the rules")
    paced = await run_once(paced_events, n_rules, with_rules=True, rate=PACED_RATE)
    progress(f"latency at {PACED_RATE}/s: p50 {paced['p50_ms']} ms, p99 {paced['p99_ms']} ms, {paced['runs']} runs")
    baseline = max(base_1["events_per_s"], base_2["events_per_s"])
    return {
        "events_per_s": with_rules["events_per_s"],
        "p50_ms": paced["p50_ms"],
        "p99_ms": paced["p99_ms"],
        "submit_to_action_p99_ms": paced["submit_p99_ms"],
        "paced_events_per_s": PACED_RATE,
        "paced_runs": paced["runs"],
        "saturated_p50_ms": with_rules["p50_ms"],
        "saturated_p99_ms": with_rules["p99_ms"],
        "saturated_submit_to_action_p99_ms": with_rules["submit_p99_ms"],
        "baseline_events_per_s": baseline,
        "baseline_runs_events_per_s": [base_1["events_per_s"], base_2["events_per_s"]],
        "baseline_commit_p99_ms": max(base_1["commit_p99_ms"], base_2["commit_p99_ms"]),
        "ratio": round(with_rules["events_per_s"] / baseline, 3),
        "runs": with_rules["runs"],
        "runs_per_event": round(with_rules["runs"] / n_events, 3),
        "rate_limited": with_rules["rate_limited"],
        "rules": n_rules,
        "events": n_events,
        "targets": {"events_per_s": 5000, "p99_ms": 50},
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="20,000 events")
    size.add_argument("--smoke", action="store_true", help="1,000 events, 50 rules (correctness only)")
    size.add_argument("--events", type=int, default=100_000, help="events in the stream (default 100,000)")
    parser.add_argument("--rules", type=int, default=500, help="rules (default 500)")
    args = parser.parse_args()
    n_events = 1_000 if args.smoke else 20_000 if args.quick else args.events
    n_rules = 50 if args.smoke else args.rules
    emit(asyncio.run(run(n_events, n_rules)))


if __name__ == "__main__":
    main()
