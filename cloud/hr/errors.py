"""The HR package's own errors: the API answers them 404 and 409, the portal shows their message."""

from __future__ import annotations


class HrNotFound(Exception):
    """A named person, shift, site, leave request or timesheet is not the principal's (the message names it)."""


class HrConflict(Exception):
    """The record is not in a state that allows this step (the message says why)."""
