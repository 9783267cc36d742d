"""Cloud -> edge configuration documents: the versioned, signed description of what a site enforces.

Protocol (docs/SYNC.md):
- The edge pulls ``GET CONFIG_PATH?version=<applied>&wait=<s>``, signed with the site secret over
  ``signing.request_target_bytes("GET", path_and_query)`` (no body). The cloud answers 200 with a
  `SiteConfigDocument` whose `version` is greater than the one given, or 204 after `wait` seconds (long poll)
  when nothing newer exists. The 200 body is signed by the cloud with the same secret (response headers), so
  the box applies only documents its cloud wrote.
- The edge validates the document, applies it atomically (people/credentials through the credential snapshot
  path, policy into its database), and reports the outcome with a signed ``POST CONFIG_REPORT_PATH``
  (`ConfigReport`). A refused document leaves the previous configuration in force.
- Edits made on the box travel up as outbox records of kind ``config_edit`` (`LocalEdit` payload) and are
  reconciled by the cloud: a revoke always wins; otherwise the later edit per record wins, and a record edited
  on both sides since the last document is listed as a conflict for HQ.
- An alarm acknowledged at HQ bumps the site's version; the document lists it in `alarm_acks` until the box's own
  acknowledgement record has synced up (then the cloud's alarm state shows it acknowledged at the site).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from sync.policy import SLUG, AccessLevel, DoorPolicy, HolidayCalendar, Schedule, Vehicle
from sync.rules import Rule
from sync.wire import WireModel

CONFIG_PATH = "/api/v1/sync/config"
CONFIG_REPORT_PATH = "/api/v1/sync/config/report"
MAX_WAIT_S = 30


class ConfigCredential(WireModel):
    """A badge of a person, in the formats the doors read (Wiegand '<facility>:<card>', hex UID, number)."""

    number: str = Field(min_length=1, max_length=128, description="Card number, '<facility>:<card>' or hex UID")
    active: bool = Field(default=True, description="False: revoked (known but not honoured)")
    valid_from: AwareDatetime | None = Field(default=None, description="Not valid before")
    valid_until: AwareDatetime | None = Field(default=None, description="Not valid from then on")


class PersonFields(WireModel):
    """A person as the doors need them: shared by HQ's documents and the edge's credential snapshots."""

    id: str = Field(min_length=1, max_length=64, description="The cloud's id of the person")
    name: str = Field(min_length=1, max_length=120, description="Full name")
    active: bool = Field(default=True, description="False: suspended")
    role: str | None = Field(default=None, pattern=SLUG, description="Role, e.g. one that may override lockdown")
    valid_from: AwareDatetime | None = Field(default=None, description="Person not valid before")
    valid_until: AwareDatetime | None = Field(default=None, description="Person not valid from then on")
    levels: list[str] = Field(default_factory=list, max_length=64, description="Access level ids")
    credentials: list[ConfigCredential] = Field(default_factory=list, max_length=32, description="Badges")


class ConfigPerson(PersonFields):
    """A cloud-managed person, complete (PINs are enrolled at the site and never leave it)."""

    updated_at: AwareDatetime = Field(description="When this record last changed (reconciliation: later wins)")


class PlanLimits(WireModel):
    """The allowances per site of the tenant's billing plan (the box shows going over; HQ bills it)."""

    plan: str = Field(min_length=1, max_length=120, description="Plan name and version, e.g. 'Standard v2'")
    cameras: int = Field(ge=0, le=1_000_000, description="Cameras included per site")
    doors: int = Field(ge=0, le=1_000_000, description="Doors included per site")
    devices: int = Field(ge=0, le=1_000_000, description="Devices included per site")
    overage_policy: Literal["bill", "block"] = Field(
        description="Over the allowance: billed as overage, or blocked (not billed)"
    )


class HqAlarmAck(WireModel):
    """An alarm acknowledged at HQ that the box has not acknowledged yet (an idempotent command by alarm id)."""

    alarm_id: int = Field(ge=0, le=2**63 - 1, description="The box's alarm id (as synced up in its alarm records)")
    by: str = Field(min_length=1, max_length=320, description="E-mail of the HQ user who acknowledged it")
    at: AwareDatetime = Field(description="When HQ acknowledged it")


class SiteConfigDocument(WireModel):
    """Everything HQ manages for one site, as one versioned document."""

    site_id: str = Field(min_length=1, max_length=64, description="The site this document is for")
    version: int = Field(ge=1, le=2**63 - 1, description="Increases with every change that affects the site")
    issued_at: AwareDatetime = Field(description="When the cloud built this version")
    people: list[ConfigPerson] = Field(default_factory=list, max_length=100_000, description="Cloud-managed people")
    access_levels: dict[str, AccessLevel] = Field(default_factory=dict, description="Access levels by id")
    schedules: dict[str, Schedule] = Field(default_factory=dict, description="Weekly schedules by id")
    holidays: dict[str, HolidayCalendar] = Field(default_factory=dict, description="Holiday calendars by id")
    doors: dict[str, DoorPolicy] = Field(default_factory=dict, description="Door policies by door id")
    vehicles: list[Vehicle] | None = Field(
        default=None,
        max_length=10_000,
        description="HQ's fleet register for the site (vehicle gates); merged over the box's own list by plate; "
        "absent: the box keeps its own list only",
    )
    limits: PlanLimits | None = Field(
        default=None, description="The tenant's plan allowances per site (docs/BILLING.md); absent: no plan"
    )
    rules: list[Rule] | None = Field(
        default=None,
        max_length=1000,
        description="Site rules HQ manages (sync.rules); absent: the box keeps the rules it has from the cloud",
    )

    alarm_acks: list[HqAlarmAck] | None = Field(
        default=None,
        max_length=1000,
        description="Alarms acknowledged at HQ and not yet at the box: the box acknowledges each (by "
        "'hq:<email>'), also when it refuses the rest of the document; absent or empty: nothing to acknowledge",
    )

    @model_validator(mode="after")
    def _rule_ids_unique(self) -> SiteConfigDocument:
        ids = [rule.id for rule in self.rules or []]
        if len(ids) != len(set(ids)):
            raise ValueError("rules: rule ids must be unique")
        return self


class ConfigReport(WireModel):
    """The edge's answer to a document: applied, or refused with the reason (the old configuration stays)."""

    site_id: str = Field(min_length=1, max_length=64, description="Reporting site")
    version: int = Field(ge=1, le=2**63 - 1, description="The document's version")
    status: Literal["applied", "refused"] = Field(description="Outcome at the site")
    reason: str = Field(default="", max_length=2000, description="Why it was refused (empty when applied)")
    at: AwareDatetime = Field(description="When the site decided")


class LocalEdit(WireModel):
    """Payload of a ``config_edit`` outbox record: a person as edited on the box (console or API)."""

    person: ConfigPerson = Field(description="The person after the edit (updated_at = when edited on the box)")
    origin: Literal["console", "api"] = Field(description="Where on the box the edit was made")
    revoked: list[str] = Field(default_factory=list, description="Credential numbers revoked by this edit")
    removed: bool = Field(default=False, description="The person was deleted on the box")
    base_version: int = Field(ge=0, description="The document version the box had when the edit was made")
