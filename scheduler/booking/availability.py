"""Bookable time (DOMAIN.md rule 7): free slots from shifts, opening hours and busy time.

Pure: no I/O, no clock reads (`now` is passed in). The definitions are in `model.py`.

What a free slot is, for a `BookableService` and an advisor:

- The advisor's *windows* on a local day are the advisor's shifts that apply that day
  (overlapping or touching shifts merged into one working period) intersected with the
  day's appointment hours (`open_intervals(day)`, local wall-clock times; an empty list,
  e.g. a holiday, gives no windows). No windows on the advisor's `off_days`. A `time.max`
  end means the end of the day (24:00).
- Slot starts lie on the `rules.slot_min` grid counted, in local wall-clock time, from the
  start of each window (a service longer than the grid still starts on the grid). The
  slot is `[start, start + duration_min)` in real elapsed time and must lie inside one
  window and overlap none of the advisor's busy intervals (reservations and team-calendar
  busy time). Intervals that only touch do not overlap.
- For each entry of `service.needs` (a kind: "room", "interpreter", "remote", or a
  resource id) a distinct resource of that kind must be free for the whole slot and
  inside one of its own (merged) shift periods; a resource without shifts is always
  available. Resources are picked deterministically: the first free one by id, needs in
  order (with backtracking, so `("room", "room-1")` still finds an answer when one
  exists). A `remote` service whose needs name no remote resource also needs one
  "remote" resource (model.py: "needs a remote resource").
- Bookable: `start >= max(now + min_notice, start_from)` and `start` before local
  midnight starting the day `today + horizon_days` (today = `now`'s local date).
- Results are in time order, ties by advisor id; starts and ends are UTC datetimes.

DST change days: local wall-clock times are turned into UTC per day. A window's start
is the first instant whose wall clock reads its start time (`fold=0`: the first
occurrence when the clock is turned back), its end the last instant whose wall clock
reads its end time (`fold=1`: the second occurrence); a time that does not exist (the
hour skipped in spring) stands for the transition instant.
Grid points are wall-clock times `window start + k * slot_min` that exist: none in the
hour skipped in spring, both occurrences of the repeated hour in autumn. Durations are
real minutes, so a slot across the change ends `duration_min` later in real time.

A chosen advisor (`advisor=`) that is unknown or lacks the service's skill gives no
slots (an empty list), as does a need that no resource can fill.

`AvailabilityIndex` holds the definitions and sorted, merged busy lists (integer UTC
seconds, `bisect`) and caches per-day windows; build it once and keep it current with
`add_busy` / `remove_busy` / `set_busy` as bookings and calendar imports come and go.
It is not thread-safe: the caller serialises access (the booking service holds a lock
while it re-checks with `is_free` and stores a reservation). If advisor definitions or
the opening calendar change, build a new index (or call `clear_cache()` for the latter).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

from scheduler.booking.model import (
    RESOURCE_KINDS,
    AdvisorDef,
    BookableService,
    BookingRules,
    Interval,
    ResourceDef,
    Shift,
    Slot,
    merge_intervals,
)

OpenIntervals = Callable[[date], Sequence[tuple[time, time]]]

_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_HOURS_CACHES = 64  # distinct `open_intervals` callables cached; the oldest is dropped

# A piece of a local day with one UTC offset: (utc start, utc end, offset seconds).
_Piece = tuple[int, int, int]
# A window: (utc start, utc end, segments (utc start, utc end, grid anchor in utc)).
_Window = tuple[int, int, tuple[tuple[int, int, int], ...]]


def _secs(t: time) -> int:
    """Seconds since local midnight; `time.max` is 24:00."""
    if t == time.max:
        return _DAY
    return t.hour * 3600 + t.minute * 60 + t.second


def _intersect(xs: list[tuple[int, int]], ys: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a = max(xs[i][0], ys[j][0])
        b = min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def _ts_floor(dt: datetime) -> int:
    _aware(dt)
    return math.floor(dt.timestamp())


def _ts_ceil(dt: datetime) -> int:
    _aware(dt)
    return math.ceil(dt.timestamp())


def _aware(dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: availability needs aware datetimes")


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _start_u(pieces: Sequence[_Piece], wall: int) -> int:
    """The first instant of the day whose wall clock reads `wall` (or later)."""
    for u0, u1, off in pieces:
        if wall - off < u1:
            return max(u0, wall - off)
    return pieces[-1][1]


def _end_u(pieces: Sequence[_Piece], wall: int) -> int:
    """The last instant of the day whose wall clock reads `wall` (fold=1), or the
    transition instant when `wall` does not exist that day."""
    for u0, u1, off in reversed(pieces):
        if wall - off >= u0:
            return min(u1, wall - off)
    return pieces[0][0]


class _Busy:
    """One id's busy time: the raw intervals (a multiset) and their merged union as two
    sorted lists of UTC seconds."""

    __slots__ = ("ends", "raw", "starts")

    def __init__(self) -> None:
        self.raw: Counter[tuple[int, int]] = Counter()
        self.starts: list[int] = []
        self.ends: list[int] = []

    def rebuild(self) -> None:
        merged = merge_intervals(list(self.raw.elements()))
        self.starts = [a for a, _ in merged]
        self.ends = [b for _, b in merged]

    def add(self, a: int, b: int) -> None:
        if b <= a:
            return
        self.raw[(a, b)] += 1
        starts, ends = self.starts, self.ends
        i = bisect_left(ends, a)  # first merged interval ending at or after a
        j = bisect_right(starts, b)  # merged intervals [i, j) touch or overlap [a, b)
        if i < j:
            a = min(a, starts[i])
            b = max(b, ends[j - 1])
        starts[i:j] = [a]
        ends[i:j] = [b]

    def remove(self, a: int, b: int) -> bool:
        if self.raw.get((a, b), 0) <= 0:
            return False
        self.raw[(a, b)] -= 1
        if not self.raw[(a, b)]:
            del self.raw[(a, b)]
        self.rebuild()
        return True

    def overlaps(self, a: int, b: int) -> bool:
        i = bisect_right(self.ends, a)  # first busy interval ending after a
        return i < len(self.starts) and self.starts[i] < b


_NO_BUSY = _Busy()


class AvailabilityIndex:
    """Free-slot search over one site's advisors, extra resources and busy time."""

    def __init__(
        self,
        *,
        advisors: Sequence[AdvisorDef],
        resources: Sequence[ResourceDef] = (),
        busy: Mapping[str, Sequence[Interval]] | None = None,
        open_intervals: OpenIntervals,
        tz: ZoneInfo,
        rules: BookingRules,
    ) -> None:
        self.tz = tz
        self.rules = rules
        self.open_intervals = open_intervals
        self.advisors = {a.id: a for a in advisors}
        self.resources = {r.id: r for r in resources}
        self._adv_ids = sorted(self.advisors)
        self._by_kind: dict[str, list[str]] = {}
        for r in sorted(resources, key=lambda r: r.id):
            self._by_kind.setdefault(r.kind, []).append(r.id)
        self._adv_shifts = {a.id: _by_weekday(a.shifts) for a in advisors}
        self._res_shifts = {r.id: _by_weekday(r.shifts) if r.shifts else None for r in resources}
        self._busy: dict[str, _Busy] = {}
        for key, intervals in (busy or {}).items():
            self.set_busy(key, intervals)
        self._pieces: dict[date, tuple[_Piece, ...]] = {}
        self._hours: dict[OpenIntervals, dict[date, list[tuple[int, int]]]] = {}
        self._windows: dict[OpenIntervals, dict[tuple[str, date], tuple[_Window, ...]]] = {}
        self._res_windows: dict[tuple[str, date], tuple[tuple[int, int], ...]] = {}

    # ------------------------------------------------------------------ busy time

    def add_busy(self, key: str, interval: Interval) -> None:
        """A reservation or an imported busy interval of an advisor or resource id."""
        b = self._busy.get(key)
        if b is None:
            b = self._busy[key] = _Busy()
        b.add(_ts_floor(interval[0]), _ts_ceil(interval[1]))

    def remove_busy(self, key: str, interval: Interval) -> bool:
        """Take back one interval given to `add_busy` (or the constructor) with the same
        start and end; False if there was none."""
        b = self._busy.get(key)
        return b is not None and b.remove(_ts_floor(interval[0]), _ts_ceil(interval[1]))

    def set_busy(self, key: str, intervals: Sequence[Interval]) -> None:
        """Replace all busy time of an id (e.g. a re-imported team calendar together with
        the id's reservations)."""
        b = _Busy()
        for s, e in intervals:
            a, z = _ts_floor(s), _ts_ceil(e)
            if z > a:
                b.raw[(a, z)] += 1
        b.rebuild()
        self._busy[key] = b

    def busy_of(self, key: str) -> list[Interval]:
        """The merged busy time of an id (UTC), for display and checks."""
        b = self._busy.get(key, _NO_BUSY)
        return [(_utc(a), _utc(z)) for a, z in zip(b.starts, b.ends, strict=True)]

    def clear_cache(self) -> None:
        """Forget cached opening hours and windows (the opening calendar changed)."""
        self._hours.clear()
        self._windows.clear()

    # ------------------------------------------------------------------ search

    def search(
        self,
        service: BookableService,
        *,
        now: datetime,
        advisor: str | None = None,
        start_from: datetime | None = None,
        limit: int = 20,
        open_intervals: OpenIntervals | None = None,
    ) -> list[Slot]:
        """The next `limit` free slots of `service` (any skilled advisor, or `advisor`),
        in time order, ties by advisor id. `open_intervals` overrides the index's hours
        (e.g. a service with its own appointment hours)."""
        if limit <= 0:
            return []
        out: list[Slot] = []
        for slot in self.iter_slots(
            service, now=now, advisor=advisor, start_from=start_from, open_intervals=open_intervals
        ):
            out.append(slot)
            if len(out) >= limit:
                break
        return out

    def iter_slots(
        self,
        service: BookableService,
        *,
        now: datetime,
        advisor: str | None = None,
        start_from: datetime | None = None,
        open_intervals: OpenIntervals | None = None,
    ) -> Iterator[Slot]:
        """All free slots from the earliest bookable time to the horizon, lazily."""
        hours = open_intervals or self.open_intervals
        earliest, first_day, end_day, horizon_u = self._bounds(now, start_from)
        day = first_day
        while day < end_day:
            yield from self._day_slots(service, day, hours, advisor, earliest, horizon_u)
            day += timedelta(days=1)

    def days_with_free_time(
        self,
        service: BookableService,
        first: date,
        last: date,
        *,
        now: datetime,
        advisor: str | None = None,
        open_intervals: OpenIntervals | None = None,
    ) -> list[date]:
        """The local days in `first..last` (inclusive) with at least one free slot, for a
        booking calendar (see `month_range`)."""
        hours = open_intervals or self.open_intervals
        earliest, first_day, end_day, horizon_u = self._bounds(now, None)
        out: list[date] = []
        day = max(first, first_day)
        while day <= last and day < end_day:
            it = self._day_slots(service, day, hours, advisor, earliest, horizon_u)
            if next(it, None) is not None:
                out.append(day)
            day += timedelta(days=1)
        return out

    def is_free(
        self,
        slot: Slot,
        service: BookableService,
        *,
        now: datetime | None = None,
        open_intervals: OpenIntervals | None = None,
    ) -> bool:
        """Whether `slot` (as `search` returned it) can still be booked: the advisor has
        the skill, the start is on the grid of one of the advisor's windows, the slot
        has the service's duration and lies inside that window, nobody's busy time
        overlaps it, and its resources fill the service's needs, each free and on shift.
        With `now`, the minimum notice and the horizon are checked too."""
        hours = open_intervals or self.open_intervals
        adv = self.advisors.get(slot.advisor)
        if adv is None or service.id not in adv.skills:
            return False
        s, e = slot.start.timestamp(), slot.end.timestamp()
        if s != int(s) or e != int(e):
            return False
        s, e = int(s), int(e)
        if e - s != service.duration_min * 60:
            return False
        if now is not None:
            earliest, _first, _end, horizon_u = self._bounds(now, None)
            if s < earliest or s >= horizon_u:
                return False
        day = slot.start.astimezone(self.tz).date()
        step = self.rules.slot_min * 60
        on_grid = False
        for ws, we, segs in self._adv_windows(adv.id, day, hours):
            if ws <= s and e <= we:
                on_grid = any(a <= s < b and (s - anchor) % step == 0 for a, b, anchor in segs)
                break
        if not on_grid or self._busy.get(adv.id, _NO_BUSY).overlaps(s, e):
            return False
        needs = self._needs(service)
        if needs is None or len(slot.resources) != len(needs):
            return False
        if len(set(slot.resources)) != len(slot.resources):
            return False
        if not all(self._res_free(r, s, e, day) for r in slot.resources):
            return False
        return any(
            all(r in cands for r, cands in zip(order, needs, strict=True))
            for order in permutations(slot.resources)
        )

    # ------------------------------------------------------------------ internals

    def _bounds(self, now: datetime, start_from: datetime | None) -> tuple[int, date, date, int]:
        """(earliest start in UTC seconds, its local day, the first day past the horizon,
        the horizon's first instant in UTC seconds)."""
        _aware(now)
        earliest_dt = now + timedelta(minutes=self.rules.min_notice_min)
        if start_from is not None:
            _aware(start_from)
            earliest_dt = max(earliest_dt, start_from)
        earliest = _ts_ceil(earliest_dt)
        today = now.astimezone(self.tz).date()
        end_day = today + timedelta(days=self.rules.horizon_days)
        horizon_u = _start_u(self._day_pieces(end_day), _wall0(end_day))
        first_day = max(today, earliest_dt.astimezone(self.tz).date())
        return earliest, first_day, end_day, horizon_u

    def _needs(self, service: BookableService) -> list[list[str]] | None:
        """Per need, its candidate resource ids by id; None if a need cannot be met."""
        entries = list(service.needs)
        if service.remote and not any(
            n == "remote" or (n in self.resources and self.resources[n].kind == "remote")
            for n in entries
        ):
            entries.append("remote")
        out: list[list[str]] = []
        for n in entries:
            if n in self.resources:
                out.append([n])
            elif n in RESOURCE_KINDS or n in self._by_kind:
                cands = self._by_kind.get(n, [])
                if not cands:
                    return None
                out.append(cands)
            else:
                return None
        return out

    def _day_slots(
        self,
        service: BookableService,
        day: date,
        hours: OpenIntervals,
        advisor: str | None,
        earliest: int,
        horizon_u: int,
    ) -> Iterator[Slot]:
        needs = self._needs(service)
        if needs is None:
            return
        if advisor is not None:
            adv = self.advisors.get(advisor)
            ids = [advisor] if adv is not None and service.id in adv.skills else []
        else:
            ids = [a for a in self._adv_ids if service.id in self.advisors[a].skills]
        dur = service.duration_min * 60
        step = self.rules.slot_min * 60
        if dur <= 0 or step <= 0:
            return
        gens = [
            self._adv_starts(
                aid, self._adv_windows(aid, day, hours), earliest, horizon_u, dur, step
            )
            for aid in ids
        ]
        gens = [g for g in gens if g is not None]
        if not gens:
            return
        merged = gens[0] if len(gens) == 1 else heapq.merge(*gens)
        for s, aid in merged:
            if needs:
                picked = self._assign(needs, s, s + dur, day)
                if picked is None:
                    continue
            else:
                picked = ()
            yield Slot(start=_utc(s), end=_utc(s + dur), advisor=aid, resources=picked)

    def _adv_starts(
        self,
        aid: str,
        windows: tuple[_Window, ...],
        earliest: int,
        horizon_u: int,
        dur: int,
        step: int,
    ) -> Iterator[tuple[int, str]] | None:
        if not windows or windows[-1][1] - dur < earliest or windows[0][0] >= horizon_u:
            return None
        return self._gen_starts(aid, windows, earliest, horizon_u, dur, step)

    def _gen_starts(
        self,
        aid: str,
        windows: tuple[_Window, ...],
        earliest: int,
        horizon_u: int,
        dur: int,
        step: int,
    ) -> Iterator[tuple[int, str]]:
        busy = self._busy.get(aid, _NO_BUSY)
        bs, be = busy.starts, busy.ends
        nb = len(bs)
        for ws, we, segs in windows:
            if we - dur < earliest:
                continue
            if ws >= horizon_u:
                return
            i = bisect_right(be, ws)
            cur = ws
            while cur < we:
                if i < nb and bs[i] < we:
                    g0, g1 = cur, bs[i]
                    nxt = be[i]
                    i += 1
                else:
                    g0, g1, nxt = cur, we, we
                g0 = max(g0, earliest)
                if g1 - g0 >= dur:
                    last = g1 - dur  # latest start in this gap
                    for a, b, anchor in segs:
                        if b <= g0:
                            continue
                        if a > last:
                            break
                        lo = max(a, g0)
                        s = anchor + -((anchor - lo) // step) * step  # first grid point >= lo
                        hi = min(b - 1, last, horizon_u - 1)
                        while s <= hi:
                            yield s, aid
                            s += step
                cur = max(cur, nxt)

    def _adv_windows(self, aid: str, day: date, hours: OpenIntervals) -> tuple[_Window, ...]:
        per_hours = self._windows.get(hours)
        if per_hours is None:
            self._open(hours, day)  # registers (and bounds) the caches of this callable
            per_hours = self._windows[hours]
        key = (aid, day)
        got = per_hours.get(key)
        if got is not None:
            return got
        adv = self.advisors.get(aid)
        result: tuple[_Window, ...] = ()
        if adv is not None and day not in adv.off_days:
            shifts = _day_shifts(self._adv_shifts[aid], day)
            if shifts:
                inter = _intersect(shifts, self._open(hours, day))
                if inter:
                    result = self._to_windows(day, inter)
        per_hours[key] = result
        return result

    def _open(self, hours: OpenIntervals, day: date) -> list[tuple[int, int]]:
        cache = self._hours.get(hours)
        if cache is None:
            if len(self._hours) >= _MAX_HOURS_CACHES:
                oldest = next(iter(self._hours))
                del self._hours[oldest]
                self._windows.pop(oldest, None)
            cache = self._hours[hours] = {}
            self._windows[hours] = {}
        got = cache.get(day)
        if got is None:
            got = cache[day] = merge_intervals([(_secs(a), _secs(b)) for a, b in hours(day)])
        return got

    def _to_windows(self, day: date, local: list[tuple[int, int]]) -> tuple[_Window, ...]:
        pieces = self._day_pieces(day)
        wall0 = _wall0(day)
        out: list[_Window] = []
        for a, b in local:
            ws = _start_u(pieces, wall0 + a)
            we = _end_u(pieces, wall0 + b)
            if we <= ws:
                continue
            segs = tuple(
                (max(ws, u0), min(we, u1), wall0 + a - off)
                for u0, u1, off in pieces
                if u0 < we and ws < u1
            )
            out.append((ws, we, segs))
        return tuple(out)

    def _day_pieces(self, day: date) -> tuple[_Piece, ...]:
        got = self._pieces.get(day)
        if got is None:
            u0 = int(datetime.combine(day, time(), tzinfo=self.tz).timestamp())
            nxt = day + timedelta(days=1)
            u1 = int(datetime.combine(nxt, time(), tzinfo=self.tz).timestamp())
            got = self._pieces[day] = tuple(self._split(u0, u1))
        return got

    def _offset(self, u: int) -> int:
        off = datetime.fromtimestamp(u, self.tz).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def _split(self, u0: int, u1: int) -> list[_Piece]:
        o0 = self._offset(u0)
        if u1 - u0 <= 1 or self._offset(u1 - 1) == o0:
            return [(u0, u1, o0)]
        lo, hi = u0, u1 - 1  # offset(lo) == o0 != offset(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset(mid) == o0:
                lo = mid
            else:
                hi = mid
        return [(u0, hi, o0), *self._split(hi, u1)]

    def _res_day(self, rid: str, day: date) -> tuple[tuple[int, int], ...] | None:
        weekly = self._res_shifts.get(rid)
        if weekly is None:
            return None
        key = (rid, day)
        got = self._res_windows.get(key)
        if got is None:
            got = tuple(
                (ws, we) for ws, we, _segs in self._to_windows(day, _day_shifts(weekly, day))
            )
            self._res_windows[key] = got
        return got

    def _res_free(self, rid: str, s: int, e: int, day: date) -> bool:
        if rid not in self.resources:
            return False
        windows = self._res_day(rid, day)
        if windows is not None and not any(a <= s and e <= b for a, b in windows):
            return False
        return not self._busy.get(rid, _NO_BUSY).overlaps(s, e)

    def _assign(self, needs: list[list[str]], s: int, e: int, day: date) -> tuple[str, ...] | None:
        picked: list[str] = []
        free: dict[str, bool] = {}

        def ok(rid: str) -> bool:
            v = free.get(rid)
            if v is None:
                v = free[rid] = self._res_free(rid, s, e, day)
            return v

        def fill(i: int) -> bool:
            if i == len(needs):
                return True
            for rid in needs[i]:
                if rid not in picked and ok(rid):
                    picked.append(rid)
                    if fill(i + 1):
                        return True
                    picked.pop()
            return False

        return tuple(picked) if fill(0) else None


def _wall0(day: date) -> int:
    """Local midnight of `day` as if the wall clock were UTC, in seconds."""
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY


def _by_weekday(shifts: Sequence[Shift]) -> tuple[tuple[Shift, ...], ...]:
    return tuple(tuple(s for s in shifts if s.weekday == wd) for wd in range(7))


def _day_shifts(weekly: tuple[tuple[Shift, ...], ...], day: date) -> list[tuple[int, int]]:
    return merge_intervals(
        [(_secs(s.start), _secs(s.end)) for s in weekly[day.weekday()] if s.applies(day)]
    )


def month_range(year: int, month: int) -> tuple[date, date]:
    """The first and last day of a month, for `days_with_free_time`."""
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


# ---------------------------------------------------------------------- convenience


def free_slots(
    service: BookableService,
    *,
    advisors: Sequence[AdvisorDef],
    resources: Sequence[ResourceDef],
    busy: Mapping[str, Sequence[Interval]],
    open_intervals: OpenIntervals,
    tz: ZoneInfo,
    rules: BookingRules,
    now: datetime,
    advisor: str | None = None,
    start_from: datetime | None = None,
    limit: int = 20,
) -> list[Slot]:
    """The next free slots of `service` (see the module docstring); builds a throw-away
    `AvailabilityIndex`: keep one instead when searching repeatedly."""
    index = AvailabilityIndex(
        advisors=advisors,
        resources=resources,
        busy=busy,
        open_intervals=open_intervals,
        tz=tz,
        rules=rules,
    )
    return index.search(service, now=now, advisor=advisor, start_from=start_from, limit=limit)


def days_with_free_time(
    service: BookableService,
    first: date,
    last: date,
    *,
    advisors: Sequence[AdvisorDef],
    resources: Sequence[ResourceDef],
    busy: Mapping[str, Sequence[Interval]],
    open_intervals: OpenIntervals,
    tz: ZoneInfo,
    rules: BookingRules,
    now: datetime,
    advisor: str | None = None,
) -> list[date]:
    """The local days in `first..last` with at least one free slot of `service`."""
    index = AvailabilityIndex(
        advisors=advisors,
        resources=resources,
        busy=busy,
        open_intervals=open_intervals,
        tz=tz,
        rules=rules,
    )
    return index.days_with_free_time(service, first, last, now=now, advisor=advisor)


def is_free(
    slot: Slot,
    service: BookableService,
    *,
    advisors: Sequence[AdvisorDef],
    resources: Sequence[ResourceDef],
    busy: Mapping[str, Sequence[Interval]],
    open_intervals: OpenIntervals,
    tz: ZoneInfo,
    rules: BookingRules,
    now: datetime | None = None,
) -> bool:
    """Re-check one slot (see `AvailabilityIndex.is_free`)."""
    index = AvailabilityIndex(
        advisors=advisors,
        resources=resources,
        busy=busy,
        open_intervals=open_intervals,
        tz=tz,
        rules=rules,
    )
    return index.is_free(slot, service, now=now)
