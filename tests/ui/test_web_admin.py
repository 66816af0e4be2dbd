"""Admin pages (scheduler/web/admin.py) in Debian's Chromium via Playwright, and the admin
device API (scheduler/web/admin_api.py) over HTTP, against the running demo (broker +
scheduler + web server).

What a change does is checked where the devices see it: the retained MQTT messages (read
with the demo's read-only monitor account, or by a device client). Screenshots of the main
pages in fi, sv and en (tablet, and one phone) go to VUORO_SHOTS_DIR if set, else a tmp
folder (printed).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient, MqttSettings
from scheduler.web.staff import STRINGS
from tests.support.browser import launch as launch_chromium
from vuoro.demo import Demo

TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SITE = "demo"


def T(lang: str, key: str, **kw: Any) -> str:
    text = STRINGS[lang][key]
    return text.format(**kw) if kw else text


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = Demo(workdir=tmp_path_factory.mktemp("admin-demo"), seed_bookings=False)
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = Path(os.environ.get("VUORO_SHOTS_DIR") or tmp_path_factory.mktemp("admin-shots"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nadmin page screenshots: {out}")
    return out


def sign_in(browser: Browser, demo: Demo, name: str, size: dict[str, int] = TABLET) -> Page:
    ctx: BrowserContext = browser.new_context(viewport=size)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())  # the "remove?" confirmations
    pw = next(u["password"] for u in demo.users if u["name"] == name)
    page.goto(f"{demo.web_url}/staff/signin?lang=en")
    page.get_by_label(T("en", "username")).fill(name)
    page.get_by_label(T("en", "password")).fill(pw)
    page.get_by_role("button", name=T("en", "signin")).click()
    page.wait_for_load_state()
    return page


@pytest.fixture(scope="module")
def admin_page(browser: Browser, demo: Demo) -> Iterator[Page]:
    page = sign_in(browser, demo, "admin")
    expect(page).to_have_url(re.compile(r"/admin/"))
    yield page
    page.context.close()


def retained(demo: Demo, topic: str, wait: float = 1.0) -> dict[str, Any] | None:
    """The retained message of `topic` as a new subscriber gets it (None: nothing)."""
    got: dict[str, Any] = {}
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"adm-test-{time.monotonic_ns()}")
    c.username_pw_set(demo.monitor.username, demo.monitor.password)

    def on_connect(client: Any, *_a: Any) -> None:
        client.subscribe(topic, qos=1)

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        if msg.retain and msg.payload:
            got["body"] = json.loads(msg.payload)
            done.set()

    c.on_connect = on_connect
    c.on_message = on_message
    c.connect(demo.broker.host, demo.broker.port)
    c.loop_start()
    done.wait(wait)
    c.loop_stop()
    c.disconnect()
    return got.get("body")


def eventually(fn: Callable[[], Any], timeout: float = 5.0) -> Any:
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > end:
            return got
        time.sleep(0.1)


def version(demo: Demo) -> int:
    return int(demo.app.admin.version(SITE))  # type: ignore[union-attr]


def open_admin(page: Page, demo: Demo, path: str, lang: str = "en") -> None:
    sep = "&" if "?" in path else "?"
    page.goto(f"{demo.web_url}{path}{sep}lang={lang}")


def unlabelled(page: Page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden')
            .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)"""
    )


def device_client(demo: Demo, device: str, role: str, password: str) -> DeviceClient:
    c = DeviceClient(
        MqttSettings(
            host=demo.broker.host,
            port=demo.broker.port,
            username=device,
            password=password,
            reconnect_min_s=1,
            reconnect_max_s=2,
        ),
        device_id=device,
        site=SITE,
        role=role,
        version="9.9-test",
    )
    c.start()
    assert c.connected.wait(10)
    return c


# ---------------------------------------------------------------------------- flows


def test_lobby_notice_reaches_the_display(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    open_admin(page, demo, f"/admin/sites/{SITE}/notice")
    page.get_by_label(T("en", "adm_in_fi")).fill("Kela-palvelu on tänään suljettu.")
    page.get_by_label(T("en", "adm_in_sv")).fill("FPA är stängt i dag.")
    page.get_by_label(T("en", "adm_in_en")).fill("Kela is closed today.")
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_contain_text(T("en", "adm_saved"))
    want = {
        "fi": "Kela-palvelu on tänään suljettu.",
        "sv": "FPA är stängt i dag.",
        "en": "Kela is closed today.",
    }
    topic = p.Topics.display_state(SITE)
    assert eventually(lambda: (retained(demo, topic) or {}).get("message") == want)
    # cleared with the button: the display's snapshot has no message
    page.get_by_role("button", name=T("en", "adm_notice_clear")).click()
    expect(page.locator("#notice-now")).to_have_text(T("en", "adm_notice_none"))
    assert eventually(lambda: (retained(demo, topic) or {"message": 1}).get("message") is None)


def test_desk_work_profile_reaches_the_desk_unit(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    open_admin(page, demo, f"/admin/sites/{SITE}/desks/1")
    assert unlabelled(page) == []
    box = page.get_by_role("checkbox", name=re.compile("Police permit"))
    expect(box).not_to_be_checked()
    box.check()
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_be_visible()
    topic = p.Topics.config(SITE, "desk-demo-1")
    got = eventually(lambda: "police" in ((retained(demo, topic) or {}).get("queues") or []))
    assert got, retained(demo, topic)
    assert retained(demo, topic)["queues"] == ["municipality", "tax", "police"]  # type: ignore[index]


def test_queue_and_service_reach_the_kiosk(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    open_admin(page, demo, f"/admin/sites/{SITE}/queues/_new")
    assert unlabelled(page) == []
    page.locator("#f-id").fill("migri")
    page.get_by_label(T("en", "adm_prefix")).fill("M")
    page.get_by_label(T("en", "adm_in_fi")).fill("Maahanmuuttovirasto")
    page.get_by_label(T("en", "adm_in_sv")).fill("Migrationsverket")
    page.get_by_label(T("en", "adm_in_en")).fill("Immigration Service")
    page.get_by_label(T("en", "adm_weight")).fill("1.5")
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("table.data")).to_contain_text("Immigration Service")

    open_admin(page, demo, f"/admin/sites/{SITE}/services/_new")
    assert unlabelled(page) == []
    page.locator("#f-id").fill("residence-permit")
    names = page.locator("fieldset.names").first
    names.get_by_label(T("en", "adm_in_fi")).fill("Oleskelulupa")
    names.get_by_label(T("en", "adm_in_sv")).fill("Uppehållstillstånd")
    names.get_by_label(T("en", "adm_in_en")).fill("Residence permit")
    page.get_by_label(T("en", "adm_provider")).fill("migri")
    page.get_by_label(T("en", "adm_queue"), exact=True).select_option("migri")
    page.get_by_label(T("en", "adm_walkin_hours")).fill("mon-fri 9:00-11:00, 12:00-15:00")
    instr = page.locator("fieldset.names").nth(1)
    instr.get_by_label(T("en", "adm_in_fi")).fill("Ota mukaan passi.")
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_be_visible()

    topic = p.Topics.config(SITE, "kiosk-demo-1")

    def listed() -> dict[str, Any] | None:
        cfg = retained(demo, topic) or {}
        return next((s for s in cfg.get("services", []) if s["id"] == "residence-permit"), None)

    svc = eventually(listed)
    assert svc is not None
    assert svc["queue"] == "migri" and svc["provider"] == "migri" and svc["walk_in"] is True
    assert svc["name"]["sv"] == "Uppehållstillstånd"
    sc = demo.app.admin.site(SITE)  # type: ignore[union-attr]
    made = next(s for s in sc.services if s.id == "residence-permit")
    assert made.walk_in_hours == {"mon-fri": ["9:00-11:00", "12:00-15:00"]}
    assert made.instructions and made.instructions.en == "Ota mukaan passi."  # filled in


def test_an_invalid_change_shows_why_and_changes_nothing(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    topic = p.Topics.config(SITE, "kiosk-demo-1")
    before_cfg = retained(demo, topic)
    before = version(demo)
    # a second queue with the letter A
    open_admin(page, demo, f"/admin/sites/{SITE}/queues/_new", "fi")
    page.locator("#f-id").fill("dup")
    page.get_by_label(T("fi", "adm_prefix")).fill("A")
    for lang in ("fi", "sv", "en"):
        page.get_by_label(T("fi", f"adm_in_{lang}")).fill("Kaksoiskappale")
    page.get_by_role("button", name=T("fi", "adm_save")).click()
    alert = page.locator("#errors")
    expect(alert).to_contain_text(T("fi", "adm_not_saved"))
    expect(alert).to_contain_text("queue prefix 'A' appears twice")
    expect(page.locator("#f-id")).to_have_value("dup")  # kept
    # opening hours that are no hours
    open_admin(page, demo, f"/admin/sites/{SITE}/hours", "sv")
    page.get_by_label(T("sv", "adm_hours_week")).fill("mon-fri 8-16:00\nfunday 9:00-10:00")
    page.get_by_role("button", name=T("sv", "adm_save")).click()
    expect(page.locator("#errors")).to_contain_text(T("sv", "adm_not_saved"))
    expect(page.get_by_label(T("sv", "adm_hours_week"))).to_have_value(
        "mon-fri 8-16:00\nfunday 9:00-10:00"
    )
    # a line without times is the page's own message, in the page's language
    page.get_by_label(T("sv", "adm_hours_week")).fill("mon-fri")
    page.get_by_role("button", name=T("sv", "adm_save")).click()
    expect(page.locator("#errors")).to_contain_text("Rad 1 (mon-fri)")
    # removing a queue that services feed
    open_admin(page, demo, f"/admin/sites/{SITE}/queues")
    page.get_by_role("button", name=T("en", "adm_remove_x", x="tax")).click()
    expect(page.locator("#errors")).to_contain_text("feeds unknown queue 'tax'")
    assert version(demo) == before
    assert retained(demo, topic) == before_cfg
    assert demo.app.admin.site(SITE).hours is None  # type: ignore[union-attr]


def test_seasons_and_closures_saved(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    open_admin(page, demo, f"/admin/sites/{SITE}/hours")
    page.locator("#f-season_name_0").fill("summer")
    page.locator("#f-season_from_0").fill("06-01")
    page.locator("#f-season_to_0").fill("08-31")
    page.locator("#f-season_hours_0").fill("mon-sun 0:00-24:00")
    page.locator("#f-closure_from_0").fill("2030-12-31")
    page.locator("#f-closure_hours_0").fill("9:00-12:00")
    page.locator("#f-closure_reason_0_fi").fill("Uudenvuodenaatto")
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_be_visible()
    sc = demo.app.admin.site(SITE)  # type: ignore[union-attr]
    assert [(x.name, x.from_, x.to, x.hours) for x in sc.seasons] == [
        ("summer", "06-01", "08-31", {"mon-sun": "0:00-24:00"})
    ]
    (c,) = sc.closures
    assert str(c.on) == "2030-12-31" and c.hours == "9:00-12:00"
    assert c.reason is not None and c.reason.sv == "Uudenvuodenaatto"
    # the saved rows come back, with a new empty row for the next one
    expect(page.locator("#f-season_name_0")).to_have_value("summer")
    expect(page.locator("#f-closure_from_1")).to_have_value("")
    # cleared: removed
    page.locator("#f-season_name_0").fill("")
    page.locator("#f-season_from_0").fill("")
    page.locator("#f-season_to_0").fill("")
    page.locator("#f-closure_from_0").fill("")
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_be_visible()
    sc = demo.app.admin.site(SITE)  # type: ignore[union-attr]
    assert sc.seasons == [] and sc.closures == []


def test_devices_added_removed_and_live_status(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    dev = "kiosk-demo-7"
    creds = demo.broker.add_user(dev, "kiosk", SITE)
    demo.broker.reload()
    open_admin(page, demo, f"/admin/sites/{SITE}/devices/_new")
    assert unlabelled(page) == []
    page.locator("#f-id").fill(dev)
    page.get_by_label(T("en", "adm_role")).select_option("kiosk")
    page.get_by_label(T("en", "adm_offline_numbers")).fill("700-749")
    page.get_by_role("button", name=T("en", "adm_save")).click()
    expect(page.locator("#saved")).to_be_visible()
    topic = p.Topics.config(SITE, dev)
    cfg = eventually(lambda: retained(demo, topic))
    assert cfg and cfg["role"] == "kiosk" and cfg["site"] == SITE

    # live status over SSE: the page shows the device come online and its paper run low
    row = page.locator(f'td.devstatus[data-device="{dev}"]')
    expect(row).to_contain_text(T("en", "adm_never"))
    client = device_client(demo, dev, "kiosk", creds.password)
    try:
        client.set_status(printer="ok", reader="ok")
        expect(row).to_contain_text(T("en", "adm_online"))
        client.set_status(printer="paper_low")
        expect(row).to_contain_text(T("en", "adm_st_paper_low"))
        expect(row).to_contain_text("9.9-test")
        open_admin(page, demo, "/admin/")
        expect(page.locator("table.data")).to_contain_text(f"{dev}: {T('en', 'adm_st_paper_low')}")
        ok = client.request("ticket", {"service": "city-info", "lang": "fi"})
        assert ok["ok"] is True, ok

        # removed: its retained config cleared, its commands refused
        open_admin(page, demo, f"/admin/sites/{SITE}/devices")
        page.get_by_role("button", name=T("en", "adm_remove_x", x=dev)).click()
        expect(page.locator("#saved")).to_contain_text(T("en", "adm_removed"))
        assert eventually(lambda: retained(demo, topic, wait=0.5) is None)
        no = client.request("ticket", {"service": "city-info", "lang": "fi"})
        assert no["ok"] is False and no["error"]["code"] == "not_allowed"
    finally:
        client.stop()


def test_users_add_an_advisor_who_signs_in(admin_page: Page, demo: Demo, browser: Browser) -> None:
    page = admin_page
    open_admin(page, demo, "/admin/users")
    assert unlabelled(page) == []
    page.get_by_label(T("en", "username")).fill("ville")
    page.get_by_label(T("en", "adm_display_name")).fill("Ville Virkailija")
    page.get_by_label(T("en", "adm_role")).select_option("advisor")
    page.get_by_role("checkbox", name=SITE).check()
    page.get_by_label(T("en", "adm_password")).fill("short")
    page.get_by_role("button", name=T("en", "adm_add_user")).click()
    # the browser's own minlength check stops it; the server says the same without it
    page.evaluate("document.querySelector('#f-password').removeAttribute('minlength')")
    page.get_by_role("button", name=T("en", "adm_add_user")).click()
    expect(page.locator("#errors")).to_contain_text(T("en", "adm_ue_password_short", n=10))
    page.get_by_label(T("en", "adm_password")).fill("ville-salasana-1")
    page.get_by_role("button", name=T("en", "adm_add_user")).click()
    expect(page.locator("#users")).to_contain_text("Ville Virkailija")
    demo.users.append({"name": "ville", "role": "advisor", "password": "ville-salasana-1"})
    other = sign_in(browser, demo, "ville")
    try:
        expect(other).to_have_url(re.compile(r"/advisor/"))
        refused = other.goto(f"{demo.web_url}/admin/")
        assert refused is not None and refused.status == 403
    finally:
        other.context.close()
    # disable: signing in no longer works; an admin cannot disable themselves
    open_admin(page, demo, "/admin/users/ville")
    page.get_by_role("button", name=T("en", "adm_disable")).click()
    expect(page.locator(".badge.st-off")).to_be_visible()
    assert demo.app.booking.staff.users.verify("ville", "ville-salasana-1") is None  # type: ignore[union-attr]
    open_admin(page, demo, "/admin/users/admin")
    expect(page.get_by_role("button", name=T("en", "adm_disable"))).to_have_count(0)
    expect(page.locator("body")).to_contain_text(T("en", "adm_self"))


def test_screenshots_in_every_language(admin_page: Page, demo: Demo, shots: Path) -> None:
    page = admin_page
    pages = {
        "home": "/admin/",
        "site": f"/admin/sites/{SITE}",
        "notice": f"/admin/sites/{SITE}/notice",
        "hours": f"/admin/sites/{SITE}/hours",
        "devices": f"/admin/sites/{SITE}/devices",
        "desk": f"/admin/sites/{SITE}/desks/3",
        "service": f"/admin/sites/{SITE}/services/notary",
        "users": "/admin/users",
    }
    kiosk = device_client(demo, "kiosk-demo-1", "kiosk", demo.device("kiosk-demo-1").password)
    kiosk.set_status(printer="paper_low", reader="ok")
    display = device_client(
        demo, "display-demo-1", "display", demo.device("display-demo-1").password
    )
    for lang in ("fi", "sv", "en"):
        for name, path in pages.items():
            open_admin(page, demo, path, lang)
            expect(page.locator("html")).to_have_attribute("lang", lang)
            assert unlabelled(page) == [], (lang, name)
            page.screenshot(path=str(shots / f"admin-{name}-{lang}.png"), full_page=True)
    phone = page.context.browser.new_context(viewport=PHONE)  # type: ignore[union-attr]
    try:
        ph = phone.new_page()
        ph.context.add_cookies(page.context.cookies())
        for name in ("site", "desk"):
            ph.goto(f"{demo.web_url}{pages[name]}?lang=fi")
            ph.screenshot(path=str(shots / f"admin-{name}-fi-phone.png"), full_page=True)
            width = ph.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, (name, width)
    finally:
        phone.close()
        kiosk.stop()
        display.stop()


def test_keyboard_only_notice(admin_page: Page, demo: Demo) -> None:
    page = admin_page
    open_admin(page, demo, f"/admin/sites/{SITE}/notice")
    page.get_by_label(T("en", "adm_in_fi")).focus()
    page.keyboard.type("Näppäimistöllä")
    page.keyboard.press("Tab")
    page.keyboard.type("Med tangentbordet")
    page.keyboard.press("Tab")
    page.keyboard.type("By keyboard")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")
    expect(page.locator("#notice-now")).to_have_text("By keyboard")


# ---------------------------------------------------------------------------- refusals


def test_admin_pages_refused_to_others(demo: Demo) -> None:
    from scheduler.web import admin

    routes = [
        (m, r.path)
        for r in admin.router(demo.app.booking.staff).routes  # type: ignore[union-attr]
        for m in r.methods - {"HEAD"}  # type: ignore[attr-defined]
    ]
    params = {"site": SITE, "kind_name": "desks", "item": "1", "name": "aino", "action": "disable"}

    def concrete(path: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)

    before = version(demo)
    notice = demo.app.admin.site(SITE).message  # type: ignore[union-attr]
    anon = httpx.Client(base_url=demo.web_url or "", follow_redirects=False, timeout=10)
    aino = httpx.Client(base_url=demo.web_url or "", follow_redirects=False, timeout=10)
    pw = next(u["password"] for u in demo.users if u["name"] == "aino")
    csrf = re.search(r'name="csrf" value="([^"]+)"', aino.get("/staff/signin").text).group(1)  # type: ignore[union-attr]
    assert (
        aino.post(
            "/staff/signin", data={"csrf": csrf, "username": "aino", "password": pw}
        ).status_code
        == 303
    )
    token = re.search(r'name="csrf" value="([^"]+)"', aino.get("/advisor/").text)
    data = {"csrf": token.group(1) if token else ""}
    for method, path in routes:
        url = concrete(path)
        got = anon.request(method, url, headers={"accept": "text/html"})
        assert got.status_code == 303 and "/staff/signin" in got.headers["location"], (path, got)
        got = aino.request(method, url, data=data if method == "POST" else None)
        assert got.status_code == 403, (method, path, got.status_code)
    # signed in as admin, but without the CSRF token: refused, nothing changed
    admin_c = httpx.Client(base_url=demo.web_url or "", follow_redirects=False, timeout=10)
    pw = next(u["password"] for u in demo.users if u["name"] == "admin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin_c.get("/staff/signin").text).group(1)  # type: ignore[union-attr]
    admin_c.post("/staff/signin", data={"csrf": csrf, "username": "admin", "password": pw})
    got = admin_c.post(
        f"/admin/sites/{SITE}/notice",
        data={"version": str(before), "message_fi": "x", "message_sv": "x", "message_en": "x"},
    )
    assert got.status_code == 403
    assert version(demo) == before
    assert demo.app.admin.site(SITE).message == notice  # type: ignore[union-attr]
    for c in (anon, aino, admin_c):
        c.close()


# ---------------------------------------------------------------------------- admin API


def test_admin_api_devices(demo: Demo) -> None:
    base = f"{demo.web_url}/api/v1/admin"
    good = {"Authorization": f"Bearer {demo.admin_key}"}
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{base}/devices").status_code == 401
        bad = c.get(f"{base}/devices", headers={"Authorization": "Bearer nope-nope-nope-nope"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "not_allowed"
        wrong = c.post(
            f"{base}/sites/{SITE}/devices",
            json={"id": "display-demo-9", "role": "display"},
            headers={"Authorization": f"Bearer {demo.staff_key}"},
        )
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "not_allowed"
        before = version(demo)

        made = c.post(
            f"{base}/sites/{SITE}/devices",
            json={"id": "desk-demo-9", "role": "desk", "desks": ["2"]},
            headers=good,
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["id"] == "desk-demo-9" and body["desks"] == ["2"] and body["online"] is False
        cfg = eventually(lambda: retained(demo, p.Topics.config(SITE, "desk-demo-9")))
        assert cfg and cfg["desk"] == "2"

        again = c.post(
            f"{base}/sites/{SITE}/devices",
            json={"id": "desk-demo-9", "role": "desk", "desks": ["2"]},
            headers=good,
        )
        assert again.status_code == 409 and again.json()["error"]["code"] == "device_exists"
        nosite = c.post(
            f"{base}/sites/nowhere/devices", json={"id": "kiosk-x-1", "role": "kiosk"}, headers=good
        )
        assert nosite.status_code == 404 and nosite.json()["error"]["code"] == "unknown_site"
        badrole = c.post(
            f"{base}/sites/{SITE}/devices",
            json={"id": "toaster-1", "role": "toaster"},
            headers=good,
        )
        assert (
            badrole.status_code in (400, 422) and badrole.json()["error"]["code"] == "bad_request"
        )
        assert "role" in badrole.json()["error"]["message"]
        nodesk = c.post(
            f"{base}/sites/{SITE}/devices", json={"id": "desk-demo-8", "role": "desk"}, headers=good
        )
        assert nodesk.status_code == 422 and "names no desks" in nodesk.json()["error"]["message"]

        listed = c.get(f"{base}/devices", headers=good).json()["devices"]
        mine = next(d for d in listed if d["id"] == "desk-demo-9")
        assert mine["site"] == SITE and mine["role"] == "desk"
        assert {"online", "version", "printer", "reader", "last_seen"} <= set(mine)

        gone = c.delete(f"{base}/sites/{SITE}/devices/desk-demo-9", headers=good)
        assert gone.status_code == 204
        assert eventually(lambda: retained(demo, p.Topics.config(SITE, "desk-demo-9"), 0.5) is None)
        twice = c.delete(f"{base}/sites/{SITE}/devices/desk-demo-9", headers=good)
        assert twice.status_code == 404 and twice.json()["error"]["code"] == "unknown_device"
        assert version(demo) == before + 2


def test_provision_client_talks_to_the_admin_api(demo: Demo) -> None:
    from provisioning.scheduler_api import SchedulerApi, SchedulerApiError

    with SchedulerApi(demo.web_url or "", demo.admin_key) as api:
        dev = api.add_device(SITE, "display-demo-9", "display", layout="portrait")
        assert dev["layout"] == "portrait"
        assert any(d["id"] == "display-demo-9" for d in api.devices())
        api.delete_device(SITE, "display-demo-9")
        with pytest.raises(SchedulerApiError) as err:
            api.delete_device(SITE, "display-demo-9")
        assert err.value.code == "unknown_device"
