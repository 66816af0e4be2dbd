"""The lobby display (Kivy, offscreen): screenshots, fit and size checks, and the real
thing over the demo broker (a desk's press shows; broker loss shows the offline mark).

Each Kivy run is its own process (`python -m display.shots`, `vuoro display --probe`):
Kivy keeps one window per process. Screenshots go under the test's tmp folder, or
VUORO_SHOTS_DIR if set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.display import write_config
from firmware_common.mqtt import DeviceClient
from vuoro.demo import Demo

ROOT = Path(__file__).resolve().parents[2]


def kivy_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_HOME": str(tmp / "kivy-home"),
        "KIVY_NO_ARGS": "1",
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)], ids=["landscape", "portrait"])
def test_screenshots_fit_and_sizes(tmp_path: Path, size: tuple[int, int]) -> None:
    w, h = size
    out = Path(os.environ.get("VUORO_SHOTS_DIR") or tmp_path / "shots")
    subprocess.run(
        [sys.executable, "-m", "display.shots", "--size", f"{w}x{h}", "--out", str(out)],
        cwd=ROOT,
        env=kivy_env(tmp_path),
        check=True,
        timeout=90,
        capture_output=True,
    )
    orient = "landscape" if w > h else "portrait"
    result = json.loads((out / f"{orient}.json").read_text())
    assert result["window"] == [w, h]
    shots = result["shots"]
    assert set(shots) == {"empty", "fi", "sv", "en", "offline", "blink", "recall"}
    for name, shot in shots.items():
        png = Path(shot["file"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000, name
        assert shot["layout"] == ("LandscapeScreen" if w > h else "PortraitScreen")
        assert shot["overflow"] == [], f"{name}: text outside its box: {shot['overflow']}"
        if shot["number"]:
            # Readable from 8 m: the newest number's glyphs are at least 1/6 of the height.
            assert shot["number_font_size"] >= h / 6, name
            assert shot["number_ink_height"] >= h / 6, (name, shot["number_ink_height"])
    for lang in ("fi", "sv", "en"):
        assert shots[lang]["lang"] == lang and shots[lang]["notice"], lang
        assert not shots[lang]["offline"]
    assert shots["offline"]["offline"] and shots["offline"]["number"] == "K012"
    assert shots["blink"]["number"] == "A042"
    assert shots["recall"]["notice"] == ""
    assert shots["empty"]["number"] == ""


# ---------------------------------------------------------------------------- live


class Probe:
    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]

    def wait(self, what: str, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ls = self.lines()
            if ls and pred(ls[-1]):
                return ls[-1]
            time.sleep(0.05)
        raise AssertionError(f"{what}: not within {timeout} s; last: {self.lines()[-1:]}")


@pytest.fixture
def display_proc(demo: Demo, tmp_path: Path) -> Iterator[Probe]:
    config = write_config(demo, tmp_path)
    probe = tmp_path / "probe.jsonl"
    argv = [sys.executable, "-m", "vuoro.cli", "--log-level", "WARNING", "display"]
    argv += ["--config", str(config), "--window", "1280x720", "--probe", str(probe)]
    with (tmp_path / "display.log").open("w") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=kivy_env(tmp_path), stderr=log)
        try:
            yield Probe(probe)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_desk_press_shows_and_offline_mark(
    demo: Demo, connect: Callable[..., DeviceClient], display_proc: Probe
) -> None:
    probe = display_proc
    first = probe.wait("the retained snapshot", lambda x: x["seq"] >= 1 and not x["offline"], 60)
    desk = connect("desk-demo-1")
    kiosk = connect("kiosk-demo-1")
    assert desk.request("open", {"desk": "1"})["ok"]
    assert kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ok"]
    reply = desk.request("next", {"desk": "1"})
    number = reply["ticket"]["number"]
    shown = probe.wait("the called number", lambda x: x["number"] == number, 5)
    assert shown["desk"] == "1" and shown["seq"] > first["seq"]

    demo.broker.kill()
    t0 = time.monotonic()
    off = probe.wait("the offline mark", lambda x: x["offline"], 5)
    assert off["number"] == number  # the last state stays
    assert off["t"] - t0 < 5

    time.sleep(1.0)
    demo.broker.start()
    t1 = time.monotonic()
    back = probe.wait("back online", lambda x: not x["offline"] and x["number"] == number, 8)
    assert back["t"] - t1 < 5, f"back after {back['t'] - t1:.1f} s"
