"""Badge read published -> unlock command received, through a real edge app under sensor load.

Scenarios (each with the same reader/lock clients and the same steady telemetry load from other devices):

- ``outpost``: a real edge app (EdgeRunner: embedded broker, SQLite journal with FULL sync, access service)
  in its own process, its start-up heap frozen as `outpost-edge` does; the time includes the access decision.
  The lock is commanded while the audit record commits (the reader's receipt waits for the commit).
- ``mosquitto``: the pure broker round trip: a private Mosquitto and a minimal "decider" client (own process)
  that answers each badge event with an unlock command. The baseline.
- ``external``: the same edge app with ``mqtt.mode = "external"`` (it runs its own Mosquitto).
- ``outpost-tcp`` (not run by default): the edge app with ``mqtt.core_in_process = false``: its adapters connect
  to the embedded broker over TCP like devices (how the edge worked before in-process links).
- ``amqtt`` (not run by default): the decider round trip through the embedded broker alone
  (``python -m edge.broker``, Outpost auth/ACL on), to split broker time from site-core time.

    .venv/bin/python -m bench.access_latency [--quick | --smoke] [--reads N] [--rate 200]

Progress goes to stderr; the last stdout line is one JSON object (p50_ms, p99_ms, mosquitto_p99_ms, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import queue
import random
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench._common import (
    SPAWN,
    CpuMeter,
    EmbeddedBrokerProcess,
    PahoClient,
    PrivateMosquitto,
    SteadyLoad,
    drain,
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
READER, LOCK = "reader-front", "lock-front"
TARGET_P99_MS = 25.0
SCENARIOS = ("outpost", "mosquitto", "external", "amqtt", "outpost-tcp")
DEFAULT_SCENARIOS = ("outpost", "mosquitto", "external")


def site_config(
    data_dir: Path, passwords: dict[str, str], scheme: HashScheme, mode: str, *, core_in_process: bool = True
) -> dict[str, Any]:
    """A small site: one door (reader + lock) and the load's sensors, on free ports."""
    kinds = {READER: "reader", LOCK: "lock"}
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
        "doors": [{"id": "front", "name": "Front door", "zone": "lobby", "lock": LOCK, "readers": [READER]}],
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
    from edge.app import EdgeRunner, freeze_startup_heap
    from edge.storage.database import Database

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

    def on_message(topic: str, payload: bytes) -> None:
        if topic == f"outpost/{READER}/event" and json.loads(payload).get("type") == "badge":
            command = {"id": uuid.uuid4().hex, "action": "unlock", "duration_s": 5}
            decider.publish(f"outpost/{LOCK}/command", json.dumps(command), qos=1)

    decider.on_message(on_message)
    decider.connect("127.0.0.1", port)
    for channel in DEVICE_PUBLISHES:  # what the site core subscribes to, so the broker fans out the same
        decider.subscribe(f"outpost/+/{channel}", qos=1)
    ready.set()
    stop.wait()
    decider.close()


class DeciderProcess:
    """The baseline's stand-in for the site core: badge event in, unlock command out, nothing else."""

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


def measure_reads(port: int, passwords: dict[str, str], reads: int, warmup: int, seed: int) -> dict[str, Any]:
    """Publish badge reads one at a time; time each until the lock receives its unlock command."""
    arrivals: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
    lock = PahoClient(LOCK, passwords[LOCK])
    reader = PahoClient(READER, passwords[READER])
    seen: set[str] = set()

    def on_command(topic: str, payload: bytes) -> None:
        now = time.perf_counter()
        command = json.loads(payload)
        if command.get("id") in seen:  # a resend of a command already timed
            return
        seen.add(command.get("id"))
        arrivals.put((now, command))
        lock.publish(f"outpost/{LOCK}/ack", json.dumps({"id": command["id"], "ok": True}), qos=1)

    lock.on_message(on_command)
    lock.connect("127.0.0.1", port)
    lock.subscribe(f"outpost/{LOCK}/command", qos=1)
    reader.connect("127.0.0.1", port)
    reader.subscribe(f"outpost/{READER}/receipt", qos=1)
    # Announce like real devices (docs/MQTT.md), so the site sees an online, locked door.
    for client, device in ((lock, LOCK), (reader, READER)):
        client.publish(f"outpost/{device}/status", json.dumps({"state": "online", "firmware": "bench"}), qos=1)
    lock.publish(f"outpost/{LOCK}/telemetry", json.dumps({"values": {"locked": 1}}), qos=1).wait_for_publish(5)
    rng = random.Random(seed)
    latencies: list[float] = []
    timeouts = 0
    try:
        for i in range(warmup + reads):
            drain(arrivals)
            # The id carries the send time (CLOCK_MONOTONIC, same in every process) for edge-side tracing.
            sent = time.perf_counter()
            event = {"type": "badge", "id": f"{uuid.uuid4().hex[:16]}-{int(sent * 1e9)}", "credential": BADGE}
            reader.publish(f"outpost/{READER}/event", json.dumps(event), qos=1)
            try:
                received, command = arrivals.get(timeout=5)
            except queue.Empty:
                timeouts += 1
                continue
            if command.get("action") != "unlock":
                raise RuntimeError(f"unexpected command {command}")
            if i >= warmup:
                latencies.append((received - sent) * 1000)
            time.sleep(rng.uniform(0.02, 0.06))  # unsynchronised with the load's 5 ms tick
    finally:
        reader.close()
        lock.close()
    return {
        "reads": len(latencies),
        "timeouts": timeouts,
        "p50_ms": round(percentile(latencies, 50), 3),
        "p90_ms": round(percentile(latencies, 90), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3) if latencies else None,
        "mean_ms": round(sum(latencies) / len(latencies), 3) if latencies else None,
    }


def run_scenario(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start the scenario's broker side, the load and the reader/lock; measure."""
    sensors = [f"sensor-{i:02d}" for i in range(args.sensors)]
    passwords = {dev: f"{dev}-bench-pw" for dev in [READER, LOCK, *sensors]}
    scheme: HashScheme = "argon2" if name in ("outpost", "outpost-tcp", "amqtt") else "mosquitto"
    data_dir = tmp / name
    pids: list[int] = []
    with ExitStack() as stack:
        if name in ("mosquitto", "amqtt"):
            # The same accounts and ACLs the edge would give its broker; the decider gets the site core's.
            mode = "external" if scheme == "mosquitto" else "embedded"
            config = EdgeConfig.model_validate(site_config(data_dir, passwords, scheme, mode))
            directory = build_directory(config)
            publish, subscribe = OutpostMqttAdapter.broker_acl({})
            directory.add(BrokerUser("decider", hash_password("decider-pw", scheme), publish, subscribe))
            if name == "mosquitto":
                mosquitto = stack.enter_context(PrivateMosquitto(directory, data_dir))
                port, pids = mosquitto.port, [mosquitto.broker.pid or 0]
            else:
                embedded = stack.enter_context(EmbeddedBrokerProcess(directory, data_dir))
                port, pids = embedded.port, [embedded.pid]
            pids.append(stack.enter_context(DeciderProcess(port, "decider-pw")).pid)
        else:
            mode = "external" if name == "external" else "embedded"
            config_data = site_config(data_dir, passwords, scheme, mode, core_in_process=name != "outpost-tcp")
            profile = str(Path(args.profile_dir) / f"edge-{name}.prof") if args.profile_dir else None
            edge = stack.enter_context(EdgeProcess(config_data, profile))
            port, pids = edge.port, [edge.pid]
        progress(f"{name}: broker on port {port} (pids {pids}); {args.rate:g} msg/s load from {len(sensors)} sensors")
        load = stack.enter_context(SteadyLoad("127.0.0.1", port, [(s, passwords[s]) for s in sensors], args.rate))
        time.sleep(args.settle)
        with CpuMeter() as cpu:
            result = measure_reads(port, passwords, args.reads, args.warmup, args.seed)
        result["background_cpu_cores"] = cpu.background_cores
    result["load_msgs_per_s"] = round(load.achieved_rate, 1)
    progress(f"{name}: {json.dumps(result)}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print the JSON result."""
    parser = argparse.ArgumentParser(prog="python -m bench.access_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000, help="measured badge reads per scenario")
    parser.add_argument("--warmup", type=int, default=20, help="reads before measuring")
    parser.add_argument("--rate", type=float, default=200.0, help="sensor telemetry msgs/s during the reads")
    parser.add_argument("--sensors", type=int, default=20, help="sensor clients sharing the load")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds of load before the first read")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help=f"comma list of {SCENARIOS}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile-dir", help="write a cProfile of each edge process here")
    parser.add_argument("--quick", action="store_true", help="150 reads per scenario (under a minute)")
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests (a few seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.reads, args.warmup = 150, 10
    if args.smoke:
        args.reads, args.warmup, args.sensors, args.rate, args.settle = 10, 2, 2, 50.0, 0.2
    scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}")
    tmp = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    try:
        results = {name: run_scenario(name, args, tmp) for name in scenarios}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {
        "bench": "access_latency",
        "reads": args.reads,
        "load_target_msgs_per_s": args.rate,
        "target_p99_ms": TARGET_P99_MS,
        "scenarios": results,
        "machine": machine(),
    }
    main_name = "outpost" if "outpost" in results else scenarios[0]
    out["load_msgs_per_s"] = results[main_name]["load_msgs_per_s"]
    out["p50_ms"], out["p99_ms"] = results[main_name]["p50_ms"], results[main_name]["p99_ms"]
    if "mosquitto" in results:
        out["mosquitto_p50_ms"] = results["mosquitto"]["p50_ms"]
        out["mosquitto_p99_ms"] = results["mosquitto"]["p99_ms"]
        out["ratio_p99"] = round(out["p99_ms"] / out["mosquitto_p99_ms"], 2)
    if "external" in results:
        out["external_p50_ms"] = results["external"]["p50_ms"]
        out["external_p99_ms"] = results["external"]["p99_ms"]
    emit(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
