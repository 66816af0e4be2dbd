"""The staff pages' common ground: sign-in, sessions, roles, CSRF, rendering.

Routes here: `GET/POST /staff/signin`, `POST /staff/signout`, `GET /staff/` (the signed-in
user's start page). The role pages are routers of their own, each built with a `StaffWeb`:

    /advisor/...      scheduler/web/advisor.py      role advisor
    /switchboard/...  scheduler/web/switchboard.py  role switchboard
    /admin/...        scheduler/web/admin.py        role admin (reports: reports.py)

Every route of a role page depends on `web.guard(role)`: without a session it redirects
to the sign-in page (JSON and event-stream routes answer 401), with another role it
answers 403. Site-specific routes also call `web.check_site(user, site)`: an advisor or
switchboard user sees only their sites (403 otherwise; an unknown site is 404 for all).

CSRF: every state-changing request carries `csrf` (a form field) or `X-CSRF-Token` (a
header, for fetch), equal to HMAC(key, session token); a request without the right one is
refused with 403 and changes nothing. The session cookie is SameSite=Strict as well.
Sign-in is rate limited per client address and per user name (token buckets): a
password-guessing loop gets 429 and a clear message.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from scheduler.web.auth import ROLES, User, UserStore
from scheduler.web.citizen import CSP, Page, TokenBucket
from scheduler.web.i18n import LANGS, pick_lang

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "vuoro_staff"
SIGNIN_BURST, SIGNIN_PER_S = 10, 1 / 6  # per client address
NAME_BURST, NAME_PER_S = 5, 1 / 30  # per user name
HOME = {"admin": "/admin/", "advisor": "/advisor/", "switchboard": "/switchboard/"}

# ---------------------------------------------------------------------------- strings

# Every staff page's strings, fi/sv/en, the same keys in each. Page modules add theirs
# with `register` (a key taken twice is a bug, found at import).
STRINGS: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}


def register(table: Mapping[str, Mapping[str, str]]) -> None:
    keys = {lang: set(table[lang]) for lang in LANGS}
    if not keys["fi"] == keys["sv"] == keys["en"]:
        missing = (keys["fi"] | keys["sv"] | keys["en"]) - (keys["fi"] & keys["sv"] & keys["en"])
        raise ValueError(f"staff strings missing in some language: {sorted(missing)}")
    taken = keys["fi"] & set(STRINGS["fi"])
    if taken and any(STRINGS["fi"][k] != table["fi"][k] for k in taken):
        raise ValueError(f"staff strings registered twice: {sorted(taken)}")
    for lang in LANGS:
        STRINGS[lang].update(table[lang])


def st(lang: str, key: str, **params: object) -> str:
    text = STRINGS.get(lang, STRINGS["fi"]).get(key) or STRINGS["fi"].get(key) or key
    return text.format(**params) if params else text


register(
    {
        "fi": {
            "staff_title": "Vuoro – henkilökunta",
            "skip": "Siirry sisältöön",
            "lang_nav": "Kieli",
            "signin": "Kirjaudu sisään",
            "signin_intro": "Kirjaudu henkilökunnan sivuille.",
            "username": "Käyttäjätunnus",
            "password": "Salasana",
            "signout": "Kirjaudu ulos",
            "signed_in_as": "Kirjautunut: {name} ({role})",
            "signin_failed": "Käyttäjätunnus tai salasana on väärin.",
            "signin_limited": "Liian monta yritystä. Odota hetki ja yritä uudelleen.",
            "signed_out": "Olet kirjautunut ulos.",
            "session_gone": "Istunto on päättynyt. Kirjaudu uudelleen.",
            "forbidden": "Sinulla ei ole oikeutta tähän sivuun.",
            "csrf": "Lomake on vanhentunut. Lataa sivu uudelleen ja yritä uudelleen.",
            "not_found": "Sivua ei löydy.",
            "busy": "Palvelu ei vastannut ajoissa. Yritä uudelleen.",
            "role_admin": "ylläpitäjä",
            "role_advisor": "virkailija",
            "role_switchboard": "vaihde",
            "nav_main": "Päävalikko",
            "nav_advisor": "Palvelupiste",
            "nav_switchboard": "Vaihde",
            "nav_admin": "Ylläpito",
            "nav_reports": "Raportit",
        },
        "sv": {
            "staff_title": "Vuoro – personal",
            "skip": "Gå till innehållet",
            "lang_nav": "Språk",
            "signin": "Logga in",
            "signin_intro": "Logga in på personalens sidor.",
            "username": "Användarnamn",
            "password": "Lösenord",
            "signout": "Logga ut",
            "signed_in_as": "Inloggad: {name} ({role})",
            "signin_failed": "Fel användarnamn eller lösenord.",
            "signin_limited": "För många försök. Vänta en stund och försök igen.",
            "signed_out": "Du har loggat ut.",
            "session_gone": "Sessionen har gått ut. Logga in igen.",
            "forbidden": "Du har inte behörighet till den här sidan.",
            "csrf": "Formuläret har gått ut. Ladda om sidan och försök igen.",
            "not_found": "Sidan finns inte.",
            "busy": "Tjänsten svarade inte i tid. Försök igen.",
            "role_admin": "administratör",
            "role_advisor": "handläggare",
            "role_switchboard": "växel",
            "nav_main": "Huvudmeny",
            "nav_advisor": "Disk",
            "nav_switchboard": "Växel",
            "nav_admin": "Administration",
            "nav_reports": "Rapporter",
        },
        "en": {
            "staff_title": "Vuoro – staff",
            "skip": "Skip to content",
            "lang_nav": "Language",
            "signin": "Sign in",
            "signin_intro": "Sign in to the staff pages.",
            "username": "User name",
            "password": "Password",
            "signout": "Sign out",
            "signed_in_as": "Signed in: {name} ({role})",
            "signin_failed": "Wrong user name or password.",
            "signin_limited": "Too many attempts. Wait a moment and try again.",
            "signed_out": "You have signed out.",
            "session_gone": "Your session has ended. Please sign in again.",
            "forbidden": "You do not have access to this page.",
            "csrf": "The form has expired. Reload the page and try again.",
            "not_found": "Page not found.",
            "busy": "The service did not answer in time. Please try again.",
            "role_admin": "administrator",
            "role_advisor": "advisor",
            "role_switchboard": "switchboard",
            "nav_main": "Main menu",
            "nav_advisor": "Desk",
            "nav_switchboard": "Switchboard",
            "nav_admin": "Administration",
            "nav_reports": "Reports",
        },
    }
)


# ---------------------------------------------------------------------------- errors


class SignInNeeded(Exception):
    """No (live) session: the page redirects to sign-in, an API route answers 401."""


class Forbidden(Exception):
    """Signed in, but not with the role or site this needs: 403."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token: 403."""


# ---------------------------------------------------------------------------- pages


@dataclass
class StaffPage(Page):
    """What every staff template gets as `p`: the citizen pages' Page (language, language
    switcher, URLs, CSRF token) with the staff strings, the user and the navigation."""

    user: User | None = None
    nav: list[tuple[str, str, bool]] = field(default_factory=list)

    def T(self, key: str, **params: object) -> str:
        return st(self.lang, key, **params)

    def local(self, names: Mapping[str, str] | None, fallback: str = "") -> str:
        """A {fi, sv, en} text in this page's language."""
        if not names:
            return fallback
        return names.get(self.lang) or names.get("fi") or next(iter(names.values()), fallback)


class StaffWeb:
    """Built once per web app; the role pages take it to guard and render."""

    def __init__(
        self,
        users: UserStore,
        *,
        host: Any = None,
        booking: Any = None,
        secret: bytes | None = None,
        secure_cookies: bool | None = None,
    ) -> None:
        self.users = users
        self.host = host  # SchedulerApp: bridge, admin (SiteAdmin), devices; None in tests
        self.booking = booking  # BookingService or None
        self.key = hmac.new(secret or secrets.token_bytes(32), b"staff", hashlib.sha256).digest()
        self.secure_cookies = secure_cookies  # None: Secure when the request is HTTPS
        self.ip_bucket = TokenBucket(SIGNIN_BURST, SIGNIN_PER_S)
        self.name_bucket = TokenBucket(NAME_BURST, NAME_PER_S)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # -------------------------------------------------------------- who is asking

    def session_token(self, request: Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE)

    async def user_of(self, request: Request) -> User | None:
        cached = getattr(request.state, "staff_user", False)
        if cached is not False:
            return cached
        user = await run_in_threadpool(self.users.session_user, self.session_token(request))
        request.state.staff_user = user
        return user

    def guard(self, *roles: str) -> Callable[..., Any]:
        """A FastAPI dependency: the signed-in user if their role is one of `roles`."""
        for r in roles:
            assert r in ROLES, r

        async def dependency(request: Request) -> User:
            user = await self.user_of(request)
            if user is None:
                raise SignInNeeded()
            if user.role not in roles:
                raise Forbidden()
            return user

        return dependency

    def check_site(self, user: User, site: str) -> None:
        if not user.may_site(site):
            raise Forbidden()

    def csrf_for(self, request: Request) -> str:
        token = self.session_token(request) or ""
        return hmac.new(self.key, f"csrf:{token}".encode(), hashlib.sha256).hexdigest()[:40]

    def check_csrf(self, request: Request, given: str | None) -> None:
        if not self.session_token(request) or not given:
            raise CsrfFailed()
        if not hmac.compare_digest(str(given), self.csrf_for(request)):
            raise CsrfFailed()

    async def form(self, request: Request) -> Any:
        """The POSTed form of a signed-in user, after its CSRF check."""
        form = await request.form()
        self.check_csrf(request, str(form.get("csrf") or "") or request.headers.get("x-csrf-token"))
        return form

    # -------------------------------------------------------------- rendering

    def lang_of(self, request: Request, user: User | None = None) -> str:
        q = request.query_params.get("lang")
        if q in LANGS:
            return q
        if user is not None:
            return user.lang
        return pick_lang(None, request.headers.get("accept-language"))

    def page(self, request: Request, user: User | None, lang: str | None = None) -> StaffPage:
        lang = lang or self.lang_of(request, user)
        q = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        here = request.url.path + (f"?{urlencode(q)}" if q else "")
        nav: list[tuple[str, str, bool]] = []
        if user is not None:
            path = request.url.path
            home = HOME[user.role]
            nav.append((st(lang, f"nav_{user.role}"), home, path.startswith(home)))
            if user.role == "admin":
                in_reports = path.startswith("/admin/reports")
                nav.append((st(lang, "nav_reports"), "/admin/reports", in_reports))
                nav[0] = (nav[0][0], home, path.startswith(home) and not nav[1][2])
        return StaffPage(lang=lang, here=here, csrf=self.csrf_for(request), user=user, nav=nav)

    def render(
        self, request: Request, pg: StaffPage, template: str, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(p=pg, **ctx)
        return secure(HTMLResponse(html, status_code=status))

    def message(
        self, request: Request, user: User | None, key: str, status: int, **params: object
    ) -> HTMLResponse:
        pg = self.page(request, user)
        return self.render(request, pg, "staff/message.html", status, text=pg.T(key, **params))

    def set_session(self, request: Request, resp: Response, token: str | None) -> None:
        secure_flag = (
            self.secure_cookies
            if self.secure_cookies is not None
            else request.url.scheme == "https"
        )
        if token is None:
            resp.delete_cookie(SESSION_COOKIE, path="/", secure=secure_flag, httponly=True)
            return
        resp.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure_flag,
            path="/",
        )


def secure(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = CSP
    return resp


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return True
    return request.method == "GET" and "json" not in accept and "event-stream" not in accept


def _safe_next(target: str | None, fallback: str) -> str:
    """Only a local path is a place to go back to after sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


# ---------------------------------------------------------------------------- app


def mount_staff(app: FastAPI, web: StaffWeb, routers: Iterable[APIRouter] = ()) -> None:
    """The sign-in routes, the role pages and the error handlers of the staff pages."""

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, _exc: SignInNeeded) -> Response:
        if _wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            lang = request.query_params.get("lang")
            keep = f"lang={lang}&" if lang in LANGS else ""  # sign in in the page's language
            return RedirectResponse(f"/staff/signin?{keep}next={quote(target)}", status_code=303)
        return JSONResponse({"error": {"code": "sign_in", "message": "sign in first"}}, 401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _exc: Forbidden) -> Response:
        if _wants_html(request):
            user = await web.user_of(request)
            return web.message(request, user, "forbidden", 403)
        return JSONResponse({"error": {"code": "not_allowed", "message": "not allowed"}}, 403)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, _exc: CsrfFailed) -> Response:
        if _wants_html(request) or request.method == "POST":
            user = await web.user_of(request)
            if "application/json" in request.headers.get("accept", ""):
                return JSONResponse({"error": {"code": "csrf", "message": "bad CSRF token"}}, 403)
            return web.message(request, user, "csrf", 403)
        return JSONResponse({"error": {"code": "csrf", "message": "bad CSRF token"}}, 403)

    app.include_router(signin_router(web))
    for r in routers:
        app.include_router(r)


def role_routers(web: StaffWeb) -> list[APIRouter]:
    """The role pages (each module's `router(web)`)."""
    from scheduler.web import admin, advisor, reports, switchboard

    return [
        advisor.router(web),
        switchboard.router(web),
        admin.router(web),
        reports.reports_router(web),
    ]


def signin_router(web: StaffWeb) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/staff/signin")
    async def signin_page(request: Request, next: str | None = None) -> Response:
        user = await web.user_of(request)
        if user is not None:
            return RedirectResponse(_safe_next(next, HOME[user.role]), status_code=303)
        pg = web.page(request, None)
        # The CSRF token of the sign-in form is bound to a pre-session nonce cookie.
        nonce = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(18)
        pg.csrf = hmac.new(web.key, f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:40]
        resp = web.render(request, pg, "staff/signin.html", next=_safe_next(next, ""), error=None)
        if not request.cookies.get(SESSION_COOKIE):
            web.set_session(request, resp, nonce)
        return resp

    @router.post("/staff/signin")
    async def signin(request: Request) -> Response:
        form = await request.form()
        web.check_csrf(request, str(form.get("csrf") or ""))
        name = str(form.get("username") or "").strip().lower()[:64]
        password = str(form.get("password") or "")
        target = _safe_next(str(form.get("next") or ""), "")
        lang = web.lang_of(request)
        pg = web.page(request, None, lang)
        host = request.client.host if request.client else "?"
        if not web.ip_bucket.take(host) or not web.name_bucket.take(name or "?"):
            resp = web.render(
                request, pg, "staff/signin.html", 429, next=target, error=pg.T("signin_limited")
            )
            resp.headers["Retry-After"] = str(math.ceil(1 / SIGNIN_PER_S))
            return resp
        user = await run_in_threadpool(web.users.verify, name, password)
        if user is None:
            return web.render(
                request, pg, "staff/signin.html", 401, next=target, error=pg.T("signin_failed")
            )
        token = await run_in_threadpool(web.users.start_session, user)
        go = target or HOME[user.role]
        resp = RedirectResponse(go, status_code=303)
        web.set_session(request, resp, token)  # a new token: no session fixation
        return secure(resp)

    @router.post("/staff/signout")
    async def signout(request: Request) -> Response:
        form = await request.form()
        web.check_csrf(request, str(form.get("csrf") or ""))
        token = web.session_token(request)
        if token:
            await run_in_threadpool(web.users.end_session, token)
        lang = web.lang_of(request)
        resp = RedirectResponse(f"/staff/signin?lang={lang}&out=1", status_code=303)
        web.set_session(request, resp, None)
        return secure(resp)

    @router.get("/staff/")
    async def staff_home(request: Request) -> Response:
        user = await web.user_of(request)
        if user is None:
            return RedirectResponse("/staff/signin", status_code=303)
        return RedirectResponse(HOME[user.role], status_code=303)

    return router
