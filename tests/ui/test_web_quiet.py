"""Quiet times suggested on the citizen calendar and the switchboard search (issue 8:
"from the measured load, the booking search marks and suggests the quietest slots").

Against the running demo with three weeks of stored history (every day: a clear peak at
10-11 local, the quietest hours 13-14, scheduler/stats/quiet.py's load profile): both
pages list the quietest few free times of what they show, soonest first, as buttons that
hold the time, without JavaScript; the peak hour is never suggested. Screenshots go to
VUORO_SHOTS_DIR if set, else a tmp folder (printed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

import scheduler.web.switchboard  # noqa: F401  (registers the sw_ strings)
from scheduler.stats.quiet import quiet_times
from scheduler.store import tables as t
from scheduler.web.citizen import SUGGEST
from scheduler.web.i18n import STRINGS as CITIZEN
from scheduler.web.staff import STRINGS as STAFF
from tests.support.browser import launch as launch_chromium
from vuoro.demo import Demo

SERVICE = "kela-benefits"
# Mean arrivals per local hour, every day of the history: peak 10, quietest 13 then 14;
# 9 at the other hours (the demo's advisors take bookings round the clock).
LOAD = {h: 9 for h in range(24)} | {8: 4, 9: 6, 10: 12, 11: 8, 12: 5, 13: 1, 14: 2, 15: 7, 16: 3}
# Quiet: at or below the 1/3 quantile of the 168 weekday-hour cells (8.67).
QUIET_MAX = 8
PEAK = 10
WEEKS = 3


def seed_history(demo: Demo) -> None:
    """`LOAD` on each of the `WEEKS` x 7 days before today, straight into `tickets`."""
    assert demo.app is not None
    site = demo.app.config.site_defs()[demo.site]
    tz = site.tz
    today = datetime.now(tz).date()
    rows: list[dict[str, Any]] = []
    for i in range(1, WEEKS * 7 + 1):
        day = today - timedelta(days=i)
        for hour, n in LOAD.items():
            for k in range(n):
                at = datetime.combine(day, time(hour, 2 + 4 * k), tzinfo=tz).astimezone(UTC)
                m = len(rows)
                rows.append(
                    {
                        "id": f"qh{m}", "site": demo.site, "day": day, "queue": "history",
                        "number": f"H{m % 1000:03d}", "service": "history", "priority": False,
                        "lang": "fi", "token": f"tok-qh{m}", "arrival_at": at, "issued_at": at,
                        "status": "served", "recalls": 0, "transfers": 0,
                    }
                )  # fmt: skip
    with demo.app.store.engine.begin() as conn:
        conn.execute(t.tickets.insert(), rows)
    quiet_times(demo.app.store.engine)._cache.clear()  # the profile is cached for an hour


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = Demo(workdir=tmp_path_factory.mktemp("quiet-demo"))
    d.start()
    seed_history(d)
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
    out = Path(os.environ.get("VUORO_SHOTS_DIR") or tmp_path_factory.mktemp("quiet-shots"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nquiet times screenshots: {out}")
    return out


def booking(demo: Demo) -> Any:
    assert demo.app and demo.app.booking and demo.app.booking.service
    return demo.app.booking.service


def a_day(demo: Demo) -> tuple[date, list[datetime]]:
    """A day after today with free times in the peak and the quiet hours, and its free
    starts."""
    b = booking(demo)
    tz = b.site(demo.site).site.tz
    today = datetime.now(tz).date()
    for day in b.days(demo.site, SERVICE, today + timedelta(days=1), today + timedelta(days=30)):
        frm = datetime.combine(day, time.min, tzinfo=tz)
        starts = sorted({s.start for s in b.slots(demo.site, SERVICE, start_from=frm, limit=200)})
        starts = [s for s in starts if s.astimezone(tz).date() == day]
        hours = {s.astimezone(tz).hour for s in starts}
        if {PEAK, 13} <= hours:
            return day, starts
    raise AssertionError("no day with free times at 10 and 13")


def expected(starts: list[datetime], tz: Any) -> list[datetime]:
    """The quietest `SUGGEST` of the quiet ones by `LOAD` (then the earliest), soonest
    first."""
    load = {s: LOAD[s.astimezone(tz).hour] for s in starts}
    ranked = sorted((s for s in starts if load[s] <= QUIET_MAX), key=lambda s: (load[s], s))
    return sorted(ranked[:SUGGEST])


def T(lang: str, key: str, **kw: Any) -> str:
    text = STAFF[lang].get(key) or CITIZEN[lang][key]
    return text.format(**kw) if kw else text


def suggestion_values(html: str, cls: str) -> list[str]:
    m = re.search(rf'<section class="{cls}".*?</section>', html, re.S)
    assert m, "no suggestions"
    return re.findall(r'<button type="submit" name="\w+" value="([^"]+)"', m.group(0))


def test_the_citizen_calendar_suggests_the_quiet_hours(
    demo: Demo, browser: Browser, shots: Path
) -> None:
    tz = booking(demo).site(demo.site).site.tz
    day, starts = a_day(demo)
    url = f"{demo.web_url}/book/{demo.site}/{SERVICE}?day={day.isoformat()}&lang=en"
    html = httpx.get(url, timeout=10).text
    got = [datetime.fromisoformat(v) for v in suggestion_values(html, "suggest")]
    want = expected(starts, tz)
    assert got == want and got == sorted(got)
    hours = {s.astimezone(tz).hour for s in got}
    assert PEAK not in hours and hours <= {13, 14}
    # Without JavaScript: the list has its heading; a suggestion holds its time.
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = ctx.new_page()
    page.goto(url)
    region = page.get_by_role("region", name=T("en", "quiet_suggest_title"))
    expect(region.get_by_role("heading")).to_have_text(T("en", "quiet_suggest_title"))
    buttons = region.get_by_role("listitem").get_by_role("button")
    expect(buttons).to_have_count(len(want))
    first = want[0].astimezone(tz)
    expect(buttons.first).to_have_text(T("en", "time_button", time=f"{first:%H:%M}"))
    page.screenshot(path=str(shots / "citizen-calendar-quiet-en.png"), full_page=True)
    buttons.first.click()
    expect(page).to_have_url(re.compile(rf"/book/{demo.site}/{SERVICE}/details/"))
    ctx.close()


def test_the_switchboard_search_suggests_the_quiet_hours(
    demo: Demo, browser: Browser, shots: Path
) -> None:
    tz = booking(demo).site(demo.site).site.tz
    day, starts = a_day(demo)
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", java_script_enabled=False
    )
    page = ctx.new_page()
    page.goto(f"{demo.web_url}/switchboard/?lang=en")
    name = "vaihde"
    pw = next(u["password"] for u in demo.users if u["name"] == name)
    page.get_by_label(T("en", "username")).fill(name)
    page.get_by_label(T("en", "password")).fill(pw)
    page.get_by_role("button", name=T("en", "signin")).click()
    # The times shown: 24 from 9:30 (the demo's advisors are free round the clock).
    after = datetime.combine(day, time(9, 30), tzinfo=tz).astimezone(UTC).isoformat()
    q = {"lang": "en", "service": f"{demo.site}/{SERVICE}", "day": day.isoformat(), "after": after}
    page.goto(f"{demo.web_url}/switchboard/?{urlencode(q)}")
    html = page.content()
    shown = [
        datetime.fromisoformat(v)
        for v in re.findall(r'data-start="([^"]+)"', html.split('class="sw-day"', 1)[1])
    ]
    got = [
        datetime.fromisoformat(v.split("|", 1)[1]) for v in suggestion_values(html, "sw-suggest")
    ]
    assert set(shown) <= set(starts)
    assert {PEAK, 13} <= {s.astimezone(tz).hour for s in shown}
    assert got == expected(shown, tz) and got == sorted(got)
    hours = {s.astimezone(tz).hour for s in got}
    assert PEAK not in hours and hours <= {13, 14}
    region = page.get_by_role("region", name=T("en", "sw_suggest_title"))
    expect(region.get_by_role("heading")).to_have_text(T("en", "sw_suggest_title"))
    buttons = region.get_by_role("listitem").get_by_role("button")
    expect(buttons).to_have_count(len(got))
    page.screenshot(path=str(shots / "switchboard-search-quiet-en.png"), full_page=True)
    buttons.first.click()  # held: the caller's details
    expect(page.locator("h1")).to_have_text(T("en", "sw_details_title"))
    ctx.close()
