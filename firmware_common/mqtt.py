"""MQTT for every Vuoro process, on paho-mqtt 2.x (MQTT 5, VERSION2 callbacks).

`Connection` is the shared part: credentials, TLS, a persistent session (clean_start
false, session expiry), a retained last will, reconnect with back-off (paho retries in
its network thread, from the first connect on), and subscriptions that are renewed on
every connect.

`DeviceClient` adds what a device needs: its retained status, commands with request/reply
and a timeout, and a durable outbox (SQLite) so that a command sent while the link was
down, or by a process that then died, is sent again after the reconnect with the SAME id
(the scheduler answers a repeated id with the first reply and changes nothing twice).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field

from firmware_common import protocol as p
from firmware_common.localdb import open_durable

log = logging.getLogger("vuoro.mqtt")

Handler = Callable[[str, dict[str, Any], mqtt.MQTTMessage], None]


class MqttSettings(BaseModel):
    """The `[mqtt]` table of every role's configuration file."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    client_id: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=24 * 3600, ge=3600)
    reconnect_min_s: int = Field(default=1, ge=1)
    reconnect_max_s: int = Field(default=30, ge=1)

    def secret(self) -> str | None:
        if self.password is not None:
            return self.password
        if self.password_file:
            return Path(self.password_file).read_text().strip()
        return None


class RequestTimeout(Exception):
    """No reply within the timeout (the broker or the scheduler is unreachable)."""


class NotConnected(Exception):
    """The command was not sent: there is no link to the broker (non-durable commands)."""


class _Client(mqtt.Client):
    """paho's client, able to queue many packets with ONE wake-up of its network thread.

    paho wakes its network thread (a byte on an internal socket pair) for every packet
    queued from another thread; each wake-up hands the GIL back and forth between the
    threads. Inside `held()`, the calling thread's packets are queued without it, and
    `wake()` wakes the network thread once to write them all. Without paho's socket pair
    (another paho version) both do nothing and every packet wakes it as before.
    """

    _holder: int | None = None

    def _packet_queue(self, *args: Any, **kwargs: Any) -> mqtt.MQTTErrorCode:
        if self._holder is None or self._holder != threading.get_ident():
            return super()._packet_queue(*args, **kwargs)  # type: ignore[misc]
        pair = getattr(self, "_sockpairW", None)
        self._sockpairW = None
        try:
            return super()._packet_queue(*args, **kwargs)  # type: ignore[misc]
        finally:
            if getattr(self, "_sockpairW", None) is None:
                self._sockpairW = pair

    @contextlib.contextmanager
    def held(self) -> Any:
        self._holder = threading.get_ident()
        try:
            yield
        finally:
            self._holder = None
            self.wake()

    def wake(self) -> None:
        pair = getattr(self, "_sockpairW", None)
        if pair is not None:
            with contextlib.suppress(OSError):
                pair.send(b"0")


class Connection:
    """One MQTT 5 connection with a persistent session, last will and auto-reconnect."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        will: tuple[str, dict[str, Any]] | None = None,
        manual_ack: bool = False,
        max_inflight: int = 100,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.connected = threading.Event()
        self._subs: list[tuple[str, Handler]] = []
        self._raw_subs: list[tuple[str, Callable[[mqtt.MQTTMessage], None]]] = []
        self._on_connect_hooks: list[Callable[[], None]] = []
        self._on_disconnect_hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._started = False
        self._stopping = False
        c = _Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
        c.enable_logger(logging.getLogger(f"vuoro.paho.{client_id}"))
        username = settings.username or client_id
        c.username_pw_set(username, settings.secret())
        if settings.tls:
            ctx = ssl.create_default_context(cafile=settings.ca_file)
            c.tls_set_context(ctx)
        if will is not None:
            topic, body = will
            c.will_set(topic, p.encode(body), qos=1, retain=True)
        c.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        c.max_inflight_messages_set(max_inflight)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        self._started = True

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self, final: tuple[str, dict[str, Any]] | None = None) -> None:
        """Disconnect cleanly; `final` is published (retained) first, e.g. offline status."""
        if not self._started:
            return
        if final is not None and self.connected.is_set():
            info = self.client.publish(final[0], p.encode(final[1]), qos=1, retain=True)
            with contextlib.suppress(Exception):
                info.wait_for_publish(2.0)
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False
        self.connected.clear()

    def on_connect(self, hook: Callable[[], None]) -> None:
        self._on_connect_hooks.append(hook)

    def on_disconnect(self, hook: Callable[[], None]) -> None:
        self._on_disconnect_hooks.append(hook)

    # ------------------------------------------------------------------ messages

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        with self._lock:
            self._subs.append((topic_filter, handler))
        if self.connected.is_set():
            self.client.subscribe(topic_filter, qos=1)

    def subscribe_raw(self, topic_filter: str, handler: Callable[[mqtt.MQTTMessage], None]) -> None:
        """Like `subscribe`, but the handler gets the undecoded message (the scheduler
        decodes, answers and acknowledges every message itself)."""
        with self._lock:
            self._raw_subs.append((topic_filter, handler))
        if self.connected.is_set():
            self.client.subscribe(topic_filter, qos=1)

    def publish(
        self,
        topic: str,
        body: dict[str, Any] | None,
        *,
        retain: bool = False,
        correlation: str | None = None,
        response_topic: str | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """QoS 1; `body` None sends an empty payload (with `retain`: clears the topic)."""
        props = None
        if correlation is not None or response_topic is not None:
            props = Properties(PacketTypes.PUBLISH)
            if correlation is not None:
                props.CorrelationData = correlation.encode()
            if response_topic is not None:
                props.ResponseTopic = response_topic
        payload = p.encode(body) if body is not None else b""
        return self.client.publish(topic, payload, qos=1, retain=retain, properties=props)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Publish and acknowledge many messages: the network thread is woken once, at
        the end, to send them all (the scheduler's worker, per batch)."""
        return self.client.held()

    def ack(self, mid: int, qos: int = 1) -> None:
        if qos > 0:
            self.client.ack(mid, qos)

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _props: Any) -> None:
        if rc.is_failure:
            log.warning("%s: broker refused the connection: %s", self.client_id, rc)
            return
        log.info(
            "%s: connected to %s:%s (session %s)",
            self.client_id,
            self.settings.host,
            self.settings.port,
            "resumed" if flags.session_present else "new",
        )
        no_delay(client)
        with self._lock:
            filters = sorted({f for f, _ in self._subs} | {f for f, _ in self._raw_subs})
        if filters:
            client.subscribe([(f, 1) for f in filters])
        self.connected.set()
        for hook in self._on_connect_hooks:
            try:
                hook()
            except Exception:
                log.exception("%s: on-connect hook failed", self.client_id)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, rc: Any, _props: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if self._stopping:
            log.info("%s: disconnected", self.client_id)
        elif was:
            log.warning("%s: disconnected (%s); reconnecting", self.client_id, rc)
        for hook in self._on_disconnect_hooks:
            try:
                hook()
            except Exception:
                log.exception("%s: on-disconnect hook failed", self.client_id)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            raw = [h for f, h in self._raw_subs if mqtt.topic_matches_sub(f, msg.topic)]
            handlers = [h for f, h in self._subs if mqtt.topic_matches_sub(f, msg.topic)]
        for rh in raw:
            try:
                rh(msg)
            except Exception:
                log.exception("%s: handler for %s failed", self.client_id, msg.topic)
        if not handlers:
            return
        try:
            body = p.decode(msg.payload)
        except p.BadPayload as exc:
            log.warning("%s: ignored a message on %s: %s", self.client_id, msg.topic, exc)
            return
        for h in handlers:
            try:
                h(msg.topic, body, msg)
            except Exception:
                log.exception("%s: handler for %s failed", self.client_id, msg.topic)


def no_delay(client: mqtt.Client) -> None:
    """Turn off Nagle's algorithm on the client's socket (paho leaves it on).

    With it on, a small packet written while the previous one is still unacknowledged
    waits for the peer's delayed ACK: up to 40 ms per reply or state message.
    """
    sock = client.socket()
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- the outbox


class Outbox:
    """Commands not yet answered, kept on disk (SQLite) until their reply arrives."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_durable(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " id TEXT PRIMARY KEY, topic TEXT NOT NULL, body TEXT NOT NULL,"
            " created REAL NOT NULL)"
        )
        self._lock = threading.Lock()

    def put(self, cmd_id: str, topic: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?)",
                (cmd_id, topic, json.dumps(body), time.time()),
            )

    def done(self, cmd_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM outbox WHERE id = ?", (cmd_id,)).rowcount > 0

    def pending(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, body FROM outbox ORDER BY created"
            ).fetchall()
        return [(i, t, json.loads(b)) for i, t, b in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------------- devices


@dataclass
class _Waiter:
    event: threading.Event
    reply: dict[str, Any] | None = None


class DeviceClient:
    """A kiosk's, display's or desk unit's link to the scheduler."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        device_id: str,
        site: str,
        role: str,
        version: str = "",
        outbox_path: str | Path | None = None,
        on_late_reply: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not p.DEVICE_ID_RE.match(device_id):
            raise ValueError(f"device id {device_id!r} is not like 'kiosk-kuopio-1'")
        self.device_id = device_id
        self.site = site
        self.role = role
        self.status: dict[str, Any] = {"v": 1, "online": True, "role": role, "version": version}
        self.status_topic = p.Topics.status(site, device_id)
        self.reply_topic = p.Topics.reply(site, device_id)
        self.conn = Connection(
            settings,
            settings.client_id or device_id,
            will=(self.status_topic, {"v": 1, "online": False}),
        )
        self.outbox = Outbox(outbox_path) if outbox_path else None
        self.on_late_reply = on_late_reply
        self._waiters: dict[str, _Waiter] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()  # ids whose reply was handed on
        self._wlock = threading.Lock()
        self.conn.subscribe(self.reply_topic, self._on_reply)
        if self.outbox:
            # A broker that lost its sessions (crash, restart) drops what is re-sent before
            # the scheduler subscribes again; the scheduler says online after subscribing.
            self.conn.subscribe(p.Topics.SCHEDULER_STATUS, self._on_scheduler_status)
        self.conn.on_connect(self._connected)

    @property
    def connected(self) -> threading.Event:
        return self.conn.connected

    def start(self) -> None:
        self.conn.start()

    def stop(self) -> None:
        self.conn.stop(final=(self.status_topic, {"v": 1, "online": False}))
        if self.outbox:
            self.outbox.close()

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        self.conn.subscribe(topic_filter, handler)

    def set_status(self, **fields: Any) -> None:
        """Update the retained device status (e.g. printer="paper_low")."""
        self.status.update(fields)
        if self.conn.connected.is_set():
            self.conn.publish(self.status_topic, self.status, retain=True)

    def _connected(self) -> None:
        self.conn.publish(self.status_topic, self.status, retain=True)
        self._resend()

    def _on_scheduler_status(self, _t: str, body: dict[str, Any], _m: mqtt.MQTTMessage) -> None:
        if body.get("online") is True:
            self._resend()

    def _resend(self) -> None:
        if self.outbox and self.conn.connected.is_set():
            for cmd_id, topic, body in self.outbox.pending():
                log.info("%s: re-sending unanswered command %s", self.device_id, cmd_id)
                self.conn.publish(topic, body, correlation=cmd_id, response_topic=self.reply_topic)

    # ------------------------------------------------------------------ commands

    def send(self, verb: str, fields: dict[str, Any], *, durable: bool = False) -> str:
        """Publish a command; returns its id. Durable commands survive restarts and
        link loss; others are refused at once when the link is down (NotConnected)."""
        cmd_id = fields.get("id") or p.new_id()
        body = {"v": 1, "id": cmd_id, **{k: v for k, v in fields.items() if k != "id"}}
        topic = p.Topics.cmd(self.site, self.device_id, verb)
        if len(p.encode(body)) > p.MAX_PAYLOAD:
            # The broker would cut the link, and paho would re-send it on every reconnect.
            raise ValueError(f"{verb}: command over {p.MAX_PAYLOAD} bytes")
        if durable and self.outbox:
            self.outbox.put(cmd_id, topic, body)
        elif not self.conn.connected.is_set():
            raise NotConnected(f"{verb}: no connection to the broker")
        if self.conn.connected.is_set():
            self.conn.publish(topic, body, correlation=cmd_id, response_topic=self.reply_topic)
        return cmd_id

    def request(
        self, verb: str, fields: dict[str, Any], *, timeout: float = 5.0, durable: bool = False
    ) -> dict[str, Any]:
        """Send a command and wait for its reply (`{"ok": ...}`), or raise RequestTimeout.

        A durable command that times out stays in the outbox: it is sent again on the next
        connect and whenever the scheduler says it is online, and its reply then goes to
        `on_late_reply` (once, however many copies were answered).
        """
        cmd_id = fields.get("id") or p.new_id()
        waiter = _Waiter(threading.Event())
        with self._wlock:
            self._waiters[cmd_id] = waiter
        try:
            self.send(verb, {**fields, "id": cmd_id}, durable=durable)
            if not waiter.event.wait(timeout):
                raise RequestTimeout(f"{verb}: no reply within {timeout:.1f} s")
            assert waiter.reply is not None
            return waiter.reply
        finally:
            with self._wlock:
                self._waiters.pop(cmd_id, None)

    def _on_reply(self, _topic: str, body: dict[str, Any], _msg: mqtt.MQTTMessage) -> None:
        cmd_id = body.get("id")
        if not isinstance(cmd_id, str):
            return
        if self.outbox:
            self.outbox.done(cmd_id)
        with self._wlock:
            waiter = self._waiters.get(cmd_id)
            # A command sent twice (re-sent after a reconnect) is answered twice, alike.
            repeated = cmd_id in self._answered
            self._answered[cmd_id] = None
            self._answered.move_to_end(cmd_id)
            if len(self._answered) > 10_000:
                self._answered.popitem(last=False)
        if waiter is not None:
            waiter.reply = body
            waiter.event.set()
        elif self.on_late_reply is not None and not repeated:
            self.on_late_reply(body)
