"""Switchboard pages (scheduler/web/switchboard.py) in Debian's Chromium via Playwright,
against the running demo (broker + scheduler + web server).

Signed in as the demo's switchboard user `vaihde` through the sign-in form, in fi, sv and
en at tablet size (and the booking's end at phone size): search free times (kela-benefits,
and the notary with its required pre-question), book on behalf of a caller, read the code,
the booking in the store with created_by "switchboard", find it by code and by name, move
it, cancel it; refusals (invalid e-mail, a time taken meanwhile) shown next to the field
and nothing changed; authorization (no session, an advisor, no CSRF token). Screenshots
go to VUORO_SHOTS_DIR if set, else a tmp folder (printed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

import scheduler.web.switchboard  # noqa: F401  (registers the sw_ strings)
from scheduler.booking import codes
from scheduler.web.staff import STRINGS
from tests.support.browser import launch as launch_chromium
from vuoro.demo import Demo

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1280, "height": 800}
NOTARY = {"fi": "Julkinen notaari", "sv": "Notarius publicus", "en": "Notary public"}
KELA = {"fi": "Kelan etuudet", "sv": "FPA:s förmåner", "en": "Kela benefits"}
MATTER = {"fi": "Avioliitto", "sv": "Äktenskap", "en": "Marriage"}
BAD_EMAIL = {
    "fi": "Sähköpostiosoite ei ole oikein",
    "sv": "E-postadressen är inte korrekt",
    "en": "The e-mail address is not valid",
}
SLOT_TAKEN = {
    "fi": "Aika ehdittiin juuri varata",
    "sv": "Tiden hann just bokas",
    "en": "This time was just booked by someone else",
}


# ---------------------------------------------------------------------------- fixtures


# The free times listed by day (not the quiet-time suggestions above them).
SLOTS = ".sw-slots li > button.sw-slot:not([aria-describedby=suggest-help])"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = Demo(workdir=tmp_path_factory.mktemp("switchboard-demo"))
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
    out = Path(os.environ.get("VUORO_SHOTS_DIR") or tmp_path_factory.mktemp("switchboard-shots"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nswitchboard page screenshots: {out}")
    return out


@pytest.fixture
def context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def _new(size: dict[str, int] = TABLET, **kw: Any) -> BrowserContext:
        ctx = browser.new_context(viewport=size, locale="en-GB", **kw)
        ctx.set_default_timeout(15_000)
        made.append(ctx)
        return ctx

    yield _new
    for ctx in made:
        ctx.close()


@pytest.fixture(scope="module")
def vaihde(demo: Demo, browser: Browser) -> dict[str, Any]:
    """The browser state of `vaihde` signed in once through the sign-in form (sign-in is
    rate limited per user name: five at once, then one every 30 s)."""
    ctx = browser.new_context(viewport=TABLET, locale="en-GB")
    page = ctx.new_page()
    sign_in(page, demo, "fi")
    expect(page).to_have_url(re.compile(r"/switchboard/\?lang=fi"))
    expect(page.locator("h1")).to_have_text(T("fi", "sw_tab_book"))
    state = ctx.storage_state()
    ctx.close()
    return state  # type: ignore[return-value]


# ---------------------------------------------------------------------------- helpers


def T(lang: str, key: str, **kw: Any) -> str:
    text = STRINGS[lang][key]
    return text.format(**kw) if kw else text


def password(demo: Demo, name: str) -> str:
    return next(u["password"] for u in demo.users if u["name"] == name)


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def unlabelled(page: Page) -> list[str]:
    """Visible form controls without a label (WCAG 1.3.1 / 4.1.2)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden')
            .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)"""
    )


def small_targets(page: Page) -> list[str]:
    """Buttons and button-like links in the main area smaller than 44 x 44 px."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main button, main a.button, main .sw-tabs a')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.width < 44 || r.height < 44)
            .map(([e, r]) => e.textContent.trim() + ' ' + r.width + 'x' + r.height)"""
    )


def post_status(page: Page, click: Callable[[], None]) -> int:
    """Click something that POSTs a form; the POST's HTTP status (before any redirect)."""
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        click()
    return info.value.status


def sign_in(page: Page, demo: Demo, lang: str, name: str = "vaihde") -> None:
    page.goto(f"{demo.web_url}/switchboard/?lang={lang}")
    expect(page).to_have_url(re.compile(r"/staff/signin"))
    # The sign-in page speaks the language of the page that sent the user there.
    page.get_by_label(T(lang, "username")).fill(name)
    page.get_by_label(T(lang, "password")).fill(password(demo, name))
    page.get_by_role("button", name=T(lang, "signin")).click()


def signed_in_client(demo: Demo, name: str) -> tuple[httpx.Client, str]:
    """An HTTP client signed in through the form, and its CSRF token."""
    assert demo.web_url
    c = httpx.Client(base_url=demo.web_url, timeout=10)
    r = c.get("/staff/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert csrf
    r = c.post(
        "/staff/signin",
        data={"csrf": csrf.group(1), "username": name, "password": password(demo, name)},
    )
    assert r.status_code == 303, r.text
    r = c.get("/staff/")
    token = re.search(r'name="csrf" value="([^"]+)"', c.get(r.headers["location"]).text)
    assert token
    return c, token.group(1)


def search(page: Page, lang: str, service: str) -> None:
    page.get_by_label(T(lang, "sw_service")).select_option(label=service)
    page.get_by_role("button", name=T(lang, "sw_search")).click()
    expect(page.locator("#times-title")).to_have_text(T(lang, "sw_results", service=service))


def store(demo: Demo) -> Any:
    assert demo.app and demo.app.booking and demo.app.booking.service
    return demo.app.booking.service.store


def count_switchboard(demo: Demo, statuses: tuple[str, ...] = ("booked", "held")) -> int:
    s = store(demo)
    from sqlalchemy import func, select

    from scheduler.store import tables as t

    with s.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    t.reservations.c.created_by == "switchboard",
                    t.reservations.c.status.in_(statuses),
                )
            ).scalar_one()
        )


# ---------------------------------------------------------------------------- tests


def test_strings_complete() -> None:
    keys = [k for k in STRINGS["fi"] if k.startswith("sw_")]
    assert len(keys) > 50
    for lang in ("sv", "en"):
        assert {k for k in STRINGS[lang] if k.startswith("sw_")} == set(keys)


@pytest.mark.parametrize(("lang", "service"), [("fi", "kela"), ("sv", "notary"), ("en", "notary")])
def test_book_find_move_cancel(
    demo: Demo,
    context: Callable[..., BrowserContext],
    vaihde: dict[str, Any],
    shots: Path,
    lang: str,
    service: str,
) -> None:
    names = KELA if service == "kela" else NOTARY
    caller = {"fi": "Matti Soittaja", "sv": "Stina Ringare", "en": "Olivia Caller"}[lang]
    email = f"caller-{lang}@example.fi"
    page = context(storage_state=vaihde).new_page()
    page.goto(f"{demo.web_url}/switchboard/?lang={lang}")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_have_text(T(lang, "sw_tab_book"))
    assert unlabelled(page) == []

    # 1. Free times, soonest first, grouped by day.
    search(page, lang, names[lang])
    slots = page.locator(SLOTS)
    expect(slots.first).to_be_visible()
    starts = [
        datetime.fromisoformat(s)
        for s in slots.evaluate_all("els => els.map(e => e.dataset.start)")
    ]
    assert starts == sorted(starts) and len(starts) == len(set(starts))
    assert unlabelled(page) == [] and small_targets(page) == []
    shot(page, shots, f"tablet-{lang}-1-search-{service}")

    # 2. Choose the first time: held; the caller's details.
    before = count_switchboard(demo, ("booked",))
    chosen = slots.first.get_attribute("data-start")
    slots.first.click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_details_title"))
    expect(page.locator("#hold")).to_be_visible()
    assert unlabelled(page) == []
    page.get_by_label(T(lang, "sw_name")).fill(caller)
    page.get_by_label(T(lang, "sw_email"), exact=True).fill("not-an-address")
    if service == "notary":
        page.get_by_label(MATTER[lang]).check()
    # Bad input: the service's message next to the field, with the API's status.
    status = post_status(page, page.get_by_role("button", name=T(lang, "sw_book")).click)
    assert status == 400
    expect(page.locator("#email-error")).to_contain_text(BAD_EMAIL[lang])
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(T(lang, "sw_name"))).to_have_value(caller)
    assert count_switchboard(demo, ("booked",)) == before  # held only, nothing booked
    shot(page, shots, f"tablet-{lang}-2-details-error")
    page.get_by_label(T(lang, "sw_email"), exact=True).fill(email)
    page.get_by_label(T(lang, "sw_phone"), exact=True).fill("040 123 4567")
    page.get_by_label(T(lang, "sw_msg_lang")).select_option(lang)

    # 3. Booked: the code, big and spelled with a gap, and the confirmation note.
    status = post_status(page, page.get_by_role("button", name=T(lang, "sw_book")).click)
    assert status == 303
    expect(page.locator("h1")).to_have_text(T(lang, "sw_booked"))
    code = page.locator("#booking-code").get_attribute("data-code")
    assert code and re.fullmatch(r"[A-Z0-9]{3}-[A-Z0-9]{3}", code)
    expect(page.locator("#code-spoken")).to_have_text(
        " ".join(code[:3]) + ", " + " ".join(code[4:])
    )
    expect(page.locator("#sent-note")).to_be_visible()
    expect(page.get_by_text(caller)).to_be_visible()
    shot(page, shots, f"tablet-{lang}-3-booked")

    res = store(demo).by_code(code)
    assert res.status == "booked" and res.created_by == "switchboard"
    assert res.name == caller and res.email == email and res.phone == "+358401234567"
    assert res.start == datetime.fromisoformat(chosen or "")
    assert res.lang == lang
    if service == "notary":
        assert res.answers == {"matter": "marriage"}
    # ... and the JSON API (staff key) sees the same booking.
    assert demo.web_url
    with httpx.Client(base_url=demo.web_url, timeout=10) as api:
        r = api.get(
            f"/api/v1/reservations/{code}",
            headers={"Authorization": f"Bearer {demo.staff_key}"},
        )
        assert r.status_code == 200 and r.json()["created_by"] == "switchboard"

    # 4. Find by code (lower case, no dash), then by name.
    page.locator(".sw-tabs").get_by_role("link", name=T(lang, "sw_tab_find")).click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_find_title"))
    assert unlabelled(page) == []
    page.get_by_label(T(lang, "sw_code_field"), exact=True).fill(code.replace("-", "").lower())
    page.get_by_role("button", name=T(lang, "sw_show")).click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_reservation", code=code))
    page.locator(".sw-tabs").get_by_role("link", name=T(lang, "sw_tab_find")).click()
    page.get_by_label(T(lang, "sw_name_field")).fill(caller.split()[1].lower())
    page.get_by_role("button", name=T(lang, "sw_find")).click()
    rows = page.locator("table.sw-matches tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(caller)
    expect(rows.first).to_contain_text(names[lang])
    expect(rows.first).to_contain_text(T(lang, "sw_st_booked"))
    shot(page, shots, f"tablet-{lang}-4-find-by-name")
    rows.first.get_by_role("link", name=code).click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_reservation", code=code))

    # 5. Move: choose a new time, confirm.
    page.get_by_role("link", name=T(lang, "sw_move")).click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_move_title", code=code))
    assert unlabelled(page) == []
    new_slot = page.locator(SLOTS).nth(2)
    new_start = new_slot.get_attribute("data-start")
    new_slot.click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_move_confirm_title"))
    shot(page, shots, f"tablet-{lang}-5-move-confirm")
    status = post_status(page, page.get_by_role("button", name=T(lang, "sw_move_yes")).click)
    assert status == 303
    expect(page.locator("h1")).to_have_text(T(lang, "sw_moved"))
    moved = store(demo).by_code(code)
    assert moved.start == datetime.fromisoformat(new_start or "") != res.start
    assert moved.status == "booked"

    # 6. Cancel, with a confirm step.
    page.get_by_role("link", name=T(lang, "sw_cancel")).click()
    expect(page.locator("h1")).to_have_text(T(lang, "sw_cancel_title"))
    assert store(demo).by_code(code).status == "booked"  # not yet
    shot(page, shots, f"tablet-{lang}-6-cancel-confirm")
    status = post_status(page, page.get_by_role("button", name=T(lang, "sw_cancel_yes")).click)
    assert status == 303
    expect(page.locator("h1")).to_have_text(T(lang, "sw_cancelled"))
    expect(page.locator(".badge")).to_have_text(T(lang, "sw_st_cancelled"))
    assert store(demo).by_code(code).status == "cancelled"
    expect(page.get_by_role("link", name=T(lang, "sw_move"))).to_have_count(0)
    shot(page, shots, f"tablet-{lang}-7-cancelled")


def test_phone_book_and_keyboard(
    demo: Demo, context: Callable[..., BrowserContext], vaihde: dict[str, Any], shots: Path
) -> None:
    """At phone size, by keyboard only: search, choose, fill in, book."""
    page = context(PHONE, storage_state=vaihde).new_page()
    page.goto(f"{demo.web_url}/switchboard/?lang=fi")
    expect(page.locator("h1")).to_have_text(T("fi", "sw_tab_book"))
    page.get_by_label(T("fi", "sw_service")).focus()
    page.keyboard.press("ArrowDown")  # the first service in the list
    button = page.get_by_role("button", name=T("fi", "sw_search"))
    for _ in range(10):  # past the day (three parts) and the advisor
        page.keyboard.press("Tab")
        if button.evaluate("e => e === document.activeElement"):
            break
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(SLOTS).first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, shots, "phone-fi-1-search")
    page.locator(SLOTS).first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(T("fi", "sw_details_title"))
    page.get_by_label(T("fi", "sw_name")).focus()
    page.keyboard.type("Kaisa Näppäin")
    page.keyboard.press("Tab")
    page.keyboard.type("0401112222")
    shot(page, shots, "phone-fi-2-details")
    page.keyboard.press("Enter")  # submits the form from a text field
    expect(page.locator("h1")).to_have_text(T("fi", "sw_booked"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, shots, "phone-fi-3-booked")
    code = page.locator("#booking-code").get_attribute("data-code")
    assert code and store(demo).by_code(code).created_by == "switchboard"


def test_taken_slot_changes_nothing(
    demo: Demo, context: Callable[..., BrowserContext], vaihde: dict[str, Any], shots: Path
) -> None:
    page = context(storage_state=vaihde).new_page()
    page.goto(f"{demo.web_url}/switchboard/?lang=en")
    search(page, "en", KELA["en"])
    slot = page.locator(SLOTS).nth(5)
    start = slot.get_attribute("data-start")
    assert demo.web_url and start
    # Both advisors of that time get booked through the JSON API meanwhile.
    with httpx.Client(base_url=demo.web_url, timeout=10) as api:
        for i in range(2):
            r = api.post(
                "/api/v1/sites/demo/reservations",
                json={
                    "service": "kela-benefits",
                    "start": start,
                    "name": "Other Caller",
                    "email": f"other{i}@example.fi",
                },
            )
            assert r.status_code == 201 or (i == 1 and r.status_code == 409), r.text
    before = count_switchboard(demo)
    status = post_status(page, slot.click)
    assert status == 409
    expect(page.locator("#error")).to_contain_text(SLOT_TAKEN["en"])
    assert count_switchboard(demo) == before
    # The times as they are now, to choose again: the taken one is gone.
    expect(page.locator(SLOTS).first).to_be_visible()
    assert start not in page.locator(SLOTS).evaluate_all("els => els.map(e => e.dataset.start)")
    shot(page, shots, "tablet-en-taken-slot")
    # A booking code that does not exist: the message next to the field, 404.
    page.locator(".sw-tabs").get_by_role("link", name=T("en", "sw_tab_find")).click()
    page.get_by_label(T("en", "sw_code_field"), exact=True).fill(codes.new_code())
    with page.expect_response(lambda r: "/switchboard/find" in r.url) as info:
        page.get_by_role("button", name=T("en", "sw_show")).click()
    assert info.value.status == 404
    expect(page.locator("#code-error")).to_be_visible()
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")


GETS = [
    "/switchboard/",
    "/switchboard/?service=demo/kela-benefits",
    "/switchboard/find",
    "/switchboard/find?name=maija",
    "/switchboard/book/00000000-0000-0000-0000-000000000000",
    "/switchboard/r/7KQ-4MX",
    "/switchboard/r/7KQ-4MX/move",
    "/switchboard/r/7KQ-4MX/cancel",
]
POSTS = [
    "/switchboard/hold",
    "/switchboard/book/00000000-0000-0000-0000-000000000000",
    "/switchboard/book/00000000-0000-0000-0000-000000000000/release",
    "/switchboard/r/7KQ-4MX/move",
    "/switchboard/r/7KQ-4MX/cancel",
]


def test_authorization(demo: Demo) -> None:
    assert demo.web_url
    seeded = demo.bookings[0]["code"]
    with httpx.Client(base_url=demo.web_url, timeout=10) as anon:
        for path in GETS:
            r = anon.get(path, headers={"Accept": "text/html"})
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/staff/signin?next="), path
            r = anon.get(path, headers={"Accept": "application/json"})
            assert r.status_code == 401, path
        for path in POSTS:
            assert anon.post(path, data={}).status_code in (303, 401), path
            r = anon.post(path, data={}, headers={"Accept": "application/json"})
            assert r.status_code == 401, path

    aino, aino_csrf = signed_in_client(demo, "aino")
    try:
        for path in GETS:
            assert aino.get(path).status_code == 403, path
        for path in POSTS:
            assert aino.post(path, data={"csrf": aino_csrf}).status_code == 403, path
        r = aino.post(f"/switchboard/r/{seeded}/cancel", data={"csrf": aino_csrf})
        assert r.status_code == 403
    finally:
        aino.close()
    assert store(demo).by_code(seeded).status == "booked"

    sb, csrf = signed_in_client(demo, "vaihde")
    try:
        assert sb.get(f"/switchboard/r/{seeded}").status_code == 200
        # Without the CSRF token (or with another session's): 403, nothing changed.
        for data in ({}, {"csrf": aino_csrf}):
            r = sb.post(f"/switchboard/r/{seeded}/cancel", data=data)
            assert r.status_code == 403
            slots = sb.get("/switchboard/?service=demo/kela-benefits").text
            pick = re.search(r'name="pick" value="([^"]+)"', slots)
            assert pick
            before = count_switchboard(demo)
            r = sb.post(
                "/switchboard/hold", data={**data, "pick": pick.group(1), "service": "demo/x"}
            )
            assert r.status_code == 403
            assert count_switchboard(demo) == before
        assert store(demo).by_code(seeded).status == "booked"
        # An unknown site is 404; a code from the find form is refused next to the field.
        assert sb.get("/switchboard/?service=nowhere/kela-benefits").status_code == 404
        assert sb.get("/switchboard/find?code=nonsense").status_code == 422
        assert sb.get("/switchboard/find?name=x").status_code == 422
        # The sign-out form works from the switchboard pages.
        r = sb.post("/staff/signout", data={"csrf": csrf})
        assert r.status_code == 303
        assert sb.get("/switchboard/").status_code == 303
    finally:
        sb.close()
