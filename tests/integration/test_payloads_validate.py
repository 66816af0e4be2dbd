"""Every payload the code sends validates against its JSON Schema (docs/schemas/).

1. The real service layer (Scheduler on a SQLite Store) driven through every verb and
   most error codes: every Outgoing (replies ok and error, display and desk state,
   event/called, configs of every role) is validated by its topic's schema. Commands are
   checked both ways: what the scheduler answers `bad_request` the schema rejects, and
   what it accepts the schema accepts.
2. DeviceClients over the real broker of the demo: an observer sees everything on
   `vuoro/v1/#` (device status and last words, commands, replies, state, events, configs,
   scheduler status) and every message validates; together the two tests exercise every
   schema of SCHEMA_MODELS.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_common import protocol as p
from firmware_common import schemas
from firmware_common.mqtt import DeviceClient
from scheduler.config import DEMO_SITE, load_config
from scheduler.domain.hours import WeeklyHours
from scheduler.domain.model import DeviceDef, SiteDef, SiteState
from scheduler.service import Incoming, Outgoing, Scheduler
from scheduler.store.db import Store
from vuoro.demo import Demo

# Monday 2026-11-23 14:00 in Helsinki: the demo's walk-in queues are open, passport
# pick-up (mon-fri 9-11) is not.
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCHEDULER_SCHEMAS = {
    "reply-ok",
    "reply-error",
    "state-display",
    "state-desk",
    "event-called",
    "config-device",
}


def _sites() -> dict[str, SiteDef]:
    demo = load_config(DEMO_SITE).site_defs()["demo"]
    # `tax` takes one waiting ticket (queue_full); a desk unit whose second desk the site
    # does not have (unknown_desk: provisioning normally prevents that).
    queues = {**demo.queues, "tax": replace(demo.queues["tax"], max_waiting=1)}
    devices = {**demo.devices, "desk-odd-1": DeviceDef("desk-odd-1", "desk", ("1", "9"))}
    demo = replace(demo, queues=queues, devices=devices)
    # A second site that is closed now (opens on Saturday) and shows a notice.
    closed = replace(
        demo,
        id="closed",
        hours=WeeklyHours.from_mapping({"sat": "10:00-14:00"}),
        message={"fi": "Suljettu", "sv": "Stängt", "en": "Closed"},
        devices={
            "kiosk-closed-1": DeviceDef("kiosk-closed-1", "kiosk"),
            "display-closed-1": DeviceDef("display-closed-1", "display", layout="portrait"),
        },
    )
    return {"demo": demo, "closed": closed}


class Run:
    """Drives a Scheduler and validates everything it publishes."""

    def __init__(self, tmp_path: Path) -> None:
        self.now = START
        self.store = Store(f"sqlite:///{tmp_path / 'vuoro.db'}")
        self.store.migrate()
        self.sched = Scheduler(_sites(), self.store, clock=lambda: self.now)
        self.sched.load()
        self.seen: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.n = 0

    def check(self, out: list[Outgoing]) -> None:
        for o in out:
            ok = o.payload.get("ok")
            name = schemas.schema_for_topic(o.topic, ok if isinstance(ok, bool) else None)
            assert name is not None, f"no schema for {o.topic}"
            problems = schemas.errors(name, o.payload)
            assert not problems, f"{o.topic} ({name}): {problems}\n{json.dumps(o.payload)}"
            self.seen[name] += 1
            if name.startswith("reply-"):
                assert not o.retain and o.correlation == o.payload["id"]
                if not o.payload["ok"]:
                    self.codes[o.payload["error"]["code"]] += 1
            else:
                assert o.retain == (name != "event-called"), o.topic

    def tick(self, seconds: float = 5) -> None:
        self.now += timedelta(seconds=seconds)

    def batch(self, msgs: list[tuple[str, str, str, bytes]]) -> list[Outgoing]:
        """Several commands, (site, device, verb, payload), in one handle_batch."""
        self.tick()
        res = self.sched.handle_batch(
            [Incoming(p.Topics.cmd(site, dev, verb), body) for site, dev, verb, body in msgs]
        )
        self.check(res.out)
        return res.out

    def send(
        self,
        device: str,
        verb: str,
        fields: dict[str, Any] | None = None,
        *,
        site: str = "demo",
        raw: bytes | None = None,
        cmd_id: str | None = None,
    ) -> dict[str, Any] | None:
        """One command; returns its reply (None if the scheduler dropped it)."""
        self.n += 1
        body: dict[str, Any] = {"v": 1, "id": cmd_id or f"cmd-{self.n}", **(fields or {})}
        payload = raw if raw is not None else json.dumps(body).encode()
        out = self.batch([(site, device, verb, payload)])
        replies = [o.payload for o in out if o.topic == p.Topics.reply(site, device)]
        assert len(replies) <= 1
        if not replies:
            return None
        reply = replies[0]
        name = schemas.schema_for_topic(p.Topics.cmd(site, device, verb))
        if (
            raw is None
            and name is not None
            and reply.get("error", {}).get("code")
            not in (
                "not_allowed",
                "internal_error",
            )
        ):
            # What the scheduler refuses as malformed, the schema refuses; what it takes,
            # the schema takes.
            malformed = reply.get("error", {}).get("code") == "bad_request"
            assert bool(schemas.errors(name, body)) == malformed, (verb, body, reply)
        return reply

    def ok(self, device: str, verb: str, **fields: Any) -> dict[str, Any]:
        reply = self.send(device, verb, fields)
        assert reply is not None and reply["ok"] is True, (verb, fields, reply)
        return reply

    def error(self, code: str, device: str, verb: str, **fields: Any) -> dict[str, Any]:
        site = fields.pop("site", "demo")
        reply = self.send(device, verb, fields, site=site)
        assert reply is not None and reply["ok"] is False, (verb, fields, reply)
        assert reply["error"]["code"] == code, (verb, fields, reply)
        return reply


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    r = Run(tmp_path)
    yield r
    r.store.dispose()


K = "kiosk-demo-1"
D1, D2, D3 = "desk-demo-1", "desk-demo-2", "desk-demo-3"


def test_every_scheduler_payload_validates(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    run.check(run.sched.startup_messages())
    # 2 kiosks, 2 displays, 4 desks, desk-odd; 2 of "closed"
    assert run.seen["config-device"] == 11

    # ---- the kiosk: refusals first
    run.error("unknown_service", K, "ticket", service="nope", lang="fi")
    run.error("queue_closed", K, "ticket", service="notary", lang="sv")  # no walk-ins
    run.error("queue_closed", K, "ticket", service="passport-pickup", lang="en")  # 9-11
    run.error("bad_request", K, "ticket", service="city-info", lang="de")
    run.error("bad_request", K, "ticket", lang="fi")
    run.error("bad_request", K, "ticket", service="city-info", lang="fi", priority="yes")
    run.error("bad_request", K, "ticket", service="city-info", lang="fi", v=2)
    run.error("bad_request", K, "dance", service="city-info", lang="fi")  # unknown verb
    run.error("bad_request", K, "checkin", by="name", value="Virtanen", lang="fi")
    run.error("reservation_not_found", K, "checkin", by="code", value="QX7-K42", lang="fi")
    run.error("not_allowed", K, "next", desk="1")  # a kiosk calls no one
    run.error("not_allowed", "kiosk-ghost-1", "ticket", service="city-info", lang="fi")
    run.error("not_allowed", K, "ticket", service="city-info", lang="fi", site="closed")
    run.error(
        "site_closed", "kiosk-closed-1", "ticket", service="city-info", lang="fi", site="closed"
    )
    assert run.send(K, "ticket", raw=b"{not json") is None  # dropped: nothing to reply to
    assert run.send(K, "ticket", raw=b'{"v": 1, "service": "city-info"}') is None  # no id

    # ---- the desk before it opens
    run.error("desk_closed", D1, "next", desk="1")
    for verb in ("recall", "start", "finish", "noshow"):
        run.error("no_current_ticket", D1, verb, desk="1")
    run.error("no_current_ticket", D1, "transfer", desk="1", queue="kela")
    run.ok(D1, "close", desk="1")  # already closed: nothing to do
    run.error("bad_request", D1, "transfer", desk="1")  # no queue
    run.error("not_allowed", D2, "open", desk="1")  # not its desk
    run.error("unknown_desk", "desk-odd-1", "open", desk="9")

    # ---- tickets: 10 walk-ins of the city, one priority, Kela and tax (which fills up)
    numbers = [
        run.ok(K, "ticket", service="city-info", lang=lang)["ticket"]["number"]
        for lang in ["fi", "sv", "en", "fi", "fi", "sv", "fi", "en", "fi", "fi"]
    ]
    assert numbers == [f"A{n:03d}" for n in range(1, 11)]
    prio = run.ok(K, "ticket", service="parking-permit", lang="fi", priority=True)["ticket"]
    assert prio["priority"] is True and prio["position"] == 0
    run.ok(K, "ticket", service="kela-benefits", lang="sv")
    run.ok(K, "ticket", service="tax-card", lang="en")
    run.error("queue_full", K, "ticket", service="tax-card", lang="en")
    first = run.send(K, "ticket", {"service": "kela-benefits", "lang": "fi"}, cmd_id="same")
    again = run.send(K, "ticket", {"service": "kela-benefits", "lang": "fi"}, cmd_id="same")
    assert first == again  # a repeated id: the same reply, one ticket

    # ---- desk 1 through every state
    r = run.ok(D1, "open", desk="1")
    assert r["desk"]["status"] == "open" and r["ticket"] is None
    run.ok(D1, "open", desk="1")  # already open: still ok
    r = run.ok(D1, "next", desk="1")
    assert r["ticket"]["number"] == "A011" and r["finished"] is None  # priority first
    run.ok(D1, "recall", desk="1")
    run.error("bad_state", D1, "close", desk="1")
    run.ok(D1, "start", desk="1")
    for verb in ("recall", "start", "noshow"):
        run.error("bad_state", D1, verb, desk="1")
    run.error("bad_state", D1, "close", desk="1")
    run.error("unknown_queue", D1, "transfer", desk="1", queue="nowhere")
    run.error("ticket_not_waiting", D1, "call", desk="1", number="Z999")
    r = run.ok(D1, "transfer", desk="1", queue="kela")
    assert r["ticket"]["queue"] == "kela" and r["desk"]["status"] == "open"
    run.ok(D1, "next", desk="1")
    run.ok(D1, "finish", desk="1")
    run.ok(D1, "next", desk="1")
    run.ok(D1, "noshow", desk="1")
    r = run.ok(D1, "next", desk="1")
    called = r["ticket"]["number"]
    r = run.ok(D1, "next", desk="1")  # finishes the called one, calls the next
    assert r["finished"] == called and r["ticket"]["number"] != called

    # ---- desk 2 serves Kela (and the city): a transferred ticket, a bug, a batch
    run.ok(D2, "open", desk="2")
    r = run.ok(D2, "next", desk="2")

    def boom(self: SiteState, desk: str, now: datetime) -> None:
        raise RuntimeError("a bug")

    with monkeypatch.context() as m:
        m.setattr(SiteState, "recall", boom)
        run.error("internal_error", D2, "recall", desk="2")
    run.ok(D2, "recall", desk="2")  # the retry runs again
    # A bug outside the command's own rule (building the lobby snapshot): the command is
    # answered internal_error (or, if even that fails, dropped with a log line), nothing
    # of it is committed, and the scheduler carries on (it used to stop the worker).
    version = run.sched.states["demo"].version

    def broken_snapshot(self: SiteState, now: datetime) -> dict[str, object]:
        raise RuntimeError("a bug in the snapshot")

    with monkeypatch.context() as m:
        m.setattr(SiteState, "display_snapshot", broken_snapshot)
        got = run.send(D2, "finish", {"desk": "2"})
        assert got is None or got["error"]["code"] == "internal_error", got
    assert run.sched.states["demo"].version == version
    assert run.sched.states["demo"].desks["2"].status == "calling"
    run.ok(D2, "recall", desk="2")
    run.ok(D3, "open", desk="3")
    out = run.batch(
        [
            ("demo", D1, "next", b'{"v":1,"id":"b1","desk":"1"}'),
            ("demo", D2, "next", b'{"v":1,"id":"b2","desk":"2"}'),
            ("demo", D3, "next", b'{"v":1,"id":"b3","desk":"3"}'),
            ("demo", K, "ticket", b'{"v":1,"id":"b4","service":"tax-card","lang":"fi"}'),
        ]
    )
    assert sum(1 for o in out if "/reply/" in o.topic) == 4

    # ---- empty the queues: the display keeps at most 8 calls
    for _ in range(20):
        r = run.send(D1, "next", {"desk": "1"})
        assert r is not None
        if not r["ok"]:
            break
        if r["ticket"] is None:  # finished the last one, nobody waits
            assert r["finished"] is not None and r["desk"]["status"] == "open"
    assert r is not None and r["error"]["code"] == "nothing_waiting"
    run.ok(D1, "close", desk="1")
    r = run.ok(D1, "close", desk="1")
    assert r["desk"]["status"] == "closed"

    # ---- housekeeping, and a restart
    run.tick(3600)
    run.check(run.sched.tick())
    run.sched.load()
    run.check(run.sched.startup_messages())

    assert set(run.seen) >= SCHEDULER_SCHEMAS, run.seen
    expected = {
        "bad_request",
        "unknown_service",
        "not_allowed",
        "site_closed",
        "queue_closed",
        "reservation_not_found",
        "nothing_waiting",
        "no_current_ticket",
        "desk_closed",
        "bad_state",
        "unknown_queue",
        "unknown_desk",
        "queue_full",
        "internal_error",
    }
    assert set(run.codes) >= expected, run.codes


# ---------------------------------------------------------------------------- real broker


class Observer:
    """A superuser MQTT client that records every message on vuoro/v1/#."""

    def __init__(self, demo: Demo) -> None:
        user = demo.broker.add_user("observer-payloads", "superuser")
        demo.broker.reload()
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=user.username,
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(user.username, user.password)
        c.on_connect = lambda cl, *_: cl.subscribe(f"{p.PREFIX}/#", qos=1)
        c.on_subscribe = lambda *_: self.subscribed.set()
        c.on_message = self._on_message
        self.client = c
        deadline = time.monotonic() + 10
        while True:  # the broker re-reads its password file on SIGHUP, asynchronously
            try:
                c.connect(demo.broker.host, demo.broker.port)
                c.loop_start()
                if self.subscribed.wait(2):
                    break
                c.loop_stop()
                c.disconnect()
            except OSError:
                pass
            assert time.monotonic() < deadline, "the observer could not subscribe"
            time.sleep(0.2)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def wait_for(self, pred: Callable[[list[tuple[str, bytes, bool]]], bool]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                if pred(list(self.messages)):
                    return
            time.sleep(0.05)
        raise AssertionError("the observer did not see the expected messages")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_device_client_and_scheduler_over_the_broker_validate(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    obs = Observer(demo)
    try:
        kiosk = connect("kiosk-demo-1")
        desk = connect("desk-demo-1")
        display = connect("display-demo-1")
        kiosk.set_status(printer="paper_low", reader="ok")

        assert kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ok"]
        r = kiosk.request("ticket", {"service": "tax-card", "lang": "sv", "priority": True})
        assert r["ok"]
        r = kiosk.request("checkin", {"by": "code", "value": "QX7-K42", "lang": "en"})
        assert r["error"]["code"] == "reservation_not_found"
        assert desk.request("open", {"desk": "1"})["ok"]
        assert desk.request("next", {"desk": "1"})["ok"]
        assert desk.request("recall", {"desk": "1"})["ok"]
        assert desk.request("start", {"desk": "1"})["ok"]
        assert desk.request("transfer", {"desk": "1", "queue": "kela"})["ok"]
        assert desk.request("next", {"desk": "1"})["ok"]
        assert desk.request("noshow", {"desk": "1"})["ok"]
        assert desk.request("recall", {"desk": "1"})["error"]["code"] == "no_current_ticket"
        assert desk.request("finish", {"desk": "1"})["error"]["code"] == "no_current_ticket"
        called = desk.request("call", {"desk": "1", "number": "Z999"})
        assert called["error"]["code"] == "ticket_not_waiting"
        assert desk.request("close", {"desk": "1"})["ok"]
        display.stop()  # its last words: {"v": 1, "online": false}

        offline = p.Topics.status(demo.site, "display-demo-1")
        obs.wait_for(
            lambda msgs: (
                any(t == offline and b'"online":false' in b for t, b, _ in msgs)
                and sum(1 for t, _, _ in msgs if "/reply/" in t) >= 14
            )
        )
    finally:
        obs.stop()

    seen: Counter[str] = Counter()
    problems = []
    with obs.lock:
        messages = list(obs.messages)
    for topic, raw, _retained in messages:
        body = json.loads(raw)
        try:
            seen[schemas.validate_message(topic, body)] += 1
        except Exception as exc:
            problems.append(f"{topic}: {exc}\n{raw.decode()}")
    assert not problems, "\n".join(problems)
    assert set(seen) == set(p.SCHEMA_MODELS), f"not exercised: {set(p.SCHEMA_MODELS) - set(seen)}"
    assert seen["cmd-desk"] >= 8 and seen["status-device"] >= 4
