"""Integer money: rounding of a ratio to minor units, tax, and display. No floats, no true division.

Rounding rule (docs/BILLING.md): a ratio is rounded to the nearest minor unit, halves away from zero
(the rule most tax authorities use); every line is rounded on its own, then tax is computed once on the
invoice's subtotal.
"""

from __future__ import annotations

BASIS_POINTS = 10_000  # a tax rate of 2000 basis points is 20 %
# Minor units per major unit, by ISO 4217 code (the exponent); anything not listed has cents.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


def div_round(numerator: int, denominator: int) -> int:
    """Return numerator / denominator rounded to the nearest integer, halves away from zero."""
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def tax_of(amount: int, rate_bp: int) -> int:
    """Return the tax on `amount` minor units at `rate_bp` basis points, rounded like every ratio."""
    if rate_bp < 0:
        raise ValueError("a tax rate is never negative")
    return div_round(amount * rate_bp, BASIS_POINTS)


def exponent(currency: str) -> int:
    """Return how many decimal digits the currency's minor unit has."""
    return _EXPONENTS.get(currency.upper(), 2)


def format_amount(amount: int, currency: str) -> str:
    """Return e.g. "1,234.56" for 123456 minor units of a two-digit currency (no currency code)."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**digits)
    if digits == 0:
        return f"{sign}{major:,}"
    return f"{sign}{major:,}.{minor:0{digits}d}"


def decimal_string(amount: int, currency: str) -> str:
    """Return e.g. "1234.56" (no separators: for CSV and machine readers)."""
    return format_amount(amount, currency).replace(",", "")


def format_money(amount: int, currency: str) -> str:
    """Return e.g. "EUR 1,234.56"."""
    return f"{currency.upper()} {format_amount(amount, currency)}"


def format_rate(rate_bp: int) -> str:
    """Return a tax rate in basis points as a percentage, e.g. 2050 -> "20.5 %"."""
    whole, rest = divmod(rate_bp, 100)
    return f"{whole} %" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + " %"


def parse_amount(text: str, currency: str) -> int:
    """Parse "12.34" (or "12") into minor units of `currency`; raise ValueError on anything else."""
    digits = exponent(currency)
    cleaned = text.strip().replace(",", "")
    negative = cleaned.startswith("-")
    cleaned = cleaned.lstrip("+-")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > digits:
        raise ValueError(f"not an amount with at most {digits} decimals: {text!r}")
    scale: int = 10**digits
    value = int(whole) * scale + int(fraction.ljust(digits, "0") or "0")
    return -value if negative else value
