"""Seeded chaos during a catch-up: kill -9 the edge and the cloud, pause the cloud mid-batch, restart.

Real processes: `outpost-edge` (python -m edge.cli) and `outpost-cloud serve` (python -m cloud serve) on free
loopback ports, a real SQLite edge database holding a day's backlog, and a SQLite cloud database. At the end
the cloud holds every journaled event exactly once (the edge outbox's seqs, each once, with the same journal
ids) and the edge database passes `PRAGMA integrity_check`.

Bounded by default (OUTPOST_CHAOS_ROUNDS=6 rounds, a minute or two); longer runs:
    OUTPOST_CHAOS_ROUNDS=50 OUTPOST_CHAOS_SEED=7 pytest tests/sync/test_sync_chaos.py
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from bench._cloudproc import CloudProcess, enroll, free_port, fresh_database, issue_codes
from bench.sync_catchup import fill_outbox
from tests.edge.site import site_config_dict
from tests.paths import REPO
from tests.polling import eventually

ROUNDS = int(os.environ.get("OUTPOST_CHAOS_ROUNDS", "6"))
SEED = int(os.environ.get("OUTPOST_CHAOS_SEED", "20261206"))
BACKLOG = int(os.environ.get("OUTPOST_CHAOS_EVENTS", "40000"))

pytestmark = pytest.mark.timeout(240 + 30 * max(0, ROUNDS - 6))


class EdgeProcess:
    """`outpost-edge` as a child process, output to a log file; restartable on the same data directory."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; a Popen is what we signal
                [sys.executable, "-m", "edge.cli", "--config", str(self.config_path)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return re.search(rb"mqtt port \d+", log.read()) is not None

        await eventually(ready, timeout_s=60, interval_s=0.1)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        self.proc = None

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        code = await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 60)
        self.proc = None
        return code

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def edge_outbox(path: Path) -> tuple[dict[int, int], int]:
    """({seq: journal_id} of every outbox row, rows not yet acknowledged)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, json_extract(payload, '$.journal_id') FROM outbox").fetchall()
        waiting = conn.execute("SELECT count(*) FROM outbox WHERE acked = 0").fetchone()[0]
    return dict(rows), int(waiting)


def cloud_records(path: Path, site_id: str) -> list[tuple[int, int]]:
    """[(seq, journal_id)] the cloud stored for the site (read-only, beside the running server)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("SELECT seq, payload FROM records WHERE site_id = ?", (site_id,)).fetchall()
    return [(seq, json.loads(payload).get("journal_id")) for seq, payload in rows]


async def test_catch_up_survives_kills_and_pauses(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "edge"
    data_dir.mkdir()
    edge_db = data_dir / "edge.db"
    await asyncio.to_thread(lambda: asyncio.run(fill_outbox(edge_db, BACKLOG)))  # a day offline

    async with fresh_database("sqlite", tmp_path) as url:
        cloud_db = Path(url.split("///", 1)[1])
        code = (await issue_codes(url, 1))[0]
        port = free_port()
        cloud = CloudProcess(f"http://127.0.0.1:{port}", url, tmp_path / "cloud", port, tmp_path / "cloud.log")
        cloud.workdir.mkdir()
        await cloud.start()
        try:
            site = await enroll(cloud.base, code, "chaos-box")
            secret_file = tmp_path / "site-secret"
            secret_file.write_text(site.secret)
            secret_file.chmod(0o600)
            config = site_config_dict(data_dir)
            config["site"]["id"] = site.site_id
            config["cloud"] = {
                "url": cloud.base,
                "secret_file": str(secret_file),
                "sync_interval_s": 0.2,
                "max_backoff_s": 2.0,
                "batch_size": 200,  # more batches in flight to be cut
            }
            config_path = tmp_path / "edge.toml"
            config_path.write_text(tomli_w.dumps(config))
            config_path.chmod(0o600)
            edge = EdgeProcess(config_path, tmp_path / "edge.log")
            await edge.start()

            actions = []
            for round_no in range(ROUNDS):
                action = rng.choice(["kill_edge", "kill_cloud", "pause_cloud", "kill_both"])
                delay = rng.uniform(0.2, 2.5)
                actions.append((action, round(delay, 2)))
                await asyncio.sleep(delay)  # a random point of the catch-up (chaos timing, not synchronisation)
                if action in ("kill_edge", "kill_both"):
                    await edge.kill()
                if action in ("kill_cloud", "kill_both"):
                    await cloud.kill()
                if action == "pause_cloud":
                    cloud.signal(signal.SIGSTOP)  # mid-batch: requests hang until the edge's timeout or SIGCONT
                    await asyncio.sleep(rng.uniform(0.5, 3.0))
                    cloud.signal(signal.SIGCONT)
                if cloud.proc is None:
                    await cloud.start()
                if edge.proc is None:
                    await edge.start()
                delivered = len(cloud_records(cloud_db, site.site_id))
                print(f"round {round_no}: {action} after {delay:.2f}s; cloud holds {delivered}", file=sys.stderr)

            async def caught_up() -> bool:
                journaled, waiting = edge_outbox(edge_db)
                return waiting == 0 and len(cloud_records(cloud_db, site.site_id)) >= len(journaled)

            try:
                await eventually(caught_up, timeout_s=150, interval_s=0.5)
            except TimeoutError:
                pytest.fail(f"no catch-up after {actions}; edge log:\n{edge.tail()}")
            assert await edge.stop() == 0, edge.tail()
        finally:
            await edge.kill()
            await cloud.stop()

        journaled, waiting = edge_outbox(edge_db)
        stored = cloud_records(cloud_db, site.site_id)
        with sqlite3.connect(edge_db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            quarantined = conn.execute("SELECT count(*) FROM outbox_quarantine").fetchone()[0]
    assert waiting == 0 and quarantined == 0
    assert len(journaled) >= BACKLOG
    # Every journaled event exactly once: the same seqs, none twice, each with its own journal row.
    assert len(stored) == len({seq for seq, _ in stored}) == len(journaled), actions
    assert dict(stored) == journaled
