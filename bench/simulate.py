"""`vuoro bench simulate`: realistic days played against the real scheduler domain.

The day simulator drives `SiteState` (scheduler/domain/model.py: the same call-next
policy, appointment rules and ETA the scheduler runs) with a simulated clock. Nothing of
the domain is re-implemented here: customers take tickets (`issue_ticket`), check in
(`check_in`), and desks press `open`, `next`, `recall`, `start`, `finish`, `noshow`,
`transfer` and `close` at the simulated instants.

The day (deterministic for a `--seed`):
- a joint service point open 8-16 local time, six queues with the pilot's service mix
  (municipality ~50 %, tax ~23 %, population register (dvv) ~11 %, Kela, police and
  employment ~5 % each), one service per queue;
- walk-in arrivals as a non-homogeneous Poisson process (thinning) with a morning peak
  (9-10) and an after-lunch peak (12-14);
- log-normal service times per service (means 6-18 min, clipped to 2-60 min); the
  customer walks to the desk in 0.3-1.5 min after the call; 4 % of called walk-ins never
  come (recall after 1.5 min, no-show after 3 min); 3 % of municipality customers are
  transferred to tax after their service; 2 % priority tickets;
- booked appointments (Kela, dvv, employment) with two advisors at their desks:
  75 % of customers arrive early, 15 % late (inside the grace time), 10 % never come;
- six desks with overlapping work profiles, opening at 8:00 or 8:30, each closing for a
  30-minute lunch (staggered 11:00-13:00), closing at 16:00 after serving everyone
  still waiting (a desk closes only when free);
- kinds of day: `quiet` (~80 walk-ins, five desks: desk 1 is not staffed), `normal`
  (~160, six desks), `peak` (~210, and desk 3 closes for good at 11:00).

Reported per kind of day: customers, service level (share called within their queue's
target), mean / median / p90 wait, desk utilisation (desk busy from call to finish over
its open time), and for every walk-in ticket the estimate shown at issue (`eta_min`, the
scheduler's estimator) and the queue-length baseline against the wait that followed:
`eta_mae_min`, `baseline_mae_min` and `ratio` = eta / baseline. Appointment tickets are
left out of the MAE: their estimate is the time to their slot, not a queue estimate.
`--tickets FILE` writes every ticket's estimate and wait as JSON lines.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.domain.errors import DomainError
from scheduler.domain.model import DeskDef, QueueDef, ServiceDef, SiteDef, SiteState, Ticket

TZ = ZoneInfo("Europe/Helsinki")
DAY = date(2026, 3, 10)  # a Tuesday
OPEN_H, CLOSE_H = 8.0, 16.0


def _names(text: str) -> dict[str, str]:
    return {"fi": text, "sv": text, "en": text}


@dataclass(frozen=True)
class SimService:
    queue: str
    prefix: str
    share: float  # of walk-ins
    mean_min: float  # log-normal mean
    sigma: float  # log-normal shape
    weight: float = 1.0
    sl_target_min: float = 15.0


SERVICES: dict[str, SimService] = {
    "municipality": SimService("municipality", "A", 0.50, 6.0, 0.6, 1.0, 15),
    "tax": SimService("tax", "V", 0.23, 10.0, 0.6, 1.0, 20),
    "dvv": SimService("dvv", "D", 0.11, 15.0, 0.6, 1.0, 30),
    "kela": SimService("kela", "K", 0.05, 12.0, 0.6, 1.2, 20),
    "police": SimService("police", "P", 0.05, 14.0, 0.5, 1.0, 30),
    "employment": SimService("employment", "T", 0.06, 18.0, 0.6, 1.0, 30),
}
APPT_SERVICES = ("kela", "dvv", "employment")
DESKS: dict[str, tuple[str, ...]] = {
    "1": ("municipality", "tax"),
    "2": ("municipality", "kela", "employment"),
    "3": ("tax", "dvv", "municipality"),
    "4": ("municipality", "police"),
    "5": ("dvv", "kela"),
    "6": ("employment", "municipality", "tax"),
}
ADVISOR_DESKS = {"a5": "5", "a6": "6"}
APPT_ADVISOR = {"kela": "a5", "dvv": "a5", "employment": "a6"}
OPENS = {"1": 8.0, "2": 8.0, "3": 8.0, "4": 8.0, "5": 8.5, "6": 8.5}
LUNCH = {"1": 11.0, "2": 11.5, "3": 12.0, "4": 12.5, "5": 11.0, "6": 12.0}
LUNCH_MIN = 30.0
# Relative arrival intensity by local hour (piecewise linear between these points).
PROFILE = [
    (8.0, 0.6),
    (9.0, 1.2),
    (9.75, 1.35),
    (10.5, 1.0),
    (11.5, 0.8),
    (12.5, 1.25),
    (13.25, 1.35),
    (14.0, 1.0),
    (15.0, 0.7),
    (16.0, 0.5),
]


@dataclass(frozen=True)
class DayKind:
    name: str
    walk_ins: float  # expected walk-ins per day
    appointments: int
    closes: dict[str, float] = field(default_factory=dict)  # desk -> local hour, for good
    unstaffed: tuple[str, ...] = ()  # desks not open at all that day


KINDS: dict[str, DayKind] = {
    "quiet": DayKind("quiet", 80, 6, unstaffed=("1",)),
    "normal": DayKind("normal", 160, 12),
    "peak": DayKind("peak", 210, 16, {"3": 11.0}),
}

NOSHOW_SHARE = 0.04
TRANSFER_SHARE = 0.03
PRIORITY_SHARE = 0.02
APPT_EARLY, APPT_LATE = 0.75, 0.15  # the rest never come
CHECKIN_OPEN_MIN = 30.0
GRACE_MIN = 10.0


def site_def() -> SiteDef:
    return SiteDef(
        id="sim",
        name=_names("Simuloitu asiointipiste"),
        timezone="Europe/Helsinki",
        queues={
            q: QueueDef(
                id=q,
                prefix=s.prefix,
                name=_names(q),
                weight=s.weight,
                sl_target_min=s.sl_target_min,
                mean_service_min=s.mean_min,
            )
            for q, s in SERVICES.items()
        },
        services={
            q: ServiceDef(
                id=q,
                name=_names(q),
                provider=q,
                queue=q,
                walk_in=True,
                appointments=q in APPT_SERVICES,
            )
            for q in SERVICES
        },
        desks={d: DeskDef(id=d, queues=qs) for d, qs in DESKS.items()},
        advisor_desks=dict(ADVISOR_DESKS),
    )


def at_hour(h: float) -> datetime:
    """The UTC instant of local hour `h` (e.g. 12.5) on the simulated day."""
    base = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ)
    return (base + timedelta(hours=h)).astimezone(UTC)


def intensity(h: float) -> float:
    for (h0, v0), (h1, v1) in pairwise(PROFILE):
        if h0 <= h <= h1:
            return v0 + (v1 - v0) * (h - h0) / (h1 - h0)
    return 0.0


def arrivals(rng: random.Random, expected: float) -> list[float]:
    """Arrival hours of a non-homogeneous Poisson process by thinning."""
    steps = 800
    mean_rel = sum(intensity(OPEN_H + (CLOSE_H - OPEN_H) * (i + 0.5) / steps) for i in range(steps))
    mean_rel /= steps
    lam_per_h = expected / ((CLOSE_H - OPEN_H) * mean_rel)
    peak = max(v for _, v in PROFILE) * lam_per_h
    out: list[float] = []
    h = OPEN_H
    while True:
        h += rng.expovariate(peak)
        if h >= CLOSE_H:
            return out
        if rng.random() < intensity(h) * lam_per_h / peak:
            out.append(h)


def service_minutes(rng: random.Random, s: SimService) -> float:
    mu = math.log(s.mean_min) - s.sigma**2 / 2
    return min(60.0, max(2.0, rng.lognormvariate(mu, s.sigma)))


def pick_service(rng: random.Random) -> str:
    x = rng.random() * sum(s.share for s in SERVICES.values())
    for q, s in SERVICES.items():
        x -= s.share
        if x <= 0:
            return q
    return "municipality"


@dataclass
class Record:
    ticket: Ticket
    appointment: bool
    eta: int | None = None
    baseline: int | None = None
    ahead: int = 0


class Day:
    """One simulated day: an event queue over a real `SiteState`."""

    def __init__(self, kind: DayKind, seed: int) -> None:
        self.kind = kind
        self.rng = random.Random(f"{seed}-{kind.name}")
        self.state = SiteState(site_def())
        self.events: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
        self.seq = 0
        self.records: dict[str, Record] = {}
        self.busy_s: dict[str, float] = dict.fromkeys(DESKS, 0.0)
        self.open_s: dict[str, float] = dict.fromkeys(DESKS, 0.0)
        self.opened_at: dict[str, datetime | None] = dict.fromkeys(DESKS)
        self.want_closed: dict[str, str | None] = dict.fromkeys(DESKS)  # "lunch"/"end"/"gone"
        self.n = 0
        self.end_of_day = False
        self._busy_since: dict[str, datetime] = {}

    # ------------------------------------------------------------------ events

    def at(self, when: datetime, kind: str, *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, args))

    def ids(self) -> tuple[str, str]:
        self.n += 1
        return f"s{self.n:05d}", f"tok{self.n:05d}"

    def plan(self) -> None:
        rng = self.rng
        for h in arrivals(rng, self.kind.walk_ins):
            q = pick_service(rng)
            prio = rng.random() < PRIORITY_SHARE
            self.at(at_hour(h), "walk_in", q, prio)
        slots = [9.0 + i / 3 for i in range(18)]  # 20-min slots 9:00-15:00
        for i in range(self.kind.appointments):
            q = APPT_SERVICES[i % len(APPT_SERVICES)]
            start = at_hour(rng.choice(slots))
            x = rng.random()
            if x < APPT_EARLY:
                self.at(start - timedelta(minutes=rng.uniform(2, 20)), "check_in", q, start, i)
            elif x < APPT_EARLY + APPT_LATE:
                self.at(
                    start + timedelta(minutes=rng.uniform(0, GRACE_MIN)), "check_in", q, start, i
                )
            self.at(start, "wake")  # a due appointment may be called by another desk
        for d in DESKS:
            if d in self.kind.unstaffed:
                continue
            self.at(at_hour(OPENS[d]), "open", d)
            lunch = LUNCH[d]
            gone = self.kind.closes.get(d)
            if gone is None or gone > lunch:
                self.at(at_hour(lunch), "want_close", d, "lunch")
                self.at(at_hour(lunch + LUNCH_MIN / 60), "open", d)
            if gone is not None:
                self.at(at_hour(gone), "want_close", d, "gone")
            self.at(at_hour(CLOSE_H), "want_close", d, "end")
        self.at(at_hour(CLOSE_H), "doors_closed")

    # ------------------------------------------------------------------ actions

    def estimate(self, t: Ticket, now: datetime) -> Record:
        st = self.state
        rec = Record(t, t.appt_start is not None)
        rec.ahead = st.position(t)
        rec.eta = st.ticket_eta(t, now, rec.ahead)
        rec.baseline = st.baseline_eta_min(t.queue, rec.ahead, now)
        return rec

    def walk_in(self, now: datetime, q: str, prio: bool) -> None:
        tid, tok = self.ids()
        t = self.state.issue_ticket(
            service_id=q, lang="fi", priority=prio, now=now, ticket_id=tid, token=tok
        )
        self.records[t.id] = self.estimate(t, now)
        self.wake(now)

    def check_in(self, now: datetime, q: str, start: datetime, i: int) -> None:
        tid, tok = self.ids()
        t, _ = self.state.check_in(
            reservation_id=f"r{i}",
            service_id=q,
            advisor=APPT_ADVISOR[q],
            appt_start=start,
            lang="fi",
            now=now,
            ticket_id=tid,
            token=tok,
        )
        self.records[t.id] = self.estimate(t, now)
        self.wake(now)

    def wake(self, now: datetime) -> None:
        """Idle open desks press `next` (in desk order)."""
        for d in DESKS:
            if self.state.desks[d].status == "open" and self.want_closed[d] is None:
                self.call(d, now)

    def call(self, d: str, now: datetime) -> None:
        try:
            called, _ = self.state.next(d, now)
        except DomainError:
            return  # nothing waiting: idle until woken
        if called is None:
            return
        self.busy_from(d, now)
        self.customer_comes(d, called, now)

    def customer_comes(self, d: str, t: Ticket, now: datetime) -> None:
        rng = self.rng
        if t.appt_start is None and rng.random() < NOSHOW_SHARE:
            self.at(now + timedelta(minutes=1.5), "recall", d, t.id)
            self.at(now + timedelta(minutes=3), "noshow", d, t.id)
            return
        walk = rng.uniform(0.3, 1.5)
        minutes = service_minutes(rng, SERVICES[t.queue])
        self.at(now + timedelta(minutes=walk), "start", d, t.id)
        then = (
            "transfer" if t.queue == "municipality" and rng.random() < TRANSFER_SHARE else "finish"
        )
        self.at(now + timedelta(minutes=walk + minutes), then, d, t.id)

    def busy_from(self, d: str, now: datetime) -> None:
        self._busy_since[d] = now

    def busy_until(self, d: str, now: datetime) -> None:
        since = self._busy_since.pop(d, None)
        if since is not None:
            self.busy_s[d] += (now - since).total_seconds()

    def desk_free(self, d: str, now: datetime) -> None:
        self.busy_until(d, now)
        why = self.want_closed[d]
        # After closing time desks serve everyone still inside, then close.
        if why is not None and not (why == "end" and self.state.desk_waiting(d)):
            self.close(d, now)
            return
        self.call(d, now)

    def close(self, d: str, now: datetime) -> None:
        self.state.close_desk(d, now)
        since = self.opened_at[d]
        if since is not None:
            self.open_s[d] += (now - since).total_seconds()
        self.opened_at[d] = None

    def step(self, now: datetime, kind: str, args: tuple[Any, ...]) -> None:
        st = self.state
        if kind == "walk_in":
            self.walk_in(now, *args)
        elif kind == "check_in":
            self.check_in(now, *args)
        elif kind == "wake":
            self.wake(now)
        elif kind == "open":
            (d,) = args
            if self.want_closed[d] == "gone":
                return
            self.want_closed[d] = None
            if st.desks[d].status == "closed":
                st.open_desk(d, now)
                self.opened_at[d] = now
                self.call(d, now)
        elif kind == "want_close":
            d, why = args
            if self.want_closed[d] == "gone":
                return
            self.want_closed[d] = why
            if st.desks[d].status == "open":
                self.desk_free(d, now)
        elif kind == "doors_closed":
            self.end_of_day = True
        else:
            d, tid = args
            cur = st.current(d)
            if cur is None or cur.id != tid:
                return
            if kind == "recall":
                st.recall(d, now)
            elif kind == "start":
                st.start(d, now)
            elif kind == "noshow":
                st.noshow(d, now)
                self.desk_free(d, now)
            elif kind == "finish":
                st.finish(d, now)
                self.desk_free(d, now)
            elif kind == "transfer":
                st.transfer(d, "tax", now)
                self.wake(now)
                self.desk_free(d, now)

    def run(self) -> dict[str, Any]:
        self.plan()
        last = at_hour(OPEN_H)
        while self.events:
            now, _, kind, args = heapq.heappop(self.events)
            self.step(now, kind, args)
            self.state.clear_changes()
            last = now
        for d in DESKS:  # desks still open at the end (nobody left to serve)
            if self.state.desks[d].status != "closed":
                self.close(d, last)
        return self.result()

    # ------------------------------------------------------------------ results

    def result(self) -> dict[str, Any]:
        walk = [r for r in self.records.values() if not r.appointment]
        called = [r for r in self.records.values() if r.ticket.first_called_at is not None]
        waits = [wait_min(r.ticket) for r in called]
        within = sum(
            1
            for r in called
            if wait_min(r.ticket)
            <= self.state.site.queues[r.ticket.origin_queue or r.ticket.queue].sl_target_min
        )
        scored = [r for r in walk if r.ticket.first_called_at is not None]
        err = [abs((r.eta or 0) - wait_min(r.ticket)) for r in scored]
        base = [abs((r.baseline or 0) - wait_min(r.ticket)) for r in scored]
        bias = [(r.eta or 0) - wait_min(r.ticket) for r in scored]
        eta_mae = statistics.fmean(err) if err else 0.0
        base_mae = statistics.fmean(base) if base else 0.0
        open_s = sum(self.open_s.values())
        return {
            "walk_ins": len(walk),
            "appointments_checked_in": len(self.records) - len(walk),
            "served": sum(1 for r in self.records.values() if r.ticket.status == "served"),
            "noshows": sum(1 for r in self.records.values() if r.ticket.status == "noshow"),
            "transfers": sum(r.ticket.transfers for r in self.records.values()),
            "service_level": round(within / len(called), 3) if called else None,
            "wait_mean_min": rnd(statistics.fmean(waits)) if waits else None,
            "wait_median_min": rnd(statistics.median(waits)) if waits else None,
            "wait_p90_min": rnd(percentile(waits, 90)),
            "wait_max_min": rnd(max(waits)) if waits else None,
            "desk_utilisation": round(sum(self.busy_s.values()) / open_s, 3) if open_s else None,
            "desk_utilisation_by_desk": {
                d: round(self.busy_s[d] / self.open_s[d], 3) for d in DESKS if self.open_s[d]
            },
            "eta_mae_min": rnd(eta_mae),
            "baseline_mae_min": rnd(base_mae),
            "ratio": round(eta_mae / base_mae, 3) if base_mae else None,
            "eta_bias_min": rnd(statistics.fmean(bias)) if bias else None,
            "eta_under_share": round(sum(1 for b in bias if b < -2) / len(bias), 3)
            if bias
            else None,
        }

    def ticket_lines(self) -> Iterable[dict[str, Any]]:
        for r in sorted(self.records.values(), key=lambda r: r.ticket.arrival_at):
            t = r.ticket
            yield {
                "kind": self.kind.name,
                "number": t.number,
                "queue": t.origin_queue or t.queue,
                "appointment": r.appointment,
                "priority": t.priority,
                "issued": t.arrival_at.astimezone(TZ).strftime("%H:%M:%S"),
                "ahead": r.ahead,
                "eta_min": r.eta,
                "baseline_min": r.baseline,
                "wait_min": rnd(wait_min(t)) if t.first_called_at else None,
                "status": t.status,
            }


def wait_min(t: Ticket) -> float:
    assert t.first_called_at is not None
    return (t.first_called_at - t.arrival_at).total_seconds() / 60


def percentile(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def rnd(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def simulate(kinds: Iterable[str], seed: int, days: int = 1) -> tuple[dict[str, Any], list[Any]]:
    """Play `days` days of each kind; returns (result, per-ticket lines)."""
    out: dict[str, Any] = {"seed": seed, "days_per_kind": days, "kinds": {}}
    lines: list[Any] = []
    for name in kinds:
        per_day = []
        for i in range(days):
            day = Day(KINDS[name], seed + 1000 * i)
            per_day.append(day.run())
            lines.extend(day.ticket_lines())
        out["kinds"][name] = merge(per_day)
    ratios = [k["ratio"] for k in out["kinds"].values() if k["ratio"] is not None]
    out["max_ratio"] = max(ratios) if ratios else None
    out["target_ratio"] = 0.7
    return out, lines


def merge(days: list[dict[str, Any]]) -> dict[str, Any]:
    """One day's result as is; several days: sums of counts, means of the rest."""
    if len(days) == 1:
        return days[0]
    out: dict[str, Any] = {}
    for k, v in days[0].items():
        vals = [d[k] for d in days if d[k] is not None]
        if isinstance(v, dict) or not vals:
            continue
        if k in ("walk_ins", "appointments_checked_in", "served", "noshows", "transfers"):
            out[k] = sum(vals)
        else:
            out[k] = round(statistics.fmean(vals), 3)
    if out.get("baseline_mae_min"):
        out["ratio"] = round(out["eta_mae_min"] / out["baseline_mae_min"], 3)
    return out


def summary(r: dict[str, Any]) -> str:
    lines = [f"vuoro bench simulate: seed {r['seed']}, {r['days_per_kind']} day(s) per kind"]
    for name, k in r["kinds"].items():
        lines.append(
            f"  {name:7s} {k['walk_ins']:4d} walk-ins  SL {k['service_level']}  wait mean "
            f"{k['wait_mean_min']} p90 {k['wait_p90_min']} min  util {k['desk_utilisation']}  "
            f"eta MAE {k['eta_mae_min']} vs baseline {k['baseline_mae_min']} -> ratio {k['ratio']}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    kinds = [k.strip() for k in (getattr(args, "kinds", None) or ",".join(KINDS)).split(",")]
    for k in kinds:
        if k not in KINDS:
            raise SystemExit(f"vuoro bench simulate: unknown kind of day {k!r}")
    result, lines = simulate(
        kinds, int(getattr(args, "seed", 1) or 1), int(getattr(args, "days", 5) or 5)
    )
    path = getattr(args, "tickets", None)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
    if not getattr(args, "json", False):
        print(summary(result), file=sys.stderr)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0
