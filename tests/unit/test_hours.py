"""Weekly opening hours: parsing, is_open, next_opening and the "opens" text."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from scheduler.domain.hours import WeeklyHours, parse_interval, when_text

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
