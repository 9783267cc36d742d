"""--log-format json: one JSON object a line, with the exception and any `extra` fields."""

from __future__ import annotations

import io
import json
import logging

from edge.cli import _parser
from observability.logs import JsonFormatter


def test_a_record_becomes_one_json_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("door %s held open", "front", extra={"door_id": "front"})
        try:
            raise ValueError("bad frame")
        except ValueError:
            logger.exception("camera failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING"
    assert first["message"] == "door front held open"
    assert first["logger"] == "tests.json_logs"
    assert first["door_id"] == "front"
    assert first["time"].endswith("+00:00")
    assert "ValueError: bad frame" in second["exception"]


def test_the_edge_cli_takes_the_log_format_before_or_after_the_subcommand() -> None:
    assert _parser().parse_args(["--log-format", "json", "run"]).log_format == "json"
    assert _parser().parse_args(["run", "--log-format", "json"]).log_format == "json"
    assert _parser().parse_args(["run"]).log_format == "text"
