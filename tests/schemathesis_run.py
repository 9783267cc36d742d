"""A seeded, time-bounded schemathesis run of a live API over real HTTP, for the edge and cloud OpenAPI tests.

Each operation gets valid (positive) and invalid (negative) generated requests, in a fixed order (hypothesis
derandomized: the same document gives the same requests), within its share of the time budget. Checks: no 5xx,
and every answer whose status the document describes matches that schema. Failures are collected, one per
operation and mode, so a single run reports everything it found.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Requests every operation gets in each mode however loaded the machine is; the time budget bounds the rest.
MIN_EXAMPLES = 5


@dataclass
class Report:
    """What a run found: failures (one line each) and the answers' status codes, counted."""

    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def run_schemathesis(
    document: dict[str, Any],
    *,
    base_url: str,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    skip: Iterable[str] = (),
    budget_s: float = 40.0,
    max_examples: int = 25,
) -> Report:
    """Fuzz every operation of `document` at `base_url`."""
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations() if result.ok().path not in set(skip)]
    session = requests.Session()
    # Given with each call: they override the values schemathesis generates for the document's security schemes.
    session.headers.update(headers or {})
    session.cookies.update(cookies or {})
    credentials = {"headers": headers or {}, "cookies": cookies or {}}
    share = budget_s / max(1, len(operations) * len(MODES))
    report = Report()
    for operation in operations:
        for mode in MODES:
            _fuzz(report, operation, mode, session, credentials, base_url, share, max_examples)
    return report


def _fuzz(
    report: Report,
    operation: Any,
    mode: GenerationMode,
    session: requests.Session,
    credentials: dict[str, dict[str, str]],
    base_url: str,
    share: float,
    n: int,
) -> None:
    deadline = time.monotonic() + share
    found: list[str] = []
    calls = 0

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        nonlocal calls
        if found or (calls >= MIN_EXAMPLES and time.monotonic() > deadline):
            return
        calls += 1
        try:
            response = case.call(base_url=base_url, session=session, timeout=15, **credentials)
            report.statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except Exception as err:  # a failed check, or the server gone: both are findings
            found.append(
                f"{operation.method.upper()} {operation.path} ({mode.value}): {err}\n  {case.as_curl_command()}"
            )

    try:
        check()
    except Unsatisfiable:
        pass  # nothing to make invalid (no parameters, no body) in negative mode
    report.failures.extend(found)
