"""Two-person rule: a door opens only after two distinct authorised badges within a time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TwoPersonResult:
    """Outcome of offering one authorised badge to the rule."""

    complete: bool
    companion: int | None = None  # the person whose badge came first, when complete


class TwoPersonRule:
    """Pending first badges per door; pure apart from its own memory, time is passed in."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, datetime]] = {}

    def offer(self, door_id: str, person_id: int, now: datetime, window: timedelta) -> TwoPersonResult:
        """Offer an authorised badge; complete if a different person badged within `window` before."""
        first = self._first.get(door_id)
        if first is not None and first[0] != person_id and now - first[1] <= window:
            del self._first[door_id]
            return TwoPersonResult(True, first[0])
        self._first[door_id] = (person_id, now)
        return TwoPersonResult(False)

    def pending(self, door_id: str, now: datetime, window: timedelta) -> int | None:
        """Return the person waiting for a second badge at `door_id`, if still within `window`."""
        first = self._first.get(door_id)
        if first is None or now - first[1] > window:
            return None
        return first[0]
