"""bench/billing_close.py runs end to end at a tiny size and prints its JSON result (correctness only)."""

from __future__ import annotations

import math

from tests.bench.test_bench_smoke import run_bench


def test_billing_close_smoke() -> None:
    result = run_bench("bench.billing_close", timeout_s=120)
    assert (result["sites"], result["tenants"], result["invoices"]) == (60, 3, 3)
    assert result["usage_rows"] == 60 * 31 and result["lines"] > 60
    for key in ("close_s", "baseline_read_s"):
        assert isinstance(result[key], float) and math.isfinite(result[key]) and result[key] > 0, key
