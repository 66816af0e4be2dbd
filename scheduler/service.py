"""The service layer: every command, from MQTT or (later) HTTP, goes through here.

`Scheduler.handle_batch()` takes incoming command messages, runs each against the site
aggregates in memory, commits all changes and replies in ONE transaction (group commit:
durable, and fast), and only then returns what to publish: replies, retained display and
desk state, `event/called`. Nothing is published and nothing is acknowledged to the broker
before the commit, so a crash loses nothing that was answered `ok`, and a repeated command
id gets the stored reply instead of a second ticket.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from firmware_common import protocol as p
from scheduler.domain.errors import DomainError
from scheduler.domain.model import DeviceDef, SiteDef, SiteState, Ticket
from scheduler.store.db import CommandRecord, StaleState, Store

log = logging.getLogger("vuoro.scheduler")

REPLY_CACHE = 50_000
COMMAND_KEEP = timedelta(hours=48)


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    token: Any = None  # the adapter's handle to acknowledge the message after commit
    # A command from the staff pages (scheduler/web): the signed-in user's stand-in device
    # (role desk, the desks the user may work at). Its reply goes back to the page only.
    actor: DeviceDef | None = None


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: dict[str, Any] | None  # None: an empty retained message (clears the topic)
    retain: bool = False
    correlation: str | None = None


@dataclass
class BatchResult:
    out: list[Outgoing] = field(default_factory=list)
    acks: list[Any] = field(default_factory=list)
    replies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class _Unexpected(Exception):
    """A bug met while handling one command: the batch falls back to one at a time."""


class Scheduler:
    def __init__(
        self,
        sites: dict[str, SiteDef],
        store: Store,
        *,
        status_url_base: str = "http://localhost:8080/t/",
        clock: Callable[[], datetime] = p.now_utc,
        new_id: Callable[[], str] = p.new_id,
        new_token: Callable[[], str] = lambda: secrets.token_urlsafe(16),
        booking: Any = None,
        after_batch: Callable[[Scheduler, set[str]], None] | None = None,
    ) -> None:
        self.defs = sites
        self.store = store
        self.status_url_base = status_url_base
        self.clock = clock
        self.new_id = new_id
        self.new_token = new_token
        self.states: dict[str, SiteState] = {}
        # The booking service (scheduler/booking/service.py), None without bookable sites.
        self.booking = booking
        # Called (worker thread) with the ids of the sites a batch changed, after its
        # commit, and with every site after each tick (estimates change with time): the
        # mobile ticket page's hub (scheduler/web/tickets.py) reads the states there.
        self.after_batch = after_batch
        # Run after the batch's commit (e.g. marking a reservation checked in: the ticket,
        # committed with the batch, is the truth; this only mirrors it).
        self._after_commit: list[Callable[[], None]] = []
        # This batch's replies so far, and superseded command ids to answer (offline mode).
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._superseded: list[tuple[str, str, str, dict[str, Any]]] = []
        self._appt_info: dict[str, dict[str, Any]] = {}
        # Recent replies by (device, id), as JSON: as dicts, 50,000 of them would make every
        # full garbage collection of the process take tens of milliseconds.
        self._replies: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        # The hashes of the (device, id) keys of every command in the store (keys only:
        # loaded by `load`, kept in step by commits and `purge`), each with the newest
        # `at` among its keys: a new id whose hash is not here is not in the store, so the
        # batch needs no look-up for it. A hash collision only costs a look-up. None
        # until loaded: then every id not in `_replies` is looked up.
        self._stored: dict[int, datetime] | None = None
        self._stored_order: deque[tuple[datetime, int]] = deque()
        self._published: dict[str, dict[str, Any]] = {}  # topic -> last retained body
        self._device_site = {dev: s.id for s in sites.values() for dev in s.devices}

    # ------------------------------------------------------------------ start-up

    def set_defs(self, sites: dict[str, SiteDef]) -> None:
        """The sites to run (before `load`): the stored configuration may differ from
        the file's (scheduler/siteconfig.py)."""
        self.defs = sites
        self._device_site = {dev: s.id for s in sites.values() for dev in s.devices}

    def load(self) -> None:
        now = self.clock()
        self.states = {sid: self.store.load_site(d, now) for sid, d in self.defs.items()}
        self._stored, self._stored_order = {}, deque()
        for device, cmd_id, at in self.store.command_keys():
            self._note_stored((device, cmd_id), at)

    def _note_stored(self, key: tuple[str, str], at: datetime) -> None:
        assert self._stored is not None
        h = hash(key)
        newest = self._stored.get(h)
        self._stored[h] = at if newest is None or at > newest else newest
        self._stored_order.append((at, h))

    def startup_messages(self) -> list[Outgoing]:
        """Everything retained, published on every (re)connect: configs, desks, display."""
        now = self.clock()
        out: list[Outgoing] = []
        for st in self.states.values():
            out.extend(self._configs(st, now, force=True))
            for desk in st.site.desks:
                out.extend(self._desk_state(st, desk, force=True))
            out.append(self._display(st, now))
            self.store.save_display_seq(st.site.id, st.display_seq)
        return out

    def tick(self) -> list[Outgoing]:
        """Periodic housekeeping: opening-hour changes, day roll-over, old command ids."""
        now = self.clock()
        out: list[Outgoing] = []
        for st in self.states.values():
            st.forget_before(st.today(now))
            out.extend(self._configs(st, now))
            body = self._display_body(st, now)
            last = self._published.get(p.Topics.display_state(st.site.id))
            if last is None or _display_key(last) != _display_key(body):
                out.append(self._display(st, now))
                self.store.save_display_seq(st.site.id, st.display_seq)
        self._notify(set(self.states))
        return out

    def check_site_change(self, site: SiteDef) -> None:
        """`replace_site`'s refusals, without changing anything."""
        old = self.states.get(site.id)
        if old is None:
            return
        for desk, rt in old.desks.items():
            if desk not in site.desks and rt.status in ("calling", "serving"):
                raise DomainError("bad_state", state=f"desk {desk}: {rt.status}")
        for q in sorted({t.queue for t in old.live_tickets()} - set(site.queues)):
            raise DomainError("bad_state", state=f"queue {q}: customers waiting")

    def replace_site(self, site: SiteDef) -> list[Outgoing]:
        """Take a site's new definition (the admin pages changed it) while running: the
        live tickets, desks and counters stay; every device gets its new retained config
        at once, a removed device an empty one (and its commands `not_allowed`).

        Refused (DomainError `bad_state`, nothing changed) when the change would strand a
        customer: a removed desk that is calling or serving, a removed queue with people
        in it. A new site starts empty."""
        self.check_site_change(site)
        now = self.clock()
        old = self.states.get(site.id)
        if old is None:
            self.defs[site.id] = site
            self.states[site.id] = self.store.load_site(site, now)
            self._device_site.update({dev: site.id for dev in site.devices})
            st = self.states[site.id]
        else:
            st = SiteState(
                site,
                version=old.version,
                display_seq=old.display_seq,
                tickets=old.tickets.values(),
                desks={d: rt for d, rt in old.desks.items() if d in site.desks},
                counters=old.counters,
                calls=old.calls,
            )
            self.defs[site.id] = site
            self.states[site.id] = st
        out: list[Outgoing] = []
        gone = [
            d for d, sid in self._device_site.items() if sid == site.id and d not in site.devices
        ]
        for device in gone:
            del self._device_site[device]
            topic = p.Topics.config(site.id, device)
            self._published.pop(topic, None)
            out.append(Outgoing(topic, None, retain=True))
        self._device_site.update({dev: site.id for dev in site.devices})
        out.extend(self._configs(st, now, force=True))
        for desk in site.desks:
            out.extend(self._desk_state(st, desk, force=True))
        if old is not None:
            for desk in set(old.site.desks) - set(site.desks):
                topic = p.Topics.desk_state(site.id, desk)
                self._published.pop(topic, None)
                out.append(Outgoing(topic, None, retain=True))
        out.append(self._display(st, now))
        self.store.save_display_seq(site.id, st.display_seq)
        self._notify({site.id})
        return out

    def _notify(self, sites: set[str]) -> None:
        if self.after_batch is None or not sites:
            return
        try:
            self.after_batch(self, sites)
        except Exception:
            log.exception("after-batch hook failed (the committed state stands)")

    def purge(self) -> int:
        before = self.clock() - COMMAND_KEEP
        n = self.store.purge_commands(before)
        if self._stored is not None:
            order = self._stored_order
            while order and order[0][0] < before:
                h = order.popleft()[1]
                newest = self._stored.get(h)
                if newest is not None and newest < before:
                    del self._stored[h]
        return n

    # ------------------------------------------------------------------ batches

    def handle_batch(self, batch: list[Incoming]) -> BatchResult:
        try:
            return self._run_batch(batch)
        except (StaleState, _Unexpected) as exc:
            log.warning("batch of %d re-run one by one: %s", len(batch), exc)
            self.load()
        except Exception:
            log.exception("commit failed; reloading state and re-running the batch one by one")
            self.load()
        result = BatchResult()
        for msg in batch:
            try:
                one = self._run_batch([msg])
            except Exception as exc:
                log.error("command on %s failed: %s", msg.topic, exc)
                self.load()
                try:
                    one = self._run_batch([msg], failed=True)
                except Exception:
                    # Even refusing it failed (e.g. a bug in building the state messages):
                    # nothing of it is committed; it is acknowledged and dropped so that one
                    # message cannot stop the worker; a device's durable outbox sends again.
                    log.exception(
                        "command on %s dropped: the scheduler could not answer", msg.topic
                    )
                    self.load()
                    one = BatchResult(acks=[msg.token])
            result.out.extend(one.out)
            result.acks.extend(one.acks)
            result.replies.update(one.replies)
        return result

    def _run_batch(self, batch: list[Incoming], failed: bool = False) -> BatchResult:
        now = self.clock()
        self._after_commit = []
        self._superseded = []
        result = BatchResult()
        self._pending = result.replies
        records: list[CommandRecord] = []
        replies: list[Outgoing] = []
        parsed = [self._parse(msg) for msg in batch]
        # Repeated ids not in the cache: looked up in the store with one query per batch,
        # only those the store may hold (`_stored`).
        unknown = [
            (x[1], x[3]) for x in parsed if x is not None and (x[1], x[3]) not in self._replies
        ]
        if self._stored is not None:
            unknown = [k for k in unknown if hash(k) in self._stored]
        stored = self.store.find_replies(unknown)
        for msg, parsed_msg in zip(batch, parsed, strict=True):
            result.acks.append(msg.token)
            if parsed_msg is None:
                continue
            handled = self._handle(
                msg, now, result.replies, failed=failed, parsed=parsed_msg, stored=stored
            )
            if handled is None:
                continue
            site, device, verb, cmd_id, reply, fresh = handled
            key = (device, cmd_id)
            if fresh and not failed:
                records.append(CommandRecord(device, cmd_id, site, verb, now, reply))
                result.replies[key] = reply
            elif msg.actor is not None:
                result.replies.setdefault(key, reply)
            if msg.actor is None:
                replies.append(Outgoing(p.Topics.reply(site, device), reply, correlation=cmd_id))
        for device, cmd_id, site, body in self._superseded:
            if failed or (device, cmd_id) in result.replies:
                continue
            reply = {"v": 1, "id": cmd_id, "ok": True, **body}
            records.append(CommandRecord(device, cmd_id, site, "ticket", now, reply))
            result.replies[(device, cmd_id)] = reply

        # What the changes publish, built before the commit (which clears the change sets).
        after: list[Outgoing] = []
        touched = [st for st in self.states.values() if st.events or st.dirty_desks]
        for st in touched:
            sid = st.site.id
            for e in st.events:
                if e.kind in ("called", "recalled"):
                    tk = st.tickets[e.ticket_id] if e.ticket_id else None
                    if tk is None or e.desk is None:
                        continue
                    after.append(
                        Outgoing(
                            p.Topics.event_called(sid),
                            p.CalledEvent(
                                number=tk.number,
                                desk=st.site.desks[e.desk].label,
                                recall=e.kind == "recalled",
                                at=p.rfc3339(e.at),
                                lang=tk.lang,  # type: ignore[arg-type]
                            ).dump(),
                        )
                    )
            for desk in sorted(st.dirty_desks):
                after.extend(self._desk_state(st, desk))
            if st.display_changed:
                after.append(self._display(st, now))

        self.store.commit(self.states.values(), records, now)
        for hook in self._after_commit:
            try:
                hook()
            except Exception:
                log.exception("after-commit step failed (the committed state stands)")
        self._after_commit = []
        if self._stored is not None:
            for rec in records:
                self._note_stored((rec.device, rec.id), rec.at)
        for key, reply in result.replies.items():
            self._remember(key, reply)
        result.out = replies + after
        self._notify({st.site.id for st in touched})
        return result

    def _remember(self, key: tuple[str, str], reply: dict[str, Any]) -> None:
        self._replies[key] = p.encode(reply)
        self._replies.move_to_end(key)
        while len(self._replies) > REPLY_CACHE:
            self._replies.popitem(last=False)

    # ------------------------------------------------------------------ one command

    def _parse(self, msg: Incoming) -> tuple[str, str, str, str, dict[str, Any]] | None:
        """Route and decode one command: (site, device, verb, id, data), or None (dropped)."""
        route = p.parse_cmd_topic(msg.topic)
        if route is None:
            log.warning("dropped a message on unexpected topic %r", msg.topic[:200])
            return None
        site, device, verb = route
        try:
            data = p.decode(msg.payload)
        except p.BadPayload as exc:
            log.warning("dropped a command from %s/%s: %s", site, device, exc)
            return None
        cmd_id = data.get("id")
        if not isinstance(cmd_id, str) or not cmd_id or len(cmd_id) > 100:
            log.warning("dropped a command from %s/%s without a usable id", site, device)
            return None
        return site, device, verb, cmd_id, data

    def _handle(
        self,
        msg: Incoming,
        now: datetime,
        pending: dict[tuple[str, str], dict[str, Any]],
        failed: bool = False,
        *,
        parsed: tuple[str, str, str, str, dict[str, Any]] | None = None,
        stored: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> tuple[str, str, str, str, dict[str, Any], bool] | None:
        """Route, check and run one command: (site, device, verb, id, reply, fresh) or None.

        `fresh` is False for a repeated id (answered from `pending`, the cache or the
        store; `stored` are the store's replies looked up for the whole batch). With
        `failed`, the command met a bug before: it is answered `internal_error` and not
        recorded, so the device's retry runs it again.
        """
        if parsed is None:
            parsed = self._parse(msg)
            if parsed is None:
                return None
        site, device, verb, cmd_id, data = parsed
        known = self._known_reply(device, cmd_id, pending, stored)
        if known is not None:
            log.info("repeated command %s from %s: same reply", cmd_id, device)
            return site, device, verb, cmd_id, known, False
        if failed:
            reply = _error(cmd_id, DomainError("internal_error"))
        else:
            reply = self._execute(site, device, verb, cmd_id, data, now, msg.actor)
        return site, device, verb, cmd_id, reply, True

    def _execute(
        self,
        site: str,
        device: str,
        verb: str,
        cmd_id: str,
        data: dict[str, Any],
        now: datetime,
        actor: DeviceDef | None = None,
    ) -> dict[str, Any]:
        try:
            st = self.states.get(site)
            dev = (actor or st.site.devices.get(device)) if st else None
            if st is None or dev is None:
                log.warning("command %s from %s: not registered at site %r", verb, device, site)
                raise DomainError("not_allowed")
            model = p.COMMAND_MODELS.get(verb)
            if model is None:
                raise DomainError("bad_request", detail=f"unknown verb {verb[:32]!r}")
            if verb not in p.ROLE_VERBS.get(dev.role, frozenset()):
                log.warning("command %s from %s: role %s may not", verb, device, dev.role)
                raise DomainError("not_allowed")
            try:
                cmd = model.model_validate(data)
            except ValidationError as exc:
                raise DomainError("bad_request", detail=p.validation_summary(exc)) from None
            if isinstance(cmd, p.DeskCmd) and cmd.desk not in dev.desks:
                log.warning("command %s from %s for desk %s: not its desk", verb, device, cmd.desk)
                raise DomainError("not_allowed")
            try:
                result = self._apply(st, device, verb, cmd, now)
            except DomainError:
                raise
            except Exception as exc:
                raise _Unexpected(f"{type(exc).__name__}: {exc}") from exc
        except DomainError as err:
            return _error(cmd_id, err)
        return {"v": 1, "id": cmd_id, "ok": True, **result}

    def _apply(
        self, st: SiteState, device: str, verb: str, cmd: p.Command, now: datetime
    ) -> dict[str, Any]:
        if isinstance(cmd, p.TicketCmd):
            return self._ticket(st, device, cmd, now)
        if isinstance(cmd, p.CheckinCmd):
            return self._checkin(st, device, cmd, now)
        assert isinstance(cmd, p.DeskCmd)
        desk = cmd.desk
        st.desk_def(desk)
        out: dict[str, Any] = {}
        ticket: Ticket | None
        if verb == "next":
            ticket, finished = st.next(desk, now)
            out["finished"] = finished.number if finished else None
        elif verb == "call":
            assert isinstance(cmd, p.CallCmd)
            ticket, finished = st.call(desk, cmd.number, now)
            out["finished"] = finished.number if finished else None
        elif verb == "recall":
            ticket = st.recall(desk, now)
        elif verb == "start":
            ticket = st.start(desk, now)
        elif verb == "finish":
            ticket = st.finish(desk, now)
        elif verb == "noshow":
            ticket = st.noshow(desk, now)
        elif verb == "transfer":
            assert isinstance(cmd, p.TransferCmd)
            ticket = st.transfer(desk, cmd.queue, now)
        elif verb == "open":
            st.open_desk(desk, now)
            ticket = None
        else:
            st.close_desk(desk, now)
            ticket = None
        out["ticket"] = self.ticket_info(st, ticket, now) if ticket else None
        out["desk"] = {"desk": desk, **st.desk_state(desk)}
        return out

    def _ticket(
        self, st: SiteState, device: str, cmd: p.TicketCmd, now: datetime
    ) -> dict[str, Any]:
        """A walk-in ticket; with `offline`, one the kiosk numbered itself while the
        scheduler did not answer, superseding its unanswered command `supersedes`
        (docs/protocol.md, offline mode): never two tickets for one customer."""
        earlier = None
        if cmd.supersedes:
            earlier = self._known_reply(device, cmd.supersedes, self._pending)
            if earlier is not None and earlier.get("ok") and cmd.offline is not None:
                # The first command got through after all: its ticket takes the number
                # the customer holds.
                number = (earlier.get("ticket") or {}).get("number")
                tk = next(
                    (t for t in st.live_tickets() if t.device == device and t.number == number),
                    None,
                )
                if tk is not None:
                    st.renumber(tk.id, cmd.offline.number, now)
                    log.info("offline ticket %s from %s: renumbered %s", tk.number, device, number)
                    return {"ticket": self.ticket_info(st, tk, now)}
        tk = st.issue_ticket(
            service_id=cmd.service,
            lang=cmd.lang,
            priority=cmd.priority,
            now=now,
            ticket_id=self.new_id(),
            token=self.new_token(),
            device=device,
            offline_number=cmd.offline.number if cmd.offline else None,
            offline_at=_parse_time(cmd.offline.issued_at) if cmd.offline else None,
        )
        if cmd.offline is not None:
            if tk.number != cmd.offline.number:
                log.warning(
                    "offline ticket %s from %s was live already: got %s",
                    cmd.offline.number,
                    device,
                    tk.number,
                )
            log.info("offline ticket %s from %s taken in", tk.number, device)
        result = {"ticket": self.ticket_info(st, tk, now)}
        if cmd.supersedes and earlier is None:
            # If the superseded command still arrives, it gets this reply, not a ticket.
            self._superseded.append((device, cmd.supersedes, st.site.id, result))
        return result

    def _known_reply(
        self,
        device: str,
        cmd_id: str,
        pending: dict[tuple[str, str], dict[str, Any]],
        stored: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """The reply already given to (device, id): from this batch (`pending`), the
        cache, or the store (`stored`: the batch's look-up, else one query)."""
        key = (device, cmd_id)
        known = pending.get(key)
        if known is None and key in self._replies:
            known = json.loads(self._replies[key])
        if known is None and stored is not None:
            known = stored.get(key)
        elif known is None:
            known = self.store.find_reply(device, cmd_id)
        return known

    def _checkin(
        self, st: SiteState, device: str, cmd: p.CheckinCmd, now: datetime
    ) -> dict[str, Any]:
        """DOMAIN.md rule 3: the booking service finds the reservation and checks the
        window; the site aggregate makes (or finds again) its ticket."""
        if self.booking is None or st.site.id not in self.booking.sites:
            raise DomainError("reservation_not_found")
        res = self.booking.find_checkin(st.site.id, cmd.by, cmd.value, now)
        tk, new = st.check_in(
            reservation_id=res.id,
            service_id=res.service,
            advisor=res.advisor,
            appt_start=res.start,
            lang=cmd.lang,
            now=now,
            ticket_id=self.new_id(),
            token=self.new_token(),
            device=device,
        )
        if new:
            booking, rid, tid = self.booking, res.id, tk.id
            self._after_commit.append(lambda: booking.mark_checked_in(rid, tid, now))
        log.info("reservation %s checked in as %s", res.code, tk.number)
        return {"ticket": self.ticket_info(st, tk, now)}

    def _appointment(self, st: SiteState, tk: Ticket) -> dict[str, Any] | None:
        if tk.reservation_id is None or self.booking is None:
            return None
        info = self._appt_info.get(tk.reservation_id)
        if info is None:
            try:
                res = self.booking.store.get(tk.reservation_id)
            except Exception:
                return None
            sb = self.booking.sites.get(st.site.id)
            adv = sb.advisors.get(res.advisor) if sb else None
            info = {
                "code": res.code,
                "start": p.rfc3339(res.start),
                "resource": adv.name if adv else res.advisor,
            }
            self._appt_info[tk.reservation_id] = info
        return dict(info)

    # ------------------------------------------------------------------ views

    def ticket_info(self, st: SiteState, tk: Ticket, now: datetime) -> dict[str, Any]:
        position = st.position(tk)
        return {
            "number": tk.number,
            "queue": tk.queue,
            "service": tk.service,
            "position": position,
            "eta_min": st.ticket_eta(tk, now, position),
            "issued_at": p.rfc3339(tk.issued_at),
            "status_url": f"{self.status_url_base}{tk.token}",
            "appointment": self._appointment(st, tk),
            "priority": tk.priority,
        }

    def _display_body(self, st: SiteState, now: datetime) -> dict[str, Any]:
        snap = st.display_snapshot(now)
        for c in snap["called"]:  # type: ignore[union-attr]
            c["at"] = p.rfc3339(c["at"])
        return snap

    def _display(self, st: SiteState, now: datetime) -> Outgoing:
        st.display_seq += 1
        body = {"v": 1, "seq": st.display_seq, "at": p.rfc3339(now), **self._display_body(st, now)}
        topic = p.Topics.display_state(st.site.id)
        self._published[topic] = body
        return Outgoing(topic, body, retain=True)

    def _desk_state(self, st: SiteState, desk: str, force: bool = False) -> list[Outgoing]:
        topic = p.Topics.desk_state(st.site.id, desk)
        body = {"v": 1, **st.desk_state(desk)}
        if not force and self._published.get(topic) == body:
            return []
        self._published[topic] = body
        return [Outgoing(topic, body, retain=True)]

    def device_config(self, st: SiteState, device: str, now: datetime) -> dict[str, Any]:
        dev = st.site.devices[device]
        body: dict[str, Any] = {
            "v": 1,
            "site": st.site.id,
            "role": dev.role,
            "languages": list(st.site.languages),
            "site_name": dict(st.site.name),
        }
        if dev.role == "kiosk":
            body["services"] = [
                {
                    "id": s.id,
                    "name": dict(s.name),
                    "provider": s.provider,
                    "queue": s.queue,
                    "walk_in": s.walk_in,
                    "appointments": s.appointments,
                    "open": st.service_open(s, now),
                    "prefix": st.site.queues[s.queue].prefix,
                    "opens": self._opens(st, s, now),
                    "instructions": dict(s.instructions) if s.instructions else None,
                }
                for s in st.site.services.values()
            ]
            if dev.offline_numbers:
                first, last = dev.offline_numbers
                body["offline_numbers"] = {"first": first, "last": last}
        elif dev.role == "desk":
            body["desk"] = st.site.desks[dev.desks[0]].label
            body["desks"] = list(dev.desks)
            body["queues"] = list(st.site.desks[dev.desks[0]].queues)
            body["queue_names"] = {q.id: dict(q.name) for q in st.site.queues.values()}
        else:
            body["layout"] = dev.layout
        return body

    def _opens(self, st: SiteState, service: Any, now: datetime) -> str | None:
        """When a closed service next takes walk-ins (RFC 3339), for the kiosk's menu."""
        if not service.walk_in or st.service_open(service, now):
            return None
        nxt = st.site.walk_in_calendar(service).next_opening(st.local(now))
        return p.rfc3339(nxt) if nxt is not None else None

    def _configs(self, st: SiteState, now: datetime, force: bool = False) -> Iterable[Outgoing]:
        for device in st.site.devices:
            topic = p.Topics.config(st.site.id, device)
            body = self.device_config(st, device, now)
            if force or self._published.get(topic) != body:
                self._published[topic] = body
                yield Outgoing(topic, body, retain=True)


def _display_key(body: dict[str, Any]) -> tuple[Any, ...]:
    return (body["open"], body["queues"], body["called"], body["message"])


def _error(cmd_id: str, err: DomainError) -> dict[str, Any]:
    return {
        "v": 1,
        "id": cmd_id,
        "ok": False,
        "error": {"code": err.code, "message": err.message},
    }


def _parse_time(text: str) -> datetime:
    from datetime import UTC

    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
