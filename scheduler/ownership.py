"""Scale-out: several scheduler processes on one PostgreSQL, each site served by one.

Each process subscribes to every site's commands (a normal, not a shared, subscription:
the broker gives every command to every process). A site is served by the process that
holds its PostgreSQL advisory lock (`pg_try_advisory_lock` on a dedicated connection):
only that process runs the site's commands and publishes its state. The others keep the
site's commands of the last `PARK_S` seconds in memory (acknowledged). When a process
dies, its database connection goes and PostgreSQL releases its locks at once; another
process takes the site (`poll`), reloads the state from the database and runs the
parked commands first: those the dead process had committed get their stored reply
(the command id is the idempotency key), the others are carried out. Nothing answered is
lost, nothing is done twice; the per-site version check of the store (`StaleState`)
stops a process that lost a lock without knowing it from committing over another.

Which process prefers which site: `shard = (k, n)`: process k of n takes the sites whose
hash falls to it at once, the others only after they have been free for `grace_s`
(their preferred owner is not there). A returning process does not take sites back.
Without PostgreSQL (SQLite: one process), every site is owned.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("vuoro.scheduler.ownership")

PARK_S = 30.0
LOCK_SPACE = 0x5675  # "Vu": the high 16 bits of every site lock key


def site_key(site: str) -> int:
    """The site's advisory lock key: a signed 64-bit integer."""
    low = int.from_bytes(hashlib.sha256(site.encode()).digest()[:6], "big")
    return (LOCK_SPACE << 48) | low


def site_of(topic: str) -> str:
    parts = topic.split("/")
    return parts[2] if len(parts) > 2 else ""


class SiteOwnership:
    def __init__(
        self,
        dsn: str | None,
        sites: Iterable[str],
        *,
        shard: tuple[int, int] = (0, 1),
        grace_s: float = 2.0,
    ) -> None:
        self.sites = list(sites)
        self.shard = shard
        self.grace_s = grace_s
        self.owned: set[str] = set()
        self._free_since: dict[str, float] = {}
        self._conn: Any = None
        self.parked: deque[tuple[float, Any]] = deque()
        if dsn is None:
            self.owned = set(self.sites)
        else:
            import psycopg

            self._conn = psycopg.connect(dsn, autocommit=True)

    @property
    def active(self) -> bool:
        return self._conn is not None

    def preferred(self, site: str) -> bool:
        k, n = self.shard
        return int(hashlib.sha256(site.encode()).hexdigest(), 16) % n == k

    def owns(self, site: str) -> bool:
        return site in self.owned or site not in self.sites

    def poll(self) -> set[str]:
        """Take the sites that are free and ours to take; returns those newly taken."""
        if self._conn is None:
            return set()
        now = time.monotonic()
        held = {
            (int(r[0]) << 32) | int(r[1])
            for r in self._conn.execute(
                "SELECT classid::bigint, objid::bigint FROM pg_locks"
                " WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
            )
        }
        new: set[str] = set()
        for site in self.sites:
            if site in self.owned:
                continue
            key = site_key(site)
            if key in held:
                self._free_since.pop(site, None)
                continue
            since = self._free_since.setdefault(site, now)
            if not self.preferred(site) and now - since < self.grace_s:
                continue
            if self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                self.owned.add(site)
                new.add(site)
        if new:
            log.warning("took over %d site(s): %s", len(new), ", ".join(sorted(new)[:10]))
        return new

    # ------------------------------------------------------------------ parked commands

    def park(self, msg: Any) -> None:
        self.parked.append((time.monotonic(), msg))

    def unpark(self, sites: set[str]) -> list[Any]:
        """The parked commands of `sites`, in arrival order; old ones are forgotten."""
        cut = time.monotonic() - PARK_S
        keep: deque[tuple[float, Any]] = deque()
        out = []
        for at, msg in self.parked:
            if at < cut:
                continue
            if site_of(msg.topic) in sites:
                out.append(msg)
            else:
                keep.append((at, msg))
        self.parked = keep
        return out

    def forget_old(self) -> None:
        cut = time.monotonic() - PARK_S
        while self.parked and self.parked[0][0] < cut:
            self.parked.popleft()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def from_env(database: str, sites: Iterable[str]) -> SiteOwnership:
    """`VUORO_SCHEDULER_SHARD=k/n` (process k of n, from 1) on PostgreSQL turns on site
    ownership; otherwise this process owns every site (the single-process default)."""
    import os

    from sqlalchemy.engine import make_url

    spec = os.environ.get("VUORO_SCHEDULER_SHARD", "").strip()
    url = make_url(database)
    if not spec or url.get_backend_name() != "postgresql":
        return SiteOwnership(None, sites)
    k, _, n = spec.partition("/")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return SiteOwnership(dsn, sites, shard=(int(k) - 1, int(n)))
