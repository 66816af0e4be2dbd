"""Who is called next (DOMAIN.md rules 2 and 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import QueueDef, Ticket


def queue_order(tickets: Iterable[Ticket]) -> list[Ticket]:
    """The order inside one queue: priority tickets first, then arrival order."""
    return sorted(tickets, key=lambda t: (not t.priority, t.arrival_at, t.number))


def pick_next(
    candidates: Iterable[Ticket], queues: Mapping[str, QueueDef], now: datetime
) -> Ticket | None:
    """The ticket a desk calls among the waiting tickets of the queues it serves.

    1. Priority tickets go ahead of every non-priority ticket (rule 2).
    2. Among the rest of the pool, a ticket that has waited past its queue's
       service-level target is called at once; of several such, the one furthest past
       its target (rule 4).
    3. Otherwise the highest score = waited seconds x queue weight (rule 4); ties go to
       the earlier arrival. Inside one queue this keeps arrival order.
    """
    pool = list(candidates)
    if not pool:
        return None
    priority = [t for t in pool if t.priority]
    if priority:
        pool = priority

    def overdue_s(t: Ticket) -> float:
        return t.waited_s(now) - queues[t.queue].sl_target_min * 60

    overdue = [t for t in pool if overdue_s(t) >= 0]
    if overdue:
        return min(overdue, key=lambda t: (-overdue_s(t), t.arrival_at, t.number))
    return min(
        pool, key=lambda t: (-t.waited_s(now) * queues[t.queue].weight, t.arrival_at, t.number)
    )
