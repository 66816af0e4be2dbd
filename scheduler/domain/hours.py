"""Opening hours in the site's local time (DOMAIN.md rule 6). Pure: no I/O, no clock.

- `WeeklyHours`: open intervals per weekday (a site's base week, a walk-in window).
- `OpeningCalendar`: a base week with seasons (summer hours), holidays (closed) and
  one-off exceptions per date or date range (closed, or special intervals, with a reason).
- `Intersection` / `intersect(...)`: open only when every part is, e.g. a service's
  walk-in time = site hours ∩ service hours ∩ walk-in window.

Every kind is an `OpeningHours`: `intervals_on(day)` gives the local (wall-clock)
intervals of a date, and `is_open`, `next_opening`, `spans_on` and `closed_reason` follow
from it. Intervals are `(start, end)` local times, end exclusive; an end of `time.max`
means 24:00. `spans_on(day, tz)` turns a day's intervals into real instants, so DST change
days come out right (the hour that does not exist is closed, the repeated hour is open
twice).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import ClassVar, TypeVar

K = TypeVar("K")
V = TypeVar("V")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_DAY_NAMES = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "sv": ("mån", "tis", "ons", "tors", "fre", "lör", "sön"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Interval = tuple[time, time]
# A real open span: [start, end) aware datetimes.
Span = tuple[datetime, datetime]
Reason = Mapping[str, str]
# date -> {fi, sv, en} name of the holiday, or None on an ordinary day.
HolidayLookup = Callable[[date], Reason | None]

HOLIDAY = {"fi": "pyhäpäivä", "sv": "helgdag", "en": "public holiday"}
_DAY = timedelta(days=1)


class FrozenMap(Mapping[K, V]):
    """A hashable, read-only mapping (holiday tables, closure reasons), so every kind of
    opening hours is hashable by value and its `intervals_on` can key a cache."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self._data == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


# ------------------------------------------------------------------------------- parsing


def parse_interval(text: str) -> tuple[time, time]:
    """'8:00-16:15' -> (08:00, 16:15); '0:00-24:00' is the whole day."""
    m = _INTERVAL_RE.match(text.strip())
    if not m:
        raise ValueError(f"opening interval {text!r} is not like '8:00-16:00'")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"opening interval {text!r} has an impossible time")
    start = time(h1, m1)
    end = time.max if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError(f"opening interval {text!r} ends before it starts")
    return start, end


def parse_intervals(value: str | Iterable[str]) -> tuple[Interval, ...]:
    """'9:00-12:00' or ['8:00-11:00', '12:00-16:00'] -> sorted, merged intervals."""
    items = [value] if isinstance(value, str) else list(value)
    return normalize(parse_interval(x) for x in items)


def parse_day(text: str | date) -> date | tuple[int, int]:
    """'2026-12-24' (or a TOML date) -> a date; '06-01' -> (6, 1), a day every year."""
    if isinstance(text, date):
        return text
    s = text.strip()
    if _DATE_RE.match(s):
        try:
            return date.fromisoformat(s)
        except ValueError:
            raise ValueError(f"date {text!r} does not exist") from None
    m = _MONTH_DAY_RE.match(s)
    if not m:
        raise ValueError(f"{text!r} is not a date like '2026-06-01' or a month-day like '06-01'")
    month, day = int(m.group(1)), int(m.group(2))
    try:
        date(2024, month, day)  # a leap year: '02-29' is allowed
    except ValueError:
        raise ValueError(f"month-day {text!r} does not exist") from None
    return month, day


def normalize(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort and merge overlapping or touching intervals."""
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def intersect_intervals(x: Iterable[Interval], y: Iterable[Interval]) -> tuple[Interval, ...]:
    """The times in both lists of intervals."""
    a, b = normalize(x), normalize(y)
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


# ------------------------------------------------------------------------------- the base


class OpeningHours:
    """What every kind of opening hours offers; subclasses give `intervals_on`."""

    # How many days `next_opening` looks ahead before it answers None.
    lookahead_days: ClassVar[int] = 14

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The local open intervals of `day`, sorted and not overlapping."""
        raise NotImplementedError

    def closed_reason(self, day: date) -> dict[str, str] | None:
        """Why `day` has exceptional hours ({fi, sv, en}: a holiday or closure), or None."""
        return None

    def is_open(self, local: datetime) -> bool:
        """Open at the wall-clock time of `local` (an aware datetime in the site's zone)."""
        t = local.time()
        return any(a <= t and (t < b or b == time.max) for a, b in self.intervals_on(local.date()))

    def spans_on(self, day: date, tz: tzinfo | None) -> tuple[Span, ...]:
        """The open intervals of `day` as real instants in `tz` (DST-correct), merged."""
        return tuple((_aware(s, tz), _aware(e, tz)) for s, e in _real_spans(self, day, tz))

    def next_opening(self, local: datetime) -> datetime | None:
        """The next moment after `local` at which it goes from closed to open, in
        `local`'s zone, looking `lookahead_days` ahead; None if it does not open by then.
        """
        tz = local.tzinfo
        now = _to_real(local)
        day0 = local.date()
        prev_end: datetime | None = None
        for offset in range(-1, self.lookahead_days + 1):
            for start, end in _real_spans(self, day0 + timedelta(days=offset), tz):
                opens = prev_end is None or start > prev_end  # not a continuation
                if opens and start > now:
                    return _aware(start, tz)
                prev_end = end if prev_end is None else max(prev_end, end)
        return None


# ----------------------------------------------------------------------------- the kinds


@dataclass(frozen=True)
class WeeklyHours(OpeningHours):
    """Open intervals per weekday (0 = Monday). The default is open around the clock."""

    days: tuple[tuple[tuple[time, time], ...], ...] = field(
        default_factory=lambda: tuple(((time.min, time.max),) for _ in range(7))
    )

    @classmethod
    def always(cls) -> WeeklyHours:
        return cls()

    @classmethod
    def never(cls) -> WeeklyHours:
        return cls(((),) * 7)

    @classmethod
    def from_mapping(cls, data: Mapping[str, list[str] | str]) -> WeeklyHours:
        """{"mon": ["8:00-16:00"], "sat": []} ; "mon-fri" ranges allowed; missing = closed."""
        days: list[tuple[Interval, ...]] = [() for _ in range(7)]
        for key, value in data.items():
            for day in _expand_days(key):
                days[day] = parse_intervals(value)
        return cls(tuple(days))

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        return self.days[day.weekday()]


@dataclass(frozen=True)
class Season:
    """A period with its own week, e.g. summer hours. `first` and `last` (inclusive) are
    both dates, or both (month, day) pairs that repeat every year (may wrap over New Year).
    """

    name: str
    week: WeeklyHours
    first: date | tuple[int, int]
    last: date | tuple[int, int]

    def __post_init__(self) -> None:
        first, last = self.first, self.last
        if isinstance(first, date) != isinstance(last, date):
            raise ValueError(f"season {self.name!r}: give both ends as dates or as month-days")
        if isinstance(first, date) and isinstance(last, date) and last < first:
            raise ValueError(f"season {self.name!r} ends before it starts")

    def covers(self, day: date) -> bool:
        first, last = self.first, self.last
        if isinstance(first, date) and isinstance(last, date):
            return first <= day <= last
        if isinstance(first, date) or isinstance(last, date):
            return False
        md = (day.month, day.day)
        if first <= last:
            return first <= md <= last
        return md >= first or md <= last  # wraps over New Year


@dataclass(frozen=True)
class SpecialHours:
    """A one-off exception for the dates `first`..`last` (inclusive): closed when
    `intervals` is empty, else open only then (a shortened day, or open on a holiday)."""

    first: date
    last: date
    intervals: tuple[Interval, ...] = ()
    reason: Reason | None = None

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"exception {self.first}..{self.last} ends before it starts")
        object.__setattr__(self, "intervals", normalize(self.intervals))
        if self.reason is not None:
            object.__setattr__(self, "reason", FrozenMap(self.reason))

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last

    @property
    def length(self) -> int:
        return (self.last - self.first).days


@dataclass(frozen=True)
class OpeningCalendar(OpeningHours):
    """A week with seasons, holidays and one-off exceptions.

    For a day, the first rule that applies decides: an exception covering the day (the
    shortest if several do; on a tie the later one), then a holiday (closed), then the
    first season covering the day, then the base week. `holidays` is a lookup
    date -> {fi, sv, en} name (or None), a mapping of dates to names, or a set of dates;
    it is computed outside the domain (scheduler/config.py uses the `holidays` package).
    """

    week: WeeklyHours = field(default_factory=WeeklyHours.always)
    seasons: tuple[Season, ...] = ()
    special: tuple[SpecialHours, ...] = ()
    holidays: HolidayLookup | Mapping[date, Reason] | Set[date] | None = None

    # Long enough to get past Christmas and a summer closure.
    lookahead_days: ClassVar[int] = 92

    def __post_init__(self) -> None:
        h = self.holidays  # kept hashable: a frozen mapping or a frozenset
        if isinstance(h, Mapping) and not isinstance(h, FrozenMap):
            frozen = FrozenMap({d: FrozenMap(n) for d, n in h.items()})
            object.__setattr__(self, "holidays", frozen)
        elif isinstance(h, Set) and not isinstance(h, frozenset):
            object.__setattr__(self, "holidays", frozenset(h))
        object.__setattr__(self, "seasons", tuple(self.seasons))
        object.__setattr__(self, "special", tuple(self.special))

    def exception_on(self, day: date) -> SpecialHours | None:
        found: SpecialHours | None = None
        for s in self.special:
            if s.covers(day) and (found is None or s.length <= found.length):
                found = s
        return found

    def holiday(self, day: date) -> dict[str, str] | None:
        """The holiday's {fi, sv, en} name if `day` is a holiday, else None."""
        h = self.holidays
        if h is None:
            return None
        if isinstance(h, Mapping):
            name = h.get(day)
        elif isinstance(h, Set):
            name = HOLIDAY if day in h else None
        else:
            name = h(day)
        return dict(name) if name is not None else None

    def season_on(self, day: date) -> Season | None:
        return next((s for s in self.seasons if s.covers(day)), None)

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        exc = self.exception_on(day)
        if exc is not None:
            return normalize(exc.intervals)
        if self.holiday(day) is not None:
            return ()
        season = self.season_on(day)
        return normalize((season.week if season else self.week).intervals_on(day))

    def closed_reason(self, day: date) -> dict[str, str] | None:
        exc = self.exception_on(day)
        if exc is not None:
            return dict(exc.reason) if exc.reason else None
        return self.holiday(day)


@dataclass(frozen=True)
class Intersection(OpeningHours):
    """Open when every part is open (site ∩ service ∩ window)."""

    parts: tuple[OpeningHours, ...]

    def __post_init__(self) -> None:
        days = max((p.lookahead_days for p in self.parts), default=OpeningHours.lookahead_days)
        object.__setattr__(self, "lookahead_days", days)

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        if not self.parts:
            return ((time.min, time.max),)
        out = normalize(self.parts[0].intervals_on(day))
        for p in self.parts[1:]:
            if not out:
                break
            out = intersect_intervals(out, p.intervals_on(day))
        return out

    def closed_reason(self, day: date) -> dict[str, str] | None:
        """The first part's reason (the site's before the service's)."""
        return next((r for p in self.parts if (r := p.closed_reason(day)) is not None), None)


def intersect(*parts: OpeningHours | None) -> OpeningHours:
    """The hours open in all of `parts` (None parts are left out: no restriction)."""
    given = tuple(p for p in parts if p is not None)
    if not given:
        return WeeklyHours.always()
    if len(given) == 1:
        return given[0]
    return Intersection(given)


# ---------------------------------------------------------------------- real instants


def _to_real(local: datetime) -> datetime:
    """A naive UTC datetime (or the naive wall time when there is no zone)."""
    if local.tzinfo is None:
        return local
    return local.astimezone(UTC).replace(tzinfo=None)


def _aware(real: datetime, tz: tzinfo | None) -> datetime:
    return real if tz is None else real.replace(tzinfo=UTC).astimezone(tz)


def _offset(real: datetime, tz: tzinfo) -> timedelta:
    return _aware(real, tz).utcoffset() or timedelta(0)


def _day_pieces(day: date, tz: tzinfo | None) -> list[tuple[datetime, datetime, timedelta]]:
    """The local day as real-time pieces with one UTC offset each: (start, end, offset)
    in naive UTC. Two pieces on a DST change day, one otherwise."""
    start_wall = datetime.combine(day, time.min)
    if tz is None:
        return [(start_wall, start_wall + _DAY, timedelta(0))]
    start = _to_real(start_wall.replace(tzinfo=tz))
    end = _to_real((start_wall + _DAY).replace(tzinfo=tz))
    o1, o2 = _offset(start, tz), _offset(end - timedelta(microseconds=1), tz)
    if o1 == o2:
        return [(start, end, o1)]
    lo, hi = start, end  # the change is in (lo, hi]: find it to the second
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        if _offset(mid, tz) == o1:
            lo = mid
        else:
            hi = mid
    return [(start, hi, o1), (hi, end, o2)]


def _real_spans(
    hours: OpeningHours, day: date, tz: tzinfo | None
) -> list[tuple[datetime, datetime]]:
    """The open intervals of `day` in naive UTC, sorted and merged."""
    walls = []
    for a, b in hours.intervals_on(day):
        start = datetime.combine(day, a)
        end = datetime.combine(day + _DAY, time.min) if b == time.max else datetime.combine(day, b)
        walls.append((start, end))
    spans: list[tuple[datetime, datetime]] = []
    for p_start, p_end, off in _day_pieces(day, tz):
        for w_start, w_end in walls:
            s, e = max(w_start, p_start + off), min(w_end, p_end + off)
            if s < e:
                spans.append((s - off, e - off))
    merged: list[tuple[datetime, datetime]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


# ------------------------------------------------------------------------------- helpers


def _expand_days(key: str) -> list[int]:
    key = key.strip().lower()
    if "-" in key:
        a, b = (x.strip() for x in key.split("-", 1))
        if a not in WEEKDAYS or b not in WEEKDAYS:
            raise ValueError(f"unknown weekday range {key!r}; use mon..sun, e.g. mon-fri")
        i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
        return list(range(i, j + 1)) if i <= j else [*range(i, 7), *range(0, j + 1)]
    if key not in WEEKDAYS:
        raise ValueError(f"unknown weekday {key!r}; use mon..sun or a range like mon-fri")
    return [WEEKDAYS.index(key)]


def when_text(at: datetime, today: date) -> dict[str, str]:
    """'klo 8.00' today, 'ti 24.11. klo 8.00' another day; per language."""
    fi_t = f"{at.hour}.{at.minute:02d}"
    en_t = f"{at.hour}:{at.minute:02d}"
    if at.date() == today:
        return {"fi": f"klo {fi_t}", "sv": f"kl. {fi_t}", "en": f"at {en_t}"}
    wd = at.weekday()
    dm = f"{at.day}.{at.month}."
    return {
        "fi": f"{_DAY_NAMES['fi'][wd]} {dm} klo {fi_t}",
        "sv": f"{_DAY_NAMES['sv'][wd]} {dm} kl. {fi_t}",
        "en": f"{_DAY_NAMES['en'][wd]} {at.day} {_MONTHS_EN[at.month - 1]} at {en_t}",
    }
