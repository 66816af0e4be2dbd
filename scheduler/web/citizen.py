"""Citizen booking pages (issue 6 item 5): no sign-in, server-rendered, fi/sv/en.

Routes (all under `/book/`, language by `?lang=fi|sv|en`, else Accept-Language, else fi):

    GET  /book/                                   services of the site (site choice first
                                                  when there are several: `?site=`)
    GET  /book/{site}/{service}                   month calendar + the chosen day's times
                                                  (`?month=2026-12&day=2026-12-15&advisor=`)
    POST /book/{site}/{service}/hold              choose a time: BookingService.hold
    GET  /book/{site}/{service}/details/{hold}    the details form (name, contact, identity
    POST /book/{site}/{service}/details/{hold}    code, pre-questions): BookingService.book
    GET  /book/r/{code}/done                      the confirmation (code, QR, .ics, manage)
    GET  /book/r/{code}.ics?contact=              the booking as an iCalendar file
    GET  /book/r/manage, POST /book/r/manage      find a booking by code + contact
    GET  /book/{code}, POST /book/{code}          the manage page (BookingService.manage_url)
    POST /book/r/{code}/cancel                    BookingService.cancel
    GET  /book/r/{code}/move, POST (same)         BookingService.reschedule

Every rule lives in BookingService (scheduler/booking/service.py): these pages only call
it and show its refusals (`DomainError.message`) next to the form, with the API's HTTP
statuses. Forms work without JavaScript (POST, then redirect to a GET page); the static
script only adds a countdown of the hold.

Security of the public forms:
- CSRF: a random nonce in a `vuoro_csrf` cookie (HttpOnly, SameSite=Lax) and, in every
  form, a hidden `csrf` field with HMAC(key, nonce). A POST whose field does not match
  its cookie is refused (403). The key is derived from the booking service's secret (the
  identity-code hash key, in its own domain), so every scheduler process agrees.
- Access to a booking: after booking, or after giving the booking code and the e-mail,
  phone or identity code it was made with, a `vuoro_res` cookie (HttpOnly, SameSite=Lax,
  path /book, 1 hour) remembers the code and contact, so the confirmation, cancel and
  move pages need not carry the contact in their links. The cookie is encrypted and
  authenticated (Fernet, key derived as above): an identity code in it cannot be read,
  and it is never stored on the server. Every action still goes through
  BookingService.find_own / cancel / reschedule with that contact.
- Rate limit: the state-changing POSTs are limited per client address by an in-memory
  token bucket (40 at once, then one every 2 s): abusive loops get 429 and a clear
  message. Per process; behind a proxy, the proxy's address counts (documented).

Quiet times (DOMAIN.md glossary "hiljainen aika"): a time is marked quiet when the site's
measured load at that weekday and hour (mean arrivals over the last 8 weeks) is in the
lowest third of its week (scheduler/stats/quiet.py, refreshed hourly); with too little
history, when at least two of the service's advisors, and at least two thirds of them,
are free at that time (see `quiet_starts`); the page's help text says so. Above the day's
times the quietest few of them (`SUGGEST`, least load first, listed soonest first) are
suggested, each a button that holds its time like the others (`suggest_quiet`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time as _time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from scheduler.booking import hetu as hetu_mod
from scheduler.booking.errors import DomainError
from scheduler.booking.ical import reservation_ics
from scheduler.booking.model import Reservation, Slot
from scheduler.booking.notify import clock_text, when_long
from scheduler.booking.service import BookingService, Customer, SiteBooking
from scheduler.booking.store import NotFound
from scheduler.web.api import STATUS
from scheduler.web.i18n import (
    FIELD_ERRORS,
    LANG_NAMES,
    LANGS,
    STRINGS,
    choice_label,
    local_text,
    pick_lang,
    t,
)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

CSRF_COOKIE = "vuoro_csrf"
ACCESS_COOKIE = "vuoro_res"
ACCESS_S = 3600
RATE_BURST = 40
RATE_PER_S = 0.5
CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


# ---------------------------------------------------------------------------- helpers


class TokenBucket:
    """Per-key token bucket: `burst` requests at once, refilled at `per_s` a second."""

    def __init__(self, burst: int, per_s: float, clock: Callable[[], float] = _time.monotonic):
        self.burst, self.per_s, self.clock = burst, per_s, clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, at = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_s)
            ok = tokens >= 1.0
            self._state[key] = (tokens - 1.0 if ok else tokens, now)
            if len(self._state) > 10_000:  # forget full buckets: they are the default
                full = [k for k, (n, _) in self._state.items() if n >= self.burst - 1]
                for k in full[:5_000]:
                    del self._state[k]
            return ok


SUGGEST = 3  # quiet times suggested above the list of times


def quiet_starts(
    slots: Iterable[Slot], n_advisors: int, *, site: Any = None, engine: Any = None
) -> set[datetime]:
    """The quiet starts among `slots` (the day's free slots of any advisor): from the
    site's measured load when `site` (SiteDef) and `engine` are given and there is enough
    history (scheduler/stats/quiet.py); else a start is quiet when at least two of the
    service's `n_advisors`, and at least two thirds of them, are free then."""
    return quiet_ranks(slots, n_advisors, site=site, engine=engine)[0]


def quiet_ranks(
    slots: Iterable[Slot], n_advisors: int, *, site: Any = None, engine: Any = None
) -> tuple[set[datetime], dict[datetime, float]]:
    """`quiet_starts` and how quiet each of them is (lower is quieter: the measured mean
    arrivals in its hour, or by the advisor rule minus the number of advisors free)."""
    slots = list(slots)
    if site is not None and engine is not None:
        from scheduler.stats.quiet import quiet_times

        marks = quiet_times(engine).mark(site, (s.start for s in slots))
        if marks is not None:
            return marks.quiet, {s: marks.load[s] for s in marks.quiet}
    if n_advisors < 2:
        return set(), {}
    free: dict[datetime, set[str]] = {}
    for s in slots:
        free.setdefault(s.start, set()).add(s.advisor)
    need = max(2, math.ceil(2 * n_advisors / 3))
    rank = {start: -float(len(who)) for start, who in free.items() if len(who) >= need}
    return set(rank), rank


def suggest_quiet(
    starts: Iterable[datetime], rank: Mapping[datetime, float], n: int = SUGGEST
) -> list[datetime]:
    """The quietest `n` of the quiet `starts` (ranked by `rank`, then the earliest),
    soonest first: the suggested quiet times."""
    quiet = sorted({s for s in starts if s in rank}, key=lambda s: (rank[s], s))
    return sorted(quiet[:n])


def qr_data_uri(text: str) -> str:
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = img.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def day_long(d: date, lang: str) -> str:
    """'tiistaina 1.12.2026', 'tisdag 1.12.2026', 'Tuesday 1 December 2026'."""
    text = when_long(datetime.combine(d, time(12, 0)), lang)
    for sep in (" klo ", " kl. ", " at "):
        if sep in text:
            return text.rsplit(sep, 1)[0]
    return text


def month_add(first: date, n: int) -> date:
    m = first.month - 1 + n
    return date(first.year + m // 12, m % 12 + 1, 1)


def month_weeks(first: date) -> list[list[date | None]]:
    """The month's weeks, Monday first; None outside the month."""
    last = month_add(first, 1) - timedelta(days=1)
    weeks: list[list[date | None]] = []
    week: list[date | None] = [None] * first.weekday()
    d = first
    while d <= last:
        week.append(d)
        if len(week) == 7:
            weeks.append(week)
            week = []
        d += timedelta(days=1)
    if week:
        weeks.append(week + [None] * (7 - len(week)))
    return weeks


def _parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _parse_month(text: str | None) -> date | None:
    try:
        return datetime.strptime(text, "%Y-%m").date() if text else None
    except ValueError:
        return None


@dataclass
class Page:
    """What every page gets: language, strings, the language switcher, the CSRF token."""

    lang: str
    here: str  # this page's GET path (without lang), for the language switcher
    csrf: str

    def T(self, key: str, **params: object) -> str:
        return t(self.lang, key, **params)

    def url(self, path: str, **params: Any) -> str:
        q = {k: v for k, v in params.items() if v not in (None, "")}
        q["lang"] = self.lang
        return f"{path}?{urlencode(q, doseq=True)}"

    def switch(self) -> list[tuple[str, str, str, bool]]:
        sep = "&" if "?" in self.here else "?"
        return [
            (code, LANG_NAMES[code], f"{self.here}{sep}lang={code}", code == self.lang)
            for code in LANGS
        ]


# ---------------------------------------------------------------------------- the router


def citizen_router(booking: BookingService, *, rate: TokenBucket | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    hkey = getattr(booking.hasher, "_key", None) or secrets.token_bytes(32)
    key = hmac.new(hkey, b"vuoro-citizen-pages", hashlib.sha256).digest()
    fernet = Fernet(base64.urlsafe_b64encode(hmac.new(key, b"access", hashlib.sha256).digest()))
    bucket = rate or TokenBucket(RATE_BURST, RATE_PER_S)

    # -------------------------------------------------------------- plumbing

    def sign(kind: str, payload: str) -> str:
        return hmac.new(key, f"{kind}:{payload}".encode(), hashlib.sha256).hexdigest()[:32]

    def lang_of(request: Request, form: Any = None) -> str:
        q = (form.get("lang") if form is not None else None) or request.query_params.get("lang")
        return pick_lang(q, request.headers.get("accept-language"))

    def page(request: Request, lang: str, here: str) -> Page:
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        if len(nonce) < 16:
            nonce = secrets.token_urlsafe(18)
            request.state.new_nonce = nonce
        return Page(lang=lang, here=here, csrf=sign("csrf", nonce))

    def render(
        request: Request, pg: Page, template: str, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = env.get_template(template).render(p=pg, **ctx)
        resp = HTMLResponse(html, status_code=status)
        nonce = getattr(request.state, "new_nonce", None)
        if nonce:
            resp.set_cookie(
                CSRF_COOKIE,
                nonce,
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
                path="/",
            )
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = CSP
        return resp

    def message_page(
        request: Request, lang: str, text: str, status: int, back: str | None = None
    ) -> HTMLResponse:
        pg = page(request, lang, "/book/")
        return render(request, pg, "citizen/message.html", status, text=text, back=back)

    def see_other(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    async def guarded_form(request: Request) -> tuple[Any, str, HTMLResponse | None]:
        """The POSTed form, its language, and a refusal page if the CSRF token is wrong
        or the client is over its rate."""
        form = await request.form()
        lang = lang_of(request, form)
        host = request.client.host if request.client else "?"
        if not bucket.take(host):
            resp = message_page(request, lang, t(lang, "rate_limited"), 429)
            resp.headers["Retry-After"] = str(math.ceil(1 / RATE_PER_S))
            return form, lang, resp
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        given = str(form.get("csrf") or "")
        if not nonce or not hmac.compare_digest(given, sign("csrf", nonce)):
            return form, lang, message_page(request, lang, t(lang, "csrf"), 403)
        return form, lang, None

    def access_value(code: str, contact: str) -> str:
        return fernet.encrypt(json.dumps([code, contact]).encode()).decode()

    def access_of(request: Request, code: str) -> str | None:
        """The contact remembered for booking `code` in this browser, if any."""
        raw = request.cookies.get(ACCESS_COOKIE) or ""
        if not raw:
            return None
        try:
            c, contact = json.loads(fernet.decrypt(raw.encode(), ttl=ACCESS_S))
        except (InvalidToken, ValueError, TypeError):
            return None
        if str(c).upper() != code.upper():
            return None
        return str(contact)

    def grant(resp: Response, request: Request, code: str, contact: str) -> None:
        resp.set_cookie(
            ACCESS_COOKIE,
            access_value(code, contact),
            max_age=ACCESS_S,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/book",
        )

    def err_text(exc: DomainError, lang: str) -> str:
        return exc.message.get(lang) or exc.message["fi"]

    def status_of(exc: DomainError) -> int:
        return STATUS.get(exc.code, 400)

    # -------------------------------------------------------------- views of data

    def services_view(sb: SiteBooking, lang: str) -> list[dict[str, Any]]:
        """The bookable services grouped by provider (the provider's queue name)."""
        groups: dict[str, dict[str, Any]] = {}
        for sid, b in sb.services.items():
            sdef = sb.site.services.get(sid)
            if sdef is None or not sdef.appointments:
                continue
            q = sb.site.queues.get(sdef.provider) or sb.site.queues.get(sdef.queue)
            pname = local_text(q.name, lang) if q else sdef.provider
            g = groups.setdefault(sdef.provider, {"name": pname, "services": []})
            g["services"].append(
                {
                    "id": sid,
                    "name": local_text(sdef.name, lang),
                    "duration": b.duration_min,
                    "instructions": local_text(sdef.instructions, lang),
                }
            )
        return list(groups.values())

    def res_view(r: Reservation, lang: str) -> dict[str, Any]:
        sb = booking.site(r.site)
        sdef = sb.site.services.get(r.service)
        adv = sb.advisors.get(r.advisor)
        return {
            "code": r.code,
            "status": r.status,
            "service": local_text(sdef.name, lang) if sdef else r.service,
            "instructions": local_text(sdef.instructions, lang) if sdef else "",
            "when": when_long(r.start.astimezone(sb.site.tz), lang),
            "advisor": adv.name if adv else r.advisor,
            "site_name": local_text(sb.site.name, lang),
            "address": sb.address or "",
            "checkin_before": sb.rules.checkin_before_min,
            "cancel_limit_h": sb.rules.cancel_limit_h,
            "can_change": r.status == "booked"
            and r.start - booking.clock() >= timedelta(hours=sb.rules.cancel_limit_h),
        }

    def day_slots(site: str, service: str, day: date, tz: Any, advisor: str | None) -> list[Slot]:
        """Every free slot starting on local `day` (BookingService.slots, in pages)."""
        start = datetime.combine(day, time.min, tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
        out: list[Slot] = []
        seen: set[tuple[datetime, str]] = set()
        frm = start
        for _ in range(30):
            batch = booking.slots(site, service, advisor=advisor, start_from=frm, limit=200)
            for s in batch:
                if s.start >= end:
                    return out
                if (s.start, s.advisor) not in seen:
                    seen.add((s.start, s.advisor))
                    out.append(s)
            if len(batch) < 200 or batch[-1].start <= frm:
                return out
            frm = batch[-1].start
        return out

    def calendar_page(
        request: Request,
        lang: str,
        site: str,
        service: str,
        *,
        month: str | None = None,
        day: str | None = None,
        advisor: str | None = None,
        move: Reservation | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        sb = booking.site(site)
        sdef, bdef = booking.service(sb, service)
        tz = sb.site.tz
        advisors = [a for a in sb.advisors.values() if service in a.skills]
        if advisor and advisor not in {a.id for a in advisors}:
            advisor = None
        today = booking.clock().astimezone(tz).date()
        this_month = today.replace(day=1)
        chosen = _parse_date(day)
        first = _parse_month(month) or (chosen.replace(day=1) if chosen else this_month)
        last_month = (today + timedelta(days=sb.rules.horizon_days)).replace(day=1)
        first = min(max(first, this_month), last_month)
        last = month_add(first, 1) - timedelta(days=1)
        free_days = booking.days(site, service, first, last, advisor=advisor)
        if not free_days and month is None and chosen is None and first < last_month:
            first = month_add(first, 1)  # nothing left this month: show the next
            last = month_add(first, 1) - timedelta(days=1)
            free_days = booking.days(site, service, first, last, advisor=advisor)
        if chosen is None or chosen not in free_days:
            chosen = free_days[0] if free_days else None
        times: list[dict[str, Any]] = []
        suggested: list[dict[str, Any]] = []
        if chosen is not None:
            every = day_slots(site, service, chosen, tz, None)
            quiet, rank = quiet_ranks(
                every, len(advisors), site=sb.site, engine=booking.store.engine
            )
            shown = day_slots(site, service, chosen, tz, advisor) if advisor else every
            by_start: dict[datetime, list[str]] = {}
            for s in shown:
                by_start.setdefault(s.start, []).append(s.advisor)
            for start in suggest_quiet(by_start, rank):
                loc = start.astimezone(tz)
                suggested.append(
                    {"value": start.astimezone(UTC).isoformat(), "text": clock_text(loc, lang)}
                )
            for start in sorted(by_start):
                loc = start.astimezone(tz)
                times.append(
                    {
                        "value": start.astimezone(UTC).isoformat(),
                        "text": clock_text(loc, lang),
                        "hour": loc.hour,
                        "quiet": start in quiet,
                    }
                )
        hours: dict[int, list[dict[str, Any]]] = {}
        for x in times:
            hours.setdefault(x["hour"], []).append(x)
        base = f"/book/r/{move.code}/move" if move else f"/book/{site}/{service}"
        params = {"month": first.strftime("%Y-%m"), "advisor": advisor}
        if chosen:
            params["day"] = chosen.isoformat()
        here = base + "?" + urlencode({k: v for k, v in params.items() if v})
        pg = page(request, lang, here)
        months = STRINGS[lang]["months"].split()
        ctx = {
            "site": sb.site.id,
            "site_name": local_text(sb.site.name, lang),
            "service": {
                "id": service,
                "name": local_text(sdef.name, lang),
                "duration": bdef.duration_min,
                "instructions": local_text(sdef.instructions, lang),
            },
            "advisors": [{"id": a.id, "name": a.name} for a in advisors],
            "advisor": advisor,
            "month_title": f"{months[first.month - 1]} {first.year}",
            "month": first.strftime("%Y-%m"),
            "prev": month_add(first, -1).strftime("%Y-%m") if first > this_month else None,
            "next": month_add(first, 1).strftime("%Y-%m") if first < last_month else None,
            "weeks": month_weeks(first),
            "weekdays": STRINGS[lang]["weekdays"].split(),
            "free_days": set(free_days),
            "chosen": chosen,
            "chosen_text": day_long(chosen, lang) if chosen else "",
            "hours": hours,
            "any_quiet": any(x["quiet"] for x in times),
            "suggested": suggested,
            "hold_min": sb.rules.hold_min,
            "base": base,
            "action": f"/book/r/{move.code}/move" if move else f"/book/{site}/{service}/hold",
            "move": res_view(move, lang) if move else None,
            "error": error,
        }
        return render(request, pg, "citizen/calendar.html", status, **ctx)

    def details_context(sb: SiteBooking, res: Reservation, lang: str) -> dict[str, Any]:
        sdef, bdef = booking.service(sb, res.service)
        adv = sb.advisors.get(res.advisor)
        assert res.hold_until is not None
        left = max(0, int((res.hold_until - booking.clock()).total_seconds()))
        return {
            "site": sb.site.id,
            "site_name": local_text(sb.site.name, lang),
            "address": sb.address or "",
            "service": {
                "id": res.service,
                "name": local_text(sdef.name, lang),
                "duration": bdef.duration_min,
                "instructions": local_text(sdef.instructions, lang),
            },
            "when": when_long(res.start.astimezone(sb.site.tz), lang),
            "advisor": adv.name if adv else res.advisor,
            "hold_id": res.id,
            "hold_until": res.hold_until.astimezone(UTC).isoformat(),
            "hold_until_text": clock_text(res.hold_until.astimezone(sb.site.tz), lang),
            "left_s": left,
            "left_text": f"{left // 60}:{left % 60:02d}",
            "questions": [
                {
                    "id": q.id,
                    "text": local_text(q.text, lang),
                    "required": q.required,
                    "choices": [(c, choice_label(c, lang)) for c in q.choices],
                }
                for q in bdef.pre_questions
            ],
            "retention_days": sb.rules.retention_days,
            "change_url": f"/book/{sb.site.id}/{res.service}",
            "day": res.start.astimezone(sb.site.tz).date().isoformat(),
        }

    def live_hold(site: str, service: str, hold_id: str) -> Reservation | None:
        try:
            res = booking.store.get(hold_id)
        except NotFound:
            return None
        if res.site != site or res.service != service or res.status != "held":
            return None
        if res.hold_until is None or res.hold_until <= booking.clock():
            return None
        return res

    def field_error(
        exc: DomainError, lang: str, questions: list[PreQuestionView]
    ) -> tuple[str | None, str]:
        """(the form field a refusal belongs to, the message to show)."""
        detail = str(exc.params.get("detail", ""))
        if exc.code == "bad_request" and detail in FIELD_ERRORS:
            fld, msg = FIELD_ERRORS[detail]
            return fld, t(lang, msg)
        if exc.code == "bad_request" and detail.startswith("answer to "):
            return "q_" + detail.removeprefix("answer to "), t(lang, "bad_answer")
        if exc.code == "invalid_hetu":
            return "hetu", err_text(exc, lang)
        if exc.code == "contact_needed":
            return "contact", err_text(exc, lang)
        if exc.code == "answer_needed":
            asked = str(exc.params.get("question", ""))
            for q in questions:
                if asked in q.texts:
                    return "q_" + q.id, err_text(exc, lang)
        return None, err_text(exc, lang)

    # -------------------------------------------------------------- pages: booking

    @router.get("/", response_class=HTMLResponse)
    def root(request: Request) -> RedirectResponse:
        lang = request.query_params.get("lang")
        return RedirectResponse("/book/" + (f"?lang={lang}" if lang in LANGS else ""), 307)

    @router.get("/book", response_class=HTMLResponse)
    @router.get("/book/", response_class=HTMLResponse)
    def services(request: Request, site: str | None = None) -> HTMLResponse:
        lang = lang_of(request)
        sites = list(booking.sites.values())
        chosen = booking.sites.get(site or "") or (sites[0] if len(sites) == 1 else None)
        here = "/book/" + (f"?site={chosen.site.id}" if chosen and len(sites) > 1 else "")
        pg = page(request, lang, here)
        return render(
            request,
            pg,
            "citizen/services.html",
            sites=[
                {"id": s.site.id, "name": local_text(s.site.name, lang), "address": s.address}
                for s in sites
            ],
            many_sites=len(sites) > 1,
            site=chosen.site.id if chosen else None,
            site_name=local_text(chosen.site.name, lang) if chosen else "",
            address=chosen.address if chosen else "",
            groups=services_view(chosen, lang) if chosen else [],
        )

    # The /book/r/... routes come before /book/{site}/{service} (a site is never "r").

    @router.get("/book/r/manage", response_class=HTMLResponse)
    def manage_find(request: Request) -> HTMLResponse:
        lang = lang_of(request)
        pg = page(request, lang, "/book/r/manage")
        return render(request, pg, "citizen/find.html", code="", contact="", error=None)

    @router.post("/book/r/manage", response_class=HTMLResponse)
    async def manage_find_post(request: Request) -> Response:
        form, lang, refused = await guarded_form(request)
        if refused:
            return refused
        return await lookup(request, form, lang, str(form.get("code") or ""))

    async def lookup(request: Request, form: Any, lang: str, code: str) -> Response:
        contact = str(form.get("contact") or "").strip()
        try:
            res = await run_in_threadpool(booking.find_own, code, contact)
        except DomainError as exc:
            pg = page(request, lang, "/book/r/manage")
            keep = "" if hetu_mod.is_valid(contact) else contact
            return render(
                request,
                pg,
                "citizen/find.html",
                status_of(exc),
                code=code,
                contact=keep,
                error=err_text(exc, lang),
            )
        resp = see_other(pg_url(f"/book/{res.code}", lang))
        grant(resp, request, res.code, contact)
        return resp

    def pg_url(path: str, lang: str, **params: Any) -> str:
        return Page(lang, path, "").url(path, **params)

    @router.get("/book/r/{code}.ics")
    def ics(request: Request, code: str, contact: str | None = None) -> Response:
        lang = lang_of(request)
        try:
            res = booking.find_own(code, contact or access_of(request, code))
        except DomainError as exc:
            return message_page(request, lang, err_text(exc, lang), status_of(exc))
        sb = booking.site(res.site)
        body = reservation_ics(
            res,
            sb.site,
            sb.site.services[res.service],
            lang=lang,
            location=sb.address,
            url=booking.manage_url(res),
            method="CANCEL" if res.status == "cancelled" else "REQUEST",
        )
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="booking-{res.code}.ics"',
                "Cache-Control": "no-store",
            },
        )

    @router.get("/book/r/{code}/done", response_class=HTMLResponse)
    def done(request: Request, code: str) -> Response:
        lang = lang_of(request)
        contact = access_of(request, code)
        if contact is None:
            return see_other(pg_url(f"/book/{code}", lang))
        try:
            res = booking.find_own(code, contact)
        except DomainError:
            return see_other(pg_url(f"/book/{code}", lang))
        pg = page(request, lang, f"/book/r/{res.code}/done")
        view = res_view(res, lang)
        return render(
            request,
            pg,
            "citizen/done.html",
            r=view,
            qr=qr_data_uri(res.code),
            ics_url=pg.url(f"/book/r/{res.code}.ics", contact=contact),
            manage_url=pg.url(f"/book/{res.code}"),
        )

    @router.post("/book/r/{code}/cancel", response_class=HTMLResponse)
    async def cancel(request: Request, code: str) -> Response:
        _form, lang, refused = await guarded_form(request)
        if refused:
            return refused
        contact = access_of(request, code)
        if contact is None:
            return see_other(pg_url(f"/book/{code}", lang))
        try:
            res = await run_in_threadpool(lambda: booking.cancel(code, contact=contact))
        except DomainError as exc:
            return manage_view(
                request, lang, code, contact, error=err_text(exc, lang), status=status_of(exc)
            )
        return see_other(pg_url(f"/book/{res.code}", lang, done="cancelled"))

    @router.get("/book/r/{code}/move", response_class=HTMLResponse)
    def move(
        request: Request,
        code: str,
        month: str | None = None,
        day: str | None = None,
        advisor: str | None = None,
    ) -> Response:
        lang = lang_of(request)
        contact = access_of(request, code)
        try:
            res = booking.find_own(code, contact)
        except DomainError:
            return see_other(pg_url(f"/book/{code}", lang))
        return calendar_page(
            request, lang, res.site, res.service, month=month, day=day, advisor=advisor, move=res
        )

    @router.post("/book/r/{code}/move", response_class=HTMLResponse)
    async def move_post(request: Request, code: str) -> Response:
        form, lang, refused = await guarded_form(request)
        if refused:
            return refused
        contact = access_of(request, code)
        try:
            res = await run_in_threadpool(booking.find_own, code, contact)
        except DomainError:
            return see_other(pg_url(f"/book/{code}", lang))
        advisor = str(form.get("advisor") or "") or None
        try:
            start = datetime.fromisoformat(str(form.get("start") or ""))
            if start.tzinfo is None:
                raise ValueError
            moved = await run_in_threadpool(
                lambda: booking.reschedule(code, start, advisor=advisor, contact=contact)
            )
        except (ValueError, DomainError) as exc:
            de = exc if isinstance(exc, DomainError) else DomainError("bad_request", detail="start")
            day = str(form.get("day") or "") or None
            return calendar_page(
                request,
                lang,
                res.site,
                res.service,
                day=day,
                advisor=advisor,
                move=res,
                error=err_text(de, lang),
                status=status_of(de),
            )
        return see_other(pg_url(f"/book/{moved.code}", lang, done="moved"))

    # -------------------------------------------------------------- pages: manage

    def manage_view(
        request: Request,
        lang: str,
        code: str,
        contact: str,
        *,
        error: str | None = None,
        status: int = 200,
        done: str | None = None,
    ) -> HTMLResponse:
        res = booking.find_own(code, contact)
        pg = page(request, lang, f"/book/{res.code}")
        return render(
            request,
            pg,
            "citizen/manage.html",
            status,
            r=res_view(res, lang),
            ics_url=pg.url(f"/book/r/{res.code}.ics", contact=contact)
            if not hetu_mod.is_valid(contact)
            else pg.url(f"/book/r/{res.code}.ics"),
            move_url=pg.url(f"/book/r/{res.code}/move"),
            error=error,
            done=done if done in ("cancelled", "moved") else None,
        )

    @router.get("/book/{code}", response_class=HTMLResponse)
    def manage(request: Request, code: str, done: str | None = None) -> Response:
        lang = lang_of(request)
        contact = access_of(request, code)
        if contact is not None:
            try:
                return manage_view(request, lang, code, contact, done=done)
            except DomainError:
                pass
        pg = page(request, lang, f"/book/{code}")
        return render(
            request, pg, "citizen/find.html", code=code, contact="", error=None, fixed_code=True
        )

    @router.post("/book/{code}", response_class=HTMLResponse)
    async def manage_post(request: Request, code: str) -> Response:
        form, lang, refused = await guarded_form(request)
        if refused:
            return refused
        return await lookup(request, form, lang, code)

    # -------------------------------------------------------------- pages: booking

    @router.get("/book/{site}/{service}", response_class=HTMLResponse)
    def calendar(
        request: Request,
        site: str,
        service: str,
        month: str | None = None,
        day: str | None = None,
        advisor: str | None = None,
    ) -> Response:
        lang = lang_of(request)
        try:
            return calendar_page(
                request, lang, site, service, month=month, day=day, advisor=advisor
            )
        except DomainError as exc:
            return message_page(request, lang, err_text(exc, lang), status_of(exc), "/book/")

    @router.post("/book/{site}/{service}/hold", response_class=HTMLResponse)
    async def hold(request: Request, site: str, service: str) -> Response:
        form, lang, refused = await guarded_form(request)
        if refused:
            return refused
        advisor = str(form.get("advisor") or "") or None
        day = str(form.get("day") or "") or None
        try:
            start = datetime.fromisoformat(str(form.get("start") or ""))
            if start.tzinfo is None:
                raise ValueError
            res = await run_in_threadpool(
                lambda: booking.hold(site, service, start, advisor=advisor, lang=lang)
            )
        except (ValueError, DomainError) as exc:
            de = exc if isinstance(exc, DomainError) else DomainError("bad_request", detail="start")
            if de.code in ("unknown_site", "unknown_service", "not_bookable"):
                return message_page(request, lang, err_text(de, lang), status_of(de), "/book/")
            return calendar_page(
                request,
                lang,
                site,
                service,
                day=day,
                advisor=advisor,
                error=err_text(de, lang),
                status=status_of(de),
            )
        return see_other(pg_url(f"/book/{site}/{service}/details/{res.id}", lang))

    @router.get("/book/{site}/{service}/details/{hold_id}", response_class=HTMLResponse)
    def details(request: Request, site: str, service: str, hold_id: str) -> Response:
        lang = lang_of(request)
        res = live_hold(site, service, hold_id)
        if res is None:
            return hold_gone(request, lang, site, service)
        sb = booking.site(site)
        pg = page(request, lang, f"/book/{site}/{service}/details/{hold_id}")
        ctx = details_context(sb, res, lang)
        values = {"lang_msg": lang}
        return render(request, pg, "citizen/details.html", v=values, errors={}, error=None, **ctx)

    def hold_gone(request: Request, lang: str, site: str, service: str) -> HTMLResponse:
        try:
            sb = booking.site(site)
            hold_min = sb.rules.hold_min
        except DomainError:
            hold_min = 10
        text = err_text(DomainError("hold_expired", hold_min=hold_min), lang)
        return message_page(request, lang, text, 409, f"/book/{site}/{service}")

    @router.post("/book/{site}/{service}/details/{hold_id}", response_class=HTMLResponse)
    async def details_post(request: Request, site: str, service: str, hold_id: str) -> Response:
        form, lang, refused = await guarded_form(request)
        if refused:
            return refused
        res = live_hold(site, service, hold_id)
        if res is None:
            return hold_gone(request, lang, site, service)
        sb = booking.site(site)
        _, bdef = booking.service(sb, service)
        values = {k: str(form.get(k) or "") for k in ("name", "phone", "email", "lang_msg")}
        answers = {q.id: str(form.get("q_" + q.id) or "") for q in bdef.pre_questions}
        values.update({"q_" + k: v for k, v in answers.items()})
        msg_lang = values["lang_msg"] if values["lang_msg"] in LANGS else lang
        customer = Customer(
            name=values["name"],
            phone=values["phone"] or None,
            email=values["email"] or None,
            hetu=str(form.get("hetu") or "").strip() or None,
            answers={k: v for k, v in answers.items() if v},
            lang=msg_lang,
        )
        try:
            booked = await run_in_threadpool(
                lambda: booking.book(site, customer=customer, hold_id=hold_id)
            )
        except DomainError as exc:
            if exc.code == "hold_expired":
                return hold_gone(request, lang, site, service)
            qs = [PreQuestionView(q.id, set(q.text.values())) for q in bdef.pre_questions]
            fld, text = field_error(exc, lang, qs)
            pg = page(request, lang, f"/book/{site}/{service}/details/{hold_id}")
            ctx = details_context(sb, res, lang)
            return render(
                request,
                pg,
                "citizen/details.html",
                status_of(exc),
                v=values,
                errors={fld: text} if fld else {},
                error=text,
                **ctx,
            )
        contact = booked.email or booked.phone or ""
        resp = see_other(pg_url(f"/book/r/{booked.code}/done", lang))
        grant(resp, request, booked.code, contact)
        return resp

    return router


@dataclass
class PreQuestionView:
    id: str
    texts: set[str]
