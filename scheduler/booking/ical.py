"""iCalendar in and out (DOMAIN.md rule 7, issue 3 items 2 and 3).

Out:
- `reservation_ics`: one booking as an invitation (METHOD:REQUEST) or its cancellation
  (METHOD:CANCEL), attached to the customer's e-mails.
- `advisor_feed`: an advisor's active bookings as a subscribable feed for the team
  calendar. It carries the service and the booking code; customer names and phone
  numbers only with `with_names=True`, never identity codes or their hashes (the team
  calendar may be shared more widely than the booking system).

In:
- `parse_busy`: busy intervals from an iCalendar file (events, all-day events, recurring
  events, VFREEBUSY), to take off an advisor's or a resource's shifts.
- `CalendarSource`: one team calendar (a file or an http(s) URL), refreshed
  periodically, keeping the last good copy when a fetch fails.

Every instant that goes out is written in UTC; floating times coming in are read in the
site's time zone (or the calendar's X-WR-TIMEZONE when it names a valid zone).
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import icalendar
import recurring_ical_events

from scheduler.domain.model import ServiceDef, SiteDef

from .model import AdvisorDef, Interval, Reservation, merge_intervals

log = logging.getLogger(__name__)

PRODID = "-//Vuoro//Vuoro booking//EN"
UID_DOMAIN = "vuoro"
METHODS = ("REQUEST", "CANCEL")
LANGS = ("fi", "sv", "en")

_CODE_LABEL = {"fi": "Varaustunnus", "sv": "Bokningskod", "en": "Booking code"}
_SERVICE_LABEL = {"fi": "Palvelu", "sv": "Tjänst", "en": "Service"}
_NAME_LABEL = {"fi": "Asiakas", "sv": "Kund", "en": "Customer"}
_PHONE_LABEL = {"fi": "Puhelin", "sv": "Telefon", "en": "Phone"}
_HELD_LABEL = {"fi": "alustava", "sv": "preliminär", "en": "on hold"}

# Properties whose parse errors make the busy time unreliable: the whole file is refused
# (CalendarSource then keeps its last good copy) rather than read with holes in it.
_TIME_PROPS = frozenset({"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "FREEBUSY"})
_BUSY_FBTYPES = frozenset({"BUSY", "BUSY-UNAVAILABLE", "BUSY-TENTATIVE"})


class CalendarError(Exception):
    """An iCalendar file that cannot be read, or a calendar that cannot be fetched."""


# ---------------------------------------------------------------------------- helpers


def localized(names: Mapping[str, str] | None, lang: str) -> str:
    """The text in `lang`, else Finnish, else any language given; '' for none."""
    if not names:
        return ""
    return names.get(lang) or names.get("fi") or next(iter(names.values()), "")


def reservation_uid(res: Reservation) -> str:
    """Stable across updates and cancellation, so calendars replace the same event."""
    return f"reservation-{res.id}@{UID_DOMAIN}"


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: reservation times must be aware")
    return dt.astimezone(UTC)


def place_text(site: SiteDef, lang: str, location: str | None) -> str:
    """The site's name, then the address `location` if given. A `location` that already
    starts with the site's name (in any language) is used as it is."""
    name = localized(site.name, lang)
    if not location or not location.strip():
        return name
    location = location.strip()
    if any(n and location.startswith(n) for n in site.name.values()):
        return location
    return f"{name}, {location}"


def _new_calendar(method: str | None = None) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    return cal


# ---------------------------------------------------------------------------- out


def reservation_ics(
    res: Reservation,
    site: SiteDef,
    service: ServiceDef,
    *,
    lang: str | None = None,
    method: str = "REQUEST",
    location: str | None = None,
    organizer: str | None = None,
    url: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """One reservation as a VCALENDAR with one VEVENT.

    UID comes from the reservation id and SEQUENCE from `res.version`, so a rescheduled
    booking (a higher version) replaces the earlier invitation and a cancellation
    (`method="CANCEL"`, STATUS:CANCELLED) removes it. `location` is the street address
    shown after the site name; `organizer` the sender's e-mail address (calendar
    programs want one on a REQUEST); `url` the page to manage the booking.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    lang = lang or res.lang
    cal = _new_calendar(method)
    ev = icalendar.Event()
    ev.add("uid", reservation_uid(res))
    ev.add("dtstamp", _utc(now) if now else datetime.now(UTC).replace(microsecond=0))
    ev.add("sequence", max(0, int(res.version)))
    ev.add("dtstart", _utc(res.start))
    ev.add("dtend", _utc(res.end))
    ev.add("summary", localized(service.name, lang))
    ev.add("location", place_text(site, lang, location))
    description = [f"{_CODE_LABEL.get(lang, _CODE_LABEL['fi'])}: {res.code}"]
    instructions = localized(service.instructions, lang)
    if instructions:
        description += ["", instructions]
    if url:
        description += ["", url]
        ev.add("url", url)
    ev.add("description", "\n".join(description))
    ev.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    ev.add("transp", "OPAQUE")
    if organizer:
        org = icalendar.vCalAddress(f"mailto:{organizer}")
        org.params["CN"] = icalendar.vText(localized(site.name, lang))
        ev.add("organizer", org)
    if res.email:
        att = icalendar.vCalAddress(f"mailto:{res.email}")
        if res.name:
            att.params["CN"] = icalendar.vText(res.name)
        att.params["ROLE"] = icalendar.vText("REQ-PARTICIPANT")
        att.params["PARTSTAT"] = icalendar.vText("DECLINED" if method == "CANCEL" else "ACCEPTED")
        att.params["RSVP"] = icalendar.vText("FALSE")
        ev.add("attendee", att)
    cal.add_component(ev)
    return cal.to_ical()


def advisor_feed(
    advisor: AdvisorDef,
    reservations: Iterable[Reservation],
    site: SiteDef,
    services: Mapping[str, ServiceDef],
    *,
    lang: str | None = None,
    with_names: bool = False,
    location: str | None = None,
    refresh_min: int = 15,
    now: datetime | None = None,
) -> bytes:
    """The advisor's active bookings (held, booked, checked in) as a subscribable feed.

    Each VEVENT: SUMMARY "<service> <code>", the booking code in DESCRIPTION, the same
    UID as the customer's invitation. With `with_names` the customer's name and phone
    number are added; identity codes, their hashes, e-mail addresses and the answers to
    pre-questions never are. Held slots are TENTATIVE.
    """
    lang = lang or (site.languages[0] if site.languages else "fi")
    stamp = _utc(now) if now else datetime.now(UTC).replace(microsecond=0)
    cal = _new_calendar()
    cal.add("x-wr-calname", f"{advisor.name} – {localized(site.name, lang)}")
    cal.add("x-wr-timezone", site.timezone)
    ttl = icalendar.vDuration(timedelta(minutes=refresh_min))
    cal.add("x-published-ttl", ttl)
    cal.add("refresh-interval", ttl, parameters={"VALUE": "DURATION"})
    mine = [r for r in reservations if r.advisor == advisor.id and r.active]
    for res in sorted(mine, key=lambda r: (r.start, r.id)):
        svc = services.get(res.service)
        svc_name = localized(svc.name, lang) if svc else res.service
        held = res.status == "held"
        ev = icalendar.Event()
        ev.add("uid", reservation_uid(res))
        ev.add("dtstamp", stamp)
        ev.add("sequence", max(0, int(res.version)))
        ev.add("dtstart", _utc(res.start))
        ev.add("dtend", _utc(res.end))
        summary = f"{svc_name} {res.code}"
        if held:
            summary += f" ({_HELD_LABEL.get(lang, _HELD_LABEL['fi'])})"
        ev.add("summary", summary)
        ev.add("location", place_text(site, lang, location))
        lines = [
            f"{_SERVICE_LABEL.get(lang, _SERVICE_LABEL['fi'])}: {svc_name}",
            f"{_CODE_LABEL.get(lang, _CODE_LABEL['fi'])}: {res.code}",
        ]
        if with_names:
            if res.name:
                lines.append(f"{_NAME_LABEL.get(lang, _NAME_LABEL['fi'])}: {res.name}")
            if res.phone:
                lines.append(f"{_PHONE_LABEL.get(lang, _PHONE_LABEL['fi'])}: {res.phone}")
        ev.add("description", "\n".join(lines))
        ev.add("status", "TENTATIVE" if held else "CONFIRMED")
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    return cal.to_ical()


# ---------------------------------------------------------------------------- in


def parse_calendars(data: bytes | str) -> list[icalendar.Calendar]:
    """Parse (and check) iCalendar data: one or more VCALENDARs. Raises CalendarError."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CalendarError("calendar data is not UTF-8 text") from None
    else:
        text = data
    if "BEGIN:VCALENDAR" not in text[:4096].upper():
        snippet = text.strip()[:60]
        raise CalendarError(f"not an iCalendar file (no BEGIN:VCALENDAR): {snippet!r}")
    try:
        cals = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError...
        raise CalendarError(f"cannot parse iCalendar data: {exc}") from exc
    if not cals:
        raise CalendarError("no complete VCALENDAR (truncated file?)")
    for cal in cals:
        for comp in cal.walk():
            for prop, message in getattr(comp, "errors", ()):
                if str(prop).upper() in _TIME_PROPS:
                    uid = comp.get("UID", "?")
                    raise CalendarError(f"{comp.name} {uid}: bad {prop}: {message}")
    return cals


def parse_busy(data: bytes | str, start: datetime, end: datetime, tz: ZoneInfo) -> list[Interval]:
    """Busy intervals within [start, end) from iCalendar data, in UTC, sorted and merged.

    Counted busy: VEVENTs (not TRANSP:TRANSPARENT, not STATUS:CANCELLED, not marked free
    by Outlook's X-MICROSOFT-CDO-BUSYSTATUS), all-day events as the whole local day,
    recurring events expanded (RRULE, RDATE, EXDATE, changed occurrences), and the
    FREEBUSY periods of VFREEBUSY components that are not FBTYPE=FREE. Times with a TZID
    are read in that zone, floating times in `tz` (the site's zone). Raises
    `CalendarError` for data that is not a readable calendar.
    """
    return busy_from_calendars(parse_calendars(data), start, end, tz)


def busy_from_calendars(
    cals: Iterable[icalendar.Calendar], start: datetime, end: datetime, tz: ZoneInfo
) -> list[Interval]:
    """`parse_busy` on already parsed calendars (see `parse_calendars`)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    if hi <= lo:
        return []
    found: list[Interval] = []
    for cal in cals:
        floating = _calendar_tz(cal, tz)
        # A day of margin each side: floating and all-day events are compared by the
        # library in a zone of its choosing; the exact clipping is done below.
        try:
            occurrences = recurring_ical_events.of(cal).between(
                lo - timedelta(days=1), hi + timedelta(days=1)
            )
            for ev in occurrences:
                span = _event_span(ev, floating)
                if span is not None:
                    found.append(span)
        except CalendarError:
            raise
        except Exception as exc:
            raise CalendarError(f"cannot expand the calendar's events: {exc}") from exc
        for fb in cal.walk("VFREEBUSY"):
            found.extend(_freebusy_spans(fb, floating))
    return merge_intervals([(max(a, lo), min(b, hi)) for a, b in found if a < hi and b > lo])


def _calendar_tz(cal: icalendar.Calendar, default: ZoneInfo) -> ZoneInfo:
    name = cal.get("X-WR-TIMEZONE")
    if name:
        try:
            return ZoneInfo(str(name).strip())
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return default


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=tz).astimezone(UTC)


def _event_span(ev: icalendar.cal.Component, tz: ZoneInfo) -> Interval | None:
    if str(ev.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if str(ev.get("TRANSP", "")).upper() == "TRANSPARENT":
        return None
    if str(ev.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "FREE":
        return None
    dtstart = ev.get("DTSTART")
    if dtstart is None:
        raise CalendarError(f"VEVENT {ev.get('UID', '?')}: no DTSTART")
    s = dtstart.dt
    dtend = ev.get("DTEND")
    duration = ev.get("DURATION")
    if dtend is not None:
        e = dtend.dt
    elif duration is not None:
        d = duration.dt
        if isinstance(s, datetime):
            e = s + d
        else:  # a date plus a duration: whole days count in local time
            e = s + timedelta(days=d.days) if not d.seconds else _instant(s, tz) + d
    elif isinstance(s, datetime):
        return None  # no length: takes no time
    else:
        e = s + timedelta(days=1)
    a, b = _instant(s, tz), _instant(e, tz)
    return (a, b) if b > a else None


def _freebusy_spans(fb: icalendar.cal.Component, tz: ZoneInfo) -> list[Interval]:
    values = fb.get("FREEBUSY")
    if values is None:
        return []
    if not isinstance(values, list):
        values = [values]
    spans: list[Interval] = []
    for value in values:
        periods = getattr(value, "dts", None) or [value]  # vDDDLists or a vPeriod
        for p in periods:
            params = getattr(p, "params", None) or getattr(value, "params", {})
            if str(params.get("FBTYPE", "BUSY")).upper() not in _BUSY_FBTYPES:
                continue
            per = getattr(p, "dt", None)
            if not (isinstance(per, tuple) and len(per) == 2):
                raise CalendarError(f"VFREEBUSY: bad FREEBUSY value {p!r}")
            s, e = per
            a = _instant(s, tz)
            b = a + e if isinstance(e, timedelta) else _instant(e, tz)
            if b > a:
                spans.append((a, b))
    return spans


# ---------------------------------------------------------------------------- sources


def fetch_location(location: str, timeout_s: float = 10.0) -> bytes:
    """Read a calendar: an http(s) URL (webcal:// is read as https://) or a file path
    (optionally file://). Raises CalendarError."""
    loc = location.strip()
    lower = loc.lower()
    if lower.startswith("webcal://"):
        loc = "https://" + loc[len("webcal://") :]
        lower = loc.lower()
    if lower.startswith(("http://", "https://")):
        try:
            resp = httpx.get(
                loc,
                timeout=timeout_s,
                follow_redirects=True,
                headers={"Accept": "text/calendar, */*;q=0.5"},
            )
        except httpx.HTTPError as exc:
            raise CalendarError(f"cannot fetch {_redact(loc)}: {exc}") from exc
        if resp.status_code != 200:
            raise CalendarError(f"cannot fetch {_redact(loc)}: HTTP {resp.status_code}")
        return resp.content
    if lower.startswith("file://"):
        loc = loc[len("file://") :]
    try:
        return Path(loc).read_bytes()
    except OSError as exc:
        raise CalendarError(f"cannot read {loc}: {exc.strerror or exc}") from exc


def _redact(url: str) -> str:
    """A calendar URL often carries a secret token in its path or query: log its host."""
    try:
        u = httpx.URL(url)
    except Exception:
        return "<calendar URL>"
    return f"{u.scheme}://{u.host}{':' + str(u.port) if u.port else ''}/…"


class CalendarSource:
    """One team calendar, fetched now and then, its last good copy kept.

    `location` is a file path or an http(s) URL. `refresh_if_due(now)` (called from the
    scheduler's periodic tick with `time.monotonic()`) fetches when `refresh_s` has
    passed since the last success, or `retry_s` since the last failure. A fetch that
    fails, or returns something that is not a readable calendar, keeps the previous
    data; a warning is logged once per failure streak and the recovery at info level.
    `busy()` reads the kept data; if no fetch was tried yet it fetches once itself,
    and it raises `CalendarError` while there is no good data. Safe to use from several threads.
    """

    def __init__(
        self,
        location: str,
        refresh_s: float = 900.0,
        fetch: Callable[[str], bytes] | None = None,
        *,
        timeout_s: float = 10.0,
        retry_s: float = 60.0,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        if not location or not location.strip():
            raise ValueError("calendar location is empty")
        self.location = location
        self.refresh_s = float(refresh_s)
        self.retry_s = min(float(retry_s), self.refresh_s)
        self._fetch = fetch or (lambda loc: fetch_location(loc, timeout_s))
        self._clock = clock
        self._lock = threading.Lock()  # guards the fields below
        self._fetching = threading.Lock()  # one fetch at a time
        self._reading = threading.Lock()  # parsed calendars are not shared between threads
        self._data: bytes | None = None
        self._cals: list[icalendar.Calendar] | None = None
        self._last_ok: float | None = None
        self._last_attempt: float | None = None
        self.last_error: str | None = None
        self.failures = 0  # consecutive

    @property
    def data(self) -> bytes | None:
        """The last good data (None before the first successful fetch)."""
        with self._lock:
            return self._data

    @property
    def last_ok(self) -> float | None:
        """Monotonic time of the last successful fetch."""
        with self._lock:
            return self._last_ok

    def due(self, now_monotonic: float | None = None) -> bool:
        now = self._clock() if now_monotonic is None else now_monotonic
        with self._lock:
            if self._last_attempt is None:
                return True
            wait = self.refresh_s if self.failures == 0 else self.retry_s
            return now - self._last_attempt >= wait

    def refresh_if_due(self, now_monotonic: float | None = None) -> bool:
        """Fetch if due; True if a fetch was made and succeeded."""
        if not self.due(now_monotonic):
            return False
        return self.refresh(now_monotonic)

    def refresh(self, now_monotonic: float | None = None) -> bool:
        """Fetch now. True on success; on failure the last good data stays."""
        with self._fetching:
            now = self._clock() if now_monotonic is None else now_monotonic
            with self._lock:
                self._last_attempt = now
            try:
                raw = self._fetch(self.location)
                cals = parse_calendars(raw)
            except Exception as exc:  # a fetcher may raise anything: keep the last data
                self._failed(exc)
                return False
            with self._lock:
                recovered = self.failures > 0
                self._data, self._cals = raw, cals
                self._last_ok = now
                self.failures = 0
                self.last_error = None
            if recovered:
                log.info("calendar %s: fetched again", self._name())
            return True

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self.failures += 1
            first = self.failures == 1
            self.last_error = str(exc)
            have_data = self._data is not None
        if first:
            log.warning(
                "calendar %s: %s; %s",
                self._name(),
                exc,
                "keeping the last good copy" if have_data else "no busy time known yet",
            )
        else:
            log.debug("calendar %s: still failing: %s", self._name(), exc)

    def _name(self) -> str:
        loc = self.location.strip()
        return _redact(loc) if "://" in loc and not loc.startswith("file://") else loc

    def busy(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[Interval]:
        """Busy intervals within [start, end) from the last good data."""
        with self._lock:
            cals = self._cals
        if cals is None:
            with self._lock:
                tried = self._last_attempt is not None
            if not tried:
                self.refresh()
            with self._lock:
                cals = self._cals
                error = self.last_error
            if cals is None:
                raise CalendarError(f"calendar {self._name()} not available: {error}")
        with self._reading:
            return busy_from_calendars(cals, start, end, tz)
