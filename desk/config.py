"""The desk unit's configuration file (`vuoro desk --config desk.toml`).

```toml
[device]
id = "desk-kuopio-3"
site = "kuopio"

[mqtt]
host = "vuoro.local"
port = 8883
tls = true
password_file = "/etc/vuoro/mqtt-password"

[desk]
# desk = "3"              # default: the first of `desks` in the scheduler's config/{device}
# pin_factory = "lgpio"   # default: $GPIOZERO_PIN_FACTORY, else gpiozero's choice
long_press_s = 1.5
debounce_ms = 30

[desk.pins]               # BCM numbers
next = 17
recall = 27
finish = 22
led_red = 5
led_green = 6
led_blue = 13

[desk.pins.display]
kind = "tm1637"
clk = 20
dio = 21
```
Scalars of `[device]`, `[mqtt]` and `[desk]` may be overridden by the environment, e.g.
`VUORO_DESK_PIN_FACTORY=mock` (see firmware_common/config.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from firmware_common import config as fc
from firmware_common.mqtt import MqttSettings
from firmware_common.protocol import DeviceId, SiteId

Bcm = Annotated[int, Field(ge=0, le=53)]  # a BCM GPIO number


class DisplayPins(BaseModel):
    """The number display: a TM1637 module, a multiplexed 7-segment display, or none."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["tm1637", "ledchar", "none"] = "tm1637"
    # tm1637
    clk: Bcm | None = 20
    dio: Bcm | None = 21
    brightness: int = Field(default=7, ge=0, le=7)
    bit_delay_us: float = Field(default=50.0, ge=0, le=10_000)
    # ledchar: segment pins a..g (and dp), one common pin per digit (left to right)
    segments: list[Bcm] = Field(default_factory=list)
    dp: Bcm | None = None
    digits: list[Bcm] = Field(default_factory=list)
    segments_active_high: bool = True  # common cathode: a segment is lit by a high pin
    digits_active_high: bool = True  # the digit transistors switch on with a high pin

    @model_validator(mode="after")
    def _complete(self) -> DisplayPins:
        if self.kind == "tm1637" and (self.clk is None or self.dio is None):
            raise ValueError("a tm1637 display needs `clk` and `dio`")
        if self.kind == "ledchar":
            if len(self.segments) != 7:
                raise ValueError("a ledchar display needs 7 `segments` pins (a..g)")
            if not 1 <= len(self.digits) <= 8:
                raise ValueError("a ledchar display needs 1 to 8 `digits` pins")
        return self

    def used(self) -> list[int]:
        if self.kind == "tm1637":
            return [p for p in (self.clk, self.dio) if p is not None]
        if self.kind == "ledchar":
            return [*self.segments, *([self.dp] if self.dp is not None else []), *self.digits]
        return []


class DeskPins(BaseModel):
    """BCM pin numbers. Buttons connect the pin to ground (internal pull-up)."""

    model_config = ConfigDict(extra="forbid")
    next: Bcm = 17
    recall: Bcm = 27
    finish: Bcm = 22
    start: Bcm | None = None
    """Optional 4th button: the customer arrived (`start`)."""
    toggle: Bcm | None = None
    """Optional open/close button."""
    # An RGB LED (three pins) or, with `led`, a single LED.
    led_red: Bcm | None = 5
    led_green: Bcm | None = 6
    led_blue: Bcm | None = 13
    led: Bcm | None = None
    led_active_high: bool = True  # common cathode RGB LED / LED to ground
    display: DisplayPins = Field(default_factory=DisplayPins)

    @model_validator(mode="after")
    def _distinct(self) -> DeskPins:
        rgb = (self.led_red, self.led_green, self.led_blue)
        if self.led is None and None in rgb:
            raise ValueError("give `led_red`, `led_green` and `led_blue`, or a single `led`")
        used = self.used()
        dup = sorted({p for p in used if used.count(p) > 1})
        if dup:
            raise ValueError(f"pins used twice: {', '.join(f'GPIO{p}' for p in dup)}")
        return self

    def buttons(self) -> dict[str, int]:
        named = {
            "next": self.next,
            "recall": self.recall,
            "finish": self.finish,
            "start": self.start,
            "toggle": self.toggle,
        }
        return {k: v for k, v in named.items() if v is not None}

    def leds(self) -> list[int]:
        if self.led is not None:
            return [self.led]
        return [p for p in (self.led_red, self.led_green, self.led_blue) if p is not None]

    def used(self) -> list[int]:
        return [*self.buttons().values(), *self.leds(), *self.display.used()]


class DeskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    desk: str | None = None
    """The desk id to command; default: `desks[0]` of the scheduler's device config."""
    pin_factory: str | None = None
    """gpiozero pin factory (`lgpio`, `rpigpio`, `mock`, ...); default: the environment
    variable GPIOZERO_PIN_FACTORY, else gpiozero's own choice (lgpio on a Pi 5)."""
    long_press_s: float = Field(default=1.5, gt=0.1, le=10)
    debounce_ms: float = Field(default=30.0, ge=0, le=500)
    request_timeout_s: float = Field(default=2.0, gt=0, le=30)
    error_blink_s: float = Field(default=2.0, gt=0, le=30)
    pins: DeskPins = Field(default_factory=DeskPins)


class DeviceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: DeviceId
    site: SiteId


class DeskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: DeviceSection
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)


def load_desk_config(path: str | Path) -> DeskConfig:
    """Read and validate a desk unit's TOML file (ConfigError on any problem)."""
    return fc.load(DeskConfig, path)
