"""The gate log, as pure functions: plate reads at vehicle gates -> arrivals, departures and visits.

No database here (cloud/fleet/gatelog_load.py loads the reads). Rules (docs/FLEET_HR.md): a read at a gate marked
`in` is an arrival and at a gate marked `out` a departure; at a gate marked `both` (or not marked) it is an
arrival when the vehicle is not on that site by the log so far, else a departure. The same plate read again at
the same site within `REPEAT` is the same passage and is dropped. A visit pairs an arrival with the next
departure at the same site; its time on site is the time between them. A departure without an arrival (the
arrival was before the period read, or missed) and an arrival without a departure (still on site, or missed)
are kept with the other end empty, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from cloud.fleet.plates import MatchKind, match_plate

GateDirection = Literal["in", "out", "both"]
Movement = Literal["arrival", "departure"]

REPEAT = timedelta(minutes=2)


@dataclass(frozen=True)
class PlateRead:
    """One synced ``plate_decision``: where, when, what the camera read, and whether the gate opened."""

    site_id: str
    door_id: str
    at: datetime
    plate: str
    confidence: float
    granted: bool
    seq: int = 0


@dataclass(frozen=True)
class GateEvent:
    """A read placed in the log: the vehicle it matched (if any), how, and whether it arrived or left."""

    read: PlateRead
    vehicle_id: str | None
    plate: str | None
    match: MatchKind
    match_confidence: float
    movement: Movement
    candidates: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Who moved: the vehicle, or the plate as read for a plate not matched to one."""
        return self.vehicle_id or f"plate:{self.read.plate}"


@dataclass
class Visit:
    """A vehicle (or unmatched plate) on a site from an arrival to a departure (either may be missing)."""

    key: str
    vehicle_id: str | None
    plate: str
    site_id: str
    arrived: datetime | None
    departed: datetime | None = None
    reads: list[GateEvent] = field(default_factory=list)

    @property
    def started(self) -> datetime:
        """The first known end of the visit (its arrival, else its departure)."""
        return self.reads[0].read.at

    @property
    def minutes(self) -> int | None:
        """Whole minutes on site, when both ends are known."""
        if self.arrived is None or self.departed is None:
            return None
        return int((self.departed - self.arrived).total_seconds() // 60)


@dataclass(frozen=True)
class GateLog:
    events: list[GateEvent]
    visits: list[Visit]


def build_log(
    reads: Iterable[PlateRead],
    vehicles: Mapping[str, str],
    gates: Mapping[tuple[str, str], GateDirection],
) -> GateLog:
    """Place every read (in time order) and pair them into visits. `vehicles`: plate -> vehicle id."""
    events: list[GateEvent] = []
    visits: list[Visit] = []
    open_visits: dict[tuple[str, str], Visit] = {}
    last_seen: dict[tuple[str, str], datetime] = {}
    for read in sorted(reads, key=lambda r: (r.at, r.site_id, r.seq)):
        found = match_plate(read.plate, vehicles)
        vehicle_id = vehicles[found.plate] if found.plate is not None else None
        key = vehicle_id or f"plate:{read.plate}"
        where = (key, read.site_id)
        previous = last_seen.get(where)
        last_seen[where] = read.at
        if previous is not None and read.at - previous < REPEAT:
            continue
        direction = gates.get((read.site_id, read.door_id), "both")
        if direction == "both":
            movement: Movement = "departure" if where in open_visits else "arrival"
        else:
            movement = "arrival" if direction == "in" else "departure"
        event = GateEvent(read, vehicle_id, found.plate, found.kind, found.confidence, movement, found.candidates)
        events.append(event)
        current = open_visits.pop(where, None)
        if movement == "arrival":
            if current is not None:
                visits.append(current)  # the departure in between was missed: left open
            visit = Visit(key, vehicle_id, found.plate or read.plate, read.site_id, read.at, reads=[event])
            open_visits[where] = visit
        else:
            if current is None:
                current = Visit(key, vehicle_id, found.plate or read.plate, read.site_id, None)
            current.departed = read.at
            current.reads.append(event)
            visits.append(current)
    visits.extend(open_visits.values())
    visits.sort(key=lambda v: (v.started, v.key))
    return GateLog(events, visits)


def trips(log: GateLog, since: Mapping[str, datetime | None]) -> dict[str, int]:
    """Gate trips per vehicle: its arrivals at any site after `since[vehicle]` (all when None or absent)."""
    counts: dict[str, int] = {}
    for event in log.events:
        if event.vehicle_id is None or event.movement != "arrival":
            continue
        start = since.get(event.vehicle_id)
        if start is None or event.read.at >= start:
            counts[event.vehicle_id] = counts.get(event.vehicle_id, 0) + 1
    return counts
