"""The walk-in rules of DOMAIN.md (1, 2, 4, 5) and the desk state machine of PROTOCOL.md.

Pure and fast: the clock is passed in, nothing is stored.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.config import DEMO_SITE, load_config
from scheduler.domain import eta as eta_mod
from scheduler.domain.errors import MESSAGES, DomainError
from scheduler.domain.hours import WeeklyHours
from scheduler.domain.model import DeskDef, QueueDef, ServiceDef, SiteDef, SiteState, Ticket

HEL = ZoneInfo("Europe/Helsinki")
# A Monday in winter (Helsinki is UTC+2), 10:00 local.
T0 = datetime(2024, 1, 15, 10, 0, tzinfo=HEL).astimezone(UTC)

_DEMO = load_config(DEMO_SITE).site_defs()["demo"]
_ids = itertools.count(1)


def names(text: str) -> dict[str, str]:
    return {"fi": text, "sv": text, "en": text}


def demo_site() -> SiteDef:
    return _DEMO


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A Helsinki wall-clock time as the aware UTC instant the domain expects."""
    return datetime(y, mo, d, h, mi, tzinfo=HEL).astimezone(UTC)


def issue(
    state: SiteState,
    service: str = "city-info",
    now: datetime = T0,
    *,
    priority: bool = False,
    lang: str = "fi",
) -> Ticket:
    n = next(_ids)
    return state.issue_ticket(
        service_id=service,
        lang=lang,
        priority=priority,
        now=now,
        ticket_id=f"t{n}",
        token=f"tok{n}",
    )


def snapshot(state: SiteState) -> dict[str, Any]:
    """A deep copy of everything a command may change."""
    return {
        "tickets": {tid: dataclasses.asdict(t) for tid, t in state.tickets.items()},
        "desks": {d: dataclasses.asdict(rt) for d, rt in state.desks.items()},
        "counters": copy.deepcopy(state.counters),
        "calls": [dataclasses.asdict(c) for c in state.calls],
        "version": state.version,
        "display_seq": state.display_seq,
        "events": list(state.events),
        "dirty": (
            set(state.dirty_tickets),
            set(state.dirty_desks),
            set(state.dirty_counters),
            state.display_changed,
        ),
    }


def refused(state: SiteState, code: str, fn, *args, **kwargs) -> DomainError:
    """Assert that the command is refused with `code` and changed nothing."""
    before = snapshot(state)
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    assert snapshot(state) == before
    msg = info.value.message
    assert set(msg) == {"fi", "sv", "en"}
    assert all(text and "?" not in text for text in msg.values()), msg
    return info.value


def two_queue_site(
    a: dict[str, Any] | None = None, b: dict[str, Any] | None = None, **site: Any
) -> SiteDef:
    """Queues `a` (prefix A) and `b` (prefix B); desk `1` serves both, `2` only `b`."""
    qa = QueueDef(id="a", prefix="A", name=names("A"), **(a or {}))
    qb = QueueDef(id="b", prefix="B", name=names("B"), **(b or {}))
    return SiteDef(
        id="t",
        name=names("Test"),
        queues={"a": qa, "b": qb},
        services={
            "sa": ServiceDef(id="sa", name=names("SA"), provider="pa", queue="a"),
            "sb": ServiceDef(id="sb", name=names("SB"), provider="pb", queue="b"),
        },
        desks={"1": DeskDef(id="1", queues=("a", "b")), "2": DeskDef(id="2", queues=("b",))},
        **site,
    )


@pytest.fixture
def state() -> SiteState:
    return SiteState(demo_site())


# ----------------------------------------------------------------------------- rule 1


def test_numbers_count_per_queue_with_prefix(state: SiteState) -> None:
    a = [issue(state, "city-info", T0 + timedelta(seconds=i)) for i in range(3)]
    k = issue(state, "kela-benefits", T0)
    p = issue(state, "parking-permit", T0 + timedelta(seconds=5))  # same queue as city-info
    assert [t.number for t in a] == ["A001", "A002", "A003"]
    assert k.number == "K001"
    assert p.number == "A004"
    assert p.queue == "municipality" and p.service == "parking-permit"
    assert state.counters["municipality"] == (state.today(T0), 4)
    assert state.counters["kela"] == (state.today(T0), 1)
    ev = state.events[-1]
    assert (ev.kind, ev.ticket_id, ev.queue) == ("issued", p.id, "municipality")


def test_numbers_restart_at_local_midnight_not_utc() -> None:
    state = SiteState(demo_site())
    state.open_desk("1", T0)
    # 23:50 on Monday in Helsinki is 21:50 UTC.
    late = local(2024, 1, 15, 23, 50)
    t1 = issue(state, now=late)
    assert t1.number == "A001" and t1.day.isoformat() == "2024-01-15"
    state.next("1", late)
    state.finish("1", late + timedelta(minutes=1))
    # 00:10 on Tuesday in Helsinki is still Monday 22:10 in UTC: a new local day.
    t2 = issue(state, now=local(2024, 1, 16, 0, 10))
    assert t2.day.isoformat() == "2024-01-16"
    assert t2.number == "A001"
    # UTC midnight (02:00 in Helsinki) is no boundary: numbers continue.
    t3 = issue(state, now=local(2024, 1, 16, 2, 30))
    assert t3.number == "A002"


def test_new_day_skips_numbers_still_live_from_yesterday() -> None:
    state = SiteState(demo_site())
    y1 = issue(state, now=local(2024, 1, 15, 23, 0))
    y2 = issue(state, now=local(2024, 1, 15, 23, 1))
    assert (y1.number, y2.number) == ("A001", "A002")
    # Yesterday's tickets still wait after midnight: today starts at A003.
    t = issue(state, now=local(2024, 1, 16, 0, 5))
    assert t.number == "A003"
    live = [x.number for x in state.live_tickets()]
    assert len(live) == len(set(live))


def test_counter_wraps_after_999_skipping_live_numbers(state: SiteState) -> None:
    first = [issue(state, now=T0 + timedelta(seconds=i)) for i in range(3)]
    assert [t.number for t in first] == ["A001", "A002", "A003"]
    state.open_desk("1", T0)
    state.next("1", T0)  # A001 is called: still live
    # The demo kiosks' offline ranges (901-949, 951-999) are never handed out here.
    state.counters["municipality"] = (state.today(T0), 949)
    t950 = issue(state)
    assert t950.number == "A950"
    wrapped = issue(state)
    assert wrapped.number == "A004"  # 951-999 reserved; A001 (called), A002, A003 live
    state.finish("1", T0)  # A001 served: free again
    state.counters["municipality"] = (state.today(T0), 999)
    assert issue(state).number == "A001"


def test_queue_full_when_all_999_numbers_are_live() -> None:
    site = two_queue_site()
    state = SiteState(site)
    tickets = [issue(state, "sa") for _ in range(999)]
    assert len({t.number for t in tickets}) == 999
    assert tickets[-1].number == "A999"
    refused(state, "queue_full", issue, state, "sa")
    # Another queue is not affected.
    assert issue(state, "sb").number == "B001"
    # Once one number is free again, it is reused.
    state.open_desk("1", T0)
    called, _ = state.next("1", T0)
    assert called is not None and called.number == "A001"
    state.noshow("1", T0)
    assert issue(state, "sa").number == "A001"


def test_queue_full_at_max_waiting() -> None:
    state = SiteState(two_queue_site(a={"max_waiting": 2}))
    issue(state, "sa")
    issue(state, "sa")
    refused(state, "queue_full", issue, state, "sa")
    issue(state, "sb")  # other queue has no limit
    state.open_desk("2", T0)
    state.open_desk("1", T0)
    state.next("1", T0)  # one of queue a is called: no longer waiting
    assert state.desks["1"].ticket_id is not None
    assert state.current("1").queue == "a"
    assert issue(state, "sa").number == "A003"


def test_unknown_service(state: SiteState) -> None:
    refused(state, "unknown_service", issue, state, "no-such-service")


def test_ticket_shows_no_name_and_keeps_language(state: SiteState) -> None:
    t = issue(state, lang="sv", priority=True)
    assert t.lang == "sv" and t.priority is True
    assert t.arrival_at == t.issued_at == T0
    assert t.status == "waiting" and t.desk is None


# ---------------------------------------------------------------- opening hours at issue


def test_site_closed_says_when_it_opens() -> None:
    site = dataclasses.replace(
        demo_site(), hours=WeeklyHours.from_mapping({"mon-fri": "8:00-16:15"})
    )
    state = SiteState(site)
    # Friday 19 Jan 2024, 17:00: closed until Monday 22 Jan 8:00.
    err = refused(state, "site_closed", issue, state, now=local(2024, 1, 19, 17))
    assert err.message["fi"] == "Toimipiste on suljettu. Avautuu ma 22.1. klo 8.00."
    assert err.message["sv"] == "Verksamhetsstället är stängt. Öppnar mån 22.1. kl. 8.00."
    assert err.message["en"] == "The service point is closed. Opens Mon 22 Jan at 8:00."
    assert datetime.fromisoformat(err.params["opens_at"]) == datetime(2024, 1, 22, 8, tzinfo=HEL)
    # Early the same day: only the time.
    err = refused(state, "site_closed", issue, state, now=local(2024, 1, 22, 7, 30))
    assert err.message["fi"].endswith("Avautuu klo 8.00.")
    assert err.message["sv"].endswith("Öppnar kl. 8.00.")
    assert err.message["en"].endswith("Opens at 8:00.")
    # Open: a ticket.
    assert issue(state, now=local(2024, 1, 22, 8, 0)).number == "A001"
    # Closing time is exclusive.
    refused(state, "site_closed", issue, state, now=local(2024, 1, 22, 16, 15))


def test_site_never_open_has_no_opens_text() -> None:
    site = dataclasses.replace(demo_site(), hours=WeeklyHours.from_mapping({}))
    state = SiteState(site)
    err = refused(state, "site_closed", issue, state)
    assert err.message["en"] == "The service point is closed."
    assert "opens_at" not in err.params


def test_queue_closed_outside_walk_in_hours(state: SiteState) -> None:
    # The demo's passport pick-up takes walk-ins mon-fri 9-11.
    sat = local(2024, 1, 20, 10)
    err = refused(state, "queue_closed", issue, state, "passport-pickup", sat)
    assert "ma 22.1. klo 9.00" in err.message["fi"]
    assert "mån 22.1. kl. 9.00" in err.message["sv"]
    assert "Mon 22 Jan at 9:00" in err.message["en"]
    err = refused(state, "queue_closed", issue, state, "passport-pickup", local(2024, 1, 22, 8))
    assert "klo 9.00" in err.message["fi"] and "at 9:00" in err.message["en"]
    t = issue(state, "passport-pickup", local(2024, 1, 22, 9))
    assert t.number == "P001"
    refused(state, "queue_closed", issue, state, "passport-pickup", local(2024, 1, 22, 11))
    # Other services of the demo are open around the clock.
    assert issue(state, "city-info", sat).number == "A001"


def test_appointment_only_service_takes_no_walk_ins(state: SiteState) -> None:
    err = refused(state, "queue_closed", issue, state, "notary")
    assert err.message_key == "queue_closed_unknown"
    assert "Opens" not in err.message["en"]


def test_site_closed_is_checked_before_service_hours() -> None:
    site = dataclasses.replace(
        demo_site(), hours=WeeklyHours.from_mapping({"mon-fri": "12:00-16:00"})
    )
    state = SiteState(site)
    refused(state, "site_closed", issue, state, "passport-pickup", local(2024, 1, 22, 10))
    refused(state, "queue_closed", issue, state, "passport-pickup", local(2024, 1, 22, 13))


# ----------------------------------------------------------------------- rules 2 and 4


def test_arrival_order_inside_a_queue(state: SiteState) -> None:
    tickets = [issue(state, now=T0 + timedelta(minutes=i)) for i in range(4)]
    state.open_desk("1", T0)
    now = T0 + timedelta(minutes=5)
    order = []
    for _ in tickets:
        called, _ = state.next("1", now)
        order.append(called.id)
    assert order == [t.id for t in tickets]
    assert [state.position(t) for t in tickets] == [0, 0, 0, 0]  # none waiting any more


def test_priority_goes_first_in_its_queue_and_position_counts_it(state: SiteState) -> None:
    a1 = issue(state, now=T0)
    a2 = issue(state, now=T0 + timedelta(minutes=1))
    p = issue(state, now=T0 + timedelta(minutes=2), priority=True)
    assert [state.position(t) for t in (p, a1, a2)] == [0, 1, 2]
    state.open_desk("1", T0)
    called, _ = state.next("1", T0 + timedelta(minutes=3))
    assert called.id == p.id


def test_priority_goes_ahead_across_the_desks_queues(state: SiteState) -> None:
    # Desk 1 serves municipality and tax. A long-waiting (even overdue) tax ticket
    # still comes after a fresh priority municipality ticket.
    tax = issue(state, "tax-card", T0)
    prio = issue(state, "city-info", T0 + timedelta(minutes=40), priority=True)
    state.open_desk("1", T0)
    called, _ = state.next("1", T0 + timedelta(minutes=41))
    assert called.id == prio.id
    called, _ = state.next("1", T0 + timedelta(minutes=42))
    assert called.id == tax.id


def test_priority_of_a_queue_the_desk_does_not_serve_is_ignored(state: SiteState) -> None:
    issue(state, "kela-benefits", T0, priority=True)  # desk 1 does not serve kela
    a = issue(state, "city-info", T0 + timedelta(minutes=1))
    state.open_desk("1", T0)
    called, _ = state.next("1", T0 + timedelta(minutes=2))
    assert called.id == a.id


def test_score_is_waited_time_times_weight() -> None:
    # Targets far away so the service-level rule does not interfere.
    site = two_queue_site(
        a={"weight": 1.0, "sl_target_min": 600}, b={"weight": 2.0, "sl_target_min": 600}
    )
    now = T0 + timedelta(minutes=30)
    for b_waited, expected in ((16, "b"), (14, "a")):  # a waited 30: 30x1 vs 16x2 / 14x2
        state = SiteState(site)
        state.open_desk("1", T0)
        ta = issue(state, "sa", now - timedelta(minutes=30))
        tb = issue(state, "sb", now - timedelta(minutes=b_waited))
        called, _ = state.next("1", now)
        assert called.id == {"a": ta.id, "b": tb.id}[expected]


def test_demo_kela_weight_beats_a_slightly_longer_wait() -> None:
    state = SiteState(demo_site())
    now = T0 + timedelta(minutes=10)
    city = issue(state, "city-info", now - timedelta(minutes=10))  # score 600 (w 1.0)
    kela = issue(state, "kela-benefits", now - timedelta(minutes=9))  # score 648 (w 1.2)
    state.open_desk("2", T0)  # desk 2 serves municipality and kela
    assert state.next("2", now)[0].id == kela.id
    assert state.next("2", now)[0].id == city.id


def test_overdue_ticket_is_called_at_once_despite_a_higher_score() -> None:
    site = two_queue_site(
        a={"weight": 1.0, "sl_target_min": 15}, b={"weight": 5.0, "sl_target_min": 120}
    )
    state = SiteState(site)
    now = T0 + timedelta(minutes=60)
    ta = issue(state, "sa", now - timedelta(minutes=16))  # 1 min past target, score 960
    tb = issue(state, "sb", now - timedelta(minutes=30))  # score 9000, not overdue
    state.open_desk("1", T0)
    assert state.next("1", now)[0].id == ta.id
    assert state.next("1", now)[0].id == tb.id


def test_furthest_past_target_goes_first() -> None:
    site = two_queue_site(a={"sl_target_min": 10}, b={"sl_target_min": 30})
    state = SiteState(site)
    now = T0 + timedelta(minutes=60)
    tb = issue(state, "sb", now - timedelta(minutes=45))  # waited longer, 15 min past
    ta = issue(state, "sa", now - timedelta(minutes=30))  # 20 min past its target
    state.open_desk("1", T0)
    assert state.next("1", now)[0].id == ta.id
    assert state.next("1", now)[0].id == tb.id


def test_two_desks_never_get_one_ticket(state: SiteState) -> None:
    t = issue(state)
    for d in ("1", "2", "4"):  # all serve municipality
        state.open_desk(d, T0)
    called, _ = state.next("1", T0)
    assert called.id == t.id
    refused(state, "nothing_waiting", state.next, "2", T0)
    refused(state, "nothing_waiting", state.next, "4", T0)
    assert [d for d, rt in state.desks.items() if rt.ticket_id == t.id] == ["1"]


def test_desk_only_calls_its_own_queues(state: SiteState) -> None:
    issue(state, "kela-benefits")
    state.open_desk("1", T0)
    refused(state, "nothing_waiting", state.next, "1", T0)
    assert state.desk_waiting("1") == 0
    assert state.desk_waiting("2") == 1


# ------------------------------------------------------------------------------- rule 5


def test_transfer_keeps_number_priority_and_arrival_and_frees_the_desk(state: SiteState) -> None:
    t = issue(state, "city-info", T0, priority=True)
    later = issue(state, "kela-benefits", T0 + timedelta(minutes=1), priority=True)
    state.open_desk("1", T0)
    state.next("1", T0 + timedelta(minutes=2))
    state.start("1", T0 + timedelta(minutes=3))
    state.clear_changes()
    moved = state.transfer("1", "kela", T0 + timedelta(minutes=5))
    assert moved is t
    assert (t.number, t.priority, t.arrival_at) == ("A001", True, T0)
    assert (t.status, t.queue, t.desk, t.transfers) == ("waiting", "kela", None, 1)
    assert t.origin_queue == "municipality"
    assert state.desks["1"].status == "open" and state.desks["1"].ticket_id is None
    ev = state.events[-1]
    assert (ev.kind, ev.ticket_id, ev.desk, ev.queue) == ("transferred", t.id, "1", "kela")
    assert ev.detail["from"] == "municipality"
    assert ev.detail["served_s"] == 120.0  # from start
    # It keeps its place: ahead of a kela ticket that arrived after it.
    assert state.position(t) == 0 and state.position(later) == 1
    state.open_desk("2", T0)
    assert state.next("2", T0 + timedelta(minutes=6))[0].id == t.id
    # The desk that sent it on is free for its next customer.
    refused(state, "no_current_ticket", state.finish, "1", T0)


def test_transfer_of_a_called_ticket_counts_from_the_call(state: SiteState) -> None:
    issue(state)
    state.open_desk("1", T0)
    state.next("1", T0 + timedelta(minutes=1))
    state.clear_changes()
    state.transfer("1", "tax", T0 + timedelta(minutes=2))
    assert state.events[-1].detail["served_s"] == 60.0


def test_transfer_to_unknown_queue_changes_nothing(state: SiteState) -> None:
    issue(state)
    state.open_desk("1", T0)
    state.next("1", T0)
    refused(state, "unknown_queue", state.transfer, "1", "nope", T0)


def test_recall_moves_the_number_to_the_front(state: SiteState) -> None:
    a1 = issue(state)
    a2 = issue(state, now=T0 + timedelta(seconds=1))
    state.open_desk("1", T0)
    state.open_desk("2", T0)
    state.next("1", T0 + timedelta(minutes=1))
    state.next("2", T0 + timedelta(minutes=2))
    assert [c.number for c in state.calls] == [a2.number, a1.number]
    state.clear_changes()
    r = state.recall("1", T0 + timedelta(minutes=3))
    assert r is a1 and a1.recalls == 1 and a1.status == "called"
    assert a1.called_at == T0 + timedelta(minutes=3)
    assert a1.first_called_at == T0 + timedelta(minutes=1)
    assert [(c.number, c.desk, c.recall) for c in state.calls] == [
        (a1.number, "1", True),
        (a2.number, "2", False),
    ]
    assert state.events[-1].kind == "recalled"
    state.recall("1", T0 + timedelta(minutes=4))
    assert a1.recalls == 2
    assert [c.number for c in state.calls].count(a1.number) == 1


def test_called_list_keeps_the_newest_eight(state: SiteState) -> None:
    state.open_desk("1", T0)
    tickets = [issue(state, now=T0 + timedelta(seconds=i)) for i in range(10)]
    for i in range(10):
        state.next("1", T0 + timedelta(minutes=i + 1))
    assert [c.number for c in state.calls] == [t.number for t in reversed(tickets)][:8]


def test_noshow_only_while_calling(state: SiteState) -> None:
    a1 = issue(state)
    issue(state)
    state.open_desk("1", T0)
    state.next("1", T0)
    state.noshow("1", T0 + timedelta(minutes=2))
    assert a1.status == "noshow" and a1.finished_at == T0 + timedelta(minutes=2)
    assert state.desks["1"].status == "open" and state.desks["1"].ticket_id is None
    state.next("1", T0)
    state.start("1", T0)
    refused(state, "bad_state", state.noshow, "1", T0)


def test_next_with_current_and_nobody_waiting_finishes_it(state: SiteState) -> None:
    t = issue(state)
    state.open_desk("1", T0)
    state.next("1", T0 + timedelta(minutes=1))
    called, finished = state.next("1", T0 + timedelta(minutes=4))
    assert called is None and finished is t
    assert t.status == "served" and t.finished_at == T0 + timedelta(minutes=4)
    assert t.started_at == T0 + timedelta(minutes=1)  # no `start`: from the call
    assert state.desks["1"].status == "open"
    refused(state, "nothing_waiting", state.next, "1", T0 + timedelta(minutes=5))


def test_next_with_current_and_someone_waiting(state: SiteState) -> None:
    t1 = issue(state)
    t2 = issue(state, now=T0 + timedelta(seconds=1))
    state.open_desk("1", T0)
    state.next("1", T0)
    state.start("1", T0 + timedelta(minutes=1))
    state.clear_changes()
    called, finished = state.next("1", T0 + timedelta(minutes=7))
    assert (called, finished) == (t2, t1)
    assert t1.status == "served" and t1.started_at == T0 + timedelta(minutes=1)
    assert t2.status == "called" and t2.desk == "1"
    assert state.desks["1"].status == "calling" and state.desks["1"].ticket_id == t2.id
    assert [(e.kind, e.ticket_id) for e in state.events] == [("served", t1.id), ("called", t2.id)]
    assert state.events[0].detail == {"served_s": 360.0}


# -------------------------------------------------------------------- desk state machine

VERBS = ("next", "recall", "start", "finish", "noshow", "transfer", "open", "close")
STATES = ("closed", "open", "calling", "serving")

# state -> verb -> refusal code, or the desk status after success.
TABLE: dict[str, dict[str, tuple[str, str]]] = {
    "closed": {
        "next": ("err", "desk_closed"),
        "recall": ("err", "no_current_ticket"),
        "start": ("err", "no_current_ticket"),
        "finish": ("err", "no_current_ticket"),
        "noshow": ("err", "no_current_ticket"),
        "transfer": ("err", "no_current_ticket"),
        "open": ("ok", "open"),
        "close": ("ok", "closed"),
    },
    "open": {  # nobody waiting at this desk
        "next": ("err", "nothing_waiting"),
        "recall": ("err", "no_current_ticket"),
        "start": ("err", "no_current_ticket"),
        "finish": ("err", "no_current_ticket"),
        "noshow": ("err", "no_current_ticket"),
        "transfer": ("err", "no_current_ticket"),
        "open": ("ok", "open"),
        "close": ("ok", "closed"),
    },
    "calling": {
        "next": ("ok", "open"),  # finishes current, nobody else waiting
        "recall": ("ok", "calling"),
        "start": ("ok", "serving"),
        "finish": ("ok", "open"),
        "noshow": ("ok", "open"),
        "transfer": ("ok", "open"),
        "open": ("ok", "calling"),
        "close": ("err", "bad_state"),
    },
    "serving": {
        "next": ("ok", "open"),
        "recall": ("err", "bad_state"),
        "start": ("err", "bad_state"),
        "finish": ("ok", "open"),
        "noshow": ("err", "bad_state"),
        "transfer": ("ok", "open"),
        "open": ("ok", "serving"),
        "close": ("err", "bad_state"),
    },
}


def run_verb(state: SiteState, desk: str, verb: str, now: datetime) -> object:
    if verb == "transfer":
        return state.transfer(desk, "kela", now)
    if verb == "open":
        return state.open_desk(desk, now)
    if verb == "close":
        return state.close_desk(desk, now)
    return getattr(state, verb)(desk, now)


def desk_in(status: str) -> tuple[SiteState, Ticket]:
    """Desk 1 (municipality and tax) in `status`, with one ticket: called or serving at
    desk 1, waiting in municipality while the desk is closed, in kela while it is open."""
    state = SiteState(demo_site())
    # While open, someone waits, but in a queue desk 1 does not serve.
    t = issue(state, "kela-benefits" if status == "open" else "city-info")
    if status != "closed":
        state.open_desk("1", T0)
    if status in ("calling", "serving"):
        state.next("1", T0)
    if status == "serving":
        state.start("1", T0)
    assert state.desks["1"].status == status
    state.clear_changes()
    return state, t


@pytest.mark.parametrize(("status", "verb"), list(itertools.product(STATES, VERBS)))
def test_desk_state_machine(status: str, verb: str) -> None:
    state, t = desk_in(status)
    kind, expected = TABLE[status][verb]
    now = T0 + timedelta(minutes=3)
    if kind == "err":
        refused(state, expected, run_verb, state, "1", verb, now)
        return
    run_verb(state, "1", verb, now)
    rt = state.desks["1"]
    assert rt.status == expected
    if expected in ("calling", "serving"):
        assert rt.ticket_id == t.id and t.desk == "1"
        assert t.status == {"calling": "called", "serving": "serving"}[expected]
    else:
        assert rt.ticket_id is None
    if status in ("calling", "serving") and expected == "open":
        outcome = {"next": "served", "finish": "served", "noshow": "noshow"}
        assert t.status == outcome.get(verb, "waiting")
    if status == expected and verb in ("open", "close"):
        assert state.events == []  # already so: nothing to do, still ok


@pytest.mark.parametrize("verb", VERBS)
def test_unknown_desk(state: SiteState, verb: str) -> None:
    issue(state)
    err = refused(state, "unknown_desk", run_verb, state, "99", verb, T0)
    assert "99" in err.message["en"] and "99" in err.message["fi"]


def test_bad_state_names_the_state_in_each_language() -> None:
    state, _ = desk_in("serving")
    err = refused(state, "bad_state", state.recall, "1", T0)
    assert "palvelee" in err.message["fi"]
    assert "betjänar" in err.message["sv"]
    assert "serving" in err.message["en"]


def test_every_error_code_has_three_languages() -> None:
    for code, texts in MESSAGES.items():
        assert len(texts) == 3 and all(texts), code


def test_close_finishes_nothing_and_a_closed_desk_drops_from_the_eta(state: SiteState) -> None:
    issue(state)
    issue(state)
    state.open_desk("1", T0)
    state.open_desk("2", T0)
    assert state.open_desks_for("municipality") == 2
    state.close_desk("2", T0)
    assert state.open_desks_for("municipality") == 1
    assert state.desks["2"].status == "closed"
    assert all(t.status == "waiting" for t in state.tickets.values())


# ------------------------------------------------------------------------------------ ETA


def test_eta_baseline_people_ahead_times_mean_over_open_desks(state: SiteState) -> None:
    mean = demo_site().queues["municipality"].mean_service_min  # no history yet
    tickets = [issue(state, now=T0 + timedelta(seconds=i)) for i in range(5)]
    base = state.baseline_eta_min
    # No desk open: counted as one.
    assert [base("municipality", i, T0) for i in range(5)] == [
        math.ceil(i * mean) for i in range(5)
    ]
    state.open_desk("1", T0)
    state.open_desk("2", T0)
    state.open_desk("3", T0)  # desk 3 does not serve municipality
    assert state.open_desks_for("municipality") == 2
    assert [base("municipality", i, T0) for i in range(5)] == [
        math.ceil(i * mean / 2) for i in range(5)
    ]
    # The display shows the scheduler's estimate for a customer arriving now.
    later = T0 + timedelta(seconds=10)
    snap = state.display_snapshot(later)
    q = next(x for x in snap["queues"] if x["id"] == "municipality")
    assert q["waiting"] == 5 and q["eta_min"] == state.eta_min("municipality", 5, later)
    assert [state.ticket_eta(t, later) for t in tickets] == [
        state.eta_min("municipality", i, later) for i in range(5)
    ]


def test_eta_baseline_learns_from_three_served_tickets() -> None:
    state = SiteState(demo_site())
    default = demo_site().queues["municipality"].mean_service_min
    state.open_desk("1", T0)
    minutes = [2, 4, 9]
    now = T0
    for i, m in enumerate(minutes):
        issue(state, now=now)
        state.next("1", now)
        state.start("1", now)
        now += timedelta(minutes=m)
        state.finish("1", now)
        if i < 2:  # fewer than three: the configured default
            assert state.baseline_eta_min("municipality", 3, now) == math.ceil(3 * default)
    learnt = sum(minutes) / len(minutes)
    assert state.baseline_eta_min("municipality", 3, now) == math.ceil(3 * learnt)
    # Noshows and other queues do not count.
    issue(state, now=now)
    state.next("1", now)
    state.noshow("1", now + timedelta(minutes=30))
    assert state.baseline_eta_min("municipality", 3, now) == math.ceil(3 * learnt)
    tax_default = demo_site().queues["tax"].mean_service_min
    assert state.baseline_eta_min("tax", 3, now) == math.ceil(3 * tax_default)


def test_eta_is_zero_for_nobody_ahead_and_never_negative() -> None:
    assert eta_mod.baseline_eta_min(ahead=0, mean_service_min=10, open_desks=1) == 0
    assert eta_mod.baseline_eta_min(ahead=-3, mean_service_min=10, open_desks=1) == 0
    assert eta_mod.baseline_eta_min(ahead=3, mean_service_min=-10, open_desks=1) == 0
    assert eta_mod.baseline_eta_min(ahead=3, mean_service_min=10, open_desks=0) == 30
    assert eta_mod.baseline_eta_min(ahead=1, mean_service_min=0.1, open_desks=4) == 1


def test_eta_of_a_called_ticket_is_zero(state: SiteState) -> None:
    t = issue(state)
    state.open_desk("1", T0)
    state.next("1", T0)
    assert state.ticket_eta(t, T0) == 0 and state.position(t) == 0


def test_display_snapshot_shows_numbers_and_desk_labels() -> None:
    site = dataclasses.replace(
        demo_site(),
        desks={**demo_site().desks, "1": DeskDef(id="1", queues=("municipality",), name="Tiski 1")},
    )
    state = SiteState(site)
    t = issue(state)
    state.open_desk("1", T0)
    state.next("1", T0)
    snap = state.display_snapshot(T0)
    assert snap["open"] is True
    assert snap["called"] == [{"number": t.number, "desk": "Tiski 1", "at": T0, "recall": False}]
    assert state.desk_state("1") == {"status": "calling", "ticket": t.number, "waiting": 0}


# ----------------------------------------------------------------------------- call (chosen)


def test_call_a_chosen_ticket_finishes_the_current_one_and_skips_the_order() -> None:
    st = SiteState(two_queue_site())
    first = issue(st, "sa")
    second = issue(st, "sb", T0 + timedelta(minutes=1))
    st.open_desk("1", T0)
    assert [t.number for t in st.callable_at("1", T0)] == [first.number, second.number]
    got, finished = st.call("1", second.number, T0 + timedelta(minutes=2))
    assert got is second and finished is None and second.status == "called"
    assert st.desks["1"].ticket_id == second.id
    # The next chosen call finishes the current customer as served, as `next` does.
    got, finished = st.call("1", first.number, T0 + timedelta(minutes=5))
    assert got is first and finished is second and second.status == "served"
    assert st.callable_at("1", T0) == []


def test_call_refuses_a_ticket_the_desk_does_not_serve_and_changes_nothing() -> None:
    st = SiteState(two_queue_site())
    a = issue(st, "sa")
    st.open_desk("2", T0)  # desk 2 serves only queue b
    st.clear_changes()
    err = refused(st, "ticket_not_waiting", st.call, "2", a.number, T0)
    assert a.number in err.message["en"]
    refused(st, "ticket_not_waiting", st.call, "2", "B999", T0)
    refused(st, "desk_closed", st.call, "1", a.number, T0)
