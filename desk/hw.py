"""The desk unit's parts over gpiozero: buttons, the status LED, the number display.

Each part is a small class over a gpiozero pin factory (ARCHITECTURE.md): real pins on a
Raspberry Pi (lgpio on a Pi 5, the `python3-lgpio` package of Raspberry Pi OS; RPi.GPIO
only works on older boards), `MockFactory` in tests and in the demo. Pins are BCM numbers
from the configuration (desk/config.py).

- `ButtonPanel`: gpiozero `Button`s with `bounce_time=None` (the kernel and gpiozero do no
  debouncing); every edge goes to the project's `PressClassifier` (desk/debounce.py) with
  the time it was seen, and one small thread polls the classifiers at their deadlines.
- `StatusLed`: an RGB LED (or a single LED) showing a named look (`LOOKS`).
- Number displays: `TM1637Display` (a bit-banged driver for the common 4-digit module),
  `LedCharNumberDisplay` (gpiozero's `LEDMultiCharDisplay` for a multiplexed 7-segment
  display) and `NullDisplay`; all show a text like `"A012"`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gpiozero import (
    LED,
    RGBLED,
    Button,
    Device,
    DigitalOutputDevice,
    LEDCharDisplay,
    LEDMultiCharDisplay,
)
from gpiozero.pins import Factory

from desk.config import DeskSettings, DisplayPins
from desk.debounce import ButtonEvent, PressClassifier, earliest

log = logging.getLogger("vuoro.desk.hw")

Clock = Callable[[], float]

# ---------------------------------------------------------------------------- pin factory


def make_pin_factory(name: str | None = None) -> Factory | None:
    """The pin factory called `name` (`mock`, `lgpio`, `rpigpio`, `pigpio`, `native`), else
    the one named by GPIOZERO_PIN_FACTORY; None lets gpiozero choose (on a Pi 5: lgpio)."""
    name = name or os.environ.get("GPIOZERO_PIN_FACTORY") or None
    if name is None:
        return None
    if name.lower() == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group="gpiozero_pin_factories")}
    if name.lower() not in found:
        raise ValueError(
            f"unknown gpiozero pin factory {name!r}; known: {', '.join(sorted(found))}"
        )
    factory: Factory = found[name.lower()].load()()
    return factory


# ---------------------------------------------------------------------------- 7 segments

# Segment bits as the TM1637 takes them: bit 0 = a ... bit 6 = g, bit 7 = dp/colon.
#      a
#    f   b
#      g
#    e   c
#      d
SEGMENTS: dict[str, int] = {
    " ": 0x00,
    "-": 0x40,
    "_": 0x08,
    "0": 0x3F,
    "1": 0x06,
    "2": 0x5B,
    "3": 0x4F,
    "4": 0x66,
    "5": 0x6D,
    "6": 0x7D,
    "7": 0x07,
    "8": 0x7F,
    "9": 0x6F,
    # Letters as well as seven segments can show them; some are lower-case shapes (b, d,
    # n, o, q, r, t, u) and a few are conventions (K, M, V, W, X, Z).
    "A": 0x77,
    "B": 0x7C,
    "C": 0x39,
    "D": 0x5E,
    "E": 0x79,
    "F": 0x71,
    "G": 0x3D,
    "H": 0x76,
    "I": 0x30,
    "J": 0x1E,
    "K": 0x75,
    "L": 0x38,
    "M": 0x37,
    "N": 0x54,
    "O": 0x5C,
    "P": 0x73,
    "Q": 0x67,
    "R": 0x50,
    "S": 0x6D,
    "T": 0x78,
    "U": 0x3E,
    "V": 0x1C,
    "W": 0x2A,
    "X": 0x76,
    "Y": 0x6E,
    "Z": 0x5B,
}


def segment_tuple(bits: int) -> tuple[int, ...]:
    """Segment bits -> gpiozero's LED states (a, b, c, d, e, f, g)."""
    return tuple((bits >> i) & 1 for i in range(7))


# gpiozero's LEDCharDisplay font (its bundled one has no K, M, V, W, X or Z).
LEDCHAR_FONT: dict[str, tuple[int, ...]] = {c: segment_tuple(b) for c, b in SEGMENTS.items()}


def fit(text: str, width: int) -> str:
    """Upper-case, unknown characters as blanks, right-aligned in `width` (the rightmost
    characters if it is longer: "A012" on three digits shows "012")."""
    clean = "".join(c if c in SEGMENTS else " " for c in text.upper())
    return clean[-width:].rjust(width) if width else ""


class NumberDisplay(Protocol):
    width: int
    """Number of digits."""
    text: str
    """What the display shows now (after `fit`)."""

    def show(self, text: str) -> None: ...

    def close(self) -> None: ...


class NullDisplay:
    """No display fitted: remembers the text (the demo and `state_text` show it)."""

    def __init__(self, width: int = 4) -> None:
        self.width = width
        self.text = fit("", width)

    def show(self, text: str) -> None:
        self.text = fit(text, self.width)

    def close(self) -> None:
        pass


class LedCharNumberDisplay:
    """A multiplexed 7-segment display on GPIO pins (gpiozero LEDMultiCharDisplay).

    Segments a..g (and dp) on `segments`, the digits' common pins (through transistors)
    on `digits`, left to right. gpiozero multiplexes in a background thread while the
    digits differ.
    """

    def __init__(self, pins: DisplayPins, pin_factory: Factory | None) -> None:
        self.width = len(pins.digits)
        char = LEDCharDisplay(
            *pins.segments,
            dp=pins.dp,
            font=LEDCHAR_FONT,
            active_high=pins.segments_active_high,
            pin_factory=pin_factory,
        )
        # gpiozero 2.0.1 makes the digits' CompositeOutputDevice without our pin factory
        # and then needs a default one (it has no pins of its own): give it ours.
        if Device.pin_factory is None and pin_factory is not None:
            Device.pin_factory = pin_factory
        self.device = LEDMultiCharDisplay(
            char, *pins.digits, active_high=pins.digits_active_high, pin_factory=pin_factory
        )
        self.text = fit("", self.width)

    def show(self, text: str) -> None:
        self.text = fit(text, self.width)
        self.device.value = self.text

    def close(self) -> None:
        self.device.close()


class TM1637Display:
    """A TM1637 4-digit LED module, bit-banged on two GPIO pins (CLK and DIO).

    Per the TM1637 datasheet: a frame is a start condition (DIO falls while CLK is high),
    bytes sent least significant bit first (DIO changes while CLK is low, the chip reads it
    on CLK's rising edge), each followed by a ninth clock in which the chip acknowledges by
    pulling DIO low, and a stop condition (DIO rises while CLK is high). Showing a text
    sends three frames: data command 0x40 (write, auto-increment address), address command
    0xC0 followed by the digits' segment bytes, display control 0x88 | brightness (0-7).

    DIO is driven as an output and switched to an input (pulled up) for each ACK. A missing
    ACK (no module fitted) is counted in `missing_acks`, logged once, and not an error.
    """

    DATA_CMD = 0x40
    ADDR_CMD = 0xC0
    CTRL_ON = 0x88

    def __init__(
        self,
        clk: int,
        dio: int,
        *,
        pin_factory: Factory | None,
        brightness: int = 7,
        width: int = 4,
        bit_delay_s: float = 50e-6,
    ) -> None:
        if not 0 <= brightness <= 7:
            raise ValueError("brightness is 0..7")
        self.width = width
        self.brightness = brightness
        self.bit_delay_s = bit_delay_s
        self._clk_dev = DigitalOutputDevice(clk, initial_value=True, pin_factory=pin_factory)
        self._dio_dev = DigitalOutputDevice(dio, initial_value=True, pin_factory=pin_factory)
        self._clk = self._clk_dev.pin
        self._dio = self._dio_dev.pin
        # DIO's pull-up (for the ACK reads, when DIO is an input) is set once: the pin
        # keeps it while it is an output.
        self._dio.function = "input"
        try:
            self._dio.pull = "up"
        except Exception:  # a fixed or external pull-up
            log.debug("TM1637: cannot set the DIO pull-up", exc_info=True)
        self._dio.function = "output"
        self._dio.state = 1
        self._lock = threading.Lock()
        self.missing_acks = 0
        self.text = fit("", width)

    # ------------------------------------------------------------------ API

    def show(self, text: str) -> None:
        self.text = fit(text, self.width)
        self.write_segments([SEGMENTS[c] for c in self.text])

    def write_segments(self, segments: list[int]) -> None:
        with self._lock:
            self._frame([self.DATA_CMD])
            self._frame([self.ADDR_CMD, *segments])
            self._frame([self.CTRL_ON | self.brightness])

    def close(self) -> None:
        self._clk_dev.close()
        self._dio_dev.close()

    # ------------------------------------------------------------------ the bus

    def _delay(self) -> None:
        if self.bit_delay_s > 0:
            time.sleep(self.bit_delay_s)

    def _frame(self, data: list[int]) -> None:
        self._start()
        for byte in data:
            if not self._write_byte(byte):
                self.missing_acks += 1
                if self.missing_acks == 1:
                    log.warning("TM1637: no ACK (is the display connected?)")
        self._stop()

    def _start(self) -> None:
        self._dio.state = 1
        self._clk.state = 1
        self._delay()
        self._dio.state = 0
        self._delay()

    def _stop(self) -> None:
        self._clk.state = 0
        self._delay()
        self._dio.state = 0
        self._delay()
        self._clk.state = 1
        self._delay()
        self._dio.state = 1
        self._delay()

    def _write_byte(self, byte: int) -> bool:
        for i in range(8):
            self._clk.state = 0
            self._dio.state = (byte >> i) & 1
            self._delay()
            self._clk.state = 1
            self._delay()
        # The ninth clock: the chip pulls DIO low after the eighth falling edge.
        self._clk.state = 0
        self._dio.function = "input"
        self._delay()
        self._clk.state = 1
        self._delay()
        ack = not self._dio.state
        self._clk.state = 0
        self._dio.function = "output"
        self._dio.state = 0
        self._delay()
        return ack


def make_display(pins: DisplayPins, pin_factory: Factory | None) -> NumberDisplay:
    if pins.kind == "tm1637":
        assert pins.clk is not None and pins.dio is not None
        return TM1637Display(
            pins.clk,
            pins.dio,
            pin_factory=pin_factory,
            brightness=pins.brightness,
            bit_delay_s=pins.bit_delay_us / 1e6,
        )
    if pins.kind == "ledchar":
        return LedCharNumberDisplay(pins, pin_factory)
    return NullDisplay()


# ---------------------------------------------------------------------------- the LED


@dataclass(frozen=True)
class LedLook:
    color: tuple[int, int, int]
    """(red, green, blue), each 0 or 1; a single LED is on when any is 1."""
    on_s: float | None = None
    """Blink: seconds on and off; None: steady."""
    off_s: float | None = None

    @property
    def color_name(self) -> str:
        return COLOR_NAMES.get(self.color, str(self.color))

    def describe(self) -> str:
        if self.color == (0, 0, 0):
            return "off"
        if self.on_s is None:
            return self.color_name
        return f"{self.color_name} blinking {self.on_s:g}/{self.off_s:g} s"


OFF = (0, 0, 0)
RED = (1, 0, 0)
GREEN = (0, 1, 0)
BLUE = (0, 0, 1)
YELLOW = (1, 1, 0)
COLOR_NAMES = {OFF: "off", RED: "red", GREEN: "green", BLUE: "blue", YELLOW: "yellow"}

# The RGB LED, by what it shows (README: "The status LED").
LOOKS: dict[str, LedLook] = {
    "closed": LedLook(OFF),
    "open": LedLook(GREEN),
    "calling": LedLook(YELLOW, 0.5, 0.5),
    "serving": LedLook(BLUE),
    "error": LedLook(RED, 0.1, 0.1),
    "offline": LedLook(RED, 0.1, 1.9),
}
# A single LED: one colour, told apart by rhythm.
SINGLE_LOOKS: dict[str, LedLook] = {
    "closed": LedLook(OFF),
    "open": LedLook(GREEN, 0.1, 1.9),
    "calling": LedLook(GREEN, 0.5, 0.5),
    "serving": LedLook(GREEN),
    "error": LedLook(GREEN, 0.1, 0.1),
    "offline": LedLook(OFF),
}


class StatusLed:
    """An RGB LED (three pins, no PWM needed) or a single LED, showing a named look."""

    def __init__(
        self,
        *,
        red: int | None = None,
        green: int | None = None,
        blue: int | None = None,
        single: int | None = None,
        active_high: bool = True,
        pin_factory: Factory | None = None,
    ) -> None:
        self._rgb: RGBLED | None = None
        self._single: LED | None = None
        if single is not None:
            self._single = LED(single, active_high=active_high, pin_factory=pin_factory)
            self.looks = SINGLE_LOOKS
        else:
            if red is None or green is None or blue is None:
                raise ValueError("an RGB LED needs red, green and blue pins")
            self._rgb = RGBLED(
                red, green, blue, active_high=active_high, pwm=False, pin_factory=pin_factory
            )
            self.looks = LOOKS
        self.name = "closed"
        self.look = self.looks["closed"]

    def show(self, name: str) -> None:
        look = self.looks[name]
        if name == self.name:
            return
        self.name, self.look = name, look
        if self._rgb is not None:
            if look.on_s is None:
                self._rgb.color = look.color
            else:
                self._rgb.blink(
                    on_time=look.on_s,
                    off_time=look.off_s or look.on_s,
                    on_color=look.color,
                    off_color=OFF,
                    background=True,
                )
        elif self._single is not None:
            if look.color == OFF:
                self._single.off()
            elif look.on_s is None:
                self._single.on()
            else:
                self._single.blink(look.on_s, look.off_s or look.on_s, background=True)

    def lit(self) -> tuple[int, int, int]:
        """What the LED pins give right now (for tests and the demo)."""
        if self._rgb is not None:
            r, g, b = self._rgb.value
            return (int(r), int(g), int(b))
        assert self._single is not None
        return GREEN if self._single.value else OFF

    def close(self) -> None:
        for dev in (self._rgb, self._single):
            if dev is not None:
                dev.close()


# ---------------------------------------------------------------------------- buttons

ButtonHandler = Callable[[str, ButtonEvent], None]


class ButtonPanel:
    """Buttons (pin to ground, internal pull-up), debounced and classified in the project.

    With `auto_poll` (the default) a thread polls the classifiers at their deadlines with
    `clock`; tests with a fake clock pass `auto_poll=False` and call `poll()`.
    """

    def __init__(
        self,
        pins: dict[str, int],
        on_event: ButtonHandler,
        *,
        pin_factory: Factory | None = None,
        debounce_s: float = 0.03,
        long_press_s: float = 1.5,
        clock: Clock = time.monotonic,
        auto_poll: bool = True,
    ) -> None:
        self.on_event = on_event
        self.clock = clock
        self.buttons: dict[str, Button] = {}
        self.classifiers: dict[str, PressClassifier] = {}
        self._cond = threading.Condition()
        self._stopped = False
        now = clock()
        for name, pin in pins.items():
            b = Button(pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
            self.buttons[name] = b
            self.classifiers[name] = PressClassifier(
                debounce_s=debounce_s, long_press_s=long_press_s, pressed=b.is_pressed, now=now
            )
            b.when_pressed = self._edge_handler(name, True)
            b.when_released = self._edge_handler(name, False)
        self._thread: threading.Thread | None = None
        if auto_poll:
            self._thread = threading.Thread(target=self._run, name="desk-buttons", daemon=True)
            self._thread.start()

    def _edge_handler(self, name: str, pressed: bool) -> Callable[[], None]:
        def handler() -> None:
            self.edge(name, pressed)

        return handler

    def edge(self, name: str, pressed: bool, at: float | None = None) -> None:
        """A raw edge of button `name` (called by gpiozero from its pin thread)."""
        with self._cond:
            events = self.classifiers[name].edge(self.clock() if at is None else at, pressed)
            self._cond.notify_all()
        self._dispatch(name, events)

    def poll(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        due: list[tuple[str, ButtonEvent]] = []
        with self._cond:
            for name, c in self.classifiers.items():
                due += [(name, e) for e in c.poll(now)]
        due.sort(key=lambda ne: ne[1].at)
        for name, e in due:
            self._dispatch(name, [e])

    def _dispatch(self, name: str, events: list[ButtonEvent]) -> None:
        for e in events:
            log.debug("button %s: %s after %.3f s", name, e.kind, e.held_s)
            try:
                self.on_event(name, e)
            except Exception:
                log.exception("button handler failed")

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                deadline = earliest([c.next_deadline() for c in self.classifiers.values()])
                wait = None if deadline is None else max(0.0, deadline - self.clock())
                if wait is None or wait > 0:
                    self._cond.wait(wait)
                if self._stopped:
                    return
            self.poll()

    # ------------------------------------------------------------------ mock pins

    def mock_pin(self, name: str) -> Any:
        pin = self.buttons[name].pin
        if not hasattr(pin, "drive_low"):
            raise TypeError("pressing a button needs gpiozero's MockFactory")
        return pin

    def set_mock(self, name: str, pressed: bool, *, bounce: int = 0) -> None:
        """Drive a mock button's pin, with `bounce` extra contact chatter edges first."""
        pin = self.mock_pin(name)
        level = [pressed, not pressed] * bounce + [pressed]
        for pressed_now in level:
            (pin.drive_low if pressed_now else pin.drive_high)()
            if bounce:
                time.sleep(0.0005)

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        for b in self.buttons.values():
            b.close()


# ---------------------------------------------------------------------------- all parts


class DeskHardware:
    """Every part of one desk unit, made from its settings."""

    def __init__(
        self,
        settings: DeskSettings,
        on_button: ButtonHandler,
        *,
        pin_factory: Factory | None = None,
        clock: Clock = time.monotonic,
        auto_poll: bool = True,
    ) -> None:
        pins = settings.pins
        self.pin_factory = pin_factory
        self.led = StatusLed(
            red=pins.led_red,
            green=pins.led_green,
            blue=pins.led_blue,
            single=pins.led,
            active_high=pins.led_active_high,
            pin_factory=pin_factory,
        )
        self.display: NumberDisplay = make_display(pins.display, pin_factory)
        self.buttons = ButtonPanel(
            pins.buttons(),
            on_button,
            pin_factory=pin_factory,
            debounce_s=settings.debounce_ms / 1000,
            long_press_s=settings.long_press_s,
            clock=clock,
            auto_poll=auto_poll,
        )

    def close(self) -> None:
        self.buttons.close()
        self.led.close()
        self.display.close()
