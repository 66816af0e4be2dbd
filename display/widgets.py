"""Kivy widgets of the lobby display that never draw outside their box.

- `FitLabel`: one line of text drawn from its texture into the widget's box; text too
  wide is first narrowed (down to `max_squeeze`, like a condensed face), then scaled
  down. Used for the big numbers, headings and the clock.
- `WrapLabel`: text wrapped at word boundaries into at most `wrap_lines` lines, with the
  font reduced a little and finally an ellipsis when it still does not fit (queue
  names, the notice).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Rectangle
from kivy.properties import (
    ColorProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from display import trace


class FitLabel(Widget):
    text = StringProperty("")
    font_name = StringProperty("VuoroBold")
    font_size = NumericProperty(40)
    color = ColorProperty([1, 1, 1, 1])
    halign = OptionProperty("center", options=["left", "center", "right"])
    valign = OptionProperty("middle", options=["top", "middle", "bottom"])
    max_squeeze = NumericProperty(1.0)
    texture = ObjectProperty(None, allownone=True)
    drawn_size = ListProperty([0, 0])
    scale = ListProperty([1.0, 1.0])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas:
            self._color = Color(*self.color)
            self._rect = Rectangle(size=(0, 0))
        self._render = Clock.create_trigger(self._refresh, -1)
        self.bind(text=self._render, font_name=self._render, font_size=self._render)
        self.bind(size=self._place, pos=self._place, halign=self._place, valign=self._place)
        self.bind(color=self._recolor, max_squeeze=self._place)
        self._render()

    def _recolor(self, *_: Any) -> None:
        self._color.rgba = self.color

    def _refresh(self, *_: Any) -> None:
        if not self.text:
            self.texture = None
        else:
            t = time.monotonic()
            cl = CoreLabel(text=self.text, font_name=self.font_name, font_size=self.font_size)
            cl.refresh()
            self.texture = cl.texture
            if trace.enabled:
                ms = round((time.monotonic() - t) * 1000, 2)
                trace.mark("tex", text=self.text[:12], size=round(self.font_size), ms=ms)
        self._place()

    def _place(self, *_: Any) -> None:
        tex = self.texture
        if tex is None:
            self._rect.texture = None
            self._rect.size = (0, 0)
            self.drawn_size = [0, 0]
            return
        tw, th = tex.size
        w, h = max(1.0, self.width), max(1.0, self.height)
        sx = 1.0
        if tw > w:
            sx = max(self.max_squeeze, w / tw)
        s = min(1.0, w / (tw * sx), h / th)
        dw, dh = tw * sx * s, th * s
        x = self.x + {"left": 0.0, "center": (w - dw) / 2, "right": w - dw}[self.halign]
        y = self.y + {"bottom": 0.0, "middle": (h - dh) / 2, "top": h - dh}[self.valign]
        self._rect.texture = tex
        self._rect.pos = (round(x), round(y))
        self._rect.size = (dw, dh)
        self.drawn_size = [dw, dh]
        self.scale = [sx * s, s]

    def ink_height(self) -> float:
        """Height of the drawn glyphs themselves (not the line box), in window pixels."""
        tex = self.texture
        if tex is None:
            return 0.0
        w, h = tex.size
        px = tex.pixels
        rows = [y for y in range(h) if any(px[(y * w + x) * 4 + 3] > 128 for x in range(0, w, 2))]
        return (max(rows) - min(rows) + 1) * self.scale[1] if rows else 0.0


@lru_cache(maxsize=4096)
def _width(text: str, font_name: str, font_size: int) -> float:
    return float(CoreLabel(font_name=font_name, font_size=font_size).get_extents(text)[0])


def wrap(
    text: str, font_name: str, font_size: int, width: float, max_lines: int
) -> tuple[str, bool]:
    """Greedy word wrap; returns (text with newlines, whether it all fit)."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if _width(cand, font_name, font_size) <= width:
            cur = cand
            continue
        if cur:
            lines.append(cur)
        cur = word
        while _width(cur, font_name, font_size) > width and len(cur) > 1:  # a very long word
            cut = len(cur) - 1
            while cut > 1 and _width(cur[:cut], font_name, font_size) > width:
                cut -= 1
            lines.append(cur[:cut])
            cur = cur[cut:]
    if cur:
        lines.append(cur)
    if len(lines) <= max_lines:
        return "\n".join(lines), True
    kept = lines[:max_lines]
    last = kept[-1]
    while last and _width(last.rstrip(" ,.;:-") + "…", font_name, font_size) > width:
        last = last[:-1]
    kept[-1] = last.rstrip(" ,.;:-") + "…"
    return "\n".join(kept), False


LINE_HEIGHT = 1.17  # DejaVu Sans: ascent + descent, per unit of font size


class WrapLabel(Label):
    """Set `full_text`, not `text`: it is wrapped to the box, at most `wrap_lines` lines."""

    full_text = StringProperty("")
    wrap_lines = NumericProperty(2)
    base_font_size = NumericProperty(30)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fit = Clock.create_trigger(self._refit, -1)
        self.bind(
            full_text=self._fit,
            size=self._fit,
            wrap_lines=self._fit,
            base_font_size=self._fit,
            font_name=self._fit,
        )

    def _refit(self, *_: Any) -> None:
        """One line if a slightly smaller font allows it; else more lines (as many as
        the box holds, up to `wrap_lines`), the font reduced if need be; else the
        smallest font and an ellipsis."""
        t0 = time.monotonic()
        width = max(10.0, self.width - 2)
        height = max(1.0, self.height)
        base = float(self.base_font_size)
        sizes = [max(8, int(base * f)) for f in (1.0, 0.92, 0.85, 0.78, 0.72)]
        most = max(1, int(self.wrap_lines))
        text, size = "", sizes[0]
        if self.full_text:
            chosen = None
            for lines in range(1, most + 1):
                for size in sizes if lines > 1 else sizes[:3]:
                    if lines > 1 and lines * size * LINE_HEIGHT > height:
                        continue
                    text, ok = wrap(self.full_text, self.font_name, size, width, lines)
                    if ok:
                        chosen = (text, size)
                        break
                if chosen:
                    break
            if chosen is None:
                size = sizes[-1]
                room = max(1, min(most, int(height // (size * LINE_HEIGHT))))
                text, _ok = wrap(self.full_text, self.font_name, size, width, room)
            else:
                text, size = chosen
        self.font_size = size
        self.text = text
        if trace.enabled:
            ms = round((time.monotonic() - t0) * 1000, 2)
            trace.mark("wrap", text=self.full_text[:12], ms=ms)
