"""Keep snapshot and clip folders within an age limit and a disk budget.

`enforce` walks a folder once with os.scandir, deletes files older than the age limit, then the oldest
remaining files until the total fits the byte budget, and removes folders left empty. `latest.jpg` is
never deleted (the console serves it), nor is a hidden in-progress file (`.name.tmp`, a clip being
written) younger than IN_PROGRESS_GRACE_S. It is blocking: run it in an executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger(__name__)

PROTECTED_NAMES = frozenset({"latest.jpg"})
# Writers put hidden temporary files beside their targets and rename them when complete; one this young
# may still be open, and deleting it would make the writer's final rename fail.
IN_PROGRESS_GRACE_S = 600.0
# An empty folder this recent may just have been created by a writer about to fill it.
EMPTY_DIR_GRACE_S = 600.0
DEFAULT_INTERVAL_S = 300.0


class RetentionPolicy(BaseModel):
    """How long and how much snapshot/clip data to keep."""

    model_config = ConfigDict(extra="forbid")

    max_age_days: float | None = Field(
        default=30.0, gt=0.0, description="Delete files older than this many days; None keeps them by age."
    )
    max_bytes: int | None = Field(
        default=None,
        gt=0,
        description="Delete the oldest files until the folder holds at most this many bytes; None: no budget.",
    )

    @model_validator(mode="after")
    def _check_some_limit(self) -> RetentionPolicy:
        if self.max_age_days is None and self.max_bytes is None:
            raise ValueError("set max_age_days, max_bytes or both; with neither nothing would ever be deleted")
        return self


@dataclass(slots=True)
class RetentionReport:
    """What one enforcement pass found and did."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    files_deleted: int = 0
    bytes_freed: int = 0
    dirs_removed: int = 0
    errors: int = 0
    deleted_by_age: int = 0
    deleted_by_budget: int = 0
    over_budget: bool = False  # still above max_bytes (protected or in-progress files fill it)
    deleted: list[Path] = field(default_factory=list)

    @property
    def bytes_kept(self) -> int:
        """Return the bytes left under the root."""
        return self.bytes_scanned - self.bytes_freed


@dataclass(slots=True)
class _File:
    path: str
    mtime: float
    size: int
    parent: str
    deletable: bool


def enforce(root: Path, policy: RetentionPolicy, now: datetime) -> RetentionReport:
    """Apply the policy to every file under root; return what was deleted. A missing root is empty."""
    report = RetentionReport()
    now_ts = now.timestamp()
    files, dirs = _scan(Path(root), now_ts, report)
    report.files_scanned = len(files)
    report.bytes_scanned = sum(f.size for f in files)

    files.sort(key=lambda f: f.mtime)  # oldest first
    remaining = report.bytes_scanned
    emptied: set[str] = set()
    cutoff = now_ts - policy.max_age_days * 86400.0 if policy.max_age_days is not None else None
    for f in files:
        if not f.deletable:
            continue
        too_old = cutoff is not None and f.mtime < cutoff
        over = policy.max_bytes is not None and remaining > policy.max_bytes
        if not too_old and not over:
            break  # oldest first: every later file is younger, and the total only shrinks
        if _unlink(f.path, report):
            remaining -= f.size
            report.files_deleted += 1
            report.bytes_freed += f.size
            report.deleted.append(Path(f.path))
            emptied.add(f.parent)
            if too_old:
                report.deleted_by_age += 1
            else:
                report.deleted_by_budget += 1
    report.over_budget = policy.max_bytes is not None and remaining > policy.max_bytes
    _remove_empty_dirs(dirs, emptied, now_ts, report)
    if report.files_deleted or report.errors:
        log.info(
            "retention %s: deleted %d files (%d by age, %d by budget), freed %d bytes, %d bytes kept, %d errors",
            root,
            report.files_deleted,
            report.deleted_by_age,
            report.deleted_by_budget,
            report.bytes_freed,
            report.bytes_kept,
            report.errors,
        )
    return report


def _scan(root: Path, now_ts: float, report: RetentionReport) -> tuple[list[_File], list[tuple[str, float]]]:
    """Walk root once; return its files and its sub-folders (deepest first) with their mtimes."""
    files: list[_File] = []
    dirs: list[tuple[str, float]] = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            dirs.append((entry.path, entry.stat(follow_symlinks=False).st_mtime))
                        elif entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            in_progress = entry.name.startswith(".") and now_ts - st.st_mtime < IN_PROGRESS_GRACE_S
                            deletable = entry.name not in PROTECTED_NAMES and not in_progress
                            files.append(_File(entry.path, st.st_mtime, st.st_size, folder, deletable))
                    except FileNotFoundError:
                        continue  # removed by its writer between listing and stat
        except FileNotFoundError:
            continue  # the root does not exist yet, or a folder vanished mid-walk
        except OSError as err:
            report.errors += 1
            log.warning("retention: cannot list %s: %s", folder, err)
    # Deeper paths first, so a parent is considered after its children are gone.
    dirs.sort(key=lambda d: d[0].count(os.sep), reverse=True)
    return files, dirs


def _unlink(path: str, report: RetentionReport) -> bool:
    """Delete one file; count a failure instead of raising."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False  # already gone: someone else freed it
    except OSError as err:
        report.errors += 1
        log.warning("retention: cannot delete %s: %s", path, err)
        return False
    return True


def _remove_empty_dirs(
    dirs: Sequence[tuple[str, float]], emptied: set[str], now_ts: float, report: RetentionReport
) -> None:
    """Remove sub-folders that are empty now, if this pass emptied them or they are not freshly made."""
    for path, mtime in dirs:
        if path not in emptied and now_ts - mtime < EMPTY_DIR_GRACE_S:
            continue
        try:
            os.rmdir(path)  # fails unless empty, which is the check we want (no race with a writer)
        except OSError:
            continue
        report.dirs_removed += 1
        emptied.add(os.path.dirname(path))


class RetentionSweeper:
    """Run `enforce` on a few folders every `interval_s` in an executor; one owned task.

    `start()` creates the task, `stop()` cancels it and waits for it. A failing pass is logged and
    retried at the next interval.
    """

    def __init__(
        self,
        roots: Sequence[Path],
        policy: RetentionPolicy,
        interval_s: float = DEFAULT_INTERVAL_S,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.roots = list(roots)
        self.policy = policy
        self.interval_s = interval_s
        self._executor = executor
        self._task: asyncio.Task[None] | None = None
        self.last_reports: dict[Path, RetentionReport] = {}
        self.passes = 0

    async def start(self) -> None:
        """Start sweeping (the first pass runs at once); a no-op if already running."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="retention-sweeper")

    async def stop(self) -> None:
        """Cancel the sweeping task and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def sweep_once(self) -> dict[Path, RetentionReport]:
        """Enforce the policy on every root now (in the executor) and return the reports."""
        loop = asyncio.get_running_loop()
        reports: dict[Path, RetentionReport] = {}
        for root in self.roots:
            now = datetime.now().astimezone()
            reports[root] = await loop.run_in_executor(self._executor, enforce, root, self.policy, now)
        self.last_reports = reports
        self.passes += 1
        return reports

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                # Supervision point: a bug or a full disk in one pass must not end retention for good.
                log.exception("retention pass failed; retrying in %.0f s", self.interval_s)
            await asyncio.sleep(self.interval_s)
