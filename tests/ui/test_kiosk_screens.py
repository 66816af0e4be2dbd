"""Every kiosk screen in fi/sv/en, landscape and portrait: screenshots and text overflow.

The screens are drawn by the real Kivy app (offscreen SDL) in one subprocess per window
size (tests/ui/kiosk_screens.py); the PNGs stay in the test's tmp dir to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).with_name("kiosk_screens.py")
SIZES = ["1280x800", "1080x1920", "1920x1080", "800x1280"]
SCREENS = {"idle", "home", "services", "identify", "busy", "result", "error"}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("kiosk-screens")
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1"}
    procs = {}
    for size in SIZES:
        env_size = {**env, "KIVY_HOME": str(out / f"kivy-{size}")}
        procs[size] = subprocess.Popen(
            [sys.executable, str(DRIVER), str(out), size],
            env=env_size,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    reports = {}
    for size, proc in procs.items():
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"{size}: driver failed:\n{err[-3000:]}"
        reports[size] = json.loads((out / size / "report.json").read_text())
    print(f"\nkiosk screenshots: {out}")
    return reports


@pytest.mark.parametrize("size", SIZES)
def test_every_screen_in_every_language(shots: dict[str, dict[str, Any]], size: str) -> None:
    report = shots[size]
    assert not report.get("errors"), report.get("errors")
    assert report["window"] == [int(x) for x in size.split("x")]
    seen = {(s["shown"], s["lang"]) for s in report["shots"]}
    assert seen == {(screen, lang) for screen in SCREENS for lang in ("fi", "sv", "en")}
    for s in report["shots"]:
        assert s["shown"] == s["screen"].split("-")[0], s
        png = Path(s["png"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.parametrize("size", SIZES)
def test_no_text_overflows(shots: dict[str, dict[str, Any]], size: str) -> None:
    bad = [(s["screen"], s["lang"], s["overflow"]) for s in shots[size]["shots"] if s["overflow"]]
    assert not bad


@pytest.mark.parametrize("size", SIZES)
def test_big_touch_targets(shots: dict[str, dict[str, Any]], size: str) -> None:
    # 80 px at 1280x800 (and on the big screens); a 10-key row on an 800 px wide portrait
    # screen leaves keys of 72 px by 150 px.
    minimum = 70 if size == "800x1280" else 80
    small = [
        (s["screen"], s["lang"], t)
        for s in shots[size]["shots"]
        for t in s["small_targets"]
        if min(t["size"]) + 0.5 < minimum
    ]
    assert not small
