"""Fault: the snapshot volume fills up while a camera runs, then space comes back.

The snapshot folder is its own small tmpfs (we run as root; without the right to mount, the test is skipped with
that reason). While it is full, the camera keeps analysing and every detection is still journaled (the database
lives on another volume), with no reference to a snapshot that was never written; once space is freed, snapshots
are written again, without a restart.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.journal import JournalEntry
from tests.edge.site import site_config_dict
from tests.polling import eventually

pytestmark = pytest.mark.timeout(180)
VOLUME_SIZE = "2m"


@pytest.fixture
def snapshot_volume(tmp_path: Path) -> Iterator[Path]:
    """<data dir>/snapshots as a 2 MB tmpfs of its own."""
    folder = tmp_path / "edge" / "snapshots"
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={VOLUME_SIZE},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the snapshot volume: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(volume: Path) -> Path:
    """Write a filler file until the volume refuses more (ENOSPC); return it."""
    filler = volume / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    try:  # the last bytes that still fit
        with filler.open("ab") as out:
            while True:
                out.write(b"\0" * 512)
                out.flush()
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    return filler


def snapshots_named(entries: list[JournalEntry]) -> list[str]:
    return [e.payload["snapshot"] for e in entries if e.payload.get("snapshot")]


async def test_a_full_snapshot_volume_loses_no_detection_and_recovers(
    snapshot_volume: Path, vtest_path: Path, nanodet_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = EdgeConfig.model_validate(
        site_config_dict(
            snapshot_volume.parent,
            cameras=[{"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(vtest_path), "fps": 5}],
            vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
        )
    )
    assert config.storage.snapshot_dir == snapshot_volume
    caplog.set_level(logging.INFO, logger="edge.vision.pipeline")
    camera_dir = snapshot_volume / "plaza"
    runner = EdgeRunner(config)
    await runner.start()
    try:
        journal = runner.app[keys.JOURNAL]
        pipeline = runner.app[keys.CAMERAS]["plaza"]

        async def detections_after(mark: int) -> list[JournalEntry]:
            return [e for e in await journal.recent(500, "detection") if e.id > mark]

        async def first_snapshot() -> Any:
            return snapshots_named(await detections_after(0)) or None

        await eventually(first_snapshot, timeout_s=60)  # snapshots are written while there is room

        filler = fill(snapshot_volume)
        mark = max(e.id for e in await journal.recent(1, "detection"))
        frames = pipeline.status.frames_processed

        async def analysed_while_full() -> bool:
            new = await detections_after(mark)
            return len(new) >= 10 and pipeline.status.frames_processed >= frames + 25

        await eventually(analysed_while_full, timeout_s=90)
        refused = [r for r in caplog.records if "cannot save snapshots" in r.getMessage()]
        assert len(refused) == 1 and "No space left on device" in refused[0].getMessage()  # once, not per frame
        assert refused[0].exc_info is None  # an expected condition: no traceback
        full = await detections_after(mark)
        assert pipeline.status.state == "running" and pipeline.status.reconnects == 0
        assert {e.payload["kind"] for e in full} & {"count", "track_started", "track_ended", "line_crossed"}
        # No event names a snapshot that is not on the volume.
        for name in snapshots_named(full):
            assert (camera_dir / name).exists(), name
        assert os.statvfs(snapshot_volume).f_bavail * os.statvfs(snapshot_volume).f_frsize < 64 * 1024

        filler.unlink()  # space comes back
        back_mark = max(e.id for e in await journal.recent(1, "detection"))

        async def written_again() -> list[str] | None:
            names = [n for n in snapshots_named(await detections_after(back_mark)) if (camera_dir / n).exists()]
            return names or None

        assert await eventually(written_again, timeout_s=90)
        assert pipeline.status.state == "running" and pipeline.status.reconnects == 0
        assert any("snapshots are saved again" in r.getMessage() for r in caplog.records)
    finally:
        await runner.stop()
