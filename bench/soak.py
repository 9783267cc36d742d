"""Soak: an hour of a busy site compressed into minutes; memory growth, event-loop lag and CPU of the edge.

The site: 16 doors (reader, lock and contact each), 200 temperature/humidity sensors, 4 cameras on
../shared/data/vtest.avi (NanoDet, motion gating, tracking, zones and a counting line, paced to wall-clock time at
``--fps``, 5 by default) and 50 rules of the kinds sites write (bench/rules.py: person in a yard zone, door
opening with a quiet period, repeated denials, sensor thresholds with hysteresis, absence), each publishing over
MQTT. The edge app (EdgeRunner: embedded broker, SQLite journal, access service, rules, vision, console) runs in
its own process, its start-up heap frozen as `outpost-edge` does; the devices are real MQTT clients (aiomqtt) in
this process.

Time compression: ``--site-minutes`` of site activity are played in ``--minutes`` of wall time. Per site hour,
each door sees 60 badge reads (85% known badges: unlock, door opened then closed; 15% unknown: denied), 1 in 50
door openings is forced (an alarm the rules see), and each sensor reports every 30 s. Video cannot be
compressed: the cameras run in real time at ``--fps`` throughout.

Measured in the edge process: RSS (VmRSS) sampled every second; event-loop lag as the lateness of a 50 ms sleep
in a loop, taken after the warm-up (the first 20% of the run, at least 10 s); CPU (utime + stime of the edge's
threads, as a percentage of one core) after the warm-up. The edge sets glibc's heap itself at start
(observability/heap.py: two arenas, a fixed mmap threshold, a trim every 30 s). ``rss_growth_pct`` compares the
median RSS of the last tenth of the run with the median of the first tenth after the warm-up, so one sample's
noise does not count.

    .venv/bin/python -m bench.soak [--quick | --smoke] [--minutes M] [--site-minutes S] [--cameras 4] [--fps 5]

Full run: 60 site minutes in 10 minutes. ``--quick``: 60 site minutes in 2 minutes (under 3 minutes with
start-up). ``--smoke``: a few seconds, correctness only. Progress goes to stderr; the last stdout line is one JSON
object with ``rss_growth_pct``, ``loop_lag_p99_ms``, ``cpu_pct``, ``rss_mb`` and the details.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import SPAWN, emit, machine, percentile, progress
from bench.rules import DOORS, REGIONS, SENSORS, ZONES
from bench.rules import rules as site_rules
from edge.broker.passwords import hash_password
from edge.config import EdgeConfig
from firmware_adapters.base import AdapterError
from firmware_adapters.simulated import (
    SimulatedContact,
    SimulatedDevice,
    SimulatedDeviceConfig,
    SimulatedLock,
    SimulatedReader,
    SimulatedSensor,
)

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
VIDEO = SHARED / "data" / "vtest.avi"
MODEL = SHARED / "models" / "nanodet-coco-416.onnx"
BADGES = [f"{0x5A000000 + i:08X}" for i in range(40)]
LAG_INTERVAL_S = 0.05
READS_PER_DOOR_HOUR = 60
SENSOR_PERIOD_SITE_S = 30.0
FORCED_SHARE = 0.02
UNKNOWN_SHARE = 0.15
TARGETS = {"rss_growth_pct": 10.0, "loop_lag_p99_ms": 50.0, "rss_mb": 300.0}


def passwords(doors: int, sensors: int) -> dict[str, str]:
    """Device id -> password of the site's devices (readers, locks, contacts, then sensors)."""
    made: dict[str, str] = {}
    for i in range(doors):
        for kind in ("reader", "lock", "contact"):
            made[f"{kind}-{i}"] = f"{kind}-{i}-soak-pw"
    made.update({SENSORS[i]: f"{SENSORS[i]}-soak-pw" for i in range(sensors)})
    return made


def camera(index: int, fps: float) -> dict[str, Any]:
    """Camera `index` on the plaza clip, in zone-<index>, with the rules' image zones and a counting line."""
    strips = [(k / len(REGIONS), (k + 1) / len(REGIONS)) for k in range(len(REGIONS))]
    return {
        "id": f"cam-{index}",
        "name": f"Camera {index}",
        "zone": ZONES[index],
        "source": str(VIDEO),
        "fps": fps,
        "zones": [
            {"name": region, "polygon": [[x0, 0.3], [x1, 0.3], [x1, 1.0], [x0, 1.0]]}
            for region, (x0, x1) in zip(REGIONS, strips, strict=True)
        ],
        "lines": [{"name": "kerb", "a": [0.0, 0.55], "b": [1.0, 0.55]}],
    }


def site_config(data_dir: Path, pws: dict[str, str], doors: int, cameras: int, fps: float) -> dict[str, Any]:
    """The busy site on free ports (Mosquitto-style PBKDF2 hashes: a few hundred devices connect quickly)."""
    devices = [
        {
            "id": dev,
            "kind": dev.split("-")[0] if not dev.startswith("sensor") else "sensor",
            "zone": ZONES[int(dev.rsplit("-", 1)[1]) % len(ZONES)],
            "password_hash": hash_password(pw, "mosquitto"),
        }
        for dev, pw in pws.items()
    ]
    return {
        "site": {"id": "soak", "name": "Soak site", "timezone": "Europe/Berlin"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"host": "127.0.0.1", "port": 0},
        "web": {"host": "127.0.0.1", "port": 0},
        "zones": [{"id": z, "name": z} for z in ZONES],
        "devices": devices,
        "doors": [
            {
                "id": DOORS[i],
                "name": DOORS[i],
                "zone": ZONES[i % len(ZONES)],
                "lock": f"lock-{i}",
                "readers": [f"reader-{i}"],
                "contact": f"contact-{i}",
                "unlock_s": 5,
            }
            for i in range(doors)
        ],
        "cameras": [camera(k, fps) for k in range(cameras)],
        "vision": {"detector": {"model_path": str(MODEL), "threads": 1}},
    }


def _edge_main(config_data: dict[str, Any], rules_data: list[dict[str, Any]], conn: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_edge_async(config_data, rules_data, conn))


async def _edge_async(config_data: dict[str, Any], rules_data: list[dict[str, Any]], conn: Any) -> None:
    from edge.access.credentials import CredentialStore
    from edge.app import EdgeRunner
    from edge.rules.store import RuleStore
    from edge.storage.database import Database
    from observability.heap import freeze_startup_heap
    from sync.rules import Rule

    config = EdgeConfig.model_validate(config_data)
    db = Database(config.storage.database_path)
    await db.migrate()
    store = CredentialStore(db)
    for n, badge in enumerate(BADGES):
        await store.add_person(f"Person {n}", [badge])
    rule_store = RuleStore(db)
    for data in rules_data:
        await rule_store.save(Rule.model_validate(data), "local", "soak")
    await db.close()  # set up before start: the app is then the database's only writer
    runner = EdgeRunner(config)
    await runner.start()
    freeze_startup_heap()  # as `outpost-edge` (edge.app.run_edge) does
    lags: list[float] = []

    async def sample_lag() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_INTERVAL_S
            await asyncio.sleep(LAG_INTERVAL_S)
            lags.append(max(0.0, loop.time() - due))

    sampler = asyncio.create_task(sample_lag(), name="soak-lag")
    conn.send(runner.mqtt_port)
    loop = asyncio.get_running_loop()
    while (request := await loop.run_in_executor(None, conn.recv)) != "stop":
        if request == "lags":  # hand over what was measured since the last request
            conn.send(lags[:])
            lags.clear()
    sampler.cancel()
    await asyncio.gather(sampler, return_exceptions=True)
    await runner.stop()
    conn.send("stopped")


class EdgeProcess:
    """The edge app in its own process, as in production."""

    def __init__(self, config_data: dict[str, Any], rules_data: list[dict[str, Any]]) -> None:
        self._conn, child = SPAWN.Pipe()
        self._proc = SPAWN.Process(target=_edge_main, args=(config_data, rules_data, child), name="soak-edge")
        self.port = 0

    @property
    def pid(self) -> int:
        """Process id of the edge app."""
        return self._proc.pid or 0

    def start(self) -> None:
        """Start the edge; return once its broker listens."""
        self._proc.start()
        if not self._conn.poll(120):
            self._proc.kill()
            raise RuntimeError("edge app did not start within 120 s")
        self.port = self._conn.recv()

    def lags(self) -> list[float]:
        """Loop lags (s) measured since the last call."""
        self._conn.send("lags")
        if not self._conn.poll(30):
            raise RuntimeError("edge app did not answer within 30 s")
        lags: list[float] = self._conn.recv()
        return lags

    def stop(self) -> None:
        """Stop the edge (staged shutdown), or kill it if it does not stop."""
        if self._proc.is_alive():
            self._conn.send("stop")
            if self._conn.poll(60):
                self._conn.recv()
        self._proc.join(15)
        if self._proc.is_alive():
            self._proc.kill()


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used by `pid` so far, all its threads."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """What the simulated site sent and what it heard back."""

    reads: int = 0
    unknown: int = 0
    forced: int = 0
    receipts_missing: list[str] = field(default_factory=list)
    unlocks: int = 0


class Site:
    """The site's devices as real MQTT clients, played `speed` times faster than real time."""

    def __init__(self, port: int, pws: dict[str, str], doors: int, speed: float, seed: int) -> None:
        self.port = port
        self.pws = pws
        self.doors = doors
        self.speed = speed
        self.rng = random.Random(seed)
        self.devices: list[SimulatedDevice] = []
        self.load = Load()

    def _cfg(self, device_id: str) -> SimulatedDeviceConfig:
        return SimulatedDeviceConfig(device_id=device_id, password=self.pws[device_id], port=self.port)

    async def start(self) -> None:
        """Connect every device (20 at a time)."""
        gate = asyncio.Semaphore(20)
        made: list[SimulatedDevice] = []
        for device_id in self.pws:
            kind = device_id.split("-")[0]
            if kind == "reader":
                made.append(SimulatedReader(self._cfg(device_id)))
            elif kind == "lock":
                made.append(SimulatedLock(self._cfg(device_id)))
            elif kind == "contact":
                made.append(SimulatedContact(self._cfg(device_id)))
            else:
                period = SENSOR_PERIOD_SITE_S / self.speed
                made.append(SimulatedSensor(self._cfg(device_id), interval_s=period, seed=self.rng.randrange(1 << 30)))

        async def one(device: SimulatedDevice) -> None:
            async with gate:
                for attempt in range(3):  # a connect can time out on a loaded machine; devices retry too
                    try:
                        await device.start(timeout_s=60)
                        break
                    except AdapterError as err:
                        progress(f"{device.device_id}: {err}; retrying")
                        await device.stop()
                        if attempt == 2:
                            raise
                self.devices.append(device)
                if isinstance(device, SimulatedSensor):
                    # Spread the sensors' reports over their period instead of all at once.
                    await asyncio.sleep(self.rng.uniform(0, 0.05))

        await asyncio.gather(*(one(d) for d in made))

    def _device(self, device_id: str) -> Any:
        return next(d for d in self.devices if d.device_id == device_id)

    async def door(self, i: int, until: float) -> None:
        """One door's traffic until `until` (monotonic): badge reads, openings, forced openings."""
        reader: SimulatedReader = self._device(f"reader-{i}")
        contact: SimulatedContact = self._device(f"contact-{i}")
        lock: SimulatedLock = self._device(f"lock-{i}")
        mean_gap_s = 3600 / READS_PER_DOOR_HOUR / self.speed
        while (wait := self.rng.expovariate(1 / mean_gap_s)) < until - time.monotonic():
            await asyncio.sleep(wait)  # the site's traffic (a load generator's pacing, not synchronisation)
            if self.rng.random() < FORCED_SHARE:
                self.load.forced += 1
                await contact.set_open(True)
                await asyncio.sleep(min(2.0, 10 / self.speed))
                await contact.set_open(False)
                continue
            unknown = self.rng.random() < UNKNOWN_SHARE
            credential = f"{self.rng.randrange(1 << 32):08X}" if unknown else self.rng.choice(BADGES)
            badge = await reader.present(credential)
            self.load.reads += 1
            self.load.unknown += unknown
            if not await reader.wait_receipt(badge.id, timeout_s=10):
                self.load.receipts_missing.append(badge.id)
            if unknown:
                continue
            try:
                await asyncio.wait_for(lock.commands.get(), 10)
            except TimeoutError:
                continue
            self.load.unlocks += 1
            await contact.set_open(True)
            await asyncio.sleep(min(2.0, 4 / self.speed))  # someone walks through
            await contact.set_open(False)

    async def stop(self) -> None:
        """Disconnect every device."""
        await asyncio.gather(*(d.stop() for d in self.devices), return_exceptions=True)


def journal_counts(db_path: Path) -> dict[str, int]:
    """Rows per journal kind, rule runs by outcome, and outbox rows (read-only beside the running edge)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        runs = dict(conn.execute("SELECT outcome, count(*) FROM rule_runs GROUP BY outcome").fetchall())
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return {**{f"journal_{k}": v for k, v in kinds.items()}, **{f"rule_runs_{k}": v for k, v in runs.items()}} | {
        "outbox": outbox
    }


async def play(args: argparse.Namespace, edge: EdgeProcess, pws: dict[str, str], db_path: Path) -> dict[str, Any]:
    """Run the site's load against the started edge and measure it."""
    speed = args.site_minutes / args.minutes
    site = Site(edge.port, pws, args.doors, speed, args.seed)
    await site.start()
    progress(f"{len(site.devices)} devices connected; playing {args.site_minutes} site minutes at {speed:.1f}x")
    duration = args.minutes * 60
    warm_up = max(min(10.0, duration / 2), duration * 0.2)
    start = time.monotonic()
    until = start + duration
    doors = [asyncio.create_task(site.door(i, until)) for i in range(args.doors)]
    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
    lags: list[float] = []
    cpu_at_warm = wall_at_warm = 0.0
    load_at_warm = 0.0
    warmed = False
    try:
        while time.monotonic() < until:
            await asyncio.sleep(1.0)  # the sampling period
            elapsed = time.monotonic() - start
            samples.append((elapsed, rss_mb(edge.pid)))
            measured = await asyncio.to_thread(edge.lags)
            if not warmed and elapsed >= warm_up:
                warmed = True
                cpu_at_warm, wall_at_warm, load_at_warm = cpu_s(edge.pid), time.monotonic(), os.getloadavg()[0]
                progress(f"warmed up after {elapsed:.0f}s: RSS {samples[-1][1]:.0f} MB")
            elif warmed:
                lags.extend(measured)
            if int(elapsed) % 30 == 0:
                progress(f"{elapsed:.0f}s: RSS {samples[-1][1]:.0f} MB, {site.load.reads} reads")
        cpu_used = cpu_s(edge.pid) - cpu_at_warm
        wall = time.monotonic() - wall_at_warm
        # Each door ends by itself at `until` (no read is cut short, so every read is decided and counted).
        await asyncio.wait_for(asyncio.gather(*doors), 60)
    finally:
        for task in doors:
            task.cancel()
        await asyncio.gather(*doors, return_exceptions=True)
        await site.stop()
    after = [rss for t, rss in samples if t >= warm_up]
    tenth = max(1, len(after) // 10)
    first, last = statistics.median(after[:tenth]), statistics.median(after[-tenth:])
    counts = journal_counts(db_path)
    return {
        "rss_growth_pct": round((last - first) / first * 100, 2),
        "loop_lag_p99_ms": round(percentile(lags, 99) * 1000, 2),
        "loop_lag_p50_ms": round(percentile(lags, 50) * 1000, 2),
        "loop_lag_max_ms": round(max(lags) * 1000, 2),
        "lag_samples": len(lags),
        "cpu_pct": round(cpu_used / wall * 100, 1),
        "rss_mb": round(last, 1),
        "rss_after_warm_up_mb": round(first, 1),
        "rss_max_mb": round(max(rss for _, rss in samples), 1),
        "warm_up_s": round(warm_up, 1),
        "wall_s": round(duration, 1),
        "speed": round(speed, 2),
        "load_average_1m": [round(load_at_warm, 2), round(os.getloadavg()[0], 2)],
        "reads": site.load.reads,
        "unknown_reads": site.load.unknown,
        "forced_openings": site.load.forced,
        "unlocks": site.load.unlocks,
        "receipts_missing": len(site.load.receipts_missing),
        **counts,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="60 site minutes in 2 minutes")
    size.add_argument("--smoke", action="store_true", help="a few seconds, correctness only")
    parser.add_argument("--minutes", type=float, default=None, help="wall minutes of load (default 10)")
    parser.add_argument("--site-minutes", type=float, default=60.0, help="site minutes played (default 60)")
    parser.add_argument("--doors", type=int, default=16)
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=5.0, help="sampled frames per second per camera")
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    if args.minutes is None:
        args.minutes = 2.0 if args.quick else 0.25 if args.smoke else 10.0
    if args.smoke:
        args.doors, args.sensors, args.rules = min(args.doors, 2), min(args.sensors, 10), min(args.rules, 10)
        args.cameras = min(args.cameras, 1)
    for path in (VIDEO, MODEL):
        if not path.exists():
            parser.error(f"{path} is missing (../shared beside the repository)")
    pws = passwords(args.doors, args.sensors)
    rules_data = [r.model_dump(mode="json") for r in site_rules(args.rules, random.Random(args.seed))]
    with tempfile.TemporaryDirectory(prefix="outpost-soak-") as tmp:
        data_dir = Path(tmp) / "edge"
        config = site_config(data_dir, pws, args.doors, args.cameras, args.fps)
        EdgeConfig.model_validate(config)  # fail here, not in the child
        edge = EdgeProcess(config, rules_data)
        progress(f"starting the edge: {args.doors} doors, {args.sensors} sensors, {args.cameras} cameras")
        edge.start()
        try:
            result = asyncio.run(play(args, edge, pws, data_dir / "edge.db"))
        finally:
            edge.stop()
    result.update(
        doors=args.doors,
        sensors=args.sensors,
        cameras=args.cameras,
        fps=args.fps,
        rules=args.rules,
        site_minutes=args.site_minutes,
        machine=machine(),
        targets=TARGETS,
        targets_met={
            "rss_growth_pct": result["rss_growth_pct"] < TARGETS["rss_growth_pct"],
            "loop_lag_p99_ms": result["loop_lag_p99_ms"] < TARGETS["loop_lag_p99_ms"],
            "rss_mb": result["rss_mb"] < TARGETS["rss_mb"],
        },
    )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
