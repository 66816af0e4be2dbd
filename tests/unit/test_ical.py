"""iCalendar out (invitations, advisor feeds) and in (busy time, calendar sources)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from scheduler.booking.ical import (
    CalendarError,
    CalendarSource,
    advisor_feed,
    parse_busy,
    reservation_ics,
)
from scheduler.booking.model import AdvisorDef, Reservation
from scheduler.domain.model import ServiceDef, SiteDef

HEL = ZoneInfo("Europe/Helsinki")

SITE = SiteDef(
    id="demo",
    name={"fi": "Asiointipiste Demola", "sv": "Servicepunkt Demola", "en": "Demola Service Point"},
)
NOTARY = ServiceDef(
    id="notary",
    name={"fi": "Julkinen notaari", "sv": "Notarius publicus", "en": "Notary public"},
    provider="dvv",
    queue="dvv",
    walk_in=False,
    appointments=True,
    instructions={
        "fi": "Ota mukaan henkilöllisyystodistus.",
        "sv": "Ta med ett identitetsbevis.",
        "en": "Bring an identity document.",
    },
)
SERVICES = {NOTARY.id: NOTARY}
ADVISOR = AdvisorDef(id="anna", name="Anna Asiantuntija", skills=frozenset({"notary"}))


def reservation(**kw: object) -> Reservation:
    base: dict[str, object] = dict(
        id="r-1",
        code="7KQ-4MX",
        site="demo",
        service="notary",
        advisor="anna",
        start=datetime(2026, 12, 1, 9, 30, tzinfo=HEL),
        end=datetime(2026, 12, 1, 10, 0, tzinfo=HEL),
        name="Maija Meikäläinen",
        phone="+358401234567",
        email="maija@example.fi",
        hetu_hash="f00dfeedcafe1234hetuhash",
        card_hash="cardhash9876",
        answers={"topic": "perukirja"},
        version=3,
    )
    base.update(kw)
    return Reservation(**base)  # type: ignore[arg-type]


def one_event(data: bytes) -> icalendar.Event:
    cal = icalendar.Calendar.from_ical(data)
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


# ---------------------------------------------------------------------------- out


def test_reservation_ics_request() -> None:
    data = reservation_ics(reservation(), SITE, NOTARY, lang="fi", location="Kauppakatu 1, Tampere")
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["METHOD"]) == "REQUEST"
    ev = one_event(data)
    assert str(ev["UID"]) == "reservation-r-1@vuoro"
    assert int(ev["SEQUENCE"]) == 3
    assert ev["DTSTART"].dt == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert ev["DTEND"].dt == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert b"DTSTART:20261201T073000Z" in data
    assert str(ev["SUMMARY"]) == "Julkinen notaari"
    assert str(ev["LOCATION"]) == "Asiointipiste Demola, Kauppakatu 1, Tampere"
    assert "7KQ-4MX" in str(ev["DESCRIPTION"])
    assert "Ota mukaan henkilöllisyystodistus." in str(ev["DESCRIPTION"])
    assert str(ev["STATUS"]) == "CONFIRMED"
    assert b"hetuhash" not in data and b"cardhash" not in data


def test_reservation_ics_language_and_cancel() -> None:
    data = reservation_ics(
        reservation(version=4), SITE, NOTARY, lang="sv", method="CANCEL", location=None
    )
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["METHOD"]) == "CANCEL"
    ev = one_event(data)
    assert str(ev["STATUS"]) == "CANCELLED"
    assert str(ev["UID"]) == "reservation-r-1@vuoro"  # the same event as the invitation
    assert int(ev["SEQUENCE"]) == 4
    assert str(ev["SUMMARY"]) == "Notarius publicus"
    assert str(ev["LOCATION"]) == "Servicepunkt Demola"
    assert "Bokningskod: 7KQ-4MX" in str(ev["DESCRIPTION"])


def test_reservation_ics_location_with_site_name_not_repeated() -> None:
    ev = one_event(
        reservation_ics(
            reservation(), SITE, NOTARY, lang="en", location="Asiointipiste Demola, Kauppakatu 1"
        )
    )
    assert str(ev["LOCATION"]) == "Asiointipiste Demola, Kauppakatu 1"


def test_reservation_ics_unknown_language_falls_back_to_finnish() -> None:
    ev = one_event(reservation_ics(reservation(), SITE, NOTARY, lang="de"))
    assert str(ev["SUMMARY"]) == "Julkinen notaari"


def test_reservation_ics_bad_method() -> None:
    with pytest.raises(ValueError):
        reservation_ics(reservation(), SITE, NOTARY, lang="fi", method="PUBLISH")


def test_advisor_feed_without_names() -> None:
    rs = [
        reservation(),
        reservation(
            id="r-2",
            code="ABC-DEF",
            start=datetime(2026, 12, 2, 8, 0, tzinfo=HEL),
            end=datetime(2026, 12, 2, 8, 30, tzinfo=HEL),
            status="checked_in",
        ),
        reservation(id="r-3", code="CAN-CEL", status="cancelled"),
        reservation(id="r-4", code="DON-EEE", status="done"),
        reservation(id="r-5", code="OTH-ERR", advisor="bertta"),
        reservation(id="r-6", code="HEL-DDD", status="held"),
    ]
    data = advisor_feed(ADVISOR, rs, SITE, SERVICES)
    cal = icalendar.Calendar.from_ical(data)
    assert "Anna Asiantuntija" in str(cal["X-WR-CALNAME"])
    assert "METHOD" not in cal
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {
        "reservation-r-1@vuoro",
        "reservation-r-2@vuoro",
        "reservation-r-6@vuoro",
    }
    assert str(events["reservation-r-1@vuoro"]["SUMMARY"]) == "Julkinen notaari 7KQ-4MX"
    assert str(events["reservation-r-6@vuoro"]["STATUS"]) == "TENTATIVE"
    text = data.decode()
    for secret in ("hetuhash", "cardhash", "Maija", "Meik", "0401234567", "maija@", "perukirja"):
        assert secret not in text, secret


def test_advisor_feed_with_names() -> None:
    data = advisor_feed(ADVISOR, [reservation()], SITE, SERVICES, with_names=True, lang="en")
    ev = one_event(data)
    desc = str(ev["DESCRIPTION"])
    assert "Maija Meikäläinen" in desc
    assert "+358401234567" in desc
    assert "Booking code: 7KQ-4MX" in desc
    text = data.decode()
    assert "hetuhash" not in text and "cardhash" not in text and "maija@" not in text


def test_advisor_feed_roundtrips_as_busy_time() -> None:
    data = advisor_feed(ADVISOR, [reservation()], SITE, SERVICES)
    busy = parse_busy(
        data, datetime(2026, 12, 1, tzinfo=HEL), datetime(2026, 12, 2, tzinfo=HEL), HEL
    )
    assert busy == [
        (datetime(2026, 12, 1, 7, 30, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC))
    ]


# ---------------------------------------------------------------------------- parse_busy


def cal(*bodies: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        + "".join(bodies)
        + "END:VCALENDAR\r\n"
    ).encode()


def event(uid: str, *lines: str) -> str:
    return (
        "BEGIN:VEVENT\r\n"
        + f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        + "".join(f"{x}\r\n" for x in lines)
        + "END:VEVENT\r\n"
    )


def h(y: int, mo: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, mo, d, hh, mm, tzinfo=HEL)


NOV = (h(2026, 11, 1), h(2026, 12, 1))


def busy_local(data: bytes, start: datetime = NOV[0], end: datetime = NOV[1]) -> list[tuple]:
    return [
        (a.astimezone(HEL).replace(tzinfo=None), b.astimezone(HEL).replace(tzinfo=None))
        for a, b in parse_busy(data, start, end, HEL)
    ]


def naive(y: int, mo: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, mo, d, hh, mm)


def test_simple_event_utc_and_results_are_utc() -> None:
    data = cal(event("a", "DTSTART:20261102T080000Z", "DTEND:20261102T090000Z"))
    busy = parse_busy(data, *NOV, HEL)
    assert busy == [(datetime(2026, 11, 2, 8, tzinfo=UTC), datetime(2026, 11, 2, 9, tzinfo=UTC))]
    assert all(a.utcoffset() == timedelta(0) for a, _ in busy)


def test_tzid_helsinki_vs_utc() -> None:
    data = cal(
        event(
            "hel",
            "DTSTART;TZID=Europe/Helsinki:20261102T100000",
            "DTEND;TZID=Europe/Helsinki:20261102T110000",
        ),
        event("utc", "DTSTART:20261103T100000Z", "DTEND:20261103T110000Z"),
    )
    assert busy_local(data) == [
        (naive(2026, 11, 2, 10), naive(2026, 11, 2, 11)),
        (naive(2026, 11, 3, 12), naive(2026, 11, 3, 13)),  # 10 UTC is 12 in Helsinki (winter)
    ]


def test_tzid_with_vtimezone_summer() -> None:
    vtz = (
        "BEGIN:VTIMEZONE\r\nTZID:FLE Standard Time\r\n"
        "BEGIN:STANDARD\r\nDTSTART:16010101T040000\r\nTZOFFSETFROM:+0300\r\n"
        "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\n"
        "TZOFFSETTO:+0300\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n"
        "END:VTIMEZONE\r\n"
    )
    data = cal(
        vtz,
        event(
            "x",
            "DTSTART;TZID=FLE Standard Time:20260615T100000",
            "DTEND;TZID=FLE Standard Time:20260615T113000",
        ),
    )
    busy = parse_busy(data, h(2026, 6, 1), h(2026, 7, 1), HEL)
    assert busy == [
        (datetime(2026, 6, 15, 7, tzinfo=UTC), datetime(2026, 6, 15, 8, 30, tzinfo=UTC))
    ]


def test_floating_time_is_site_time() -> None:
    data = cal(event("f", "DTSTART:20260615T100000", "DTEND:20260615T110000"))
    busy = parse_busy(data, h(2026, 6, 1), h(2026, 7, 1), HEL)
    assert busy == [(datetime(2026, 6, 15, 7, tzinfo=UTC), datetime(2026, 6, 15, 8, tzinfo=UTC))]
    stockholm = ZoneInfo("Europe/Stockholm")
    busy = parse_busy(data, h(2026, 6, 1), h(2026, 7, 1), stockholm)
    assert busy == [(datetime(2026, 6, 15, 8, tzinfo=UTC), datetime(2026, 6, 15, 9, tzinfo=UTC))]


def test_all_day_event_is_the_whole_local_day() -> None:
    data = cal(
        event("d", "DTSTART;VALUE=DATE:20261104", "DTEND;VALUE=DATE:20261106"),
        event("one", "DTSTART;VALUE=DATE:20261110"),  # no end: one day
    )
    assert busy_local(data) == [
        (naive(2026, 11, 4), naive(2026, 11, 6)),
        (naive(2026, 11, 10), naive(2026, 11, 11)),
    ]


def test_all_day_on_dst_change_day() -> None:
    data = cal(event("d", "DTSTART;VALUE=DATE:20261025", "DTEND;VALUE=DATE:20261026"))
    busy = parse_busy(data, h(2026, 10, 20), h(2026, 10, 30), HEL)
    # 25 hours long: Helsinki leaves summer time that night
    assert busy == [
        (datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 25, 22, tzinfo=UTC))
    ]


def test_duration_instead_of_dtend() -> None:
    data = cal(event("d", "DTSTART:20261102T080000Z", "DURATION:PT45M"))
    assert parse_busy(data, *NOV, HEL) == [
        (datetime(2026, 11, 2, 8, tzinfo=UTC), datetime(2026, 11, 2, 8, 45, tzinfo=UTC))
    ]


def test_recurring_weekly_with_exdate_and_rdate() -> None:
    data = cal(
        event(
            "team-meeting",
            "DTSTART;TZID=Europe/Helsinki:20261102T130000",
            "DTEND;TZID=Europe/Helsinki:20261102T140000",
            "RRULE:FREQ=WEEKLY;BYDAY=MO",
            "EXDATE;TZID=Europe/Helsinki:20261109T130000",
            "RDATE;TZID=Europe/Helsinki:20261104T150000",
        )
    )
    assert busy_local(data) == [
        (naive(2026, 11, 2, 13), naive(2026, 11, 2, 14)),
        (naive(2026, 11, 4, 15), naive(2026, 11, 4, 16)),
        (naive(2026, 11, 16, 13), naive(2026, 11, 16, 14)),
        (naive(2026, 11, 23, 13), naive(2026, 11, 23, 14)),
        (naive(2026, 11, 30, 13), naive(2026, 11, 30, 14)),
    ]


def test_recurring_keeps_local_time_across_dst() -> None:
    data = cal(
        event(
            "weekly",
            "DTSTART;TZID=Europe/Helsinki:20261019T090000",
            "DTEND;TZID=Europe/Helsinki:20261019T100000",
            "RRULE:FREQ=WEEKLY;COUNT=3",
        )
    )
    busy = parse_busy(data, h(2026, 10, 1), h(2026, 11, 30), HEL)
    assert [a.astimezone(HEL).hour for a, _ in busy] == [9, 9, 9]
    assert [a.hour for a, _ in busy] == [6, 7, 7]  # UTC: summer time, then winter


def test_changed_and_cancelled_occurrences() -> None:
    data = cal(
        event(
            "daily",
            "DTSTART:20261102T080000Z",
            "DTEND:20261102T083000Z",
            "RRULE:FREQ=DAILY;COUNT=3",
        ),
        event(
            "daily",
            "RECURRENCE-ID:20261103T080000Z",
            "DTSTART:20261103T120000Z",
            "DTEND:20261103T123000Z",
        ),
        event(
            "daily",
            "RECURRENCE-ID:20261104T080000Z",
            "DTSTART:20261104T080000Z",
            "DTEND:20261104T083000Z",
            "STATUS:CANCELLED",
        ),
    )
    assert parse_busy(data, *NOV, HEL) == [
        (datetime(2026, 11, 2, 8, tzinfo=UTC), datetime(2026, 11, 2, 8, 30, tzinfo=UTC)),
        (datetime(2026, 11, 3, 12, tzinfo=UTC), datetime(2026, 11, 3, 12, 30, tzinfo=UTC)),
    ]


def test_transparent_and_cancelled_are_not_busy() -> None:
    data = cal(
        event("t", "DTSTART:20261102T080000Z", "DTEND:20261102T090000Z", "TRANSP:TRANSPARENT"),
        event("c", "DTSTART:20261103T080000Z", "DTEND:20261103T090000Z", "STATUS:CANCELLED"),
        event("o", "DTSTART:20261105T080000Z", "DTEND:20261105T090000Z", "TRANSP:OPAQUE"),
        event(
            "f",
            "DTSTART:20261106T080000Z",
            "DTEND:20261106T090000Z",
            "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
        ),
    )
    assert parse_busy(data, *NOV, HEL) == [
        (datetime(2026, 11, 5, 8, tzinfo=UTC), datetime(2026, 11, 5, 9, tzinfo=UTC))
    ]


def test_freebusy_periods() -> None:
    data = cal(
        "BEGIN:VFREEBUSY\r\nUID:fb\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20261101T000000Z\r\nDTEND:20261201T000000Z\r\n"
        "FREEBUSY:20261106T080000Z/PT1H,20261106T100000Z/20261106T110000Z\r\n"
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261107T080000Z/PT30M\r\n"
        "FREEBUSY;FBTYPE=FREE:20261108T080000Z/PT1H\r\n"
        "END:VFREEBUSY\r\n"
    )
    assert parse_busy(data, *NOV, HEL) == [
        (datetime(2026, 11, 6, 8, tzinfo=UTC), datetime(2026, 11, 6, 9, tzinfo=UTC)),
        (datetime(2026, 11, 6, 10, tzinfo=UTC), datetime(2026, 11, 6, 11, tzinfo=UTC)),
        (datetime(2026, 11, 7, 8, tzinfo=UTC), datetime(2026, 11, 7, 8, 30, tzinfo=UTC)),
    ]


def test_clipped_to_window_and_merged() -> None:
    data = cal(
        event("a", "DTSTART:20261031T200000Z", "DTEND:20261101T010000Z"),  # crosses start
        event("b", "DTSTART:20261110T080000Z", "DTEND:20261110T100000Z"),
        event("c", "DTSTART:20261110T090000Z", "DTEND:20261110T110000Z"),  # overlaps b
        event("d", "DTSTART:20261130T210000Z", "DTEND:20261201T010000Z"),  # crosses end
        event("e", "DTSTART:20261215T080000Z", "DTEND:20261215T090000Z"),  # outside
    )
    busy = parse_busy(data, *NOV, HEL)
    assert busy == [
        (NOV[0].astimezone(UTC), datetime(2026, 11, 1, 1, tzinfo=UTC)),
        (datetime(2026, 11, 10, 8, tzinfo=UTC), datetime(2026, 11, 10, 11, tzinfo=UTC)),
        (datetime(2026, 11, 30, 21, tzinfo=UTC), NOV[1].astimezone(UTC)),
    ]


def test_empty_calendar_has_no_busy_time() -> None:
    assert parse_busy(cal(), *NOV, HEL) == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261102T080000Z\r\n",  # truncated
        cal(event("x", "DTSTART:tomorrow", "DTEND:20261102T090000Z")),
        cal(event("x", "DTSTART:20261102T080000Z", "RRULE:FREQ=SOMETIMES")),
        b"\xff\xfe\x00garbage",
    ],
)
def test_bad_data_raises_calendar_error(data: bytes) -> None:
    with pytest.raises(CalendarError):
        parse_busy(data, *NOV, HEL)


# ---------------------------------------------------------------------------- sources


ONE = cal(event("a", "DTSTART:20261102T080000Z", "DTEND:20261102T090000Z"))
TWO = cal(
    event("a", "DTSTART:20261102T080000Z", "DTEND:20261102T090000Z"),
    event("b", "DTSTART:20261103T080000Z", "DTEND:20261103T090000Z"),
)


def test_source_from_file(tmp_path: Path) -> None:
    path = tmp_path / "team.ics"
    path.write_bytes(ONE)
    src = CalendarSource(str(path), refresh_s=900)
    assert len(src.busy(*NOV, HEL)) == 1  # first use fetches
    path.write_bytes(TWO)
    assert not src.refresh_if_due(src.last_ok + 10)  # type: ignore[operator]
    assert len(src.busy(*NOV, HEL)) == 1
    assert src.refresh_if_due(src.last_ok + 901)  # type: ignore[operator]
    assert len(src.busy(*NOV, HEL)) == 2


def test_source_missing_file_raises(tmp_path: Path) -> None:
    src = CalendarSource(str(tmp_path / "nope.ics"))
    with pytest.raises(CalendarError, match=r"nope\.ics"):
        src.busy(*NOV, HEL)
    assert src.failures == 1


class _Server:
    """A real HTTP server on 127.0.0.1 serving `body` with `status` (both changeable)."""

    def __init__(self) -> None:
        self.body = ONE
        self.status = 200
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cal/secret-token.ics"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def test_source_http_failure_keeps_last_good_then_recovers(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    t = [1000.0]
    src = CalendarSource(server.url, refresh_s=900, retry_s=60, clock=lambda: t[0])
    assert src.refresh_if_due()
    assert len(src.busy(*NOV, HEL)) == 1

    # The server fails (HTTP 500), then serves an error page with 200: both kept out.
    server.status = 500
    t[0] += 900
    with caplog.at_level(logging.DEBUG, logger="scheduler.booking.ical"):
        assert not src.refresh_if_due()
        assert len(src.busy(*NOV, HEL)) == 1
        assert src.failures == 1 and "500" in (src.last_error or "")
        assert not src.refresh_if_due()  # retry not due yet (60 s)
        server.status, server.body = 200, b"<html>maintenance</html>"
        t[0] += 60
        assert not src.refresh_if_due()
        assert src.failures == 2
        assert len(src.busy(*NOV, HEL)) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per failure streak
    assert "secret-token" not in caplog.text  # the URL's secret part is not logged

    # Recovery.
    server.body = TWO
    t[0] += 60
    assert src.refresh_if_due()
    assert src.failures == 0
    assert len(src.busy(*NOV, HEL)) == 2
    assert server.requests == 4

    # A new failure streak warns again.
    server.status = 503
    t[0] += 900
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scheduler.booking.ical"):
        assert not src.refresh_if_due()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_source_unreachable_server() -> None:
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = CalendarSource(f"http://127.0.0.1:{port}/x.ics", timeout_s=2)
    assert not src.refresh()
    with pytest.raises(CalendarError):
        src.busy(*NOV, HEL)


def test_source_custom_fetch_and_threads() -> None:
    calls: list[str] = []

    def fetch(loc: str) -> bytes:
        calls.append(loc)
        return TWO

    src = CalendarSource("memory:team", fetch=fetch)
    results: list[int] = []

    def worker() -> None:
        for _ in range(20):
            results.append(len(src.busy(*NOV, HEL)))
            src.refresh_if_due()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [2] * 80
    assert calls and all(c == "memory:team" for c in calls)


def test_day_boundaries_all_day_event_query_by_dates() -> None:
    data = cal(event("d", "DTSTART;VALUE=DATE:20261201", "DTEND;VALUE=DATE:20261202"))
    day = date(2026, 12, 1)
    start = datetime.combine(day, datetime.min.time(), tzinfo=HEL)
    busy = parse_busy(data, start + timedelta(hours=8), start + timedelta(hours=16), HEL)
    assert busy == [
        (start.astimezone(UTC) + timedelta(hours=8), start.astimezone(UTC) + timedelta(hours=16))
    ]
