"""Messages/s through the embedded broker (Outpost auth + ACL on), alone and inside the running edge, beside Mosquitto.

N publisher processes (each one paho client, a device account publishing 100-byte payloads to its own
`outpost/<id>/telemetry` as fast as it can) -> 1 subscriber process on `outpost/+/telemetry`. Brokers:

- `outpost`: the embedded broker alone in its own process (`python -m edge.broker`, amqtt with Outpost's
  plugins); the subscriber is the site core's account.
- `edge`: the same broker inside a running edge app (`EdgeRunner`, its own process): the site core's adapters are
  in-process subscribers too and decode, validate and track every message on the broker's event loop; the
  measuring subscriber is an `mqtt.accounts` account.
- `mosquitto`: a private `mosquitto` with the password/ACL files the edge generates from the same accounts.

The rate is messages received by the subscriber / (last arrival - first arrival); `lost` = sent - received
(QoS 0 may drop; QoS 1 must not). For `edge`, `core_lost` = sent - what the site core's adapters took in: past
its bounded intake queue the core sheds load (counted and logged), which the broker's subscriber does not see.

    .venv/bin/python -m bench.broker_throughput [--quick | --smoke] [--publishers 4] [--messages 25000]

Progress goes to stderr; the last stdout line is one JSON object (outpost_msgs_per_s, mosquitto_msgs_per_s
for QoS 0, edge_msgs_per_s, <broker>_qos<q>_lost, edge_qos<q>_core_lost, and a per-QoS breakdown).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench._common import (
    SPAWN,
    CpuMeter,
    EmbeddedBrokerProcess,
    PahoClient,
    PrivateMosquitto,
    emit,
    machine,
    progress,
)
from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.broker.passwords import HashScheme, hash_password
from firmware_adapters.outpost_mqtt.adapter import OutpostMqttAdapter

PAYLOAD = b'{"values":{"temperature_c":21.4}}'.ljust(100, b" ")  # 100 bytes, valid JSON
BROKERS = ("outpost", "edge", "mosquitto")
SUBSCRIBERS = {"outpost": ("core", "core-pw"), "mosquitto": ("core", "core-pw"), "edge": ("bench-sub", "bench-sub-pw")}


def directory_for(publishers: int, scheme: HashScheme) -> BrokerDirectory:
    """Device accounts for the publishers and the site core's account, with production ACLs."""
    directory = BrokerDirectory(password_scheme=scheme)
    for i in range(publishers):
        device = f"pub-{i:02d}"
        publish, subscribe = OutpostMqttAdapter.device_acl(device, None)
        directory.add(BrokerUser(device, hash_password(f"{device}-pw", scheme), publish, subscribe))
    publish, subscribe = OutpostMqttAdapter.broker_acl({})
    directory.add(BrokerUser("core", hash_password("core-pw", scheme), publish, subscribe))
    return directory


def edge_config(publishers: int, data_dir: Path) -> dict[str, Any]:
    """An edge site whose sensors are the publishers, plus an account for the measuring subscriber."""
    username, password = SUBSCRIBERS["edge"]
    subscriber = {"username": username, "password_hash": hash_password(password), "subscribe": ["outpost/+/telemetry"]}
    return {
        "site": {"id": "bench-site", "name": "Bench site", "timezone": "UTC"},
        "storage": {"data_dir": str(data_dir)},
        "mqtt": {"host": "127.0.0.1", "port": 0, "accounts": [subscriber]},
        "web": {"host": "127.0.0.1", "port": 0},
        "zones": [{"id": "lobby", "name": "Lobby"}],
        "devices": [
            {"id": f"pub-{i:02d}", "kind": "sensor", "zone": "lobby", "password_hash": hash_password(f"pub-{i:02d}-pw")}
            for i in range(publishers)
        ],
    }


def _edge_main(config_data: dict[str, Any], conn: Any) -> None:
    logging.basicConfig(level=logging.ERROR)  # the core's overload warnings are counted (core_lost) instead
    asyncio.run(_edge_async(config_data, conn))


async def _edge_async(config_data: dict[str, Any], conn: Any) -> None:
    from edge import keys
    from edge.app import EdgeRunner
    from edge.config import EdgeConfig

    runner = EdgeRunner(EdgeConfig.model_validate(config_data))
    await runner.start()
    conn.send(runner.mqtt_port)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, conn.recv) == "received":
        gateway = runner.app[keys.GATEWAY]
        # The core's intake queue may still drain after the subscriber's last arrival: wait until it settles.
        last = -1
        while (now := gateway.stats()["received"]) != last:
            last = now
            await asyncio.sleep(0.5)
        conn.send(now)
    await runner.stop()
    conn.send("stopped")


class EdgeSite:
    """A running edge app (`EdgeRunner`) in its own process; tells how many messages its site core took in."""

    def __init__(self, config_data: dict[str, Any]) -> None:
        self._conn, child = SPAWN.Pipe()
        self._proc = SPAWN.Process(target=_edge_main, args=(config_data, child), name="bench-edge")
        self.port = 0

    def __enter__(self) -> EdgeSite:
        self._proc.start()
        if not self._conn.poll(120):
            self._proc.kill()
            raise RuntimeError("edge app did not start within 120 s")
        self.port = self._conn.recv()
        return self

    def core_received(self) -> int:
        """Messages the site core's adapters have received so far (once the count stops moving)."""
        self._conn.send("received")
        if not self._conn.poll(120):
            raise RuntimeError("edge app did not answer")
        return int(self._conn.recv())

    def __exit__(self, *_exc: object) -> None:
        self._conn.send("stop")
        if self._conn.poll(30):
            self._conn.recv()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def _subscriber_main(port: int, account: tuple[str, str], qos: int, expected: int, ready: Any, result: Any) -> None:
    state: dict[str, float] = {"n": 0, "first": 0.0, "last": 0.0}

    def on_message(_topic: str, _payload: bytes) -> None:
        now = time.perf_counter()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now

    client = PahoClient(*account)
    client.on_message(on_message)
    client.connect("127.0.0.1", port)
    client.subscribe("outpost/+/telemetry", qos=qos)
    ready.set()
    idle_since = time.perf_counter()
    seen: float = 0
    while state["n"] < expected:
        time.sleep(0.05)
        if state["n"] != seen:
            seen, idle_since = state["n"], time.perf_counter()
        elif time.perf_counter() - idle_since > (3.0 if seen else 60.0):
            break  # QoS 0 may lose messages; stop after a quiet spell
    client.close()
    result.put((int(state["n"]), state["first"], state["last"]))


def _publisher_main(port: int, device: str, qos: int, count: int, ready: Any, go: Any, finish: Any) -> None:
    client = PahoClient(device, f"{device}-pw")
    client.connect("127.0.0.1", port)
    ready.release()
    go.wait()
    topic = f"outpost/{device}/telemetry"
    info = None
    for _ in range(count):
        info = client.publish(topic, PAYLOAD, qos=qos)
    if info is not None:
        info.wait_for_publish(300)  # QoS 0: handed to the socket; QoS 1: acknowledged by the broker
    finish.wait(600)  # stay connected until the subscriber is done (a disconnect could drop queued QoS 0)
    client.close()


def run_case(port: int, publishers: int, messages: int, qos: int, account: tuple[str, str]) -> dict[str, Any]:
    """One measurement: start the subscriber, then all publishers at once."""
    expected = publishers * messages
    sub_ready, result = SPAWN.Event(), SPAWN.Queue()
    sub = SPAWN.Process(target=_subscriber_main, args=(port, account, qos, expected, sub_ready, result))
    sub.start()
    if not sub_ready.wait(60):
        sub.kill()
        raise RuntimeError("subscriber did not connect")
    ready, go, finish = SPAWN.Semaphore(0), SPAWN.Event(), SPAWN.Event()
    pubs = [
        SPAWN.Process(target=_publisher_main, args=(port, f"pub-{i:02d}", qos, messages, ready, go, finish))
        for i in range(publishers)
    ]
    for proc in pubs:
        proc.start()
    for _ in pubs:
        if not ready.acquire(timeout=60):
            raise RuntimeError("a publisher did not connect")
    go.set()
    received, first, last = result.get(timeout=600)
    finish.set()
    for proc in pubs:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    sub.join(10)
    span = last - first
    rate = received / span if span > 0 else 0.0
    return {
        "msgs_per_s": round(rate),
        "received": received,
        "sent": expected,
        "lost": max(0, expected - received),
        "seconds": round(span, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run every broker x QoS and print the JSON result."""
    parser = argparse.ArgumentParser(prog="python -m bench.broker_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", type=int, default=4, help="publisher processes")
    parser.add_argument("--messages", type=int, default=25000, help="messages per publisher per case")
    parser.add_argument("--qos", default="0,1", help="comma list of QoS levels")
    parser.add_argument("--brokers", default=",".join(BROKERS), help=f"comma list of {BROKERS}")
    parser.add_argument("--quick", action="store_true", help="5000 messages per publisher")
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests (a few seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = 5000
    if args.smoke:
        args.publishers, args.messages = 2, 300
    qos_levels = [int(q) for q in args.qos.split(",")]
    brokers = [b for b in args.brokers.split(",") if b]
    tmp = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for broker in brokers:
            scheme: HashScheme = "argon2" if broker == "outpost" else "mosquitto"
            directory = directory_for(args.publishers, scheme)
            with ExitStack() as stack:
                site: EdgeSite | None = None
                if broker == "outpost":
                    port = stack.enter_context(EmbeddedBrokerProcess(directory, tmp / broker)).port
                elif broker == "edge":
                    site = stack.enter_context(EdgeSite(edge_config(args.publishers, tmp / broker)))
                    port = site.port
                else:
                    port = stack.enter_context(PrivateMosquitto(directory, tmp / broker)).port
                for qos in qos_levels:
                    progress(f"{broker} QoS {qos}: {args.publishers} publishers x {args.messages} messages")
                    core_before = site.core_received() if site is not None else 0
                    with CpuMeter() as cpu:
                        case = run_case(port, args.publishers, args.messages, qos, SUBSCRIBERS[broker])
                    case["background_cpu_cores"] = cpu.background_cores
                    if site is not None:  # what the site core itself took in (it sheds load past its queue)
                        case["core_received"] = site.core_received() - core_before
                        case["core_lost"] = max(0, case["sent"] - case["core_received"])
                    progress(f"{broker} QoS {qos}: {case}")
                    results.setdefault(broker, {})[f"qos{qos}"] = case
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    headline = f"qos{qos_levels[0]}"
    out: dict[str, Any] = {
        "bench": "broker_throughput",
        "publishers": args.publishers,
        "messages_per_publisher": args.messages,
        "payload_bytes": len(PAYLOAD),
        "headline_qos": qos_levels[0],
        "results": results,
        "machine": machine(),
    }
    for broker in brokers:
        out[f"{broker}_msgs_per_s"] = results[broker][headline]["msgs_per_s"]
        for qos in qos_levels:
            out[f"{broker}_qos{qos}_msgs_per_s"] = results[broker][f"qos{qos}"]["msgs_per_s"]
            out[f"{broker}_qos{qos}_lost"] = results[broker][f"qos{qos}"]["lost"]
            if "core_lost" in results[broker][f"qos{qos}"]:
                out[f"{broker}_qos{qos}_core_lost"] = results[broker][f"qos{qos}"]["core_lost"]
    if "outpost" in results and "mosquitto" in results and out["mosquitto_msgs_per_s"]:
        out["ratio"] = round(out["outpost_msgs_per_s"] / out["mosquitto_msgs_per_s"], 3)
    if "outpost" in results and "edge" in results and out["outpost_msgs_per_s"]:
        out["edge_vs_alone"] = round(out["edge_msgs_per_s"] / out["outpost_msgs_per_s"], 3)
    emit(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
