"""Exact MQTT 3.1.1 topic semantics for access control (pure functions)."""

from __future__ import annotations


def is_valid_filter(topic_filter: str) -> bool:
    """Return True if `topic_filter` is a well-formed MQTT topic filter."""
    if not topic_filter or "\x00" in topic_filter:
        return False
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def is_valid_topic_name(topic: str) -> bool:
    """Return True if `topic` may be published to (no wildcards)."""
    return bool(topic) and "\x00" not in topic and "+" not in topic and "#" not in topic


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Return True if the topic name `topic` matches `topic_filter` (MQTT 4.7)."""
    if not is_valid_filter(topic_filter) or not is_valid_topic_name(topic):
        return False
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    # [MQTT-4.7.2-1] wildcards in the first level never match topics starting with '$'.
    if topic.startswith("$") and f_levels[0] in ("+", "#"):
        return False
    for i, f in enumerate(f_levels):
        if f == "#":
            return True
        if i >= len(t_levels):
            return False
        if f != "+" and f != t_levels[i]:
            return False
    return len(f_levels) == len(t_levels)


def filter_covers(allowed: str, requested: str) -> bool:
    """Return True if every topic matched by `requested` is also matched by `allowed`.

    This is the subscription check: `x/+` covers `x/a` and `x/+`, but not `x/#` or `x/a/b`.
    """
    if not is_valid_filter(allowed) or not is_valid_filter(requested):
        return False
    a_levels = allowed.split("/")
    r_levels = requested.split("/")
    if requested.startswith("$") != allowed.startswith("$") and a_levels[0] in ("+", "#"):
        # A leading wildcard does not reach $-topics, so it cannot cover a $-filter.
        return False
    for i, a in enumerate(a_levels):
        if a == "#":
            return True
        if i >= len(r_levels):
            return False
        r = r_levels[i]
        if r == "#":
            return False
        if a == "+":
            continue
        if r != a:
            return False
    return len(a_levels) == len(r_levels)
