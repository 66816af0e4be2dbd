"""An optional timing trace of the display's stages (off unless asked for).

`VUORO_DISPLAY_TRACE=/path/trace.jsonl vuoro display ...` writes one JSON line per drawn
frame: the frame's stages with time.monotonic() stamps (`recv` in paho's thread,
`drain` when the Kivy thread takes the messages, `model` and `apply` after the model and
the widgets were updated, `tex` for each texture rendered with its duration, `wait` for
the clock's sleep, `draw` (Kivy's GL calls), `finish` (the software renderer drawing
them, app.py) and `flip` with their durations) and the garbage collector's pauses
(`gc`). `vuoro bench display` runs are diagnosed with it; it costs nothing when
the variable is unset (`enabled` is False and `mark` returns at once).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from typing import IO, Any

_path = os.environ.get("VUORO_DISPLAY_TRACE", "")
enabled = bool(_path)
_events: list[tuple[float, str, dict[str, Any]]] = []
_lock = threading.Lock()
_out: IO[str] | None = None
_gc_start: list[float] = [0.0]


def mark(stage: str, **info: Any) -> None:
    if not enabled:
        return
    with _lock:
        _events.append((time.monotonic(), stage, info))


def _flush() -> None:
    global _out
    with _lock:
        events = list(_events)
        _events.clear()
    if not events:
        return
    if _out is None:
        _out = open(_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    rows = [[round(t, 6), s, i] for t, s, i in events]
    _out.write(json.dumps(rows, ensure_ascii=False) + "\n")


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_start[0] = time.monotonic()
    else:
        ms = (time.monotonic() - _gc_start[0]) * 1000
        mark("gc", gen=info["generation"], ms=round(ms, 2), collected=info["collected"])


def _timed(fn: Any, stage: str, after: Any = None) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            mark(stage, ms=round((time.monotonic() - t) * 1000, 2))
            if after is not None:
                after()

    return wrapper


def install(window: Any, clock: Any) -> None:
    """Wrap the clock's sleep and the window's draw and flip, and watch the collector."""
    if not enabled:
        return
    gc.callbacks.append(_on_gc)
    clock.idle = _timed(clock.idle, "wait")
    window.on_draw = _timed(window.on_draw, "draw")
    window.flip = _timed(window.flip, "flip", after=_flush)
