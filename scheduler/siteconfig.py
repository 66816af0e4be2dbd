"""The live configuration of the sites: seeded from the config file, changed by the admin
pages, and taken by the running scheduler at once.

Where a site's configuration lives. The `[[sites]]` tables of the scheduler's config file
seed the `site_configs` table on the first start. After that the admin pages change the
stored copy (and `vuoro provision` adds and removes devices through the same path), and a
restart keeps those changes. The file still wins when *it* changes: each stored site
remembers the hash of the file's version it was seeded from, and a file whose site differs
from that hash replaces the stored one (logged as a warning). A site made in the admin
pages lives only in the database.

A change (`SiteAdmin.apply`) is checked by the very models that check the config file
(`SiteCfg`, and `SchedulerConfig` for what spans sites, e.g. device ids), then handed to
the scheduler's worker thread, which refuses it if it would strand a customer
(`Scheduler.replace_site`), stores it with an optimistic version check, swaps the
site's definition in and publishes every device's retained config, the desks' states and
the lobby snapshot, so devices follow at once. The booking service rebuilds the site's
availability index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from firmware_common import protocol as p
from scheduler.config import SchedulerConfig, SiteCfg
from scheduler.domain.errors import DomainError
from scheduler.store import tables as t

if TYPE_CHECKING:
    from scheduler.bridge import WorkerBridge
    from scheduler.service import Outgoing, Scheduler

log = logging.getLogger("vuoro.siteconfig")


class ConfigConflict(Exception):
    """Somebody else changed the site since it was read: read it again."""


class ConfigInvalid(Exception):
    """The change does not pass the config file's checks; `problems` name each field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def site_doc(sc: SiteCfg) -> dict[str, Any]:
    """A site's configuration as JSON (the keys of the config file)."""
    return sc.model_dump(mode="json", by_alias=True, exclude_none=True)


def doc_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def problems_of(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "sites")
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(f"{where}: {msg}" if where else msg)
    return out


class SiteConfigStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = p.now_utc) -> None:
        self.engine = engine
        self.clock = clock

    def sync(self, config: SchedulerConfig) -> SchedulerConfig:
        """The configuration to run: the file's sites seed or (when changed in the file)
        replace the stored ones; stored sites the file does not have are added."""
        now = self.clock()
        docs: dict[str, dict[str, Any]] = {}
        with self.engine.begin() as conn:
            stored = {r.site: r for r in conn.execute(select(t.site_configs))}
            for sc in config.sites:
                doc = site_doc(sc)
                h = doc_hash(doc)
                row = stored.pop(sc.id, None)
                if row is None:
                    conn.execute(
                        insert(t.site_configs).values(
                            site=sc.id,
                            doc=doc,
                            seed_hash=h,
                            version=1,
                            updated_at=now,
                            updated_by="config-file",
                        )
                    )
                    docs[sc.id] = doc
                elif row.seed_hash != h:
                    if row.updated_by != "config-file":
                        log.warning(
                            "site %s: the config file changed, so its version replaces the "
                            "changes made in the admin pages (%s, %s)",
                            sc.id,
                            row.updated_by,
                            row.updated_at,
                        )
                    conn.execute(
                        update(t.site_configs)
                        .where(t.site_configs.c.site == sc.id)
                        .values(
                            doc=doc,
                            seed_hash=h,
                            version=row.version + 1,
                            updated_at=now,
                            updated_by="config-file",
                        )
                    )
                    docs[sc.id] = doc
                else:
                    docs[sc.id] = row.doc
            for sid, row in stored.items():
                docs[sid] = row.doc
        base = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        base["sites"] = list(docs.values())
        try:
            return SchedulerConfig.model_validate(base)
        except ValidationError as exc:  # a stored site no longer fits: run the file's
            log.error("stored site configuration refused (%s); using the config file", exc)
            return config

    def versions(self) -> dict[str, tuple[int, datetime, str]]:
        with self.engine.connect() as conn:
            return {
                r.site: (r.version, r.updated_at, r.updated_by)
                for r in conn.execute(select(t.site_configs))
            }

    def save(self, sc: SiteCfg, by: str, expected_version: int | None) -> int:
        """Store a site's new configuration; ConfigConflict if `expected_version` is not
        the stored one (None: a new site). Returns the new version."""
        now = self.clock()
        doc = site_doc(sc)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.site_configs.c.version).where(t.site_configs.c.site == sc.id)
            ).first()
            if expected_version is None:
                if row is not None:
                    raise ConfigConflict(sc.id)
                conn.execute(
                    insert(t.site_configs).values(
                        site=sc.id,
                        doc=doc,
                        seed_hash="",
                        version=1,
                        updated_at=now,
                        updated_by=by,
                    )
                )
                return 1
            if row is None or row.version != expected_version:
                raise ConfigConflict(sc.id)
            got = conn.execute(
                update(t.site_configs)
                .where(
                    t.site_configs.c.site == sc.id,
                    t.site_configs.c.version == expected_version,
                )
                .values(doc=doc, version=expected_version + 1, updated_at=now, updated_by=by)
            )
            if got.rowcount != 1:
                raise ConfigConflict(sc.id)
            return expected_version + 1


class SiteAdmin:
    """Changes to the sites while the scheduler runs (the admin pages' one way in)."""

    def __init__(
        self,
        config: SchedulerConfig,
        store: SiteConfigStore,
        bridge: WorkerBridge,
        *,
        booking: Any = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.config = config
        self.store = store
        self.bridge = bridge
        self.booking = booking
        self.timeout_s = timeout_s
        self._lock = threading.Lock()

    def site(self, site_id: str) -> SiteCfg:
        for sc in self.config.sites:
            if sc.id == site_id:
                return sc
        raise DomainError("unknown_site")

    def version(self, site_id: str) -> int:
        return self.store.versions().get(site_id, (0, None, ""))[0]

    def validate(self, doc: dict[str, Any]) -> tuple[SiteCfg, SchedulerConfig]:
        """`doc` checked as the config file's site (and across sites); ConfigInvalid."""
        base = self.config.model_dump(mode="json", by_alias=True, exclude_none=True)
        sid = doc.get("id")
        sites = [s for s in base["sites"] if s.get("id") != sid]
        base["sites"] = [*sites, doc]
        try:
            new = SchedulerConfig.model_validate(base)
        except ValidationError as exc:
            raise ConfigInvalid(problems_of(exc)) from None
        return next(s for s in new.sites if s.id == sid), new

    def apply(self, doc: dict[str, Any], by: str, expected_version: int | None) -> int:
        """Check, store and run a site's new configuration. Returns its new version.

        ConfigInvalid (the checks of the config file), DomainError `bad_state` (it would
        strand a customer), ConfigConflict (changed meanwhile): nothing changed then."""
        with self._lock:
            sc, new_config = self.validate(doc)
            sd = sc.to_domain()

            def run(sch: Scheduler) -> tuple[int, list[Outgoing]]:
                sch.check_site_change(sd)
                version = self.store.save(sc, by, expected_version)
                return version, sch.replace_site(sd)

            version = self.bridge.call_publishing(run).result(self.timeout_s)
            self.config = new_config
            if self.booking is not None:
                self.booking.replace_site(sc, sd)
            log.info("site %s: configuration version %d by %s", sc.id, version, by)
            return int(version)
