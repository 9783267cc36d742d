"""A seeded month of badge events for HR attendance: people on day, early and night shifts at three sites in
different time zones (two of them change their clocks for DST within the month), entry/exit doors plus a door
that does not count, late arrivals and early leavers, lunch breaks, people badging at two sites in one day,
missing out- and in-punches, refused badges, overtime on days off, a public holiday per site, leave (approved,
rejected, undecided), a week's cover on another shift (a dated roster), and sites that were offline so that about
10% of the badge events reach HQ a day or more late.

Pure data (no cloud, no database): the HR month test (tests/cloud/test_hr_synthetic_month.py) sends it through
the real ingest path, and a bench can reuse it at other sizes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST = date(2026, 10, 12)  # a Monday; Berlin turns its clocks back on 25 October, New York on 1 November
DAYS = 28
ENTRY, EXIT, STORE = "entry", "exit", "store"  # STORE is not marked for attendance: its badges never count
DOORS = {ENTRY: "in", EXIT: "out"}


@dataclass(frozen=True)
class SiteSpec:
    """A site: its name and IANA time zone."""

    name: str
    zone: str


SITES = (
    SiteSpec("Berlin depot", "Europe/Berlin"),
    SiteSpec("New York depot", "America/New_York"),
    SiteSpec("Pune depot", "Asia/Kolkata"),  # UTC+05:30, no DST
)


@dataclass(frozen=True)
class ShiftSpec:
    """A weekly shift at a site (local times; end <= start ends the next day), ISO weekdays it starts on."""

    id: str
    name: str
    site: int
    start: time
    end: time
    weekdays: frozenset[int]
    grace_minutes: int

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The shift's start and end on `day` in UTC, or None when it is not worked that weekday."""
        if day.isoweekday() not in self.weekdays:
            return None
        zone = ZoneInfo(SITES[self.site].zone)
        start = datetime.combine(day, self.start, zone)
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        return start.astimezone(UTC), datetime.combine(end_day, self.end, zone).astimezone(UTC)


def _shifts() -> tuple[ShiftSpec, ...]:
    weekdays, six_days, nights = frozenset(range(1, 6)), frozenset(range(1, 7)), frozenset({6, 7, 1, 2, 3})
    out = []
    for n in range(len(SITES)):
        out += [
            ShiftSpec(f"day-{n}", "Day", n, time(8), time(17), weekdays, 5),
            ShiftSpec(f"early-{n}", "Early", n, time(6), time(14, 30), six_days, 10),
            # Saturday night crosses the DST change in Berlin (25 Oct) and New York (1 Nov).
            ShiftSpec(f"night-{n}", "Night", n, time(22), time(6), nights, 5),
        ]
    return tuple(out)


SHIFTS = _shifts()


@dataclass(frozen=True)
class PersonSpec:
    """A person: home site and weekly shift (None: a contractor without a shift)."""

    key: str
    name: str
    home: int
    shift: str | None


@dataclass(frozen=True)
class Badge:
    """A badge at a site's door; `late` when the site was offline and the event reaches HQ a day or more late."""

    at: datetime
    site: int
    door: str
    person: str
    granted: bool = True
    late: bool = False


# A public holiday at each site (its local calendar day); most people scheduled there stay at home.
HOLIDAYS = (
    (0, date(2026, 10, 31), "Reformation Day"),  # a Saturday: the early and night shifts are scheduled
    (1, date(2026, 10, 12), "Columbus Day"),
    (2, date(2026, 10, 20), "Dussehra"),
)


@dataclass(frozen=True)
class LeaveSpec:
    """A leave request over whole days; `decision` None: never decided (it does not count, like a rejection)."""

    person: str
    kind: str
    first_day: date
    last_day: date
    decision: str | None


@dataclass(frozen=True)
class RosterSpec:
    """A dated roster entry: the person works `shift` from `starts_on` to `ends_on` (a week's cover)."""

    id: str
    person: str
    shift: str
    starts_on: date
    ends_on: date


@dataclass
class Month:
    """The generated month: who, which shifts, holidays, leave and rosters, every badge in time order, and the
    sites' offline periods."""

    first: date
    days: int
    people: list[PersonSpec]
    badges: list[Badge]
    leave: list[LeaveSpec] = field(default_factory=list)
    rosters: list[RosterSpec] = field(default_factory=list)
    outages: list[tuple[int, datetime, datetime]] = field(default_factory=list)

    @property
    def shifts(self) -> dict[str, ShiftSpec]:
        return {s.id: s for s in SHIFTS}

    def shift_on(self, person: PersonSpec, day: date) -> ShiftSpec | None:
        """The shift the person works on `day`: a roster entry covering it, else the weekly shift."""
        return _shift_on(person, day, self.rosters)

    def on_leave(self, person: PersonSpec, day: date) -> str | None:
        """The kind of approved leave covering `day`, if any."""
        return _on_leave(person, day, self.leave)


def _shift_on(person: PersonSpec, day: date, rosters: list[RosterSpec]) -> ShiftSpec | None:
    covering = [r for r in rosters if r.person == person.key and r.starts_on <= day <= r.ends_on]
    key = max(covering, key=lambda r: r.starts_on).shift if covering else person.shift
    return next((s for s in SHIFTS if s.id == key), None)


def _on_leave(person: PersonSpec, day: date, leave: list[LeaveSpec]) -> str | None:
    return next(
        (
            x.kind
            for x in leave
            if x.person == person.key and x.decision == "approved" and x.first_day <= day <= x.last_day
        ),
        None,
    )


def holiday_at(site: int, day: date) -> str | None:
    """The public holiday at `site` on `day`, if any."""
    return next((name for n, d, name in HOLIDAYS if n == site and d == day), None)


def _at(rng: random.Random, base: datetime, lo_minutes: int, hi_minutes: int) -> datetime:
    """`base` moved by a random number of minutes in [lo, hi] and a random second."""
    return base + timedelta(minutes=rng.randint(lo_minutes, hi_minutes), seconds=rng.randrange(60))


def _segments(rng: random.Random, home: int, start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
    """Time on site for one worked shift: one stay, a lunch break, or a move to a second site."""
    arrive, leave = _at(rng, start, -20, 15), _at(rng, end, -25, 30)
    mid = arrive + (leave - arrive) / 2
    roll = rng.random()
    if roll < 0.15:  # a break: out and back in at the same site
        back = _at(rng, mid, 30, 50)
        return [(home, arrive, mid), (home, back, leave)]
    if roll < 0.21:  # two sites in one day: leave home mid-shift, badge in at another site
        other = rng.choice([n for n in range(len(SITES)) if n != home])
        there = _at(rng, mid, 45, 100)
        return [(home, arrive, mid), (other, there, max(leave, there + timedelta(minutes=30)))]
    return [(home, arrive, leave)]


def _punches(rng: random.Random, person: str, segments: list[tuple[int, datetime, datetime]]) -> list[Badge]:
    """Badges for the segments, with missing punches, ignored doors and refused badges mixed in."""
    badges: list[Badge] = []
    for site, arrive, leave in segments:
        badges += [Badge(arrive, site, ENTRY, person), Badge(leave, site, EXIT, person)]
    roll = rng.random()
    if roll < 0.04:
        badges.pop()  # forgot to badge out at the end of the day
    elif roll < 0.05:
        badges.pop(0)  # tailgated in: no entry badge
    site, arrive, leave = segments[0]
    if rng.random() < 0.10:
        badges.append(Badge(arrive + (leave - arrive) / 3, site, STORE, person))
    if rng.random() < 0.02:
        badges.append(Badge(arrive - timedelta(seconds=40), site, ENTRY, person, granted=False))
    return badges


def _person_days(
    rng: random.Random, person: PersonSpec, first: date, days: int, leave: list[LeaveSpec], rosters: list[RosterSpec]
) -> list[Badge]:
    zone = ZoneInfo(SITES[person.home].zone)
    badges: list[Badge] = []
    for offset in range(-1, days + 1):
        day = first + timedelta(days=offset)
        shift = _shift_on(person, day, rosters)
        window = shift.window(day) if shift is not None else None
        if _on_leave(person, day, leave) is not None:
            continue  # away on approved leave
        if holiday_at(shift.site if shift is not None else person.home, day) and rng.random() < 0.85:
            continue  # the holiday at home; a few work anyway
        if window is not None:
            if rng.random() < 0.03:
                continue  # absent
            badges += _punches(rng, person.key, _segments(rng, person.home, *window))
        elif rng.random() < (0.6 if shift is None else 0.04):  # a contractor's day, or overtime on a day off
            # A contractor from 09:00; overtime on a day off from 10:30, clear of the night before's 4-hour margin.
            start = datetime.combine(day, time(9) if shift is None else time(10, 30), zone).astimezone(UTC)
            hours = rng.randint(4, 8) if shift is not None else rng.randint(6, 9)
            badges += _punches(rng, person.key, _segments(rng, person.home, start, start + timedelta(hours=hours)))
    return badges


def _take_offline(
    rng: random.Random, badges: list[Badge], share: float, first: date, days: int
) -> tuple[list[Badge], list[tuple[int, datetime, datetime]]]:
    """Take sites offline for 1-3 days at a time (ending at least a day before the month does) until `share` of
    all badges are held back; those are marked late (they reach HQ after the month, a day or more late)."""
    target = int(len(badges) * share)
    late: set[int] = set()
    outages: list[tuple[int, datetime, datetime]] = []
    start = datetime.combine(first, time(0), UTC)
    while len(late) < target:
        site = rng.randrange(len(SITES))
        down = start + timedelta(hours=rng.randrange(24 * (days - 4)))
        up = down + timedelta(hours=rng.randint(24, 72))
        hit = [i for i, b in enumerate(badges) if b.site == site and down <= b.at < up and i not in late]
        hit = hit[: target - len(late)]  # the last period ends early when the share is reached
        if hit:
            late.update(hit)
            outages.append((site, down, up if len(late) < target else badges[hit[-1]].at + timedelta(seconds=1)))
    marked = [Badge(b.at, b.site, b.door, b.person, b.granted, i in late) for i, b in enumerate(badges)]
    return marked, outages


def generate(
    seed: int = 13, people: int = 200, first: date = FIRST, days: int = DAYS, late_share: float = 0.1
) -> Month:
    """The month: `people` people (5% contractors without a shift) spread over the sites and shifts."""
    rng = random.Random(seed)
    persons = []
    for n in range(people):
        home = n % len(SITES)
        shift = None if n % 20 == 19 else rng.choice([s.id for s in SHIFTS if s.site == home])
        persons.append(PersonSpec(f"p{n:03d}", f"Person {n:03d}", home, shift))
    leave: list[LeaveSpec] = []
    rosters: list[RosterSpec] = []
    for person in persons:
        if rng.random() < 0.08:  # leave: mostly approved, some rejected or never decided (then they work)
            start = first + timedelta(days=rng.randrange(days - 5))
            decision = rng.choice(("approved",) * 8 + ("rejected", None))
            kind = rng.choice(("annual", "annual", "sick", "unpaid", "other"))
            leave.append(LeaveSpec(person.key, kind, start, start + timedelta(days=rng.randrange(5)), decision))
        if person.shift is not None and not person.shift.startswith("night") and rng.random() < 0.06:
            # A week's cover on the other daytime shift at the home site (Monday to Sunday).
            other = f"{'early' if person.shift.startswith('day') else 'day'}-{person.home}"
            monday = first + timedelta(days=7 * rng.randrange(days // 7))
            rosters.append(RosterSpec(f"cover-{person.key}", person.key, other, monday, monday + timedelta(days=6)))
    badges: list[Badge] = []
    for person in persons:
        badges += _person_days(rng, person, first, days, leave, rosters)
    badges.sort(key=lambda b: (b.at, b.person))
    marked, outages = _take_offline(rng, badges, late_share, first, days)
    return Month(first, days, persons, marked, leave, rosters, outages)
