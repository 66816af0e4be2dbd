"""Debounce and press classification for one push button: pure, clock-injected.

Raw pin edges go in, with the time they were seen; button events come out. Nothing here
reads a clock or sleeps: the caller passes the time to `edge()` and `poll()`, and asks
`next_deadline()` when it must poll next (see `desk.hw.ButtonPanel`, which runs one small
thread for all buttons). Tests feed synthetic bouncy edge sequences.

The rules:

- **Debounce by settling.** A new level counts only once the raw level has stayed the
  same for `debounce_s` (30 ms by default) since the last edge. Contact chatter (edges a
  few milliseconds apart, on press or on release) and glitches shorter than `debounce_s`
  are ignored; the cost is `debounce_s` of latency. A press starts at the last edge of
  its burst; a release at the FIRST edge of its burst (when the finger let go).
- **Short press** (`"press"`): fires when the release settles, if the button was held
  for less than `long_press_s`. A short press therefore fires on release: only then is it
  known not to be a long press.
- **Long press** (`"long"`): fires ONCE, while the button is still held, as soon as it has
  been held for `long_press_s` (1.5 s by default), so the advisor sees the unit react and
  can let go. Its release fires nothing. A release burst that starts before the threshold
  makes it a short press, even if the burst settles after the threshold; a glitch while
  held (the level comes back within `debounce_s`) delays a due long press until the
  contact has been calm for `debounce_s`.
- A button already held when the classifier is made (stuck, or held at boot) fires
  nothing until it has been released.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["press", "long"]

DEFAULT_DEBOUNCE_S = 0.030
DEFAULT_LONG_PRESS_S = 1.5


@dataclass(frozen=True)
class ButtonEvent:
    kind: EventKind
    """`press` (short, on release) or `long` (while held, once the threshold passes)."""
    at: float
    """When the event became certain (clock of the caller)."""
    held_s: float
    """How long the button had been held (for `long`: exactly `long_press_s`)."""


class PressClassifier:
    """One button's debouncer and short/long press classifier."""

    def __init__(
        self,
        *,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        long_press_s: float = DEFAULT_LONG_PRESS_S,
        pressed: bool = False,
        now: float = 0.0,
    ) -> None:
        if debounce_s < 0:
            raise ValueError("debounce_s must be >= 0")
        if long_press_s <= debounce_s:
            raise ValueError("long_press_s must be longer than debounce_s")
        self.debounce_s = debounce_s
        self.long_press_s = long_press_s
        self._raw = pressed  # the level last seen on the pin
        self._stable = pressed  # the debounced level
        self._last_edge = now  # time of the last raw edge
        self._pressed_at: float | None = None  # settled press start (None: not counting)
        self._long_fired = False
        # First edge of a burst away from the settled level; cleared when the level
        # settles (a change) or calms back (a glitch): while set, no long press fires.
        self._away_since: float | None = None
        self._calm_at = now  # when the last burst calmed back to the settled level

    # ------------------------------------------------------------------ inputs

    @property
    def pressed(self) -> bool:
        """The debounced level."""
        return self._stable

    def edge(self, t: float, pressed: bool) -> list[ButtonEvent]:
        """The raw pin level changed to `pressed` at time `t`. Returns the events that
        became due up to `t` (decided with the level before this edge)."""
        events = self.poll(t)
        t = max(t, self._last_edge)  # a clock never runs backwards here
        if pressed != self._raw:
            self._raw = pressed
            self._last_edge = t
            if pressed != self._stable and self._away_since is None:
                self._away_since = t
        return events

    def poll(self, now: float) -> list[ButtonEvent]:
        """Everything that became due up to `now`, in time order."""
        events: list[ButtonEvent] = []
        while True:
            due = self._due()
            if due is None or due[0] > now:
                return events
            at, what = due
            if what == "settle":
                self._settle(at, events)
            elif what == "calm":
                self._away_since = None
                self._calm_at = at
            else:
                self._long_fired = True
                events.append(ButtonEvent("long", max(at, self._calm_at), self.long_press_s))

    def next_deadline(self) -> float | None:
        """When `poll` may next have something to do (None: only after the next edge)."""
        due = self._due()
        return None if due is None else due[0]

    # ------------------------------------------------------------------ the rules

    def _due(self) -> tuple[float, str] | None:
        if self._raw != self._stable:
            return self._last_edge + self.debounce_s, "settle"
        if self._away_since is not None:  # back at the settled level: a glitch, once calm
            return self._last_edge + self.debounce_s, "calm"
        # Held, and no release under way: a long press is due at the threshold.
        if self._stable and self._pressed_at is not None and not self._long_fired:
            return self._pressed_at + self.long_press_s, "long"
        return None

    def _settle(self, at: float, events: list[ButtonEvent]) -> None:
        self._stable = self._raw
        began = self._away_since if self._away_since is not None else self._last_edge
        self._away_since = None
        if self._stable:
            self._pressed_at = self._last_edge
            self._long_fired = False
            return
        if self._pressed_at is not None and not self._long_fired:
            # The release began (its burst's first edge) before the threshold: a short
            # press (see the module text); had it begun later, `long` would have fired.
            held = began - self._pressed_at
            events.append(ButtonEvent("press", at, max(0.0, min(held, self.long_press_s))))
        self._pressed_at = None
        self._long_fired = False


def earliest(deadlines: list[float | None]) -> float | None:
    """The earliest of some deadlines (None where there is none)."""
    known = [d for d in deadlines if d is not None and not math.isnan(d)]
    return min(known) if known else None
