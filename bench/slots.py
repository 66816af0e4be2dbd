"""`vuoro bench slots`: free-slot search (scheduler/booking/availability.py).

Issue 3's target: the first 20 free slots of a service in under 10 ms at the 95th
percentile, with 30 advisors, 10 services and a 90-day horizon about half booked.

The scenario (deterministic for a `--seed`): a site in Europe/Helsinki, appointment hours
mon-fri 8-16 with Finnish public holidays (the `holidays` package) closed; 30 advisors
with weekday shifts 8-16, some part-time (fewer days, or mornings only); 10 services of
15-60 minutes, each served by 5-12 advisors; one service needs a room (5 rooms), one an
interpreter (3 interpreters with their own weekly shifts). `now` is a Monday morning
whose 90-day horizon crosses the spring DST change and Easter. Random reservations (and
some team-calendar meetings) fill about half of every advisor's bookable time; the
reservations of the two special services also occupy a room or an interpreter, and the
resources get some calendar busy time of their own. `booked_share` is measured: the
advisors' busy time inside their bookable windows divided by those windows' length.

Timed: `AvailabilityIndex.search(limit=20)` for a random service, a third each of: any
advisor from now; a chosen (skilled) advisor from now; any advisor from a random date in
the horizon. Each search is timed alone with `time.perf_counter`, garbage collection off.
`build_ms` is building the index from the definitions and busy lists plus computing
every advisor's windows over the horizon once (what a scheduler does at start-up).

Self-check: on a sample of the results, every slot is checked by brute force against
the raw busy intervals, shifts and opening hours; any overlap or slot outside them makes
the command exit 1 (reported as `violations`).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import random
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from bench.calls import _cpu_model, _cpu_reference_ms, percentile
from scheduler.booking.availability import AvailabilityIndex
from scheduler.booking.model import (
    AdvisorDef,
    BookableService,
    BookingRules,
    Interval,
    ResourceDef,
    Shift,
    Slot,
)

log = logging.getLogger("vuoro.bench.slots")

TZ = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 3, 2, 7, 30, tzinfo=TZ)  # a Monday; the horizon crosses DST and Easter
ADVISORS = 30
SERVICES = 10
ROOMS = 5
INTERPRETERS = 3
HORIZON_DAYS = 90
TARGET_SHARE = 0.5
LIMIT = 20
SEARCHES = 3000
CHECK_SAMPLE = 200  # searches whose slots are checked by brute force


@dataclass
class Scenario:
    advisors: list[AdvisorDef]
    services: list[BookableService]
    resources: list[ResourceDef]
    busy: dict[str, list[Interval]]
    rules: BookingRules
    now: datetime
    holidays: frozenset[date]

    def open_intervals(self, day: date) -> list[tuple[dtime, dtime]]:
        if day.weekday() >= 5 or day in self.holidays:
            return []
        return [(dtime(8), dtime(16))]


def _local(day: date, minute: int) -> datetime:
    return datetime.combine(day, dtime(minute // 60, minute % 60), tzinfo=TZ)


def make_scenario(seed: int = 1) -> Scenario:
    rng = random.Random(seed)
    rules = BookingRules(slot_min=15, horizon_days=HORIZON_DAYS, min_notice_min=120)
    today = NOW.date()
    days = [today + timedelta(days=i) for i in range(HORIZON_DAYS)]
    fi_holidays = frozenset(holidays.Finland(years=sorted({d.year for d in days})).keys())

    durations = [15, 20, 30, 30, 45, 60, 15, 30, 45, 60]
    services = [BookableService(id=f"s{i:02d}", duration_min=durations[i]) for i in range(8)]
    services.append(BookableService(id="s08", duration_min=45, needs=("room",)))
    services.append(BookableService(id="s09", duration_min=60, needs=("interpreter",)))

    skills: dict[str, set[str]] = {f"a{i:02d}": set() for i in range(ADVISORS)}
    ids = sorted(skills)
    for svc in services:
        for aid in rng.sample(ids, rng.randint(5, 12)):
            skills[aid].add(svc.id)
    for aid in ids:  # nobody without a skill
        if not skills[aid]:
            skills[aid].add(rng.choice(services).id)

    advisors = []
    for i, aid in enumerate(ids):
        if i % 5 == 3:  # part-time: three days a week
            weekdays = sorted(rng.sample(range(5), 3))
            shifts = tuple(Shift(wd, dtime(8), dtime(16)) for wd in weekdays)
        elif i % 5 == 4:  # part-time: mornings
            shifts = tuple(Shift(wd, dtime(8), dtime(12)) for wd in range(5))
        else:
            shifts = tuple(Shift(wd, dtime(8), dtime(16)) for wd in range(5))
        advisors.append(
            AdvisorDef(id=aid, name=f"Advisor {i}", skills=frozenset(skills[aid]), shifts=shifts)
        )

    resources = [
        ResourceDef(id=f"room-{i + 1}", kind="room", name=f"Room {i + 1}") for i in range(ROOMS)
    ]
    for i in range(INTERPRETERS):
        weekdays = sorted(rng.sample(range(5), 4))
        resources.append(
            ResourceDef(
                id=f"int-{i + 1}",
                kind="interpreter",
                name=f"Interpreter {i + 1}",
                shifts=tuple(Shift(wd, dtime(8), dtime(16)) for wd in weekdays),
                languages=frozenset({"ar", "so", "ru"}),
            )
        )
    res_by_kind = {
        "room": [r.id for r in resources if r.kind == "room"],
        "interpreter": [r.id for r in resources if r.kind == "interpreter"],
    }
    res_days = {
        r.id: {s.weekday for s in r.shifts} if r.shifts else set(range(7)) for r in resources
    }

    busy: dict[str, list[Interval]] = {r.id: [] for r in resources}
    taken: dict[str, list[tuple[int, int, date]]] = {r.id: [] for r in resources}
    svc_by_id = {s.id: s for s in services}
    for adv in advisors:
        out: list[Interval] = []
        for day in days:
            if day in fi_holidays:
                continue
            spans = [(s.start.hour * 60, s.end.hour * 60) for s in adv.shifts if s.applies(day)]
            for a, b in spans:
                length = b - a
                booked = [False] * (length // 15)
                target = TARGET_SHARE * length
                minutes = 0
                tries = 0
                # a team meeting now and then
                if rng.random() < 0.15:
                    k = rng.randrange(len(booked) - 3)
                    booked[k : k + 4] = [True] * 4
                    out.append((_local(day, a + 15 * k), _local(day, a + 15 * k + 60)))
                    minutes += 60
                while minutes < target and tries < 60:
                    tries += 1
                    svc = svc_by_id[rng.choice(sorted(adv.skills))]
                    n = -(-svc.duration_min // 15)
                    k = rng.randrange(len(booked) - n + 1)
                    if any(booked[k : k + n]):
                        continue
                    start = _local(day, a + 15 * k)
                    end = start + timedelta(minutes=svc.duration_min)
                    if svc.needs:
                        kind = svc.needs[0]
                        rid = _free_resource(res_by_kind[kind], res_days, taken, day, start, end)
                        if rid is None:
                            continue
                        busy[rid].append((start, end))
                        taken[rid].append((int(start.timestamp()), int(end.timestamp()), day))
                    booked[k : k + n] = [True] * n
                    out.append((start, end))
                    minutes += svc.duration_min
        rng.shuffle(out)  # the index must not rely on sorted input
        busy[adv.id] = out
    for r in resources:  # the resources' own calendars
        for day in days:
            if rng.random() < 0.2:
                k = rng.randrange(8 * 4 - 4)
                busy[r.id].append((_local(day, 480 + 15 * k), _local(day, 480 + 15 * k + 60)))
    return Scenario(
        advisors=advisors,
        services=services,
        resources=resources,
        busy=busy,
        rules=rules,
        now=NOW,
        holidays=fi_holidays,
    )


def _free_resource(
    ids: list[str],
    res_days: dict[str, set[int]],
    taken: dict[str, list[tuple[int, int, date]]],
    day: date,
    start: datetime,
    end: datetime,
) -> str | None:
    s, e = int(start.timestamp()), int(end.timestamp())
    for rid in ids:
        if day.weekday() not in res_days[rid]:
            continue
        if all(not (a < e and s < b) for a, b, d in taken[rid] if d == day):
            return rid
    return None


def build_index(sc: Scenario) -> AvailabilityIndex:
    return AvailabilityIndex(
        advisors=sc.advisors,
        resources=sc.resources,
        busy=sc.busy,
        open_intervals=sc.open_intervals,
        tz=TZ,
        rules=sc.rules,
    )


def warm(index: AvailabilityIndex, sc: Scenario) -> None:
    """Compute every advisor's windows over the horizon once."""
    for i in range(sc.rules.horizon_days + 1):
        day = sc.now.date() + timedelta(days=i)
        for adv in sc.advisors:
            index._adv_windows(adv.id, day, sc.open_intervals)


def booked_share(index: AvailabilityIndex, sc: Scenario) -> float:
    """Advisors' busy seconds inside their bookable windows / the windows' seconds."""
    total = busy_s = 0
    for adv in sc.advisors:
        merged = [(int(a.timestamp()), int(b.timestamp())) for a, b in index.busy_of(adv.id)]
        ends = [b for _a, b in merged]
        for i in range(sc.rules.horizon_days):
            day = sc.now.date() + timedelta(days=i)
            for ws, we, _segs in index._adv_windows(adv.id, day, sc.open_intervals):
                total += we - ws
                k = bisect_right(ends, ws)
                while k < len(merged) and merged[k][0] < we:
                    a, b = merged[k]
                    busy_s += min(we, b) - max(ws, a)
                    k += 1
    return busy_s / total if total else 0.0


def check_slot(sc: Scenario, service: BookableService, slot: Slot) -> str | None:
    """Brute force: the reason `slot` is wrong, or None."""
    adv = next((a for a in sc.advisors if a.id == slot.advisor), None)
    if adv is None or service.id not in adv.skills:
        return f"{slot}: advisor without the skill"
    if slot.end - slot.start != timedelta(minutes=service.duration_min):
        return f"{slot}: wrong duration"
    ls, le = slot.start.astimezone(TZ), slot.end.astimezone(TZ)
    day = ls.date()
    inside = [
        (a, b)
        for a, b in sc.open_intervals(day)
        for s in adv.shifts
        if s.applies(day) and max(a, s.start) <= ls.time() and le.time() <= min(b, s.end)
    ]
    if not inside or le.date() != day:
        return f"{slot}: outside opening hours or shifts"
    if (ls.hour * 60 + ls.minute - 8 * 60) % sc.rules.slot_min:
        return f"{slot}: not on the grid"
    for key in (slot.advisor, *slot.resources):
        for a, b in sc.busy.get(key, []):
            if a < slot.end and slot.start < b:
                return f"{slot}: overlaps busy time of {key} {a}-{b}"
    for rid in slot.resources:
        res = next(r for r in sc.resources if r.id == rid)
        if res.shifts and not any(
            s.applies(day) and s.start <= ls.time() and le.time() <= s.end for s in res.shifts
        ):
            return f"{slot}: {rid} not on shift"
    if len(slot.resources) != len(service.needs):
        return f"{slot}: resources {slot.resources} for needs {service.needs}"
    earliest = sc.now + timedelta(minutes=sc.rules.min_notice_min)
    if slot.start < earliest:
        return f"{slot}: within the minimum notice"
    return None


@dataclass
class Options:
    seed: int = 1
    searches: int = SEARCHES


def bench_slots(opts: Options) -> dict[str, Any]:
    t0 = time.perf_counter()
    sc = make_scenario(opts.seed)
    scenario_s = time.perf_counter() - t0
    log.info("scenario built in %.2f s", scenario_s)

    gc.collect()
    t0 = time.perf_counter()
    index = build_index(sc)
    warm(index, sc)
    build_s = time.perf_counter() - t0
    share = booked_share(index, sc)

    rng = random.Random(opts.seed + 1)
    skilled = {s.id: [a.id for a in sc.advisors if s.id in a.skills] for s in sc.services}
    kinds = ("any", "advisor", "from_date")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    all_times: list[float] = []
    counts: list[int] = []
    short = 0
    violations: list[str] = []
    sample_every = max(1, opts.searches // CHECK_SAMPLE)
    gc.collect()
    gc.disable()
    try:
        for i in range(opts.searches):
            kind = kinds[i % 3]
            svc = rng.choice(sc.services)
            advisor = rng.choice(skilled[svc.id]) if kind == "advisor" else None
            start_from = None
            if kind == "from_date":
                day = sc.now.date() + timedelta(days=rng.randrange(sc.rules.horizon_days - 14))
                start_from = _local(day, rng.randrange(0, 24 * 60, 15))
            t = time.perf_counter()
            slots = index.search(
                svc, now=sc.now, advisor=advisor, start_from=start_from, limit=LIMIT
            )
            dt = time.perf_counter() - t
            times[kind].append(dt)
            all_times.append(dt)
            counts.append(len(slots))
            short += len(slots) < LIMIT
            if i % sample_every == 0:
                gc.enable()
                for sl in slots:
                    problem = check_slot(sc, svc, sl)
                    if problem is None and advisor is not None and sl.advisor != advisor:
                        problem = f"{sl}: not the chosen advisor {advisor}"
                    if problem is None and start_from is not None and sl.start < start_from:
                        problem = f"{sl}: before start_from {start_from}"
                    if problem is not None:
                        violations.append(problem)
                if slots != sorted(slots, key=lambda s: (s.start, s.advisor)):
                    violations.append(f"search {i}: results not in order")
                gc.disable()
    finally:
        gc.enable()

    # the citizen calendar: free days of a 31-day view
    cal: list[float] = []
    for svc in sc.services:
        t = time.perf_counter()
        index.days_with_free_time(
            svc, sc.now.date(), sc.now.date() + timedelta(days=30), now=sc.now
        )
        cal.append(time.perf_counter() - t)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 3)

    n_res = {k: sum(1 for r in sc.resources if r.kind == k) for k in ("room", "interpreter")}
    return {
        "bench": "slots",
        "p50_ms": ms(percentile(all_times, 50)),
        "p95_ms": ms(percentile(all_times, 95)),
        "p99_ms": ms(percentile(all_times, 99)),
        "max_ms": ms(max(all_times) if all_times else None),
        "searches": len(all_times),
        "limit": LIMIT,
        "booked_share": round(share, 3),
        "build_ms": ms(build_s),
        "by_kind": {
            k: {
                "searches": len(v),
                "p50_ms": ms(percentile(v, 50)),
                "p95_ms": ms(percentile(v, 95)),
                "max_ms": ms(max(v) if v else None),
            }
            for k, v in times.items()
        },
        "calendar_31_days_p50_ms": ms(percentile(cal, 50)),
        "calendar_31_days_max_ms": ms(max(cal) if cal else None),
        "short_results": short,
        "mean_slots": round(sum(counts) / len(counts), 2) if counts else None,
        "violations": len(violations),
        "violation_examples": violations[:5],
        "checked_searches": (opts.searches + sample_every - 1) // sample_every,
        "context": {
            "advisors": len(sc.advisors),
            "services": len(sc.services),
            "rooms": n_res["room"],
            "interpreters": n_res["interpreter"],
            "horizon_days": sc.rules.horizon_days,
            "slot_min": sc.rules.slot_min,
            "reservations": sum(len(sc.busy[a.id]) for a in sc.advisors),
            "holidays_in_horizon": sum(
                1
                for h in sc.holidays
                if sc.now.date() <= h < sc.now.date() + timedelta(days=sc.rules.horizon_days)
            ),
            "now": sc.now.isoformat(),
            "seed": opts.seed,
            "scenario_s": round(scenario_s, 3),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "cpu": _cpu_model(),
            "cpu_reference_ms": _cpu_reference_ms(),
            "platform": platform.platform(),
            "utc_now": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }


def summary(r: dict[str, Any]) -> str:
    c = r["context"]
    return "\n".join(
        [
            f"vuoro bench slots: {c['advisors']} advisors, {c['services']} services, "
            f"{c['horizon_days']}-day horizon, booked share {r['booked_share']}",
            f"  first {r['limit']} slots, {r['searches']} searches: p50 {r['p50_ms']} ms, "
            f"p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms",
            f"  index build {r['build_ms']} ms; 31-day calendar p50 "
            f"{r['calendar_31_days_p50_ms']} ms; violations {r['violations']}",
        ]
    )


def run(args: argparse.Namespace) -> int:
    opts = Options(
        seed=int(getattr(args, "seed", None) or 1),
        searches=int(getattr(args, "searches", None) or SEARCHES),
    )
    result = bench_slots(opts)
    if not getattr(args, "json", False):
        print(summary(result), file=sys.stderr)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["violations"] == 0 else 1
