"""Property tests (Hypothesis) of the integer money rules: proration, rounding and tax."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.billing.money import BASIS_POINTS, div_round, format_amount, parse_amount, tax_of
from cloud.billing.proration import add_months, period_bounds, plan_segments, prorate

PRICES = st.integers(min_value=0, max_value=10**9)
RATES = st.integers(min_value=0, max_value=5_000)  # 0 to 50 %
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
FAST = settings(max_examples=300, deadline=None, derandomize=True)


@FAST
@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=1, max_value=10**6))
def test_div_round_is_the_nearest_integer_with_halves_away_from_zero(n: int, d: int) -> None:
    exact = Fraction(n, d)
    got = div_round(n, d)
    assert abs(Fraction(got) - exact) <= Fraction(1, 2)
    if abs(Fraction(got) - exact) == Fraction(1, 2):
        assert abs(got) > abs(exact)  # a half goes away from zero
    assert div_round(-n, d) == -got  # symmetric


@FAST
@given(PRICES, st.integers(min_value=28, max_value=366), st.data())
def test_prorated_parts_of_a_period_add_up_to_the_price_within_rounding(
    price: int, period: int, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(min_value=1, max_value=period - 1), max_size=5, unique=True)))
    bounds = [0, *cuts, period]
    parts = [prorate(price, b - a, period) for a, b in zip(bounds, bounds[1:], strict=False)]
    # Each part is off by at most half a minor unit, so the sum by at most half the number of parts.
    assert abs(sum(parts) - price) * 2 <= len(parts)
    assert prorate(price, period, period) == price
    assert prorate(price, 0, period) == 0


@FAST
@given(PRICES, st.integers(min_value=1, max_value=366), st.data())
def test_proration_is_monotone_in_days_and_in_price(price: int, period: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(min_value=0, max_value=period))
    b = data.draw(st.integers(min_value=a, max_value=period))
    assert prorate(price, a, period) <= prorate(price, b, period)
    assert prorate(price, a, period) <= prorate(price + 1, a, period)


@FAST
@given(st.integers(min_value=0, max_value=10**12), RATES)
def test_tax_is_the_rate_rounded_to_the_nearest_minor_unit(amount: int, rate: int) -> None:
    tax = tax_of(amount, rate)
    exact = Fraction(amount * rate, BASIS_POINTS)
    assert abs(Fraction(tax) - exact) <= Fraction(1, 2)
    assert tax >= 0
    assert tax_of(-amount, rate) == -tax  # a credit note's tax mirrors the invoice's


@FAST
@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=10**10), RATES)
def test_tax_of_a_sum_differs_from_the_sum_of_taxes_by_at_most_one_unit(a: int, b: int, rate: int) -> None:
    assert abs(tax_of(a + b, rate) - tax_of(a, rate) - tax_of(b, rate)) <= 1


@FAST
@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(["EUR", "JPY", "KWD", "USD"]))
def test_amounts_print_and_parse_back(amount: int, currency: str) -> None:
    assert parse_amount(format_amount(amount, currency), currency) == amount


@FAST
@given(DAYS, st.sampled_from(["month", "year"]), st.integers(min_value=0, max_value=800))
def test_periods_tile_time_without_gaps_and_keep_the_anchor_day(anchor: date, interval: str, offset: int) -> None:
    day = anchor + timedelta(days=offset)
    start, end = period_bounds(anchor, interval, day)
    assert start <= day < end
    assert period_bounds(anchor, interval, end)[0] == end  # the next period starts where this one ends
    if start > anchor:
        assert period_bounds(anchor, interval, start - timedelta(days=1))[1] == start
    assert 28 <= (end - start).days <= 366
    if interval == "month" and anchor.day <= 28:
        assert start.day == anchor.day


def test_a_31st_anchor_comes_back_after_a_short_month() -> None:
    anchor = date(2027, 1, 31)
    assert [add_months(anchor, n) for n in range(4)] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]


@FAST
@given(st.lists(st.tuples(st.integers(min_value=-40, max_value=40), st.integers(1, 4)), min_size=1, max_size=6))
def test_plan_segments_cover_the_period_once_by_the_plan_in_force(changes: list[tuple[int, int]]) -> None:
    start, end = date(2027, 3, 1), date(2027, 4, 1)
    dated = {start + timedelta(days=d): plan for d, plan in changes}
    segments = plan_segments(list(dated.items()), start, end)
    covered = [s.start + timedelta(days=i) for s in segments for i in range(s.days)]
    assert covered == sorted(set(covered))
    for day in covered:
        in_force = max((d for d in dated if d <= day), default=None)
        assert in_force is not None
        segment = next(s for s in segments if s.start <= day < s.end)
        assert segment.plan_id == dated[in_force]
    first_known = min(dated)
    assert len(covered) == (end - max(start, first_known)).days if first_known < end else covered == []
