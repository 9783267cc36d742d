"""When a device's readings are worth a journal record: on a significant change, else once per interval.

Telemetry arrives often (a Zigbee sensor reports on every wiggle), so the journal keeps a sample per device per
`TELEMETRY_JOURNAL_INTERVAL_S`; but a reading that moved far enough since the last journaled one (a battery
dropping to 12 %, a lock jamming) is journaled at once, or it could be lost between samples.
"""

from __future__ import annotations

TELEMETRY_JOURNAL_INTERVAL_S = 60.0

# Absolute change that counts as significant, per reading; other readings use RELATIVE_CHANGE.
SIGNIFICANT_CHANGE: dict[str, float] = {
    "battery_pct": 5.0,
    "temperature_c": 1.0,
    "humidity_pct": 5.0,
    "linkquality": float("inf"),  # radio noise: sampled with the interval only
    # Flags (0/1): any flip.
    "locked": 0.5,
    "lock_jammed": 0.5,
    "battery_low": 0.5,
    "tamper": 0.5,
}
RELATIVE_CHANGE = 0.10
LOW_BATTERY_PCT = 20.0


def significant_changes(journaled: dict[str, float], current: dict[str, float]) -> list[str]:
    """The readings of `current` that differ significantly from the last journaled ones (new readings count)."""
    changed = []
    for key, value in current.items():
        old = journaled.get(key)
        if old is None:
            changed.append(key)
            continue
        threshold = SIGNIFICANT_CHANGE.get(key, RELATIVE_CHANGE * max(abs(old), 1.0))
        crossed_low = key == "battery_pct" and (old < LOW_BATTERY_PCT) != (value < LOW_BATTERY_PCT)
        if abs(value - old) >= threshold or crossed_low:
            changed.append(key)
    return changed
