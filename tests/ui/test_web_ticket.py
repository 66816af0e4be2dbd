"""The mobile ticket page (`status_url`) in a real browser (Playwright driving Debian's
Chromium) against the demo: a kiosk's ticket, followed live over Server-Sent Events
while desks call, recall and finish; the languages; the scheduler restarting; 404.

Screenshots go to $VUORO_SCREENSHOTS (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_api
import pytest

from firmware_common.mqtt import DeviceClient
from tests.support.browser import launch as launch_chromium
from vuoro.demo import Demo

LIVE_MS = 15_000  # generous: a change reaches the page in well under a second


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = ctx.new_page()
    page.set_default_timeout(LIVE_MS)
    yield page
    ctx.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("VUORO_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def ok(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["ok"] is True, reply
    return reply


def test_ticket_page_follows_the_ticket_live(
    demo: Demo, connect: Callable[..., DeviceClient], phone: Any, shots: Path
) -> None:
    expect = playwright_api.expect
    kiosk = connect("kiosk-demo-1")
    desk = connect("desk-demo-1")
    ahead = ok(kiosk.request("ticket", {"service": "city-info", "lang": "fi"}))["ticket"]
    mine = ok(kiosk.request("ticket", {"service": "city-info", "lang": "en"}))["ticket"]
    url = mine["status_url"]
    assert demo.web_url and url.startswith(demo.web_url + "/t/")

    # Waiting, in the ticket's language (English), and in Finnish and Swedish.
    phone.goto(url)
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.locator(".number")).to_have_text(mine["number"])
    expect(phone.locator(".head")).to_have_text("1 person ahead of you")
    expect(phone.locator(".detail")).to_contain_text(re.compile(r"about \d+ min|coming soon"))
    expect(phone.locator(".service")).to_have_text("City information")
    expect(phone.locator(".conn")).to_have_text("Updates automatically")
    phone.screenshot(path=shots / "waiting-en.png", full_page=True)
    for lang, head in (("fi", "Edelläsi 1 asiakas"), ("sv", "1 person före dig")):
        phone.get_by_role("link", name=re.compile(f"^{lang.upper()}")).click()
        expect(phone.locator("html")).to_have_attribute("lang", lang)
        expect(phone.locator(".head")).to_have_text(head)
        phone.screenshot(path=shots / f"waiting-{lang}.png", full_page=True)
    # Without JavaScript: a snapshot with a refresh link.
    ctx = phone.context.browser.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    static = ctx.new_page()
    static.goto(url)
    expect(static.locator(".number")).to_have_text(mine["number"])
    expect(static.get_by_role("link", name="Refresh the page")).to_be_visible()
    expect(static.locator("#sound")).to_be_hidden()
    ctx.close()
    phone.goto(url)

    # Keyboard: the sound button is reachable with Tab and labelled.
    for _ in range(8):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement && document.activeElement.id") == "sound":
            break
    expect(phone.get_by_role("button", name="Turn on sound")).to_be_focused()
    button = phone.locator("#sound")
    expect(button).to_have_attribute("aria-describedby", "sound-help")
    phone.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-pressed", "true")

    # The ticket ahead is called: this page follows without a reload.
    phone.evaluate("window.__sameDocument = true")
    ok(desk.request("open", {"desk": "1"}))
    assert ok(desk.request("next", {"desk": "1"}))["ticket"]["number"] == ahead["number"]
    expect(phone.locator(".head")).to_have_text("You are next", timeout=LIVE_MS)
    # Then this ticket: the desk, large.
    assert ok(desk.request("next", {"desk": "1"}))["ticket"]["number"] == mine["number"]
    expect(phone.locator("body")).to_have_attribute("data-status", "called", timeout=LIVE_MS)
    expect(phone.locator(".desk")).to_have_text("1")
    expect(phone.locator(".desk-label")).to_have_text("Go to desk")
    expect(phone.locator(".head")).to_have_text("It's your turn!")
    assert phone.evaluate("window.__sameDocument") is True  # no reload happened
    assert phone.title() == f"Go to desk 1 · {mine['number']}"
    desk_size = phone.eval_on_selector(".desk", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert desk_size >= 64
    phone.screenshot(path=shots / "called-en.png", full_page=True)

    ok(desk.request("recall", {"desk": "1"}))
    expect(phone.locator(".recall")).to_have_text("Called again", timeout=LIVE_MS)
    phone.screenshot(path=shots / "recalled-en.png", full_page=True)

    # The scheduler stops (the stream ends cleanly) and comes back: the page says so,
    # then reconnects by itself.
    demo.stop_scheduler()
    expect(phone.locator(".conn")).to_have_text("Offline, reconnecting…", timeout=LIVE_MS)
    phone.screenshot(path=shots / "offline-en.png", full_page=True)
    demo.start_scheduler()
    expect(phone.locator(".conn")).to_have_text("Updates automatically", timeout=LIVE_MS)
    assert phone.evaluate("window.__sameDocument") is True

    for lang, label in (("fi", "Mene palvelupisteeseen"), ("sv", "Gå till lucka")):
        phone.goto(f"{url}?lang={lang}")
        expect(phone.locator(".desk-label")).to_have_text(label)
        expect(phone.locator(".recall")).not_to_be_empty()
        phone.screenshot(path=shots / f"called-{lang}.png", full_page=True)

    # Served: a friendly end, and the page stops following.
    phone.goto(url)
    ok(desk.request("finish", {"desk": "1"}))
    expect(phone.locator(".head")).to_have_text("Thank you for visiting!", timeout=LIVE_MS)
    expect(phone.locator(".conn")).to_have_text("This page no longer updates.")
    phone.screenshot(path=shots / "done-en.png", full_page=True)


def test_unknown_token_is_a_friendly_404(demo: Demo, phone: Any, shots: Path) -> None:
    expect = playwright_api.expect
    assert demo.web_url
    for token in ("x" * 22, "not a token"):
        resp = phone.goto(f"{demo.web_url}/t/{token}")
        assert resp is not None and resp.status == 404
        expect(phone.locator("h1")).to_have_text("Vuoronumeroa ei löydy")
    phone.goto(f"{demo.web_url}/t/{'x' * 22}?lang=en")
    expect(phone.locator("h1")).to_have_text("Ticket not found")
    phone.screenshot(path=shots / "notfound-en.png", full_page=True)
    resp = phone.request.get(f"{demo.web_url}/t/{'x' * 22}/events")
    assert resp.status == 404
