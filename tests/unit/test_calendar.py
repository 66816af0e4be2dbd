"""Opening calendars (DOMAIN.md rule 6): Finnish holidays, seasons, closures, shortened
days, service windows, the kiosk's refusals, the configuration keys and a property."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_common import config as cfg
from firmware_common.config import ConfigError
from scheduler.config import (
    DEMO_SITE,
    FINNISH_HOLIDAYS,
    SchedulerConfig,
    _finnish_holidays,
    load_config,
)
from scheduler.domain.errors import DomainError
from scheduler.domain.hours import (
    Intersection,
    OpeningCalendar,
    OpeningHours,
    Season,
    SpecialHours,
    WeeklyHours,
    intersect,
)
from scheduler.domain.model import ServiceDef, SiteDef, SiteState

HEL = ZoneInfo("Europe/Helsinki")
WEEKDAYS_9_16 = WeeklyHours.from_mapping({"mon-fri": "9:00-16:00"})
EVERY_DAY = WeeklyHours.from_mapping({"mon-sun": "9:00-16:00"})
NAMES = {"fi": "x", "sv": "x", "en": "x"}


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=HEL)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Helsinki wall-clock time as the aware UTC instant the domain takes as `now`."""
    return at(y, mo, d, h, mi).astimezone(UTC)


def finnish(week: WeeklyHours = WEEKDAYS_9_16, **kw: object) -> OpeningCalendar:
    return OpeningCalendar(week, holidays=FINNISH_HOLIDAYS, **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- holidays

HOLIDAYS_2026 = {
    date(2026, 1, 1): "Uudenvuodenpäivä",
    date(2026, 1, 6): "Loppiainen",
    date(2026, 4, 3): "Pitkäperjantai",
    date(2026, 4, 6): "Toinen pääsiäispäivä",
    date(2026, 5, 1): "Vappu",
    date(2026, 5, 14): "Helatorstai",
    date(2026, 6, 19): "Juhannusaatto",
    date(2026, 6, 20): "Juhannuspäivä",
    date(2026, 10, 31): "Pyhäinpäivä",
    date(2026, 12, 6): "Itsenäisyyspäivä",
    date(2026, 12, 24): "Jouluaatto",
    date(2026, 12, 25): "Joulupäivä",
    date(2026, 12, 26): "Tapaninpäivä",
}


@pytest.mark.parametrize(("day", "name_fi"), sorted(HOLIDAYS_2026.items()))
def test_finnish_public_holidays_2026_are_closed(day: date, name_fi: str) -> None:
    cal = finnish(EVERY_DAY)  # open every weekday: Saturday and Sunday holidays count too
    assert cal.intervals_on(day) == ()
    assert not cal.is_open(at(day.year, day.month, day.day, 12))
    reason = cal.closed_reason(day)
    assert reason is not None and reason["fi"] == name_fi
    assert set(reason) == {"fi", "sv", "en"} and all(reason.values())


def test_holiday_names_in_three_languages() -> None:
    assert finnish().closed_reason(date(2026, 12, 25)) == {
        "fi": "Joulupäivä",
        "sv": "Juldagen",
        "en": "Christmas Day",
    }
    assert finnish().closed_reason(date(2026, 6, 19)) == {
        "fi": "Juhannusaatto",
        "sv": "Midsommarafton",
        "en": "Midsummer Eve",
    }


@pytest.mark.parametrize(
    "day",
    [date(2026, 1, 2), date(2026, 1, 5), date(2026, 4, 7), date(2026, 6, 18), date(2026, 12, 28)],
)
def test_ordinary_days_around_holidays_are_open(day: date) -> None:
    cal = finnish(EVERY_DAY)
    assert cal.intervals_on(day) == ((time(9), time(16)),)
    assert cal.closed_reason(day) is None


@pytest.mark.parametrize("year", range(2020, 2036))
def test_christmas_and_midsummer_eve_every_year(year: int) -> None:
    days = _finnish_holidays(year)
    assert date(year, 12, 24) in days
    (eve,) = [d for d in days if d.month == 6 and 19 <= d.day <= 25 and d.weekday() == 4]
    assert days[eve]["en"] == "Midsummer Eve"


def test_holidays_as_a_set_or_mapping() -> None:
    as_set = OpeningCalendar(EVERY_DAY, holidays={date(2026, 3, 3)})
    assert as_set.intervals_on(date(2026, 3, 3)) == ()
    assert as_set.closed_reason(date(2026, 3, 3)) == {
        "fi": "pyhäpäivä",
        "sv": "helgdag",
        "en": "public holiday",
    }
    as_map = OpeningCalendar(EVERY_DAY, holidays={date(2026, 3, 3): NAMES})
    assert as_map.closed_reason(date(2026, 3, 3)) == NAMES
    assert hash(as_map) == hash(OpeningCalendar(EVERY_DAY, holidays={date(2026, 3, 3): NAMES}))


# ------------------------------------------------------------------ seasons and closures

SUMMER = Season("summer", WeeklyHours.from_mapping({"mon-fri": "9:00-15:00"}), (6, 1), (8, 31))
WINTER_WEEK = WeeklyHours.from_mapping({"mon-fri": "8:00-16:15"})


def test_summer_hours() -> None:
    cal = OpeningCalendar(WINTER_WEEK, seasons=(SUMMER,))
    assert cal.intervals_on(date(2026, 5, 29)) == ((time(8), time(16, 15)),)
    assert cal.intervals_on(date(2026, 6, 1)) == ((time(9), time(15)),)
    assert not cal.is_open(at(2026, 6, 1, 8, 30))
    assert cal.is_open(at(2026, 6, 1, 9))
    assert cal.is_open(at(2026, 8, 31, 14, 59))
    assert not cal.is_open(at(2026, 8, 31, 15))
    assert cal.is_open(at(2026, 9, 1, 8))
    assert cal.next_opening(at(2026, 5, 29, 17)) == at(2026, 6, 1, 9)
    assert cal.closed_reason(date(2026, 7, 1)) is None
    assert SUMMER.covers(date(2031, 7, 15))  # every year


def test_seasons_by_date_and_over_new_year() -> None:
    dated = Season("2026", WeeklyHours.never(), date(2026, 7, 6), date(2026, 7, 10))
    assert dated.covers(date(2026, 7, 6)) and dated.covers(date(2026, 7, 10))
    assert not dated.covers(date(2027, 7, 7)) and not dated.covers(date(2026, 7, 11))
    winter = Season("winter", WeeklyHours.never(), (12, 1), (2, 28))
    assert winter.covers(date(2026, 12, 1)) and winter.covers(date(2027, 1, 15))
    assert not winter.covers(date(2027, 3, 1)) and not winter.covers(date(2026, 11, 30))
    with pytest.raises(ValueError, match="both ends"):
        Season("mixed", WeeklyHours.never(), (6, 1), date(2026, 8, 31))
    with pytest.raises(ValueError, match="ends before"):
        Season("back", WeeklyHours.never(), date(2026, 8, 31), date(2026, 6, 1))


def test_one_off_closure_and_next_opening_across_it() -> None:
    reason = {"fi": "Kesäsulku", "sv": "Sommarstängt", "en": "Summer closure"}
    closure = SpecialHours(date(2026, 7, 13), date(2026, 7, 31), (), reason)
    cal = OpeningCalendar(WINTER_WEEK, seasons=(SUMMER,), special=(closure,))
    assert cal.intervals_on(date(2026, 7, 20)) == ()
    assert cal.closed_reason(date(2026, 7, 20)) == reason
    assert cal.closed_reason(date(2026, 8, 3)) is None
    # Friday 10 Jul after closing: the next opening is Monday 3 Aug, summer hours.
    assert cal.next_opening(at(2026, 7, 10, 16)) == at(2026, 8, 3, 9)
    assert cal.next_opening(at(2026, 7, 20, 12)) == at(2026, 8, 3, 9)


def test_shortened_day_and_new_year() -> None:
    eve = SpecialHours(date(2026, 12, 31), date(2026, 12, 31), ((time(9), time(12)),), NAMES)
    cal = finnish(WINTER_WEEK, special=(eve,))
    assert cal.intervals_on(date(2026, 12, 31)) == ((time(9), time(12)),)
    assert cal.is_open(at(2026, 12, 31, 11, 59))
    assert not cal.is_open(at(2026, 12, 31, 12))
    assert cal.closed_reason(date(2026, 12, 31)) == NAMES
    # Friday 1 Jan 2027 is New Year's Day: next Monday 4 Jan.
    assert cal.next_opening(at(2026, 12, 31, 12, 30)) == at(2027, 1, 4, 8)


def test_exceptions_beat_holidays_and_the_shortest_exception_wins() -> None:
    open_on_holiday = SpecialHours(date(2026, 5, 1), date(2026, 5, 1), ((time(10), time(13)),))
    month = SpecialHours(date(2026, 7, 1), date(2026, 7, 31), ())
    day_in_month = SpecialHours(date(2026, 7, 15), date(2026, 7, 15), ((time(9), time(10)),))
    cal = finnish(special=(day_in_month, month, open_on_holiday))
    assert cal.intervals_on(date(2026, 5, 1)) == ((time(10), time(13)),)
    assert cal.intervals_on(date(2026, 7, 14)) == ()
    assert cal.intervals_on(date(2026, 7, 15)) == ((time(9), time(10)),)
    assert cal.next_opening(at(2026, 7, 1, 8)) == at(2026, 7, 15, 9)
    with pytest.raises(ValueError, match="ends before"):
        SpecialHours(date(2026, 7, 2), date(2026, 7, 1))


def test_next_opening_across_christmas() -> None:
    cal = finnish()
    got = cal.next_opening(at(2026, 12, 24, 10))
    assert got == at(2026, 12, 28, 9)
    assert cal.next_opening(at(2026, 12, 23, 16)) == at(2026, 12, 28, 9)


def test_next_opening_looks_far_enough_ahead() -> None:
    long = SpecialHours(date(2026, 6, 1), date(2026, 8, 16), ())
    cal = finnish(special=(long,))
    assert cal.next_opening(at(2026, 6, 1, 8)) == at(2026, 8, 17, 9)
    forever = SpecialHours(date(2026, 1, 1), date(2027, 12, 31), ())
    assert finnish(special=(forever,)).next_opening(at(2026, 6, 1)) is None


def test_next_opening_across_the_dst_changes() -> None:
    cal = finnish(WINTER_WEEK)
    spring = cal.next_opening(at(2026, 3, 27, 17))  # Fri; clocks go forward Sun 29 Mar
    assert spring == at(2026, 3, 30, 8) and spring is not None
    assert spring.utcoffset() == timedelta(hours=3)
    assert spring.astimezone(UTC) == datetime(2026, 3, 30, 5, tzinfo=UTC)
    autumn = cal.next_opening(at(2026, 10, 23, 17))  # clocks go back Sun 25 Oct
    assert autumn == at(2026, 10, 26, 8) and autumn is not None
    assert autumn.utcoffset() == timedelta(hours=2)
    # Good Friday 3 Apr and Easter Monday 6 Apr 2026, in summer time.
    easter = cal.next_opening(at(2026, 4, 2, 17))
    assert easter == at(2026, 4, 7, 8) and easter is not None
    assert easter.utcoffset() == timedelta(hours=3)


# ------------------------------------------------------------------------ intersections


def test_intersect_helper() -> None:
    assert intersect() == WeeklyHours.always()
    assert intersect(None, WEEKDAYS_9_16, None) is WEEKDAYS_9_16
    both = intersect(
        finnish(), WeeklyHours.from_mapping({"mon-sun": ["8:00-10:00", "15:00-18:00"]})
    )
    assert isinstance(both, Intersection)
    assert both.intervals_on(date(2026, 12, 28)) == ((time(9), time(10)), (time(15), time(16)))
    assert both.intervals_on(date(2026, 12, 25)) == ()
    assert both.closed_reason(date(2026, 12, 25)) == {
        "fi": "Joulupäivä",
        "sv": "Juldagen",
        "en": "Christmas Day",
    }
    assert both.lookahead_days == OpeningCalendar.lookahead_days
    assert both.is_open(at(2026, 12, 28, 9, 30)) and not both.is_open(at(2026, 12, 28, 12))
    assert both.next_opening(at(2026, 12, 24, 12)) == at(2026, 12, 28, 9)
    assert hash(both) == hash(
        intersect(finnish(), WeeklyHours.from_mapping({"mon-sun": ["8:00-10:00", "15:00-18:00"]}))
    )


def site_with(**service_hours: OpeningHours | None) -> SiteDef:
    demo = load_config(DEMO_SITE).site_defs()["demo"]
    police = dataclasses.replace(
        demo.services["passport-pickup"], appointments=True, **service_hours
    )
    return dataclasses.replace(demo, hours=finnish(), services={**demo.services, police.id: police})


def test_service_windows_walk_in_and_appointments() -> None:
    site = site_with(
        hours=WeeklyHours.from_mapping({"mon-thu": "8:00-15:00"}),
        walk_in_hours=WeeklyHours.from_mapping({"mon-fri": "9:00-11:00"}),
        appointment_hours=WeeklyHours.from_mapping({"mon-fri": "13:00-16:00"}),
    )
    svc = site.services["passport-pickup"]
    mon, fri, xmas = date(2026, 12, 28), date(2027, 1, 8), date(2026, 12, 25)
    assert site.service_calendar(svc).intervals_on(mon) == ((time(9), time(15)),)
    assert site.walk_in_calendar(svc).intervals_on(mon) == ((time(9), time(11)),)
    assert site.appointment_calendar(svc).intervals_on(mon) == ((time(13), time(15)),)
    assert site.appointment_calendar("passport-pickup").intervals_on(fri) == ()  # service: mon-thu
    assert site.appointment_calendar(svc).intervals_on(xmas) == ()
    spans = site.appointment_calendar(svc).spans_on(mon, site.tz)
    assert spans == ((at(2026, 12, 28, 13), at(2026, 12, 28, 15)),)
    # No appointments: never bookable; not walk-in: never a number.
    notary = site.services["notary"]
    assert site.walk_in_calendar(notary).intervals_on(mon) == ()
    assert site.appointment_calendar(notary).intervals_on(mon) == ((time(9), time(16)),)
    city = dataclasses.replace(site.services["city-info"], appointments=False)
    assert site.appointment_calendar(city).intervals_on(mon) == ()
    assert site.walk_in_calendar(city).intervals_on(mon) == ((time(9), time(16)),)


# --------------------------------------------------------------------- kiosk refusals


def issue(state: SiteState, service: str, now: datetime) -> object:
    return state.issue_ticket(
        service_id=service, lang="fi", priority=False, now=now, ticket_id="t1", token="tok1"
    )


def refusal(state: SiteState, service: str, now: datetime) -> DomainError:
    with pytest.raises(DomainError) as info:
        issue(state, service, now)
    return info.value


def test_site_closed_on_a_holiday_says_why_and_when() -> None:
    state = SiteState(site_with())
    err = refusal(state, "city-info", utc(2026, 12, 25, 10))
    assert err.code == "site_closed"
    assert err.message == {
        "fi": "Toimipiste on suljettu (Joulupäivä). Avautuu ma 28.12. klo 9.00.",
        "sv": "Verksamhetsstället är stängt (Juldagen). Öppnar mån 28.12. kl. 9.00.",
        "en": "The service point is closed (Christmas Day). Opens Mon 28 Dec at 9:00.",
    }
    assert datetime.fromisoformat(err.params["opens_at"]) == at(2026, 12, 28, 9)
    # An ordinary evening: no reason.
    err = refusal(state, "city-info", utc(2026, 12, 28, 17))
    assert err.message["fi"] == "Toimipiste on suljettu. Avautuu ti 29.12. klo 9.00."
    # Early on an ordinary day: only the time.
    err = refusal(state, "city-info", utc(2026, 12, 29, 8))
    assert err.message["en"] == "The service point is closed. Opens at 9:00."


def test_queue_closed_when_only_the_service_is_closed() -> None:
    reason = {"fi": "koulutuspäivä", "sv": "utbildningsdag", "en": "training day"}
    training = SpecialHours(date(2026, 12, 29), date(2026, 12, 29), (), reason)
    site = site_with(
        hours=OpeningCalendar(
            WeeklyHours.from_mapping({"mon-fri": "8:00-16:00"}), special=(training,)
        ),
        walk_in_hours=WeeklyHours.from_mapping({"mon-fri": "9:00-11:00"}),
    )
    state = SiteState(site)
    svc = site.services["passport-pickup"]
    # Monday 28 Dec: before 9 the site itself is closed; 9-11 walk-ins; then only the
    # service's window is closed.
    assert refusal(state, "passport-pickup", utc(2026, 12, 28, 8, 30)).code == "site_closed"
    assert not state.service_open(svc, utc(2026, 12, 28, 8, 30))
    assert state.service_open(svc, utc(2026, 12, 28, 9))
    err = refusal(state, "passport-pickup", utc(2026, 12, 28, 11, 30))
    assert err.code == "queue_closed"
    assert err.message["fi"] == (
        "Tähän palveluun ei nyt oteta vuoronumeroita. Avautuu ke 30.12. klo 9.00."
    )
    # After the window: the next day is the service's training day -> Wednesday.
    err = refusal(state, "passport-pickup", utc(2026, 12, 28, 11))
    assert (
        err.message["sv"] == "Inga könummer till denna tjänst just nu. Öppnar ons 30.12. kl. 9.00."
    )
    err = refusal(state, "passport-pickup", utc(2026, 12, 29, 10))
    assert err.code == "queue_closed"
    assert err.message["en"] == (
        "This service takes no walk-in numbers now (training day). Opens Wed 30 Dec at 9:00."
    )
    # The rest of the site is open that day.
    assert state.service_open(site.services["city-info"], utc(2026, 12, 29, 10))
    # The site closed (a holiday) wins over the service's window.
    assert refusal(state, "passport-pickup", utc(2027, 1, 6, 10)).code == "site_closed"
    assert not state.service_open(svc, utc(2027, 1, 6, 10))


def test_refused_issue_changes_nothing_and_open_issue_works() -> None:
    state = SiteState(site_with())
    refusal(state, "city-info", utc(2026, 12, 26, 10))
    assert state.tickets == {} and state.events == [] and state.counters == {}
    t = state.issue_ticket(
        service_id="city-info",
        lang="fi",
        priority=False,
        now=utc(2026, 12, 28, 9),
        ticket_id="t2",
        token="tok2",
    )
    assert t.number == "A001"


def test_service_never_open_says_nothing_about_opening() -> None:
    site = site_with(hours=WeeklyHours.never())
    err = refusal(SiteState(site), "passport-pickup", utc(2026, 12, 28, 10))
    assert err.code == "queue_closed" and err.message_key == "queue_closed_unknown"


def test_service_def_defaults() -> None:
    s = ServiceDef(id="x", name=NAMES, provider="p", queue="q")
    assert s.hours is None and s.walk_in_hours is None and s.appointment_hours is None


# ------------------------------------------------------------------------ configuration

SITE = """
[[sites]]
id = "kuopio"
name = { fi = "Kuopio", sv = "Kuopio", en = "Kuopio" }
{site}

[[sites.queues]]
id = "city"
prefix = "A"
name = { fi = "Kaupunki", sv = "Stad", en = "City" }

[[sites.services]]
id = "info"
name = { fi = "Neuvonta", sv = "Rådgivning", en = "Information" }
provider = "municipality"
queue = "city"
{service}
"""


def load(tmp_path: Path, site: str = "", service: str = "") -> SiteDef:
    path = tmp_path / "site.toml"
    path.write_text(SITE.replace("{site}", site).replace("{service}", service), encoding="utf-8")
    return cfg.load(SchedulerConfig, path, env={}).site_defs()["kuopio"]


def error(tmp_path: Path, site: str = "", service: str = "") -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, site, service)
    return str(info.value)


def test_config_holidays_default_with_hours(tmp_path: Path) -> None:
    site = load(tmp_path, 'hours = { "mon-fri" = "9:00-16:00" }')
    assert isinstance(site.hours, OpeningCalendar)
    assert site.hours.intervals_on(date(2026, 12, 24)) == ()
    assert site.hours.intervals_on(date(2026, 12, 28)) == ((time(9), time(16)),)
    off = load(tmp_path, 'hours = { "mon-fri" = "9:00-16:00" }\nholidays = false')
    assert off.hours == WEEKDAYS_9_16
    # No hours: open around the clock, holidays too, unless asked.
    assert load(tmp_path).hours == WeeklyHours.always()
    on = load(tmp_path, "holidays = true")
    assert on.hours.intervals_on(date(2026, 12, 24)) == ()
    assert on.hours.intervals_on(date(2026, 12, 23)) == ((time.min, time.max),)


def test_config_seasons_closures_and_service_windows(tmp_path: Path) -> None:
    site = load(
        tmp_path,
        """hours = { "mon-fri" = "8:00-16:15" }

[[sites.seasons]]
name = "summer"
from = "06-01"
to = "08-31"
hours = { "mon-fri" = "9:00-15:00" }

[[sites.closures]]
date = "2026-12-31"
hours = "9:00-12:00"
reason = { fi = "Uudenvuodenaatto", sv = "Nyårsafton", en = "New Year's Eve" }

[[sites.closures]]
from = 2026-07-13
to = "2026-07-24"
""",
        """walk_in_hours = { "mon-fri" = "9:00-11:00" }
appointment_hours = { "mon-fri" = ["12:00-14:00", "13:00-16:00"] }
hours = { "mon-thu" = "8:00-16:00" }

[[sites.services.closures]]
date = 2026-09-01
""",
    )
    cal = site.hours
    assert cal.intervals_on(date(2026, 6, 1)) == ((time(9), time(15)),)
    assert cal.intervals_on(date(2026, 7, 20)) == ()
    assert cal.intervals_on(date(2026, 12, 31)) == ((time(9), time(12)),)
    assert cal.closed_reason(date(2026, 12, 31)) == {
        "fi": "Uudenvuodenaatto",
        "sv": "Nyårsafton",
        "en": "New Year's Eve",
    }
    svc = dataclasses.replace(site.services["info"], appointments=True)
    assert site.appointment_calendar(svc).intervals_on(date(2026, 12, 28)) == (
        (time(12), time(16)),
    )
    assert site.walk_in_calendar(svc).intervals_on(date(2026, 6, 4)) == ((time(9), time(11)),)
    assert site.walk_in_calendar(svc).intervals_on(date(2026, 6, 5)) == ()  # service: mon-thu
    assert site.walk_in_calendar(svc).intervals_on(date(2026, 9, 1)) == ()
    assert site.walk_in_calendar(svc).intervals_on(date(2026, 9, 2)) == ((time(9), time(11)),)


@pytest.mark.parametrize(
    ("site", "service", "mentions"),
    [
        (
            '[[sites.seasons]]\nname = "summer"\nfrom = "13-01"\nto = "08-31"\nhours = {}',
            "",
            ["site 'kuopio': season 'summer'", "'13-01'"],
        ),
        (
            '[[sites.seasons]]\nname = "summer"\nfrom = "06-01"\nto = "2026-08-31"\nhours = {}',
            "",
            ["season 'summer'", "both ends"],
        ),
        (
            '[[sites.seasons]]\nname = "summer"\nfrom = "06-01"\nto = "08-31"\n'
            'hours = { "mon-fry" = "9:00-15:00" }',
            "",
            ["season 'summer'", "mon-fry"],
        ),
        (
            '[[sites.seasons]]\nname = "s"\nfrom = "06-01"\nto = "08-31"\nhours = {}\ncolour = 1',
            "",
            ["seasons.0.colour"],
        ),
        ('[[sites.closures]]\ndate = "2026-02-30"', "", ["closure 1", "'2026-02-30'", "exist"]),
        ('[[sites.closures]]\ndate = "12-24"', "", ["closure 1", "'12-24'", "full date"]),
        (
            "[[sites.closures]]\nreason = { fi = 'a', sv = 'b', en = 'c' }",
            "",
            ["closure 1", "`date`"],
        ),
        (
            '[[sites.closures]]\ndate = "2026-12-24"\nfrom = "2026-12-24"\nto = "2026-12-26"',
            "",
            ["closure 1", "not both"],
        ),
        (
            '[[sites.closures]]\nfrom = "2026-12-26"\nto = "2026-12-24"',
            "",
            ["closure 2026-12-26", "ends before it starts"],
        ),
        (
            '[[sites.closures]]\ndate = "2026-12-31"\nhours = "9-12"',
            "",
            ["site 'kuopio': closure 2026-12-31", "'9-12'"],
        ),
        (
            "",
            'appointment_hours = { "mon" = "16:00-8:00" }',
            ["service 'info'", "appointment_hours", "'16:00-8:00'"],
        ),
        ("", 'hours = { "moon" = "9:00-11:00" }', ["service 'info'", "hours", "moon"]),
        (
            "",
            '[[sites.services.closures]]\ndate = "2026-13-01"',
            ["service 'info': closure 1", "'2026-13-01'"],
        ),
        ('holidays = "maybe"', "", ["holidays"]),
    ],
)
def test_config_errors_name_the_site_service_and_value(
    tmp_path: Path, site: str, service: str, mentions: list[str]
) -> None:
    msg = error(tmp_path, site, service)
    assert "invalid configuration" in msg
    for m in mentions:
        assert m in msg, f"{m!r} not in {msg!r}"


def test_demo_walk_in_queues_are_open_on_holidays() -> None:
    demo = load_config(DEMO_SITE).site_defs()["demo"]
    state = SiteState(demo)
    for day in HOLIDAYS_2026:
        for hour in (0, 12, 23):
            now = utc(day.year, day.month, day.day, hour)
            assert state.is_open(now)
            assert state.service_open(demo.services["city-info"], now)
    # The demo's police desk: summer hours and a shortened training day.
    police = demo.walk_in_calendar("passport-pickup")
    assert police.intervals_on(date(2026, 7, 3)) == ()  # Friday in July
    assert police.intervals_on(date(2026, 12, 30)) == ((time(9), time(10)),)


# ------------------------------------------------------------------------------ property

_minute = st.integers(0, 24 * 60)


@st.composite
def intervals(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        a, b = sorted(draw(st.lists(_minute, min_size=2, max_size=2, unique=True)))
        start = time(a // 60, a % 60)
        end = time.max if b == 24 * 60 else time(b // 60, b % 60)
        out.append((start, end))
    return tuple(out)


@st.composite
def weeks(draw: st.DrawFn) -> WeeklyHours:
    days = [draw(intervals()) for _ in range(7)]
    if not any(days):
        days[draw(st.integers(0, 6))] = ((time(9), time(10)),)
    return WeeklyHours(tuple(days))


BASE_DAYS = [date(2026, 3, 29), date(2026, 10, 25), date(2026, 12, 24), date(2026, 6, 19)]


@st.composite
def calendars(draw: st.DrawFn) -> tuple[OpeningHours, datetime]:
    base = draw(st.sampled_from(BASE_DAYS) | st.dates(date(2026, 1, 1), date(2026, 12, 31)))
    near = st.integers(-3, 10).map(lambda n: base + timedelta(days=n))
    special = []
    for _ in range(draw(st.integers(0, 3))):
        first = draw(near)
        last = first + timedelta(days=draw(st.integers(0, 4)))
        special.append(SpecialHours(first, last, draw(intervals())))
    seasons = []
    if draw(st.booleans()):
        first = draw(near)
        seasons.append(
            Season("s", draw(weeks()), first, first + timedelta(days=draw(st.integers(0, 20))))
        )
    holidays = FINNISH_HOLIDAYS if draw(st.booleans()) else None
    cal: OpeningHours = OpeningCalendar(draw(weeks()), tuple(seasons), tuple(special), holidays)
    if draw(st.booleans()):
        cal = intersect(cal, draw(weeks()))
    start = datetime.combine(base, time(), tzinfo=HEL).astimezone(UTC)
    now = start + timedelta(minutes=draw(st.integers(-12 * 60, 36 * 60)))
    return cal, now.astimezone(HEL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars())
def test_property_is_open_agrees_with_intervals_and_next_opening(
    case: tuple[OpeningHours, datetime],
) -> None:
    cal, now = case
    tz = now.tzinfo
    # is_open agrees with the day's intervals and with its real spans.
    t = now.time()
    by_intervals = any(a <= t and (t < b or b == time.max) for a, b in cal.intervals_on(now.date()))
    assert cal.is_open(now) == by_intervals
    assert cal.is_open(now) == any(s <= now < e for s, e in cal.spans_on(now.date(), tz))
    nxt = cal.next_opening(now)
    if nxt is None:
        # Nothing opens within the look-ahead.
        days = [now.date() + timedelta(days=n) for n in range(cal.lookahead_days + 1)]
        assert not any(s > now for d in days for s, _ in cal.spans_on(d, tz))
        return
    assert nxt.astimezone(UTC) > now.astimezone(UTC) and nxt.tzinfo is tz  # real time
    assert cal.is_open(nxt)
    assert not cal.is_open((nxt.astimezone(UTC) - timedelta(minutes=1)).astimezone(HEL))
    if not cal.is_open(now):
        # Closed from now until the next opening, minute by minute (real minutes).
        m = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = nxt.astimezone(UTC)
        while m < end:
            assert not cal.is_open(m.astimezone(HEL)), m.astimezone(HEL)
            m += timedelta(minutes=1)
