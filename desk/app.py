"""The desk unit (`vuoro desk`): buttons in, desk verbs out, the desk's state on show.

What the unit shows always comes from the scheduler: the retained
`vuoro/v1/{site}/state/desk/{desk}` (and the `desk` of each verb's reply). A button press
sends one verb and waits for its reply (2 s by default):

| button | short press | long press (1.5 s, fires while held) |
|---|---|---|
| next | `next` | `noshow` (meant for a calling ticket; the scheduler refuses it otherwise) |
| recall | `recall` | `start` (the customer arrived) |
| finish | `finish` | `open` when the desk is closed (or unknown), else `close` |
| start (optional 4th) | `start` | - |
| toggle (optional) | `open` / `close` | - |

A refusal, a timeout or no link to the broker gives the error blink (red, fast, 2 s); the
number display keeps the last known state. A press while a command is in flight is
ignored. A desk never queues a command to send later (PROTOCOL.md: no stale `next`): no
durable outbox, a command is refused at once without a link, each command carries an
MQTT 5 message expiry equal to the reply timeout (the broker drops it if the scheduler
does not take it in time), and one whose reply timed out is taken out of paho's send
queue so it is not re-sent after a reconnect.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from gpiozero.pins import Factory
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from desk.config import DeskConfig, DeskPins, DeskSettings, DeviceSection, DisplayPins
from desk.debounce import ButtonEvent
from desk.hw import Clock, DeskHardware, fit, make_pin_factory
from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient, MqttSettings, NotConnected, RequestTimeout

log = logging.getLogger("vuoro.desk")

# (button, event kind) -> verb; "toggle" means open or close by the known state.
BUTTON_VERBS: dict[tuple[str, str], str] = {
    ("next", "press"): "next",
    ("next", "long"): "noshow",
    ("recall", "press"): "recall",
    ("recall", "long"): "start",
    ("finish", "press"): "finish",
    ("finish", "long"): "toggle",
    ("start", "press"): "start",
    ("toggle", "press"): "toggle",
}

# What the number display shows by desk status (calling and serving: the ticket).
IDLE_TEXT = {"closed": "", "open": "----"}


class DeskClient(DeviceClient):
    """A desk's DeviceClient: commands that expire and are never queued for later."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        device_id: str,
        site: str,
        version: str = "",
        command_ttl_s: float = 2.0,
    ) -> None:
        super().__init__(settings, device_id=device_id, site=site, role="desk", version=version)
        self.command_ttl_s = command_ttl_s
        self._mids: dict[str, int] = {}

    def send(self, verb: str, fields: dict[str, Any], *, durable: bool = False) -> str:
        if durable:
            raise ValueError("a desk never queues a command to send later")
        if not self.connected.is_set():
            raise NotConnected(f"{verb}: no connection to the broker")
        cmd_id = fields.get("id") or p.new_id()
        body = {"v": 1, "id": cmd_id, **{k: v for k, v in fields.items() if k != "id"}}
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = cmd_id.encode()
        props.ResponseTopic = self.reply_topic
        props.MessageExpiryInterval = max(1, math.ceil(self.command_ttl_s))
        info = self.conn.client.publish(
            p.Topics.cmd(self.site, self.device_id, verb), p.encode(body), qos=1, properties=props
        )
        self._mids[cmd_id] = info.mid
        return cmd_id

    def request(
        self, verb: str, fields: dict[str, Any], *, timeout: float = 2.0, durable: bool = False
    ) -> dict[str, Any]:
        cmd_id = fields.get("id") or p.new_id()
        try:
            return super().request(verb, {**fields, "id": cmd_id}, timeout=timeout, durable=durable)
        except RequestTimeout:
            self.forget(cmd_id)
            raise
        finally:
            self._mids.pop(cmd_id, None)

    def forget(self, cmd_id: str) -> bool:
        """Take an unanswered command out of paho's send queue (paho re-sends QoS 1
        messages not yet acknowledged after a reconnect). True if it was still there."""
        mid = self._mids.get(cmd_id)
        c = self.conn.client
        lock = getattr(c, "_out_message_mutex", None)
        out = getattr(c, "_out_messages", None)
        if mid is None or lock is None or out is None:
            return False
        with lock:
            msg = out.pop(mid, None)
            if msg is None:
                return False
            if msg.state == mqtt.mqtt_ms_wait_for_puback:  # counted as in flight
                c._inflight_messages = max(0, c._inflight_messages - 1)
        log.info("%s: dropped unanswered command %s from the send queue", self.device_id, cmd_id)
        return True


@dataclass(frozen=True)
class DeskView:
    """What the unit shows (and knows) at one moment."""

    desk: str | None
    status: str | None
    ticket: str | None
    waiting: int | None
    led: str
    """The LED's look: closed, open, calling, serving, error or offline."""
    led_text: str
    """The look in words, e.g. "yellow blinking 0.5/0.5 s"."""
    display: str
    """The text on the number display, e.g. "A012"."""
    connected: bool
    busy: bool
    last_error: str | None


@dataclass
class Outcome:
    verb: str
    result: str
    """`ok`, an error code, `timeout`, `not_connected` or `no_desk`."""
    at: float = field(default_factory=time.monotonic)


class DeskUnit:
    """One desk unit: hardware, MQTT link and the rules between them."""

    def __init__(
        self,
        config: DeskConfig,
        *,
        pin_factory: Factory | None = None,
        client: DeviceClient | None = None,
        clock: Clock = time.monotonic,
        auto_poll: bool = True,
        version: str = "",
    ) -> None:
        self.config = config
        s = config.desk
        self.settings = s
        if pin_factory is None:
            pin_factory = make_pin_factory(s.pin_factory)
        self.hw = DeskHardware(
            s, self._on_button, pin_factory=pin_factory, clock=clock, auto_poll=auto_poll
        )
        self.site = config.device.site
        self.client = client or DeskClient(
            config.mqtt,
            device_id=config.device.id,
            site=self.site,
            version=version,
            command_ttl_s=s.request_timeout_s,
        )
        self._lock = threading.RLock()
        self.desk: str | None = s.desk
        self.status: str | None = None
        self.ticket: str | None = None
        self.waiting: int | None = None
        self.scheduler_online: bool | None = None
        self.last_error: str | None = None
        self.outcomes: list[Outcome] = []
        # Called with (verb, reply) after each command a button sent; a timeout or a lost
        # link comes as a reply with ok false and its code (the demo's lobby logs these).
        self.on_reply: Callable[[str, dict[str, Any]], None] | None = None
        self.ignored = 0
        self._busy = False
        self._error_gen = 0
        self._error_until: threading.Timer | None = None
        self._watched: set[str] = set()
        self._observers: list[Callable[[DeskView], None]] = []
        self.client.subscribe(p.Topics.config(self.site, config.device.id), self._on_config)
        self.client.subscribe(p.Topics.SCHEDULER_STATUS, self._on_scheduler)
        self.client.conn.on_connect(self._render)
        self.client.conn.on_disconnect(self._render)
        if self.desk:
            self._watch(self.desk)
        self._render()

    # ------------------------------------------------------------------ life

    @classmethod
    def mock(
        cls,
        *,
        host: str,
        port: int,
        site: str,
        device_id: str,
        password: str,
        username: str | None = None,
        desk: str | None = None,
        display: str = "tm1637",
        **settings: Any,
    ) -> DeskUnit:
        """A desk unit on gpiozero's MockFactory with the default pins (tests, the demo)."""
        from gpiozero.pins.mock import MockFactory

        pins = DeskPins(display=DisplayPins(kind=display, bit_delay_us=0))  # type: ignore[arg-type]
        config = DeskConfig(
            device=DeviceSection(id=device_id, site=site),
            mqtt=MqttSettings(
                host=host,
                port=port,
                username=username or device_id,
                password=password,
                reconnect_min_s=1,
                reconnect_max_s=2,
            ),
            desk=DeskSettings(desk=desk, pin_factory="mock", pins=pins, **settings),
        )
        return cls(config, pin_factory=MockFactory())

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        with self._lock:
            self._error_gen += 1
            if self._error_until is not None:
                self._error_until.cancel()
        self.client.stop()
        self.hw.close()

    def observe(self, callback: Callable[[DeskView], None]) -> None:
        """Call `callback(view)` whenever what the unit shows may have changed."""
        self._observers.append(callback)

    # ------------------------------------------------------------------ the demo's keys

    def press(
        self, button: str, duration_s: float = 0.1, *, bounce: int = 3, block: bool = True
    ) -> threading.Thread | None:
        """Press a button on the mock pins for `duration_s` (>= 1.5 s: a long press), with
        `bounce` chatter edges at press and at release. `block=False` returns at once (the
        release happens in a thread, which is returned)."""

        def run() -> None:
            self.hw.buttons.set_mock(button, True, bounce=bounce)
            time.sleep(duration_s)
            self.hw.buttons.set_mock(button, False, bounce=bounce)

        if block:
            run()
            return None
        t = threading.Thread(target=run, name=f"press-{button}", daemon=True)
        t.start()
        return t

    def hold(self, button: str) -> None:
        """Key down (for a UI with key-up events); `release` lets go."""
        self.hw.buttons.set_mock(button, True, bounce=3)

    def release(self, button: str) -> None:
        self.hw.buttons.set_mock(button, False, bounce=3)

    def view(self) -> DeskView:
        with self._lock:
            return DeskView(
                desk=self.desk,
                status=self.status,
                ticket=self.ticket,
                waiting=self.waiting,
                led=self.hw.led.name,
                led_text=self.hw.led.look.describe(),
                display=self.hw.display.text,
                connected=self.client.connected.is_set(),
                busy=self._busy,
                last_error=self.last_error,
            )

    def state_text(self) -> str:
        """One line: e.g. `desk 1 [A012] calling, LED yellow blinking 0.5/0.5 s`."""
        v = self.view()
        parts = [f"desk {v.desk or '?'} [{v.display}] {v.status or 'unknown'}"]
        if v.waiting is not None:
            parts.append(f"{v.waiting} waiting")
        parts.append(f"LED {v.led_text}")
        if v.led == "error" and v.last_error:
            parts.append(f"error: {v.last_error}")
        if not v.connected:
            parts.append("offline")
        if v.busy:
            parts.append("sending")
        return ", ".join(parts)

    # ------------------------------------------------------------------ messages in

    def _on_config(self, _topic: str, body: dict[str, Any], _m: Any) -> None:
        desks = body.get("desks") or ([body["desk"]] if body.get("desk") else [])
        if self.settings.desk or not desks:
            return
        with self._lock:
            desk = str(desks[0])
            changed = desk != self.desk
            self.desk = desk
            if changed:
                self.status = self.ticket = self.waiting = None
        if changed:
            self._watch(desk)
            self._render()

    def _watch(self, desk: str) -> None:
        self.client.set_status(desk=desk)
        if desk not in self._watched:
            self._watched.add(desk)
            self.client.subscribe(p.Topics.desk_state(self.site, desk), self._on_desk_state)

    def _on_desk_state(self, topic: str, body: dict[str, Any], _m: Any) -> None:
        with self._lock:
            if self.desk is None or topic != p.Topics.desk_state(self.site, self.desk):
                return
            self._apply(body)
        self._render()

    def _on_scheduler(self, _topic: str, body: dict[str, Any], _m: Any) -> None:
        self.scheduler_online = body.get("online") is True
        self._render()

    def _apply(self, state: dict[str, Any]) -> None:
        status = state.get("status")
        if status in ("closed", "open", "calling", "serving"):
            self.status = status
            ticket = state.get("ticket")
            self.ticket = ticket if isinstance(ticket, str) else None
            waiting = state.get("waiting")
            self.waiting = waiting if isinstance(waiting, int) else None

    # ------------------------------------------------------------------ buttons

    def _on_button(self, button: str, event: ButtonEvent) -> None:
        verb = BUTTON_VERBS.get((button, event.kind))
        if verb is None:
            return
        with self._lock:
            if self._busy:
                self.ignored += 1
                log.info("%s %s ignored: a command is in flight", button, event.kind)
                return
            self._busy = True
            if verb == "toggle":
                verb = "open" if self.status in (None, "closed") else "close"
        threading.Thread(target=self._send, args=(verb,), name=f"desk-{verb}", daemon=True).start()
        self._render()

    def _send(self, verb: str) -> None:
        result = "ok"
        reply: dict[str, Any] | None = None
        try:
            desk = self.desk
            if desk is None:
                result = "no_desk"
                return
            try:
                reply = self.client.request(
                    verb, {"desk": desk}, timeout=self.settings.request_timeout_s
                )
            except RequestTimeout:
                result = "timeout"
                return
            except NotConnected:
                result = "not_connected"
                return
            if reply.get("ok") is True:
                state = reply.get("desk")
                if isinstance(state, dict) and str(state.get("desk", desk)) == self.desk:
                    with self._lock:
                        self._apply(state)
            else:
                err = reply.get("error")
                result = str(err.get("code")) if isinstance(err, dict) else "error"
        except Exception:
            log.exception("%s failed", verb)
            result = "error"
        finally:
            hook = self.on_reply
            if hook is not None:
                try:
                    hook(verb, reply or {"ok": False, "error": {"code": result, "message": {}}})
                except Exception:
                    log.exception("on_reply hook failed")
            with self._lock:
                self.outcomes.append(Outcome(verb, result))
                self._busy = False
                if result != "ok":
                    log.warning("%s: %s", verb, result)
                    self._error(result)
            self._render()

    def _error(self, code: str) -> None:
        """Blink red for `error_blink_s`; the number stays the last known (lock held)."""
        self.last_error = code
        self._error_gen += 1
        gen = self._error_gen
        if self._error_until is not None:
            self._error_until.cancel()

        def done() -> None:
            with self._lock:
                if gen == self._error_gen:
                    self._error_until = None
            self._render()

        self._error_until = threading.Timer(self.settings.error_blink_s, done)
        self._error_until.daemon = True
        self._error_until.start()

    # ------------------------------------------------------------------ show

    def _render(self) -> None:
        with self._lock:
            if self._error_until is not None:
                look = "error"
            elif not self.client.connected.is_set() or self.scheduler_online is False:
                look = "offline"
            else:
                look = self.status or "offline"
            self.hw.led.show(look)
            if self.status is not None:  # nothing known yet: the display stays as it is
                if self.status in ("calling", "serving") and self.ticket:
                    text = self.ticket
                else:
                    text = IDLE_TEXT.get(self.status, "")
                if fit(text, self.hw.display.width) != self.hw.display.text:
                    try:
                        self.hw.display.show(text)
                    except Exception:
                        log.exception("the number display failed")
        view = self.view()
        for cb in list(self._observers):
            try:
                cb(view)
            except Exception:
                log.exception("desk observer failed")


# ---------------------------------------------------------------------------- `vuoro desk`


def run(config: DeskConfig, *, version: str = "") -> int:
    """Run a desk unit until SIGINT or SIGTERM."""
    unit = DeskUnit(config, version=version)
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    unit.start()
    log.info("desk unit %s started", config.device.id)
    # systemd: ready now; watchdog pings from this loop while the broker link is up.
    from firmware_common.watchdog import Watchdog

    wd = Watchdog(link=unit.client.connected.is_set)
    wd.ready()
    try:
        while not stop.wait(1.0):
            wd.beat()
    finally:
        unit.stop()
    return 0
