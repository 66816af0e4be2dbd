"""Weekly opening hours: parsing, is_open, next_opening, real spans across DST, "opens" text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.domain.hours import (
    FrozenMap,
    WeeklyHours,
    intersect_intervals,
    parse_day,
    parse_interval,
    parse_intervals,
    when_text,
)

HEL = ZoneInfo("Europe/Helsinki")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=HEL)


# 2024-01-15 is a Monday.
MON, TUE, WED, FRI, SAT, SUN = 15, 16, 17, 19, 20, 21


# ------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("8:00-16:15", time(8, 0), time(16, 15)),
        ("08:00-16:15", time(8, 0), time(16, 15)),
        (" 9:30-11:00 ", time(9, 30), time(11, 0)),
        ("0:00-24:00", time.min, time.max),
        ("12:00-24:00", time(12), time.max),
        ("23:59-24:00", time(23, 59), time.max),
    ],
)
def test_parse_interval(text: str, start: time, end: time) -> None:
    assert parse_interval(text) == (start, end)


@pytest.mark.parametrize(
    "text",
    [
        "8-16",
        "8:00",
        "8.00-16.00",
        "8:00 - 16:00x",
        "",
        "8:0-16:00",
        "25:00-26:00",
        "24:00-24:00",
        "8:60-9:00",
        "8:00-9:60",
        "0:00-24:30",
        "0:00-25:00",
        "16:00-8:00",
        "8:00-8:00",
    ],
)
def test_parse_interval_rejects_bad_input_clearly(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_interval(text)
    assert repr(text) in str(info.value)


def test_from_mapping_day_ranges_and_missing_days_closed() -> None:
    h = WeeklyHours.from_mapping({"mon-fri": "8:00-16:15", "sat": ["10:00-14:00"]})
    assert h.days[0] == h.days[4] == ((time(8), time(16, 15)),)
    assert h.days[5] == ((time(10), time(14)),)
    assert h.days[6] == ()  # sunday not named: closed


def test_from_mapping_sorts_intervals_and_accepts_case_and_wrapping_ranges() -> None:
    h = WeeklyHours.from_mapping({"Fri-Mon": ["12:00-16:00", "8:00-11:00"]})
    split = ((time(8), time(11)), (time(12), time(16)))
    assert [bool(d) for d in h.days] == [True, False, False, False, True, True, True]
    assert h.days[4] == split and h.days[0] == split
    assert WeeklyHours.from_mapping({"sun": []}).days == ((),) * 7


@pytest.mark.parametrize("key", ["funday", "monday", "mon-fry", "xyz-fri", "mon-", "-fri"])
def test_from_mapping_rejects_unknown_weekdays_clearly(key: str) -> None:
    with pytest.raises(ValueError) as info:
        WeeklyHours.from_mapping({key: "8:00-16:00"})
    msg = str(info.value)
    assert "weekday" in msg and "mon" in msg, msg


def test_from_mapping_passes_interval_errors_on() -> None:
    with pytest.raises(ValueError, match="8-16"):
        WeeklyHours.from_mapping({"mon-fri": ["8:00-11:00", "8-16"]})


# ------------------------------------------------------------------------------- is_open


def test_is_open_boundaries() -> None:
    h = WeeklyHours.from_mapping({"mon-fri": ["8:00-11:00", "12:00-16:15"]})
    assert not h.is_open(at(2024, 1, MON, 7, 59, 59))
    assert h.is_open(at(2024, 1, MON, 8, 0))  # opening time is open
    assert h.is_open(at(2024, 1, MON, 10, 59, 59))
    assert not h.is_open(at(2024, 1, MON, 11, 0))  # closing time is closed
    assert not h.is_open(at(2024, 1, MON, 11, 30))  # lunch
    assert h.is_open(at(2024, 1, FRI, 16, 14))
    assert not h.is_open(at(2024, 1, FRI, 16, 15))
    assert not h.is_open(at(2024, 1, SAT, 10))
    assert not h.is_open(at(2024, 1, SUN, 10))


def test_always_and_whole_day() -> None:
    always = WeeklyHours.always()
    whole = WeeklyHours.from_mapping({"mon-sun": "0:00-24:00"})
    for day in range(MON, SUN + 1):
        for h, m, s in ((0, 0, 0), (12, 0, 0), (23, 59, 59)):
            assert always.is_open(at(2024, 1, day, h, m, s))
            assert whole.is_open(at(2024, 1, day, h, m, s))
    assert always == whole


def test_is_open_uses_the_given_local_time() -> None:
    h = WeeklyHours.from_mapping({"mon": "8:00-9:00"})
    # 06:30 UTC is 08:30 in Helsinki in winter.
    utc_instant = datetime(2024, 1, MON, 6, 30, tzinfo=ZoneInfo("UTC"))
    assert h.is_open(utc_instant.astimezone(HEL))
    assert not h.is_open(utc_instant)


# -------------------------------------------------------------------------- next_opening


@pytest.fixture
def office() -> WeeklyHours:
    return WeeklyHours.from_mapping({"mon-fri": ["8:00-11:00", "12:00-16:15"]})


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2024, 1, MON, 7, 0), at(2024, 1, MON, 8, 0)),  # before opening
        (at(2024, 1, MON, 11, 30), at(2024, 1, MON, 12, 0)),  # lunch break
        (at(2024, 1, MON, 9, 0), at(2024, 1, MON, 12, 0)),  # open: the next opening
        (at(2024, 1, MON, 17, 0), at(2024, 1, TUE, 8, 0)),  # evening
        (at(2024, 1, FRI, 16, 15), at(2024, 1, MON + 7, 8, 0)),  # over the weekend
        (at(2024, 1, SAT, 12, 0), at(2024, 1, MON + 7, 8, 0)),
        (at(2024, 1, SUN, 23, 59), at(2024, 1, MON + 7, 8, 0)),
        (at(2024, 1, MON, 8, 0), at(2024, 1, MON, 12, 0)),  # strictly after `now`
    ],
)
def test_next_opening(office: WeeklyHours, now: datetime, expected: datetime) -> None:
    got = office.next_opening(now)
    assert got == expected
    assert got is not None and got.tzinfo is now.tzinfo
    assert office.is_open(got)


def test_next_opening_across_month_and_year_end() -> None:
    h = WeeklyHours.from_mapping({"tue": "9:00-10:00"})
    # Sunday 31 Dec 2023 -> Tuesday 2 Jan 2024.
    assert h.next_opening(at(2023, 12, 31, 12)) == at(2024, 1, 2, 9)


def test_next_opening_of_a_weekly_day_a_week_ahead() -> None:
    h = WeeklyHours.from_mapping({"wed": "9:00-10:00"})
    assert h.next_opening(at(2024, 1, WED, 9, 30)) == at(2024, 1, WED + 7, 9)


def test_never_open_has_no_next_opening() -> None:
    assert WeeklyHours.from_mapping({}).next_opening(at(2024, 1, MON, 8)) is None


# ----------------------------------------------------------------------------- when_text


def test_when_text_today_shows_only_the_time() -> None:
    texts = when_text(at(2024, 1, MON, 8, 0), at(2024, 1, MON).date())
    assert texts == {"fi": "klo 8.00", "sv": "kl. 8.00", "en": "at 8:00"}
    texts = when_text(at(2024, 1, MON, 14, 5), at(2024, 1, MON).date())
    assert texts == {"fi": "klo 14.05", "sv": "kl. 14.05", "en": "at 14:05"}


def test_when_text_another_day_names_the_weekday_and_date() -> None:
    texts = when_text(at(2024, 1, TUE, 9, 30), at(2024, 1, MON).date())
    assert texts == {
        "fi": "ti 16.1. klo 9.30",
        "sv": "tis 16.1. kl. 9.30",
        "en": "Tue 16 Jan at 9:30",
    }
    texts = when_text(at(2024, 11, 24, 8, 0), at(2024, 11, 22).date())  # a Sunday
    assert texts == {
        "fi": "su 24.11. klo 8.00",
        "sv": "sön 24.11. kl. 8.00",
        "en": "Sun 24 Nov at 8:00",
    }


def test_when_text_names_every_weekday() -> None:
    fi = [
        when_text(at(2024, 1, d, 8), at(2024, 1, 1).date())["fi"].split()[0] for d in range(15, 22)
    ]
    assert fi == ["ma", "ti", "ke", "to", "pe", "la", "su"]


def test_when_text_month_names_do_not_depend_on_the_locale() -> None:
    texts = when_text(at(2026, 12, 28, 9), at(2026, 12, 24).date())
    assert texts == {
        "fi": "ma 28.12. klo 9.00",
        "sv": "mån 28.12. kl. 9.00",
        "en": "Mon 28 Dec at 9:00",
    }


# -------------------------------------------------------------- intervals and helpers


def test_from_mapping_merges_overlapping_and_touching_intervals() -> None:
    h = WeeklyHours.from_mapping({"mon": ["10:00-14:00", "8:00-12:00", "14:00-15:00"]})
    assert h.days[0] == ((time(8), time(15)),)
    assert h.next_opening(at(2024, 1, MON, 9)) == at(2024, 1, MON + 7, 8)


def test_intervals_on_and_never() -> None:
    h = WeeklyHours.from_mapping({"mon-fri": "8:00-16:00"})
    assert h.intervals_on(date(2024, 1, MON)) == ((time(8), time(16)),)
    assert h.intervals_on(date(2024, 1, SAT)) == ()
    assert h.closed_reason(date(2024, 1, MON)) is None
    never = WeeklyHours.never()
    assert not any(never.is_open(at(2024, 1, d, 12)) for d in range(MON, SUN + 1))
    assert never.next_opening(at(2024, 1, MON)) is None


def test_parse_intervals_and_days() -> None:
    assert parse_intervals("9:00-12:00") == ((time(9), time(12)),)
    assert parse_intervals(["13:00-16:00", "9:00-12:00"]) == (
        (time(9), time(12)),
        (time(13), time(16)),
    )
    assert parse_intervals([]) == ()
    assert parse_day("06-01") == (6, 1)
    assert parse_day("02-29") == (2, 29)
    assert parse_day("2026-12-24") == date(2026, 12, 24)
    assert parse_day(date(2026, 12, 24)) == date(2026, 12, 24)


@pytest.mark.parametrize("text", ["13-01", "02-30", "2026-02-30", "6-1", "summer", "2026-6-01"])
def test_parse_day_rejects_bad_days_clearly(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_day(text)
    assert repr(text) in str(info.value)


def test_intersect_intervals() -> None:
    a = ((time(8), time(11)), (time(12), time(16)))
    b = ((time(9), time(13)),)
    assert intersect_intervals(a, b) == ((time(9), time(11)), (time(12), time(13)))
    assert intersect_intervals(a, ()) == ()
    assert intersect_intervals(a, ((time.min, time.max),)) == a
    assert intersect_intervals(((time(8), time(9)),), ((time(9), time(10)),)) == ()


def test_whole_day_and_midnight_are_one_open_stretch() -> None:
    h = WeeklyHours.from_mapping({"mon-tue": "0:00-24:00", "wed": "8:00-9:00"})
    assert h.is_open(datetime(2024, 1, MON, 23, 59, 59, 999999, tzinfo=HEL))
    # Monday 24:00 runs on into Tuesday 0:00: no opening at Tuesday midnight.
    assert h.next_opening(at(2024, 1, MON, 12)) == at(2024, 1, WED, 8)
    assert WeeklyHours.always().next_opening(at(2024, 1, MON)) is None


def test_frozen_map_is_a_hashable_mapping() -> None:
    m = FrozenMap({"fi": "a", "en": "c"})
    assert m == {"fi": "a", "en": "c"} and dict(m) == {"fi": "a", "en": "c"}
    assert hash(m) == hash(FrozenMap([("en", "c"), ("fi", "a")]))
    assert m["fi"] == "a" and len(m) == 2 and "sv" not in m


# ------------------------------------------------------------------------------------ DST


def test_spans_on_a_normal_day_are_the_local_intervals() -> None:
    h = WeeklyHours.from_mapping({"mon": ["8:00-11:00", "12:00-24:00"]})
    spans = h.spans_on(date(2024, 1, MON), HEL)
    assert spans == (
        (at(2024, 1, MON, 8), at(2024, 1, MON, 11)),
        (at(2024, 1, MON, 12), at(2024, 1, TUE)),
    )
    assert all(s.tzinfo is HEL for span in spans for s in span)


def test_spring_forward_the_skipped_hour_is_closed() -> None:
    # Sunday 29 Mar 2026: 3:00 EET jumps to 4:00 EEST.
    h = WeeklyHours.from_mapping({"sun": "3:30-5:00"})
    (span,) = h.spans_on(date(2026, 3, 29), HEL)
    assert span[0] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # the jump, 4:00 EEST
    assert span[1] == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    got = h.next_opening(at(2026, 3, 29, 1))
    assert got == at(2026, 3, 29, 4) and got is not None and got.utcoffset() == timedelta(hours=3)
    assert h.is_open(got)
    inside = WeeklyHours.from_mapping({"sun": "3:10-3:50", "mon": "9:00-10:00"})
    assert inside.spans_on(date(2026, 3, 29), HEL) == ()  # only in the missing hour
    assert inside.next_opening(at(2026, 3, 29, 1)) == at(2026, 3, 30, 9)


def test_fall_back_the_repeated_hour_opens_twice() -> None:
    # Sunday 25 Oct 2026: 4:00 EEST goes back to 3:00 EET; 3:00-4:00 happens twice.
    h = WeeklyHours.from_mapping({"sun": "3:00-3:30"})
    spans = h.spans_on(date(2026, 10, 25), HEL)
    assert [(s.astimezone(UTC).time(), e.astimezone(UTC).time()) for s, e in spans] == [
        (time(0, 0), time(0, 30)),
        (time(1, 0), time(1, 30)),
    ]
    first_340 = datetime(2026, 10, 25, 3, 40, tzinfo=HEL)  # fold=0: EEST
    got = h.next_opening(first_340)
    assert got is not None and got.astimezone(UTC) == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert h.is_open(got)


def test_next_opening_in_summer_time_has_the_summer_offset() -> None:
    h = WeeklyHours.from_mapping({"mon-fri": "9:00-16:00"})
    got = h.next_opening(at(2026, 3, 27, 17))  # Friday before the change
    assert got == at(2026, 3, 30, 9) and got is not None
    assert got.utcoffset() == timedelta(hours=3)
    got = h.next_opening(at(2026, 10, 23, 17))
    assert got is not None and got.utcoffset() == timedelta(hours=2)
    assert got.astimezone(UTC) == datetime(2026, 10, 26, 7, tzinfo=UTC)
