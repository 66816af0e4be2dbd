"""Quiet times ("hiljainen aika", DOMAIN.md) from the measured load.

The load profile of a site: the mean number of customers arriving (walk-in tickets and
appointment check-ins) per ISO weekday x local hour, over the last 8 weeks of stored
tickets (a weekday's mean is over those of its days on which the site had customers).
It is computed at most once an hour per site (cached, `ttl_s`), never per request.

A candidate start is quiet when the load of its weekday and hour is in the lowest third
of the site's profile (at or below the 1/3 quantile of its weekday-hour cells); an hour
nobody has come at is quiet. The quietest few (least load, then earliest) are suggested.
With too little history (fewer than `min_days` days with customers in the window) `mark`
returns None, and the caller falls back to today's advisor-availability rule
(`scheduler.web.citizen.quiet_starts`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from scheduler.domain.model import SiteDef
from scheduler.stats.measures import percentile
from scheduler.store import tables as t

WEEKS = 8
MIN_DAYS = 10
TTL_S = 3600.0
SUGGEST = 3


def profile_of(arrivals: Iterable[datetime]) -> tuple[dict[tuple[int, int], float], int]:
    """(mean arrivals per (ISO weekday, hour), number of days with arrivals) of local
    arrival instants."""
    days: dict[int, set[date]] = defaultdict(set)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for a in arrivals:
        d = a.date()
        days[d.isoweekday()].add(d)
        counts[(d.isoweekday(), a.hour)] += 1
    load = {k: n / len(days[k[0]]) for k, n in counts.items()}
    return load, sum(len(s) for s in days.values())


@dataclass(frozen=True)
class Profile:
    site: str
    computed_at: float  # monotonic
    days: int
    load: dict[tuple[int, int], float]

    @property
    def threshold(self) -> float:
        return percentile(list(self.load.values()), 1 / 3) or 0.0

    def load_at(self, local: datetime) -> float:
        return self.load.get((local.isoweekday(), local.hour), 0.0)


@dataclass(frozen=True)
class QuietMarks:
    quiet: set[datetime]
    suggested: list[datetime]  # the quietest few, quietest first
    load: dict[datetime, float]  # each start's mean arrivals in its hour


class QuietTimes:
    """The load profiles of the sites of one database, cached for `ttl_s` seconds."""

    def __init__(
        self,
        engine: Engine,
        *,
        weeks: int = WEEKS,
        min_days: int = MIN_DAYS,
        ttl_s: float = TTL_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.weeks = weeks
        self.min_days = min_days
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, Profile] = {}
        self._lock = threading.Lock()

    def compute(self, site: SiteDef) -> Profile:
        today = self.clock().astimezone(site.tz).date()
        first = today - timedelta(weeks=self.weeks)
        T = t.tickets
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(T.c.arrival_at).where(T.c.site == site.id, T.c.day >= first, T.c.day < today)
            ).all()
        tz = site.tz
        local = [(a.replace(tzinfo=UTC) if a.tzinfo is None else a).astimezone(tz) for (a,) in rows]
        load, days = profile_of(local)
        return Profile(site.id, time.monotonic(), days, load)

    def profile(self, site: SiteDef) -> Profile:
        with self._lock:
            got = self._cache.get(site.id)
        if got is not None and time.monotonic() - got.computed_at < self.ttl_s:
            return got
        fresh = self.compute(site)
        with self._lock:
            self._cache[site.id] = fresh
        return fresh

    def mark(
        self, site: SiteDef, starts: Iterable[datetime], *, suggest: int = SUGGEST
    ) -> QuietMarks | None:
        """The quiet starts among `starts` and the quietest few; None with too little
        history (the caller's fallback applies)."""
        prof = self.profile(site)
        if prof.days < self.min_days:
            return None
        tz = site.tz
        load = {s: prof.load_at(s.astimezone(tz)) for s in set(starts)}
        limit = prof.threshold
        quiet = {s for s, v in load.items() if v <= limit}
        ranked = sorted(load, key=lambda s: (load[s], s))
        return QuietMarks(quiet, ranked[:suggest], load)


_BY_ENGINE: dict[int, QuietTimes] = {}
_REG_LOCK = threading.Lock()


def quiet_times(engine: Engine) -> QuietTimes:
    """The process's QuietTimes of `engine` (one cache per database engine)."""
    with _REG_LOCK:
        got = _BY_ENGINE.get(id(engine))
        if got is None or got.engine is not engine:
            got = _BY_ENGINE[id(engine)] = QuietTimes(engine)
        return got
