"""The advisor tablet (scheduler/web/advisor.py) in a real browser (Playwright driving
Debian's Chromium) against the demo: a kiosk's tickets appear live, every desk action
from the tablet (next, call a chosen ticket, recall, start, finish, no-show, transfer,
close/open) and its effect in the page and in the scheduler (its state through the
worker bridge, the retained `state/desk/4` over MQTT); a desk unit's button shows on the
tablet; a checked-in appointment first, with the customer's reservation details; the
three languages and three screen sizes; who may not see or do any of it.

Screenshots go to $VUORO_SCREENSHOTS (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_api
import pytest

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient
from tests.support.browser import launch as launch_chromium
from tests.support.waiting import wait_until
from vuoro.demo import Demo

LIVE_MS = 10_000  # generous: a change reaches the tablet in well under a second
TABLET = {"width": 1280, "height": 800}
expect = playwright_api.expect


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module (its tests follow one desk's day), without the seeded
    bookings: the tests make their own."""
    d = Demo(workdir=tmp_path_factory.mktemp("advisor-demo"), seed_bookings=False)
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = Path(os.environ.get("VUORO_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def password(demo: Demo, name: str) -> str:
    return next(u["password"] for u in demo.users if u["name"] == name)


def sign_in(browser: Any, demo: Demo, name: str, pw: str | None = None, **ctx: Any) -> Any:
    """A page of a new browser context, signed in through the sign-in form."""
    context = browser.new_context(viewport=ctx.pop("viewport", TABLET), **ctx)
    page = context.new_page()
    page.set_default_timeout(LIVE_MS)
    page.goto(f"{demo.web_url}/staff/signin?lang=fi")
    page.get_by_label("Käyttäjätunnus").fill(name)
    page.get_by_label("Salasana").fill(pw or password(demo, name))
    page.get_by_role("button", name="Kirjaudu sisään").click()
    page.wait_for_load_state()
    return page


@pytest.fixture(scope="module")
def aino(browser: Any, demo: Demo) -> Iterator[Any]:
    page = sign_in(browser, demo, "aino")
    yield page
    page.context.close()


def ok(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["ok"] is True, reply
    return reply


def on_worker(demo: Demo, fn: Callable[[Any], Any]) -> Any:
    assert demo.app is not None
    return demo.app.bridge.call(fn).result(5)


def desk4(demo: Demo) -> dict[str, Any]:
    return on_worker(demo, lambda s: s.states["demo"].desk_state("4"))  # type: ignore[no-any-return]


def ticket(demo: Demo, number: str) -> tuple[str, str]:
    """(status, queue) of today's live or finished ticket `number`."""

    def find(s: Any) -> tuple[str, str]:
        t = next(t for t in reversed(s.states["demo"].tickets.values()) if t.number == number)
        return t.status, t.queue

    return on_worker(demo, find)  # type: ignore[no-any-return]


def issue(kiosk: DeviceClient, service: str = "city-info") -> str:
    return str(ok(kiosk.request("ticket", {"service": service, "lang": "fi"}))["ticket"]["number"])


def current(page: Any) -> Any:
    return page.locator("#adv-current-number")


def press(page: Any, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def test_tablet_follows_and_drives_the_desk(
    demo: Demo, connect: Callable[..., DeviceClient], aino: Any, shots: Path
) -> None:
    page = aino
    kiosk = connect("kiosk-demo-1")
    unit = connect("desk-demo-4")
    retained: dict[str, Any] = {}
    unit.subscribe(p.Topics.desk_state("demo", "4"), lambda _t, body, _m: retained.update(body))

    # Choose a desk.
    page.goto(f"{demo.web_url}/advisor/")
    expect(page.locator("h1")).to_have_text("Valitse palvelupiste")
    page.get_by_role("link", name=re.compile(r"^Palvelupiste 4")).click()
    expect(page.locator("h1")).to_contain_text("Palvelupiste 4")
    expect(page.locator("#adv-conn")).to_have_attribute("data-conn", "live")
    page.evaluate("window.__sameDocument = true")
    # Closed: only "open" looks available (the others say why).
    expect(page.locator("#adv-status")).to_have_text("Suljettu")
    expect(page.locator("#adv-btn-next")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#adv-btn-next")).to_have_attribute("aria-describedby", "adv-hint")

    press(page, "Avaa palvelupiste")
    expect(page.locator("#adv-status")).to_have_text("Avoinna, vapaa")
    expect(page.locator("#adv-flash")).to_have_text("Palvelupiste on avattu.")
    assert desk4(demo)["status"] == "open"

    # A kiosk's tickets appear live, in `next` order, with their waits.
    a, b, c = issue(kiosk), issue(kiosk, "parking-permit"), issue(kiosk)
    rows = page.locator("#adv-rows > li")
    expect(rows).to_have_count(3)
    expect(rows.locator(".adv-row-number")).to_have_text([a, b, c])
    expect(rows.nth(1)).to_contain_text("Pysäköintitunnus")
    expect(rows.nth(0)).to_contain_text("Odottanut 0 min")
    expect(page.locator("#adv-summary")).to_have_text("Avoinna, vapaa. 3 odottaa.")

    # Next: the first one.
    press(page, "Seuraava asiakas")
    expect(current(page)).to_have_text(a)
    expect(page.locator("#adv-status")).to_have_text("Kutsuu asiakasta")
    assert desk4(demo)["ticket"] == a
    wait_until(lambda: retained.get("ticket") == a, 5, "state/desk/4 with the call")
    assert retained["status"] == "calling"

    # Call a chosen one: the current is finished as served.
    press(page, f"Kutsu {c}")
    expect(current(page)).to_have_text(c)
    expect(rows).to_have_count(1)
    assert ticket(demo, a)[0] == "served" and ticket(demo, c)[0] == "called"

    # Recall, from the keyboard: focus stays on the button across the live update.
    page.locator("#adv-btn-recall").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#adv-recalls")).to_have_text("Kutsuttu uudelleen 1 kertaa")
    assert page.evaluate("document.activeElement.id") == "adv-btn-recall"

    press(page, "Aloita palvelu")
    expect(page.locator("#adv-status")).to_have_text("Palvelee asiakasta")
    assert desk4(demo)["status"] == "serving"
    expect(page.locator("#adv-btn-recall")).to_have_attribute("aria-disabled", "true")

    press(page, "Valmis")
    expect(page.locator("#adv-no-current")).to_be_visible()
    assert ticket(demo, c)[0] == "served" and desk4(demo)["status"] == "open"

    # No-show.
    press(page, "Seuraava asiakas")
    expect(current(page)).to_have_text(b)
    press(page, "Ei saapunut")
    expect(page.locator("#adv-no-current")).to_be_visible()
    assert ticket(demo, b)[0] == "noshow"

    # Transfer to Kela (a queue desk 4 does not serve): gone from this list.
    d = issue(kiosk)
    expect(rows).to_have_count(1)
    press(page, "Seuraava asiakas")
    expect(current(page)).to_have_text(d)
    page.get_by_label("Siirrä jonoon").select_option(label="Kela")
    press(page, "Siirrä")
    expect(page.locator("#adv-flash")).to_have_text(f"{d} siirretty jonoon Kela.")
    expect(page.locator("#adv-no-current")).to_be_visible()
    expect(page.locator("#adv-rows-none")).to_have_text("Ei odottavia asiakkaita.")
    assert ticket(demo, d) == ("waiting", "kela")

    # A refused action: the domain's message, in the assertive region; nothing changes.
    recall = page.get_by_role("button", name="Kutsu uudelleen (ei käytettävissä nyt)")
    expect(recall).to_have_attribute("aria-disabled", "true")
    recall.focus()  # still focusable and pressable: the scheduler is the judge
    page.keyboard.press("Enter")
    expect(page.locator("#adv-error")).to_have_text("Palvelupisteellä ei ole kutsuttua asiakasta.")
    assert page.locator("#adv-error").get_attribute("aria-live") == "assertive"

    # Close and open.
    press(page, "Sulje palvelupiste")
    expect(page.locator("#adv-status")).to_have_text("Suljettu")
    wait_until(lambda: retained.get("status") == "closed", 5, "state/desk/4 closed")
    press(page, "Avaa palvelupiste")
    expect(page.locator("#adv-status")).to_have_text("Avoinna, vapaa")
    wait_until(lambda: retained.get("status") == "open", 5, "state/desk/4 open")

    # The desk unit's own button: the tablet follows.
    e = issue(kiosk)
    expect(rows).to_have_count(1)
    assert ok(unit.request("next", {"desk": "4"}))["ticket"]["number"] == e
    expect(current(page)).to_have_text(e)
    assert page.evaluate("window.__sameDocument") is True  # all of it without a reload
    page.screenshot(path=shots / "advisor-calling-fi.png", full_page=True)


def test_checked_in_appointment_comes_first_with_its_details(
    demo: Demo, connect: Callable[..., DeviceClient], aino: Any, browser: Any, shots: Path
) -> None:
    page = aino
    kiosk = connect("kiosk-demo-1")
    due = reserve(demo, "notary", start_in_min=0, name="Maija Meikäläinen", matter="marriage")
    reserve(demo, "kela-benefits", start_in_min=120, name="Sven Svensson")
    walk_in = issue(kiosk)
    page.goto(f"{demo.web_url}/advisor/demo/4")
    appts = page.locator("table.adv-appts tbody tr")
    expect(appts).to_have_count(2)
    expect(appts.nth(0)).to_contain_text("Varattu")
    expect(appts.nth(0)).to_contain_text("Julkinen notaari")
    # Names never show before the customer is at the desk.
    expect(page.locator("body")).not_to_contain_text("Meikäläinen")

    checked = ok(kiosk.request("checkin", {"by": "code", "value": due.code, "lang": "fi"}))
    number = checked["ticket"]["number"]
    rows = page.locator("#adv-rows > li")
    expect(rows.locator(".adv-row-number")).to_have_text([number, walk_in])
    expect(rows.nth(0)).to_contain_text("Ajanvaraus klo")
    expect(appts.nth(0)).to_contain_text("Ilmoittautunut")

    press(page, "Seuraava asiakas")  # finishes the desk unit's call, calls the appointment
    expect(current(page)).to_have_text(number)
    expect(page.locator("#adv-cust-name")).to_have_text("Maija Meikäläinen")
    expect(page.locator("#adv-cust-service")).to_have_text("Julkinen notaari")
    expect(page.locator(".adv-answers")).to_contain_text("Mitä asia koskee?")
    expect(page.locator(".adv-answers")).to_contain_text("Avioliitto")
    expect(appts.nth(0)).to_contain_text("Kutsuttu")

    # The three languages at 1280 x 800, then portrait and a phone.
    words = {
        "fi": ("Palvelupiste 4", "Seuraava asiakas", "Avioliitto"),
        "sv": ("Disk 4", "Nästa kund", "Äktenskap"),
        "en": ("Desk 4", "Next customer", "Marriage"),
    }
    for lang, (h1, nxt, answer) in words.items():
        page.goto(f"{demo.web_url}/advisor/demo/4?lang={lang}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("h1")).to_contain_text(h1)
        expect(page.locator("#adv-btn-next")).to_have_text(nxt)
        expect(page.locator(".adv-answers")).to_contain_text(answer)
        expect(page.locator("#adv-conn")).to_have_attribute("data-conn", "live")
        page.screenshot(path=shots / f"advisor-{lang}.png", full_page=True)
    for label, size in (("portrait", {"width": 800, "height": 1280}), ("phone", None)):
        if size is None:
            ctx = browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                storage_state=page.context.storage_state(),
            )
        else:
            ctx = browser.new_context(viewport=size, storage_state=page.context.storage_state())
        other = ctx.new_page()
        other.goto(f"{demo.web_url}/advisor/demo/4?lang=en")
        expect(other.locator("#adv-current-number")).to_have_text(number)
        expect(other.locator("#adv-conn")).to_have_attribute("data-conn", "live")
        # Nothing wider than the screen; the buttons are big enough to tap.
        assert other.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        height = other.eval_on_selector("#adv-btn-next", "e => e.getBoundingClientRect().height")
        assert height >= 48
        other.screenshot(path=shots / f"advisor-{label}-en.png", full_page=True)
        ctx.close()

    press(page, "Finish")
    expect(page.locator("#adv-no-current")).to_be_visible()
    expect(appts.nth(0)).to_contain_text("Done")


def reserve(
    demo: Demo, service: str, *, start_in_min: int, name: str, matter: str | None = None
) -> Any:
    """One of Aino's reservations today, written to the booking store as the demo's seed
    does (the demo's minimum notice would refuse a booking due now)."""
    from scheduler.booking import codes
    from scheduler.booking.model import Reservation

    assert demo.app is not None
    svc = demo.app.booking.service
    now = svc.clock()
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=start_in_min)
    start -= timedelta(minutes=start.minute % 5)
    res = Reservation(
        id=str(uuid.uuid4()),
        code=codes.new_code(),
        site="demo",
        service=service,
        advisor="aino",
        start=start,
        end=start + timedelta(minutes=30),
        lang="fi",
        name=name,
        email="test@example.invalid",
        answers={"matter": matter} if matter else {},
        created_at=now,
        created_by="demo",
    )
    svc.store.insert(res, now)
    return res


def test_who_may_not(demo: Demo, browser: Any, aino: Any) -> None:
    base = f"{demo.web_url}/advisor/demo/4"
    before = desk4(demo)

    def refused(page: Any, status: int) -> None:
        req = page.context.request
        assert req.get(f"{demo.web_url}/advisor/", max_redirects=0).status in (status, 200)
        assert req.get(base, max_redirects=0).status == status
        events = req.get(f"{base}/events", headers={"accept": "text/event-stream"})
        assert events.status == status
        for verb in ("next", "open", "close", "call"):
            resp = req.post(f"{base}/{verb}", form={"number": "A001"}, max_redirects=0)
            assert resp.status == status, verb

    # Not signed in: the page redirects to sign-in, the stream and actions get 401.
    anon = browser.new_context()
    resp = anon.request.get(base, max_redirects=0)
    assert resp.status == 303 and resp.headers["location"].startswith("/staff/signin?next=")
    sse = {"accept": "text/event-stream"}  # as EventSource sends it
    assert anon.request.get(f"{base}/events", headers=sse).status == 401
    assert anon.request.post(f"{base}/next", headers={"accept": "application/json"}).status == 401
    anon.close()

    # The switchboard: another role.
    vaihde = sign_in(browser, demo, "vaihde")
    assert vaihde.context.request.get(f"{demo.web_url}/advisor/").status == 403
    refused(vaihde, 403)
    vaihde.context.close()

    # An advisor of another site.
    from scheduler.web.auth import UserStore

    assert demo.app is not None
    UserStore(demo.app.booking.engine).add(
        "ulla", "advisor", "ulla-salasana-1", display_name="Ulla", sites=["muualla"]
    )
    ulla = sign_in(browser, demo, "ulla", "ulla-salasana-1")
    ulla.goto(f"{demo.web_url}/advisor/")
    expect(ulla.locator("body")).not_to_contain_text("Palvelupiste 4")
    refused(ulla, 403)
    ulla.context.close()

    # The right advisor without the CSRF token: refused, nothing changed.
    req = aino.context.request
    for verb in ("close", "next", "finish"):
        assert req.post(f"{base}/{verb}", form={"lang": "fi"}).status == 403
        bad = req.post(f"{base}/{verb}", form={"csrf": "x" * 40}, max_redirects=0)
        assert bad.status == 403
    assert desk4(demo) == before
    # Unknown desk, site or verb: 404.
    aino.goto(base)
    csrf = aino.locator("input[name=csrf]").first.get_attribute("value")
    assert req.get(f"{demo.web_url}/advisor/demo/99").status == 404
    assert req.get(f"{demo.web_url}/advisor/nowhere/1").status == 404
    assert req.post(f"{base}/explode", form={"csrf": csrf}).status == 404
    assert req.post(f"{demo.web_url}/advisor/demo/99/next", form={"csrf": csrf}).status == 404
    assert desk4(demo) == before


def test_forms_work_without_javascript(demo: Demo, browser: Any, aino: Any) -> None:
    ctx = browser.new_context(
        viewport=TABLET, java_script_enabled=False, storage_state=aino.context.storage_state()
    )
    page = ctx.new_page()
    page.set_default_timeout(LIVE_MS)
    page.goto(f"{demo.web_url}/advisor/demo/4?lang=en")
    expect(page.locator("#adv-status")).to_have_text("Open, free")
    press(page, "Close desk")  # POST, then 303 back with the note
    expect(page.locator("#adv-flash")).to_have_text("The desk is closed.")
    expect(page.locator("#adv-status")).to_have_text("Closed")
    assert desk4(demo)["status"] == "closed"
    page.reload()  # the note was for once
    expect(page.locator("#adv-flash")).to_be_empty()
    # A refused action: the page again, with the scheduler's message and status 409.
    with page.expect_response(lambda r: r.request.method == "POST") as got:
        page.locator("#adv-btn-recall").click(force=True)
    assert got.value.status == 409
    expect(page.locator("#adv-error")).to_have_text("The desk has no called customer.")
    press(page, "Open desk")
    expect(page.locator("#adv-status")).to_have_text("Open, free")
    assert desk4(demo)["status"] == "open"
    ctx.close()
