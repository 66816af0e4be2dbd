"""Reservations in the database (SQLAlchemy Core; SQLite and PostgreSQL alike).

Double booking is made impossible by the database itself: an active reservation owns one
`slot_claims` row per 5-minute cell of its advisor and of each extra resource, and the
primary key (site, resource, cell) lets only one of any number of racing inserts win.
The loser's transaction rolls back whole (`SlotTaken`): no half-made reservation.

A hold is a reservation in status `held` with its claims; it becomes `booked` when the
citizen sends the form, or expires: whoever next needs one of its cells removes the
expired hold's claims first (and the periodic sweep does the rest).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from scheduler.booking.config import CELL_MIN
from scheduler.booking.model import ACTIVE, Interval, Reservation
from scheduler.store import tables as t

log = logging.getLogger("vuoro.booking")

CELL = timedelta(minutes=CELL_MIN)
PERSONAL = ("name", "phone", "email", "hetu_hash", "card_hash", "answers")


class SlotTaken(Exception):
    """Another reservation holds one of the cells (advisor or resource)."""


class NotFound(Exception):
    pass


class Conflict(Exception):
    """The reservation changed meanwhile (status or version): nothing was written."""


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def resource_key(kind: str, ident: str) -> str:
    """Claim key: advisors and extra resources live in one namespace per site."""
    return f"{'a' if kind == 'advisor' else 'r'}:{ident}"


def cells(start: datetime, end: datetime) -> list[datetime]:
    """The 5-minute cells [start, end) covers (start and end on the grid)."""
    s = _utc(start)
    e = _utc(end)
    assert s is not None and e is not None
    if s.timestamp() % (CELL_MIN * 60) or e.timestamp() % (CELL_MIN * 60):
        raise ValueError(f"times must be on the {CELL_MIN}-minute grid: {s}..{e}")
    out = []
    at = s
    while at < e:
        out.append(at)
        at += CELL
    return out


def _row(res: Reservation) -> dict[str, Any]:
    return {
        "id": res.id,
        "code": res.code,
        "site": res.site,
        "service": res.service,
        "advisor": res.advisor,
        "start": res.start,
        "end": res.end,
        "status": res.status,
        "resources": list(res.resources),
        "lang": res.lang,
        "name": res.name,
        "phone": res.phone,
        "email": res.email,
        "hetu_hash": res.hetu_hash,
        "card_hash": res.card_hash,
        "answers": dict(res.answers) if res.answers else None,
        "created_at": res.created_at,
        "created_by": res.created_by,
        "hold_until": res.hold_until,
        "ticket_id": res.ticket_id,
        "checked_in_at": res.checked_in_at,
        "cancelled_at": res.cancelled_at,
        "reminded_at": res.reminded_at,
        "purged_at": res.purged_at,
        "version": res.version,
    }


def _from_row(row: Any) -> Reservation:
    m = dict(row._mapping)
    for k in (
        "start",
        "end",
        "created_at",
        "hold_until",
        "checked_in_at",
        "cancelled_at",
        "reminded_at",
        "purged_at",
    ):
        m[k] = _utc(m[k])
    m["resources"] = tuple(m["resources"] or ())
    m["answers"] = dict(m["answers"] or {})
    return Reservation(**m)


class NameBox:
    """Names encrypted at rest (DOMAIN.md rule 8, issue 9): AES-GCM with a key derived
    (HKDF-SHA256) from the booking secret, a fresh nonce per value. Stored as
    `enc1:<base64 nonce + ciphertext>`; a value without the prefix (written before
    this existed) is read as it is. Names are only compared after reading (`by_name`),
    so no query needs them in clear."""

    PREFIX = "enc1:"

    def __init__(self, secret: bytes) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"vuoro/reservation-name/v1"
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, text: str | None) -> str | None:
        import base64
        import os

        if text is None:
            return None
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, text.encode(), b"name")
        return self.PREFIX + base64.b64encode(blob).decode()

    def open(self, stored: str | None) -> str | None:
        import base64

        if stored is None or not stored.startswith(self.PREFIX):
            return stored
        blob = base64.b64decode(stored[len(self.PREFIX) :])
        return self._aead.decrypt(blob[:12], blob[12:], b"name").decode()


class ReservationStore:
    def __init__(self, engine: Engine, *, personal_key: bytes | None = None) -> None:
        self.engine = engine
        # With a key, customers' names are stored encrypted (NameBox).
        self.box = NameBox(personal_key) if personal_key else None

    def _row(self, res: Reservation) -> dict[str, Any]:
        row = _row(res)
        if self.box is not None:
            row["name"] = self.box.seal(row["name"])
        return row

    def _from_row(self, row: Any) -> Reservation:
        res = _from_row(row)
        if self.box is not None and res.name is not None:
            res = replace(res, name=self.box.open(res.name))
        return res

    # ------------------------------------------------------------------ claims

    def _claim(self, conn: Connection, res: Reservation, now: datetime) -> None:
        keys = [resource_key("advisor", res.advisor)] + [
            resource_key("resource", r) for r in res.resources
        ]
        wanted = cells(res.start, res.end)
        self._release_expired(conn, res.site, keys, res.start, res.end, now)
        rows = [
            {"site": res.site, "resource": k, "cell": c, "reservation_id": res.id}
            for k in keys
            for c in wanted
        ]
        conn.execute(insert(t.slot_claims), rows)

    def _release_expired(
        self,
        conn: Connection,
        site: str,
        keys: Sequence[str],
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> None:
        """Drop the claims of expired holds that stand in the way."""
        r = t.reservations
        c = t.slot_claims
        expired = [
            row.id
            for row in conn.execute(
                select(r.c.id)
                .join(c, c.c.reservation_id == r.c.id)
                .where(
                    c.c.site == site,
                    c.c.resource.in_(list(keys)),
                    c.c.cell >= start,
                    c.c.cell < end,
                    r.c.status == "held",
                    r.c.hold_until < now,
                )
                .distinct()
            )
        ]
        if expired:
            self._expire(conn, expired)

    def _expire(self, conn: Connection, ids: list[str]) -> None:
        conn.execute(delete(t.slot_claims).where(t.slot_claims.c.reservation_id.in_(ids)))
        conn.execute(
            update(t.reservations)
            .where(t.reservations.c.id.in_(ids), t.reservations.c.status == "held")
            .values(status="expired", version=t.reservations.c.version + 1)
        )

    # ------------------------------------------------------------------ writes

    def insert(
        self, res: Reservation, now: datetime, notify: Iterable[tuple[str, datetime]] = ()
    ) -> None:
        """Store a new (held or booked) reservation with its claims; SlotTaken if any cell
        is taken. `notify`: (kind, due_at) outbox rows written in the same transaction."""
        try:
            with self.engine.begin() as conn:
                self._claim(conn, res, now)
                conn.execute(insert(t.reservations), [self._row(res)])
                self._queue(conn, res.id, notify, now)
        except IntegrityError as exc:
            if "code" in str(exc.orig).lower() and "slot_claims" not in str(exc.orig):
                raise  # a booking-code collision: the caller draws a new code
            raise SlotTaken(res.id) from None

    def update(
        self,
        res: Reservation,
        now: datetime,
        *,
        expect_version: int,
        reclaim: bool = False,
        release: bool = False,
        notify: Iterable[tuple[str, datetime]] = (),
        drop_pending: bool = False,
    ) -> Reservation:
        """Write `res` (version checked); with `reclaim` its claims are made anew (a
        reschedule: SlotTaken leaves the old booking as it was), with `release` dropped
        (cancel). `drop_pending`: unsent notifications of the reservation are dropped."""
        res.version = expect_version + 1
        try:
            with self.engine.begin() as conn:
                row = self._row(res)
                row.pop("id")
                done = conn.execute(
                    update(t.reservations)
                    .where(
                        t.reservations.c.id == res.id, t.reservations.c.version == expect_version
                    )
                    .values(**row)
                ).rowcount
                if done != 1:
                    raise Conflict(res.id)
                if reclaim or release:
                    conn.execute(
                        delete(t.slot_claims).where(t.slot_claims.c.reservation_id == res.id)
                    )
                if reclaim:
                    self._claim(conn, res, now)
                if drop_pending:
                    conn.execute(
                        delete(t.notifications).where(
                            t.notifications.c.reservation_id == res.id,
                            t.notifications.c.sent_at.is_(None),
                        )
                    )
                self._queue(conn, res.id, notify, now)
        except IntegrityError:
            res.version = expect_version
            raise SlotTaken(res.id) from None
        except Conflict:
            res.version = expect_version
            raise
        return res

    def _queue(
        self, conn: Connection, res_id: str, notify: Iterable[tuple[str, datetime]], now: datetime
    ) -> None:
        rows = [
            {
                "reservation_id": res_id,
                "kind": kind,
                "due_at": due,
                "created_at": now,
                "attempts": 0,
            }
            for kind, due in notify
        ]
        if rows:
            conn.execute(insert(t.notifications), rows)

    def set_ticket(self, res_id: str, ticket_id: str, at: datetime) -> None:
        """Record the check-in ticket (idempotent; the ticket row is the truth)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.reservations)
                .where(t.reservations.c.id == res_id, t.reservations.c.ticket_id.is_(None))
                .values(
                    ticket_id=ticket_id,
                    checked_in_at=at,
                    status="checked_in",
                    version=t.reservations.c.version + 1,
                )
            )

    def expire_holds(self, now: datetime) -> int:
        with self.engine.begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    select(t.reservations.c.id).where(
                        t.reservations.c.status == "held", t.reservations.c.hold_until < now
                    )
                )
            ]
            if ids:
                self._expire(conn, ids)
        return len(ids)

    def purge_personal(self, site: str, visited_before: datetime, now: datetime) -> int:
        """Retention: delete the personal data of reservations that ended before the time
        (and of cancelled and expired ones); the rest (service, time, outcome) stays."""
        r = t.reservations
        with self.engine.begin() as conn:
            res = conn.execute(
                update(r)
                .where(
                    r.c.site == site,
                    r.c.purged_at.is_(None),
                    r.c.end < visited_before,
                )
                .values(
                    name=None,
                    phone=None,
                    email=None,
                    hetu_hash=None,
                    card_hash=None,
                    answers=None,
                    purged_at=now,
                    version=r.c.version + 1,
                )
            )
            conn.execute(
                delete(t.notifications).where(
                    t.notifications.c.reservation_id.in_(
                        select(r.c.id).where(r.c.site == site, r.c.purged_at == now)
                    )
                )
            )
        return res.rowcount

    # ------------------------------------------------------------------ reads

    def get(self, res_id: str) -> Reservation:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.reservations).where(t.reservations.c.id == res_id)).first()
        if row is None:
            raise NotFound(res_id)
        return self._from_row(row)

    def by_code(self, code: str) -> Reservation:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.reservations).where(t.reservations.c.code == code)).first()
        if row is None:
            raise NotFound(code)
        return self._from_row(row)

    def code_exists(self, code: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(t.reservations.c.id).where(t.reservations.c.code == code)
                ).first()
                is not None
            )

    def find(
        self,
        site: str,
        start: datetime,
        end: datetime,
        *,
        advisor: str | None = None,
        hetu_hash: str | None = None,
        card_hash: str | None = None,
        statuses: Sequence[str] = ACTIVE,
    ) -> list[Reservation]:
        """Reservations of the site starting in [start, end), by start time."""
        r = t.reservations
        q = select(r).where(r.c.site == site, r.c.start >= start, r.c.start < end)
        if statuses:
            q = q.where(r.c.status.in_(list(statuses)))
        if advisor is not None:
            q = q.where(r.c.advisor == advisor)
        if hetu_hash is not None or card_hash is not None:
            conds = []
            if hetu_hash is not None:
                conds.append(r.c.hetu_hash == hetu_hash)
            if card_hash is not None:
                conds.append(r.c.card_hash == card_hash)
            q = q.where(or_(*conds))
        with self.engine.connect() as conn:
            return [self._from_row(x) for x in conn.execute(q.order_by(r.c.start, r.c.id))]

    def find_by_name(
        self,
        sites: Sequence[str],
        start: datetime,
        end: datetime,
        name: str,
        *,
        limit: int = 50,
    ) -> list[Reservation]:
        """Reservations of `sites` starting in [start, end) whose customer name contains
        every word of `name` (case-insensitive), by start time; for staff look-ups.

        The query runs on the (site, start) index and the names are compared here, on the
        decoded rows: it keeps working if names are stored encrypted. Purged rows have no
        name and never match."""
        words = [w.casefold() for w in name.split() if w]
        if not words or not sites:
            return []
        r = t.reservations
        q = (
            select(r)
            .where(r.c.site.in_(list(sites)), r.c.start >= start, r.c.start < end)
            .where(r.c.name.is_not(None))
            .order_by(r.c.start, r.c.id)
        )
        out: list[Reservation] = []
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                res = self._from_row(row)
                have = (res.name or "").casefold()
                if all(w in have for w in words):
                    out.append(res)
                    if len(out) >= limit:
                        break
        return out

    def busy(
        self, site: str, start: datetime, end: datetime, now: datetime
    ) -> dict[str, list[Interval]]:
        """Busy time by advisor and resource id from active reservations overlapping
        [start, end) (expired holds left out)."""
        r = t.reservations
        q = select(r.c.advisor, r.c.resources, r.c.start, r.c.end).where(
            r.c.site == site,
            r.c.status.in_(list(ACTIVE)),
            r.c.start < end,
            r.c.end > start,
            or_(r.c.status != "held", r.c.hold_until >= now),
        )
        out: dict[str, list[Interval]] = {}
        with self.engine.connect() as conn:
            for adv, resources, s, e in conn.execute(q):
                iv = (_utc(s), _utc(e))
                out.setdefault(adv, []).append(iv)  # type: ignore[arg-type]
                for rid in resources or ():
                    out.setdefault(rid, []).append(iv)  # type: ignore[arg-type]
        return out

    def count_active_for(
        self,
        site: str,
        now: datetime,
        *,
        hetu_hash: str | None,
        email: str | None,
        phone: str | None,
        exclude: str | None = None,
    ) -> int:
        """Active future bookings of one customer (same identity code, e-mail or phone)."""
        r = t.reservations
        conds = []
        if hetu_hash:
            conds.append(r.c.hetu_hash == hetu_hash)
        if email:
            conds.append(func.lower(r.c.email) == email.lower())
        if phone:
            conds.append(r.c.phone == phone)
        if not conds:
            return 0
        q = select(func.count()).where(
            r.c.site == site,
            r.c.status.in_(("booked", "checked_in")),
            r.c.end > now,
            or_(*conds),
        )
        if exclude:
            q = q.where(r.c.id != exclude)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def claims_of(self, res_id: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(t.slot_claims.c.reservation_id == res_id)
                ).scalar_one()
            )

    # ------------------------------------------------------------------ outbox

    def due_notifications(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        n = t.notifications
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(n)
                .where(n.c.sent_at.is_(None), n.c.due_at <= now, n.c.attempts < 10)
                .order_by(n.c.due_at, n.c.id)
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def mark_notification(
        self,
        note_id: int,
        now: datetime,
        error: str | None = None,
        *,
        permanent: bool = False,
        channels: Sequence[str] | None = None,
    ) -> None:
        """Sent (no `error`), or failed: tried again later with a growing delay (1, 2, 4 ...
        minutes, 10 tries), only on `channels` (those that failed), unless `permanent`."""
        n = t.notifications
        values: dict[str, Any] = {"attempts": n.c.attempts + 1}
        if error is None:
            values["sent_at"] = now
            values["last_error"] = None
        else:
            values["last_error"] = error[:500]
            if permanent:
                values["attempts"] = 10  # never again; last_error says why
            if channels:
                values["channels"] = ",".join(channels)
        with self.engine.begin() as conn:
            conn.execute(update(n).where(n.c.id == note_id).values(**values))
            if error is not None:
                row = conn.execute(select(n.c.attempts).where(n.c.id == note_id)).first()
                if row is not None:
                    conn.execute(
                        update(n)
                        .where(n.c.id == note_id)
                        .values(due_at=now + timedelta(minutes=2 ** min(row.attempts, 8)))
                    )

    def pending_kinds(self, res_id: str) -> list[tuple[str, bool]]:
        n = t.notifications
        with self.engine.connect() as conn:
            return [
                (r.kind, r.sent_at is not None)
                for r in conn.execute(
                    select(n.c.kind, n.c.sent_at)
                    .where(n.c.reservation_id == res_id)
                    .order_by(n.c.id)
                )
            ]


__all__ = [
    "CELL",
    "PERSONAL",
    "Conflict",
    "NotFound",
    "ReservationStore",
    "SlotTaken",
    "and_",
    "cells",
    "resource_key",
]
