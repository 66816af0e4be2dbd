"""The mobile ticket page (`status_url`): the hub between the scheduler's worker thread
and the web server's event loop, and the page's routes.

Thread safety. `SiteState` is changed only by the scheduler's worker thread and is read
by nothing else: not by the web server either. The web layer never touches it; it talks
to a `TicketHub`, and everything that reads a `SiteState` runs on the worker thread:

- `after_batch(scheduler, sites)` (the `Scheduler.after_batch` hook, after each batch's
  commit and after each periodic tick): recomputes the views of the *watched* tokens of
  those sites and pushes the ones that changed to their watchers. Nothing is computed
  for tickets nobody watches, so a batch without watchers costs a dictionary look-up.
- `pump(scheduler)` (called by the worker's loop every turn, at most 0.2 s apart): answers
  the web layer's requests, i.e. first look-ups of a token (the page's snapshot and the
  first state of a new event stream), and finds the ticket of a token through a token
  index that it keeps up to date incrementally (tickets are only ever appended).

A view is a plain dict, built fresh and never changed once handed out, so the event loop
can read and serialise it without a lock. The hub's own bookkeeping (who watches what,
pending requests, the last view of each watched token) is guarded by one small
`threading.Lock`, never held while a view is computed or delivered. Views and answers
cross to the event loop with `loop.call_soon_threadsafe` (into an `asyncio.Queue` per
watcher, or a future per look-up). Positions and estimates come from
`Scheduler.ticket_info` (so from `SiteState.position`/`ticket_eta`): nothing is computed
again here.

Every look-up of a token, known or not, takes the same way (a request answered by the
worker's next turn), so the answer's timing does not tell whether a token exists, and an
unknown token gets the same "not found" page as a malformed one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware_common import protocol as p

if TYPE_CHECKING:
    from fastapi import APIRouter

    from scheduler.domain.model import SiteState, Ticket
    from scheduler.service import Scheduler

log = logging.getLogger("vuoro.web.tickets")

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
LOOKUP_TIMEOUT_S = 5.0
KEEPALIVE_S = 15.0
RETRY_MS = 3000
MAX_WATCHERS = 5000
FINAL = ("done", "noshow", "gone")
_STATUS = {"waiting": "waiting", "called": "called", "serving": "serving", "served": "done"}

View = dict[str, Any]


class HubClosed(Exception):
    """The scheduler is stopping (or the worker did not answer in time)."""


_CLOSED = object()  # pushed to every watcher when the hub closes


@dataclass(eq=False)
class Watcher:
    """One event stream following a token, on the web server's event loop."""

    token: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def push(self, item: Any) -> None:
        """From any thread: hand `item` (a view, None = not found, or _CLOSED) over."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the stream is gone anyway
            pass


def _resolve_future(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


@dataclass
class _SiteIndex:
    """token -> ticket id of one SiteState, caught up from the newest tickets backwards."""

    state: SiteState
    tokens: dict[str, str] = field(default_factory=dict)
    last: str | None = None

    def catch_up(self) -> None:
        tickets = self.state.tickets
        newest = next(reversed(tickets), None)
        if newest == self.last:
            return
        for tid in reversed(tickets):
            if tid == self.last:
                break
            self.tokens[tickets[tid].token] = tid
        self.last = newest


def _same(a: View | None, b: View | None) -> bool:
    if a is None or b is None:
        return a is b
    return {k: v for k, v in a.items() if k != "updated_at"} == {
        k: v for k, v in b.items() if k != "updated_at"
    }


def ticket_view(scheduler: Scheduler, st: SiteState, tk: Ticket, at: str) -> View:
    """The page's view of one ticket (worker thread only: it reads the SiteState)."""
    info = scheduler.ticket_info(st, tk, scheduler.clock())
    site = st.site
    service = site.services.get(tk.service)
    queue = site.queues.get(tk.queue)
    status = _STATUS.get(tk.status, tk.status)
    desk = None
    if status in ("called", "serving") and tk.desk is not None:
        d = site.desks.get(tk.desk)
        desk = d.label if d is not None else tk.desk
    appointment = info.get("appointment")
    return {
        "number": tk.number,
        "status": status,
        "position": info["position"] if status == "waiting" else 0,
        "eta_min": info["eta_min"] if status == "waiting" else 0,
        "service": dict(service.name) if service else {"fi": tk.service},
        "queue": dict(queue.name) if queue else {"fi": tk.queue},
        "desk": desk,
        "called_at": p.rfc3339(tk.called_at) if tk.called_at and desk else None,
        "recalls": tk.recalls if desk else 0,
        "appointment": appointment.get("start") if appointment else None,
        "lang": tk.lang,
        "site": dict(site.name),
        "timezone": site.timezone,
        "updated_at": at,
    }


class TicketHub:
    """See the module docstring: written by the worker thread, read by the web server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        # Web -> worker: (token, deliver) for look-ups, (token, watcher) for new streams.
        self._requests: list[tuple[str, Callable[[View | None], None] | Watcher]] = []
        self._watchers: dict[str, set[Watcher]] = {}
        self._where: dict[str, tuple[str, str]] = {}  # watched token -> (site, ticket id)
        self._views: dict[str, View] = {}  # watched token -> its last view
        # The worker's own (no lock): the token index per site.
        self._index: dict[str, _SiteIndex] = {}

    # ------------------------------------------------------------------ web side

    @property
    def closed(self) -> bool:
        return self._closed

    async def lookup(self, token: str, timeout: float = LOOKUP_TIMEOUT_S) -> View | None:
        """The token's current view, or None if there is no such ticket (event loop)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def deliver(view: View | None) -> None:
            loop.call_soon_threadsafe(_resolve_future, fut, view)

        with self._lock:
            if self._closed:
                raise HubClosed
            self._requests.append((token, deliver))
        try:
            result = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise HubClosed from None
        if result is _CLOSED:
            raise HubClosed
        return result  # type: ignore[no-any-return]

    def watch(self, token: str) -> Watcher:
        """Follow `token`: its current view (or None: not found) comes first on the
        watcher's queue, then every changed view; `_CLOSED` when the hub closes."""
        w = Watcher(token, asyncio.get_running_loop())
        with self._lock:
            if self._closed or sum(len(s) for s in self._watchers.values()) >= MAX_WATCHERS:
                raise HubClosed
            self._watchers.setdefault(token, set()).add(w)
            self._requests.append((token, w))
        return w

    def unwatch(self, w: Watcher) -> None:
        with self._lock:
            ws = self._watchers.get(w.token)
            if ws is None:
                return
            ws.discard(w)
            if not ws:
                del self._watchers[w.token]
                self._where.pop(w.token, None)
                self._views.pop(w.token, None)

    def watching(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._watchers.values())

    def close(self) -> None:
        """Ends every stream and look-up (the server is stopping)."""
        with self._lock:
            self._closed = True
            watchers = [w for ws in self._watchers.values() for w in ws]
            requests, self._requests = self._requests, []
        for w in watchers:
            w.push(_CLOSED)
        for _token, target in requests:
            if not isinstance(target, Watcher):
                target(_CLOSED)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ worker side

    def pump(self, scheduler: Scheduler) -> None:
        """Answer the web layer's pending requests (worker thread)."""
        if not self._requests:  # a racy peek is fine: the next turn sees it
            return
        with self._lock:
            requests, self._requests = self._requests, []
        at = p.rfc3339(scheduler.clock())
        found: dict[str, tuple[tuple[str, str] | None, View | None]] = {}
        for token, target in requests:
            if token not in found:
                hit = self._find(scheduler, token)
                if hit is None:
                    found[token] = (None, None)
                else:
                    st, tk = hit
                    found[token] = ((st.site.id, tk.id), ticket_view(scheduler, st, tk, at))
            where, view = found[token]
            if not isinstance(target, Watcher):
                target(view)
                continue
            with self._lock:
                if target not in self._watchers.get(token, ()):
                    continue
                if where is not None and view is not None:
                    old = self._views.get(token)
                    if _same(old, view):
                        view = old
                    self._where[token] = where
                    self._views[token] = view  # type: ignore[assignment]
            target.push(view)

    def after_batch(self, scheduler: Scheduler, sites: set[str]) -> None:
        """Push the changed views of the watched tokens of `sites` (worker thread)."""
        if not self._where:  # racy peek: a new watcher is answered by `pump` anyway
            return
        with self._lock:
            todo = [(tok, w) for tok, w in self._where.items() if w[0] in sites]
        if not todo:
            return
        at = p.rfc3339(scheduler.clock())
        for token, (sid, tid) in todo:
            st = scheduler.states.get(sid)
            tk = st.tickets.get(tid) if st is not None else None
            with self._lock:
                old = self._views.get(token)
            if tk is not None and st is not None:
                view = ticket_view(scheduler, st, tk, at)
            elif old is not None:  # forgotten (a finished ticket of an earlier day)
                view = {**old, "status": "gone", "desk": None, "updated_at": at}
            else:
                continue
            if _same(old, view):
                continue
            with self._lock:
                ws = self._watchers.get(token)
                if not ws:
                    continue
                self._views[token] = view
                targets = list(ws)
            for w in targets:
                w.push(view)

    def _find(self, scheduler: Scheduler, token: str) -> tuple[SiteState, Ticket] | None:
        if not TOKEN_RE.fullmatch(token):
            return None
        for sid, st in scheduler.states.items():
            idx = self._index.get(sid)
            if idx is None or idx.state is not st:  # new, or reloaded (`Scheduler.load`)
                idx = self._index[sid] = _SiteIndex(st)
            idx.catch_up()
            tid = idx.tokens.get(token)
            if tid is None:
                continue
            tk = st.tickets.get(tid)
            if tk is not None and tk.token == token:
                return st, tk
            del idx.tokens[token]  # forgotten
        return None


# ---------------------------------------------------------------------------- routes

WEB_DIR = Path(__file__).resolve().parent
ASSETS = {
    "ticket.css": (WEB_DIR / "static" / "ticket.css", "text/css; charset=utf-8"),
    "ticket.js": (WEB_DIR / "static" / "ticket.js", "text/javascript; charset=utf-8"),
}
ASSET_PREFIX = "/ticket-assets"
_HEADERS = {
    "Cache-Control": "no-store",
    # The token is the key to the page: never sent on to other sites.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def ticket_router(hub: TicketHub) -> APIRouter:
    """`GET /t/{token}` (the page), `GET /t/{token}/events` (its Server-Sent Events)."""
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse, Response, StreamingResponse
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from scheduler.web import ticket_i18n as i18n

    env = Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    router = APIRouter(include_in_schema=False)

    def page(name: str, status: int, lang: str, **ctx: Any) -> HTMLResponse:
        html = env.get_template(f"ticket/{name}").render(
            lang=lang,
            t=i18n.texts(lang),
            assets=ASSET_PREFIX,
            langs=i18n.LANGS,
            lang_names=i18n.LANG_NAMES,
            **ctx,
        )
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def not_found(lang: str) -> HTMLResponse:
        return page("notfound.html", 404, lang)

    def unavailable(lang: str) -> HTMLResponse:
        resp = page("unavailable.html", 503, lang)
        resp.headers["Retry-After"] = "10"
        return resp

    @router.get("/t/{token}", response_class=HTMLResponse)
    async def ticket_page(token: str, lang: str | None = None) -> Response:
        want = i18n.pick(lang)
        if not TOKEN_RE.fullmatch(token):
            return not_found(want or i18n.DEFAULT)
        try:
            view = await hub.lookup(token)
        except HubClosed:
            return unavailable(want or i18n.DEFAULT)
        if view is None:
            return not_found(want or i18n.DEFAULT)
        use = want or i18n.pick(view.get("lang")) or i18n.DEFAULT
        text = i18n.render(view, use)
        config = {
            "events": f"/t/{token}/events?lang={use}",
            "status": view["status"],
            "recalls": view["recalls"],
            "final": list(FINAL),
            "text": i18n.client_texts(use),
        }
        return page(
            "page.html",
            200,
            use,
            view=view,
            text=text,
            token=token,
            config=json.dumps(config, ensure_ascii=False).replace("</", "<\\/"),
        )

    @router.get("/t/{token}/events")
    async def ticket_events(token: str, lang: str | None = None) -> Response:
        if not TOKEN_RE.fullmatch(token):
            return Response(status_code=404, headers=_HEADERS)
        try:
            w = hub.watch(token)
        except HubClosed:
            return Response(status_code=503, headers={**_HEADERS, "Retry-After": "10"})
        try:
            first = await asyncio.wait_for(w.queue.get(), LOOKUP_TIMEOUT_S)
        except TimeoutError:
            first = _CLOSED
        if first is None or first is _CLOSED:
            hub.unwatch(w)
            code = 404 if first is None else 503
            return Response(status_code=code, headers=_HEADERS)
        want = i18n.pick(lang)

        def event(view: View) -> str:
            use = want or i18n.pick(view.get("lang")) or i18n.DEFAULT
            body = {**view, "text": i18n.render(view, use)}
            return f"event: state\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"

        async def stream() -> AsyncIterator[str]:
            try:
                yield f"retry: {RETRY_MS}\n\n"
                yield event(first)
                while True:
                    try:
                        item = await asyncio.wait_for(w.queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        if hub.closed:
                            return
                        yield ": keep-alive\n\n"
                        continue
                    while not w.queue.empty():  # only the newest matters
                        item = w.queue.get_nowait()
                    if item is _CLOSED or item is None:
                        return
                    yield event(item)
            finally:
                hub.unwatch(w)

        headers = {**_HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @router.get(ASSET_PREFIX + "/{name}")
    def asset(name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            return Response(status_code=404)
        path, media = found
        return Response(
            path.read_bytes(),
            media_type=media,
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    return router
