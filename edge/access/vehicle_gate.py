"""Vehicle gates: plate reads from a gate door's camera, confirmed over several frames, decided like badges.

A door with `vehicle_gate = true` and a `camera` takes the plates that camera reads (`read_plates`). A read counts
when its OCR confidence reaches `access.plate_gate.min_confidence`; a plate is confirmed once `min_reads` counting
reads of the same text fall within `window_s`. A confirmed plate goes to `AccessService.on_plate` (the badge
decision with the vehicle's levels; unknown plates are logged and may raise ``unknown_plate``); the same plate at
the same gate is not decided again for `repeat_s`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from edge.access.decision import Decision
from edge.config import DoorConfig
from edge.config.access import PlateGateConfig

log = logging.getLogger(__name__)


class PlateDecider(Protocol):
    """What decides on a confirmed plate (the access service)."""

    async def on_plate(self, door_id: str, plate: str, confidence: float, reads: int, at: datetime) -> Decision:
        """Decide, audit and (if granted) open."""


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A plate read on enough frames: its text, best confidence, number of reads and the last read's time."""

    plate: str
    confidence: float
    reads: int
    at: datetime


@dataclass(slots=True)
class PlateVotes:
    """One gate's recent counting reads per plate text (pure; times are datetimes)."""

    config: PlateGateConfig
    reads: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    decided: dict[str, float] = field(default_factory=dict)

    def add(self, text: str, confidence: float, at: datetime) -> Confirmed | None:
        """Count one read; return the plate when this read confirms it (once per `repeat_s`)."""
        if confidence < self.config.min_confidence:
            return None
        ts = at.timestamp()
        horizon = ts - self.config.window_s
        for key in list(self.reads):
            kept = self.reads[key]
            while kept and kept[0][0] < horizon:
                kept.popleft()
            if not kept:
                del self.reads[key]
        for key, decided_at in list(self.decided.items()):
            if ts - decided_at >= self.config.repeat_s:
                del self.decided[key]
        last = self.decided.get(text)
        if last is not None and ts - last < self.config.repeat_s:
            return None
        kept = self.reads.setdefault(text, deque())
        kept.append((ts, confidence))
        if len(kept) < self.config.min_reads:
            return None
        self.decided[text] = ts
        del self.reads[text]
        return Confirmed(text, max(c for _, c in kept), len(kept), at)


class VehicleGates:
    """Routes a camera's plate reads to the vehicle gates it watches (module docstring)."""

    def __init__(self, decider: PlateDecider, doors: Iterable[DoorConfig], config: PlateGateConfig) -> None:
        self._decider = decider
        self._gates: dict[str, list[tuple[str, PlateVotes]]] = {}
        for door in doors:
            if door.vehicle_gate and door.camera is not None:
                self._gates.setdefault(door.camera, []).append((door.id, PlateVotes(config)))

    @property
    def cameras(self) -> list[str]:
        """Cameras that watch a vehicle gate."""
        return list(self._gates)

    async def on_read(self, camera_id: str, plate: str, confidence: float, at: datetime) -> list[Decision]:
        """Take one plate read of a frame captured at `at`; return the decisions it led to."""
        decisions: list[Decision] = []
        for door_id, votes in self._gates.get(camera_id, ()):
            confirmed = votes.add(plate, confidence, at)
            if confirmed is None:
                continue
            log.info("gate %s: plate %s confirmed on %d frames", door_id, plate, confirmed.reads)
            decisions.append(
                await self._decider.on_plate(door_id, plate, confirmed.confidence, confirmed.reads, confirmed.at)
            )
        return decisions
