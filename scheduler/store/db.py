"""The store: SQLite (WAL, the default) or PostgreSQL through SQLAlchemy 2.

One `Store` loads a site's aggregate and commits a batch of changes in one transaction,
with the aggregate's version checked (optimistic concurrency): a commit made from a stale
version raises `StaleState` and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, bindparam, create_engine, delete, event, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from scheduler.domain.model import LIVE, Call, DeskRuntime, SiteDef, SiteState, Ticket
from scheduler.store import tables as t

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATE_LOCK = 0x56756F726F4D6967  # "VuoroMig": the advisory lock of schema migrations


class StaleState(Exception):
    """Another writer committed this site since it was loaded: reload and retry."""


@dataclass(frozen=True)
class CommandRecord:
    device: str
    id: str
    site: str
    verb: str
    at: datetime
    reply: dict[str, Any]


@dataclass(frozen=True)
class _Prepared:
    """A statement compiled for the store's dialect, run on the DBAPI cursor."""

    sql: str
    names: tuple[str, ...]  # bind names, in order for a positional paramstyle
    positional: bool
    procs: dict[str, Any]  # bind name -> SQLAlchemy's bind processor (or None)

    def params(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        procs = self.procs
        if self.positional:
            return tuple(
                [v if (f := procs[n]) is None else f(v) for n in self.names for v in (values[n],)]
            )
        return {n: v if (f := procs[n]) is None else f(v) for n in self.names for v in (values[n],)}


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit is on disk before the scheduler replies `ok`.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several schedulers starting at once on one database (scale-out): one
            # migrates, the others wait here, then find the schema at head. Without it
            # two concurrent upgrades hang on each other's DDL locks.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
        cfg.attributes["connection"] = conn
        alembic_command.upgrade(cfg, "head")


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


_TICKET_TIMES = (
    "arrival_at",
    "issued_at",
    "called_at",
    "first_called_at",
    "started_at",
    "finished_at",
    "appt_start",
)


def _ticket_from_row(row: Any) -> Ticket:
    m = dict(row._mapping)
    site = m.pop("site")
    del site
    for k in _TICKET_TIMES:
        m[k] = _utc(m[k])
    return Ticket(**m)


def _ticket_row(site: str, tk: Ticket) -> dict[str, Any]:
    return {
        "id": tk.id,
        "site": site,
        "day": tk.day,
        "queue": tk.queue,
        "number": tk.number,
        "service": tk.service,
        "priority": tk.priority,
        "lang": tk.lang,
        "token": tk.token,
        "arrival_at": tk.arrival_at,
        "issued_at": tk.issued_at,
        "status": tk.status,
        "desk": tk.desk,
        "called_at": tk.called_at,
        "first_called_at": tk.first_called_at,
        "started_at": tk.started_at,
        "finished_at": tk.finished_at,
        "recalls": tk.recalls,
        "transfers": tk.transfers,
        "origin_queue": tk.origin_queue,
        "device": tk.device,
        "reservation_id": tk.reservation_id,
        "appt_start": tk.appt_start,
        "advisor": tk.advisor,
    }


class Store:
    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.dialect = self.engine.dialect.name
        self._prepared: dict[tuple[str, tuple[str, ...], tuple[str, ...] | None], _Prepared] = {}
        self._site_update: _Prepared | None = None

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ prepared writes

    def _prepare(self, stmt: Any, column_keys: Sequence[str] | None = None) -> _Prepared:
        """SQLAlchemy compiles the statement once, for this dialect; the commit then runs
        the SQL on the DBAPI cursor with the values converted by the same bind processors
        (SQLAlchemy's per-statement overhead was most of a batch's commit)."""
        d = self.engine.dialect
        compiled = stmt.compile(dialect=d, column_keys=column_keys)
        procs = {
            name: bp.type.dialect_impl(d).bind_processor(d) for name, bp in compiled.binds.items()
        }
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        return _Prepared(compiled.string, names, compiled.positional, procs)

    def _write(
        self, cur: Any, table: Any, rows: list[dict[str, Any]], keys: Sequence[str] | None
    ) -> None:
        """INSERT `rows` (dicts of one shape), or upsert them on `keys`: one executemany."""
        if not rows:
            return
        cols = tuple(rows[0])
        cache_key = (table.name, cols, tuple(keys) if keys is not None else None)
        prep = self._prepared.get(cache_key)
        if prep is None:
            if keys is None:
                stmt = insert(table).inline()
            else:
                ins = (postgresql if self.dialect == "postgresql" else sqlite).insert(table)
                stmt = ins.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={c: ins.excluded[c] for c in cols if c not in keys},
                )
            prep = self._prepared[cache_key] = self._prepare(stmt, cols)
        cur.executemany(prep.sql, [prep.params(r) for r in rows])

    # ------------------------------------------------------------------ load

    def load_site(self, site: SiteDef, now: datetime) -> SiteState:
        """The site's aggregate: live tickets, today's finished ones, desks, counters, calls."""
        with self.engine.begin() as conn:
            row = conn.execute(select(t.sites).where(t.sites.c.id == site.id)).first()
            if row is None:
                # Two schedulers starting at once on a new database both get here: the
                # second's insert does nothing (it waits for the first's commit).
                ins = (postgresql if self.dialect == "postgresql" else sqlite).insert(t.sites)
                conn.execute(
                    ins.values(
                        id=site.id, version=0, display_seq=0, updated_at=now
                    ).on_conflict_do_nothing(index_elements=["id"])
                )
                row = conn.execute(select(t.sites).where(t.sites.c.id == site.id)).one()
            version, seq = row.version, row.display_seq
            today = now.astimezone(site.tz).date()
            trows = conn.execute(
                select(t.tickets).where(
                    t.tickets.c.site == site.id,
                    (t.tickets.c.status.in_(LIVE)) | (t.tickets.c.day >= today),
                )
            ).all()
            desks = {
                r.id: DeskRuntime(status=r.status, ticket_id=r.ticket_id)
                for r in conn.execute(select(t.desks).where(t.desks.c.site == site.id))
            }
            counters = {
                r.queue: (r.day, r.last)
                for r in conn.execute(select(t.counters).where(t.counters.c.site == site.id))
            }
            call_rows = conn.execute(
                select(
                    t.ticket_events.c.at,
                    t.ticket_events.c.kind,
                    t.ticket_events.c.desk,
                    t.tickets.c.number,
                    t.tickets.c.lang,
                )
                .join(t.tickets, t.tickets.c.id == t.ticket_events.c.ticket_id)
                .where(
                    t.ticket_events.c.site == site.id,
                    t.ticket_events.c.kind.in_(("called", "recalled")),
                )
                .order_by(t.ticket_events.c.id.desc())
                .limit(64)
            ).all()
        calls: list[Call] = []
        seen: set[str] = set()
        for r in call_rows:
            if r.number in seen:
                continue
            seen.add(r.number)
            calls.append(Call(r.number, r.desk, _utc(r.at), r.kind == "recalled", r.lang))
            if len(calls) == 8:
                break
        return SiteState(
            site,
            version=version,
            display_seq=seq,
            tickets=[_ticket_from_row(r) for r in trows],
            desks=desks,
            counters=counters,
            calls=calls,
        )

    # ------------------------------------------------------------------ commit

    def commit(
        self,
        states: Iterable[SiteState],
        commands: Sequence[CommandRecord],
        now: datetime,
    ) -> None:
        """Write the changes of `states` and the command replies in one transaction.

        Each changed site's version goes up by one, checked against the loaded version.
        On success the states' versions are bumped and their change sets cleared.
        """
        changed = [s for s in states if s.dirty_tickets or s.dirty_desks or s.events]
        if not changed and not commands:
            return
        if self._site_update is None:
            self._site_update = self._prepare(
                update(t.sites)
                .where(t.sites.c.id == bindparam("b_id"), t.sites.c.version == bindparam("b_ver"))
                .values(
                    version=bindparam("b_new"),
                    display_seq=bindparam("b_seq"),
                    updated_at=bindparam("b_at"),
                )
            )
        with self.engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                for st in changed:
                    sid = st.site.id
                    cur.execute(
                        self._site_update.sql,
                        self._site_update.params(
                            {
                                "b_id": sid,
                                "b_ver": st.version,
                                "b_new": st.version + 1,
                                "b_seq": st.display_seq,
                                "b_at": now,
                            }
                        ),
                    )
                    if cur.rowcount != 1:
                        raise StaleState(sid)
                    self._write(
                        cur,
                        t.tickets,
                        [_ticket_row(sid, st.tickets[i]) for i in sorted(st.dirty_tickets)],
                        ["id"],
                    )
                    self._write(
                        cur,
                        t.desks,
                        [
                            {
                                "site": sid,
                                "id": d,
                                "status": st.desks[d].status,
                                "ticket_id": st.desks[d].ticket_id,
                                "updated_at": now,
                            }
                            for d in sorted(st.dirty_desks)
                        ],
                        ["site", "id"],
                    )
                    self._write(
                        cur,
                        t.counters,
                        [
                            {
                                "site": sid,
                                "queue": q,
                                "day": st.counters[q][0],
                                "last": st.counters[q][1],
                            }
                            for q in sorted(st.dirty_counters)
                        ],
                        ["site", "queue"],
                    )
                    self._write(
                        cur,
                        t.ticket_events,
                        [
                            {
                                "site": sid,
                                "at": e.at,
                                "kind": e.kind,
                                "ticket_id": e.ticket_id,
                                "desk": e.desk,
                                "queue": e.queue,
                                "detail": e.detail,
                            }
                            for e in st.events
                        ],
                        None,
                    )
                self._write(
                    cur,
                    t.commands,
                    [
                        {
                            "device": c.device,
                            "id": c.id,
                            "site": c.site,
                            "verb": c.verb,
                            "at": c.at,
                            "reply": json.dumps(c.reply, ensure_ascii=False),
                        }
                        for c in commands
                    ],
                    ["device", "id"],
                )
            except self.engine.dialect.loaded_dbapi.Error as exc:
                # As SQLAlchemy would raise it (e.g. sqlalchemy.exc.IntegrityError).
                raise sa_exc.DBAPIError.instance(
                    None, None, exc, self.engine.dialect.loaded_dbapi.Error
                ) from exc
            finally:
                cur.close()
        for st in changed:
            st.version += 1
            st.clear_changes()

    def save_display_seq(self, site: str, seq: int) -> None:
        """Persist a display seq published outside a command (e.g. the hourly tick)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.sites)
                .where(t.sites.c.id == site, t.sites.c.display_seq < seq)
                .values(display_seq=seq)
            )

    # ------------------------------------------------------------------ idempotency

    def find_reply(self, device: str, cmd_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.commands.c.reply).where(
                    t.commands.c.device == device, t.commands.c.id == cmd_id
                )
            ).first()
        return None if row is None else json.loads(row.reply)

    def find_replies(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored replies of many (device, command id) pairs, in one query per 100.

        The statement is plain SQL, `(device = ? AND id = ?) OR ...`, which both SQLite
        and PostgreSQL answer with primary-key lookups (SQLite scans the whole table for
        `(device, id) IN (VALUES ...)`, and building the OR as an SQLAlchemy expression
        costs more than running it).
        """
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if not wanted:
            return found
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        pair = f"(device = {mark} AND id = {mark})"
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 100):
                chunk = wanted[i : i + 100]
                sql = "SELECT device, id, reply FROM commands WHERE " + " OR ".join(
                    [pair] * len(chunk)
                )
                params = tuple(x for key in chunk for x in key)
                for device, cmd_id, reply in conn.exec_driver_sql(sql, params):
                    found[(device, cmd_id)] = json.loads(reply)
        return found

    def command_keys(self) -> list[tuple[str, str, datetime]]:
        """(device, id, at) of every stored command, oldest first (keys only, no replies)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.commands.c.device, t.commands.c.id, t.commands.c.at).order_by(
                    t.commands.c.at
                )
            ).all()
        return [(r.device, r.id, _utc(r.at)) for r in rows]  # type: ignore[misc]

    def purge_commands(self, before: datetime) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(t.commands).where(t.commands.c.at < before)).rowcount

    # ------------------------------------------------------------------ reading (tests, tools)

    def tickets(self, site: str) -> list[Ticket]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.tickets).where(t.tickets.c.site == site).order_by(t.tickets.c.issued_at)
            ).all()
        return [_ticket_from_row(r) for r in rows]

    def events(self, site: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.ticket_events)
                .where(t.ticket_events.c.site == site)
                .order_by(t.ticket_events.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]
