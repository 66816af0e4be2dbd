"""The desk unit against the real demo broker and scheduler, on gpiozero mock pins.

Buttons are pressed by driving the mock pins, with contact chatter at press and release.
What the unit shows (LED look, number display) must follow the scheduler's desk state;
refusals and a lost link give the error blink, and nothing is ever sent later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from desk.app import DeskUnit, DeskView
from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient
from tests.support import waiting
from vuoro.demo import Demo

TIMEOUT = 30.0  # generous: a busy 2-core machine restarts the scheduler slowly
LONG = 1.8  # seconds held: a long press (threshold 1.5 s)


def wait_until(pred: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    return waiting.wait_until(pred, timeout, what)


class Watch:
    """Retained and live messages one client received."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def handler(self, topic: str, body: dict[str, Any], _msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.items.append((topic, body))

    def on(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for t, b in self.items if mqtt.topic_matches_sub(topic, t)]

    def last(self, topic: str) -> dict[str, Any] | None:
        got = self.on(topic)
        return got[-1] if got else None


@pytest.fixture
def unit(demo: Demo) -> Iterator[DeskUnit]:
    dev = demo.device("desk-demo-1")
    u = DeskUnit.mock(
        host=demo.broker.host,
        port=demo.broker.port,
        site=demo.site,
        device_id=dev.id,
        username=dev.username,
        password=dev.password,
    )
    u.start()
    wait_until(lambda: u.view().status is not None, what="the desk's retained state")
    yield u
    u.stop()


@pytest.fixture
def lobby(connect: Callable[..., DeviceClient]) -> Watch:
    display = connect("display-demo-1")
    w = Watch()
    display.subscribe(p.Topics.state_filter("demo"), w.handler)
    return w


def view_is(u: DeskUnit, what: str, **want: Any) -> DeskView:
    def check() -> DeskView | None:
        v = u.view()
        return v if all(getattr(v, k) == x for k, x in want.items()) else None

    return wait_until(check, what=f"{what}: {want}")


def outcome(u: DeskUnit, n: int) -> str:
    """The result of the unit's n-th command (0-based), once it has one."""
    wait_until(lambda: len(u.outcomes) > n, what=f"command {n} answered")
    return u.outcomes[n].result


def open_desk(u: DeskUnit) -> None:
    n = len(u.outcomes)
    u.press("finish", LONG)  # a long press of finish opens a closed desk
    assert outcome(u, n) == "ok"
    view_is(u, "the desk opens", status="open", led="open", display="----")


def test_next_calls_the_ticket_and_long_press_marks_a_noshow(
    unit: DeskUnit, connect: Callable[..., DeviceClient], lobby: Watch
) -> None:
    assert unit.view().status == "closed" and unit.view().led == "closed"
    assert unit.client.status.get("desk") == "1"
    open_desk(unit)
    assert unit.hw.led.lit() == (0, 1, 0)
    kiosk = connect("kiosk-demo-1")
    number = kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ticket"]["number"]
    assert number == "A001"
    view_is(unit, "the ticket waits", waiting=1)

    unit.press("next", 0.12)  # bouncy short press
    assert outcome(unit, 1) == "ok"
    v = view_is(unit, "the call", status="calling", ticket="A001", display="A001", led="calling")
    assert v.led_text == "yellow blinking 0.5/0.5 s"
    wait_until(lambda: unit.hw.led.lit() == (1, 1, 0), what="the LED's yellow phase")
    assert unit.hw.display.missing_acks >= 0  # type: ignore[attr-defined]
    # The lobby's snapshot shows it too.
    snap = wait_until(
        lambda: (s := lobby.last("vuoro/v1/demo/state/display")) and s["called"] and s,
        what="the display snapshot with the call",
    )
    assert snap["called"][0]["number"] == "A001" and snap["called"][0]["desk"] == "1"
    assert unit.state_text().startswith("desk 1 [A001] calling")

    unit.press("next", LONG)  # long press: no-show
    assert [o.verb for o in unit.outcomes] == ["open", "next", "noshow"]
    assert outcome(unit, 2) == "ok"
    view_is(unit, "the no-show", status="open", ticket=None, display="----", led="open")
    wait_until(
        lambda: lobby.last("vuoro/v1/demo/state/desk/1")["status"] == "open",  # type: ignore[index]
        what="the retained desk state",
    )


def test_a_refusal_gives_the_error_blink(unit: DeskUnit) -> None:
    open_desk(unit)
    unit.press("next")  # nobody waits
    assert outcome(unit, 1) == "nothing_waiting"
    v = view_is(unit, "the error blink", led="error")
    assert v.last_error == "nothing_waiting" and v.display == "----" and v.status == "open"
    assert v.led_text == "red blinking 0.1/0.1 s"
    t0 = time.monotonic()
    view_is(unit, "the blink ends", led="open")
    assert time.monotonic() - t0 < unit.settings.error_blink_s + 1.0


def test_a_press_while_a_command_is_in_flight_is_ignored(demo: Demo, unit: DeskUnit) -> None:
    open_desk(unit)
    demo.stop_scheduler()  # commands now wait for their reply until the timeout
    unit.press("recall")
    view_is(unit, "the command in flight", busy=True)
    unit.press("next")
    unit.press("finish")
    assert outcome(unit, 1) == "timeout"
    assert unit.ignored == 2 and [o.verb for o in unit.outcomes] == ["open", "recall"]


def test_no_stale_next_after_the_broker_returns(
    demo: Demo, unit: DeskUnit, connect: Callable[..., DeviceClient]
) -> None:
    open_desk(unit)
    kiosk = connect("kiosk-demo-1")
    assert kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ok"]
    view_is(unit, "the ticket waits", waiting=1)

    demo.broker.kill()
    view_is(unit, "the link lost", connected=False, led="offline")
    unit.press("next")
    assert outcome(unit, 1) == "not_connected"
    v = view_is(unit, "the error blink", led="error")
    assert v.display == "----" and v.status == "open"  # the last known state stays

    demo.broker.start()  # it lost its retained messages; the scheduler publishes again
    view_is(unit, "back online", connected=True, led="open")
    # A later command is carried out after anything sent before it: recall is refused,
    # so no `next` called A001 in between.
    unit.press("recall")
    assert outcome(unit, 2) == "no_current_ticket"
    v = unit.view()
    assert v.status == "open" and v.ticket is None and v.waiting == 1
    assert [o.verb for o in unit.outcomes] == ["open", "next", "recall"]


def test_no_stale_next_after_the_scheduler_returns(
    demo: Demo, unit: DeskUnit, connect: Callable[..., DeviceClient]
) -> None:
    """A command that timed out expires in the broker: the scheduler never gets it late."""
    open_desk(unit)
    kiosk = connect("kiosk-demo-1")
    assert kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ok"]
    view_is(unit, "the ticket waits", waiting=1)

    demo.stop_scheduler()
    view_is(unit, "the scheduler offline", led="offline")
    sent = time.monotonic()
    unit.press("next")
    assert outcome(unit, 1) == "timeout"
    view_is(unit, "the error blink", led="error", display="----")
    # The command's expiry (the reply timeout, in whole seconds) must pass in the broker.
    expiry = unit.settings.request_timeout_s + 1.0
    while time.monotonic() < sent + expiry:
        time.sleep(0.05)
    demo.start_scheduler()
    view_is(unit, "the scheduler back", led="open")
    unit.press("recall")
    assert outcome(unit, 2) == "no_current_ticket"
    v = unit.view()
    assert v.status == "open" and v.ticket is None and v.waiting == 1
