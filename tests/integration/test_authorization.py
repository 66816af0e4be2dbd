"""Every staff page and endpoint refused to the wrong role (issue 6).

The test walks the routes of the real web app the demo's scheduler serves (so a page
added later is checked without being listed here) and asks each one as nobody, and as
each role that may not use it:

- not signed in: an HTML page redirects to sign-in, anything else answers 401;
- signed in with another role: 403, and nothing changes (a refused POST carries a valid
  CSRF token, so the role check, not the CSRF check, is what refuses it);
- `/api/v1/admin/...` takes an admin API key: none -> 401/403, a switchboard key -> 403.

Which role owns which prefix is the design's (scheduler/web/staff.py).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.routing import APIRoute

from vuoro.demo import Demo

OWNER = {"/advisor": "advisor", "/switchboard": "switchboard", "/admin": "admin"}
PARAMS = {
    "site": "demo",
    "desk": "1",
    "device": "kiosk-demo-1",
    "verb": "next",
    "code": "AAA-AAA",
    "name": "aino",
    "user": "aino",
    "service": "kela-benefits",
    "queue": "kela",
}
LOGIN = {"advisor": "aino", "switchboard": "vaihde", "admin": "admin"}


def owner_of(path: str) -> str | None:
    for prefix, role in OWNER.items():
        if path == prefix or path.startswith(prefix + "/"):
            return role
    return None


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS.get(m.group(1), "x1"), path)


def signed_in(demo: Demo, role: str) -> tuple[httpx.Client, str]:
    pw = next(u["password"] for u in demo.users if u["name"] == LOGIN[role])
    c = httpx.Client(base_url=demo.web_url or "", follow_redirects=False, timeout=20)
    page = c.get("/staff/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post(
        "/staff/signin", data={"csrf": csrf, "username": LOGIN[role], "password": pw, "next": ""}
    )
    assert r.status_code == 303, (role, r.status_code)
    home = c.get(r.headers["location"])
    token = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
    return c, token


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's routes, those of included routers too (FastAPI keeps an included router
    as one entry; none of ours has a prefix of its own)."""
    out: list[APIRoute] = []
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            out.extend(api_routes(inner.routes))
        elif isinstance(r, APIRoute):
            out.append(r)
    return out


def staff_routes(demo: Demo) -> list[tuple[str, str, str]]:
    app: Any = demo.app.booking.app  # type: ignore[union-attr]
    out = []
    for r in api_routes(app.routes):
        if not isinstance(r, APIRoute):
            continue
        role = owner_of(r.path)
        if role is None:
            continue
        for method in sorted(r.methods - {"HEAD", "OPTIONS"}):
            out.append((method, r.path, role))
    return out


def test_every_staff_route_refuses_the_wrong_role(demo: Demo) -> None:
    routes = staff_routes(demo)
    owners = {role for _, _, role in routes}
    assert owners == {"advisor", "switchboard", "admin"}, routes
    anon = httpx.Client(base_url=demo.web_url or "", follow_redirects=False, timeout=20)
    clients = {role: signed_in(demo, role) for role in LOGIN}
    checked = 0
    for method, path, owner in routes:
        url = concrete(path)
        # Nobody signed in.
        html = anon.request(method, url, headers={"accept": "text/html"})
        if method == "GET":
            assert html.status_code == 303, (method, path, html.status_code)
            assert html.headers["location"].startswith("/staff/signin")
        else:
            assert html.status_code in (303, 401), (method, path, html.status_code)
        api = anon.request(method, url, headers={"accept": "application/json"})
        assert api.status_code == 401, (method, path, api.status_code)
        # Every other role.
        for role, (c, csrf) in clients.items():
            if role == owner:
                continue
            data = {"csrf": csrf} if method != "GET" else None
            r = c.request(method, url, data=data, headers={"x-csrf-token": csrf})
            assert r.status_code == 403, (role, method, path, r.status_code)
            checked += 1
    assert checked >= 2 * len(routes) >= 10, checked
    for c, _ in clients.values():
        c.close()
    anon.close()


def test_an_advisor_sees_only_their_sites(demo: Demo) -> None:
    from scheduler.web.auth import UserStore

    engine = demo.app.booking.engine  # type: ignore[union-attr]
    UserStore(engine).add("elsewhere", "advisor", "0123456789ab", sites=["other-site"])
    c = httpx.Client(base_url=demo.web_url or "", follow_redirects=False, timeout=20)
    page = c.get("/staff/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post(
        "/staff/signin",
        data={"csrf": csrf, "username": "elsewhere", "password": "0123456789ab", "next": ""},
    )
    assert r.status_code == 303
    site_routes = [
        (m, p) for m, p, role in staff_routes(demo) if role == "advisor" and "{site}" in p
    ]
    assert site_routes, "the advisor pages have per-site routes"
    for method, path in site_routes:
        if method != "GET":
            continue
        got = c.get(concrete(path))
        assert got.status_code in (403, 404), (path, got.status_code)
    c.close()


def test_the_admin_api_wants_an_admin_key(demo: Demo) -> None:
    app: Any = demo.app.booking.app  # type: ignore[union-attr]
    paths = [
        (m, r.path)
        for r in api_routes(app.routes)
        if r.path.startswith("/api/v1/admin/")
        for m in r.methods - {"HEAD", "OPTIONS"}
    ]
    assert paths, "the admin API is mounted"
    with httpx.Client(base_url=demo.web_url or "", timeout=20) as c:
        for method, path in paths:
            url = concrete(path)
            body = {"id": "kiosk-demo-7", "role": "kiosk"} if method == "POST" else None
            none = c.request(method, url, json=body)
            assert none.status_code in (401, 403), (method, path, none.status_code)
            wrong = c.request(
                method, url, json=body, headers={"Authorization": f"Bearer {demo.staff_key}"}
            )
            assert wrong.status_code == 403, (method, path, wrong.status_code)
            assert wrong.json()["error"]["code"] == "not_allowed"
