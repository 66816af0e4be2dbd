"""Screenshots of the lobby display, offscreen, with measurements (tests, docs, review).

    SDL_VIDEODRIVER=offscreen KIVY_HOME=$(mktemp -d) \
        python -m display.shots --size 1920x1080 --out /tmp/shots

Feeds a snapshot with long queue names, a notice and six calls into a `DisplayApp`
(no broker), and writes `<orientation>-<name>.png` for: an empty screen, each language
(fi, sv, en), the offline mark, a blinking new call, and a recall without a notice. Also
writes `<orientation>.json`: per shot, the widgets whose text is larger than their box
(should be none), the newest number's font size and glyph height, and the window size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

LONG_QUEUES = [
    ("municipality", "Kaupungin palvelut", "Stadens tjänster", "City services", 4, 12),
    ("kela", "Kela", "FPA", "Kela (social security)", 11, 35),
    ("tax", "Verohallinto", "Skatteförvaltningen", "Tax Administration", 0, 0),
    (
        "dvv",
        "Digi- ja väestötietovirasto",
        "Myndigheten för digitalisering och befolkningsdata",
        "Digital and Population Data Services",
        2,
        25,
    ),
    (
        "te",
        "Työ- ja elinkeinotoimisto, työnhakijoiden ja yritysten palvelut",
        "Arbets- och näringsbyrån, tjänster för arbetssökande och arbetsgivare",
        "Employment and Economic Development Office, services for jobseekers and employers",
        27,
        95,
    ),
]
NOTICE = {
    "fi": "Kelan järjestelmässä on häiriö. Odotusajat voivat olla tavallista pidempiä.",
    "sv": "FPA:s system har en störning. Väntetiderna kan vara längre än vanligt.",
    "en": "Kela's system has a disruption. Waiting times may be longer than usual.",
}
SITE = {"fi": "Asiointipiste Demola", "sv": "Servicepunkt Demola", "en": "Demola Service Point"}
CALLS = [("K012", "3"), ("A041", "1"), ("V007", "4"), ("A040", "2"), ("P003", "4"), ("K011", "2")]


def snapshot(
    seq: int, *, calls: list[tuple[str, str]], notice: bool, recall: bool = False
) -> dict[str, Any]:
    return {
        "v": 1,
        "seq": seq,
        "at": f"2026-03-02T08:{20 + seq:02d}:00.000Z",
        "open": True,
        "called": [
            {"number": n, "desk": d, "at": "2026-03-02T08:20:00.000Z", "recall": recall and i == 0}
            for i, (n, d) in enumerate(calls)
        ],
        "queues": [
            {"id": q, "name": {"fi": fi, "sv": sv, "en": en}, "waiting": w, "eta_min": eta}
            for q, fi, sv, en, w, eta in LONG_QUEUES
        ],
        "message": NOTICE if notice else None,
    }


def overflow(root: Any) -> list[dict[str, Any]]:
    """Widgets whose drawn text is wider or taller than the widget itself."""
    from kivy.uix.label import Label

    from display.widgets import FitLabel

    bad = []
    for w in root.walk():
        if isinstance(w, FitLabel) and w.text:
            dw, dh = w.drawn_size
            if dw > w.width + 0.5 or dh > w.height + 0.5:
                bad.append({"text": w.text, "drawn": [dw, dh], "box": list(w.size)})
        elif isinstance(w, Label) and w.text:
            tw, th = w.texture_size
            if tw > w.width + 1 or th > w.height + 1:
                bad.append({"text": w.text, "texture": [tw, th], "box": list(w.size)})
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from display.app import prepare_kivy

    prepare_kivy((w, h), False)
    from kivy.clock import Clock
    from kivy.core.window import Window

    from display.app import DisplayApp
    from display.config import DeviceSection, DisplaySection, DisplaySettings

    settings = DisplaySettings(
        device=DeviceSection(id="display-shots", site="demo"),
        display=DisplaySection(announce=False, rotate_s=600, blink_s=30),
    )
    app = DisplayApp(settings, connect=False)
    app.clock_fn = lambda: datetime(2026, 3, 2, 10, 24).astimezone()
    orient = "landscape" if w >= h else "portrait"
    results: dict[str, Any] = {"window": [w, h], "shots": {}}

    def shoot(name: str) -> None:
        app.refresh()
        path = Window.screenshot(name=str(out / f"{orient}-{name}.png"))
        final = out / f"{orient}-{name}.png"
        if path and Path(path) != final:
            Path(path).replace(final)
        s = app.screen
        assert s is not None
        num = s.ids.number
        results["shots"][name] = {
            "file": str(final),
            "layout": type(s).__name__,
            "overflow": overflow(s),
            "number": s.number,
            "number_font_size": num.font_size,
            "number_drawn_height": num.drawn_size[1],
            "number_ink_height": num.ink_height() if s.number else 0,
            "offline": s.offline,
            "notice": s.notice,
            "lang": s.lang,
        }

    m = app.model
    steps: list[tuple[float, Any]] = [
        (1.0, lambda: app.refresh()),  # the first frames
        (0.6, lambda: shoot("empty")),
        (
            0.1,
            lambda: (
                app.feed("link", {"up": True}),
                app.feed("scheduler", {"online": True}),
                app.feed("config", {"v": 1, "languages": ["fi", "sv", "en"], "site_name": SITE}),
                app.feed("state", snapshot(1, calls=CALLS, notice=True)),
            ),
        ),
    ]
    for lang in ("fi", "sv", "en"):
        steps.append((0.3, lambda lang=lang: setattr(m, "languages", [lang])))
        steps.append((0.6, lambda lang=lang: shoot(lang)))
    steps += [
        (0.1, lambda: setattr(m, "languages", ["fi"])),
        (0.1, lambda: app.feed("link", {"up": False})),
        (0.6, lambda: shoot("offline")),
        (0.1, lambda: app.feed("link", {"up": True})),
        (
            0.1,
            lambda: app.feed(
                "called",
                {
                    "v": 1,
                    "number": "A042",
                    "desk": "2",
                    "recall": False,
                    "at": datetime.now().astimezone().isoformat(),
                    "lang": "fi",
                },
            ),
        ),
        (0.15, lambda: shoot("blink")),
        (0.1, lambda: setattr(m, "languages", ["en"])),
        (0.1, lambda: setattr(m, "blink_s", 0)),
        (0.1, lambda: app.feed("state", snapshot(2, calls=CALLS, notice=False, recall=True))),
        (0.6, lambda: shoot("recall")),
    ]

    def run(i: int) -> None:
        if i >= len(steps):
            (out / f"{orient}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
            app.stop()
            return
        delay, fn = steps[i]
        fn()
        Clock.schedule_once(lambda _dt: run(i + 1), delay)

    Clock.schedule_once(lambda _dt: run(0), 0.5)
    app.run()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    sys.exit(main())
