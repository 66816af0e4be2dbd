"""Staff accounts and sessions (issue 6 item 1): admin, advisor, switchboard.

- Passwords are kept only as argon2id hashes (argon2-cffi's defaults, RFC 9106 low-memory
  profile), re-hashed on sign-in when the parameters change. A sign-in with an unknown
  name still runs one verification, so timing does not tell which names exist.
- A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie (Secure
  over HTTPS); the database keeps only its SHA-256, so a copy of the database signs nobody
  in. Sessions end after 12 hours, or 2 hours without use, or at sign-out; disabling a
  user or changing their password ends all their sessions.
- An advisor or switchboard user works at the sites listed in their `sites` (empty: every
  site); an admin at all sites.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from firmware_common import protocol as p
from scheduler.store import tables as t

ROLES = ("admin", "advisor", "switchboard")
USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
SESSION_MAX = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("vuoro-no-such-user")


class UserError(ValueError):
    """A refused account change; `code` names it (the pages translate it)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    role: str
    sites: tuple[str, ...]
    lang: str = "fi"
    disabled: bool = False

    def may_site(self, site: str) -> bool:
        return self.role == "admin" or not self.sites or site in self.sites

    def visible_sites(self, all_sites: Iterable[str]) -> list[str]:
        return [s for s in all_sites if self.may_site(s)]


def _utc(dt: datetime) -> datetime:
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError("password_short", str(MIN_PASSWORD))
    if len(password) > 256:
        raise UserError("password_long")


class UserStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = p.now_utc) -> None:
        self.engine = engine
        self.clock = clock

    # -------------------------------------------------------------- accounts

    def add(
        self,
        name: str,
        role: str,
        password: str,
        *,
        display_name: str | None = None,
        sites: Iterable[str] = (),
        lang: str = "fi",
    ) -> User:
        if not USER_RE.match(name):
            raise UserError("bad_name")
        if role not in ROLES:
            raise UserError("bad_role", role)
        if lang not in p.LANGS:
            raise UserError("bad_lang", lang)
        check_password(password)
        now = self.clock()
        with self.engine.begin() as conn:
            if conn.execute(select(t.users.c.name).where(t.users.c.name == name)).first():
                raise UserError("user_exists", name)
            conn.execute(
                insert(t.users).values(
                    name=name,
                    display_name=display_name or name,
                    role=role,
                    sites=sorted(set(sites)),
                    password_hash=_hasher.hash(password),
                    lang=lang,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
        return User(name, display_name or name, role, tuple(sorted(set(sites))), lang)

    def get(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        return _user(row) if row else None

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.users).order_by(t.users.c.name)).all()
        return [_user(r) for r in rows]

    def update(
        self,
        name: str,
        *,
        display_name: str | None = None,
        role: str | None = None,
        sites: Iterable[str] | None = None,
        lang: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        values: dict[str, Any] = {"updated_at": self.clock()}
        if display_name is not None:
            values["display_name"] = display_name.strip() or name
        if role is not None:
            if role not in ROLES:
                raise UserError("bad_role", role)
            values["role"] = role
        if sites is not None:
            values["sites"] = sorted(set(sites))
        if lang is not None:
            if lang not in p.LANGS:
                raise UserError("bad_lang", lang)
            values["lang"] = lang
        if disabled is not None:
            values["disabled"] = disabled
        with self.engine.begin() as conn:
            got = conn.execute(update(t.users).where(t.users.c.name == name).values(**values))
            if got.rowcount != 1:
                raise UserError("unknown_user", name)
            if disabled or role is not None or sites is not None:
                conn.execute(delete(t.sessions).where(t.sessions.c.user_name == name))
        user = self.get(name)
        assert user is not None
        return user

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self.engine.begin() as conn:
            got = conn.execute(
                update(t.users)
                .where(t.users.c.name == name)
                .values(password_hash=_hasher.hash(password), updated_at=self.clock())
            )
            if got.rowcount != 1:
                raise UserError("unknown_user", name)
            conn.execute(delete(t.sessions).where(t.sessions.c.user_name == name))

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.user_name == name))
            got = conn.execute(delete(t.users).where(t.users.c.name == name))
            if got.rowcount != 1:
                raise UserError("unknown_user", name)

    def verify(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs and the account is not disabled."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        if row is None or len(password) > 256:
            try:
                _hasher.verify(_DUMMY, password[:256] or "x")
            except VerificationError:
                pass
            return None
        try:
            _hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row.disabled:
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.users)
                    .where(t.users.c.name == name)
                    .values(password_hash=_hasher.hash(password))
                )
        return _user(row)

    # -------------------------------------------------------------- sessions

    def start_session(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.expires_at < now))
            conn.execute(
                insert(t.sessions).values(
                    token_hash=_token_hash(token),
                    user_name=user.name,
                    created_at=now,
                    seen_at=now,
                    expires_at=now + SESSION_MAX,
                )
            )
        return token

    def session_user(self, token: str | None) -> User | None:
        """The signed-in user of a session cookie, or None (unknown, expired, idle,
        disabled); a live session's idle clock restarts."""
        if not token or len(token) > 100:
            return None
        now = self.clock()
        h = _token_hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.sessions, t.users)
                .join(t.users, t.users.c.name == t.sessions.c.user_name)
                .where(t.sessions.c.token_hash == h)
            ).first()
        if row is None:
            return None
        if _utc(row.expires_at) <= now or _utc(row.seen_at) + SESSION_IDLE <= now or row.disabled:
            self.end_session(token)
            return None
        if now - _utc(row.seen_at) > timedelta(minutes=1):
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.sessions).where(t.sessions.c.token_hash == h).values(seen_at=now)
                )
        return _user(row)

    def end_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.token_hash == _token_hash(token)))


def _user(row: Any) -> User:
    return User(
        name=row.name,
        display_name=row.display_name,
        role=row.role,
        sites=tuple(row.sites or ()),
        lang=row.lang,
        disabled=bool(row.disabled),
    )
