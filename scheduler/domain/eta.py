"""Estimated wait (DOMAIN.md "Estimated wait"); docs/estimate.md explains it.

Two estimators, both pure (no I/O, the clock is passed in):

- `baseline_eta_min`: the queue-length baseline (people ahead x mean service time / open
  desks serving the queue), what ZMS and most vendors show; kept as the yardstick.
- `forecast`: the scheduler's estimate. It plays the open desks forward from `now`: each
  desk is free when its current customer is expected to leave (the queue's learnt desk
  time minus what has passed), then takes whom `next` would take at that instant (the
  advisor's checked-in appointments first, then `policy.pick_next`, the same weighted
  call-next function the scheduler runs, over the heads of the queues of its work
  profile), and is busy for that queue's learnt desk time. The instant each waiting
  ticket is taken is its expected call. One zero-length "phantom" ticket at the end of
  every queue gives the estimate for a customer arriving now (the display's `eta_min`).
  Desk time per queue is learnt from today's finished visits (call to finish, served
  and no-shows: `learnt_desk_min`), shrunk towards the configured mean when there are
  few. A desk that closed during the day is on a break and played as free again when
  expected back (`returning`). Past `MAX_PICKS` calls the rest is extrapolated per queue.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from heapq import heappop, heappush, nsmallest
from typing import TYPE_CHECKING

from .policy import order_key, pick_next

if TYPE_CHECKING:
    from .model import DeskDef, QueueDef, Ticket

MIN_SAMPLES = 3
RECENT = 20


def mean_service_min(done: Iterable[Ticket], default_min: float) -> float:
    """Mean service minutes of the most recent served tickets, or the configured default."""
    spans = sorted(
        (t.finished_at, (t.finished_at - t.started_at).total_seconds() / 60)
        for t in done
        if t.finished_at is not None and t.started_at is not None
    )
    return mean_of_recent(spans, default_min)


def mean_of_recent(spans: Sequence[tuple[datetime, float]], default_min: float) -> float:
    """`mean_service_min` of spans (finished_at, minutes) already sorted."""
    recent = spans[-RECENT:]
    if len(recent) < MIN_SAMPLES:
        return default_min
    return sum(m for _, m in recent) / len(recent)


def baseline_eta_min(*, ahead: int, mean_service_min: float, open_desks: int) -> int:
    """Whole minutes, never negative; with no desk open, as if one were."""
    if ahead <= 0:
        return 0
    return max(0, math.ceil(ahead * mean_service_min / max(1, open_desks)))


# ---------------------------------------------------------------------------- forecast

REUSE_S = 30.0  # a forecast of an unchanged state is reused for this long
MAX_PICKS = 120  # calls simulated per forecast; the rest is extrapolated
RATE_WINDOW_MIN = 60.0  # the arrival rate is learnt over this much of the recent past
PRIOR_N = 4.0  # weight (in visits) of the configured mean against today's learnt ones
RESIDUAL_MIN = 0.35  # a visit that ran past its mean still takes this share of the mean
LOWER_SHARE = 0.5  # lower bound: people ahead x this share of the desk time / desks


BREAK_MIN = 30.0  # a desk that closed is expected back after this long (until learnt)
BREAK_MAX_MIN = 120.0  # a longer closure is not a break (not learnt)
BREAK_WAIT = 1.5  # a desk not back after this many breaks is not expected any more
BREAKS_KEPT = 10  # the break length learnt is the median of the last few


def returning(
    closed_at: Mapping[str, datetime], breaks: Collection[float], now: datetime
) -> dict[str, datetime]:
    """The closed desks expected back, and when: a desk that closed during the day is
    on a break, back after the median of the recent breaks (`BREAK_MIN` before any),
    not expected any more once it is `BREAK_WAIT` breaks overdue."""
    if not closed_at:
        return {}
    b = sorted(breaks)[len(breaks) // 2] if breaks else BREAK_MIN
    out: dict[str, datetime] = {}
    for d, at in closed_at.items():
        if now < at + timedelta(minutes=BREAK_WAIT * b):
            out[d] = max(now, at + timedelta(minutes=b))
    return out


ROUND_UP = 0.3  # whole minutes: 2.7 shows 3, 2.6 shows 2 (waits are skewed: see docs)


def whole_minutes(minutes: float) -> int:
    """The minutes shown: never negative, rounded up from .7 (`ROUND_UP`)."""
    return max(0, math.floor(minutes + ROUND_UP))


def learnt_desk_min(spans: Sequence[tuple[datetime, float]], default_min: float) -> float:
    """Mean desk minutes of a queue's most recent visits (`spans` sorted (finished_at,
    minutes)), shrunk towards the configured `default_min` by `PRIOR_N` visits."""
    recent = spans[-RECENT:]
    return (PRIOR_N * default_min + sum(m for _, m in recent)) / (PRIOR_N + len(recent))


def remaining_min(mean_min: float, elapsed_min: float) -> float:
    """Expected minutes left of a visit that has lasted `elapsed_min` (never below a
    share of the mean: long visits tend to go on)."""
    return max(mean_min - elapsed_min, RESIDUAL_MIN * mean_min)


@dataclass
class Forecast:
    """Expected call instants of the waiting walk-ins, per queue in queue order
    (`order`, the simulated ones), with a tail extrapolation per queue (`tail`: instant
    of the last simulated call and minutes per further person) for the rest, and of a
    customer arriving now (`at(queue, waiting)`). `desk_min`: learnt desk minutes per
    queue; `desks`: open desks serving each queue; `waiting`: walk-ins per queue."""

    now: datetime
    order: dict[str, list[datetime]] = field(default_factory=dict)
    phantom: dict[str, datetime] = field(default_factory=dict)
    tail: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    desk_min: dict[str, float] = field(default_factory=dict)
    desks: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    appointments: dict[str, datetime] = field(default_factory=dict)

    def at(self, queue: str, rank: int) -> datetime | None:
        """When the walk-in with `rank` people before it in `queue` is called (rank =
        the number waiting: a customer arriving now)."""
        done = self.order.get(queue, [])
        if 0 <= rank < len(done):
            return done[rank]
        if rank >= self.waiting.get(queue, 0) and queue in self.phantom:
            return self.phantom[queue]
        tail = self.tail.get(queue)
        if tail is None:
            return None
        start, step = tail
        return start + timedelta(minutes=step * (rank - len(done) + 1))

    def minutes(self, queue: str, rank: int, now: datetime) -> float | None:
        """`at` as minutes from `now` (never negative), at least what the people ahead
        plausibly take (`lower_bound`); None when no desk may ever call it."""
        at = self.at(queue, rank)
        if at is None:
            return None
        return max(0.0, (at - now).total_seconds() / 60, self.lower_bound(queue, rank))

    def lower_bound(self, queue: str, ahead: int) -> float:
        """What the people ahead plausibly take at the least."""
        d = self.desk_min.get(queue, 0.0)
        return max(0, ahead) * LOWER_SHARE * d / max(1, self.desks.get(queue, 0))

    def append(self, queue: str) -> None:
        """A walk-in added at the end of `queue` at `now`: it is called when the phantom
        was (nobody before it changes); the next arrival one desk turn later."""
        n = self.waiting.get(queue, 0)
        done = self.order.setdefault(queue, [])
        at = self.phantom.get(queue)
        if at is not None and len(done) == n:
            done.append(at)
            step = self.desk_min.get(queue, 0.0) / max(1, self.desks.get(queue, 0))
            self.phantom[queue] = at + timedelta(minutes=step)
        else:
            self.phantom.pop(queue, None)
        self.waiting[queue] = n + 1


class _Phantom:
    """A customer arriving now at the end of a queue (or, `synthetic`, one expected to
    arrive later): what `pick_next` needs of a Ticket."""

    __slots__ = ("arrival_at", "id", "number", "priority", "queue")

    def __init__(self, queue: str, now: datetime, synthetic: bool = False) -> None:
        self.id = f"~{queue}"
        self.queue = queue
        self.priority = False
        self.arrival_at = now
        # after every real number at the same instant
        self.number = "\uffff\uffff" if synthetic else "\uffff"

    def waited_s(self, now: datetime) -> float:
        return max(0.0, (now - self.arrival_at).total_seconds())


def forecast(
    *,
    now: datetime,
    queues: Mapping[str, QueueDef],
    desks: Mapping[str, DeskDef],
    open_desks: Mapping[str, Ticket | None],
    waiting: Mapping[str, Collection[Ticket]],
    appointments: Iterable[Ticket],
    advisor_desks: Mapping[str, str],
    desk_min: Mapping[str, float],
    arrivals_per_min: Mapping[str, float] | None = None,
    returning: Mapping[str, datetime] | None = None,
) -> Forecast:
    """Play the open desks forward (see the module's docstring).

    `open_desks`: desk id -> its current (called or serving) ticket or None, for the
    desks not closed; `waiting`: queue -> its waiting walk-in tickets (any order);
    `appointments`: checked-in appointment tickets waiting; `desk_min`: learnt desk
    minutes per queue; `arrivals_per_min`: the recent walk-in arrival rate per queue:
    customers who will arrive while these wait, played as evenly spaced arrivals (they
    are behind everyone waiting, but a queue with a shorter service-level target, or a
    heavier weight, may overtake: rule 4); `returning`: closed desks expected back (a
    break) -> when (`returning`), played as free from then.
    """
    fc = Forecast(now=now, desk_min=dict(desk_min))
    back = {d: at for d, at in (returning or {}).items() if d in desks and d not in open_desks}
    for q in queues:
        fc.desks[q] = sum(1 for d in (*open_desks, *back) if q in desks[d].queues)
        fc.waiting[q] = len(waiting.get(q, ()))
        fc.order[q] = []
    # Only the first MAX_PICKS of a queue can be reached; the phantom only if all are.
    lists: dict[str, list[Ticket | _Phantom]] = {}
    for q in queues:
        ws = waiting.get(q, ())
        head: list[Ticket | _Phantom] = list(nsmallest(MAX_PICKS, ws, key=order_key))
        if len(ws) <= MAX_PICKS:
            head.append(_Phantom(q, now))
        lists[q] = head
    idx = dict.fromkeys(queues, 0)
    rates = {q: r for q, r in (arrivals_per_min or {}).items() if r > 0 and q in queues}
    future = {
        q: _Phantom(q, now + timedelta(minutes=1 / r), synthetic=True) for q, r in rates.items()
    }
    appts = sorted(appointments, key=lambda t: (t.appt_start, t.arrival_at, t.number))
    todo = sum(len(x) for x in lists.values()) + len(appts)
    free: list[tuple[datetime, str]] = []
    for d, cur in open_desks.items():
        at = now
        if cur is not None:
            since = cur.called_at or now
            elapsed = (now - since).total_seconds() / 60
            at = now + timedelta(minutes=remaining_min(desk_min.get(cur.queue, 0.0), elapsed))
        heappush(free, (at, d))
    for d, at in back.items():
        heappush(free, (at, d))
    picks = 0
    last: dict[str, datetime] = {}
    while free and picks < MAX_PICKS and todo > 0:
        t, d = heappop(free)
        dq = desks[d].queues
        chosen: Ticket | _Phantom | None = _appointment_for(
            d, t, dq, appts, advisor_desks, open_desks
        )
        if chosen is not None:
            appts.remove(chosen)  # type: ignore[arg-type]
            fc.appointments[chosen.id] = t
        else:
            heads: list[Ticket | _Phantom] = []
            for q in dq:
                if q not in lists:
                    continue
                if idx[q] < len(lists[q]):
                    heads.append(lists[q][idx[q]])
                elif q in future and future[q].arrival_at <= t:
                    heads.append(future[q])
            if not heads:
                later = [
                    a.appt_start
                    for a in appts
                    if a.appt_start is not None and a.appt_start > t and a.queue in dq
                ]
                later += [future[q].arrival_at for q in dq if q in future]
                if later:
                    heappush(free, (max(t, min(later)), d))
                continue
            chosen = pick_next(heads, queues, t)  # type: ignore[arg-type]
            if chosen is None:
                continue
            q = chosen.queue
            if chosen is future.get(q):  # an expected arrival takes the desk
                future[q] = _Phantom(q, chosen.arrival_at + timedelta(minutes=1 / rates[q]), True)
                picks += 1
                heappush(free, (t + timedelta(minutes=desk_min.get(q, 0.0)), d))
                continue
            idx[q] += 1
            if isinstance(chosen, _Phantom):
                todo -= 1
                fc.phantom[q] = t
                heappush(free, (t, d))  # zero length: changes nobody else's call
                continue
            fc.order[q].append(t)
            last[q] = t
        todo -= 1
        picks += 1
        heappush(free, (t + timedelta(minutes=desk_min.get(chosen.queue, 0.0)), d))
    # The rest: one desk turn per person per open desk serving the queue.
    for q in queues:
        if fc.desks[q]:
            fc.tail[q] = (last.get(q, now), desk_min.get(q, 0.0) / fc.desks[q])
    return fc


def _appointment_for(
    desk: str,
    t: datetime,
    queues: tuple[str, ...],
    appts: list[Ticket],
    advisor_desks: Mapping[str, str],
    open_desks: Mapping[str, Ticket | None],
) -> Ticket | None:
    """`SiteState.appointments_for(desk)[0]` at the virtual instant `t`: the advisor's
    due ones, then due ones of advisors away in the desk's queues, then the advisor's
    early ones."""
    others: Ticket | None = None
    early: Ticket | None = None
    for a in appts:  # sorted by (slot, arrival, number)
        home = advisor_desks.get(a.advisor or "")
        due = a.appt_start is not None and a.appt_start <= t
        if home == desk:
            if due:
                return a
            if early is None:
                early = a
        elif (
            others is None
            and due
            and a.queue in queues
            and (home is None or home not in open_desks)
        ):
            others = a
    return others or early
