"""Who is called next (DOMAIN.md rules 2 and 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import QueueDef, Ticket


def order_key(t: Ticket) -> tuple[bool, datetime, str]:
    """The sort key of `queue_order`."""
    return (not t.priority, t.arrival_at, t.number)


def queue_order(tickets: Iterable[Ticket]) -> list[Ticket]:
    """The order inside one queue: priority tickets first, then arrival order."""
    return sorted(tickets, key=order_key)


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
    # Each ticket's wait is computed once: (ticket, waited seconds, seconds past target).
    scored = [
        (t, w, w - queues[t.queue].sl_target_min * 60) for t in pool for w in (t.waited_s(now),)
    ]
    overdue = [x for x in scored if x[2] >= 0]
    if overdue:
        return min(overdue, key=lambda x: (-x[2], x[0].arrival_at, x[0].number))[0]
    return min(
        scored, key=lambda x: (-x[1] * queues[x[0].queue].weight, x[0].arrival_at, x[0].number)
    )[0]
