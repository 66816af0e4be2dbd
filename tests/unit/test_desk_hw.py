"""desk/hw.py and desk/app.py on gpiozero's MockFactory (no broker, no Pi).

The LED's colours per desk state, the 7-segment text on LEDMultiCharDisplay, the TM1637
driver's bus traffic decoded by a fake chip per the datasheet, buttons debounced from
bouncy mock pin edges, and the controller's rules with a fake MQTT client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from desk.app import DeskUnit
from desk.config import DeskConfig, DeskPins, DeskSettings, DisplayPins, load_desk_config
from desk.debounce import ButtonEvent
from desk.hw import (
    LEDCHAR_FONT,
    SEGMENTS,
    ButtonPanel,
    LedCharNumberDisplay,
    StatusLed,
    TM1637Display,
    fit,
    make_pin_factory,
)
from firmware_common.config import ConfigError
from firmware_common.mqtt import NotConnected, RequestTimeout
from tests.support import waiting


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    return waiting.wait_until(pred, timeout, what, poll=0.005)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


# ---------------------------------------------------------------------------- the LED


def rgb_pins(f: MockFactory) -> tuple[int, int, int]:
    return tuple(int(f.pin(n).state) for n in (5, 6, 13))  # type: ignore[return-value]


def test_rgb_led_colours_per_state(factory: MockFactory) -> None:
    led = StatusLed(red=5, green=6, blue=13, pin_factory=factory)
    try:
        assert rgb_pins(factory) == (0, 0, 0)  # closed: off
        led.show("open")
        assert rgb_pins(factory) == (0, 1, 0) and led.lit() == (0, 1, 0)  # green steady
        led.show("serving")
        assert rgb_pins(factory) == (0, 0, 1)  # blue steady
        led.show("calling")  # yellow (red + green) blinking 0.5 s on, 0.5 s off
        wait_until(lambda: rgb_pins(factory) == (1, 1, 0), what="yellow")
        wait_until(lambda: rgb_pins(factory) == (0, 0, 0), what="the off phase")
        led.show("error")  # red, fast
        seen: set[tuple[int, int, int]] = set()
        t0 = time.monotonic()
        wait_until(lambda: seen.add(rgb_pins(factory)) or len(seen) == 2, what="red blinking")
        assert seen == {(1, 0, 0), (0, 0, 0)} and time.monotonic() - t0 < 2.0
        led.show("closed")
        assert rgb_pins(factory) == (0, 0, 0)
        assert led.look.describe() == "off"
        assert led.looks["calling"].describe() == "yellow blinking 0.5/0.5 s"
    finally:
        led.close()


def test_a_common_anode_led_inverts_the_pins(factory: MockFactory) -> None:
    led = StatusLed(red=5, green=6, blue=13, active_high=False, pin_factory=factory)
    led.show("open")
    assert rgb_pins(factory) == (1, 0, 1) and led.lit() == (0, 1, 0)
    led.close()


def test_a_single_led_tells_states_apart_by_rhythm(factory: MockFactory) -> None:
    led = StatusLed(single=12, pin_factory=factory)
    pin = factory.pin(12)
    led.show("serving")
    assert pin.state == 1
    led.show("closed")
    assert pin.state == 0
    led.show("calling")
    wait_until(lambda: pin.state == 1, what="on")
    wait_until(lambda: pin.state == 0, what="off")
    led.close()


# ---------------------------------------------------------------------------- 7 segments


def test_fit() -> None:
    assert fit("A012", 4) == "A012"
    assert fit("a12", 4) == " A12"
    assert fit("A012", 3) == "012"
    assert fit("Ä!1", 4) == "   1"
    assert fit("", 4) == "    "


def test_the_font_has_every_ticket_letter() -> None:
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ":
        assert c in SEGMENTS and c in LEDCHAR_FONT
    assert LEDCHAR_FONT["A"] == (1, 1, 1, 0, 1, 1, 1)  # a b c e f g
    assert LEDCHAR_FONT["0"] == (1, 1, 1, 1, 1, 1, 0)
    assert SEGMENTS["U"] != SEGMENTS["V"]


def test_ledchar_display_shows_a012(factory: MockFactory) -> None:
    pins = DisplayPins(
        kind="ledchar", segments=[4, 12, 16, 18, 19, 25, 26], digits=[20, 21, 23, 24]
    )
    d = LedCharNumberDisplay(pins, factory)
    try:
        d.show("A012")
        assert d.text == "A012"
        assert d.device.value == ("A", "0", "1", "2")
        # The multiplexer lights each digit in turn with its segments.
        seen: dict[int, tuple[int, ...]] = {}

        def sample() -> bool:
            digits = [int(factory.pin(n).state) for n in (20, 21, 23, 24)]
            segs = tuple(int(factory.pin(n).state) for n in (4, 12, 16, 18, 19, 25, 26))
            if sum(digits) == 1:
                seen[digits.index(1)] = segs
            return len(seen) == 4

        wait_until(sample, what="every digit lit")
        assert [seen[i] for i in range(4)] == [LEDCHAR_FONT[c] for c in "A012"]
        d.show("")
        assert d.device.value == (" ", " ", " ", " ")
    finally:
        d.close()


# ---------------------------------------------------------------------------- TM1637


class Bus:
    """A fake TM1637 on two recording mock pins: decodes frames, acknowledges bytes."""

    def __init__(self) -> None:
        self.clk: BusPin | None = None
        self.dio: BusPin | None = None
        self.frames: list[list[int]] = []
        self.trace: list[tuple[str, bool]] = []
        self._frame: list[int] | None = None
        self._bits: list[int] = []
        self._acking = False

    def changed(self, pin: BusPin, state: bool) -> None:
        assert self.clk is not None and self.dio is not None
        self.trace.append((pin.role, state))
        if pin.role == "dio" and self.clk.state and not self._acking:
            if not state:  # DIO falls while CLK is high: start
                self._frame, self._bits = [], []
            elif self._frame is not None:  # DIO rises while CLK is high: stop
                self.frames.append(self._frame)
                self._frame = None
        elif pin.role == "clk" and state and self._frame is not None:
            if len(self._bits) < 8:
                self._bits.append(int(self.dio.state))
                if len(self._bits) == 8:
                    self._frame.append(sum(b << i for i, b in enumerate(self._bits)))
            else:  # the ninth clock: the ACK was read; the next byte follows
                self._bits = []
        elif pin.role == "clk" and not state and self._acking:
            self._acking = False
            self.dio.drive_high()  # release DIO after the ninth clock

    def dio_input(self) -> None:
        # The driver lets go of DIO after the eighth bit: the chip pulls it low (ACK).
        if self._frame is not None and len(self._bits) == 8:
            self._acking = True
            assert self.dio is not None
            self.dio.drive_low()


BUS = Bus()


class BusPin(MockPin):
    role = "?"

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed:
            BUS.changed(self, value)
        return changed

    def _set_function(self, value: str) -> None:
        super()._set_function(value)
        if value == "input" and self.role == "dio":
            BUS.dio_input()


def test_tm1637_frames_follow_the_datasheet(factory: MockFactory) -> None:
    global BUS
    BUS = bus = Bus()
    bus.clk = factory.pin(20, pin_class=BusPin)
    bus.dio = factory.pin(21, pin_class=BusPin)
    bus.clk.role, bus.dio.role = "clk", "dio"
    d = TM1637Display(20, 21, pin_factory=factory, brightness=5, bit_delay_s=0)
    try:
        bus.frames.clear()
        d.show("A012")
        seg = [SEGMENTS[c] for c in "A012"]
        assert seg == [0x77, 0x3F, 0x06, 0x5B]
        assert bus.frames == [[0x40], [0xC0, *seg], [0x88 | 5]]
        assert d.missing_acks == 0 and d.text == "A012"
        assert bus.clk.state and bus.dio.state  # the bus is idle (both high) after a stop
        # On the wire: start, then 0x40 least significant bit first (DIO set while CLK
        # is low), the ninth clock for the ACK.
        bus.trace.clear()
        d.write_segments([0x01, 0, 0, 0])
        dio_at_rise = []
        dio = True
        for role, state in bus.trace:
            if role == "dio":
                dio = state
            elif state:
                dio_at_rise.append(int(dio))
        assert dio_at_rise[:9] == [0, 0, 0, 0, 0, 0, 1, 0, 0]  # 0x40, LSB first, then ACK
        bus.frames.clear()
        d.show("K3")
        assert bus.frames == [[0x40], [0xC0, 0, 0, SEGMENTS["K"], SEGMENTS["3"]], [0x8D]]
    finally:
        d.close()


def test_tm1637_without_a_module_counts_missing_acks(factory: MockFactory) -> None:
    d = TM1637Display(20, 21, pin_factory=factory, bit_delay_s=0)
    d.show("A001")
    assert d.missing_acks == 7  # 1 + 5 + 1 bytes, none acknowledged (DIO pulled up)
    d.close()


# ---------------------------------------------------------------------------- buttons


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_buttons_are_debounced_from_bouncy_mock_edges(factory: MockFactory) -> None:
    clock = FakeClock()
    got: list[tuple[str, str]] = []
    panel = ButtonPanel(
        {"next": 17, "recall": 27},
        lambda name, e: got.append((name, e.kind)),
        pin_factory=factory,
        clock=clock,
        auto_poll=False,
    )
    pin = factory.pin(17)

    def chatter(level: bool, n: int = 4) -> None:
        for lv in [level, not level] * n + [level]:
            (pin.drive_low if lv else pin.drive_high)()
            clock.t += 0.002

    try:
        chatter(True)
        panel.poll()
        assert got == []
        clock.t += 0.2
        chatter(False)
        panel.poll()
        assert got == []  # not settled yet
        clock.t += 0.03
        panel.poll()
        assert got == [("next", "press")]
        chatter(True)
        clock.t += 1.6
        panel.poll()
        assert got[-1] == ("next", "long")
        chatter(False)
        clock.t += 1.0
        panel.poll()
        assert got == [("next", "press"), ("next", "long")]
    finally:
        panel.close()


def test_the_poll_thread_fires_long_presses_while_held(factory: MockFactory) -> None:
    got: list[ButtonEvent] = []
    panel = ButtonPanel(
        {"finish": 22}, lambda _n, e: got.append(e), pin_factory=factory, long_press_s=0.3
    )
    try:
        panel.set_mock("finish", True, bounce=3)
        wait_until(lambda: got, what="the long press")
        assert got[0].kind == "long"
        assert panel.buttons["finish"].is_pressed  # still held
        panel.set_mock("finish", False, bounce=3)
        time.sleep(0.1)
        assert len(got) == 1
    finally:
        panel.close()


# ---------------------------------------------------------------------------- config


def test_config_file_and_pin_checks(tmp_path: Path) -> None:
    f = tmp_path / "desk.toml"
    f.write_text(
        '[device]\nid = "desk-kuopio-3"\nsite = "kuopio"\n'
        '[mqtt]\nhost = "10.0.0.2"\n'
        "[desk]\nlong_press_s = 2.0\n"
        "[desk.pins]\nnext = 23\n"
        '[desk.pins.display]\nkind = "ledchar"\nsegments = [4, 12, 16, 18, 19, 25, 26]\n'
        "digits = [20, 21, 24, 9]\n"
    )
    c = load_desk_config(f)
    assert c.device.id == "desk-kuopio-3" and c.desk.long_press_s == 2.0
    assert c.desk.pins.buttons() == {"next": 23, "recall": 27, "finish": 22}
    assert c.desk.desk is None  # from the scheduler's config
    f.write_text(f.read_text().replace("next = 23", "next = 5"))  # the red LED's pin
    with pytest.raises(ConfigError, match="GPIO5"):
        load_desk_config(f)
    with pytest.raises(ValueError):
        DisplayPins(kind="ledchar", segments=[1, 2, 3], digits=[4])
    with pytest.raises(ValueError):
        DeskPins(led_blue=None)
    assert DeskPins(led_red=None, led_green=None, led_blue=None, led=12).leds() == [12]


def test_pin_factory_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    assert make_pin_factory(None) is None
    assert isinstance(make_pin_factory("mock"), MockFactory)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert isinstance(make_pin_factory(None), MockFactory)
    with pytest.raises(ValueError, match="unknown"):
        make_pin_factory("nosuch")


# ---------------------------------------------------------------------------- the controller


class FakeConn:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def on_connect(self, hook: Callable[[], None]) -> None:
        self.client.hooks.append(hook)

    on_disconnect = on_connect


class FakeClient:
    """Stands in for DeskClient: replies come from `answer` (or block on `gate`)."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.connected.set()
        self.conn = FakeConn(self)
        self.hooks: list[Callable[[], None]] = []
        self.subs: dict[str, Callable[..., None]] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.status: dict[str, Any] = {}
        self.gate: threading.Event | None = None
        self.answer: Callable[[str], dict[str, Any]] = lambda verb: {"ok": True}

    def subscribe(self, topic: str, handler: Callable[..., None]) -> None:
        self.subs[topic] = handler

    def set_status(self, **fields: Any) -> None:
        self.status.update(fields)

    def request(self, verb: str, fields: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        self.sent.append((verb, fields))
        if not self.connected.is_set():
            raise NotConnected(verb)
        if self.gate is not None and not self.gate.wait(timeout):
            raise RequestTimeout(verb)
        return self.answer(verb)

    def deliver(self, topic: str, body: dict[str, Any]) -> None:
        self.subs[topic](topic, body, None)

    def start(self) -> None: ...

    def stop(self) -> None: ...


def make_unit(client: FakeClient, **settings: Any) -> DeskUnit:
    config = DeskConfig(
        device={"id": "desk-demo-1", "site": "demo"},  # type: ignore[arg-type]
        desk=DeskSettings(
            pins=DeskPins(display=DisplayPins(kind="none")), error_blink_s=0.3, **settings
        ),
    )
    return DeskUnit(config, pin_factory=MockFactory(), client=client)  # type: ignore[arg-type]


STATE = "vuoro/v1/demo/state/desk/1"


def test_the_controller_follows_config_and_state() -> None:
    client = FakeClient()
    unit = make_unit(client)
    try:
        assert unit.view().led == "offline" and unit.desk is None
        client.deliver("vuoro/v1/demo/config/desk-demo-1", {"desk": "One", "desks": ["1"]})
        assert unit.desk == "1" and client.status["desk"] == "1" and STATE in client.subs
        client.deliver(STATE, {"status": "calling", "ticket": "K007", "waiting": 3})
        v = unit.view()
        assert (v.led, v.display, v.waiting) == ("calling", "K007", 3)
        assert unit.state_text() == (
            "desk 1 [K007] calling, 3 waiting, LED yellow blinking 0.5/0.5 s"
        )
        client.deliver(STATE, {"status": "serving", "ticket": "K007", "waiting": 3})
        assert unit.view().led == "serving"
        client.deliver(STATE, {"status": "closed", "ticket": None, "waiting": 0})
        assert (unit.view().led, unit.view().display) == ("closed", "    ")
        client.deliver("vuoro/v1/scheduler/status", {"online": False})
        assert unit.view().led == "offline"
    finally:
        unit.stop()


@pytest.mark.parametrize(
    ("button", "kind", "status", "verb"),
    [
        ("next", "press", "open", "next"),
        ("next", "long", "calling", "noshow"),
        ("recall", "press", "calling", "recall"),
        ("recall", "long", "calling", "start"),
        ("finish", "press", "serving", "finish"),
        ("finish", "long", "closed", "open"),
        ("finish", "long", "open", "close"),
    ],
)
def test_buttons_map_to_verbs(button: str, kind: str, status: str, verb: str) -> None:
    client = FakeClient()
    unit = make_unit(client, desk="1")
    try:
        client.deliver(STATE, {"status": status, "ticket": None, "waiting": 0})
        unit._on_button(button, ButtonEvent(kind, 0.0, 0.1))  # type: ignore[arg-type]
        wait_until(lambda: unit.outcomes, what="the outcome")
        assert client.sent == [(verb, {"desk": "1"})]
    finally:
        unit.stop()


def test_presses_in_flight_are_ignored_and_errors_blink() -> None:
    client = FakeClient()
    client.gate = threading.Event()
    unit = make_unit(client, desk="1", request_timeout_s=5.0)
    try:
        client.deliver(STATE, {"status": "open", "ticket": None, "waiting": 1})
        unit.press("next", 0.05, bounce=2)
        wait_until(lambda: unit.view().busy, what="in flight")
        unit.press("next", 0.05, bounce=2)
        unit.press("recall", 0.05, bounce=2)
        wait_until(lambda: unit.ignored == 2, what="two ignored presses")
        client.answer = lambda verb: {
            "ok": False,
            "error": {"code": "nothing_waiting", "message": {"fi": "", "sv": "", "en": ""}},
        }
        client.gate.set()
        wait_until(lambda: unit.outcomes, what="the reply")
        assert [(o.verb, o.result) for o in unit.outcomes] == [("next", "nothing_waiting")]
        assert unit.view().led == "error" and unit.view().display == "----"
        wait_until(lambda: unit.view().led == "open", what="the blink's end")
        client.connected.clear()
        unit.press("finish", 0.05, bounce=2)
        wait_until(lambda: len(unit.outcomes) == 2, what="the refusal")
        assert unit.outcomes[1].result == "not_connected" and unit.view().led == "error"
        assert len(client.sent) == 2
    finally:
        unit.stop()


def test_a_successful_reply_updates_the_view_at_once() -> None:
    client = FakeClient()
    unit = make_unit(client, desk="1")
    try:
        client.deliver(STATE, {"status": "open", "ticket": None, "waiting": 1})
        client.answer = lambda verb: {
            "ok": True,
            "desk": {"desk": "1", "status": "calling", "ticket": "A012", "waiting": 0},
        }
        unit.press("next", 0.05)
        wait_until(lambda: unit.view().display == "A012", what="the number")
        assert unit.view().led == "calling"
    finally:
        unit.stop()
