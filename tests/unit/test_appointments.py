"""Checked-in appointments in the site aggregate (DOMAIN.md rules 3 and 4), pure.

The demo site: Aino sits at desk 4 (queues dvv, police, municipality), Bertil at desk 2
(municipality, kela); Kela benefits feed the `kela` queue (prefix K), which desks 2 and 3
serve.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.config import DEMO_SITE, load_config
from scheduler.domain.model import SiteState, Ticket

HEL = ZoneInfo("Europe/Helsinki")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=HEL).astimezone(UTC)
SITE = load_config(DEMO_SITE).site_defs()["demo"]
_ids = itertools.count(1)


def state() -> SiteState:
    s = SiteState(SITE)
    for d in SITE.desks:
        s.open_desk(d, T0)
    s.clear_changes()
    return s


def walk_in(s: SiteState, service: str = "kela-benefits", at: datetime = T0) -> Ticket:
    n = next(_ids)
    return s.issue_ticket(
        service_id=service, lang="fi", priority=False, now=at, ticket_id=f"w{n}", token=f"wt{n}"
    )


def check_in(
    s: SiteState, advisor: str, start: datetime, at: datetime = T0, service: str = "kela-benefits"
) -> Ticket:
    n = next(_ids)
    tk, new = s.check_in(
        reservation_id=f"r{n}",
        service_id=service,
        advisor=advisor,
        appt_start=start,
        lang="fi",
        now=at,
        ticket_id=f"a{n}",
        token=f"at{n}",
    )
    assert new
    return tk


def test_check_in_gives_a_queue_number_once() -> None:
    s = state()
    tk = check_in(s, "aino", T0 + timedelta(minutes=5))
    assert tk.number == "K001" and tk.appt_start and tk.status == "waiting"
    again, new = s.check_in(
        reservation_id=tk.reservation_id or "",
        service_id="kela-benefits",
        advisor="aino",
        appt_start=T0,
        lang="fi",
        now=T0,
        ticket_id="other",
        token="other",
    )
    assert (again.id, new) == (tk.id, False)
    # Numbers are shared with the queue's walk-ins, never two live ones alike (rule 1).
    assert walk_in(s).number == "K002"
    # The estimate is the time to the slot; position counts the advisor's earlier ones.
    assert s.ticket_eta(tk, T0) == 5
    assert s.position(tk) == 0


def test_own_advisor_calls_first_even_outside_the_desks_queues() -> None:
    s = state()
    w = walk_in(s, "city-info", T0 - timedelta(minutes=40))  # municipality: desk 4 serves it
    a = check_in(s, "aino", T0 - timedelta(minutes=1))
    called, _ = s.next("4", T0)
    assert called is a  # desk 4 does not serve `kela`, but Aino's customer is hers
    called, _ = s.next("4", T0 + timedelta(minutes=20))
    assert called is w


def test_due_appointment_waits_for_its_advisor_unless_away() -> None:
    s = state()
    w = walk_in(s, at=T0 - timedelta(minutes=30))
    a = check_in(s, "aino", T0 - timedelta(minutes=2))
    # Desk 2 (Bertil) serves kela; Aino is at her open desk 4: desk 2 calls the walk-in.
    called, _ = s.next("2", T0)
    assert called is w
    s.finish("2", T0 + timedelta(minutes=1))
    # Aino closes desk 4 (away): any desk serving kela now calls her due customer.
    s.close_desk("4", T0 + timedelta(minutes=2))
    w2 = walk_in(s, at=T0 - timedelta(minutes=50))
    called, _ = s.next("2", T0 + timedelta(minutes=3))
    assert called is a
    called, _ = s.next("2", T0 + timedelta(minutes=4))
    assert called is w2


def test_early_arrival_waits_unless_its_advisor_is_free() -> None:
    s = state()
    w = walk_in(s, at=T0 - timedelta(minutes=30))
    early = check_in(s, "aino", T0 + timedelta(minutes=25))
    # Not due: other desks never call it ahead of its slot.
    called, _ = s.next("3", T0)
    assert called is w
    # Aino presses next with nothing else to do: she takes her early customer.
    called, _ = s.next("4", T0 + timedelta(minutes=1))
    assert called is early


def test_transferred_appointment_queues_like_a_walk_in() -> None:
    s = state()
    a = check_in(s, "aino", T0)
    s.next("4", T0)
    moved = s.transfer("4", "tax", T0 + timedelta(minutes=5))
    assert moved is a and moved.appt_start is None and moved.queue == "tax"
    called, _ = s.next("1", T0 + timedelta(minutes=6))  # desk 1 serves tax
    assert called is a


def test_desk_state_counts_the_advisors_arrived_customers() -> None:
    s = state()
    check_in(s, "aino", T0)
    check_in(s, "aino", T0 + timedelta(minutes=30))
    check_in(s, "bertil", T0)
    assert s.desk_state("4")["appointments"] == 2
    assert s.desk_state("2")["appointments"] == 1
    assert "appointments" not in s.desk_state("1")  # no advisor sits at desk 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["aino", "bertil", None]),
            st.integers(-30, 30),  # slot start relative to now, minutes
            st.booleans(),  # also a walk-in
        ),
        min_size=1,
        max_size=12,
    ),
    st.lists(st.sampled_from(["1", "2", "3", "4"]), min_size=1, max_size=20),
    st.sets(st.sampled_from(["2", "4"])),
)
def test_property_rule_3(
    plan: list[tuple[str | None, int, bool]], presses: list[str], closed: set[str]
) -> None:
    """Whoever a desk calls: an appointment is only called ahead of its slot by its own
    advisor's desk, and by another desk only when due and its advisor is away; no ticket
    is called twice; a desk with a due own customer never calls anyone else first."""
    s = state()
    for d in closed:
        s.close_desk(d, T0)
    for adv, rel, also_walk_in in plan:
        check_in(s, adv or "nobody", T0 + timedelta(minutes=rel))
        if also_walk_in:
            walk_in(s, at=T0 - timedelta(minutes=abs(rel)))
    seen: set[str] = set()
    now = T0
    for desk in presses:
        now += timedelta(seconds=30)
        if s.desks[desk].status == "closed":
            continue
        own_due = [
            t
            for t in s._appts.values()
            if SITE.advisor_desks.get(t.advisor or "") == desk
            and t.appt_start
            and t.appt_start <= now
        ]
        try:
            called, _ = s.next(desk, now)
        except Exception as exc:  # nothing waiting for this desk
            assert getattr(exc, "code", "") == "nothing_waiting"
            continue
        if called is None:
            continue
        assert called.id not in seen
        seen.add(called.id)
        if own_due:
            assert called in own_due
        if called.appt_start is not None:
            home = SITE.advisor_desks.get(called.advisor or "")
            if home != desk:
                assert called.appt_start <= now
                assert home is None or s.desks[home].status == "closed"


@pytest.mark.parametrize("desk", ["1", "3"])
def test_no_appointment_for_desks_of_other_queues(desk: str) -> None:
    s = state()
    check_in(s, "nobody", T0 - timedelta(minutes=1), service="notary")  # dvv: desk 4 only
    s.close_desk("4", T0)
    with pytest.raises(Exception) as e:
        s.next(desk, T0)
    assert getattr(e.value, "code", "") == "nothing_waiting"
