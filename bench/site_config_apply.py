"""Applying HQ's site configuration document on the edge: first load, and a one-badge revoke (the time-to-effect
case), against the baseline of the same revoke as a full credential snapshot (every person rewritten).

    python -m bench.site_config_apply [--quick|--smoke] [--people N]

Real SQLite (WAL, synchronous=FULL) and the real access service (its in-memory credential index reloads after
each apply). Last stdout line: JSON with `people`, `first_apply_s`, `revoke_apply_s`, `full_snapshot_revoke_s`,
`revoke_speedup` (baseline / revoke) and `machine`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import emit, machine, progress
from edge.access.assembly import build_access
from edge.access.credentials import CredentialStore
from edge.access.pins import PinHasher
from edge.access.site_config import SiteConfigApplier
from edge.access.snapshot import CredentialSnapshot
from edge.config import EdgeConfig
from edge.devices.state import SiteState
from edge.storage.database import Database
from edge.storage.journal import Journal
from firmware_adapters.messages import Command
from sync.downlink import SiteConfigDocument


class _NoLocks:
    """Lock commands go nowhere (no door is operated in this bench)."""

    async def send(self, device_id: str, message: Command) -> None:
        return None

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        return None


def _config(data_dir: Path) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "site": {"id": "bench-site", "name": "Bench", "timezone": "Europe/Berlin"},
            "storage": {"data_dir": str(data_dir)},
            "zones": [{"id": "lobby", "name": "Lobby"}],
            "devices": [
                {"id": "reader-front", "kind": "reader", "zone": "lobby"},
                {"id": "lock-front", "kind": "lock", "zone": "lobby"},
            ],
            "doors": [
                {"id": "front", "name": "Front", "zone": "lobby", "lock": "lock-front", "readers": ["reader-front"]}
            ],
            "access": {"levels": {"staff": {"doors": ["front"]}}},
        }
    )


def _people(n: int, revoked: int | None) -> list[dict[str, Any]]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": f"p{i}",
            "name": f"Person {i}",
            "levels": ["staff"],
            "credentials": [{"number": f"9:{i}", "active": i != revoked}],
            "updated_at": at,
        }
        for i in range(n)
    ]


async def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="outpost-bench-") as tmp:
        results: dict[str, float] = {}
        for scenario in ("document", "full_snapshot"):
            config = _config(Path(tmp) / scenario)
            db = Database(config.storage.database_path)
            await db.migrate()
            try:
                journal = Journal(db)
                store = CredentialStore(db)
                _service, people = build_access(
                    config, db, store, journal, _NoLocks(), SiteState(config, journal), PinHasher(bytes(range(32)))
                )
                await _service.load()
                now = datetime.now(UTC)
                if scenario == "document":
                    applier = SiteConfigApplier(config, db, people, journal)
                    for version, key in ((1, "first_apply_s"), (2, "revoke_apply_s")):
                        doc = SiteConfigDocument.model_validate(
                            {
                                "site_id": "bench-site",
                                "version": version,
                                "issued_at": now,
                                "people": _people(n, 0 if version == 2 else None),
                            }
                        )
                        started = time.perf_counter()
                        outcome = await applier.apply(doc)
                        results[key] = time.perf_counter() - started
                        assert outcome.applied, outcome.reason
                        progress(f"document v{version} ({n} people): {results[key]:.2f} s")
                else:
                    for version in (1, 2):
                        snapshot = CredentialSnapshot.model_validate(
                            {
                                "version": version,
                                "kind": "full",
                                "people": [
                                    {k: v for k, v in p.items() if k != "updated_at"}
                                    for p in _people(n, 0 if version == 2 else None)
                                ],
                            }
                        )
                        started = time.perf_counter()
                        await people.apply_credential_snapshot(snapshot)
                        elapsed = time.perf_counter() - started
                        progress(f"full snapshot v{version} ({n} people): {elapsed:.2f} s")
                    results["full_snapshot_revoke_s"] = elapsed
                record = await store.lookup("9:0")
                assert record is not None and record.active is False, "the revoke was not applied"
            finally:
                await db.close()
    return {
        "people": n,
        **{k: round(v, 3) for k, v in results.items()},
        "revoke_speedup": round(results["full_snapshot_revoke_s"] / results["revoke_apply_s"], 1),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="2,000 people")
    size.add_argument("--smoke", action="store_true", help="50 people (correctness only)")
    size.add_argument("--people", type=int, default=10_000, help="people in the document (default 10,000)")
    args = parser.parse_args()
    n = 50 if args.smoke else 2_000 if args.quick else args.people
    emit(asyncio.run(run(n)))


if __name__ == "__main__":
    main()
