"""The waiting-time estimator (scheduler/domain/eta.py) and the day simulator
(bench/simulate.py) on the real domain. The full three-kind run is the benchmark
(`vuoro bench simulate`); here one short seeded day of each kind."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bench.simulate import simulate
from scheduler.domain import eta as eta_mod
from scheduler.domain.model import DeskDef, QueueDef, ServiceDef, SiteDef, SiteState

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def names(text: str) -> dict[str, str]:
    return {"fi": text, "sv": text, "en": text}


def site() -> SiteDef:
    """Two queues: A (10 min) at desks 1 and 2, B (20 min, target 5 min) at desk 2."""
    return SiteDef(
        id="t",
        name=names("t"),
        queues={
            "a": QueueDef("a", "A", names("a"), mean_service_min=10),
            "b": QueueDef("b", "B", names("b"), mean_service_min=20, sl_target_min=5),
        },
        services={q: ServiceDef(q, names(q), q, q) for q in ("a", "b")},
        desks={"1": DeskDef("1", ("a",)), "2": DeskDef("2", ("a", "b"))},
    )


class Issue:
    def __init__(self, st: SiteState) -> None:
        self.st, self.n = st, 0

    def __call__(self, q: str, now: datetime):
        self.n += 1
        return self.st.issue_ticket(
            service_id=q,
            lang="fi",
            priority=False,
            now=now,
            ticket_id=f"x{self.n}",
            token=f"tok{self.n}",
        )


def test_a_free_desk_means_no_wait_and_a_busy_one_its_remaining_time() -> None:
    st = SiteState(site())
    issue = Issue(st)
    st.open_desk("1", T0)
    t = issue("a", T0)
    assert st.ticket_eta(t, T0) == 0  # desk 1 is free
    st.next("1", T0)
    st.start("1", T0)
    now = T0 + timedelta(minutes=4)
    t2 = issue("a", now)
    # Desk 1's customer has had 4 of the 10 configured minutes: 6 left.
    assert st.ticket_eta(t2, now) == 6
    # The baseline says 10 (one person ahead? no: nobody waits ahead, so 0).
    assert st.baseline_eta_min("a", 0, now) == 0


def test_shared_desks_and_the_weighted_policy_are_played_forward() -> None:
    st = SiteState(site())
    issue = Issue(st)
    st.open_desk("1", T0)
    st.open_desk("2", T0)
    a1, a2 = issue("a", T0), issue("a", T0 + timedelta(seconds=1))
    st.next("1", T0 + timedelta(seconds=2))  # a1 at desk 1
    st.next("2", T0 + timedelta(seconds=2))  # a2 at desk 2
    now = T0 + timedelta(seconds=3)
    b = issue("b", now)
    a3 = issue("a", now + timedelta(seconds=1))
    now += timedelta(seconds=2)
    # Both desks end at ~+10 min: desk 1 (a only) takes a3, desk 2 the longest wait: b.
    assert st.ticket_eta(b, now) == 10
    assert st.ticket_eta(a3, now) == 10
    # The queue-length baseline: nobody ahead of either in its own queue.
    assert st.baseline_eta_min("b", 0, now) == 0
    assert (a1.status, a2.status) == ("called", "called")


def test_the_estimate_never_goes_below_what_the_people_ahead_take() -> None:
    st = SiteState(site())
    issue = Issue(st)
    st.open_desk("2", T0)
    tickets = [issue("a", T0 + timedelta(seconds=i)) for i in range(6)]
    now = T0 + timedelta(minutes=1)
    etas = [st.ticket_eta(t, now) for t in tickets]
    assert etas == sorted(etas) and etas[0] == 0
    for i, e in enumerate(etas):
        assert e >= 0
        assert e >= int(i * eta_mod.LOWER_SHARE * 10)  # one desk, 10 min each
    # Closing the only desk: a break, the desk is expected back after BREAK_MIN (then
    # three people ahead, 10 min each); not back after BREAK_WAIT breaks: no desk serves
    # the queue, the baseline is shown.
    st.close_desk("2", now)
    later = now + timedelta(minutes=1)
    assert st.ticket_eta(tickets[3], later) == 29 + 30
    gone = now + timedelta(minutes=eta_mod.BREAK_WAIT * eta_mod.BREAK_MIN + 1)
    assert st.ticket_eta(tickets[3], gone) == st.baseline_eta_min("a", 3, gone)


def test_a_desk_on_a_break_is_expected_back_after_the_breaks_learnt_today() -> None:
    st = SiteState(site())
    issue = Issue(st)
    st.open_desk("1", T0)
    st.close_desk("1", T0 + timedelta(minutes=60))
    st.open_desk("1", T0 + timedelta(minutes=80))  # a 20-minute break learnt
    st.close_desk("1", T0 + timedelta(minutes=90))
    t = issue("a", T0 + timedelta(minutes=95))
    # desk 2 is closed and never was open: not expected; desk 1 back at 110
    assert st.ticket_eta(t, T0 + timedelta(minutes=95)) == 15
    assert eta_mod.returning({}, [], T0) == {}
    back = eta_mod.returning({"1": T0}, [20.0, 40.0, 30.0], T0 + timedelta(minutes=5))
    assert back == {"1": T0 + timedelta(minutes=30)}


def test_learnt_desk_time_shrinks_towards_the_configured_mean() -> None:
    assert eta_mod.learnt_desk_min([], 10.0) == 10.0
    spans = [(T0, 20.0)] * 4
    # (4 x 10 + 4 x 20) / 8 = 15
    assert eta_mod.learnt_desk_min(spans, 10.0) == pytest.approx(15.0)
    assert eta_mod.remaining_min(10.0, 4.0) == pytest.approx(6.0)
    assert eta_mod.remaining_min(10.0, 30.0) == pytest.approx(3.5)


@pytest.mark.parametrize("kind", ["quiet", "normal", "peak"])
def test_a_simulated_day_beats_the_baseline_and_is_reproducible(kind: str) -> None:
    result, lines = simulate([kind], seed=11, days=1)
    again, _ = simulate([kind], seed=11, days=1)
    assert json.dumps(result) == json.dumps(again)
    day = result["kinds"][kind]
    for key in (
        "walk_ins",
        "service_level",
        "wait_mean_min",
        "wait_median_min",
        "wait_p90_min",
        "desk_utilisation",
        "eta_mae_min",
        "baseline_mae_min",
        "ratio",
    ):
        assert day[key] is not None, key
    assert day["walk_ins"] > 40 and 0 < day["desk_utilisation"] <= 1
    assert day["ratio"] < 1.0, day
    assert day["eta_mae_min"] < day["baseline_mae_min"]
    walk = [x for x in lines if not x["appointment"]]
    assert len(walk) == day["walk_ins"]
    assert all(x["eta_min"] >= 0 for x in lines)
