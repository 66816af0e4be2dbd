"""Estimated wait (DOMAIN.md "Estimated wait").

For now the queue-length baseline: people ahead x mean service time / open desks serving
the queue, the mean learnt from today's served tickets of the queue once there are a few.
Issue 8 replaces it with an estimator that must beat this baseline in the day simulator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Ticket

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
