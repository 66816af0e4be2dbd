"""Staff accounts and sign-in (scheduler/web/auth.py, staff.py) on real SQLite and the real
demo's web server: argon2 hashes, sessions kept only as hashes, expiry and idle time,
CSRF on sign-in and sign-out, rate-limited sign-in, roles and sites, `vuoro users`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from scheduler.store.db import Store
from scheduler.web.auth import UserError, UserStore
from vuoro.demo import Demo


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    s = Store(f"sqlite:///{tmp_path / 'u.db'}")
    s.migrate()
    return UserStore(s.engine, clock=Clock())


def test_passwords_are_argon2_hashes_and_sessions_only_hashes(
    users: UserStore, tmp_path: Path
) -> None:
    users.add("aino", "advisor", "correct horse battery", sites=["demo"])
    assert users.verify("aino", "correct horse battery") is not None
    assert users.verify("aino", "wrong password!") is None
    assert users.verify("nobody", "correct horse battery") is None
    token = users.start_session(users.get("aino"))  # type: ignore[arg-type]
    raw = (tmp_path / "u.db").read_bytes() + _wal(tmp_path / "u.db")
    assert b"correct horse battery" not in raw
    assert token.encode() not in raw
    assert b"$argon2id$" in raw
    user = users.session_user(token)
    assert user is not None and user.may_site("demo") and not user.may_site("other")


def _wal(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_sessions_end_by_age_idleness_sign_out_and_disabling(users: UserStore) -> None:
    clock: Clock = users.clock  # type: ignore[assignment]
    u = users.add("bertil", "advisor", "0123456789ab")
    t1 = users.start_session(u)
    clock.now += timedelta(hours=1, minutes=59)
    assert users.session_user(t1) is not None  # used: the idle clock restarts
    clock.now += timedelta(hours=2, minutes=1)
    assert users.session_user(t1) is None  # idle too long
    t2 = users.start_session(u)
    for _ in range(13):
        clock.now += timedelta(hours=1)
        users.session_user(t2)
    assert users.session_user(t2) is None  # 12 hours at most
    t3 = users.start_session(u)
    users.end_session(t3)
    assert users.session_user(t3) is None
    t4 = users.start_session(u)
    users.update("bertil", disabled=True)
    assert users.session_user(t4) is None
    assert users.verify("bertil", "0123456789ab") is None
    users.update("bertil", disabled=False)
    users.set_password("bertil", "a new password 1")
    assert users.verify("bertil", "0123456789ab") is None
    assert users.verify("bertil", "a new password 1") is not None


def test_bad_accounts_are_refused(users: UserStore) -> None:
    for args, code in (
        (("A B", "advisor", "0123456789ab"), "bad_name"),
        (("x1", "boss", "0123456789ab"), "bad_role"),
        (("x2", "advisor", "short"), "password_short"),
    ):
        with pytest.raises(UserError) as info:
            users.add(*args)
        assert info.value.code == code
    users.add("x3", "admin", "0123456789ab")
    with pytest.raises(UserError) as info:
        users.add("x3", "admin", "0123456789ab")
    assert info.value.code == "user_exists"


# ---------------------------------------------------------------------------- over HTTP


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def sign_in(c: httpx.Client, name: str, password: str) -> httpx.Response:
    page = c.get("/staff/signin?lang=en")
    return c.post(
        "/staff/signin?lang=en",  # as the form's action has it
        data={"csrf": csrf_of(page.text), "username": name, "password": password, "next": ""},
    )


def test_sign_in_roles_csrf_and_sign_out(demo: Demo) -> None:
    pw = {u["name"]: u["password"] for u in demo.users}
    assert {u["role"] for u in demo.users} == {"admin", "advisor", "switchboard"}
    with httpx.Client(base_url=demo.web_url or "", follow_redirects=False) as c:
        # Not signed in: a page sends to sign-in (coming back after), JSON gets 401.
        r = c.get("/advisor/")
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/signin?next=")
        assert c.get("/advisor/", headers={"accept": "application/json"}).status_code == 401
        # Sign-in without the form's CSRF token: refused.
        c.get("/staff/signin")
        r = c.post("/staff/signin", data={"username": "aino", "password": pw["aino"]})
        assert r.status_code == 403
        assert sign_in(c, "aino", "wrong").status_code == 401
        r = sign_in(c, "aino", pw["aino"])
        assert r.status_code == 303 and r.headers["location"] == "/advisor/"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/advisor/").status_code == 200
        assert c.get("/admin/").status_code == 403
        assert c.get("/switchboard/").status_code == 403
        # An outside link cannot be the place to go after sign-in.
        c.cookies.clear()
        page = c.get("/staff/signin?next=//evil.example/x")
        r = c.post(
            "/staff/signin",
            data={
                "csrf": csrf_of(page.text),
                "username": "aino",
                "password": pw["aino"],
                "next": "//evil.example/x",
            },
        )
        assert r.headers["location"] == "/advisor/"
        # Sign-out needs the CSRF token and ends the session for good.
        session = c.cookies.get("vuoro_staff")
        assert c.post("/staff/signout", data={}).status_code == 403
        home = c.get("/advisor/")
        r = c.post("/staff/signout", data={"csrf": csrf_of(home.text)})
        assert r.status_code == 303
        c.cookies.set("vuoro_staff", session or "")
        assert c.get("/advisor/").status_code == 303


def test_sign_in_is_rate_limited(demo: Demo) -> None:
    with httpx.Client(base_url=demo.web_url or "", follow_redirects=False) as c:
        codes = [sign_in(c, "admin", f"guess-{i}").status_code for i in range(8)]
        assert codes[0] == 401 and codes[-1] == 429, codes
        pw = next(u["password"] for u in demo.users if u["name"] == "admin")
        r = sign_in(c, "admin", pw)  # the right password waits its turn too
        assert r.status_code == 429 and "Too many attempts" in r.text
        assert "Retry-After" in r.headers


def test_users_command(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    from scheduler.config import DEMO_SITE

    text = DEMO_SITE.read_text().replace(
        'database = "sqlite:///var/lib/vuoro/demo.db"',
        f'database = "sqlite:///{tmp_path / "v.db"}"',
    )
    cfg.write_text(text)
    vuoro = [sys.executable, "-m", "vuoro.cli", "users"]

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*vuoro, *args, "--config", str(cfg)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    r = run("add", "kaisa", "--role", "advisor", "--sites", "demo", "--generate", "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["user"] == {"name": "kaisa", "role": "advisor", "sites": ["demo"]}
    r = run("add", "olli", "--role", "admin", "--password-stdin", stdin="too short\n")
    assert r.returncode == 2 and "at least 10 characters" in r.stderr
    r = run("add", "olli", "--role", "advisor", "--sites", "nowhere", "--generate")
    assert r.returncode == 2 and "unknown site" in r.stderr
    r = run("list", "--json")
    assert [u["name"] for u in json.loads(r.stdout)["users"]] == ["kaisa"]
    s = Store(f"sqlite:///{tmp_path / 'v.db'}")
    assert UserStore(s.engine).verify("kaisa", made["password"]) is not None
    assert run("disable", "kaisa").returncode == 0
    assert UserStore(s.engine).verify("kaisa", made["password"]) is None
    s.dispose()


def test_the_users_command_agrees_with_auth_and_loads_nothing_heavy() -> None:
    from scheduler.web import auth, users_cli

    assert users_cli.ROLES == auth.ROLES and users_cli.MIN_PASSWORD == auth.MIN_PASSWORD
    probe = (
        "import sys, vuoro.cli; vuoro.cli.build_parser(); "
        "print(sorted(m for m in ('argon2', 'sqlalchemy', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
