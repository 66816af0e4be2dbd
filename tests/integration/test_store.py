"""The store on real SQLite (WAL) and a private PostgreSQL: every test runs on both.

Migrations and the table definitions agree; a day's changes come back exactly; the
database itself refuses two live tickets with one number; optimistic concurrency; the
idempotency records; and a commit that fails part way leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from scheduler.config import DEMO_SITE, load_config
from scheduler.domain.model import SiteDef, SiteState, Ticket
from scheduler.store import tables as t
from scheduler.store.db import MIGRATIONS, CommandRecord, StaleState, Store

# 2026-11-24 is a Tuesday; Helsinki is UTC+2 in November.
DAY1 = datetime(2026, 11, 23, 6, 0, 0, 123456, tzinfo=UTC)  # 08:00 local
DAY2 = datetime(2026, 11, 24, 6, 0, 0, 654321, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> SiteDef:
    return load_config(DEMO_SITE).site_defs()["demo"]


class Ids:
    """Deterministic ticket ids and tokens."""

    def __init__(self, prefix: str = "t") -> None:
        self.prefix = prefix
        self.n = 0

    def __call__(self) -> tuple[str, str]:
        self.n += 1
        return f"{self.prefix}{self.n:04d}", f"tok-{self.prefix}{self.n:04d}"


def issue(
    st: SiteState, ids: Ids, service: str, now: datetime, *, lang: str = "fi", prio: bool = False
) -> Ticket:
    tid, tok = ids()
    return st.issue_ticket(
        service_id=service,
        lang=lang,
        priority=prio,
        now=now,
        ticket_id=tid,
        token=tok,
        device="kiosk-demo-1",
    )


def site_row(store: Store, site: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(t.sites).where(t.sites.c.id == site)).first()


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def desk_rows(store: Store, site: str = "demo") -> dict[str, tuple[str, str | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.desks).where(t.desks.c.site == site)).all()
    return {r.id: (r.status, r.ticket_id) for r in rows}


def assert_utc(ts: datetime | None) -> None:
    if ts is not None:
        assert ts.tzinfo is not None and ts.utcoffset() == timedelta(0), ts


# ---------------------------------------------------------------------------- migrations


def test_migrations_are_idempotent_and_match_the_tables(store: Store) -> None:
    # The fixture migrated once; again (twice) changes nothing and raises nothing.
    store.migrate()
    store.migrate()
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with store.engine.connect() as conn:
        mc = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert mc.get_current_revision() == head
        assert compare_metadata(mc, t.metadata) == []
        names = set(sa.inspect(conn).get_table_names())
    assert names == set(t.metadata.tables) | {"alembic_version"}


def test_migrating_again_keeps_the_data(store: Store, site: SiteDef) -> None:
    st = store.load_site(site, DAY2)
    issue(st, Ids(), "city-info", DAY2)
    store.commit([st], [], DAY2)
    store.migrate()
    again = Store(store.url)
    try:
        again.migrate()
        assert [tk.number for tk in again.tickets("demo")] == ["A001"]
    finally:
        again.dispose()


def test_the_comparison_sees_a_missing_index(store: Store) -> None:
    """The schema check above is not vacuous: a dropped index is reported."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_tickets_site_day"))
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d[0] for d in diff] == ["add_index"]
    assert diff[0][1].name == "ix_tickets_site_day"


def test_the_live_number_index_is_partial(store: Store) -> None:
    """Alembic does not compare index WHERE clauses: check it on the database itself."""
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            sql = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'uq_tickets_live_number'")
            ).scalar_one()
        else:
            sql = conn.execute(
                sa.text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_tickets_live_number'"
                )
            ).scalar_one()
    assert "UNIQUE" in sql.upper() and "WHERE" in sql.upper()
    for status in ("waiting", "called", "serving"):
        assert status in sql


# ---------------------------------------------------------------------------- a full day


def test_a_full_day_round_trips(store: Store, site: SiteDef) -> None:
    ids = Ids()
    # Day 1: A001 is served; K001 is still waiting when the day ends.
    st = store.load_site(site, DAY1)
    a1 = issue(st, ids, "city-info", DAY1)
    k1 = issue(st, ids, "kela-benefits", DAY1 + timedelta(seconds=5), lang="sv")
    st.open_desk("1", DAY1)
    st.next("1", DAY1 + timedelta(minutes=1))
    st.finish("1", DAY1 + timedelta(minutes=7))
    st.close_desk("1", DAY1 + timedelta(hours=8))
    store.commit([st], [], DAY1)
    assert (a1.number, k1.number) == ("A001", "K001")

    # Day 2: yesterday's served ticket is not loaded, the live one is; numbers restart.
    st = store.load_site(site, DAY2)
    assert set(st.tickets) == {k1.id}
    assert st.version == 1
    assert st.counters == {"municipality": (date(2026, 11, 23), 1), "kela": (date(2026, 11, 23), 1)}
    clock = iter(DAY2 + timedelta(minutes=m, microseconds=m) for m in range(1, 10_000))

    def now() -> datetime:
        return next(clock)

    issued = [
        issue(st, ids, "city-info", now()),
        issue(st, ids, "parking-permit", now(), lang="sv", prio=True),
        issue(st, ids, "tax-card", now(), lang="en"),
    ]
    assert [tk.number for tk in issued] == ["A001", "A002", "V001"]
    for d in ("1", "2", "3"):
        st.open_desk(d, now())
    called, _ = st.next("1", now())  # the priority ticket first
    assert called is not None and called.number == "A002"
    st.recall("1", now())
    st.start("1", now())
    st.display_seq = 7
    store.commit([st], [], now())

    called, _ = st.next("2", now())  # K001 waited overnight: past its target
    assert called is not None and called.number == "K001"
    st.noshow("2", now())
    called, _ = st.next("3", now())
    assert called is not None and called.number == "V001"
    st.transfer("3", "municipality", now())  # keeps number and arrival
    store.commit([st], [], now())

    # More calls than the display shows (8), with a recall in the middle.
    for _ in range(9):
        issue(st, ids, "city-info", now())
    for _ in range(5):
        st.next("2", now())
    st.recall("2", now())
    st.next("1", now())  # finishes A002 (serving) and calls the next
    st.next("1", now())
    st.recall("1", now())
    st.start("1", now())
    st.display_seq = 12
    store.commit([st], [], now())
    assert len(st.calls) == 8
    assert [c.recall for c in st.calls][:1] == [True]

    fresh = Store(store.url)
    try:
        again = fresh.load_site(site, now())
        everything = fresh.tickets("demo")
    finally:
        fresh.dispose()

    assert again.version == st.version == 4
    assert again.display_seq == 12
    # Yesterday's K001 is finished now (noshow): a reload keeps live and today's tickets.
    today = date(2026, 11, 24)
    assert again.tickets == {i: tk for i, tk in st.tickets.items() if tk.live or tk.day >= today}
    assert set(st.tickets) - set(again.tickets) == {k1.id}
    assert again.desks == st.desks
    assert again.counters == st.counters
    assert list(again.calls) == list(st.calls)
    assert [(c.number, c.desk, c.recall, c.lang) for c in again.calls][:2] == [
        (st.calls[0].number, "1", True, "fi"),
        (st.calls[1].number, "1", False, "fi"),
    ]
    for tk in again.tickets.values():
        for name in ("arrival_at", "issued_at", "called_at", "first_called_at"):
            assert_utc(getattr(tk, name))
        assert_utc(tk.started_at)
        assert_utc(tk.finished_at)
    for c in again.calls:
        assert_utc(c.at)
    # The transferred ticket kept its number and arrival; the statuses of the day.
    v1 = again.tickets[issued[2].id]
    assert (v1.number, v1.queue, v1.origin_queue, v1.transfers) == (
        "V001",
        "municipality",
        "tax",
        1,
    )
    assert v1.arrival_at == issued[2].arrival_at
    assert [tk.status for tk in everything if tk.id == k1.id] == ["noshow"]
    assert again.desks["1"].status == "serving"
    # Every ticket of both days is kept, with its timestamps in UTC.
    assert len(everything) == 2 + 3 + 9
    assert [tk.number for tk in everything[:2]] == ["A001", "K001"]
    assert everything[0].day == date(2026, 11, 23) and everything[0].status == "served"
    for tk in everything:
        assert_utc(tk.issued_at)
        assert_utc(tk.finished_at)
    kinds = [e["kind"] for e in fresh_events(store)]
    assert kinds[:2] == ["issued", "issued"]
    assert kinds.count("recalled") == 3 and kinds.count("transferred") == 1


def fresh_events(store: Store) -> list[dict[str, Any]]:
    return store.events("demo")


# ---------------------------------------------------------------------------- rule 1 in the DB


def _row(tid: str, number: str, status: str, *, site: str = "demo") -> dict[str, Any]:
    return {
        "id": tid,
        "site": site,
        "day": date(2026, 11, 24),
        "queue": "municipality",
        "number": number,
        "service": "city-info",
        "priority": False,
        "lang": "fi",
        "token": f"tok-{tid}",
        "arrival_at": DAY2,
        "issued_at": DAY2,
        "status": status,
        "recalls": 0,
        "transfers": 0,
    }


def test_the_database_refuses_two_live_tickets_with_one_number(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(t.tickets), [_row("a", "A001", "served"), _row("b", "A001", "called")]
        )
        # Another site may have its own A001; a finished A001 again is fine too.
        conn.execute(sa.insert(t.tickets), [_row("c", "A001", "waiting", site="other")])
        conn.execute(sa.insert(t.tickets), [_row("d", "A001", "noshow")])
    for status in ("waiting", "called", "serving"):
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
            conn.execute(sa.insert(t.tickets), [_row(f"x-{status}", "A001", status)])
    # Nor can a finished ticket come back to life while another one holds its number.
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(sa.update(t.tickets).where(t.tickets.c.id == "a").values(status="waiting"))
    assert count(store, t.tickets) == 4


# ---------------------------------------------------------------------------- concurrency


def test_a_stale_commit_raises_and_writes_nothing(store: Store, site: SiteDef) -> None:
    first = store.load_site(site, DAY2)
    second = store.load_site(site, DAY2)
    assert first.version == second.version == 0
    a = issue(first, Ids("p"), "city-info", DAY2)
    b = issue(second, Ids("q"), "city-info", DAY2)
    assert a.number == b.number == "A001"  # both think they hold A001
    second.open_desk("1", DAY2)
    rec = CommandRecord("kiosk-demo-1", "cmd-2", "demo", "ticket", DAY2, {"ok": True})
    store.commit([first], [], DAY2)
    events_before = len(store.events("demo"))
    desks_before = desk_rows(store)
    with pytest.raises(StaleState):
        store.commit([second], [rec], DAY2)
    assert [tk.id for tk in store.tickets("demo")] == [a.id]
    assert site_row(store, "demo").version == 1
    assert store.find_reply("kiosk-demo-1", "cmd-2") is None
    assert len(store.events("demo")) == events_before
    assert desk_rows(store) == desks_before
    assert desks_before["1"] == ("closed", None)
    # The loser kept its version and changes; reloading and redoing the work succeeds.
    assert second.version == 0 and second.dirty_tickets == {b.id}
    third = store.load_site(site, DAY2)
    c = issue(third, Ids("r"), "city-info", DAY2)
    store.commit([third], [rec], DAY2)
    assert c.number == "A002"
    assert store.find_reply("kiosk-demo-1", "cmd-2") == {"ok": True}


def test_a_commit_of_nothing_changes_no_version(store: Store, site: SiteDef) -> None:
    st = store.load_site(site, DAY2)
    store.commit([st], [], DAY2)
    assert site_row(store, "demo").version == 0 and st.version == 0


# ---------------------------------------------------------------------------- idempotency


def test_command_replies_are_stored_found_and_purged(store: Store) -> None:
    reply = {"v": 1, "id": "c1", "ok": True, "ticket": {"number": "A001", "note": "Ä ö å €"}}
    old = DAY2 - timedelta(hours=49)
    store.commit(
        [],
        [
            CommandRecord("kiosk-demo-1", "c1", "demo", "ticket", DAY2, reply),
            CommandRecord("kiosk-demo-1", "c0", "demo", "ticket", old, {"ok": False}),
            CommandRecord("desk-demo-1", "c1", "demo", "next", old, {"ok": True, "d": 1}),
        ],
        DAY2,
    )
    assert store.find_reply("kiosk-demo-1", "c1") == reply
    assert store.find_reply("desk-demo-1", "c1") == {"ok": True, "d": 1}  # per device
    assert store.find_reply("kiosk-demo-1", "nope") is None
    assert store.find_reply("kiosk-demo-2", "c1") is None
    assert store.purge_commands(DAY2 - timedelta(hours=48)) == 2
    assert store.find_reply("kiosk-demo-1", "c0") is None
    assert store.find_reply("desk-demo-1", "c1") is None
    assert store.find_reply("kiosk-demo-1", "c1") == reply
    assert store.purge_commands(DAY2 - timedelta(hours=48)) == 0


# ---------------------------------------------------------------------------- atomicity


def test_a_commit_that_fails_midway_leaves_nothing(store: Store, site: SiteDef) -> None:
    other = dataclasses.replace(site, id="other")
    st = store.load_site(site, DAY2)
    issue(st, Ids("a"), "city-info", DAY2)
    store.commit([st], [], DAY2)
    tickets_before = store.tickets("demo")
    events_before = store.events("demo")
    desks_before = desk_rows(store)

    st.open_desk("1", DAY2)
    st.next("1", DAY2)
    issue(st, Ids("b"), "tax-card", DAY2)
    ot = store.load_site(other, DAY2)
    tk = issue(ot, Ids("c"), "city-info", DAY2)
    tk.token = tickets_before[0].token  # a token taken: the second site's write fails
    rec = CommandRecord("kiosk-demo-1", "c-mid", "demo", "ticket", DAY2, {"ok": True})
    with pytest.raises(sa.exc.IntegrityError):
        store.commit([st, ot], [rec], DAY2)

    assert store.tickets("demo") == tickets_before
    assert store.tickets("other") == []
    assert store.events("demo") == events_before
    assert store.find_reply("kiosk-demo-1", "c-mid") is None
    assert site_row(store, "demo").version == 1
    assert site_row(store, "other").version == 0
    assert desk_rows(store) == desks_before
    assert desk_rows(store, "other") == {}
    assert store.load_site(site, DAY2).counters == {"municipality": (date(2026, 11, 24), 1)}
    # Nothing was marked as committed in memory either.
    assert st.version == 1 and st.dirty_tickets and st.dirty_desks
    assert ot.version == 0
