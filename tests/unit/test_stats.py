"""Measures' building blocks and quiet times on a synthetic history (real SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.booking.model import Slot
from scheduler.domain.model import QueueDef, ServiceDef, SiteDef
from scheduler.stats.config import ReportsCfg
from scheduler.stats.measures import band_of, percentile
from scheduler.stats.quiet import QuietTimes
from scheduler.store.db import Store
from scheduler.web.citizen import quiet_starts


def test_percentile_interpolates_between_ranks() -> None:
    # 1 2 5 10: median between 2 and 5 = 3.5; p90 at rank 3*0.9 = 2.7 -> 5 + 0.7*5 = 8.5.
    assert percentile([10, 1, 5, 2], 0.5) == 3.5
    assert percentile([10, 1, 5, 2], 0.9) == pytest.approx(8.5)
    assert percentile([7], 0.9) == 7 and percentile([], 0.5) is None


def test_bands_of_the_pilot() -> None:
    got = [band_of(h) for h in (7, 8, 9, 10, 13, 15, 16)]
    assert got == ["other", "08-10", "08-10", "10-12", "12-14", "14-16", "other"]


def test_pricing_falls_back_to_the_defaults() -> None:
    cfg = ReportsCfg.model_validate(
        {
            "price_per_min_eur": 0.59,
            "nominal_min": {"served": 10},
            "providers": {"kela": {"nominal_min": {"served": 12}, "price_per_min_eur": 0.5}},
        }
    )
    assert (cfg.nominal("kela", "served"), cfg.price_per_min("kela")) == (12, 0.5)
    assert (cfg.nominal("tax", "served"), cfg.price_per_min("tax")) == (10, 0.59)
    assert cfg.nominal("tax", "noshow") is None


SITE = SiteDef(
    id="q1",
    name={"fi": "Q", "sv": "Q", "en": "Q"},
    queues={"a": QueueDef("a", "A", {"fi": "A", "sv": "A", "en": "A"})},
    services={"s": ServiceDef("s", {"fi": "S", "sv": "S", "en": "S"}, "p", "a")},
)
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # Tuesday 08:00 in Helsinki


def history(store: Store, weeks: int) -> None:
    """Every weekday of `weeks` weeks before NOW: 9-10 local 6 arrivals, 10-11: 3, 12-13:
    1, 14-15: 4 (nobody at 11 and 13). Inserted through SiteState and Store.commit."""
    n = 0
    first = NOW.date() - timedelta(weeks=weeks)
    for i in range(weeks * 7):
        day = first + timedelta(days=i)
        if day.isoweekday() > 5:
            continue
        st = store.load_site(SITE, datetime(day.year, day.month, day.day, 6, tzinfo=UTC))
        for hour, count in ((9, 6), (10, 3), (12, 1), (14, 4)):
            for k in range(count):
                n += 1
                now = datetime(day.year, day.month, day.day, hour - 2, 5 * k, tzinfo=UTC)
                st.issue_ticket(
                    service_id="s", lang="fi", priority=False, now=now, ticket_id=f"h{n}",
                    token=f"tok-h{n}", device=None,
                )  # fmt: skip
        store.commit([st], [], NOW)


def at_local(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hh - 2, mm, tzinfo=UTC)


def test_quiet_times_mark_the_lowest_third_of_the_measured_load(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    store.migrate()
    history(store, 3)
    qt = QuietTimes(store.engine, clock=lambda: NOW, min_days=10)
    prof = qt.profile(SITE)
    # 15 weekdays before NOW (3 weeks); Tuesday's mean per hour as inserted.
    assert prof.days == 15
    assert {h: prof.load[(2, h)] for h in (9, 10, 12, 14)} == {9: 6.0, 10: 3.0, 12: 1.0, 14: 4.0}
    # Cells: 5 weekdays x (6, 3, 1, 4): the 1/3 quantile of 20 values (five each of
    # 1 3 4 6) is at rank 19/3 = 6.33 -> between 3 and 3 = 3. Quiet: load <= 3.
    assert prof.threshold == 3.0
    day = date(2026, 11, 24)
    starts = [at_local(day, h, m) for h in (9, 10, 11, 12, 14) for m in (0, 30)]
    marks = qt.mark(SITE, starts, suggest=3)
    assert marks is not None
    quiet_hours = sorted({s.hour + 2 for s in marks.quiet})
    assert quiet_hours == [10, 11, 12]  # 3, 0 (nobody came), 1; not 9 (6) or 14 (4)
    assert marks.suggested == [at_local(day, 11), at_local(day, 11, 30), at_local(day, 12)]
    # The citizen page's rule uses it: 1 advisor would mark nothing by the old rule.
    slots = [Slot(s, s + timedelta(minutes=30), "adv") for s in starts]
    assert quiet_starts(slots, 1, site=SITE, engine=store.engine) == marks.quiet
    # Cached: new history is not seen until the TTL passes.
    history(store, 1)
    assert qt.profile(SITE) is prof
    store.dispose()


def test_too_little_history_falls_back_to_the_advisor_rule(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    store.migrate()
    history(store, 1)  # 5 days < 10
    qt = QuietTimes(store.engine, clock=lambda: NOW, min_days=10)
    day = date(2026, 11, 24)
    s1, s2 = at_local(day, 9), at_local(day, 14)
    assert qt.mark(SITE, [s1, s2]) is None
    # The advisor rule: 3 advisors, s1 has 2 free (2 >= max(2, 2)), s2 only 1.
    slots = [
        Slot(s1, s1 + timedelta(minutes=30), "a1"),
        Slot(s1, s1 + timedelta(minutes=30), "a2"),
        Slot(s2, s2 + timedelta(minutes=30), "a3"),
    ]
    assert quiet_starts(slots, 3, site=SITE, engine=store.engine) == {s1}
    store.dispose()
