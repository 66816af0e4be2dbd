"""The measures of DOMAIN.md, computed from the stored `tickets` and `ticket_events`.

Two kinds of rows are read for a site and a range of days (the ticket's local `day`):

- a **visit** per ticket (one customer): arrival (check-in or ticket issue), the first
  call, its queue (the queue it was issued to: a transfer happens only after a call), its
  service and provider, walk-in or appointment, and the advisor of an appointment;
- an **outcome** per desk ending: `served` and `transferred` (a service event, with its
  service time from the event's `served_s`: finish - start, or - call when the desk never
  pressed start) and `noshow`, each with its desk, queue and provider at that moment.

Definitions (docs/reports.md says the same for managers):

- waiting time = first call - arrival (check-in for appointments, ticket issue for
  walk-ins), as DOMAIN.md defines it; a transferred customer's wait is the first one only.
- service time = the `served_s` of a served or transferred event (one per desk visit).
- service level = customers first called within their queue's `sl_target_min` / all
  customers of the group. A customer never called counts as not called in time (they
  waited past the target, or left); one still waiting at `now` who has not yet reached the
  target is left out (undecided). A no-show was called: it counts by its call time. An
  appointment counts like a walk-in, from check-in (DOMAIN.md's definition); reports show
  walk-ins and appointments apart as well.
- percentiles: linear interpolation between the closest ranks (numpy's default, Excel's
  PERCENTILE.INC); the median is the 50th.
- time of day: the site's local time; a visit by its arrival, an outcome by its event.
  Bands 8-10, 10-12, 12-14, 14-16 and other (DOMAIN.md).
- advisor: only appointments name one (the stored events do not say who sat at a desk);
  walk-ins are grouped by desk.

Percentiles are computed in Python from the fetched rows (a site-month is at most some
tens of thousands of rows); the SQL is SQLAlchemy Core and runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select

from scheduler.domain.model import SiteDef
from scheduler.store import tables as t

BANDS = ("08-10", "10-12", "12-14", "14-16", "other")
DIMENSIONS = (
    "site",
    "month",
    "day",
    "weekday",
    "hour",
    "band",
    "provider",
    "service",
    "queue",
    "desk",
    "advisor",
    "kind",
)
UNKNOWN = "?"


def band_of(hour: int) -> str:
    if 8 <= hour < 16:
        lo = hour - hour % 2
        return f"{lo:02d}-{lo + 2:02d}"
    return "other"


def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p` (0..1) percentile by linear interpolation between closest ranks."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * p
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True)
class _When:
    """Local-time keys of an instant."""

    local: datetime

    def keys(self) -> dict[str, Any]:
        d = self.local
        return {
            "month": d.strftime("%Y-%m"),
            "day": d.date().isoformat(),
            "weekday": d.isoweekday(),
            "hour": d.hour,
            "band": band_of(d.hour),
        }


@dataclass(frozen=True)
class Visit:
    """One customer (ticket)."""

    ticket_id: str
    arrival: datetime  # local
    day: date  # the ticket's local day
    queue: str
    service: str
    provider: str
    appointment: bool
    advisor: str | None
    desk: str | None  # desk of the first call
    first_call: datetime | None  # local
    sl_target_min: float
    status: str

    @property
    def wait_s(self) -> float | None:
        if self.first_call is None:
            return None
        return max(0.0, (self.first_call - self.arrival).total_seconds())

    def keys(self, site: str) -> dict[str, Any]:
        return {
            "site": site,
            **_When(self.arrival).keys(),
            "provider": self.provider,
            "service": self.service,
            "queue": self.queue,
            "desk": self.desk or UNKNOWN,
            "advisor": self.advisor or UNKNOWN,
            "kind": "appointment" if self.appointment else "walk_in",
        }

    def in_target(self, now: datetime | None) -> bool | None:
        """True/False: called within the target or not; None: undecided at `now`."""
        limit = self.sl_target_min * 60
        w = self.wait_s
        if w is not None:
            return w <= limit
        if now is not None and (now - self.arrival).total_seconds() <= limit:
            return None
        return False


@dataclass(frozen=True)
class Outcome:
    """A desk visit's end: served, transferred (both service events) or noshow."""

    ticket_id: str
    kind: str
    at: datetime  # local
    desk: str
    queue: str
    service: str
    provider: str
    appointment: bool
    advisor: str | None
    service_s: float | None

    def keys(self, site: str) -> dict[str, Any]:
        return {
            "site": site,
            **_When(self.at).keys(),
            "provider": self.provider,
            "service": self.service,
            "queue": self.queue,
            "desk": self.desk,
            "advisor": self.advisor or UNKNOWN,
            "kind": "appointment" if self.appointment else "walk_in",
        }


@dataclass
class Data:
    """A site's visits and outcomes of a range of days."""

    site: SiteDef
    first: date
    last: date
    visits: list[Visit] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    now: datetime | None = None

    def providers(self) -> list[str]:
        got = {s.provider for s in self.site.services.values()}
        got |= {v.provider for v in self.visits} | {o.provider for o in self.outcomes}
        return sorted(got)

    def only_provider(self, provider: str) -> Data:
        return Data(
            self.site,
            self.first,
            self.last,
            [v for v in self.visits if v.provider == provider],
            [o for o in self.outcomes if o.provider == provider],
            self.now,
        )

    def open_days(self) -> set[date]:
        return {v.arrival.date() for v in self.visits}


def queue_provider(site: SiteDef, queue: str) -> str:
    """A queue's provider: that of the first service feeding it."""
    for s in site.services.values():
        if s.queue == queue:
            return s.provider
    return UNKNOWN


def load(
    engine: Engine, site: SiteDef, first: date, last: date, *, now: datetime | None = None
) -> Data:
    """The visits and outcomes of tickets whose local day is in [first, last]."""
    tz = site.tz
    T, E = t.tickets, t.ticket_events
    in_range = (T.c.site == site.id, T.c.day >= first, T.c.day <= last)
    with engine.connect() as conn:
        tickets = conn.execute(
            select(
                T.c.id,
                T.c.day,
                T.c.queue,
                T.c.origin_queue,
                T.c.service,
                T.c.arrival_at,
                T.c.first_called_at,
                T.c.status,
                T.c.reservation_id,
                T.c.advisor,
            )
            .where(*in_range)
            .order_by(T.c.arrival_at, T.c.id)
        ).all()
        events = conn.execute(
            select(E.c.ticket_id, E.c.at, E.c.kind, E.c.desk, E.c.queue, E.c.detail)
            .join(T, T.c.id == E.c.ticket_id)
            .where(*in_range, E.c.kind.in_(("called", "served", "transferred", "noshow")))
            .order_by(E.c.id)
        ).all()
    first_desk: dict[str, str | None] = {}
    for e in events:
        if e.kind == "called" and e.ticket_id not in first_desk:
            first_desk[e.ticket_id] = e.desk
    data = Data(site, first, last, now=_utc(now))
    info: dict[str, tuple[str, bool, str | None]] = {}
    for r in tickets:
        queue = r.origin_queue or r.queue
        sdef = site.services.get(r.service)
        provider = sdef.provider if sdef else queue_provider(site, queue)
        qdef = site.queues.get(queue)
        arrival = _utc(r.arrival_at)
        assert arrival is not None
        called = _utc(r.first_called_at)
        appointment = r.reservation_id is not None
        info[r.id] = (r.service, appointment, r.advisor)
        data.visits.append(
            Visit(
                ticket_id=r.id,
                arrival=arrival.astimezone(tz),
                day=r.day,
                queue=queue,
                service=r.service,
                provider=provider,
                appointment=appointment,
                advisor=r.advisor,
                desk=first_desk.get(r.id),
                first_call=called.astimezone(tz) if called else None,
                sl_target_min=qdef.sl_target_min if qdef else 15.0,
                status=r.status,
            )
        )
    for e in events:
        if e.kind == "called" or e.ticket_id not in info:
            continue
        service, appointment, advisor = info[e.ticket_id]
        detail = e.detail or {}
        queue = str(detail.get("from")) if e.kind == "transferred" else e.queue
        sdef = site.services.get(service)
        if sdef is not None and sdef.queue == queue:
            provider, seg_service = sdef.provider, service
        else:  # transferred into a queue of another service: the queue's provider
            provider, seg_service = queue_provider(site, queue), UNKNOWN
        at = _utc(e.at)
        assert at is not None
        served = detail.get("served_s")
        data.outcomes.append(
            Outcome(
                ticket_id=e.ticket_id,
                kind=e.kind,
                at=at.astimezone(tz),
                desk=e.desk or UNKNOWN,
                queue=queue,
                service=seg_service,
                provider=provider,
                appointment=appointment,
                advisor=advisor,
                service_s=float(served) if served is not None and e.kind != "noshow" else None,
            )
        )
    return data


# ---------------------------------------------------------------------------- aggregates


def _min(x: float | None) -> float | None:
    return None if x is None else round(x / 60, 2)


@dataclass
class Measure:
    """The measures of one group (`key`: dimension -> value)."""

    key: dict[str, Any]
    customers: int = 0
    walk_ins: int = 0
    appointments: int = 0
    called: int = 0
    not_called: int = 0
    sl_in: int = 0
    sl_n: int = 0
    served: int = 0
    transfers: int = 0
    noshows: int = 0
    waits_s: list[float] = field(default_factory=list)
    service_s: list[float] = field(default_factory=list)
    bands: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BANDS, 0))

    @property
    def service_level(self) -> float | None:
        return round(self.sl_in / self.sl_n, 4) if self.sl_n else None

    @property
    def service_events(self) -> int:
        return self.served + self.transfers

    def wait_min(self, p: float | None = None) -> float | None:
        if p is None:
            return _min(sum(self.waits_s) / len(self.waits_s)) if self.waits_s else None
        return _min(percentile(self.waits_s, p))

    def service_min(self, p: float | None = None) -> float | None:
        if p is None:
            return _min(sum(self.service_s) / len(self.service_s)) if self.service_s else None
        return _min(percentile(self.service_s, p))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.key,
            "customers": self.customers,
            "walk_ins": self.walk_ins,
            "appointments": self.appointments,
            "called": self.called,
            "not_called": self.not_called,
            "served": self.served,
            "transfers": self.transfers,
            "noshows": self.noshows,
            "wait_mean_min": self.wait_min(),
            "wait_median_min": self.wait_min(0.5),
            "wait_p90_min": self.wait_min(0.9),
            "service_level": self.service_level,
            "sl_customers": self.sl_n,
            "service_mean_min": self.service_min(),
            "service_median_min": self.service_min(0.5),
            "service_p90_min": self.service_min(0.9),
            **{f"arrivals_{b}": n for b, n in self.bands.items()},
        }


def aggregate(data: Data, by: Sequence[str] = ()) -> list[Measure]:
    """The measures grouped by the dimensions `by` (see DIMENSIONS), sorted by key."""
    for d in by:
        if d not in DIMENSIONS:
            raise ValueError(f"unknown dimension {d!r}: one of {', '.join(DIMENSIONS)}")
    groups: dict[tuple[Any, ...], Measure] = {}

    def group(keys: dict[str, Any]) -> Measure:
        k = tuple(keys[d] for d in by)
        m = groups.get(k)
        if m is None:
            m = groups[k] = Measure({d: keys[d] for d in by})
        return m

    site = data.site.id
    for v in data.visits:
        m = group(v.keys(site))
        m.customers += 1
        if v.appointment:
            m.appointments += 1
        else:
            m.walk_ins += 1
        m.bands[band_of(v.arrival.hour)] += 1
        w = v.wait_s
        if w is None:
            m.not_called += 1
        else:
            m.called += 1
            m.waits_s.append(w)
        ok = v.in_target(data.now)
        if ok is not None:
            m.sl_n += 1
            m.sl_in += int(ok)
    for o in data.outcomes:
        m = group(o.keys(site))
        if o.kind == "served":
            m.served += 1
        elif o.kind == "transferred":
            m.transfers += 1
        else:
            m.noshows += 1
        if o.service_s is not None:
            m.service_s.append(o.service_s)
    return [groups[k] for k in sorted(groups, key=lambda k: tuple(str(x) for x in k))]


def load_profile(data: Data) -> dict[tuple[int, int], float]:
    """Mean arrivals per (ISO weekday, local hour) over the days the site had customers
    (a weekday's mean is over the days of that weekday with any customer)."""
    days: dict[int, set[date]] = defaultdict(set)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for v in data.visits:
        d = v.arrival.date()
        days[d.isoweekday()].add(d)
        counts[(d.isoweekday(), v.arrival.hour)] += 1
    return {k: n / len(days[k[0]]) for k, n in counts.items()}


def by_day(data: Data, fn: Callable[[Measure], Any]) -> list[tuple[str, Any]]:
    return [(m.key["day"], fn(m)) for m in aggregate(data, ("day",))]


def providers_of(items: Iterable[Visit | Outcome]) -> set[str]:
    return {i.provider for i in items}
