"""`outpost-demo`: a cloud, an enrolled edge, simulated devices and a looping real video, in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import tomli_w

from provisioning.cli import default_cache_dir

log = logging.getLogger("outpost.demo")

DEMO_DEVICES = [
    ("reader-gate", "reader", "yard"),
    ("lock-gate", "lock", "yard"),
    ("contact-gate", "contact", "yard"),
    ("reader-office", "reader", "office"),
    ("lock-office", "lock", "office"),
    ("contact-office", "contact", "office"),
    ("temp-office", "sensor", "office"),
]
DEMO_PEOPLE = [("Ada Lovelace", "0004217"), ("Grace Hopper", "0005150"), ("Alan Turing", "0007734")]
UNKNOWN_BADGES = ["31337", "0000001"]


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def resolve_model(cache_dir: Path) -> Path:
    """Find the default detector, building it (slow, once) when it is nowhere on this machine."""
    from edge.vision.model_files import default_model_path

    found = default_model_path()
    if found is not None:
        return found
    from provisioning.model_build import build_default_model

    _say("no detector model found: building the default NanoDet model (one time, several minutes)")
    return Path(build_default_model(cache_dir, progress=lambda m: _say(f"  {m}")).path)


def edge_config_dict(
    work: Path, video: Path, model: Path, hashes: dict[str, str], admin_pw_file: Path
) -> dict[str, Any]:
    """The demo site's edge config before enrollment adds the site identity and secret."""
    return {
        "storage": {"data_dir": str(work / "edge")},
        "mqtt": {"host": "127.0.0.1", "port": 0},
        "web": {"host": "127.0.0.1", "port": 0, "initial_admin_password_file": str(admin_pw_file)},
        "cloud": {"sync_interval_s": 1.0},
        "vision": {"detector": {"model_path": str(model), "threads": 1}},
        "cameras": [{"id": "yard-cam", "name": "Yard camera", "zone": "yard", "source": str(video), "fps": 2.0}],
        "zones": [{"id": "yard", "name": "Yard"}, {"id": "office", "name": "Office"}],
        "devices": [
            {"id": dev, "kind": kind, "zone": zone, "password_hash": hashes[dev]} for dev, kind, zone in DEMO_DEVICES
        ],
        "doors": [
            {
                "id": "gate",
                "name": "Yard gate",
                "zone": "yard",
                "lock": "lock-gate",
                "readers": ["reader-gate"],
                "contact": "contact-gate",
                "unlock_s": 4,
            },
            {
                "id": "office",
                "name": "Office door",
                "zone": "office",
                "lock": "lock-office",
                "readers": ["reader-office"],
                "contact": "contact-office",
                "unlock_s": 4,
                "schedule": "office-hours",
            },
        ],
        "schedules": {
            "office-hours": {
                "windows": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "start": "00:00",
                        "end": "00:00",
                    }
                ]
            }
        },
    }


async def _scenario(devices: dict[str, Any], rng: random.Random) -> None:
    """Badge people in (and strangers out) every few seconds; open and close doors after grants."""
    doors = [("reader-gate", "lock-gate", "contact-gate"), ("reader-office", "lock-office", "contact-office")]
    while True:
        reader, lock, contact = rng.choice(doors)
        known = rng.random() < 0.75
        badge = rng.choice(DEMO_PEOPLE)[1] if known else rng.choice(UNKNOWN_BADGES)
        await devices[reader].present(badge)
        await asyncio.sleep(1.0)
        if not devices[lock].locked:
            await devices[contact].set_open(True)
            await asyncio.sleep(2.0)
            await devices[contact].set_open(False)
        await asyncio.sleep(rng.uniform(3.0, 6.0))


async def run_demo(work: Path, duration_s: float | None, cloud_db: str | None) -> None:
    """Start everything, print where to look, run until interrupted or `duration_s`."""
    from cloud.admin import bootstrap_tenant
    from cloud.app import started_cloud
    from cloud.config import build_config
    from edge.app import EdgeRunner
    from edge.broker.directory import hash_password
    from edge.config import load_config
    from firmware_adapters.simulated import (
        SimulatedContact,
        SimulatedDeviceConfig,
        SimulatedLock,
        SimulatedReader,
        SimulatedSensor,
    )
    from provisioning.assets import find_demo_video
    from provisioning.enroll import enroll, write_private

    cache = default_cache_dir()
    model = resolve_model(cache)
    video = find_demo_video(cache, progress=lambda m: _say(f"  {m}"))
    _say(f"model {model}")
    _say(f"video {video}")

    cloud_values: dict[str, Any] = {"data_dir": str(work / "cloud"), "host": "127.0.0.1", "port": 0}
    if cloud_db:
        cloud_values["database_url"] = cloud_db
    hq_password = secrets.token_urlsafe(9)
    console_password = secrets.token_urlsafe(9)
    async with started_cloud(build_config(cloud_values)) as cloud:
        boot = await bootstrap_tenant(
            cloud.db, "Demo Logistics", "hq@demo.example", hq_password, site_name="Depot North"
        )
        assert boot.enrollment is not None
        _say(f"cloud up at {cloud.url}; enrollment code {boot.enrollment.code}")

        passwords = {dev: secrets.token_urlsafe(12) for dev, _, _ in DEMO_DEVICES}
        hashes = {dev: hash_password(pw) for dev, pw in passwords.items()}
        admin_pw_file = work / "console-admin-password"
        write_private(admin_pw_file, console_password)
        config_path = work / "edge.toml"
        write_private(config_path, tomli_w.dumps(edge_config_dict(work, video, model, hashes, admin_pw_file)))
        enrollment = await asyncio.to_thread(enroll, cloud.url, boot.enrollment.code, config_path, "demo-box")
        _say(f"edge enrolled as site {enrollment.site_id} ({enrollment.site_name})")

        config = load_config(config_path)
        edge = EdgeRunner(config, config_path)
        await edge.start()
        devices: dict[str, Any] = {}
        try:
            from edge import keys

            for name, badge in DEMO_PEOPLE:
                await edge.app[keys.CREDENTIALS].add_person(name, [badge])
            kinds = {
                "reader": SimulatedReader,
                "lock": SimulatedLock,
                "contact": SimulatedContact,
                "sensor": SimulatedSensor,
            }
            for dev, kind, _zone in DEMO_DEVICES:
                sim = kinds[kind](SimulatedDeviceConfig(device_id=dev, password=passwords[dev], port=edge.mqtt_port))
                await sim.start()
                devices[dev] = sim
            print(
                "\n"
                "  Outpost demo is running.\n"
                f"  LAN console : http://127.0.0.1:{edge.web_port}/   login admin / {console_password}\n"
                f"  HQ portal   : {cloud.url}/portal   login hq@demo.example / {hq_password}\n"
                f"  MQTT broker : 127.0.0.1:{edge.mqtt_port} (per-device credentials; see {config_path})\n"
                f"  Work dir    : {work}\n"
                "  Press Ctrl-C to stop.\n",
                flush=True,
            )
            scenario = asyncio.create_task(_scenario(devices, random.Random(42)), name="demo-scenario")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration_s)
            _say("stopping")
            scenario.cancel()
            await asyncio.gather(scenario, return_exceptions=True)
        finally:
            # The edge first: devices that said goodbye while it still listened would raise lock_offline alarms
            # that no real site would see on a planned stop.
            await edge.stop()
            for sim in devices.values():
                await sim.stop()


WORKDIR_MARKER = ".outpost-demo"


class WorkdirNotOurs(Exception):
    """The --workdir holds files the demo did not make: it is not wiped."""


def prepare_workdir(work: Path) -> None:
    """Wipe an earlier demo's work dir (it holds WORKDIR_MARKER) and say so; refuse any other non-empty folder."""
    if work.exists() and any(work.iterdir()):
        if not (work / WORKDIR_MARKER).is_file():
            raise WorkdirNotOurs(
                f"{work} is not empty and not an earlier demo's work dir (no {WORKDIR_MARKER}); the demo wipes its "
                "work dir at start, so choose an empty or new --workdir"
            )
        _say(f"wiping the previous demo's state in {work}")
        shutil.rmtree(work)
    work.mkdir(parents=True, mode=0o700, exist_ok=True)
    (work / WORKDIR_MARKER).write_text("outpost-demo work dir: wiped at every demo start\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `outpost-demo`."""
    parser = argparse.ArgumentParser(
        prog="outpost-demo",
        description="Run a whole Outpost site on this machine: cloud aggregator, an edge box enrolled into it, "
        "simulated readers/locks/contacts/sensor over MQTT, and a looping real video as the camera.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=default_cache_dir() / "demo",
        help="where the demo keeps its state; wiped at start, so it must be empty, missing or an earlier demo's "
        f"(holding {WORKDIR_MARKER})",
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--cloud-db", default=None, help="cloud database URL (default: SQLite in the work dir)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        prepare_workdir(args.workdir)
    except WorkdirNotOurs as err:
        print(f"outpost-demo: {err}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_demo(args.workdir, args.duration, args.cloud_db))
    except KeyboardInterrupt:
        pass
    except Exception as err:  # top level of a CLI: print a clear message instead of a traceback
        log.debug("demo failed", exc_info=True)
        print(f"outpost-demo: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
