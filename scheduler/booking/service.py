"""The booking service: slots, holds, bookings, cancellation, rescheduling, check-in
look-up, retention and the notification outbox. The HTTP API (scheduler/web/api.py) and
the MQTT `checkin` verb (scheduler/service.py) both go through here: one copy of each rule.

Every refusal is a `DomainError` with a message in fi, sv and en (scheduler/booking/errors.py).
Double booking is prevented by the database (slot claims, see store.py); the in-memory
availability index only finds candidate times and is re-checked under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from scheduler.booking import codes, hetu
from scheduler.booking.availability import AvailabilityIndex
from scheduler.booking.errors import DomainError
from scheduler.booking.model import (
    AdvisorDef,
    BookableService,
    BookingRules,
    Reservation,
    ResourceDef,
    Slot,
)
from scheduler.booking.notify import when_long
from scheduler.booking.store import Conflict, NotFound, ReservationStore, SlotTaken
from scheduler.domain.hours import when_text
from scheduler.domain.model import ServiceDef, SiteDef

log = logging.getLogger("vuoro.booking")

BUSY_REFRESH_S = 60.0
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")


@dataclass
class Customer:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    hetu: str | None = None  # the clear code: checked, hashed, then dropped
    card: str | None = None  # an ID card's identifier (staff enter it): hashed, then dropped
    answers: dict[str, str] = field(default_factory=dict)
    lang: str = "fi"


@dataclass
class SiteBooking:
    """One site's booking set-up and its availability index."""

    site: SiteDef
    rules: BookingRules
    advisors: dict[str, AdvisorDef]
    resources: dict[str, ResourceDef]
    services: dict[str, BookableService]
    address: str | None
    index: AvailabilityIndex
    lock: threading.RLock = field(default_factory=threading.RLock)
    calendar_busy: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    loaded_at: float = 0.0


def site_booking(sc: Any, sd: SiteDef) -> tuple[SiteBooking, dict[str, Any]] | None:
    """A site's booking set-up from its SiteCfg (None: it takes no bookings), with the
    team calendars of its advisors and resources."""
    if sc.booking is None:
        return None
    advisors = sc.booking.advisor_defs()
    resources = sc.booking.resource_defs()
    services = {
        s.id: (s.booking.to_def(s.id) if s.booking else BookableService(s.id, 30))
        for s in sc.services
        if s.appointments
    }
    index = AvailabilityIndex(
        advisors=advisors,
        resources=resources,
        open_intervals=appointment_hours(sd, None),
        tz=sd.tz,
        rules=sc.booking.rules_def(),
    )
    sb = SiteBooking(
        site=sd,
        rules=sc.booking.rules_def(),
        advisors={a.id: a for a in advisors},
        resources={r.id: r for r in resources},
        services=services,
        address=sc.booking.address,
        index=index,
    )
    calendars: dict[str, Any] = {}
    for item in [*advisors, *resources]:
        if item.calendar:
            try:
                from scheduler.booking.ical import CalendarSource

                calendars[item.id] = CalendarSource(item.calendar)
            except Exception as exc:  # a bad calendar must not stop booking
                log.warning("calendar of %s not used: %s", item.id, exc)
    return sb, calendars


def normalize_phone(text: str | None) -> str | None:
    if not text:
        return None
    raw = re.sub(r"[\s\-()]", "", text)
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("0") and len(raw) > 5:
        raw = "+358" + raw[1:]  # a Finnish national number
    if not PHONE_RE.match(raw):
        raise DomainError("bad_request", detail="phone number")
    return raw


def appointment_hours(
    site: SiteDef, service: ServiceDef | None
) -> Callable[[date], Sequence[tuple[time, time]]]:
    """The local intervals of a day in which `service` can be booked: the site's opening
    calendar (holidays, seasons, closures) ∩ the service's hours ∩ its appointment window
    (`SiteDef.appointment_calendar`); without a service, the site's hours."""
    cal = site.hours if service is None else site.appointment_calendar(service)
    return cal.intervals_on


class BookingService:
    def __init__(
        self,
        sites: dict[str, SiteBooking],
        store: ReservationStore,
        *,
        hasher: hetu.HetuHasher,
        clock: Callable[[], datetime],
        notifier: Any = None,
        calendars: dict[str, Any] | None = None,
        public_url: str = "http://localhost:8080",
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        import time as _time

        self.sites = sites
        self.store = store
        self.hasher = hasher
        self.clock = clock
        self.notifier = notifier
        self.calendars = calendars or {}  # advisor/resource id -> CalendarSource
        self.public_url = public_url.rstrip("/")
        self.monotonic = monotonic or _time.monotonic
        for sb in sites.values():
            self.refresh_busy(sb.site.id)

    @classmethod
    def from_config(
        cls,
        config: Any,
        store: ReservationStore,
        *,
        clock: Callable[[], datetime],
        notifier: Any = None,
    ) -> BookingService | None:
        """From a `SchedulerConfig`; None when no site takes bookings."""
        sites: dict[str, SiteBooking] = {}
        calendars: dict[str, Any] = {}
        defs = config.site_defs()
        for sc in config.sites:
            built = site_booking(sc, defs[sc.id])
            if built is not None:
                sites[sc.id], cals = built
                calendars.update(cals)
        if not sites:
            return None
        return cls(
            sites,
            store,
            hasher=hetu.HetuHasher(config.booking.key()),
            clock=clock,
            notifier=notifier,
            calendars=calendars,
            public_url=config.booking.public_url,
        )

    def replace_site(self, sc: Any, sd: SiteDef) -> None:
        """A site's new configuration (the admin pages changed it; `sc` a SiteCfg): its
        availability index is built again. Bookings stay; a site without `booking` takes
        no new ones."""
        built = site_booking(sc, sd)
        if built is None:
            self.sites.pop(sc.id, None)
            return
        sb, cals = built
        self.calendars.update(cals)
        self.sites[sc.id] = sb
        self.refresh_busy(sc.id)

    # ------------------------------------------------------------------ look-ups

    def site(self, site: str) -> SiteBooking:
        sb = self.sites.get(site)
        if sb is None:
            raise DomainError("unknown_site" if site else "bad_request", detail="site")
        return sb

    def service(self, sb: SiteBooking, service: str) -> tuple[ServiceDef, BookableService]:
        sdef = sb.site.services.get(service)
        if sdef is None:
            raise DomainError("unknown_service", service=service)
        bdef = sb.services.get(service)
        if bdef is None or not sdef.appointments:
            raise DomainError("not_bookable")
        return sdef, bdef

    def _in_period(self, sb: SiteBooking, start: datetime) -> datetime:
        """A requested start, refused unless it has a time zone and lies within the booking
        period (a day either side of now..the horizon): nothing is free outside it, and
        times near year 1 or 9999 would overflow the search."""
        if start.tzinfo is None:
            raise DomainError("bad_slot", why="time zone missing")
        now = self.clock()
        if not now - timedelta(days=1) <= start <= now + timedelta(days=sb.rules.horizon_days + 1):
            raise DomainError("bad_slot", why="outside the booking period")
        return start

    def card_hash(self, identifier: str) -> str:
        """The keyed hash a card identifier is kept and matched as (like identity codes)."""
        return _card_hash(self.hasher, identifier)

    def manage_url(self, res: Reservation) -> str:
        return f"{self.public_url}/book/{res.code}"

    # ------------------------------------------------------------------ busy time

    def refresh_busy(self, site: str, force: bool = True) -> None:
        """Reload busy time from the reservations and the team calendars (at start, then
        every minute: other scheduler processes may book too, and calendars change)."""
        sb = self.sites[site]
        now = self.clock()
        mono = self.monotonic()
        if not force and mono - sb.loaded_at < BUSY_REFRESH_S:
            return
        start = now - timedelta(days=1)
        end = now + timedelta(days=sb.rules.horizon_days + 2)
        busy = self.store.busy(site, start, end, now)
        for key in list(sb.advisors) + list(sb.resources):
            src = self.calendars.get(key)
            cal: list[tuple[datetime, datetime]] = []
            if src is not None:
                try:
                    if hasattr(src, "refresh_if_due"):
                        src.refresh_if_due(mono)
                    cal = list(src.busy(start, end, sb.site.tz))
                except Exception as exc:
                    log.warning("team calendar of %s: %s (last good copy kept)", key, exc)
                    cal = sb.calendar_busy.get(key, [])
            sb.calendar_busy[key] = cal
            with sb.lock:
                sb.index.set_busy(key, [*busy.get(key, []), *cal])
        sb.loaded_at = mono

    def _occupy(self, sb: SiteBooking, res: Reservation) -> None:
        for key in (res.advisor, *res.resources):
            sb.index.add_busy(key, (res.start, res.end))

    def _free(self, sb: SiteBooking, res: Reservation) -> None:
        for key in (res.advisor, *res.resources):
            sb.index.remove_busy(key, (res.start, res.end))

    # ------------------------------------------------------------------ search

    def slots(
        self,
        site: str,
        service: str,
        *,
        advisor: str | None = None,
        start_from: datetime | None = None,
        limit: int = 20,
    ) -> list[Slot]:
        sb = self.site(site)
        sdef, bdef = self.service(sb, service)
        if advisor is not None and advisor not in sb.advisors:
            raise DomainError("unknown_advisor")
        if start_from is not None and start_from.tzinfo is not None:
            # Nothing is free past the horizon; before now is as good as now (and far dates
            # would overflow the search).
            now = self.clock()
            if start_from > now + timedelta(days=sb.rules.horizon_days + 1):
                return []
            if start_from < now:
                start_from = None
        self.refresh_busy(site, force=False)
        with sb.lock:
            return sb.index.search(
                bdef,
                now=self.clock(),
                advisor=advisor,
                start_from=start_from,
                limit=max(1, min(limit, 200)),
                open_intervals=self._hours(sb, sdef),
            )

    def days(
        self, site: str, service: str, first: date, last: date, advisor: str | None = None
    ) -> list[date]:
        sb = self.site(site)
        sdef, bdef = self.service(sb, service)
        today = self.clock().astimezone(sb.site.tz).date()
        if first > today + timedelta(days=sb.rules.horizon_days + 1) or last < today:
            return []  # no free time outside the booking period (far dates would overflow)
        first = max(first, today)
        self.refresh_busy(site, force=False)
        with sb.lock:
            return sb.index.days_with_free_time(
                bdef,
                first,
                min(last, first + timedelta(days=62)),
                now=self.clock(),
                advisor=advisor,
                open_intervals=self._hours(sb, sdef),
            )

    _hours_cache: dict[tuple[str, str], Any]

    def _hours(self, sb: SiteBooking, sdef: ServiceDef) -> Any:
        # One callable per service, so the index's per-callable caches are reused.
        cache = self.__dict__.setdefault("_hours_cache", {})
        key = (sb.site.id, sdef.id)
        if key not in cache:
            cache[key] = appointment_hours(sb.site, sdef)
        return cache[key]

    def _pick(
        self,
        sb: SiteBooking,
        sdef: ServiceDef,
        bdef: BookableService,
        start: datetime,
        advisor: str | None,
        exclude: Reservation | None = None,
        retried: bool = False,
    ) -> Slot:
        """The free slot at `start` (with `advisor` if given), re-checked now."""
        start = start.astimezone(UTC)
        if exclude is not None:
            self._free(sb, exclude)
        try:
            found = sb.index.search(
                bdef,
                now=self.clock(),
                advisor=advisor,
                start_from=start,
                limit=len(sb.advisors) + 1,
                open_intervals=self._hours(sb, sdef),
            )
        finally:
            if exclude is not None:
                self._occupy(sb, exclude)
        for slot in found:
            if slot.start == start:
                return slot
        if not retried:
            # The index may be stale (an expired hold, a booking made by another process):
            # reload the busy time from the database and look once more.
            self.refresh_busy(sb.site.id)
            return self._pick(sb, sdef, bdef, start, advisor, exclude, retried=True)
        raise DomainError("slot_taken")

    # ------------------------------------------------------------------ holds and bookings

    def hold(
        self,
        site: str,
        service: str,
        start: datetime,
        *,
        advisor: str | None = None,
        lang: str = "fi",
        created_by: str = "web",
    ) -> Reservation:
        """Keep a slot for `rules.hold_min` minutes while the form is filled in."""
        return self._create(
            site,
            service,
            start,
            advisor=advisor,
            customer=Customer(lang=lang),
            created_by=created_by,
            held=True,
        )

    def book(
        self,
        site: str,
        *,
        customer: Customer,
        hold_id: str | None = None,
        service: str | None = None,
        start: datetime | None = None,
        advisor: str | None = None,
        created_by: str = "web",
    ) -> Reservation:
        """Book a held slot (`hold_id`) or a free one directly (`service`, `start`)."""
        if hold_id is None:
            if service is None or start is None:
                raise DomainError("bad_request", detail="hold_id or service and start")
            return self._create(
                site,
                service,
                start,
                advisor=advisor,
                customer=customer,
                created_by=created_by,
                held=False,
            )
        sb = self.site(site)
        try:
            res = self.store.get(hold_id)
        except NotFound:
            raise DomainError("hold_expired", hold_min=sb.rules.hold_min) from None
        if res.site != site or res.status != "held" or self.store.claims_of(res.id) == 0:
            raise DomainError("hold_expired", hold_min=sb.rules.hold_min)
        sdef, bdef = self.service(sb, res.service)
        now = self.clock()
        filled = self._customer_fields(sb, sdef, bdef, customer, now)
        before = res.version
        res = replace(res, **filled, status="booked", hold_until=None, created_by=created_by)
        try:
            self.store.update(res, now, expect_version=before, notify=self._notes(sb, res, now))
        except Conflict:
            raise DomainError("hold_expired", hold_min=sb.rules.hold_min) from None
        log.info("reservation %s booked (%s %s)", res.code, res.service, res.start.isoformat())
        return res

    def _create(
        self,
        site: str,
        service: str,
        start: datetime,
        *,
        advisor: str | None,
        customer: Customer,
        created_by: str,
        held: bool,
    ) -> Reservation:
        sb = self.site(site)
        sdef, bdef = self.service(sb, service)
        start = self._in_period(sb, start)
        if advisor is not None and advisor not in sb.advisors:
            raise DomainError("unknown_advisor")
        now = self.clock()
        filled = {} if held else self._customer_fields(sb, sdef, bdef, customer, now)
        self.refresh_busy(site, force=False)
        with sb.lock:
            slot = self._pick(sb, sdef, bdef, start, advisor)
            for _ in range(5):
                res = Reservation(
                    id=str(uuid.uuid4()),
                    code=codes.new_code(),
                    site=site,
                    service=service,
                    advisor=slot.advisor,
                    start=slot.start,
                    end=slot.end,
                    status="held" if held else "booked",
                    resources=tuple(slot.resources),
                    created_at=now,
                    created_by=created_by,
                    hold_until=now + timedelta(minutes=sb.rules.hold_min) if held else None,
                    **{
                        "lang": customer.lang if customer.lang in ("fi", "sv", "en") else "fi",
                        **filled,
                    },
                )
                try:
                    self.store.insert(res, now, notify=() if held else self._notes(sb, res, now))
                except SlotTaken:
                    # Another process got there first: this index was stale.
                    self.refresh_busy(site)
                    raise DomainError("slot_taken") from None
                except Exception as exc:
                    if "code" in str(exc).lower():
                        continue  # booking-code collision (1 in 33 million): draw again
                    raise
                self._occupy(sb, res)
                log.info(
                    "reservation %s %s (%s %s)",
                    res.code,
                    res.status,
                    service,
                    res.start.isoformat(),
                )
                return res
        raise DomainError("internal_error")

    def _customer_fields(
        self,
        sb: SiteBooking,
        sdef: ServiceDef,
        bdef: BookableService,
        c: Customer,
        now: datetime,
        exclude: str | None = None,
    ) -> dict[str, Any]:
        texts = [c.name, c.phone, c.email, c.hetu, c.card, *c.answers.keys(), *c.answers.values()]
        if any(t and ("\x00" in t or len(t) > 2000) for t in texts):
            # NUL cannot be stored in PostgreSQL text, and nothing real is this long.
            raise DomainError("bad_request", detail="text with a NUL character or too long")
        name = (c.name or "").strip()
        email = (c.email or "").strip() or None
        if email is not None and not EMAIL_RE.match(email):
            raise DomainError("bad_request", detail="e-mail address")
        phone = normalize_phone(c.phone)
        if not name or len(name) > 200 or not (email or phone):
            raise DomainError("contact_needed")
        hetu_hash = None
        if c.hetu:
            try:
                hetu_hash = self.hasher.hash(hetu.parse(c.hetu))
            except hetu.InvalidHetu:
                raise DomainError("invalid_hetu") from None
        card_hash = None
        if c.card:
            card = c.card.strip()
            if not card or len(card) > 200:
                raise DomainError("bad_request", detail="card identifier")
            card_hash = self.card_hash(card)
        answers: dict[str, str] = {}
        for q in bdef.pre_questions:
            value = (c.answers.get(q.id) or "").strip()
            if q.required and not value:
                lang = c.lang if c.lang in q.text else "fi"
                raise DomainError("answer_needed", question=q.text.get(lang, q.id))
            if value and q.choices and value not in q.choices:
                raise DomainError("bad_request", detail=f"answer to {q.id}")
            if value:
                answers[q.id] = value[:1000]
        n = self.store.count_active_for(
            sb.site.id, now, hetu_hash=hetu_hash, email=email, phone=phone, exclude=exclude
        )
        if n >= sb.rules.max_per_customer:
            raise DomainError("too_many_bookings", max=sb.rules.max_per_customer)
        return {
            "name": name,
            "email": email,
            "phone": phone,
            "hetu_hash": hetu_hash,
            "card_hash": card_hash,
            "answers": answers,
            "lang": c.lang if c.lang in ("fi", "sv", "en") else "fi",
        }

    def _notes(
        self, sb: SiteBooking, res: Reservation, now: datetime, kind: str = "confirmation"
    ) -> list[tuple[str, datetime]]:
        if not (res.email or res.phone):
            return []
        notes = [(kind, now)]
        if sb.rules.reminder_h and kind != "cancellation":
            due = res.start - timedelta(hours=sb.rules.reminder_h)
            if due > now:
                notes.append(("reminder", due))
        return notes

    # ------------------------------------------------------------------ customer actions

    def find_own(self, code: str, contact: str | None, *, staff: bool = False) -> Reservation:
        """A reservation by booking code; a citizen also gives the e-mail address, phone
        number or identity code it was booked with (the code alone is not enough)."""
        norm = codes.normalize(code or "")
        if norm is None:
            raise DomainError("invalid_code")
        try:
            res = self.store.by_code(norm)
        except NotFound:
            raise DomainError("reservation_not_found") from None
        if not staff and not self._owns(res, contact):
            raise DomainError("reservation_not_found")
        return res

    def _owns(self, res: Reservation, contact: str | None) -> bool:
        if not contact:
            return False
        contact = contact.strip()
        if res.email and contact.lower() == res.email.lower():
            return True
        try:
            if res.phone and normalize_phone(contact) == res.phone:
                return True
        except DomainError:
            pass
        if res.hetu_hash and hetu.is_valid(contact):
            return self.hasher.hash(contact) == res.hetu_hash
        return False

    def cancel(self, code: str, *, contact: str | None = None, staff: bool = False) -> Reservation:
        res = self.find_own(code, contact, staff=staff)
        sb = self.site(res.site)
        now = self.clock()
        if res.status == "cancelled":
            return res  # idempotent
        if res.status not in ("booked", "held"):
            raise DomainError("bad_state", state=res.status)
        if not staff and res.start - now < timedelta(hours=sb.rules.cancel_limit_h):
            raise DomainError("cancel_too_late", hours=sb.rules.cancel_limit_h)
        before = res.version
        was_booked = res.status == "booked"
        res = replace(res, status="cancelled", cancelled_at=now)
        with sb.lock:
            try:
                self.store.update(
                    res,
                    now,
                    expect_version=before,
                    release=True,
                    drop_pending=True,
                    notify=[("cancellation", now)]
                    if was_booked and (res.email or res.phone)
                    else [],
                )
            except Conflict:
                raise DomainError("internal_error") from None
            self._free(sb, res)
        log.info("reservation %s cancelled", res.code)
        return res

    def reschedule(
        self,
        code: str,
        start: datetime,
        *,
        advisor: str | None = None,
        contact: str | None = None,
        staff: bool = False,
    ) -> Reservation:
        res = self.find_own(code, contact, staff=staff)
        sb = self.site(res.site)
        sdef, bdef = self.service(sb, res.service)
        now = self.clock()
        if res.status != "booked":
            raise DomainError("bad_state", state=res.status)
        if not staff and res.start - now < timedelta(hours=sb.rules.cancel_limit_h):
            raise DomainError("cancel_too_late", hours=sb.rules.cancel_limit_h)
        start = self._in_period(sb, start)
        with sb.lock:
            slot = self._pick(sb, sdef, bdef, start, advisor, exclude=res)
            old = res
            before = res.version
            new = replace(
                res,
                start=slot.start,
                end=slot.end,
                advisor=slot.advisor,
                resources=tuple(slot.resources),
                reminded_at=None,
            )
            try:
                self.store.update(
                    new,
                    now,
                    expect_version=before,
                    reclaim=True,
                    drop_pending=True,
                    notify=self._notes(sb, new, now, kind="rescheduled"),
                )
            except SlotTaken:
                self.refresh_busy(res.site)
                raise DomainError("slot_taken") from None
            except Conflict:
                raise DomainError("internal_error") from None
            self._free(sb, old)
            self._occupy(sb, new)
        return new

    # ------------------------------------------------------------------ check-in

    def find_checkin(self, site: str, by: str, value: str, now: datetime) -> Reservation:
        """The reservation a kiosk checks in (DOMAIN.md rule 3), or a DomainError:
        `invalid_code`, `invalid_hetu`, `reservation_not_found`, `too_early`, `too_late`."""
        sb = self.site(site)
        rules = sb.rules
        local_today = now.astimezone(sb.site.tz).date()
        day_start = datetime.combine(local_today, time.min, tzinfo=sb.site.tz).astimezone(UTC)
        day_end = day_start + timedelta(days=1, hours=1)
        if by == "code":
            norm = codes.normalize(value or "")
            if norm is None:
                raise DomainError("invalid_code")
            try:
                res = self.store.by_code(norm)
            except NotFound:
                raise DomainError("reservation_not_found") from None
            if res.site != site:
                raise DomainError("reservation_not_found")
            if res.status == "cancelled":
                raise DomainError("reservation_not_found", "reservation_cancelled")
            candidates = [res]
        elif by in ("hetu", "card"):
            if by == "hetu":
                try:
                    h = self.hasher.hash(hetu.parse(value or ""))
                except hetu.InvalidHetu:
                    raise DomainError("invalid_hetu") from None
                candidates = self.store.find(
                    site, day_start - timedelta(hours=3), day_end, hetu_hash=h
                )
            else:
                if not value or len(value) > 200:
                    raise DomainError("bad_request", detail="card identifier")
                h = self.card_hash(value)
                candidates = self.store.find(
                    site, day_start - timedelta(hours=3), day_end, card_hash=h
                )
            candidates = [
                r for r in candidates if r.start.astimezone(sb.site.tz).date() == local_today
            ]
            if not candidates:
                raise DomainError("reservation_not_found")
        else:
            raise DomainError("bad_request", detail="by")
        return self._in_window(sb, candidates, now, rules)

    def _in_window(
        self, sb: SiteBooking, candidates: Sequence[Reservation], now: datetime, rules: BookingRules
    ) -> Reservation:
        before = timedelta(minutes=rules.checkin_before_min)
        grace = timedelta(minutes=rules.checkin_grace_min)
        live = [r for r in candidates if r.status in ("booked", "checked_in")]
        if not live:
            raise DomainError("reservation_not_found")
        for r in live:
            if r.status == "checked_in":
                return r  # checked in already: the same ticket again
        for r in live:
            if r.start - before <= now <= r.start + grace:
                return r
        upcoming = [r for r in live if r.start - before > now]
        if upcoming:
            r = min(upcoming, key=lambda x: x.start)
            loc_day = r.start.astimezone(sb.site.tz).date()
            start_t = when_text(r.start.astimezone(sb.site.tz), loc_day)
            opens_t = when_text((r.start - before).astimezone(sb.site.tz), loc_day)
            if loc_day != now.astimezone(sb.site.tz).date():
                loc = r.start.astimezone(sb.site.tz)
                day = {lang: when_long(loc, lang) for lang in ("fi", "sv", "en")}
                raise DomainError(
                    "too_early",
                    "reservation_not_today",
                    day_fi=day["fi"].rsplit(" klo", 1)[0],
                    day_sv=day["sv"].rsplit(" kl.", 1)[0],
                    day_en=day["en"].rsplit(" at", 1)[0],
                    start_fi=start_t["fi"].removeprefix("klo "),
                    start_en=start_t["en"].removeprefix("at "),
                )
            raise DomainError(
                "too_early",
                "too_early_at",
                opens_fi=opens_t["fi"].removeprefix("klo "),
                opens_en=opens_t["en"].removeprefix("at "),
                start_fi=start_t["fi"].removeprefix("klo "),
                start_en=start_t["en"].removeprefix("at "),
                opens_at=(r.start - before).isoformat(),
            )
        r = max(live, key=lambda x: x.start)
        loc_day = r.start.astimezone(sb.site.tz).date()
        start_t = when_text(r.start.astimezone(sb.site.tz), loc_day)
        sdef = sb.site.services.get(r.service)
        raise DomainError(
            "too_late",
            "too_late_walk_in",
            start_fi=start_t["fi"].removeprefix("klo "),
            start_en=start_t["en"].removeprefix("at "),
            walk_in_service=r.service if sdef is not None and sdef.walk_in else None,
        )

    def mark_checked_in(self, res_id: str, ticket_id: str, at: datetime) -> None:
        self.store.set_ticket(res_id, ticket_id, at)

    def arrivals(self, site: str, day: date | None = None) -> list[Reservation]:
        """The day's appointments (for advisors: who has arrived, who is still to come)."""
        sb = self.site(site)
        now = self.clock()
        d = day or now.astimezone(sb.site.tz).date()
        if not date.min + timedelta(days=1) < d < date.max - timedelta(days=1):
            raise DomainError("bad_request", detail="day")  # would overflow in UTC
        start = datetime.combine(d, time.min, tzinfo=sb.site.tz).astimezone(UTC)
        return self.store.find(
            site,
            start,
            start + timedelta(days=1),
            statuses=("booked", "checked_in", "done", "noshow"),
        )

    # ------------------------------------------------------------------ housekeeping

    def housekeeping(self) -> dict[str, int]:
        """Expire holds, apply retention, send due notifications (called every ~15 s)."""
        now = self.clock()
        out = {"expired": self.store.expire_holds(now), "purged": 0, "sent": 0, "failed": 0}
        for sid, sb in self.sites.items():
            cutoff = now - timedelta(days=sb.rules.retention_days)
            out["purged"] += self.store.purge_personal(sid, cutoff, now)
            self.refresh_busy(sid, force=False)
        if self.notifier is not None:
            sent, failed = self.send_due(now)
            out["sent"], out["failed"] = sent, failed
        return out

    def send_due(self, now: datetime) -> tuple[int, int]:
        sent = failed = 0
        for note in self.store.due_notifications(now):
            try:
                res = self.store.get(note["reservation_id"])
            except NotFound:
                self.store.mark_notification(note["id"], now)
                continue
            sb = self.sites.get(res.site)
            if sb is None or res.purged_at is not None:
                self.store.mark_notification(note["id"], now)
                continue
            if note["kind"] == "reminder" and res.status != "booked":
                self.store.mark_notification(note["id"], now)  # cancelled or done: no reminder
                continue
            channels = tuple(note["channels"].split(",")) if note.get("channels") else None
            try:
                self.notifier.notify(
                    note["kind"],
                    res,
                    sb.site,
                    sb.site.services[res.service],
                    manage_url=self.manage_url(res),
                    location=", ".join(x for x in (sb.site.name.get(res.lang), sb.address) if x),
                    cancel_limit_h=sb.rules.cancel_limit_h,
                    **({"channels": channels} if channels else {}),
                )
            except Exception as exc:
                failed += 1
                log.warning("notification %s of %s failed: %s", note["kind"], res.code, exc)
                self.store.mark_notification(
                    note["id"],
                    now,
                    error=str(exc),
                    permanent=getattr(exc, "temporary", True) is False,
                    channels=list(getattr(exc, "failed", ()) or ()) or None,
                )
                continue
            sent += 1
            self.store.mark_notification(note["id"], now)
        return sent, failed


def _card_hash(hasher: hetu.HetuHasher, value: str) -> str:
    import hashlib
    import hmac

    key = hasher._key  # the same secret as the identity codes, in its own domain ("card:")
    return hmac.new(key, b"card:" + value.strip().encode(), hashlib.sha256).hexdigest()
