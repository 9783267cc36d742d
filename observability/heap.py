"""Heap settings for the long-running edge and cloud processes: Python's GC and glibc's malloc."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from functools import cache

log = logging.getLogger(__name__)

# mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENA_MAX = 2
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept: a 768x576 frame (1.3 MB) is unmapped when freed


def freeze_startup_heap() -> None:
    """Collect start-up garbage, then move every surviving object to the GC's permanent generation.

    Call once per process, after start. Otherwise each full (generation 2) collection traverses every module,
    config, ORM and broker object: on the edge ~35-40 ms on the 2-core box, about once a minute under device
    load, stalling whatever badge read was in flight; in the cloud, a sync batch of 2,000 records allocates
    enough (validated records, rows, statement parameters) to run several, a large share of ingest CPU
    (docs/PERFORMANCE.md). Objects created later are collected as before.
    """
    gc.collect()
    gc.freeze()


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (mallopt and malloc_trim exist), else None (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def tune_native_heap() -> bool:
    """Keep glibc's heap small in a process that decodes video on several threads; return whether it applied.

    Call first thing, before threads start. Two malloc arenas instead of up to 8 per core (each capture,
    executor and onnxruntime thread would otherwise grow its own, ~40 MB on four cameras), and a fixed mmap
    threshold: without one glibc raises it after the first frame is freed, after which frames come from the
    heap and their pages stay with the process. Measured in docs/PERFORMANCE.md (soak).
    """
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_ARENA_MAX, ARENA_MAX) == 1
    ok &= libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(ok)


def trim_native_heap() -> bool:
    """Give free pages inside glibc's heap back to the system (malloc_trim); return whether any were."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def trim_native_heap_every(interval_s: float) -> None:
    """Trim glibc's heap every `interval_s` (in the default executor; ~0.2 ms, the first ~6 ms) until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval_s)
        await loop.run_in_executor(None, trim_native_heap)
