"""Helpers shared by the MQTT benches: paho clients, a private Mosquitto, a steady load, result output.

Benches print progress on stderr and ONE JSON object as the last line of stdout.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import platform
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker.directory import BrokerDirectory
from edge.broker.mosquitto import MOSQUITTO_BINARY, ManagedMosquitto

T = TypeVar("T")
_T0 = time.monotonic()
SPAWN = mp.get_context("spawn")  # children start clean: no inherited event loop, threads or sockets


def progress(message: str) -> None:
    """Print a progress line on stderr."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """Print the result as the last stdout line."""
    print(json.dumps(result, sort_keys=True), flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        mosquitto = subprocess.run(
            [str(MOSQUITTO_BINARY), "-h"], capture_output=True, text=True, timeout=5
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        mosquitto = "not found"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "amqtt": metadata.version("amqtt"),
        "paho_mqtt": metadata.version("paho-mqtt"),
        "mosquitto": mosquitto,
    }


def _cpu_seconds() -> tuple[float, float]:
    """(CPU seconds busy on the whole machine, CPU seconds of this process tree incl. reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    machine_busy = (user + nice + system + irq + softirq + steal) / tick
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            rest = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        stats[int(entry)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    tree, todo = {os.getpid()}, [os.getpid()]
    while todo:
        parent = todo.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                todo.append(pid)
    own = sum(stats[pid][1] for pid in tree if pid in stats) / tick
    return machine_busy, own


class CpuMeter:
    """Measures how much CPU other processes on the machine used during a block (noise in the numbers)."""

    def __enter__(self) -> CpuMeter:
        self._start = time.perf_counter()
        self._machine, self._own = _cpu_seconds()
        self.background_cores = 0.0
        self.own_cores = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        machine_busy, own = _cpu_seconds()
        self.own_cores = round((own - self._own) / elapsed, 2)
        self.background_cores = round(max(0.0, machine_busy - self._machine - (own - self._own)) / elapsed, 2)


class PahoClient:
    """A threaded paho MQTT 3.1.1 client with blocking connect/subscribe, for bench drivers."""

    def __init__(self, username: str, password: str, client_id: str | None = None) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or username, protocol=paho.MQTTv311)
        self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(1000)
        self._connack = threading.Event()
        self._suback = threading.Event()
        self._reason: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._suback.set()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._reason = reason
        self._connack.set()

    def connect(self, host: str, port: int, timeout_s: float = 15.0) -> None:
        """Connect and start the network thread; raise if refused or too slow."""
        self.client.connect(host, port, keepalive=60)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            # paho leaves Nagle on. A reader that PUBACKs a receipt and publishes its next badge within the
            # broker's delayed-ACK time (40 ms) would hold that badge until the ACK: real readers badge
            # seconds apart, the bench 20-60 ms apart, so without this the bench would time its own stall.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        if not self._connack.wait(timeout_s) or self._reason is None or self._reason.is_failure:
            self.close()
            raise RuntimeError(f"MQTT connect to {host}:{port} failed: {self._reason}")

    def subscribe(self, topic: str, qos: int = 1, timeout_s: float = 5.0) -> None:
        """Subscribe and wait for the SUBACK."""
        self._suback.clear()
        self.client.subscribe(topic, qos)
        if not self._suback.wait(timeout_s):
            raise RuntimeError(f"no SUBACK for {topic}")

    def on_message(self, handler: Callable[[str, bytes], None]) -> None:
        """Call `handler(topic, payload)` on the network thread for each message."""
        self.client.on_message = lambda _c, _u, m: handler(m.topic, bytes(m.payload))

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> paho.MQTTMessageInfo:
        """Queue a publish (returns at once)."""
        return self.client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


class BackgroundLoop:
    """An asyncio loop on its own thread, so threaded bench code can drive async components."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run `coro` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class PrivateMosquitto:
    """A private Mosquitto (the edge's own ManagedMosquitto) with the directory's accounts, on a free port."""

    def __init__(self, directory: BrokerDirectory, state_dir: Path) -> None:
        self._bg = BackgroundLoop()
        self.broker = ManagedMosquitto(directory, host="127.0.0.1", port=0, state_dir=state_dir, persistence=False)
        self.port = self.broker.port

    def __enter__(self) -> PrivateMosquitto:
        self._bg.run(self.broker.start())
        return self

    def __exit__(self, *_exc: object) -> None:
        self._bg.run(self.broker.stop())
        self._bg.close()


class EmbeddedBrokerProcess:
    """The embedded broker (Outpost auth + ACL) alone in its own process: `python -m edge.broker`."""

    def __init__(self, directory: BrokerDirectory, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._accounts = state_dir / "accounts.json"
        accounts = [
            {"username": u.username, "password_hash": u.password_hash, "publish": u.publish, "subscribe": u.subscribe}
            for u in directory.users.values()
        ]
        self._accounts.write_text(json.dumps(accounts))
        self._accounts.chmod(0o600)
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> EmbeddedBrokerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "edge.broker", "--accounts", str(self._accounts)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("listening on "):
            self._proc.kill()
            raise RuntimeError(f"embedded broker did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    @property
    def pid(self) -> int:
        """Process id of the broker."""
        assert self._proc is not None
        return self._proc.pid

    def __exit__(self, *_exc: object) -> None:
        assert self._proc is not None
        self._proc.terminate()
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def telemetry_payload(i: int) -> bytes:
    """A realistic sensor reading (validates against the Outpost codec)."""
    return json.dumps({"values": {"temperature_c": 20 + (i % 50) / 10, "humidity_pct": 45.0}}).encode()


def _load_main(
    host: str,
    port: int,
    accounts: list[tuple[str, str]],
    rate: float,
    qos: int,
    ready: Any,
    stop: Any,
    sent: Any,
) -> None:
    clients = []
    for username, password in accounts:
        client = PahoClient(username, password)
        client.connect(host, port)
        client.publish(f"outpost/{username}/status", b'{"state": "online"}', qos=1)
        clients.append((client, f"outpost/{username}/telemetry"))
    ready.set()
    start = time.perf_counter()
    i = 0
    while not stop.is_set():
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        client, topic = clients[i % len(clients)]
        client.publish(topic, telemetry_payload(i), qos=qos)
        i += 1
    sent.value = i
    for client, _ in clients:
        client.close()


class SteadyLoad:
    """Sensors publishing telemetry at a fixed total rate from a separate process (real load on the broker)."""

    def __init__(self, host: str, port: int, accounts: list[tuple[str, str]], rate: float, qos: int = 1) -> None:
        self._ready = SPAWN.Event()
        self._stop = SPAWN.Event()
        self._sent = SPAWN.Value("q", 0)
        self.rate = rate
        self._proc = SPAWN.Process(
            target=_load_main,
            args=(host, port, accounts, rate, qos, self._ready, self._stop, self._sent),
            name="bench-load",
            daemon=True,
        )
        self._started = 0.0
        self.achieved_rate = 0.0

    def __enter__(self) -> SteadyLoad:
        self._proc.start()
        if not self._ready.wait(60):
            self._proc.kill()
            raise RuntimeError("load generator did not connect")
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._proc.join(20)
        if self._proc.is_alive():
            self._proc.kill()
        elapsed = time.perf_counter() - self._started
        self.achieved_rate = self._sent.value / elapsed if elapsed > 0 else 0.0


def drain(q: queue.Queue[Any]) -> None:
    """Drop everything queued."""
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
