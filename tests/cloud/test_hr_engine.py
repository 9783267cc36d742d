"""The attendance rules on the issue's realistic cases: a night shift across midnight, the night a site's clocks
change for DST, a missing out-punch (flagged, never guessed), a person at two sites in one day, lateness with
grace, early leave, breaks and absence."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cloud.hr.engine import Punch, Shift, attendance_day, shift_bounds

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(1, 8))


def local(zone: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone).astimezone(UTC)


def punch(at: datetime, direction: str, site: str = "depot-a", door: str = "") -> Punch:
    return Punch(at=at, site_id=site, door_id=door or f"{direction}-door", direction=direction)  # type: ignore[arg-type]


DAY = Shift(start=time(8), end=time(17), weekdays=WEEKDAYS, grace=timedelta(minutes=5), zone=BERLIN)
NIGHT = Shift(start=time(22), end=time(6), weekdays=WEEKDAYS, grace=timedelta(minutes=5), zone=BERLIN)


def test_a_night_shift_across_midnight_counts_on_the_day_it_started() -> None:
    punches = [punch(local(BERLIN, 2026, 12, 1, 21, 55), "in"), punch(local(BERLIN, 2026, 12, 2, 6, 3), "out")]

    day1 = attendance_day(date(2026, 12, 1), punches, NIGHT, BERLIN)
    day2 = attendance_day(date(2026, 12, 2), punches, NIGHT, BERLIN)

    assert day1.status == "present"
    assert day1.worked_minutes == 8 * 60 + 8
    assert (day1.late_minutes, day1.early_leave_minutes) == (0, 0)
    assert day1.first_in == punches[0].at and day1.last_out == punches[1].at
    assert day2.status == "absent"  # the next night was scheduled and nobody came; the punches are not reused


def test_the_night_clocks_go_forward_counts_the_hours_really_worked() -> None:
    # Europe/Berlin moves 02:00 -> 03:00 on 29 March 2026: the 22:00-06:00 shift lasts 7 hours that night.
    punches = [punch(local(BERLIN, 2026, 3, 28, 22), "in"), punch(local(BERLIN, 2026, 3, 29, 6), "out")]

    result = attendance_day(date(2026, 3, 28), punches, NIGHT, BERLIN)

    assert result.worked_minutes == 7 * 60
    assert result.scheduled_end is not None and result.scheduled_start is not None
    assert result.scheduled_end - result.scheduled_start == timedelta(hours=7)
    assert (result.late_minutes, result.early_leave_minutes, result.status) == (0, 0, "present")


def test_the_night_clocks_go_back_counts_nine_hours() -> None:
    punches = [punch(local(BERLIN, 2026, 10, 24, 22), "in"), punch(local(BERLIN, 2026, 10, 25, 6), "out")]

    assert attendance_day(date(2026, 10, 24), punches, NIGHT, BERLIN).worked_minutes == 9 * 60


def test_a_missing_out_punch_is_flagged_and_not_guessed() -> None:
    punches = [
        punch(local(BERLIN, 2026, 12, 1, 7, 58), "in"),
        punch(local(BERLIN, 2026, 12, 1, 12), "out"),
        punch(local(BERLIN, 2026, 12, 1, 12, 30), "in"),  # back from lunch, never badged out
    ]

    result = attendance_day(date(2026, 12, 1), punches, DAY, BERLIN)

    assert result.status == "incomplete"
    assert [(m.missing, m.at) for m in result.missing] == [("out", punches[2].at)]
    assert result.worked_minutes == 4 * 60 + 2  # only the complete pair counts
    assert result.last_out == punches[1].at
    assert result.early_leave_minutes == 5 * 60  # the last exit seen is at 12:00


def test_an_exit_without_an_entry_is_flagged() -> None:
    punches = [punch(local(BERLIN, 2026, 12, 1, 17, 1), "out")]

    result = attendance_day(date(2026, 12, 1), punches, DAY, BERLIN)

    assert result.status == "incomplete"
    assert [m.missing for m in result.missing] == ["in"]
    assert result.worked_minutes == 0


def test_two_sites_in_one_day_add_up_and_the_drive_between_is_a_break() -> None:
    punches = [
        punch(local(BERLIN, 2026, 12, 1, 8), "in", "depot-a"),
        punch(local(BERLIN, 2026, 12, 1, 11), "out", "depot-a"),
        punch(local(BERLIN, 2026, 12, 1, 11, 45), "in", "depot-b"),
        punch(local(BERLIN, 2026, 12, 1, 17), "out", "depot-b"),
    ]

    result = attendance_day(date(2026, 12, 1), punches, DAY, BERLIN)

    assert result.status == "present"
    assert result.sites == ["depot-a", "depot-b"]
    assert result.worked_minutes == 3 * 60 + 5 * 60 + 15
    assert result.break_minutes == 45
    assert [i.site_id for i in result.intervals] == ["depot-a", "depot-b"]


def test_an_exit_at_another_site_does_not_close_an_entry() -> None:
    punches = [
        punch(local(BERLIN, 2026, 12, 1, 8), "in", "depot-a"),
        punch(local(BERLIN, 2026, 12, 1, 17), "out", "depot-b"),
    ]

    result = attendance_day(date(2026, 12, 1), punches, DAY, BERLIN)

    assert result.worked_minutes == 0
    assert sorted((m.missing, m.site_id) for m in result.missing) == [("in", "depot-b"), ("out", "depot-a")]


def test_lateness_counts_from_the_shift_start_once_past_the_grace() -> None:
    on_time = [punch(local(BERLIN, 2026, 12, 1, 8, 5), "in"), punch(local(BERLIN, 2026, 12, 1, 16, 55), "out")]
    late = [punch(local(BERLIN, 2026, 12, 1, 8, 6), "in"), punch(local(BERLIN, 2026, 12, 1, 16, 54), "out")]

    within = attendance_day(date(2026, 12, 1), on_time, DAY, BERLIN)
    past = attendance_day(date(2026, 12, 1), late, DAY, BERLIN)

    assert (within.late_minutes, within.early_leave_minutes) == (0, 0)
    assert (past.late_minutes, past.early_leave_minutes) == (6, 6)


def test_absence_off_days_and_unscheduled_work() -> None:
    weekdays_only = Shift(
        start=time(8), end=time(17), weekdays=frozenset(range(1, 6)), grace=timedelta(), zone=NEW_YORK
    )
    saturday = date(2026, 12, 5)
    came_in = [punch(local(NEW_YORK, 2026, 12, 5, 9), "in"), punch(local(NEW_YORK, 2026, 12, 5, 12), "out")]

    assert attendance_day(date(2026, 12, 4), [], weekdays_only, NEW_YORK).status == "absent"
    assert attendance_day(saturday, [], weekdays_only, NEW_YORK).status == "off"
    extra = attendance_day(saturday, came_in, weekdays_only, NEW_YORK)
    assert (extra.status, extra.worked_minutes, extra.late_minutes) == ("present", 180, 0)
    # A Saturday in New York is its own local calendar day: 23:30 local is still Saturday.
    late_evening = [punch(local(NEW_YORK, 2026, 12, 5, 23, 30), "in")]
    assert attendance_day(saturday, late_evening, None, NEW_YORK).status == "incomplete"
    assert attendance_day(date(2026, 12, 6), late_evening, None, NEW_YORK).status == "off"


def test_the_morning_after_a_friday_night_shift_is_not_counted_again_on_the_free_saturday() -> None:
    weeknights = Shift(start=time(22), end=time(6), weekdays=frozenset(range(1, 6)), grace=timedelta(), zone=BERLIN)
    friday, saturday = date(2026, 12, 4), date(2026, 12, 5)
    punches = [punch(local(BERLIN, 2026, 12, 4, 21, 58), "in"), punch(local(BERLIN, 2026, 12, 5, 6, 1), "out")]
    fridays_bounds = shift_bounds(friday, weeknights)
    assert fridays_bounds is not None

    alone = attendance_day(saturday, punches, weeknights, BERLIN)
    knowing_friday = attendance_day(saturday, punches, weeknights, BERLIN, [fridays_bounds])

    assert (alone.status, [m.missing for m in alone.missing]) == ("incomplete", ["in"])  # without the neighbour
    assert (knowing_friday.status, knowing_friday.missing) == ("off", [])
    assert attendance_day(friday, punches, weeknights, BERLIN).worked_minutes == 8 * 60 + 3
