"""Billing in the cloud: plan catalogue, subscriptions, metering, invoices, the period close and their pages.

Money is always an integer count of minor units (cents) of the tenant's currency; no module here uses floats
or true division (`tests/cloud/billing/test_no_floats.py` checks). See docs/BILLING.md.
"""
