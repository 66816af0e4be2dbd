"""The advisor tablet (issue 6, item 2): one desk's live work view.

Routes (role advisor; a site route also checks the user's sites):

    GET  /advisor/                          the user's sites and desks (choose a desk)
    GET  /advisor/{site}/{desk}             the tablet
    GET  /advisor/{site}/{desk}/events      its live view (Server-Sent Events, `view`)
    POST /advisor/{site}/{desk}/{verb}      next, call (`number`), recall, start, finish,
                                            noshow, transfer (`queue`), open, close

Every action is the desk verb itself, run by the scheduler's own `handle_batch` through
the worker bridge (`WorkerBridge.command`) for a web "desk device" of this user and desk
(`web-<user>`): the same handler, the same rules and error codes as a desk unit's button.
A form works without JavaScript (POST, then 303 back to the tablet with a short-lived
signed flash cookie; a refused action renders the tablet with the domain's message and
its HTTP status); advisor.js sends the same forms with fetch (`Accept: application/json`,
`X-CSRF-Token`) and takes the live view from the event stream.

Live view. `AdvisorHub` keeps, per watched (site, desk), the last view; views are made on
the scheduler's worker thread only (`desk_view`: the desk, the list `SiteState.callable_at`
gives in `next` order, queue counts, today's appointment tickets), in the scheduler's
after-batch hook (after every batch's commit and every tick) and, for a new stream, by a
function run through the bridge. A view is a plain dict of numbers and ids, never a name;
it crosses to the event loop with `call_soon_threadsafe`. The web side renders it per
stream, for the signed-in user, in their language, adding what the scheduler does not
hold: the day's reservations from the booking store, and the current customer's details
(name, service, answers to the pre-questions) for this advisor page only.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.concurrency import run_in_threadpool

from firmware_common import protocol as p
from scheduler.domain.model import DeviceDef
from scheduler.web.auth import User
from scheduler.web.i18n import choice_label
from scheduler.web.staff import StaffPage, StaffWeb, register, secure

log = logging.getLogger("vuoro.web.advisor")

VERBS = ("next", "call", "recall", "start", "finish", "noshow", "transfer", "open", "close")
# Which verbs fit which desk state (the buttons' look only: the scheduler judges).
ALLOWED = {
    "closed": {"open"},
    "open": {"next", "call", "close"},
    "calling": {"next", "call", "recall", "start", "finish", "noshow", "transfer"},
    "serving": {"next", "call", "finish", "transfer"},
}
STATUS_OF_ERROR = {
    "bad_request": 400,
    "unknown_queue": 400,
    "not_allowed": 403,
    "unknown_desk": 404,
}
WAIT_S = 10.0  # the worker's answer
KEEPALIVE_S = 10.0
RETRY_MS = 2000
MAX_WATCHERS = 500
FLASH_COOKIE = "vuoro_adv_flash"
NUMBER_RE = re.compile(r"^[A-Z]{1,3}\d{3,4}$")

View = dict[str, Any]

# ---------------------------------------------------------------------------- strings

register(
    {
        "fi": {
            "adv_title": "Palvelupiste",
            "adv_choose": "Valitse palvelupiste",
            "adv_choose_intro": "Valitse palvelupiste, jossa palvelet asiakkaita.",
            "adv_no_sites": "Sinulle ei ole määritetty toimipisteitä.",
            "adv_desk": "Palvelupiste {desk}",
            "adv_queues_of": "Jonot: {queues}",
            "adv_change_desk": "Vaihda palvelupistettä",
            "adv_status_closed": "Suljettu",
            "adv_status_open": "Avoinna, vapaa",
            "adv_status_calling": "Kutsuu asiakasta",
            "adv_status_serving": "Palvelee asiakasta",
            "adv_state": "Tila",
            "adv_current": "Nykyinen asiakas",
            "adv_no_current": "Palvelupisteellä ei ole asiakasta.",
            "adv_called_at": "Kutsuttu klo {time}",
            "adv_started_at": "Palvelu alkoi klo {time}",
            "adv_recalls": "Kutsuttu uudelleen {n} kertaa",
            "adv_waited": "Odottanut {n} min",
            "adv_min": "{n} min",
            "adv_appt_at": "Ajanvaraus klo {time}",
            "adv_priority": "Etusija",
            "adv_customer": "Asiakkaan varaus",
            "adv_private": "Vain sinulle, ei näy aulan näytöllä.",
            "adv_name": "Nimi",
            "adv_service": "Palvelu",
            "adv_queue": "Jono",
            "adv_code": "Varaustunnus",
            "adv_time": "Aika",
            "adv_number": "Numero",
            "adv_wait": "Odotus",
            "adv_advisor": "Virkailija",
            "adv_state_col": "Tilanne",
            "adv_answers": "Vastaukset ennakkokysymyksiin",
            "adv_no_answers": "Ei vastauksia ennakkokysymyksiin.",
            "adv_actions": "Toiminnot",
            "adv_next": "Seuraava asiakas",
            "adv_recall": "Kutsu uudelleen",
            "adv_start": "Aloita palvelu",
            "adv_finish": "Valmis",
            "adv_noshow": "Ei saapunut",
            "adv_transfer": "Siirrä",
            "adv_transfer_to": "Siirrä jonoon",
            "adv_open": "Avaa palvelupiste",
            "adv_close": "Sulje palvelupiste",
            "adv_call": "Kutsu",
            "adv_call_n": "Kutsu {number}",
            "adv_waiting": "Odottavat asiakkaat",
            "adv_waiting_none": "Ei odottavia asiakkaita.",
            "adv_waiting_count": "{n} odottaa",
            "adv_queue_counts": "Jonot",
            "adv_appts": "Päivän ajanvaraukset",
            "adv_appts_none": "Ei ajanvarauksia tänään.",
            "adv_arr_booked": "Varattu",
            "adv_arr_checked_in": "Ilmoittautunut",
            "adv_arr_called": "Kutsuttu",
            "adv_arr_serving": "Palvelussa",
            "adv_arr_done": "Palveltu",
            "adv_arr_noshow": "Ei saapunut",
            "adv_hint_closed": "Palvelupiste on suljettu. Avaa se kutsuaksesi asiakkaita.",
            "adv_hint_open": "Palvelupiste on vapaa. Kutsu seuraava asiakas.",
            "adv_hint_calling": "Odota asiakasta ja aloita palvelu, kun hän saapuu.",
            "adv_hint_serving": "Palvelu on käynnissä. Merkitse valmiiksi tai siirrä asiakas.",
            "adv_not_now": "ei käytettävissä nyt",
            "adv_live": "Päivittyy automaattisesti",
            "adv_offline": "Yhteys katkesi, yhdistetään uudelleen…",
            "adv_ok_called": "Kutsuttu {number}.",
            "adv_ok_finished_only": "{number} palveltu. Ei odottavia asiakkaita.",
            "adv_ok_recall": "{number} kutsuttu uudelleen.",
            "adv_ok_start": "Palvelu alkoi: {number}.",
            "adv_ok_finish": "{number} palveltu.",
            "adv_ok_noshow": "{number} merkitty saapumatta jääneeksi.",
            "adv_ok_transfer": "{number} siirretty jonoon {queue}.",
            "adv_ok_open": "Palvelupiste on avattu.",
            "adv_ok_close": "Palvelupiste on suljettu.",
            "adv_failed": "Toiminto epäonnistui.",
            "adv_summary": "{status}. {waiting}.",
        },
        "sv": {
            "adv_title": "Disk",
            "adv_choose": "Välj disk",
            "adv_choose_intro": "Välj disken där du betjänar kunder.",
            "adv_no_sites": "Du har inga verksamhetsställen.",
            "adv_desk": "Disk {desk}",
            "adv_queues_of": "Köer: {queues}",
            "adv_change_desk": "Byt disk",
            "adv_status_closed": "Stängd",
            "adv_status_open": "Öppen, ledig",
            "adv_status_calling": "Kallar kund",
            "adv_status_serving": "Betjänar kund",
            "adv_state": "Status",
            "adv_current": "Aktuell kund",
            "adv_no_current": "Ingen kund vid disken.",
            "adv_called_at": "Kallad kl. {time}",
            "adv_started_at": "Betjäningen började kl. {time}",
            "adv_recalls": "Kallad igen {n} gånger",
            "adv_waited": "Väntat {n} min",
            "adv_min": "{n} min",
            "adv_appt_at": "Tidsbokning kl. {time}",
            "adv_priority": "Förtur",
            "adv_customer": "Kundens bokning",
            "adv_private": "Endast för dig, visas inte på skärmen i väntrummet.",
            "adv_name": "Namn",
            "adv_service": "Tjänst",
            "adv_queue": "Kö",
            "adv_code": "Bokningskod",
            "adv_time": "Tid",
            "adv_number": "Nummer",
            "adv_wait": "Väntetid",
            "adv_advisor": "Handläggare",
            "adv_state_col": "Läge",
            "adv_answers": "Svar på förhandsfrågor",
            "adv_no_answers": "Inga svar på förhandsfrågor.",
            "adv_actions": "Åtgärder",
            "adv_next": "Nästa kund",
            "adv_recall": "Kalla igen",
            "adv_start": "Börja betjäna",
            "adv_finish": "Klar",
            "adv_noshow": "Kom inte",
            "adv_transfer": "Flytta",
            "adv_transfer_to": "Flytta till kö",
            "adv_open": "Öppna disken",
            "adv_close": "Stäng disken",
            "adv_call": "Kalla",
            "adv_call_n": "Kalla {number}",
            "adv_waiting": "Väntande kunder",
            "adv_waiting_none": "Inga väntande kunder.",
            "adv_waiting_count": "{n} väntar",
            "adv_queue_counts": "Köer",
            "adv_appts": "Dagens tidsbokningar",
            "adv_appts_none": "Inga tidsbokningar i dag.",
            "adv_arr_booked": "Bokad",
            "adv_arr_checked_in": "Anmäld",
            "adv_arr_called": "Kallad",
            "adv_arr_serving": "Betjänas",
            "adv_arr_done": "Betjänad",
            "adv_arr_noshow": "Kom inte",
            "adv_hint_closed": "Disken är stängd. Öppna den för att kalla kunder.",
            "adv_hint_open": "Disken är ledig. Kalla nästa kund.",
            "adv_hint_calling": "Vänta på kunden och börja betjäna när kunden kommer.",
            "adv_hint_serving": "Betjäning pågår. Markera som klar eller flytta kunden.",
            "adv_not_now": "inte tillgänglig nu",
            "adv_live": "Uppdateras automatiskt",
            "adv_offline": "Anslutningen bröts, ansluter igen…",
            "adv_ok_called": "{number} kallad.",
            "adv_ok_finished_only": "{number} betjänad. Inga väntande kunder.",
            "adv_ok_recall": "{number} kallad igen.",
            "adv_ok_start": "Betjäningen började: {number}.",
            "adv_ok_finish": "{number} betjänad.",
            "adv_ok_noshow": "{number} markerad som utebliven.",
            "adv_ok_transfer": "{number} flyttad till kön {queue}.",
            "adv_ok_open": "Disken är öppnad.",
            "adv_ok_close": "Disken är stängd.",
            "adv_failed": "Åtgärden misslyckades.",
            "adv_summary": "{status}. {waiting}.",
        },
        "en": {
            "adv_title": "Desk",
            "adv_choose": "Choose a desk",
            "adv_choose_intro": "Choose the desk where you serve customers.",
            "adv_no_sites": "You have no sites.",
            "adv_desk": "Desk {desk}",
            "adv_queues_of": "Queues: {queues}",
            "adv_change_desk": "Change desk",
            "adv_status_closed": "Closed",
            "adv_status_open": "Open, free",
            "adv_status_calling": "Calling a customer",
            "adv_status_serving": "Serving a customer",
            "adv_state": "Status",
            "adv_current": "Current customer",
            "adv_no_current": "No customer at the desk.",
            "adv_called_at": "Called at {time}",
            "adv_started_at": "Service started at {time}",
            "adv_recalls": "Called again {n} times",
            "adv_waited": "Waited {n} min",
            "adv_min": "{n} min",
            "adv_appt_at": "Appointment at {time}",
            "adv_priority": "Priority",
            "adv_customer": "Customer's reservation",
            "adv_private": "For you only, never shown on the lobby screen.",
            "adv_name": "Name",
            "adv_service": "Service",
            "adv_queue": "Queue",
            "adv_code": "Booking code",
            "adv_time": "Time",
            "adv_number": "Number",
            "adv_wait": "Wait",
            "adv_advisor": "Advisor",
            "adv_state_col": "State",
            "adv_answers": "Answers to pre-questions",
            "adv_no_answers": "No answers to pre-questions.",
            "adv_actions": "Actions",
            "adv_next": "Next customer",
            "adv_recall": "Recall",
            "adv_start": "Start service",
            "adv_finish": "Finish",
            "adv_noshow": "No-show",
            "adv_transfer": "Transfer",
            "adv_transfer_to": "Transfer to queue",
            "adv_open": "Open desk",
            "adv_close": "Close desk",
            "adv_call": "Call",
            "adv_call_n": "Call {number}",
            "adv_waiting": "Waiting customers",
            "adv_waiting_none": "Nobody is waiting.",
            "adv_waiting_count": "{n} waiting",
            "adv_queue_counts": "Queues",
            "adv_appts": "Today's appointments",
            "adv_appts_none": "No appointments today.",
            "adv_arr_booked": "Booked",
            "adv_arr_checked_in": "Checked in",
            "adv_arr_called": "Called",
            "adv_arr_serving": "Being served",
            "adv_arr_done": "Done",
            "adv_arr_noshow": "No-show",
            "adv_hint_closed": "The desk is closed. Open it to call customers.",
            "adv_hint_open": "The desk is free. Call the next customer.",
            "adv_hint_calling": "Wait for the customer and start the service when they arrive.",
            "adv_hint_serving": "Service in progress. Finish or transfer the customer.",
            "adv_not_now": "not available now",
            "adv_live": "Updates automatically",
            "adv_offline": "Connection lost, reconnecting…",
            "adv_ok_called": "Called {number}.",
            "adv_ok_finished_only": "{number} served. Nobody is waiting.",
            "adv_ok_recall": "{number} called again.",
            "adv_ok_start": "Service started: {number}.",
            "adv_ok_finish": "{number} served.",
            "adv_ok_noshow": "{number} marked as a no-show.",
            "adv_ok_transfer": "{number} transferred to {queue}.",
            "adv_ok_open": "The desk is open.",
            "adv_ok_close": "The desk is closed.",
            "adv_failed": "The action failed.",
            "adv_summary": "{status}. {waiting}.",
        },
    }
)

# ---------------------------------------------------------------------------- views (worker)


def _ts(dt: datetime | None) -> str | None:
    return p.rfc3339(dt) if dt is not None else None


def _ticket(site: Any, t: Any) -> dict[str, Any]:
    q = site.queues.get(t.queue)
    s = site.services.get(t.service)
    return {
        "number": t.number,
        "status": t.status,
        "queue": t.queue,
        "queue_name": dict(q.name) if q else {"fi": t.queue},
        "service": t.service,
        "service_name": dict(s.name) if s else {"fi": t.service},
        "priority": t.priority,
        "arrival_at": _ts(t.arrival_at),
        "called_at": _ts(t.called_at),
        "started_at": _ts(t.started_at),
        "recalls": t.recalls,
        "transfers": t.transfers,
        "appt_start": _ts(t.appt_start),
        "advisor": t.advisor,
        "reservation_id": t.reservation_id,
    }


def desk_view(scheduler: Any, site_id: str, desk_id: str) -> View | None:
    """One desk's live view (the scheduler's worker thread only: it reads SiteState)."""
    st = scheduler.states.get(site_id)
    if st is None:
        return None
    site = st.site
    d = site.desks.get(desk_id)
    if d is None:
        return None
    now = scheduler.clock()
    cur = st.current(desk_id)
    counts = dict.fromkeys(d.queues, 0)
    for t in st.waiting_in(d.queues):
        counts[t.queue] += 1
    today = st.today(now)
    appts = {}
    for t in st.tickets.values():
        if t.reservation_id and t.day == today:
            dd = site.desks.get(t.desk or "")
            appts[t.reservation_id] = {
                "number": t.number,
                "status": t.status,
                "desk": dd.label if dd else None,
            }
    return {
        "site": site.id,
        "site_name": dict(site.name),
        "timezone": site.timezone,
        "desk": desk_id,
        "label": d.label,
        "status": st.desks[desk_id].status,
        "current": _ticket(site, cur) if cur is not None else None,
        "callable": [_ticket(site, t) for t in st.callable_at(desk_id, now)],
        "counts": [[q, dict(site.queues[q].name), n] for q, n in counts.items()],
        "queues": [[q.id, dict(q.name)] for q in site.queues.values()],
        "services": {s.id: dict(s.name) for s in site.services.values()},
        "advisors": sorted(a for a, dk in site.advisor_desks.items() if dk == desk_id),
        "appointments": appts,
        "at": p.rfc3339(now),
    }


def site_list(scheduler: Any) -> list[dict[str, Any]]:
    """The sites and their desks (worker thread)."""
    out = []
    for sid, st in scheduler.states.items():
        site = st.site
        out.append(
            {
                "id": sid,
                "name": dict(site.name),
                "desks": [
                    {
                        "id": d.id,
                        "label": d.label,
                        "status": st.desks[d.id].status,
                        "queues": [dict(site.queues[q].name) for q in d.queues if q in site.queues],
                    }
                    for d in site.desks.values()
                ],
            }
        )
    return out


def _same(a: View | None, b: View | None) -> bool:
    if a is None or b is None:
        return a is b
    return {k: v for k, v in a.items() if k != "at"} == {k: v for k, v in b.items() if k != "at"}


_CLOSED = object()


@dataclass(eq=False)
class Watcher:
    key: tuple[str, str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def push(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the stream is gone anyway
            pass


class AdvisorHub:
    """The tablets' live views: written by the worker thread, read by the event loop.
    The bookkeeping is guarded by one lock, never held while a view is made or sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[tuple[str, str], set[Watcher]] = {}
        self._views: dict[tuple[str, str], View] = {}

    def watch(self, site: str, desk: str) -> Watcher | None:
        w = Watcher((site, desk), asyncio.get_running_loop())
        with self._lock:
            if sum(len(s) for s in self._watchers.values()) >= MAX_WATCHERS:
                return None
            self._watchers.setdefault(w.key, set()).add(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        with self._lock:
            ws = self._watchers.get(w.key)
            if ws is None:
                return
            ws.discard(w)
            if not ws:
                del self._watchers[w.key]
                self._views.pop(w.key, None)

    def watching(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._watchers.values())

    def first(self, scheduler: Any, w: Watcher) -> bool:
        """A new stream's first view (worker thread, through the bridge)."""
        view = desk_view(scheduler, *w.key)
        if view is None:
            return False
        with self._lock:
            if w not in self._watchers.get(w.key, ()):
                return False
            self._views[w.key] = view
        w.push(view)
        return True

    def after_batch(self, scheduler: Any, sites: set[str]) -> None:
        """Push the changed views of the watched desks of `sites` (worker thread)."""
        if not self._watchers:  # racy peek: a new stream gets its first view anyway
            return
        with self._lock:
            keys = [k for k in self._watchers if k[0] in sites]
        for key in keys:
            view = desk_view(scheduler, *key)
            with self._lock:
                ws = self._watchers.get(key)
                if not ws or view is None or _same(self._views.get(key), view):
                    continue
                self._views[key] = view
                targets = list(ws)
            for w in targets:
                w.push(view)

    def close(self) -> None:
        with self._lock:
            targets = [w for ws in self._watchers.values() for w in ws]
        for w in targets:
            w.push(_CLOSED)


# ---------------------------------------------------------------------------- rendering (web)


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _hhmm(ts: str | datetime | None, tz: ZoneInfo) -> str:
    dt = _parse(ts) if isinstance(ts, str) or ts is None else ts
    return dt.astimezone(tz).strftime("%H:%M") if dt else ""


def _minutes(since: str | None, now: datetime) -> int:
    dt = _parse(since)
    return max(0, int((now - dt).total_seconds() // 60)) if dt else 0


def _arrival_state(res: Any, appts: dict[str, Any]) -> tuple[str, str | None]:
    t = appts.get(res.id)
    if t is not None:
        state = {
            "waiting": "checked_in",
            "called": "called",
            "serving": "serving",
            "served": "done",
            "noshow": "noshow",
        }.get(t["status"], "checked_in")
        return state, t["number"]
    return {"checked_in": "checked_in", "done": "done", "noshow": "noshow"}.get(
        res.status, "booked"
    ), None


def _actor(user: User, desk: str) -> DeviceDef:
    safe = re.sub(r"[^a-z0-9-]", "-", user.name.lower())[:50] or "user"
    return DeviceDef(id=f"web-{safe}", role="desk", desks=(desk,))


def _local(names: Any, lang: str) -> str:
    if not names:
        return ""
    return str(names.get(lang) or names.get("fi") or next(iter(names.values()), ""))


# ---------------------------------------------------------------------------- routes


def router(web: StaffWeb) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    guard = web.guard("advisor")
    hub = AdvisorHub()
    host = web.host
    if host is not None and hasattr(host, "after_batch_hooks"):
        host.after_batch_hooks.append(hub.after_batch)
    r.advisor_hub = hub  # type: ignore[attr-defined]  # for tests and the shutdown

    async def on_worker(fn: Any) -> Any:
        if host is None:
            raise _Busy()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(host.bridge.call(fn)), WAIT_S)
        except TimeoutError:
            raise _Busy() from None

    async def known_site(request: Request, user: User, site: str) -> list[dict[str, Any]] | None:
        sites = await on_worker(site_list)
        if not any(s["id"] == site for s in sites):
            return None
        web.check_site(user, site)
        return sites

    async def extras(view: View, user: User, lang: str) -> dict[str, Any]:
        """What the scheduler does not hold: the day's reservations (booking store)."""
        booking = web.booking
        if booking is None or view["site"] not in getattr(booking, "sites", {}):
            return {"appts": [], "details": None}
        try:
            day = await run_in_threadpool(booking.arrivals, view["site"])
        except Exception:
            log.exception("reading the day's reservations failed")
            day = []
        tz = ZoneInfo(view["timezone"])
        mine = {user.name, *view["advisors"]}
        sb = booking.sites.get(view["site"])
        names = {a.id: a.name for a in sb.advisors.values()} if sb is not None else {}
        appts = []
        for res in day:
            if res.advisor not in mine:
                continue
            state, number = _arrival_state(res, view["appointments"])
            appts.append(
                {
                    "time": _hhmm(res.start, tz),
                    "service": _local(view["services"].get(res.service), lang) or res.service,
                    "advisor": names.get(res.advisor, res.advisor),
                    "state": state,
                    "number": number,
                }
            )
        details = None
        cur = view["current"]
        rid = cur.get("reservation_id") if cur else None
        if rid:
            res = next((x for x in day if x.id == rid), None)
            if res is None:
                try:
                    res = await run_in_threadpool(booking.store.get, rid)
                except Exception:
                    res = None
            if res is not None:
                details = _details(booking, view, res, lang, tz)
        return {"appts": appts, "details": details}

    def _details(booking: Any, view: View, res: Any, lang: str, tz: ZoneInfo) -> dict[str, Any]:
        questions: dict[str, str] = {}
        sb = booking.sites.get(view["site"])
        bdef = sb.services.get(res.service) if sb is not None else None
        for q in getattr(bdef, "pre_questions", ()):
            questions[q.id] = _local(q.text, lang) or q.id
        answers = [
            (questions.get(k, k), choice_label(v, lang)) for k, v in (res.answers or {}).items()
        ]
        return {
            "name": res.name or "",
            "service": _local(view["services"].get(res.service), lang) or res.service,
            "code": res.code,
            "time": f"{_hhmm(res.start, tz)}–{_hhmm(res.end, tz)}",
            "answers": answers,
        }

    def live_ctx(pg: StaffPage, view: View, extra: dict[str, Any]) -> dict[str, Any]:
        lang = pg.lang
        tz = ZoneInfo(view["timezone"])
        now = _parse(view["at"]) or datetime.now(UTC)
        status = view["status"]
        allowed = set(ALLOWED.get(status, ()))
        if not view["callable"]:
            allowed.discard("call")
            if view["current"] is None:
                allowed.discard("next")

        def row(t: dict[str, Any]) -> dict[str, Any]:
            return {
                "number": t["number"],
                "queue": _local(t["queue_name"], lang),
                "service": _local(t["service_name"], lang),
                "waited": _minutes(t["arrival_at"], now),
                "since": t["arrival_at"],
                "priority": t["priority"],
                "appt": _hhmm(t["appt_start"], tz) if t["appt_start"] else None,
                "advisor": t["advisor"],
                "recalls": t["recalls"],
                "called": _hhmm(t["called_at"], tz) if t["called_at"] else None,
                "started": _hhmm(t["started_at"], tz) if t["started_at"] else None,
            }

        cur = row(view["current"]) if view["current"] else None
        waiting = pg.T("adv_waiting_count", n=len(view["callable"]))
        status_text = pg.T(f"adv_status_{status}")
        if cur:
            status_text = f"{status_text} {cur['number']}"
        return {
            "v": view,
            "status": status,
            "status_text": pg.T(f"adv_status_{status}"),
            "allowed": allowed,
            "cur": cur,
            "rows": [row(t) for t in view["callable"]],
            "counts": [(_local(n, lang), c) for _q, n, c in view["counts"]],
            "queues": [(q, _local(n, lang)) for q, n in view["queues"]],
            "appts": extra["appts"],
            "details": extra["details"],
            "summary": pg.T("adv_summary", status=status_text, waiting=waiting),
            "base": f"/advisor/{view['site']}/{view['desk']}",
        }

    def render_live(pg: StaffPage, view: View, extra: dict[str, Any]) -> str:
        ctx = live_ctx(pg, view, extra)
        return web.env.get_template("advisor/_live.html").render(p=pg, **ctx)

    def flash_value(text: dict[str, str], kind: str) -> str:
        body = base64.urlsafe_b64encode(json.dumps({"k": kind, "t": text}).encode()).decode()
        sig = hmac.new(web.key, f"flash:{body}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{body}.{sig}"

    def read_flash(request: Request, lang: str) -> tuple[str, str] | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw or "." not in raw:
            return None
        body, sig = raw.rsplit(".", 1)
        want = hmac.new(web.key, f"flash:{body}".encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(sig, want):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
            return str(data["k"]), _local(data["t"], lang)
        except (ValueError, KeyError, TypeError):
            return None

    # -------------------------------------------------------------- pages

    @r.get("/advisor/")
    async def home(request: Request, user: Annotated[User, Depends(guard)]) -> Response:
        pg = web.page(request, user)
        try:
            sites = await on_worker(site_list)
        except _Busy:
            return web.message(request, user, "busy", 503)
        mine = [s for s in sites if user.may_site(s["id"])]
        return web.render(request, pg, "advisor/choose.html", sites=mine)

    @r.get("/advisor/{site}/{desk}")
    async def tablet(
        request: Request, site: str, desk: str, user: Annotated[User, Depends(guard)]
    ) -> Response:
        return await tablet_page(request, user, site, desk)

    async def tablet_page(
        request: Request,
        user: User,
        site: str,
        desk: str,
        *,
        status: int = 200,
        error: str | None = None,
        lang: str | None = None,
    ) -> Response:
        pg = web.page(request, user, lang)
        try:
            if await known_site(request, user, site) is None:
                return web.message(request, user, "not_found", 404)
            view = await on_worker(lambda s: desk_view(s, site, desk))
        except _Busy:
            return web.message(request, user, "busy", 503)
        if view is None:
            return web.message(request, user, "not_found", 404)
        extra = await extras(view, user, pg.lang)
        flash = None if error else read_flash(request, pg.lang)
        live = render_live(pg, view, extra)
        config = {
            "events": f"/advisor/{site}/{desk}/events?lang={pg.lang}",
            "csrf": pg.csrf,
            "key": _key(live),
            "text": {"live": pg.T("adv_live"), "offline": pg.T("adv_offline")},
        }
        resp = web.render(
            request,
            pg,
            "advisor/tablet.html",
            status,
            v=view,
            live=live,
            error=error,
            flash=flash,
            summary=live_ctx(pg, view, extra)["summary"],
            config=json.dumps(config, ensure_ascii=False).replace("</", "<\\/"),
        )
        if flash is not None:
            resp.delete_cookie(FLASH_COOKIE, path="/advisor/")
        return resp

    @r.get("/advisor/{site}/{desk}/events")
    async def events(
        request: Request, site: str, desk: str, user: Annotated[User, Depends(guard)]
    ) -> Response:
        try:
            if await known_site(request, user, site) is None:
                return JSONResponse({"error": {"code": "not_found"}}, 404)
        except _Busy:
            return JSONResponse({"error": {"code": "busy"}}, 503)
        pg = web.page(request, user)
        w = hub.watch(site, desk)
        if w is None:
            return JSONResponse({"error": {"code": "busy"}}, 503)
        try:
            found = await on_worker(lambda s: hub.first(s, w))
        except _Busy:
            found = None
        if not found:
            hub.unwatch(w)
            code = 404 if found is False else 503
            return JSONResponse({"error": {"code": "not_found" if code == 404 else "busy"}}, code)

        async def event(view: View) -> str:
            extra = await extras(view, user, pg.lang)
            ctx = live_ctx(pg, view, extra)
            html = web.env.get_template("advisor/_live.html").render(p=pg, **ctx)
            body = {
                "html": html,
                "key": _key(html),
                "summary": ctx["summary"],
                "status": view["status"],
                "at": view["at"],
            }
            return f"event: view\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"

        async def stream() -> AsyncIterator[str]:
            try:
                yield f"retry: {RETRY_MS}\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(w.queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        if host is None or host.stop_event.is_set():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    while not w.queue.empty():  # only the newest matters
                        item = w.queue.get_nowait()
                    if item is _CLOSED:
                        return
                    yield await event(item)
            finally:
                hub.unwatch(w)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @r.post("/advisor/{site}/{desk}/{verb}")
    async def act(
        request: Request, site: str, desk: str, verb: str, user: Annotated[User, Depends(guard)]
    ) -> Response:
        form = await web.form(request)  # CSRF first: a refused form changes nothing
        wants_json = "application/json" in request.headers.get("accept", "")
        lang = str(form.get("lang") or "") or web.lang_of(request, user)
        pg = web.page(request, user, lang if lang in ("fi", "sv", "en") else None)
        try:
            if await known_site(request, user, site) is None or verb not in VERBS:
                return _not_found(request, user, wants_json)
            view = await on_worker(lambda s: desk_view(s, site, desk))
        except _Busy:
            return _busy(request, user, wants_json)
        if view is None:
            return _not_found(request, user, wants_json)
        body: dict[str, Any] = {"desk": desk}
        if verb == "call":
            body["number"] = str(form.get("number") or "").strip().upper()[:8]
        elif verb == "transfer":
            body["queue"] = str(form.get("queue") or "").strip()[:64]
        try:
            fut = host.bridge.command(site, _actor(user, desk), verb, body)
            reply = await asyncio.wait_for(asyncio.wrap_future(fut), WAIT_S)
        except TimeoutError:
            return _busy(request, user, wants_json)
        back = f"/advisor/{site}/{desk}?lang={pg.lang}"
        if not reply.get("ok"):
            err = reply.get("error") or {}
            code = str(err.get("code") or "failed")
            text = _local(err.get("message"), pg.lang) or pg.T("adv_failed")
            status = STATUS_OF_ERROR.get(code, 409)
            if code == "internal_error":
                status = 500
            if wants_json:
                return secure(JSONResponse({"ok": False, "code": code, "text": text}, status))
            return await tablet_page(
                request, user, site, desk, status=status, error=text, lang=pg.lang
            )
        texts = {lg: _ok_text(lg, verb, reply, view) for lg in ("fi", "sv", "en")}
        if wants_json:
            return secure(JSONResponse({"ok": True, "text": texts[pg.lang]}))
        resp = RedirectResponse(back, status_code=303)
        resp.set_cookie(
            FLASH_COOKIE,
            flash_value(texts, "ok"),
            max_age=60,
            path="/advisor/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return secure(resp)

    def _not_found(request: Request, user: User, wants_json: bool) -> Response:
        if wants_json:
            return secure(JSONResponse({"ok": False, "code": "not_found"}, 404))
        return web.message(request, user, "not_found", 404)

    def _busy(request: Request, user: User, wants_json: bool) -> Response:
        if wants_json:
            return secure(JSONResponse({"ok": False, "code": "busy", "text": ""}, 503))
        return web.message(request, user, "busy", 503)

    return r


def _key(html: str) -> str:
    """A fragment's fingerprint: the script skips an update that changes nothing."""
    return hashlib.sha256(html.encode()).hexdigest()[:16]


class _Busy(Exception):
    """The scheduler's worker did not answer in time (or there is none)."""


def _ok_text(lang: str, verb: str, reply: dict[str, Any], view: View) -> str:
    from scheduler.web.staff import st

    tk = reply.get("ticket") or {}
    number = tk.get("number") or reply.get("finished") or ""
    if verb in ("next", "call"):
        if not tk and reply.get("finished"):
            return st(lang, "adv_ok_finished_only", number=reply["finished"])
        return st(lang, "adv_ok_called", number=number)
    if verb == "transfer":
        names = dict((q, n) for q, n in view["queues"])
        queue = _local(names.get(tk.get("queue")), lang) or tk.get("queue", "")
        return st(lang, "adv_ok_transfer", number=number, queue=queue)
    return st(lang, f"adv_ok_{verb}", number=number)
