"""Garbage-collector settings for the long-running edge and cloud processes."""

from __future__ import annotations

import gc


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
