"""Badge read published -> unlock command received, through a real edge app under sensor load.

Scenarios (each with the same reader/lock clients and the same steady telemetry load from other devices):

- ``outpost``: a real edge app (EdgeRunner: embedded broker, SQLite journal with FULL sync, access service)
  in its own process, its start-up heap frozen as `outpost-edge` does; the time includes the access decision.
  The lock is commanded while the audit record commits; the reader's receipt (also timed) waits for the commit.
- ``mosquitto-decider``: the baseline, and only that: a private Mosquitto plus a minimal Python "decider"
  client (own process, paho) that answers each badge event with an unlock command. No decision, no journal,
  no receipt: the round trip an edge app on the same machine cannot beat with a Python site core.
- ``external``: the same edge app with ``mqtt.mode = "external"`` (it runs its own Mosquitto).
- ``outpost-tcp`` (not run by default): the edge app with ``mqtt.core_in_process = false``: its adapters connect
  to the embedded broker over TCP like devices (how the edge worked before in-process links).
- ``amqtt-decider`` (not run by default): the decider round trip through the embedded broker alone
  (``python -m edge.broker``, Outpost auth/ACL on), to split broker time from site-core time.

Method. The site has four doors (a reader and a lock each). Reads go one at a time, round robin over the doors,
20-60 ms apart; each waits for its door's unlock command (and, where the scenario sends one, the reader's
receipt, matched by event id) up to ``--timeout``. A door never has two reads outstanding, so a command is
credited to the one read pending at its lock; a read that times out counts in the percentiles as the timeout
(worse than any measured value) and retires its door, so a late command can never be credited to a later read
(it is reported as late). The scenarios run in ``--rounds`` rounds, each scenario freshly started in every round,
the order rotated round by round; results pool all rounds and give the per-round spread.

    .venv/bin/python -m bench.access_latency [--quick | --smoke] [--reads N] [--rounds R] [--rate 200]

Progress goes to stderr; the last stdout line is one JSON object (p50_ms, p99_ms, receipt_p99_ms,
mosquitto_decider_p99_ms, ratio_p99, spreads, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import random
import shutil
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import (
    SPAWN,
    CpuMeter,
    EmbeddedBrokerProcess,
    PahoClient,
    PrivateMosquitto,
    SteadyLoad,
    emit,
    machine,
    percentile,
    progress,
)
from edge.app import build_directory
from edge.broker.directory import BrokerUser
from edge.broker.passwords import HashScheme, hash_password
from edge.config import EdgeConfig
from firmware_adapters.outpost_mqtt.adapter import OutpostMqttAdapter
from firmware_adapters.outpost_mqtt.codec import DEVICE_PUBLISHES

BADGE = "0004217"
DOORS = 4
READERS = tuple(f"reader-door{k}" for k in range(1, DOORS + 1))
LOCKS = tuple(f"lock-door{k}" for k in range(1, DOORS + 1))
TARGET_P99_MS = 25.0
BASELINE = "mosquitto-decider"
SCENARIOS = ("outpost", BASELINE, "external", "amqtt-decider", "outpost-tcp")
DEFAULT_SCENARIOS = ("outpost", BASELINE, "external")
DECIDERS = {BASELINE: "mosquitto", "amqtt-decider": "amqtt"}  # scenario -> broker under the decider


def site_config(
    data_dir: Path, passwords: dict[str, str], scheme: HashScheme, mode: str, *, core_in_process: bool = True
) -> dict[str, Any]:
    """A small site: four doors (reader + lock each) and the load's sensors, on free ports."""
    kinds = {**dict.fromkeys(READERS, "reader"), **dict.fromkeys(LOCKS, "lock")}
    return {
        "site": {"id": "bench-site", "name": "Bench site", "timezone": "UTC"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"mode": mode, "host": "127.0.0.1", "port": 0, "core_in_process": core_in_process},
        "web": {"host": "127.0.0.1", "port": 0},
        "zones": [{"id": "lobby", "name": "Lobby"}],
        "devices": [
            {"id": dev, "kind": kinds.get(dev, "sensor"), "zone": "lobby", "password_hash": hash_password(pw, scheme)}
            for dev, pw in passwords.items()
        ],
        "doors": [
            {"id": f"door{k}", "name": f"Door {k}", "zone": "lobby", "lock": lock, "readers": [reader]}
            for k, (reader, lock) in enumerate(zip(READERS, LOCKS, strict=True), start=1)
        ],
    }


def _edge_main(config_data: dict[str, Any], conn: Any, profile: str | None) -> None:
    logging.basicConfig(level=logging.WARNING)
    if profile:
        import cProfile

        cProfile.runctx("asyncio.run(_edge_async(config_data, conn))", globals(), locals(), profile)
    else:
        asyncio.run(_edge_async(config_data, conn))


async def _edge_async(config_data: dict[str, Any], conn: Any) -> None:
    from edge.access.credentials import CredentialStore
    from edge.app import EdgeRunner
    from edge.storage.database import Database
    from observability.heap import freeze_startup_heap

    config = EdgeConfig.model_validate(config_data)
    db = Database(config.storage.database_path)
    await db.migrate()
    await CredentialStore(db).add_person("Bench Person", [BADGE])
    await db.close()  # enrolled before start: the app is then the database's only writer
    runner = EdgeRunner(config)
    await runner.start()
    freeze_startup_heap()  # as `outpost-edge` (edge.app.run_edge) does
    conn.send(runner.mqtt_port)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await runner.stop()
    conn.send("stopped")


class EdgeProcess:
    """The edge app in its own process, as in production."""

    def __init__(self, config_data: dict[str, Any], profile: str | None = None) -> None:
        self._conn, child = SPAWN.Pipe()
        self._proc = SPAWN.Process(target=_edge_main, args=(config_data, child, profile), name="bench-edge")
        self.port = 0

    @property
    def pid(self) -> int:
        """Process id of the edge app."""
        return self._proc.pid or 0

    def __enter__(self) -> EdgeProcess:
        self._proc.start()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError("edge app did not start within 60 s")
        self.port = self._conn.recv()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._conn.send("stop")
        if self._conn.poll(30):
            self._conn.recv()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def _decider_main(port: int, password: str, ready: Any, stop: Any) -> None:
    decider = PahoClient("decider", password)

    lock_of = {f"outpost/{reader}/event": lock for reader, lock in zip(READERS, LOCKS, strict=True)}

    def on_message(topic: str, payload: bytes) -> None:
        lock = lock_of.get(topic)
        if lock is not None and json.loads(payload).get("type") == "badge":
            command = {"id": uuid.uuid4().hex, "action": "unlock", "duration_s": 5}
            decider.publish(f"outpost/{lock}/command", json.dumps(command), qos=1)

    decider.on_message(on_message)
    decider.connect("127.0.0.1", port)
    for channel in DEVICE_PUBLISHES:  # what the site core subscribes to, so the broker fans out the same
        decider.subscribe(f"outpost/+/{channel}", qos=1)
    ready.set()
    stop.wait()
    decider.close()


class DeciderProcess:
    """The baseline's stand-in for the site core (Python, paho): badge event in, unlock command out, nothing else."""

    def __init__(self, port: int, password: str) -> None:
        self._ready, self._stop = SPAWN.Event(), SPAWN.Event()
        self._proc = SPAWN.Process(target=_decider_main, args=(port, password, self._ready, self._stop))

    @property
    def pid(self) -> int:
        """Process id of the decider."""
        return self._proc.pid or 0

    def __enter__(self) -> DeciderProcess:
        self._proc.start()
        if not self._ready.wait(30):
            self._proc.kill()
            raise RuntimeError("decider did not connect")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


@dataclass
class _Read:
    """One badge read in flight: what has come back for it, and when."""

    event_id: str
    door: int
    sent: float
    command_at: float | None = None
    receipt_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Block:
    """What one scenario measured in one round."""

    latencies_ms: list[float] = field(default_factory=list)  # timeouts included, as the timeout
    receipts_ms: list[float] = field(default_factory=list)  # receipt timeouts included, as the timeout
    timeouts: int = 0
    receipt_timeouts: int = 0
    late_ms: list[float] = field(default_factory=list)  # commands that came after their read timed out
    stray_commands: int = 0  # unlock commands for no read at all (must stay 0)
    other_commands: int = 0  # e.g. a lock command when a lock comes online


class DoorClients:
    """The four doors' readers and locks as MQTT clients; matches commands and receipts to the read pending."""

    def __init__(self, port: int, passwords: dict[str, str], expect_receipt: bool) -> None:
        self.expect_receipt = expect_receipt
        self.block = Block()
        self._mutex = threading.Lock()
        self._pending: dict[int, _Read] = {}  # door -> its one read awaiting a command
        self._by_event: dict[str, _Read] = {}  # event id -> read awaiting its receipt
        self._timed_out: dict[int, _Read] = {}  # retired door -> the read it timed out on
        self._seen_commands: set[str] = set()
        self.readers = [PahoClient(r, passwords[r]) for r in READERS]
        self.locks = [PahoClient(lk, passwords[lk]) for lk in LOCKS]
        for door, (reader, lock) in enumerate(zip(self.readers, self.locks, strict=True)):
            lock.on_message(functools.partial(self._on_command, door))
            reader.on_message(self._on_receipt)
            lock.connect("127.0.0.1", port)
            lock.subscribe(f"outpost/{LOCKS[door]}/command", qos=1)
            reader.connect("127.0.0.1", port)
            reader.subscribe(f"outpost/{READERS[door]}/receipt", qos=1)
            # Announce like real devices (docs/MQTT.md), so the site sees online, locked doors.
            for client, device in ((lock, LOCKS[door]), (reader, READERS[door])):
                client.publish(f"outpost/{device}/status", json.dumps({"state": "online", "firmware": "bench"}))
            lock.publish(f"outpost/{LOCKS[door]}/telemetry", json.dumps({"values": {"locked": 1}})).wait_for_publish(5)

    def _on_command(self, door: int, _topic: str, payload: bytes) -> None:
        now = time.perf_counter()
        command = json.loads(payload)
        # Ack every copy (a resend means the site missed the ack), time only the first.
        self.locks[door].publish(f"outpost/{LOCKS[door]}/ack", json.dumps({"id": command["id"], "ok": True}))
        with self._mutex:
            if command["id"] in self._seen_commands:
                return
            self._seen_commands.add(command["id"])
            if command.get("action") != "unlock":
                self.block.other_commands += 1
                return
            read = self._pending.pop(door, None)
            if read is not None:
                read.command_at = now
                self._maybe_done(read)
            elif door in self._timed_out:
                self.block.late_ms.append((now - self._timed_out.pop(door).sent) * 1000)
            else:
                self.block.stray_commands += 1

    def _on_receipt(self, _topic: str, payload: bytes) -> None:
        now = time.perf_counter()
        with self._mutex:
            read = self._by_event.pop(json.loads(payload).get("id"), None)
            if read is not None:
                read.receipt_at = now
                self._maybe_done(read)

    def _maybe_done(self, read: _Read) -> None:
        if read.command_at is not None and (read.receipt_at is not None or not self.expect_receipt):
            read.done.set()

    def read(self, door: int, timeout_s: float, record: bool) -> bool:
        """Badge at `door`; wait for its command (and receipt); return False if the command timed out."""
        # The id carries the send time (CLOCK_MONOTONIC, same in every process) for edge-side tracing.
        sent = time.perf_counter()
        read = _Read(f"{uuid.uuid4().hex[:16]}-{int(sent * 1e9)}", door, sent)
        with self._mutex:
            self._pending[door] = read
            if self.expect_receipt:
                self._by_event[read.event_id] = read
        event = {"type": "badge", "id": read.event_id, "credential": BADGE}
        self.readers[door].publish(f"outpost/{READERS[door]}/event", json.dumps(event))
        read.done.wait(timeout_s)
        timeout_ms = timeout_s * 1000
        with self._mutex:
            commanded = read.command_at is not None
            if not commanded:
                del self._pending[door]
                self._timed_out[door] = read  # retired: its late command must not meet a later read
            self._by_event.pop(read.event_id, None)
            if record:
                block = self.block
                block.latencies_ms.append((read.command_at - sent) * 1000 if read.command_at else timeout_ms)
                block.timeouts += not commanded
                if self.expect_receipt:
                    block.receipts_ms.append((read.receipt_at - sent) * 1000 if read.receipt_at else timeout_ms)
                    block.receipt_timeouts += read.receipt_at is None
        return commanded

    def close(self) -> None:
        """Disconnect every client."""
        for client in (*self.readers, *self.locks):
            client.close()


def measure_reads(
    port: int, passwords: dict[str, str], args: argparse.Namespace, expect_receipt: bool, seed: int
) -> Block:
    """Badge reads one at a time, round robin over the doors still in service; time command and receipt."""
    clients = DoorClients(port, passwords, expect_receipt)
    rng = random.Random(seed)
    live = list(range(DOORS))
    try:
        for i in range(args.warmup + args.per_round):
            if not live:
                raise RuntimeError(f"every door timed out ({args.timeout} s); the site is not answering")
            door = live[i % len(live)]
            if not clients.read(door, args.timeout, record=i >= args.warmup):
                live.remove(door)
                progress(f"  read {i}: no unlock at {LOCKS[door]} within {args.timeout} s; door retired")
            time.sleep(rng.uniform(0.02, 0.06))  # unsynchronised with the load's 5 ms tick
    finally:
        clients.close()
    return clients.block


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(values, 50), 3),
        "p90_ms": round(percentile(values, 90), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(max(values), 3),
    }


def run_block(name: str, args: argparse.Namespace, tmp: Path, seed: int) -> dict[str, Any]:
    """Start the scenario's broker side afresh, the load and the doors; measure one round's reads."""
    sensors = [f"sensor-{i:02d}" for i in range(args.sensors)]
    passwords = {dev: f"{dev}-bench-pw" for dev in [*READERS, *LOCKS, *sensors]}
    broker = DECIDERS.get(name)
    scheme: HashScheme = "mosquitto" if name == "external" or broker == "mosquitto" else "argon2"
    data_dir = tmp / f"{name}-{seed}"
    with ExitStack() as stack:
        if broker is not None:
            # The same accounts and ACLs the edge would give its broker; the decider gets the site core's.
            mode = "external" if broker == "mosquitto" else "embedded"
            config = EdgeConfig.model_validate(site_config(data_dir, passwords, scheme, mode))
            directory = build_directory(config)
            publish, subscribe = OutpostMqttAdapter.broker_acl({})
            directory.add(BrokerUser("decider", hash_password("decider-pw", scheme), publish, subscribe))
            if broker == "mosquitto":
                mosquitto = stack.enter_context(PrivateMosquitto(directory, data_dir))
                port, pids = mosquitto.port, [mosquitto.broker.pid or 0]
            else:
                embedded = stack.enter_context(EmbeddedBrokerProcess(directory, data_dir))
                port, pids = embedded.port, [embedded.pid]
            pids.append(stack.enter_context(DeciderProcess(port, "decider-pw")).pid)
        else:
            mode = "external" if name == "external" else "embedded"
            config_data = site_config(data_dir, passwords, scheme, mode, core_in_process=name != "outpost-tcp")
            profile = str(Path(args.profile_dir) / f"edge-{name}-{seed}.prof") if args.profile_dir else None
            edge = stack.enter_context(EdgeProcess(config_data, profile))
            port, pids = edge.port, [edge.pid]
        progress(f"{name}: broker on port {port} (pids {pids}); {args.rate:g} msg/s load from {len(sensors)} sensors")
        load = stack.enter_context(SteadyLoad("127.0.0.1", port, [(s, passwords[s]) for s in sensors], args.rate))
        time.sleep(args.settle)
        with CpuMeter() as cpu:
            block = measure_reads(port, passwords, args, expect_receipt=broker is None, seed=seed)
    result = {
        "block": block,
        "background_cpu_cores": cpu.background_cores,
        "load_msgs_per_s": round(load.achieved_rate, 1),
    }
    summary = {k: v for k, v in _stats(block.latencies_ms).items() if k in ("p50_ms", "p99_ms")}
    progress(f"{name}: {summary} receipt p99 {_stats(block.receipts_ms)['p99_ms']} timeouts {block.timeouts}")
    return result


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool one scenario's rounds; give each round's figures and their spread."""
    blocks: list[Block] = [r["block"] for r in rounds]
    latencies = [v for b in blocks for v in b.latencies_ms]
    receipts = [v for b in blocks for v in b.receipts_ms]
    per_round = [
        {
            "p50_ms": _stats(b.latencies_ms)["p50_ms"],
            "p99_ms": _stats(b.latencies_ms)["p99_ms"],
            "receipt_p99_ms": _stats(b.receipts_ms)["p99_ms"],
            "timeouts": b.timeouts,
            "background_cpu_cores": r["background_cpu_cores"],
            "load_msgs_per_s": r["load_msgs_per_s"],
        }
        for b, r in zip(blocks, rounds, strict=True)
    ]
    result: dict[str, Any] = {
        "reads": len(latencies),
        **_stats(latencies),
        "mean_ms": round(sum(latencies) / len(latencies), 3) if latencies else None,
        "timeouts": sum(b.timeouts for b in blocks),
        "late_commands_ms": [round(v, 1) for b in blocks for v in b.late_ms],
        "stray_commands": sum(b.stray_commands for b in blocks),
        "other_commands": sum(b.other_commands for b in blocks),
        "rounds": per_round,
        "spread": {key: _span([r[key] for r in per_round]) for key in ("p50_ms", "p99_ms")},
        "load_msgs_per_s": round(sum(r["load_msgs_per_s"] for r in rounds) / len(rounds), 1),
        "background_cpu_cores": _span([r["background_cpu_cores"] for r in rounds]),
    }
    if receipts:
        stats = _stats(receipts)
        result.update(receipt_p50_ms=stats["p50_ms"], receipt_p99_ms=stats["p99_ms"], receipt_max_ms=stats["max_ms"])
        result["receipt_timeouts"] = sum(b.receipt_timeouts for b in blocks)
        result["spread"]["receipt_p99_ms"] = _span([r["receipt_p99_ms"] for r in per_round])
    return result


def _span(values: list[Any]) -> list[Any]:
    """[min, max] of the values that exist."""
    present = [v for v in values if v is not None]
    return [min(present), max(present)] if present else [None, None]


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios round by round and print the JSON result."""
    parser = argparse.ArgumentParser(prog="python -m bench.access_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000, help="measured badge reads per scenario, over all rounds")
    parser.add_argument("--rounds", type=int, default=4, help="times each scenario is started and measured")
    parser.add_argument("--warmup", type=int, default=20, help="reads before measuring, every round")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a read waits for its command")
    parser.add_argument("--rate", type=float, default=200.0, help="sensor telemetry msgs/s during the reads")
    parser.add_argument("--sensors", type=int, default=20, help="sensor clients sharing the load")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds of load before the first read")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help=f"comma list of {SCENARIOS}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile-dir", help="write a cProfile of each edge process here")
    parser.add_argument("--quick", action="store_true", help="150 reads per scenario in 2 rounds (about a minute)")
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests (seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.reads, args.rounds, args.warmup = 150, 2, 10
    if args.smoke:
        args.reads, args.rounds, args.warmup, args.sensors, args.rate, args.settle = 10, 2, 2, 2, 50.0, 0.2
    if args.reads < args.rounds or args.rounds < 1:
        parser.error("--reads must be at least --rounds, and --rounds at least 1")
    args.per_round = args.reads // args.rounds
    scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}")
    tmp = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    raw: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
    try:
        for r in range(args.rounds):
            order = scenarios[r % len(scenarios) :] + scenarios[: r % len(scenarios)]  # no scenario always first
            progress(f"round {r + 1}/{args.rounds}: {', '.join(order)}")
            for name in order:
                raw[name].append(run_block(name, args, tmp, seed=args.seed + r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = {name: summarise(rounds) for name, rounds in raw.items()}
    emit(headline(results, scenarios, args))
    return 0


def headline(results: dict[str, dict[str, Any]], scenarios: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The result object: the main scenario's figures up front, its ratio to the baseline, every scenario."""
    main_name = "outpost" if "outpost" in results else scenarios[0]
    main = results[main_name]
    out: dict[str, Any] = {
        "bench": "access_latency",
        "main_scenario": main_name,
        "reads": main["reads"],
        "rounds": args.rounds,
        "timeout_s": args.timeout,
        "load_target_msgs_per_s": args.rate,
        "target_p99_ms": TARGET_P99_MS,
        "load_msgs_per_s": main["load_msgs_per_s"],
        "p50_ms": main["p50_ms"],
        "p99_ms": main["p99_ms"],
        "timeouts": main["timeouts"],
        "spread": main["spread"],
        "scenarios": results,
        "machine": machine(),
    }
    if "receipt_p99_ms" in main:
        out["receipt_p50_ms"], out["receipt_p99_ms"] = main["receipt_p50_ms"], main["receipt_p99_ms"]
    if BASELINE in results and main_name != BASELINE:
        base = results[BASELINE]
        out["mosquitto_decider_p50_ms"], out["mosquitto_decider_p99_ms"] = base["p50_ms"], base["p99_ms"]
        out["ratio_p99"] = round(main["p99_ms"] / base["p99_ms"], 2)
        # Round r of both ran back to back, so their ratio shares the machine's state at the time.
        ratios = [round(m["p99_ms"] / b["p99_ms"], 2) for m, b in zip(main["rounds"], base["rounds"], strict=True)]
        out["ratio_p99_rounds"] = ratios
        out["spread"] = {**main["spread"], "ratio_p99": _span(ratios)}
    if "external" in results:
        out["external_p50_ms"], out["external_p99_ms"] = results["external"]["p50_ms"], results["external"]["p99_ms"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
