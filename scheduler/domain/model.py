"""The service point's walk-in rules (DOMAIN.md rules 1, 2, 4 and 5) as a pure model.

`SiteState` is the aggregate: one per site, with a `version` that the unit of work checks
on commit (optimistic concurrency: two processes never both commit a change made from the
same version). Every method takes the clock as `now` (an aware UTC datetime), validates
first and raises `DomainError` before changing anything, then mutates, records what it
changed (`dirty_*`) and appends `Event`s for the store and the statistics.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from heapq import heappop, heappush
from zoneinfo import ZoneInfo

from . import eta as eta_mod
from .errors import DomainError
from .hours import OpeningHours, WeeklyHours, intersect, when_text
from .policy import order_key, pick_next

LIVE = ("waiting", "called", "serving")
DONE = ("served", "noshow")
MAX_CALLED_SHOWN = 8
NUMBERS_PER_QUEUE = 999


# ---------------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class QueueDef:
    id: str
    prefix: str
    name: dict[str, str]
    weight: float = 1.0
    sl_target_min: float = 15.0
    max_waiting: int | None = None
    mean_service_min: float = 8.0


@dataclass(frozen=True)
class ServiceDef:
    id: str
    name: dict[str, str]
    provider: str
    queue: str
    walk_in: bool = True
    appointments: bool = False
    # Opening hours (DOMAIN.md rule 6), all inside the site's: the service's own (None =
    # the site's), its walk-in window and its appointment window (None = while open).
    walk_in_hours: OpeningHours | None = None
    instructions: dict[str, str] | None = None
    hours: OpeningHours | None = None
    appointment_hours: OpeningHours | None = None


@dataclass(frozen=True)
class DeskDef:
    id: str
    queues: tuple[str, ...]
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class DeviceDef:
    id: str
    role: str
    desks: tuple[str, ...] = ()
    layout: str = "landscape"
    offline_numbers: tuple[int, int] | None = None  # a kiosk's own range (offline mode)


@dataclass(frozen=True)
class SiteDef:
    id: str
    name: dict[str, str]
    timezone: str = "Europe/Helsinki"
    languages: tuple[str, ...] = ("fi", "sv", "en")
    hours: OpeningHours = field(default_factory=WeeklyHours.always)
    queues: dict[str, QueueDef] = field(default_factory=dict)
    services: dict[str, ServiceDef] = field(default_factory=dict)
    desks: dict[str, DeskDef] = field(default_factory=dict)
    devices: dict[str, DeviceDef] = field(default_factory=dict)
    message: dict[str, str] | None = None
    # Advisor id -> the desk the advisor sits at (their checked-in customers are called
    # there first, DOMAIN.md rule 3).
    advisor_desks: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _service(self, service: ServiceDef | str) -> ServiceDef:
        return self.services[service] if isinstance(service, str) else service

    def service_calendar(self, service: ServiceDef | str) -> OpeningHours:
        """When the service is open: site hours ∩ the service's own hours."""
        return intersect(self.hours, self._service(service).hours)

    def walk_in_calendar(self, service: ServiceDef | str) -> OpeningHours:
        """When the service takes walk-in numbers: site ∩ service ∩ walk-in window."""
        s = self._service(service)
        if not s.walk_in:
            return WeeklyHours.never()
        return intersect(self.hours, s.hours, s.walk_in_hours)

    def appointment_calendar(self, service: ServiceDef | str) -> OpeningHours:
        """When the service can be booked: site ∩ service ∩ appointment window. Its
        `intervals_on(day)` are the local intervals, `spans_on(day, tz)` the instants."""
        s = self._service(service)
        if not s.appointments:
            return WeeklyHours.never()
        return intersect(self.hours, s.hours, s.appointment_hours)


# ---------------------------------------------------------------------------- runtime state


@dataclass
class Ticket:
    id: str
    token: str
    day: date
    queue: str
    number: str
    service: str
    priority: bool
    lang: str
    arrival_at: datetime
    issued_at: datetime
    status: str = "waiting"
    desk: str | None = None
    called_at: datetime | None = None
    first_called_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    recalls: int = 0
    transfers: int = 0
    origin_queue: str | None = None
    device: str | None = None
    # An appointment's ticket (made by check-in): its reservation, slot start and advisor.
    reservation_id: str | None = None
    appt_start: datetime | None = None
    advisor: str | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def waited_s(self, now: datetime) -> float:
        return max(0.0, (now - self.arrival_at).total_seconds())


@dataclass
class DeskRuntime:
    status: str = "closed"  # closed, open, calling, serving
    ticket_id: str | None = None


@dataclass(frozen=True)
class Call:
    number: str
    desk: str
    at: datetime
    recall: bool
    lang: str


@dataclass(frozen=True)
class Event:
    kind: str  # issued, called, recalled, started, served, noshow, transferred, opened, closed
    at: datetime
    ticket_id: str | None = None
    desk: str | None = None
    queue: str | None = None
    detail: dict[str, object] | None = None


class SiteState:
    """The aggregate of one site: its tickets, desks, number counters and recent calls."""

    def __init__(
        self,
        site: SiteDef,
        *,
        version: int = 0,
        display_seq: int = 0,
        tickets: Iterable[Ticket] = (),
        desks: dict[str, DeskRuntime] | None = None,
        counters: dict[str, tuple[date, int]] | None = None,
        calls: Iterable[Call] = (),
    ) -> None:
        self.site = site
        self.version = version
        self.display_seq = display_seq
        self.tickets: dict[str, Ticket] = {t.id: t for t in tickets}
        self.desks: dict[str, DeskRuntime] = {d: DeskRuntime() for d in site.desks}
        for desk_id, runtime in (desks or {}).items():
            if desk_id in self.desks:
                self.desks[desk_id] = runtime
        self.counters: dict[str, tuple[date, int]] = dict(counters or {})
        self.calls: deque[Call] = deque(calls, maxlen=MAX_CALLED_SHOWN)
        # The estimator's: when each desk closed (a break: it is expected back), and the
        # lengths of the recent breaks (closed -> opened again), minutes.
        self._closed_at: dict[str, datetime] = {}
        self._breaks: deque[float] = deque(maxlen=eta_mod.BREAKS_KEPT)
        # From the site's definition: desks where an advisor sits, and the numbers the
        # scheduler never hands out (the kiosks' offline ranges).
        self._advisor_desks = frozenset(site.advisor_desks.values())
        self._reserved = frozenset(
            n
            for d in site.devices.values()
            if d.offline_numbers
            for n in range(d.offline_numbers[0], d.offline_numbers[1] + 1)
        )
        self._reindex()
        self.clear_changes()

    # ------------------------------------------------------------------ indexes

    def _reindex(self) -> None:
        """Build the indexes over `tickets` that keep the hot queries independent of how
        many tickets the day has had: live tickets, waiting tickets by queue, and each
        queue's served spans (finished_at, minutes), sorted, with a cache of their mean.

        The methods below keep them up to date where they change a ticket's status or
        queue; tickets put into or taken out of `tickets` from outside are noticed by
        the count (`_fresh`) and the indexes rebuilt.
        """
        self._live: dict[str, Ticket] = {}
        # Checked-in appointments waiting for their call (not walk-ins: kept apart).
        self._appts: dict[str, Ticket] = {}
        self._waiting: dict[str, dict[str, Ticket]] = {}
        # Per queue, a heap of (order_key..., ticket id) over its waiting tickets: the
        # head is the queue's first in `queue_order`. Entries of tickets that left the
        # queue are dropped lazily, when they come to the top (`_queue_heads`).
        self._order: dict[str, list[tuple[bool, datetime, str, str]]] = {}
        self._spans: dict[str, list[tuple[datetime, float]]] = {}
        self._mean: dict[str, float] = {}
        # The estimator's: each queue's finished visits (finished_at, desk minutes from
        # the call), served and no-shows, and the cached forecast (`_eta_forecast`).
        self._visits: dict[str, list[tuple[datetime, float]]] = {}
        self._arrivals: dict[str, list[datetime]] = {}  # walk-ins' arrivals per queue
        self._gen = getattr(self, "_gen", 0) + 1
        self._fc: eta_mod.Forecast | None = None
        self._fc_gen = -1
        for t in self.tickets.values():
            self._index(t)
        self._indexed = len(self.tickets)

    def _fresh(self) -> None:
        if len(self.tickets) != self._indexed:
            self._reindex()

    def _index(self, t: Ticket) -> None:
        if t.reservation_id is None:
            insort(self._arrivals.setdefault(t.origin_queue or t.queue, []), t.arrival_at)
        if t.status in LIVE:
            self._live[t.id] = t
            if t.status == "waiting" and t.appt_start is not None:
                self._appts[t.id] = t
            elif t.status == "waiting":
                self._add_waiting(t)
        elif t.status == "served":
            self._index_served(t)
        if t.status in DONE:
            self._index_visit(t)

    def _index_visit(self, t: Ticket) -> None:
        # The visit began at its first call, or for a transferred ticket at its last.
        began = t.first_called_at if not t.transfers else (t.called_at or t.started_at)
        if t.finished_at is not None and began is not None:
            minutes = max(0.0, (t.finished_at - began).total_seconds() / 60)
            insort(self._visits.setdefault(t.queue, []), (t.finished_at, minutes))

    def _index_served(self, t: Ticket) -> None:
        if t.finished_at is not None and t.started_at is not None:
            minutes = (t.finished_at - t.started_at).total_seconds() / 60
            insort(self._spans.setdefault(t.queue, []), (t.finished_at, minutes))
            self._mean.pop(t.queue, None)

    def _add_waiting(self, t: Ticket) -> None:
        self._waiting.setdefault(t.queue, {})[t.id] = t
        heappush(self._order.setdefault(t.queue, []), (*order_key(t), t.id))

    def _queue_heads(self, queue_ids: Iterable[str]) -> list[Ticket]:
        """The first waiting ticket (in `queue_order`) of each of the queues that has one.

        Only a queue's head can be `pick_next`'s choice: within one queue its score is
        monotone in the waiting time, priority first, ties by (arrival, number), which
        is `queue_order`. So `pick_next(heads)` is `pick_next(all waiting)` at a cost of
        O(queues) instead of O(waiting) (tests/unit/test_properties.py checks it).
        """
        self._fresh()
        heads: list[Ticket] = []
        for q in dict.fromkeys(queue_ids):
            heap = self._order.get(q)
            waiting = self._waiting.get(q)
            while heap:
                t = waiting.get(heap[0][3]) if waiting else None
                if t is not None and t.queue == q and t.status == "waiting":
                    heads.append(t)
                    break
                heappop(heap)
        return heads

    def _waiting_of(self, queue_ids: Iterable[str]) -> list[Ticket]:
        """The waiting tickets of the queues, by queue (`waiting_in` keeps ticket order)."""
        self._fresh()
        return [t for q in dict.fromkeys(queue_ids) for t in self._waiting.get(q, {}).values()]

    def _count_waiting(self, queue_ids: Iterable[str]) -> int:
        self._fresh()
        return sum(len(self._waiting.get(q, ())) for q in set(queue_ids))

    # ------------------------------------------------------------------ change tracking

    def clear_changes(self) -> None:
        self.dirty_tickets: set[str] = set()
        self.dirty_desks: set[str] = set()
        self.dirty_counters: set[str] = set()
        self.events: list[Event] = []
        self.display_changed = False

    def _touch(self, ticket: Ticket | None = None, desk: str | None = None) -> None:
        self._gen += 1
        if ticket is not None:
            self.dirty_tickets.add(ticket.id)
        if desk is not None:
            self.dirty_desks.add(desk)
        self.display_changed = True

    # ------------------------------------------------------------------ time

    def local(self, now: datetime) -> datetime:
        return now.astimezone(self.site.tz)

    def today(self, now: datetime) -> date:
        return self.local(now).date()

    def is_open(self, now: datetime) -> bool:
        return self.site.hours.is_open(self.local(now))

    def service_open(self, service: ServiceDef, now: datetime) -> bool:
        """Takes walk-in numbers now (site, service and walk-in window all open)."""
        return self.site.walk_in_calendar(service).is_open(self.local(now))

    # ------------------------------------------------------------------ queries

    def live_tickets(self) -> list[Ticket]:
        return [t for t in self.tickets.values() if t.live]

    def waiting_in(self, queue_ids: Iterable[str]) -> list[Ticket]:
        qs = set(queue_ids)
        return [t for t in self.tickets.values() if t.status == "waiting" and t.queue in qs]

    def desk_def(self, desk: str) -> DeskDef:
        d = self.site.desks.get(desk)
        if d is None:
            raise DomainError("unknown_desk", desk=desk)
        return d

    def current(self, desk: str) -> Ticket | None:
        tid = self.desks[desk].ticket_id
        return self.tickets.get(tid) if tid else None

    def position(self, ticket: Ticket) -> int:
        """People ahead of `ticket` in its queue (priority first, then arrival order);
        for a checked-in appointment, the same advisor's earlier appointments waiting."""
        if ticket.status != "waiting":
            return 0
        if ticket.appt_start is not None:
            return sum(
                1
                for t in self._appts.values()
                if t.advisor == ticket.advisor
                and t.appt_start is not None
                and (t.appt_start, t.number) < (ticket.appt_start, ticket.number)
            )
        # Its index in queue_order(): the tickets whose key sorts before its own (keys
        # are unique: no two live tickets share a number).
        key = order_key(ticket)
        return sum(1 for t in self._waiting_of([ticket.queue]) if order_key(t) < key)

    def open_desks_for(self, queue: str) -> int:
        return sum(
            1
            for d in self.site.desks.values()
            if queue in d.queues and self.desks[d.id].status != "closed"
        )

    def eta_min(self, queue: str, ahead: int, now: datetime) -> int:
        """The estimate for the walk-in with `ahead` people before it in `queue` (or for
        one arriving now: `ahead` = the number waiting): scheduler/domain/eta.py."""
        minutes = self._eta_forecast(now).minutes(queue, ahead, now)
        if minutes is None:  # no open desk serves the queue
            return self.baseline_eta_min(queue, ahead, now)
        return eta_mod.whole_minutes(minutes)

    def _arrival_rate(self, queue: str, now: datetime) -> float:
        """Walk-ins per minute into `queue` over the last `eta_mod.RATE_WINDOW_MIN`."""
        times = self._arrivals.get(queue)
        if not times:
            return 0.0
        since = now - timedelta(minutes=eta_mod.RATE_WINDOW_MIN)
        n = bisect_right(times, now) - bisect_right(times, since)
        return n / eta_mod.RATE_WINDOW_MIN

    def _eta_forecast(self, now: datetime) -> eta_mod.Forecast:
        """The forecast of this state. Made once per instant `now` (the scheduler runs a
        batch of commands at one `now`: tickets issued in it are appended to the
        forecast, `eta.Forecast.append`, and other changes of the batch are seen at the
        next instant), and reused while nothing changed for `eta_mod.REUSE_S`."""
        self._fresh()
        fc = self._fc
        if fc is not None and (
            fc.now == now  # one batch of commands shares one `now`: one forecast
            or (
                self._fc_gen == self._gen and 0 <= (now - fc.now).total_seconds() <= eta_mod.REUSE_S
            )
        ):
            return fc
        queues = self.site.queues
        desk_min = {
            q: eta_mod.learnt_desk_min(self._visits.get(q, []), qd.mean_service_min)
            for q, qd in queues.items()
        }
        fc = eta_mod.forecast(
            now=now,
            queues=queues,
            desks=self.site.desks,
            open_desks={
                d: self.current(d) for d, rt in self.desks.items() if rt.status != "closed"
            },
            waiting={q: self._waiting.get(q, {}).values() for q in queues},
            appointments=list(self._appts.values()),
            advisor_desks=self.site.advisor_desks,
            desk_min=desk_min,
            arrivals_per_min={q: self._arrival_rate(q, now) for q in queues},
            returning=eta_mod.returning(self._closed_at, self._breaks, now),
        )
        self._fc, self._fc_gen = fc, self._gen
        return fc

    def baseline_eta_min(self, queue: str, ahead: int, now: datetime) -> int:
        """The queue-length baseline of DOMAIN.md (people ahead x today's mean service
        time of the queue / open desks serving it): what the estimator is measured
        against (bench/simulate.py)."""
        q = self.site.queues[queue]
        self._fresh()
        mean = self._mean.get(queue)
        if mean is None:  # = eta_mod.mean_service_min(today's served tickets of the queue)
            mean = eta_mod.mean_of_recent(self._spans.get(queue, []), q.mean_service_min)
            self._mean[queue] = mean
        return eta_mod.baseline_eta_min(
            ahead=ahead,
            mean_service_min=mean,
            open_desks=self.open_desks_for(queue),
        )

    def ticket_eta(self, ticket: Ticket, now: datetime, position: int | None = None) -> int:
        """The estimate of DOMAIN.md for a waiting ticket (`position` if already known)."""
        if ticket.status != "waiting":
            return 0
        if ticket.appt_start is not None:  # called at (about) the booked time
            return max(0, -int(-(ticket.appt_start - now).total_seconds() // 60))
        ahead = self.position(ticket) if position is None else position
        return self.eta_min(ticket.queue, ahead, now)

    def desk_waiting(self, desk: str) -> int:
        return self._count_waiting(self.site.desks[desk].queues)

    def desk_state(self, desk: str) -> dict[str, object]:
        rt = self.desks[desk]
        cur = self.current(desk)
        out: dict[str, object] = {
            "status": rt.status,
            "ticket": cur.number if cur else None,
            "waiting": self.desk_waiting(desk),
        }
        if desk in self._advisor_desks:
            # Checked-in customers of the advisor at this desk (an addition to PROTOCOL.md).
            out["appointments"] = sum(
                1
                for t in self._appts.values()
                if self.site.advisor_desks.get(t.advisor or "") == desk
            )
        return out

    def display_snapshot(self, now: datetime) -> dict[str, object]:
        """The lobby snapshot (without `v`, `seq` and `at`): numbers only, never names."""
        queues = []
        for q in self.site.queues.values():
            waiting = self._count_waiting([q.id])
            queues.append(
                {
                    "id": q.id,
                    "name": dict(q.name),
                    "waiting": waiting,
                    "eta_min": self.eta_min(q.id, waiting, now),
                }
            )
        return {
            "open": self.is_open(now),
            "called": [
                {
                    "number": c.number,
                    "desk": self.site.desks[c.desk].label if c.desk in self.site.desks else c.desk,
                    "at": c.at,
                    "recall": c.recall,
                }
                for c in self.calls
            ],
            "queues": queues,
            "message": dict(self.site.message) if self.site.message else None,
        }

    # ------------------------------------------------------------------ kiosk commands

    def issue_ticket(
        self,
        *,
        service_id: str,
        lang: str,
        priority: bool,
        now: datetime,
        ticket_id: str,
        token: str,
        device: str | None = None,
        offline_number: str | None = None,
        offline_at: datetime | None = None,
    ) -> Ticket:
        """A walk-in ticket. With `offline_number` (and `offline_at`), one the kiosk
        `device` gave from its own range while the scheduler could not be reached: it
        keeps that number and takes its place in the queue by its issue time; opening
        hours are those of that time, and a full queue does not refuse it (the customer
        holds the printed number)."""
        service = self.site.services.get(service_id)
        if service is None:
            raise DomainError("unknown_service", service=service_id)
        if offline_number is not None:
            return self._issue_offline(
                service,
                lang,
                priority,
                now,
                ticket_id,
                token,
                device,
                offline_number,
                offline_at or now,
            )
        local = self.local(now)
        if not self.is_open(now):
            raise self._closed_error("site_closed", self.site.hours, local)
        if not service.walk_in:
            raise DomainError("queue_closed", "queue_closed_unknown")
        walk_in = self.site.walk_in_calendar(service)
        if not walk_in.is_open(local):
            raise self._closed_error("queue_closed", walk_in, local)
        queue = self.site.queues[service.queue]
        if queue.max_waiting is not None and self._count_waiting([queue.id]) >= queue.max_waiting:
            raise DomainError("queue_full")
        today = local.date()
        number, counter = self._allocate_number(queue, today)

        ticket = Ticket(
            id=ticket_id,
            token=token,
            day=today,
            queue=queue.id,
            number=number,
            service=service.id,
            priority=priority,
            lang=lang,
            arrival_at=now,
            issued_at=now,
            origin_queue=queue.id,
            device=device,
        )
        self.counters[queue.id] = (today, counter)
        self.dirty_counters.add(queue.id)
        return self._add_ticket(ticket, now, {"priority": priority, "lang": lang})

    def _add_ticket(self, ticket: Ticket, now: datetime, detail: dict[str, object]) -> Ticket:
        """Put a new ticket into the aggregate, its indexes and the change sets."""
        self._fresh()
        self.tickets[ticket.id] = ticket
        self._index(ticket)
        self._indexed += 1
        fresh = self._fc is not None and self._fc.now == now
        self._touch(ticket)
        if fresh and self._fc is not None and ticket.appt_start is None and not ticket.priority:
            # Last in its queue, arriving now: the forecast holds (eta.Forecast.append).
            self._fc.append(ticket.queue)
            self._fc_gen = self._gen
        self._mark_desks_of(ticket.queue)
        self.events.append(Event("issued", now, ticket.id, None, ticket.queue, detail))
        return ticket

    def _closed_error(self, code: str, hours: OpeningHours, local: datetime) -> DomainError:
        """`code` saying when `hours` opens next, and why today is special (a holiday
        or closure), if it is."""
        nxt = hours.next_opening(local)
        if nxt is None:
            return DomainError(code, f"{code}_unknown")
        texts = when_text(nxt, local.date())
        reason = hours.closed_reason(local.date())
        extra = {f"reason_{k}": reason.get(k, "") for k in ("fi", "sv", "en")} if reason else {}
        return DomainError(
            code,
            f"{code}_reason" if reason else None,
            opens_fi=texts["fi"],
            opens_sv=texts["sv"],
            opens_en=texts["en"],
            opens_at=nxt.isoformat(),
            **extra,
        )

    def _allocate_number(self, queue: QueueDef, today: date) -> tuple[str, int]:
        """Next number of the queue today; skips numbers still live (rule 1) and the
        kiosks' offline ranges."""
        day, last = self.counters.get(queue.id, (today, 0))
        if day != today:
            last = 0
        self._fresh()
        live = {t.number for t in self._live.values()}
        n = last
        for _ in range(NUMBERS_PER_QUEUE):
            n = n % NUMBERS_PER_QUEUE + 1
            if n in self._reserved:
                continue
            number = f"{queue.prefix}{n:03d}"
            if number not in live:
                return number, n
        raise DomainError("queue_full")

    def _issue_offline(
        self,
        service: ServiceDef,
        lang: str,
        priority: bool,
        now: datetime,
        ticket_id: str,
        token: str,
        device: str | None,
        number: str,
        issued_at: datetime,
    ) -> Ticket:
        dev = self.site.devices.get(device or "")
        rng = dev.offline_numbers if dev is not None else None
        queue = self.site.queues[service.queue]
        if rng is None:
            raise DomainError("bad_request", detail="this kiosk has no offline_numbers")
        if number[0] != queue.prefix or not rng[0] <= int(number[1:]) <= rng[1]:
            raise DomainError("bad_request", detail=f"offline number {number} is not this kiosk's")
        # Its place in the queue is its issue time, but never in the future.
        arrival = min(issued_at, now)
        local = self.local(arrival)
        if not service.walk_in:
            raise DomainError("queue_closed", "queue_closed_unknown")
        self._fresh()
        if any(t.number == number for t in self._live.values()):
            # The kiosk never gives a number twice a day; a live one of an earlier day
            # keeps its number and this customer gets a fresh one (logged by the caller).
            number, counter = self._allocate_number(queue, local.date())
            self.counters[queue.id] = (local.date(), counter)
            self.dirty_counters.add(queue.id)
        ticket = Ticket(
            id=ticket_id,
            token=token,
            day=self.local(now).date(),
            queue=queue.id,
            number=number,
            service=service.id,
            priority=priority,
            lang=lang,
            arrival_at=arrival,
            issued_at=arrival,
            origin_queue=queue.id,
            device=device,
        )
        detail = {"priority": priority, "lang": lang, "offline": True}
        return self._add_ticket(ticket, now, {**detail, "issued_at": arrival.isoformat()})

    def renumber(self, ticket_id: str, number: str, now: datetime) -> Ticket:
        """Give a waiting ticket another number (a kiosk's offline ticket superseding an
        earlier command that got through after all): the number the customer holds."""
        t = self.tickets.get(ticket_id)
        if t is None or t.status != "waiting" or t.number == number:
            return t  # type: ignore[return-value]
        self._fresh()
        if any(x.number == number and x.id != t.id for x in self._live.values()):
            return t
        old = t.number
        t.number = number
        # The walk-in heap keys include the number: re-add the ticket under its new key.
        self._reindex()
        self._touch(t)
        self._mark_desks_of(t.queue)
        self.events.append(Event("renumbered", now, t.id, None, t.queue, {"from": old}))
        return t

    def _mark_desks_of(self, queue: str) -> None:
        for d in self.site.desks.values():
            if queue in d.queues:
                self.dirty_desks.add(d.id)

    # ------------------------------------------------------------------ desk commands

    def _desk(self, desk: str) -> tuple[DeskDef, DeskRuntime]:
        return self.desk_def(desk), self.desks[desk]

    def open_desk(self, desk: str, now: datetime) -> None:
        _, rt = self._desk(desk)
        if rt.status != "closed":
            return  # already open: nothing to do, still ok
        rt.status = "open"
        closed_at = self._closed_at.pop(desk, None)
        if closed_at is not None:
            gap = (now - closed_at).total_seconds() / 60
            if 0 < gap <= eta_mod.BREAK_MAX_MIN:
                self._breaks.append(gap)
        self._touch(desk=desk)
        self.events.append(Event("opened", now, None, desk))

    def close_desk(self, desk: str, now: datetime) -> None:
        _, rt = self._desk(desk)
        if rt.status == "closed":
            return
        if rt.status in ("calling", "serving"):
            raise DomainError("bad_state", state=rt.status)
        rt.status = "closed"
        self._closed_at[desk] = now
        self._touch(desk=desk)
        self.events.append(Event("closed", now, None, desk))

    def next(self, desk: str, now: datetime) -> tuple[Ticket | None, Ticket | None]:
        """Finish the current ticket (if any) as served, call the next one.

        Returns (called, finished). With nobody waiting and nothing current this is
        `nothing_waiting` and changes nothing; with a current ticket and nobody waiting,
        the current one is finished and `called` is None.
        """
        d, rt = self._desk(desk)
        if rt.status == "closed":
            raise DomainError("desk_closed")
        chosen = self._pick_appointment(desk, now)
        if chosen is None:
            # Each queue's head is enough (see `_queue_heads`).
            candidates = self._queue_heads(d.queues)
            chosen = pick_next(candidates, self.site.queues, now)
        current = self.current(desk)
        if chosen is None and current is None:
            raise DomainError("nothing_waiting")
        if current is not None:
            self._close_ticket(desk, current, "served", now)
        if chosen is not None:
            self._call(desk, chosen, now)
        return chosen, current

    def callable_at(self, desk: str, now: datetime) -> list[Ticket]:
        """Who this desk may call, in the order `next` would take them: its checked-in
        appointments first (`appointments_for`), then the walk-ins waiting in its queues
        by `queue_order` (the advisor tablet's list)."""
        d = self.desk_def(desk)
        walk_ins = sorted(self._waiting_of(d.queues), key=order_key)
        return [*self.appointments_for(desk, now), *walk_ins]

    def call(self, desk: str, number: str, now: datetime) -> tuple[Ticket, Ticket | None]:
        """Call a chosen ticket (the advisor picked it from `callable_at`), finishing the
        current one as `next` does. Returns (called, finished)."""
        _, rt = self._desk(desk)
        if rt.status == "closed":
            raise DomainError("desk_closed")
        chosen = next((t for t in self.callable_at(desk, now) if t.number == number), None)
        if chosen is None:
            raise DomainError("ticket_not_waiting", number=number)
        current = self.current(desk)
        if current is not None:
            self._close_ticket(desk, current, "served", now)
        self._call(desk, chosen, now)
        return chosen, current

    def recall(self, desk: str, now: datetime) -> Ticket:
        _, rt = self._desk(desk)
        cur = self.current(desk)
        if cur is None:
            raise DomainError("no_current_ticket")
        if rt.status != "calling":
            raise DomainError("bad_state", state=rt.status)
        cur.recalls += 1
        cur.called_at = now
        self._announce(cur, desk, now, recall=True)
        self._touch(cur, desk)
        self.events.append(Event("recalled", now, cur.id, desk, cur.queue, {"n": cur.recalls}))
        return cur

    def start(self, desk: str, now: datetime) -> Ticket:
        _, rt = self._desk(desk)
        cur = self.current(desk)
        if cur is None:
            raise DomainError("no_current_ticket")
        if rt.status != "calling":
            raise DomainError("bad_state", state=rt.status)
        cur.status = "serving"
        cur.started_at = now
        rt.status = "serving"
        self._touch(cur, desk)
        self.events.append(Event("started", now, cur.id, desk, cur.queue))
        return cur

    def finish(self, desk: str, now: datetime) -> Ticket:
        self.desk_def(desk)
        cur = self.current(desk)
        if cur is None:
            raise DomainError("no_current_ticket")
        self._close_ticket(desk, cur, "served", now)
        return cur

    def noshow(self, desk: str, now: datetime) -> Ticket:
        _, rt = self._desk(desk)
        cur = self.current(desk)
        if cur is None:
            raise DomainError("no_current_ticket")
        if rt.status != "calling":
            raise DomainError("bad_state", state=rt.status)
        self._close_ticket(desk, cur, "noshow", now)
        return cur

    def transfer(self, desk: str, queue: str, now: datetime) -> Ticket:
        """Send the current customer to `queue`, keeping number, priority and arrival."""
        _, rt = self._desk(desk)
        cur = self.current(desk)
        if cur is None:
            raise DomainError("no_current_ticket")
        if queue not in self.site.queues:
            raise DomainError("unknown_queue", queue=queue)
        from_queue = cur.queue
        # Without `start`, the service counts from the last call (PROTOCOL.md).
        served_from = cur.started_at or cur.called_at
        self.events.append(
            Event(
                "transferred",
                now,
                cur.id,
                desk,
                queue,
                {"from": from_queue, "served_s": _seconds(served_from, now)},
            )
        )
        cur.status = "waiting"
        cur.appt_start = None  # sent on, an appointment customer queues like a walk-in
        self._appts.pop(cur.id, None)
        cur.queue = queue
        self._add_waiting(cur)
        cur.desk = None
        cur.called_at = None
        cur.started_at = None
        cur.transfers += 1
        rt.status = "open"
        rt.ticket_id = None
        self._touch(cur, desk)
        self._mark_desks_of(queue)
        self._mark_desks_of(from_queue)
        return cur

    # ------------------------------------------------------------------ internals

    def _call(self, desk: str, ticket: Ticket, now: datetime) -> None:
        rt = self.desks[desk]
        self._appts.pop(ticket.id, None)
        ticket.status = "called"
        self._waiting.get(ticket.queue, {}).pop(ticket.id, None)
        ticket.desk = desk
        ticket.called_at = now
        if ticket.first_called_at is None:
            ticket.first_called_at = now
        rt.status = "calling"
        rt.ticket_id = ticket.id
        self._announce(ticket, desk, now, recall=False)
        self._touch(ticket, desk)
        self._mark_desks_of(ticket.queue)
        self.events.append(
            Event("called", now, ticket.id, desk, ticket.queue, {"waited_s": ticket.waited_s(now)})
        )

    def _announce(self, ticket: Ticket, desk: str, now: datetime, *, recall: bool) -> None:
        # A number shows once in the called list: a recall moves it to the front.
        kept = [c for c in self.calls if c.number != ticket.number]
        self.calls.clear()
        self.calls.append(Call(ticket.number, desk, now, recall, ticket.lang))
        self.calls.extend(kept[: MAX_CALLED_SHOWN - 1])

    def _close_ticket(self, desk: str, ticket: Ticket, outcome: str, now: datetime) -> None:
        rt = self.desks[desk]
        self._appts.pop(ticket.id, None)
        if outcome == "served" and ticket.started_at is None:
            ticket.started_at = ticket.called_at
        ticket.status = outcome
        ticket.finished_at = now
        self._live.pop(ticket.id, None)
        self._waiting.get(ticket.queue, {}).pop(ticket.id, None)
        if outcome == "served":
            self._index_served(ticket)
        self._index_visit(ticket)
        rt.status = "open"
        rt.ticket_id = None
        self._touch(ticket, desk)
        self.events.append(
            Event(
                outcome,
                now,
                ticket.id,
                desk,
                ticket.queue,
                {"served_s": _seconds(ticket.started_at, now)} if outcome == "served" else None,
            )
        )

    # ------------------------------------------------------------------ appointments

    def ticket_of_reservation(self, reservation_id: str) -> Ticket | None:
        for t in self.tickets.values():
            if t.reservation_id == reservation_id:
                return t
        return None

    def check_in(
        self,
        *,
        reservation_id: str,
        service_id: str,
        advisor: str | None,
        appt_start: datetime,
        lang: str,
        now: datetime,
        ticket_id: str,
        token: str,
        device: str | None = None,
    ) -> tuple[Ticket, bool]:
        """A checked-in appointment's ticket (DOMAIN.md rule 3): (ticket, new). Checking
        in again gives the same ticket. The window and the reservation are checked by the
        booking service before; opening hours do not apply (the booking did)."""
        self._fresh()
        existing = self.ticket_of_reservation(reservation_id)
        if existing is not None:
            return existing, False
        service = self.site.services.get(service_id)
        if service is None:
            raise DomainError("unknown_service", service=service_id)
        queue = self.site.queues[service.queue]
        today = self.local(now).date()
        number, counter = self._allocate_number(queue, today)
        ticket = Ticket(
            id=ticket_id,
            token=token,
            day=today,
            queue=queue.id,
            number=number,
            service=service.id,
            priority=False,
            lang=lang,
            arrival_at=now,
            issued_at=now,
            origin_queue=queue.id,
            device=device,
            reservation_id=reservation_id,
            appt_start=appt_start,
            advisor=advisor,
        )
        self.counters[queue.id] = (today, counter)
        self.dirty_counters.add(queue.id)
        detail = {"priority": False, "lang": lang, "appointment": True, "advisor": advisor}
        return self._add_ticket(ticket, now, detail), True

    def appointments_for(self, desk: str, now: datetime) -> list[Ticket]:
        """Checked-in appointments this desk calls ahead of walk-ins, in call order
        (DOMAIN.md rules 3 and 4): its advisor's due ones, then due ones of advisors who
        are away (their desk closed, or none) in the queues it serves, then its advisor's
        early arrivals (the advisor is free)."""
        self._fresh()
        queues = self.site.desks[desk].queues
        mine_due: list[Ticket] = []
        others_due: list[Ticket] = []
        mine_early: list[Ticket] = []
        for t in self._appts.values():
            if t.appt_start is None:
                continue
            home = self.site.advisor_desks.get(t.advisor or "")
            due = t.appt_start <= now
            if home == desk:  # the advisor's own customer, whatever the desk's queues
                (mine_due if due else mine_early).append(t)
            elif (
                due
                and t.queue in queues
                and (home is None or home not in self.desks or self.desks[home].status == "closed")
            ):
                others_due.append(t)

        def key(t: Ticket) -> tuple[datetime, datetime, str]:
            assert t.appt_start is not None
            return (t.appt_start, t.arrival_at, t.number)

        return sorted(mine_due, key=key) + sorted(others_due, key=key) + sorted(mine_early, key=key)

    def _pick_appointment(self, desk: str, now: datetime) -> Ticket | None:
        if not self._appts:
            return None
        found = self.appointments_for(desk, now)
        return found[0] if found else None

    def forget_before(self, day: date) -> list[str]:
        """Drop finished tickets of days before `day` from memory (they stay in the store)."""
        old = [t.id for t in self.tickets.values() if not t.live and t.day < day]
        for tid in old:
            del self.tickets[tid]
        if old:
            self._reindex()
        return old


def _seconds(a: datetime | None, b: datetime) -> float | None:
    return None if a is None else max(0.0, (b - a).total_seconds())


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
