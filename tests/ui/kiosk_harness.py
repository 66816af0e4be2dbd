"""Helpers of the kiosk's Kivy drivers (run as subprocesses by the kiosk UI tests).

Kivy runs one App per process, so each test module starts one driver script
(`kiosk_screens.py`, `kiosk_flows.py`) in a subprocess with the offscreen SDL driver;
the driver plays a script of steps on Kivy's clock, saves screenshots and writes a JSON
report that the tests assert on.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def setup_env() -> None:
    """Before the first Kivy import: headless window, private KIVY_HOME, no argv parsing."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
    os.environ.setdefault("KIVY_NO_FILELOG", "1")


# A step yields: a number (seconds to wait), or a predicate (wait until true, 10 s max),
# or None (one frame).
Step = float | Callable[[], bool] | None


class Runner:
    """Plays a generator of steps on Kivy's clock; stops the app at the end."""

    def __init__(self, app: Any, script: Iterator[Step], report: dict[str, Any]) -> None:
        self.app = app
        self.script = script
        self.report = report

    def start(self) -> None:
        from kivy.clock import Clock

        Clock.schedule_once(lambda _dt: self._advance(), 0.3)

    def _advance(self) -> None:
        from kivy.clock import Clock

        try:
            step = next(self.script)
        except StopIteration:
            self.app.stop()
            return
        except Exception:
            self.report.setdefault("errors", []).append(traceback.format_exc())
            self.app.stop()
            return
        if step is None:
            Clock.schedule_once(lambda _dt: self._advance(), 0)
        elif isinstance(step, int | float):
            Clock.schedule_once(lambda _dt: self._advance(), float(step))
        else:
            self._wait(step, 0.0)

    def _wait(self, pred: Callable[[], bool], waited: float) -> None:
        from kivy.clock import Clock

        if pred() or waited > 10.0:
            if waited > 10.0:
                self.report.setdefault("timeouts", []).append(getattr(pred, "__name__", "?"))
            Clock.schedule_once(lambda _dt: self._advance(), 0.05)
            return
        Clock.schedule_once(lambda _dt: self._wait(pred, waited + 0.05), 0.05)


def walk(widget: Any) -> Iterator[Any]:
    yield widget
    for child in widget.children:
        yield from walk(child)


def visible(w: Any) -> bool:
    while w is not None:
        if getattr(w, "opacity", 1) == 0:
            return False
        parent = w.parent
        if parent is w:
            break
        w = parent
    return True


def overflow(root: Any, window_size: tuple[int, int]) -> list[dict[str, Any]]:
    """Labels whose text does not fit: texture bigger than the label, a word wider than
    the wrapping width, or a label reaching outside the window."""
    from kivy.core.text import Label as CoreLabel
    from kivy.uix.label import Label

    bad: list[dict[str, Any]] = []
    ww, wh = window_size
    for w in walk(root):
        if not isinstance(w, Label) or not w.text.strip() or not visible(w):
            continue
        if w.width < 2 or w.height < 2:
            bad.append({"text": w.text, "why": "no room", "size": list(w.size)})
            continue
        w.texture_update()
        tw, th = w.texture_size
        if tw > w.width + 1 or th > w.height + 1:
            bad.append(
                {"text": w.text, "why": "texture", "size": list(w.size), "texture": [tw, th]}
            )
            continue
        if w.text_size[0]:
            core = CoreLabel(font_size=w.font_size, font_name=w.font_name, bold=w.bold)
            longest = max(core.get_extents(word)[0] for word in w.text.split())
            if longest > w.text_size[0] + 1:
                bad.append({"text": w.text, "why": "word", "width": w.text_size[0]})
                continue
        x, y = w.to_window(w.x, w.y)
        if x < -1 or y < -1 or x + w.width > ww + 1 or y + w.height > wh + 1:
            bad.append({"text": w.text, "why": "off screen", "pos": [x, y]})
    return bad


def small_targets(root: Any, minimum: float) -> list[dict[str, Any]]:
    """Touchable widgets (buttons) smaller than `minimum` px in either direction."""
    from kivy.uix.behaviors import ButtonBehavior

    bad = []
    for w in walk(root):
        touchable = isinstance(w, ButtonBehavior) and visible(w) and not w.disabled
        if touchable and min(w.width, w.height) + 0.5 < minimum:
            bad.append({"text": getattr(w, "text", ""), "size": list(w.size)})
    return bad


def find(root: Any, pred: Callable[[Any], bool]) -> Any:
    for w in walk(root):
        if pred(w) and visible(w):
            return w
    raise LookupError("no such widget on screen")


def by_text(root: Any, text: str) -> Any:
    """The button showing `text` (or a button whose child label shows it)."""
    from kivy.uix.behaviors import ButtonBehavior

    def match(w: Any) -> bool:
        if not isinstance(w, ButtonBehavior):
            return False
        if getattr(w, "text", None) == text:
            return True
        return any(getattr(c, "text", None) == text for c in walk(w))

    return find(root, match)


def tap(widget: Any) -> None:
    """A real touch (down and up) at the widget's centre, through the window."""
    from kivy.tests.common import UnitTestTouch

    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(report, indent=1, default=str))
