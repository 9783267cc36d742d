"""Pydantic models of the billing forms and JSON bodies (everything a user sends is validated here)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.billing.money import parse_amount


class BillingForm(BaseModel):
    """Base: unknown fields (besides the CSRF token, dropped before validation) are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StartForm(BillingForm):
    """Start a subscription."""

    plan_id: int = Field(ge=1, description="Plan version to subscribe to")
    interval: Literal["month", "year"] = Field(description="Billing interval")
    tax_rate: str = Field(max_length=8, description="Tax rate in percent, e.g. 20 or 7.5")

    @field_validator("tax_rate")
    @classmethod
    def _percent(cls, value: str) -> str:
        rate = parse_amount(value or "0", "EUR")  # percent with up to 2 decimals = basis points
        if not 0 <= rate <= 10_000:
            raise ValueError("a tax rate is between 0 and 100 %")
        return value

    @property
    def tax_rate_bp(self) -> int:
        """The tax rate in basis points."""
        return parse_amount(self.tax_rate or "0", "EUR")


class TaxForm(BillingForm):
    """Change the tenant's tax rate (invoices drafted from now on)."""

    tax_rate: str = Field(max_length=8, description="Tax rate in percent, e.g. 20 or 7.5")

    @field_validator("tax_rate")
    @classmethod
    def _percent(cls, value: str) -> str:
        rate = parse_amount(value or "0", "EUR")
        if not 0 <= rate <= 10_000:
            raise ValueError("a tax rate is between 0 and 100 %")
        return value

    @property
    def tax_rate_bp(self) -> int:
        """The tax rate in basis points."""
        return parse_amount(self.tax_rate or "0", "EUR")


class PlanForm(BillingForm):
    """Preview or make a plan change."""

    plan_id: int = Field(ge=1, description="Plan version to move to")


class CreditNoteForm(BillingForm):
    """Issue a credit note."""

    amount: str = Field(min_length=1, max_length=20, description="Net amount to credit, e.g. 12.50")
    reason: str = Field(min_length=3, max_length=500, description="Why the invoice is corrected")
