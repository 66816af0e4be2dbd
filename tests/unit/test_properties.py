"""Property tests: random command sequences against the demo site keep the domain sane.

A hypothesis state machine drives every kiosk and desk command (valid or not) at random
desks while the clock moves on, across local midnight and the DST changes, and checks
after every step: no two live tickets share a number, no ticket is called at two desks,
desks and tickets agree, every ticket's and desk's event history is a valid sequence, a
refused command changes nothing, and numbers follow rule 1 (per queue, from 1 each local
day, skipping live numbers).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from scheduler.config import DEMO_SITE, load_config
from scheduler.domain import eta as eta_mod
from scheduler.domain.errors import DomainError
from scheduler.domain.model import LIVE, NUMBERS_PER_QUEUE, SiteDef, SiteState, Ticket
from scheduler.domain.policy import pick_next, queue_order

DEMO: SiteDef = load_config(DEMO_SITE).site_defs()["demo"]
HEL = ZoneInfo("Europe/Helsinki")
QUEUES = sorted(DEMO.queues)
DESKS = sorted(DEMO.desks)
SERVICES = sorted(DEMO.services)
VERBS = ("next", "recall", "start", "finish", "noshow", "open", "close")
# Mostly real names (desk 1 most often, so one desk goes through many states), now and
# then a wrong one.
ANY_DESK = st.sampled_from(["1"] * 6 + ["2"] * 3 + ["3"] * 2 + ["4"] * 2 + ["99"])
ANY_VERB = st.sampled_from([*VERBS, "start", "recall", "noshow"])
ANY_QUEUE = st.sampled_from([*QUEUES] * 3 + ["nope"])
WALK_IN = sorted(s.id for s in DEMO.services.values() if s.walk_in)
ANY_SERVICE = st.sampled_from([*SERVICES] * 3 + ["no-such-service"])

STARTS = [
    datetime(2024, 1, 15, 8, 50, tzinfo=HEL),  # Monday, before the passport window opens
    datetime(2024, 1, 19, 23, 40, tzinfo=HEL),  # Friday night: midnight into the weekend
    datetime(2024, 3, 30, 23, 30, tzinfo=HEL),  # midnight, then clocks go forward at 3:00
    datetime(2024, 10, 26, 23, 30, tzinfo=HEL),  # midnight, then clocks go back at 4:00
    datetime(2024, 12, 31, 22, 0, tzinfo=HEL),  # new year
]

# ticket event -> (statuses it may follow, status after it)
TICKET_STEPS: dict[str, tuple[set[str | None], str]] = {
    "issued": ({None}, "waiting"),
    "called": ({"waiting"}, "called"),
    "recalled": ({"called"}, "called"),
    "started": ({"called"}, "serving"),
    "served": ({"called", "serving"}, "served"),
    "noshow": ({"called"}, "noshow"),
    "transferred": ({"called", "serving"}, "waiting"),
}
# event -> (desk statuses it may follow, desk status after it)
DESK_STEPS: dict[str, tuple[set[str], str]] = {
    "opened": ({"closed"}, "open"),
    "closed": ({"open"}, "closed"),
    "called": ({"open", "calling", "serving"}, "calling"),  # `next` may finish first
    "recalled": ({"calling"}, "calling"),
    "started": ({"calling"}, "serving"),
    "served": ({"calling", "serving"}, "open"),
    "noshow": ({"calling"}, "open"),
    "transferred": ({"calling", "serving"}, "open"),
}

ISSUE_CODES = {"unknown_service", "queue_closed", "queue_full"}
DESK_CODES = {
    "unknown_desk",
    "desk_closed",
    "nothing_waiting",
    "no_current_ticket",
    "bad_state",
    "unknown_queue",
}
NUMBER_RE = re.compile(r"^([A-Z])(\d{3})$")


def snapshot(state: SiteState) -> dict[str, Any]:
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


class SiteMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state: SiteState
        self.now: datetime
        self.seq = 0
        self.ticket_status: dict[str, str] = {}  # replayed from the events
        self.desk_status: dict[str, str] = {d: "closed" for d in DESKS}
        self.identity: dict[str, tuple[str, bool, datetime, str]] = {}

    # ------------------------------------------------------------------ set-up and clock

    @initialize(
        start=st.sampled_from(STARTS),
        counters=st.dictionaries(st.sampled_from(QUEUES), st.integers(0, NUMBERS_PER_QUEUE)),
        stale=st.booleans(),
        max_waiting=st.none() | st.integers(1, 6),
        customers=st.lists(st.tuples(st.sampled_from(WALK_IN), st.booleans()), max_size=8),
        desk_states=st.dictionaries(
            st.sampled_from(DESKS), st.sampled_from(["open", "calling", "serving"])
        ),
    )
    def setup(
        self,
        start: datetime,
        counters: dict[str, int],
        stale: bool,
        max_waiting: int | None,
        customers: list[tuple[str, bool]],
        desk_states: dict[str, str],
    ) -> None:
        site = DEMO
        if max_waiting is not None:
            q = dataclasses.replace(DEMO.queues["municipality"], max_waiting=max_waiting)
            site = dataclasses.replace(DEMO, queues={**DEMO.queues, "municipality": q})
        self.now = start.astimezone(UTC)
        # Counters left near the wrap, from today or (stale) from an earlier day.
        day = start.date() - timedelta(days=1 if stale else 0)
        self.state = SiteState(site, counters={q: (day, n) for q, n in counters.items()})
        self._collect()
        # A lobby already busy: some customers waiting, desks open, calling or serving.
        for service, priority in customers:
            self.issue(service, "fi", priority)
        for desk, status in sorted(desk_states.items()):
            self.desk_command("open", desk)
            if status in ("calling", "serving"):
                self.desk_command("next", desk)
            if status == "serving":
                self.desk_command("start", desk)

    @rule(seconds=st.integers(0, 90) | st.integers(0, 3 * 3600))
    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    # ------------------------------------------------------------------ commands

    def _run(self, codes: set[str], fn: Any, *args: Any) -> tuple[Any, DomainError | None]:
        before = snapshot(self.state)
        try:
            result = fn(*args)
        except DomainError as err:
            event(f"refused: {err.code}")
            assert err.code in codes, err
            assert snapshot(self.state) == before, f"refused {err.code} changed the state"
            msg = err.message
            assert set(msg) == {"fi", "sv", "en"} and all(msg.values())
            return None, err
        self._collect()
        return result, None

    @rule(
        service=ANY_SERVICE,
        lang=st.sampled_from(["fi", "sv", "en"]),
        priority=st.booleans(),
    )
    def issue(self, service: str, lang: str, priority: bool) -> None:
        self.seq += 1
        tid = f"t{self.seq}"
        st_ = self.state
        svc = st_.site.services.get(service)
        today = st_.today(self.now)
        live_before = {t.number for t in st_.tickets.values() if t.live}
        counter_before = st_.counters.get(svc.queue) if svc else None
        ticket, err = self._run(
            ISSUE_CODES,
            lambda: st_.issue_ticket(
                service_id=service,
                lang=lang,
                priority=priority,
                now=self.now,
                ticket_id=tid,
                token=f"tok{self.seq}",
            ),
        )
        if err is not None:
            if err.code == "unknown_service":
                assert svc is None
            elif err.code == "queue_closed":
                assert svc is not None and not st_.service_open(svc, self.now)
            return
        assert svc is not None and st_.service_open(svc, self.now)
        q = st_.site.queues[svc.queue]
        assert ticket.day == today
        assert ticket.queue == q.id and ticket.priority == priority
        # Rule 1: the next number of the queue today, from 1 on a new local day,
        # wrapping after 999 and skipping numbers still live and the kiosks' offline
        # ranges (which only the kiosks hand out).
        reserved = {
            k
            for d in st_.site.devices.values()
            if d.offline_numbers
            for k in range(d.offline_numbers[0], d.offline_numbers[1] + 1)
        }
        last = counter_before[1] if counter_before and counter_before[0] == today else 0
        n = last
        while True:
            n = n % NUMBERS_PER_QUEUE + 1
            if n not in reserved and f"{q.prefix}{n:03d}" not in live_before:
                break
        assert ticket.number == f"{q.prefix}{n:03d}"
        if n <= last:
            event("numbers wrapped")
        if n != last % NUMBERS_PER_QUEUE + 1:
            event("skipped a live or reserved number")
        if last == 0 and counter_before is not None:
            event("numbers restarted on a new day")
        assert st_.counters[q.id] == (today, n)
        self.identity[tid] = (ticket.number, priority, self.now, q.prefix)

    @rule(desk=ANY_DESK)
    def next_customer(self, desk: str) -> None:
        self.desk_command("next", desk)

    @rule(verb=ANY_VERB, desk=ANY_DESK)
    def desk_command(self, verb: str, desk: str) -> None:
        st_ = self.state
        status = st_.desks[desk].status if desk in st_.desks else None
        cur = st_.current(desk) if desk in st_.desks else None
        dd = st_.site.desks.get(desk)
        waiting = st_.waiting_in(dd.queues) if dd else []
        fn = {
            "open": st_.open_desk,
            "close": st_.close_desk,
        }.get(verb) or getattr(st_, verb)
        result, err = self._run(DESK_CODES - {"unknown_queue"}, fn, desk, self.now)
        if err is not None:
            self._check_refusal(err.code, verb, desk, status, cur, waiting)
            return
        assert desk in st_.desks
        # What succeeded fitted the desk's state (PROTOCOL.md's desk states).
        fits = {
            "next": status != "closed",
            "recall": status == "calling",
            "start": status == "calling",
            "noshow": status == "calling",
            "finish": status in ("calling", "serving"),
            "open": True,
            "close": status in ("open", "closed"),
        }
        assert fits[verb], (verb, status)
        if verb == "next":
            called, finished = result
            assert finished is cur
            if called is not None:
                assert called in waiting
                # Rule 2: a priority ticket goes ahead of every non-priority one.
                assert called.priority or not any(t.priority for t in waiting)
                assert st_.desks[desk].status == "calling"
            else:
                assert not waiting and st_.desks[desk].status == "open"

    @rule(desk=ANY_DESK, queue=ANY_QUEUE)
    def transfer(self, desk: str, queue: str) -> None:
        st_ = self.state
        status = st_.desks[desk].status if desk in st_.desks else None
        cur = st_.current(desk) if desk in st_.desks else None
        moved, err = self._run(DESK_CODES, st_.transfer, desk, queue, self.now)
        if err is not None:
            if err.code == "unknown_queue":
                assert cur is not None and queue not in st_.site.queues
            else:
                self._check_refusal(err.code, "transfer", desk, status, cur, [])
            return
        assert status in ("calling", "serving")
        assert moved is cur and moved.queue == queue and moved.status == "waiting"
        assert st_.desks[desk].status == "open"

    @precondition(lambda self: any(rt.ticket_id for rt in self.state.desks.values()))
    @rule(data=st.data(), verb=st.sampled_from([*VERBS, "transfer"]))
    def busy_desk(self, data: st.DataObject, verb: str) -> None:
        """Any command at a desk that is calling or serving (the states with most rules)."""
        busy = sorted(d for d, rt in self.state.desks.items() if rt.ticket_id)
        desk = data.draw(st.sampled_from(busy), label="desk")
        if verb == "transfer":
            self.transfer(desk, data.draw(ANY_QUEUE, label="queue"))
        else:
            self.desk_command(verb, desk)

    @precondition(lambda self: any(rt.status == "serving" for rt in self.state.desks.values()))
    @rule(data=st.data(), verb=st.sampled_from([*VERBS, "transfer"]))
    def serving_desk(self, data: st.DataObject, verb: str) -> None:
        """Any command at a desk that is serving (most refusals with a ticket are here)."""
        serving = sorted(d for d, rt in self.state.desks.items() if rt.status == "serving")
        desk = data.draw(st.sampled_from(serving), label="desk")
        if verb == "transfer":
            self.transfer(desk, data.draw(ANY_QUEUE, label="queue"))
        else:
            self.desk_command(verb, desk)

    @rule(days=st.integers(1, 3))
    def forget_old(self, days: int) -> None:
        """The store drops finished tickets of earlier days from memory."""
        gone = self.state.forget_before(self.state.today(self.now) - timedelta(days=days - 1))
        for tid in gone:
            assert self.ticket_status.pop(tid) in ("served", "noshow")
            self.identity.pop(tid)

    def _check_refusal(
        self,
        code: str,
        verb: str,
        desk: str,
        status: str | None,
        cur: Ticket | None,
        waiting: list[Ticket],
    ) -> None:
        if code == "unknown_desk":
            assert status is None
            return
        assert status is not None
        expected = {
            "desk_closed": verb == "next" and status == "closed",
            "nothing_waiting": verb == "next" and status != "closed" and not cur and not waiting,
            "no_current_ticket": cur is None
            and verb in ("recall", "start", "finish", "noshow", "transfer"),
            "bad_state": (verb == "close" and status in ("calling", "serving"))
            or (verb in ("recall", "start", "noshow") and status == "serving"),
        }
        assert expected[code], (code, verb, status, cur)

    # ------------------------------------------------------------------ event histories

    def _collect(self) -> None:
        for ev in self.state.events:
            event(f"event: {ev.kind}")
            assert ev.at == self.now
            if ev.ticket_id is not None:
                before = self.ticket_status.get(ev.ticket_id)
                allowed, after = TICKET_STEPS[ev.kind]
                assert before in allowed, f"{ev.kind} after {before} for {ev.ticket_id}"
                self.ticket_status[ev.ticket_id] = after
            if ev.desk is not None:
                before_d = self.desk_status[ev.desk]
                allowed_d, after_d = DESK_STEPS[ev.kind]
                assert before_d in allowed_d, f"{ev.kind} at desk {ev.desk} while {before_d}"
                self.desk_status[ev.desk] = after_d
            else:
                assert ev.kind == "issued"
        self.state.clear_changes()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def live_numbers_are_unique(self) -> None:
        live = [t.number for t in self.state.tickets.values() if t.status in LIVE]
        assert len(live) == len(set(live)), sorted(live)

    @invariant()
    def desks_and_tickets_agree(self) -> None:
        st_ = self.state
        holders: dict[str, list[str]] = {}
        for desk, rt in st_.desks.items():
            if rt.ticket_id is not None:
                holders.setdefault(rt.ticket_id, []).append(desk)
                t = st_.tickets[rt.ticket_id]
                assert t.desk == desk
                assert (rt.status, t.status) in (("calling", "called"), ("serving", "serving"))
            else:
                assert rt.status in ("open", "closed")
        for tid, desks in holders.items():
            assert len(desks) == 1, f"{tid} is current at desks {desks}"
        for t in st_.tickets.values():
            if t.status in ("called", "serving"):
                assert holders.get(t.id) == [t.desk]
            else:
                assert t.id not in holders
            if t.status == "waiting":
                assert t.desk is None and t.called_at is None and t.started_at is None
            if t.status in ("served", "noshow"):
                assert t.finished_at is not None

    @invariant()
    def histories_match_the_state(self) -> None:
        st_ = self.state
        assert self.ticket_status == {tid: t.status for tid, t in st_.tickets.items()}
        assert self.desk_status == {d: rt.status for d, rt in st_.desks.items()}
        assert st_.events == [] and not st_.dirty_tickets

    @invariant()
    def tickets_keep_number_priority_and_arrival(self) -> None:
        for tid, t in self.state.tickets.items():
            number, priority, arrival, prefix = self.identity[tid]
            assert (t.number, t.priority, t.arrival_at) == (number, priority, arrival)
            m = NUMBER_RE.match(t.number)
            assert m and m.group(1) == prefix and 1 <= int(m.group(2)) <= NUMBERS_PER_QUEUE
            assert t.queue in self.state.site.queues

    @invariant()
    def queries_agree_with_the_tickets(self) -> None:
        """Counts, positions and estimates match a plain scan of the tickets (the
        aggregate may keep indexes; they must never drift from the tickets)."""
        st_ = self.state
        waiting = {
            q: queue_order(
                t for t in st_.tickets.values() if t.status == "waiting" and t.queue == q
            )
            for q in QUEUES
        }
        for q, ordered in waiting.items():
            for i, t in enumerate(ordered):
                assert st_.position(t) == i
            served = [t for t in st_.tickets.values() if t.queue == q and t.status == "served"]
            mean = eta_mod.mean_service_min(served, st_.site.queues[q].mean_service_min)
            expected = eta_mod.baseline_eta_min(
                ahead=len(ordered), mean_service_min=mean, open_desks=st_.open_desks_for(q)
            )
            assert st_.baseline_eta_min(q, len(ordered), self.now) == expected
        for d, dd in st_.site.desks.items():
            assert st_.desk_waiting(d) == sum(len(waiting[q]) for q in dd.queues)
            assert {t.id for t in st_.waiting_in(dd.queues)} == {
                t.id for q in dd.queues for t in waiting[q]
            }
        shown = {q["id"]: q["waiting"] for q in st_.display_snapshot(self.now)["queues"]}
        assert shown == {q: len(ts) for q, ts in waiting.items()}

    @invariant()
    def called_list_is_short_and_unique(self) -> None:
        numbers = [c.number for c in self.state.calls]
        assert len(numbers) <= 8 and len(numbers) == len(set(numbers))

    @invariant()
    def estimates_are_whole_and_not_negative(self) -> None:
        st_ = self.state
        for t in st_.tickets.values():
            if t.status == "waiting":
                assert st_.ticket_eta(t, self.now) >= 0
        for q in st_.display_snapshot(self.now)["queues"]:
            assert isinstance(q["eta_min"], int) and q["eta_min"] >= 0

    @invariant()
    def fast_pick_is_the_reference_pick(self) -> None:
        st_ = self.state
        for d in DESKS:
            qs = st_.site.desks[d].queues
            fast = pick_next(st_._queue_heads(qs), st_.site.queues, self.now)
            assert fast is pick_next(st_.waiting_in(qs), st_.site.queues, self.now)


SiteMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSiteMachine = SiteMachine.TestCase


# ---------------------------------------------------------------------------- pick_next


T_BASE = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
PICK_QUEUES = ("a", "b", "c", "d")


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    queue_params=st.lists(
        st.tuples(st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0]), st.sampled_from([0, 1, 5, 15, 30])),
        min_size=len(PICK_QUEUES),
        max_size=len(PICK_QUEUES),
    ),
    # (queue, priority, arrival in minutes from T_BASE: repeats, and some after `now`)
    tickets=st.lists(
        st.tuples(st.sampled_from(PICK_QUEUES), st.booleans(), st.integers(-5, 60)),
        max_size=40,
    ),
    served=st.sets(st.integers(0, 39)),
    now_min=st.integers(0, 70),
    desk_queues=st.lists(st.sampled_from(PICK_QUEUES), min_size=1, max_size=4),
)
def test_fast_pick_matches_the_reference(
    queue_params: list[tuple[float, int]],
    tickets: list[tuple[str, bool, int]],
    served: set[int],
    now_min: int,
    desk_queues: list[str],
) -> None:
    """`next` looks only at each queue's head (`SiteState._queue_heads`); on random queues
    (weights, targets), priorities and arrivals it calls whom `pick_next` over every
    waiting ticket calls."""
    queues = {
        q: dataclasses.replace(
            next(iter(DEMO.queues.values())), id=q, prefix=q.upper(), weight=w, sl_target_min=sl
        )
        for q, (w, sl) in zip(PICK_QUEUES, queue_params, strict=True)
    }
    site = dataclasses.replace(DEMO, queues=queues)
    made = [
        Ticket(
            id=f"t{i}",
            token=f"k{i}",
            day=T_BASE.date(),
            queue=q,
            number=f"{q.upper()}{i:03d}",
            service="s",
            priority=prio,
            lang="fi",
            arrival_at=T_BASE + timedelta(minutes=m),
            issued_at=T_BASE + timedelta(minutes=m),
            status="served" if i in served else "waiting",
        )
        for i, (q, prio, m) in enumerate(tickets)
    ]
    state = SiteState(site, tickets=made)
    now = T_BASE + timedelta(minutes=now_min)
    reference = pick_next(state.waiting_in(desk_queues), site.queues, now)
    assert pick_next(state._queue_heads(desk_queues), site.queues, now) is reference
    # And after the index has seen changes: the reference's ticket called, one sent on.
    if reference is not None:
        reference.status = "called"
        state._waiting[reference.queue].pop(reference.id)
    again = pick_next(state.waiting_in(desk_queues), site.queues, now)
    assert pick_next(state._queue_heads(desk_queues), site.queues, now) is again
