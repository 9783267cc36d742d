"""glibc heap settings of the edge: freed video frames go back to the system (observability.heap).

Each case runs in a fresh interpreter (malloc settings are per process and partly fixed once threads start).
A hundred 768x576 frames are allocated between small long-lived objects, then freed: glibc's defaults keep
the frames' pages (its mmap threshold rises after the first frame is freed, so frames come from the heap and
the survivors pin it), `tune_native_heap` returns them at once, and `trim_native_heap` returns them later.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.paths import REPO

FRAME = 768 * 576 * 3
SCRIPT = textwrap.dedent(
    f"""
    import sys
    from observability.heap import trim_native_heap, tune_native_heap

    def rss_mb():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    if "tune" in sys.argv:
        assert tune_native_heap()
    first = bytearray({FRAME})
    del first
    base = rss_mb()
    frames, survivors = [], []
    for _ in range(100):
        frames.append(bytearray({FRAME}))
        survivors.append(bytearray(2000))
    peak = rss_mb()
    frames.clear()
    if "trim" in sys.argv:
        trim_native_heap()
    print(round(peak - base), round(rss_mb() - base))
    """
)


def held_after_free(*modes: str) -> tuple[int, int]:
    """(MB the frames took, MB still held after freeing them) in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *modes], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    peak, held = out.stdout.split()
    return int(peak), int(held)


def test_freed_frames_go_back_to_the_system() -> None:
    peak, held = held_after_free()
    assert peak >= 100 and held >= 100  # glibc's defaults: the pages stay with the process
    assert held_after_free("tune")[1] <= 5  # frames are mapped apart and unmapped when freed
    assert held_after_free("trim")[1] <= 5  # malloc_trim hands back the free pages inside the heap
