"""Exact MQTT wildcard semantics of Outpost's topic ACL (pure functions)."""

from __future__ import annotations

import pytest

from edge.broker.acl import filter_covers, is_valid_filter, topic_matches


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+", "a", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/+", "/x", True),
        ("#", "$SYS/broker", False),
        ("+/broker", "$SYS/broker", False),
        ("$SYS/#", "$SYS/broker", True),
        ("a/+", "a/+", False),  # wildcards are not valid in a topic name
    ],
)
def test_topic_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    ("allowed", "requested", "expected"),
    [
        ("x/+", "x/a", True),
        ("x/+", "x/+", True),
        ("x/+", "x/#", False),  # the amqtt 0.12.1 hazard: x/+ must not grant x/#
        ("x/+", "x/a/b", False),
        ("x/+", "x", False),
        ("x/#", "x/+/y", True),
        ("x/#", "x", True),
        ("x/a", "x/+", False),
        ("+/a", "#", False),
        ("#", "$SYS/#", False),
        ("outpost/lock-1/command", "outpost/+/command", False),
    ],
)
def test_filter_covers(allowed: str, requested: str, expected: bool) -> None:
    assert filter_covers(allowed, requested) is expected


@pytest.mark.parametrize("bad", ["", "a/#/b", "a#", "a/b+", "+a"])
def test_malformed_filters_are_rejected(bad: str) -> None:
    assert not is_valid_filter(bad)
    assert not filter_covers("#", bad)
