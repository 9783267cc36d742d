"""Pydantic models of the analytics API: query parameters in, tables and series out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.days import CalendarDay

MAX_HOURLY_DAYS = 93
MAX_DAILY_DAYS = 400
ID_PATTERN = r"^[\x21-\x7e]{1,140}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RangeQuery(_Model):
    """Query parameters shared by the analytics reads: site, local date range, granularity, format."""

    site: str | None = Field(default=None, pattern=ID_PATTERN, description="One site (default: every site)")
    start: CalendarDay | None = Field(default=None, alias="from", description="First local day (default: 6 days ago)")
    end: CalendarDay | None = Field(default=None, alias="to", description="Last local day, included (default: today)")
    granularity: Literal["hour", "day"] = Field(default="day", description="Bucket size (hour needs a site)")
    scope: str | None = Field(
        default=None, pattern=r"^[a-z]{1,16}$", description="door, zone, camera, area, line, device, credential, site"
    )
    format: Literal["json", "csv"] = Field(default="json", description="json, or csv for a spreadsheet")
    table: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$", description="Which table the CSV exports")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _sane_range(self) -> RangeQuery:
        if self.start is not None and self.end is not None:
            if self.end < self.start:
                raise ValueError("to must not be before from")
            limit = MAX_HOURLY_DAYS if self.granularity == "hour" else MAX_DAILY_DAYS
            if (self.end - self.start).days >= limit:
                raise ValueError(f"at most {limit} days per {self.granularity}ly query")
        if self.granularity == "hour" and self.site is None:
            raise ValueError("hourly buckets need one site (site=...)")
        return self


class Point(_Model):
    """One bucket of one metric of one site's door/zone/camera/... (or the tenant's total per day)."""

    bucket: datetime = Field(description="UTC instant the bucket starts (local midnight for days)")
    local: str = Field(description="The bucket's start in the site's local time (the day for tenant totals)")
    site_id: str | None = Field(description="The site (null: every site of the tenant added up)")
    scope: str = Field(description="What the metric is about: door, zone, camera, area, line, device, ...")
    scope_id: str = Field(description="Which door/zone/camera/... (empty for the site itself)")
    metric: str = Field(description="e.g. access.denied, occupancy.person, crossings.in, sensor.temperature")
    n: int = Field(description="Events or samples in the bucket")
    sum: float = Field(description="Sum of the sampled values (exact to 0.001)")
    mean: float | None = Field(description="Mean of the sampled values (null for plain counts)")
    peak: float | None = Field(description="Largest sampled value")
    low: float | None = Field(description="Smallest sampled value")
    pending: bool = Field(description="The bucket ends after the site's 'complete up to' watermark: still filling")


class SeriesOut(_Model):
    """Buckets of metrics over a time range."""

    start: date = Field(description="First local day")
    end: date = Field(description="Last local day (included)")
    granularity: Literal["hour", "day"] = Field(description="Bucket size")
    timezone: str | None = Field(description="The site's time zone (null: tenant totals by each site's local day)")
    complete_up_to: datetime | None = Field(description="The site's watermark (null: unknown, or many sites)")
    points: list[Point] = Field(description="Buckets in time order")


class Ranked(_Model):
    """A door or credential and how often it was denied."""

    site_id: str = Field(description="Site")
    id: str = Field(description="Door id or credential number")
    denied: int = Field(description="Denials in the range")
    granted: int = Field(default=0, description="Grants in the range (doors only)")


class AccessStatsOut(_Model):
    """Grants and denials per door and hour/day, and the most denied credentials and doors."""

    series: SeriesOut = Field(description="access.granted / access.denied per door and bucket")
    top_denied_credentials: list[Ranked] = Field(description="Credentials denied most, most first")
    top_denied_doors: list[Ranked] = Field(description="Doors with most denials, most first")


class AlarmOut(_Model):
    """One door alarm of a site."""

    site_id: str = Field(description="Site")
    site_name: str = Field(description="Site name")
    alarm_id: int = Field(description="The site's alarm id")
    door_id: str = Field(description="Door")
    alarm: str = Field(description="Alarm kind")
    raised_at: datetime | None = Field(description="First raised")
    last_raised_at: datetime | None = Field(description="Last raised")
    acknowledged_at: datetime | None = Field(description="Acknowledged at the site")
    acknowledged_by: str | None = Field(description="Who acknowledged it at the site")
    cleared_at: datetime | None = Field(description="Condition last cleared")
    hq_acknowledged_at: datetime | None = Field(description="Acknowledged at HQ")
    hq_acknowledged_by: str | None = Field(description="Who acknowledged it at HQ")
    active: bool = Field(description="The condition is still on (raised after the last clear)")
    open: bool = Field(description="Nobody acknowledged it yet (site or HQ)")
    box_ack: Literal["pending", "applied"] | None = Field(
        description="HQ's acknowledgement at the box: pending until the box's own acknowledgement has synced up, "
        "then applied; null when HQ has not acknowledged it"
    )


class AlarmsOut(_Model):
    """Open alarms across sites and how fast alarms get acknowledged."""

    open: list[AlarmOut] = Field(description="Unacknowledged alarms, newest first")
    hq_acknowledged: list[AlarmOut] = Field(
        description="The latest alarms acknowledged at HQ (any time), newest acknowledgement first, with whether "
        "the box has applied it (box_ack)"
    )
    raised: int = Field(description="Alarms raised in the range")
    acknowledged: int = Field(description="Of those, acknowledged")
    mean_time_to_acknowledge_s: float | None = Field(description="Mean seconds from raise to first acknowledgement")


class AcknowledgeRequest(_Model):
    """Body of an HQ acknowledgement (may be empty)."""

    comment: str = Field(default="", max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$", description="Optional note")


class DeviceOut(_Model):
    """A device's health."""

    site_id: str = Field(description="Site")
    site_name: str = Field(description="Site name")
    device_id: str = Field(description="Device id")
    device_kind: str | None = Field(description="Device kind")
    online: bool | None = Field(description="Online at its last status report (null: never reported)")
    firmware: str | None = Field(description="Firmware at its last status report")
    last_seen_at: datetime = Field(description="Newest record naming the device")
    battery: float | None = Field(description="Last battery reading (%)")
    battery_low: bool = Field(description="Battery under the low threshold")


class DevicesOut(_Model):
    """Device health across sites."""

    battery_low_below: float = Field(description="Battery percentage counted as low")
    offline: int = Field(description="Devices offline now")
    battery_low: int = Field(description="Devices with a low battery")
    devices: list[DeviceOut] = Field(description="Offline first, then low battery, then by site and id")


class Total(_Model):
    """A metric added up over the range."""

    site_id: str = Field(description="Site")
    scope_id: str = Field(description="Camera, zone, device...")
    metric: str = Field(description="Metric")
    n: int = Field(description="Events or samples")
    mean: float | None = Field(description="Mean value")
    peak: float | None = Field(description="Largest value")
    low: float | None = Field(description="Smallest value")


class TotalsOut(_Model):
    """A series and its totals per scope and metric (detections per class, sensor trends)."""

    series: SeriesOut = Field(description="Buckets")
    totals: list[Total] = Field(description="Per site, scope and metric over the range")


class SiteHealthOut(_Model):
    """One site at a glance."""

    id: str = Field(description="Site id")
    name: str = Field(description="Site name")
    timezone: str = Field(description="IANA time zone")
    status: Literal["online", "offline", "never", "revoked"] = Field(description="Online: a batch in the last 15 min")
    last_sync_at: datetime | None = Field(description="Last batch with new records")
    last_batch_at: datetime | None = Field(description="Last accepted batch")
    backlog: int | None = Field(description="Records waiting at the site when it last reported")
    complete_up_to: datetime | None = Field(description="Analytics watermark")
    open_alarms: int = Field(description="Unacknowledged alarms")
    offline_devices: int = Field(description="Devices offline now")


class OverviewOut(_Model):
    """A page of the tenant's sites with their health."""

    total: int = Field(description="Sites matching the filter")
    page: int = Field(description="Page number, from 1")
    per_page: int = Field(description="Sites per page")
    sites: list[SiteHealthOut] = Field(description="This page's sites")


class OverviewQuery(_Model):
    """Filter, sort and page of the tenant overview."""

    q: str = Field(default="", max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$", description="Name contains")
    status: Literal["", "online", "offline", "never", "revoked"] = Field(default="", description="Only this status")
    sort: Literal["name", "last_sync", "backlog", "open_alarms", "offline_devices"] = Field(
        default="name", description="Sort key"
    )
    order: Literal["asc", "desc"] = Field(default="asc", description="Sort order")
    page: int = Field(default=1, ge=1, le=100_000, description="Page number")
    per_page: int = Field(default=50, ge=1, le=200, description="Sites per page")
    format: Literal["json", "csv"] = Field(default="json", description="json, or csv (every matching site)")


class Line(_Model):
    """One scope id and metric over every bucket of a `SeriesColumns` (arrays aligned with its `buckets`)."""

    site_id: str = Field(description="Site")
    scope: str = Field(description="What the metric is about")
    scope_id: str = Field(description="Which door/zone/camera/...")
    metric: str = Field(description="Metric")
    n: list[int] = Field(description="Events or samples per bucket (0: none)")
    sum: list[float] = Field(description="Sum of the sampled values per bucket")
    peak: list[float | None] = Field(description="Largest value per bucket (null: no sample)")
    low: list[float | None] = Field(description="Smallest value per bucket (null: no sample)")


class SeriesColumns(_Model):
    """A site's series as columns: every bucket once, one array per scope id and metric (compact for long ranges)."""

    start: date = Field(description="First local day")
    end: date = Field(description="Last local day (included)")
    granularity: Literal["hour", "day"] = Field(description="Bucket size")
    timezone: str = Field(description="The site's time zone")
    complete_up_to: datetime | None = Field(description="The site's watermark (null: unknown)")
    buckets: list[datetime] = Field(description="UTC start of every bucket in the range")
    pending_from: int | None = Field(description="Index of the first bucket still filling (after the watermark)")
    lines: list[Line] = Field(description="One per scope id and metric with data in the range")
