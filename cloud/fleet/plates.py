"""Matching a plate as the camera read it to the fleet register: exact, or one character misread.

Pure functions (no database). A read that differs from exactly one registered plate in exactly one position is
matched, with a confidence that is higher when the two characters are ones OCR confuses (0/O, 8/B, 1/I ...).
A read one character away from two or more plates is ambiguous and matched to none; a read that is not
within one character of any plate is unknown. The rules in words are in docs/FLEET_HR.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

MatchKind = Literal["exact", "fuzzy", "ambiguous", "unknown"]

_NOT_PLATE_CHAR = re.compile(r"[^A-Z0-9]")

# Pairs of characters a plate reader mistakes for one another (each pair in both directions).
CONFUSABLE: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in ("0O", "0D", "0Q", "OD", "OQ", "8B", "1I", "1L", "IL", "5S", "2Z", "6G", "7T", "4A", "UV", "MN")
)

EXACT_CONFIDENCE = 1.0
CONFUSABLE_CONFIDENCE = 0.9
OTHER_CONFIDENCE = 0.6


def normalise(plate: str) -> str:
    """The plate as compared: upper case, letters and digits only (spaces and dashes dropped)."""
    return _NOT_PLATE_CHAR.sub("", plate.upper())


def substitution_confidence(read: str, plate: str) -> float | None:
    """The confidence that `read` is `plate` with one character misread; None unless exactly one differs."""
    if len(read) != len(plate):
        return None
    diffs = [(a, b) for a, b in zip(read, plate, strict=True) if a != b]
    if len(diffs) != 1:
        return None
    return CONFUSABLE_CONFIDENCE if frozenset(diffs[0]) in CONFUSABLE else OTHER_CONFIDENCE


@dataclass(frozen=True)
class PlateMatch:
    """How a read plate matched the register: the plate matched (None: no match), how, and how sure."""

    kind: MatchKind
    plate: str | None
    confidence: float
    candidates: tuple[str, ...] = ()


def match_plate(read: str, plates: Iterable[str]) -> PlateMatch:
    """Match `read` to one of the registered `plates` (normalised): exact, one misread character, or none."""
    text = normalise(read)
    known = set(plates)
    if text in known:
        return PlateMatch("exact", text, EXACT_CONFIDENCE)
    near = sorted(
        ((conf, plate) for plate in known if (conf := substitution_confidence(text, plate)) is not None),
        key=lambda c: c[1],
    )
    if len(near) == 1:
        return PlateMatch("fuzzy", near[0][1], near[0][0], (near[0][1],))
    if near:
        return PlateMatch("ambiguous", None, 0.0, tuple(p for _, p in near))
    return PlateMatch("unknown", None, 0.0)
