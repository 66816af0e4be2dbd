"""The mobile ticket page's hub (scheduler/web/tickets.py): views from a SiteState, and
views crossing from the worker thread to an asyncio loop."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.config import DEMO_SITE, load_config
from scheduler.domain.model import SiteState, Ticket
from scheduler.service import Scheduler
from scheduler.web import ticket_i18n as i18n
from scheduler.web.tickets import _CLOSED, HubClosed, TicketHub, ticket_view

HEL = ZoneInfo("Europe/Helsinki")
T0 = datetime(2024, 1, 15, 10, 0, tzinfo=HEL).astimezone(UTC)  # a Monday, 10:00
SITE = "demo"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make() -> tuple[Scheduler, SiteState, Clock]:
    defs = load_config(DEMO_SITE).site_defs()
    clock = Clock()
    sched = Scheduler(defs, store=None, clock=clock)  # type: ignore[arg-type]
    st = SiteState(defs[SITE])
    sched.states = {SITE: st}
    return sched, st, clock


_n = iter(range(1, 10_000))


def issue(st: SiteState, service: str = "city-info", lang: str = "fi") -> Ticket:
    n = next(_n)
    return st.issue_ticket(
        service_id=service,
        lang=lang,
        priority=False,
        now=T0,
        ticket_id=f"t{n}",
        token=f"token-{n:04d}-abcdefgh",
    )


# ---------------------------------------------------------------------------- views


def test_view_follows_the_ticket_through_its_states() -> None:
    sched, st, _ = make()
    first, mine = issue(st), issue(st, lang="sv")
    at = "2024-01-15T08:00:00Z"

    v = ticket_view(sched, st, mine, at)
    info = sched.ticket_info(st, mine, T0)
    assert v["status"] == "waiting" and v["number"] == mine.number
    assert v["position"] == info["position"] == 1
    assert v["eta_min"] == info["eta_min"]  # the scheduler's estimate, not recomputed
    assert v["service"]["sv"] == "Stadens rådgivning" and v["lang"] == "sv"
    assert v["site"]["en"] == "Demola Service Point" and v["desk"] is None

    st.open_desk("1", T0)
    st.next("1", T0)  # calls `first`
    assert ticket_view(sched, st, mine, at)["position"] == 0
    st.finish("1", T0)
    st.next("1", T0 + timedelta(minutes=1))  # calls `mine`
    v = ticket_view(sched, st, mine, at)
    assert v["status"] == "called" and v["desk"] == "1" and v["recalls"] == 0
    assert v["called_at"] == "2024-01-15T08:01:00.000Z"
    st.recall("1", T0 + timedelta(minutes=2))
    assert ticket_view(sched, st, mine, at)["recalls"] == 1
    st.start("1", T0 + timedelta(minutes=3))
    assert ticket_view(sched, st, mine, at)["status"] == "serving"
    st.finish("1", T0 + timedelta(minutes=4))
    v = ticket_view(sched, st, mine, at)
    assert v["status"] == "done" and v["desk"] is None
    assert ticket_view(sched, st, first, at)["status"] == "done"


def test_noshow_view() -> None:
    sched, st, _ = make()
    tk = issue(st)
    st.open_desk("1", T0)
    st.next("1", T0)
    st.noshow("1", T0)
    assert ticket_view(sched, st, tk, "x")["status"] == "noshow"


def test_render_in_three_languages() -> None:
    base = {
        "number": "A012",
        "status": "waiting",
        "position": 3,
        "eta_min": 12,
        "service": {"fi": "Kela", "sv": "FPA", "en": "Kela"},
        "site": {"fi": "Demola", "sv": "Demola", "en": "Demola"},
        "timezone": "Europe/Helsinki",
        "updated_at": "2024-01-15T08:05:00Z",
        "recalls": 0,
    }
    assert i18n.render(base, "fi")["head"] == "Edelläsi 3 asiakasta"
    assert i18n.render(base, "sv")["detail"] == "Beräknad väntetid cirka 12 min"
    assert i18n.render({**base, "position": 1}, "en")["head"] == "1 person ahead of you"
    assert i18n.render(base, "en")["updated"] == "Updated 10:05"
    assert i18n.render(base, "fi")["updated"] == "Päivitetty klo 10.05"
    called = {**base, "status": "called", "desk": "3", "called_at": base["updated_at"]}
    t = i18n.render({**called, "recalls": 1}, "en")
    assert (t["desk_label"], t["desk"], t["recall"]) == ("Go to desk", "3", "Called again")
    assert i18n.render(called, "sv")["recall"] == ""
    for lang in i18n.LANGS:
        for status in ("serving", "done", "noshow", "gone"):
            assert i18n.render({**base, "status": status, "desk": "2"}, lang)["head"]
    assert all(set(v) == set(i18n.LANGS) for v in i18n.T.values())


# ---------------------------------------------------------------------------- threads


class Worker:
    """The scheduler's worker thread in miniature: runs jobs and pumps the hub."""

    def __init__(self, hub: TicketHub, sched: Scheduler) -> None:
        self.hub, self.sched = hub, sched
        self.jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.hub.pump(self.sched)
            try:
                self.jobs.get(timeout=0.02)()
            except queue.Empty:
                pass

    def run(self, job: Callable[[], Any]) -> None:
        """Run `job` on the worker thread and wait for it."""
        done = threading.Event()

        def wrapped() -> None:
            try:
                job()
            finally:
                done.set()

        self.jobs.put(wrapped)
        assert done.wait(5)


@pytest.fixture
def world() -> Iterator[tuple[TicketHub, Scheduler, SiteState, Worker]]:
    sched, st, _ = make()
    hub = TicketHub()
    sched.after_batch = hub.after_batch
    w = Worker(hub, sched)
    yield hub, sched, st, w
    w.stop.set()
    w.thread.join(2)


async def _next(q: asyncio.Queue[Any], timeout: float = 3.0) -> Any:
    return await asyncio.wait_for(q.get(), timeout)


def test_lookup_answers_from_the_worker_thread(world: Any) -> None:
    hub, _sched, st, worker = world
    box: dict[str, Ticket] = {}
    worker.run(lambda: box.update(tk=issue(st)))
    token = box["tk"].token

    async def main() -> None:
        view = await hub.lookup(token)
        assert view is not None and view["number"] == box["tk"].number
        assert await hub.lookup("unknown-token-abcdefgh") is None
        assert await hub.lookup("bad token!") is None
        # A ticket issued after the index was built is found too.
        worker.run(lambda: box.update(tk2=issue(st)))
        later = await hub.lookup(box["tk2"].token)
        assert later is not None and later["position"] == 1

    asyncio.run(main())


def test_watchers_get_changes_across_threads(world: Any) -> None:
    hub, sched, st, worker = world
    box: dict[str, Ticket] = {}

    def setup() -> None:
        box["a"], box["b"] = issue(st), issue(st, lang="en")
        st.open_desk("2", T0)

    worker.run(setup)
    token = box["b"].token

    async def main() -> None:
        w1, w2 = hub.watch(token), hub.watch(token)
        first = await _next(w1.queue)
        assert first["status"] == "waiting" and first["position"] == 1
        assert (await _next(w2.queue))["position"] == 1
        assert hub.watching() == 2

        # A batch that changes nothing for this ticket's view pushes nothing.
        worker.run(lambda: sched.after_batch(sched, {SITE}))
        # The ticket ahead is called: position 0; then this one: called at desk 2.
        worker.run(lambda: (st.next("2", T0), sched.after_batch(sched, {SITE})))
        v = await _next(w1.queue)
        assert v["status"] == "waiting" and v["position"] == 0
        assert (await _next(w2.queue))["position"] == 0
        hub.unwatch(w2)

        def call_b() -> None:
            st.finish("2", T0)
            st.next("2", T0)
            sched.after_batch(sched, {SITE})

        worker.run(call_b)
        v = await _next(w1.queue)
        assert v["status"] == "called" and v["desk"] == "2"
        assert w2.queue.empty()
        # Another site's batch is not this ticket's business.
        worker.run(lambda: (st.recall("2", T0), sched.after_batch(sched, {"elsewhere"})))
        worker.run(lambda: sched.after_batch(sched, {SITE}))
        assert (await _next(w1.queue))["recalls"] == 1
        assert w1.queue.empty()

        # Unknown token: None first.
        w3 = hub.watch("unknown-token-abcdefgh")
        assert await _next(w3.queue) is None
        hub.unwatch(w3)

        hub.close()
        assert await _next(w1.queue) is _CLOSED
        with pytest.raises(HubClosed):
            hub.watch(token)
        with pytest.raises(HubClosed):
            await hub.lookup(token)
        hub.unwatch(w1)
        assert hub.watching() == 0

    asyncio.run(main())


def test_forgotten_ticket_is_gone(world: Any) -> None:
    hub, sched, st, worker = world
    box: dict[str, Ticket] = {}

    def setup() -> None:
        box["a"] = issue(st)
        st.open_desk("1", T0)
        st.next("1", T0)
        st.finish("1", T0)

    worker.run(setup)

    async def main() -> None:
        w = hub.watch(box["a"].token)
        assert (await _next(w.queue))["status"] == "done"
        worker.run(lambda: (st.forget_before(date(2100, 1, 1)), sched.after_batch(sched, {SITE})))
        v = await _next(w.queue)
        assert v["status"] == "gone" and v["number"] == box["a"].number
        hub.unwatch(w)
        assert await hub.lookup(box["a"].token) is None

    asyncio.run(main())


def test_scheduler_calls_the_hook_after_each_tick() -> None:
    sched, _st, _ = make()
    seen: list[set[str]] = []

    class NoStore:
        def save_display_seq(self, site: str, seq: int) -> None:
            pass

    sched.store = NoStore()  # type: ignore[assignment]
    sched.after_batch = lambda s, sites: seen.append(sites)
    sched.tick()
    assert seen == [{SITE}]

    def broken(s: Scheduler, sites: set[str]) -> None:
        raise RuntimeError("a bug in the hook")

    sched.after_batch = broken
    sched.tick()  # logged, not raised: the tick's own work stands
