"""Debian's Chromium for the Playwright tests (Playwright's own browser download does
not work here). The flags keep it from calling out to the network at start-up."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a `sync_playwright()` object."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
