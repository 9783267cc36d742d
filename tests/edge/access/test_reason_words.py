"""Every reason code the access engine can record has words in the one table the console and its CSV use."""

from __future__ import annotations

import ast
from pathlib import Path

from edge.access import decision, service
from edge.access.decision import Reason
from edge.access.reason_words import REASON_WORDS, reason_in_words


def test_every_reason_has_words() -> None:
    assert set(REASON_WORDS) == set(Reason)
    words = list(REASON_WORDS.values())
    assert len(set(words)) == len(words)  # no two reasons read the same
    assert all(w and w == w.strip() and "_" not in w for w in words)
    assert reason_in_words("outside_schedule") == "outside schedule"
    assert reason_in_words("unknown_credential") == "unknown card"


def test_the_engine_records_only_reasons_of_the_enum() -> None:
    """The decision and the service name reasons only as `Reason.X` (so the enum is every code they emit)."""
    used: set[str] = set()
    for module in (decision, service):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Reason":
                used.add(node.attr)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Decision" and len(node.args) > 1:
                assert isinstance(node.args[1], ast.Attribute | ast.Name), ast.unparse(node)
    assert used <= set(Reason.__members__) and used


def test_codes_from_elsewhere_still_read() -> None:
    assert reason_in_words("some_future_reason") == "some future reason"  # a newer release's code, as stored
    assert reason_in_words(None) is None
    assert reason_in_words(3) is None
