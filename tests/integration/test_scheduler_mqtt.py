"""The scheduler over a real Mosquitto (passwords + the ACL of PROTOCOL.md), end to end.

The walk-in flow with its replies, retained state and events; MQTT 5 correlation data;
bad input of every kind; roles, desks and the broker's ACL; repeated command ids (also
across a restart); desks pressing "next" at the same time.

Nothing here sleeps for a fixed time: "nothing arrived" is proved by ordering. One MQTT
connection's messages reach a subscriber in the order they were sent, and the scheduler
answers one device's commands in order, so once the reply to a later command has arrived,
a reply to an earlier one would have arrived before it.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient
from scheduler.store import tables as t
from scheduler.store.db import Store
from tests.support import waiting
from vuoro.demo import Demo

SITE = "demo"
SPY = "spy"  # a superuser the tests add to the broker: it sees every accepted message
TIMEOUT = 10.0


# ---------------------------------------------------------------------------- helpers


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The conftest demo, plus a superuser `spy` on the broker."""
    d = Demo(workdir=tmp_path / "demo")
    d.broker.add_user(SPY, "superuser")
    d.start()
    yield d
    d.stop()


def wait_until(pred: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    return waiting.wait_until(pred, timeout, what)


class Inbox:
    """Messages one client received, in order, as (topic, body, message)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, mqtt.MQTTMessage]] = []
        self.lock = threading.Lock()

    def add(self, topic: str, body: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.items.append((topic, body, msg))

    def handler(self, topic: str, body: dict[str, Any], msg: mqtt.MQTTMessage) -> None:
        self.add(topic, body, msg)

    def on(self, topic_filter: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for tp, b, _ in self.items if mqtt.topic_matches_sub(topic_filter, tp)]

    def wait(
        self, topic_filter: str, pred: Callable[[dict[str, Any]], bool] = lambda b: True
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((b for b in self.on(topic_filter) if pred(b)), None)

        return wait_until(find, what=f"a message on {topic_filter}")

    def latest(self, topic: str) -> dict[str, Any] | None:
        got = self.on(topic)
        return got[-1] if got else None


def listen(client: DeviceClient, *filters: str) -> Inbox:
    inbox = Inbox()
    for f in filters:
        client.subscribe(f, inbox.handler)
    return inbox


class Raw:
    """A bare paho MQTT 5 client with some device's (or the spy's) credentials."""

    def __init__(self, demo: Demo, username: str, password: str | None = None) -> None:
        if password is None:
            password = (
                demo.broker.users[username].password if username in demo.broker.users else "wrong"
            )
        self.inbox = Inbox()
        self.pubacks: dict[int, int] = {}  # mid -> reason code value
        self.subacks: dict[int, list[int]] = {}
        self.disconnects: list[int] = []
        self.connected = threading.Event()
        self.refused: list[int] = []
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=username,
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, m: self.inbox.add(m.topic, _json(m.payload), m)
        c.on_publish = lambda _c, _u, mid, rc, _p: self.pubacks.__setitem__(mid, rc.value)
        c.on_subscribe = lambda _c, _u, mid, rcs, _p: self.subacks.__setitem__(
            mid, [r.value for r in rcs]
        )
        c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(rc.value)
        self.c = c
        c.connect(demo.broker.host, demo.broker.port, clean_start=True)
        c.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refused.append(rc.value)
        else:
            self.connected.set()

    def wait_connected(self) -> Raw:
        assert self.connected.wait(TIMEOUT), f"refused: {self.refused}"
        return self

    def subscribe(self, *filters: str) -> list[int]:
        rc, mid = self.c.subscribe([(f, 1) for f in filters])
        assert rc == mqtt.MQTT_ERR_SUCCESS
        return wait_until(lambda: self.subacks.get(mid), what="SUBACK")

    def publish(self, topic: str, payload: bytes | dict[str, Any], **props: str) -> int:
        """Publish at QoS 1; returns the PUBACK reason code, or -1 if the broker hung up."""
        data = payload if isinstance(payload, bytes) else p.encode(payload)
        properties = None
        if props:
            properties = Properties(PacketTypes.PUBLISH)
            for k, v in props.items():
                setattr(properties, k, v)
        before = len(self.disconnects)
        info = self.c.publish(topic, data, qos=1, properties=properties)

        def outcome() -> tuple[int] | None:
            if info.mid in self.pubacks:
                return (self.pubacks[info.mid],)
            return (-1,) if len(self.disconnects) > before else None

        return wait_until(outcome, what=f"PUBACK for {topic}")[0]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload


@pytest.fixture
def raw(demo: Demo) -> Iterator[Callable[..., Raw]]:
    made: list[Raw] = []

    def _raw(username: str, password: str | None = None, *, wait: bool = True) -> Raw:
        r = Raw(demo, username, password)
        made.append(r)
        return r.wait_connected() if wait else r

    yield _raw
    for r in made:
        r.close()


@pytest.fixture
def spy(raw: Callable[..., Raw]) -> Raw:
    s = raw(SPY)
    s.subscribe(f"{p.PREFIX}/#")
    return s


@pytest.fixture
def db(demo: Demo) -> Iterator[Store]:
    s = Store(demo.config.scheduler.database)
    yield s
    s.dispose()


def db_state(store: Store) -> tuple[Any, ...]:
    """Everything a command could change: site version, tickets, desks, events."""
    with store.engine.connect() as conn:
        site = conn.execute(sa.select(t.sites)).all()
        desks = conn.execute(sa.select(t.desks).order_by(t.desks.c.id)).all()
        events = conn.execute(sa.select(sa.func.count()).select_from(t.ticket_events)).scalar()
    tickets = [(tk.id, tk.number, tk.status, tk.desk, tk.queue) for tk in store.tickets(SITE)]
    return (
        [tuple(r) for r in site],
        tickets,
        [(r.id, r.status, r.ticket_id) for r in desks],
        events,
    )


def ticket_count(store: Store) -> int:
    return len(store.tickets(SITE))


def cmd(device: str, verb: str) -> str:
    return p.Topics.cmd(SITE, device, verb)


def assert_error(reply: dict[str, Any], code: str) -> None:
    assert reply["ok"] is False, reply
    assert reply["v"] == 1
    err = reply["error"]
    assert err["code"] == code, reply
    msg = err["message"]
    assert set(msg) == {"fi", "sv", "en"}
    # (an unfilled placeholder renders as "?": "(?)")
    assert all(isinstance(v, str) and v.strip() and "(?)" not in v for v in msg.values()), msg
    assert not any("{" in v for v in msg.values()), msg
    assert len(set(msg.values())) == 3, msg  # really three languages
    p.ErrorReply.model_validate(reply)


# ---------------------------------------------------------------------------- the flow


def test_the_whole_walk_in_flow(connect: Callable[..., DeviceClient], db: Store) -> None:
    display = connect("display-demo-1")
    lobby = listen(
        display,
        p.Topics.state_filter(SITE),
        p.Topics.event_filter(SITE),
    )
    kiosk = connect("kiosk-demo-1")
    desk1 = connect("desk-demo-1")
    desk2 = connect("desk-demo-2")
    disp_topic = p.Topics.display_state(SITE)
    first = lobby.wait(disp_topic)  # the retained snapshot, at once
    assert first["called"] == [] and {q["id"] for q in first["queues"]} >= {"municipality", "kela"}

    def waiting(snapshot: dict[str, Any]) -> dict[str, int]:
        return {q["id"]: q["waiting"] for q in snapshot["queues"]}

    # Three walk-ins in three languages.
    numbers = []
    for i, (service, lang) in enumerate(
        [("city-info", "fi"), ("parking-permit", "sv"), ("tax-card", "en")]
    ):
        r = kiosk.request("ticket", {"service": service, "lang": lang})
        assert r["ok"] is True, r
        p.OkReply.model_validate(r)
        tk = r["ticket"]
        assert tk["service"] == service and tk["appointment"] is None
        assert tk["status_url"].startswith("http")
        numbers.append(tk["number"])
        assert tk["position"] == (i if service != "tax-card" else 0)
    assert numbers == ["A001", "A002", "V001"]
    snap = lobby.wait(disp_topic, lambda b: waiting(b)["tax"] == 1)
    assert waiting(snap)["municipality"] == 2

    assert_error(desk1.request("next", {"desk": "1"}), "desk_closed")
    r = desk1.request("open", {"desk": "1"})
    assert r["ok"] and r["desk"] == {"desk": "1", "status": "open", "ticket": None, "waiting": 3}
    assert r["ticket"] is None

    desk_topic = p.Topics.desk_state(SITE, "1")
    r = desk1.request("next", {"desk": "1"})
    assert r["ok"] and r["ticket"]["number"] == "A001" and r["finished"] is None
    assert r["desk"] == {"desk": "1", "status": "calling", "ticket": "A001", "waiting": 2}
    assert lobby.wait(desk_topic, lambda b: b["status"] == "calling") == {
        "v": 1,
        "status": "calling",
        "ticket": "A001",
        "waiting": 2,
    }
    # Desk 2 shares the municipality queue: its retained waiting count follows.
    lobby.wait(p.Topics.desk_state(SITE, "2"), lambda b: b["waiting"] == 1)
    snap = lobby.wait(disp_topic, lambda b: bool(b["called"]))
    assert snap["called"][0] | {"at": None} == {
        "number": "A001",
        "desk": "1",
        "at": None,
        "recall": False,
    }

    r = desk1.request("recall", {"desk": "1"})
    assert r["ok"] and r["ticket"]["number"] == "A001"
    lobby.wait(disp_topic, lambda b: bool(b["called"]) and b["called"][0]["recall"])

    r = desk1.request("start", {"desk": "1"})
    assert r["ok"] and r["desk"]["status"] == "serving" and r["desk"]["ticket"] == "A001"
    assert_error(desk1.request("recall", {"desk": "1"}), "bad_state")
    assert_error(desk1.request("noshow", {"desk": "1"}), "bad_state")
    assert_error(desk1.request("close", {"desk": "1"}), "bad_state")

    r = desk1.request("next", {"desk": "1"})  # finishes A001, calls A002
    assert r["ok"] and r["finished"] == "A001" and r["ticket"]["number"] == "A002"
    r = desk1.request("noshow", {"desk": "1"})
    assert r["ok"] and r["ticket"]["number"] == "A002"
    assert r["desk"] == {"desk": "1", "status": "open", "ticket": None, "waiting": 1}
    assert_error(desk1.request("recall", {"desk": "1"}), "no_current_ticket")
    assert_error(desk1.request("finish", {"desk": "1"}), "no_current_ticket")
    assert_error(desk1.request("transfer", {"desk": "1", "queue": "kela"}), "no_current_ticket")

    r = desk1.request("next", {"desk": "1"})
    assert r["ok"] and r["ticket"]["number"] == "V001"
    r = desk1.request("transfer", {"desk": "1", "queue": "kela"})
    assert r["ok"] and r["ticket"]["number"] == "V001" and r["ticket"]["queue"] == "kela"
    assert r["ticket"]["position"] == 0
    assert r["desk"] == {"desk": "1", "status": "open", "ticket": None, "waiting": 0}
    snap = lobby.wait(disp_topic, lambda b: waiting(b)["kela"] == 1)
    assert waiting(snap)["tax"] == 0

    assert desk2.request("open", {"desk": "2"})["ok"]
    r = desk2.request("next", {"desk": "2"})
    assert r["ok"] and r["ticket"]["number"] == "V001"
    assert_error(desk2.request("transfer", {"desk": "2", "queue": "nope"}), "unknown_queue")
    assert desk2.request("start", {"desk": "2"})["ok"]
    r = desk2.request("finish", {"desk": "2"})
    assert r["ok"] and r["desk"] == {
        "desk": "2",
        "status": "open",
        "ticket": None,
        "waiting": 0,
        "appointments": 0,  # Bertil sits at desk 2: his checked-in customers
    }
    assert_error(desk1.request("next", {"desk": "1"}), "nothing_waiting")
    assert desk1.request("close", {"desk": "1"})["desk"]["status"] == "closed"
    assert desk2.request("close", {"desk": "2"})["desk"]["status"] == "closed"
    assert desk2.request("close", {"desk": "2"})["ok"]  # closing a closed desk: still ok

    # The calls the lobby heard, in order, with recall flag and language.
    lobby.wait(p.Topics.event_called(SITE), lambda b: b["desk"] == "2")
    calls = [
        (b["number"], b["desk"], b["recall"], b["lang"])
        for b in lobby.on(p.Topics.event_called(SITE))
    ]
    assert calls == [
        ("A001", "1", False, "fi"),
        ("A001", "1", True, "fi"),
        ("A002", "1", False, "sv"),
        ("V001", "1", False, "en"),
        ("V001", "2", False, "en"),
    ]
    for b in lobby.on(p.Topics.event_called(SITE)):
        p.CalledEvent.model_validate(b)

    # The final snapshot; every snapshot's seq one more than the one before.
    final = lobby.wait(
        p.Topics.desk_state(SITE, "2"), lambda b: b["status"] == "closed" and b["waiting"] == 0
    )
    assert final == {"v": 1, "status": "closed", "ticket": None, "waiting": 0, "appointments": 0}
    snap = lobby.wait(disp_topic, lambda b: bool(b["called"]) and b["called"][0]["desk"] == "2")
    assert [(c["number"], c["desk"], c["recall"]) for c in snap["called"]] == [
        ("V001", "2", False),
        ("A002", "1", False),
        ("A001", "1", True),
    ]
    assert set(waiting(snap).values()) == {0}
    seqs = [b["seq"] for b in lobby.on(disp_topic)]
    assert len(seqs) >= 10
    assert all(b - a == 1 for a, b in itertools.pairwise(seqs)), seqs
    for b in lobby.on(p.Topics.state_filter(SITE)):
        (p.DisplayState if "seq" in b else p.DeskState).model_validate(b)

    # A late subscriber gets the same state from the retained messages.
    late = Inbox()
    display.subscribe(p.Topics.desk_state(SITE, "1"), late.handler)
    assert late.wait(p.Topics.desk_state(SITE, "1"))["status"] == "closed"

    tickets = {tk.number: tk for tk in db.tickets(SITE)}
    assert {n: tk.status for n, tk in tickets.items()} == {
        "A001": "served",
        "A002": "noshow",
        "V001": "served",
    }
    v1 = tickets["V001"]
    assert (v1.queue, v1.origin_queue, v1.transfers, v1.desk) == ("kela", "tax", 1, "2")
    assert tickets["A001"].recalls == 1


def test_replies_carry_the_command_id_as_correlation_data(
    connect: Callable[..., DeviceClient],
) -> None:
    kiosk = connect("kiosk-demo-1")
    inbox = listen(kiosk, kiosk.reply_topic)
    ids = []
    for fields in (
        {"service": "city-info", "lang": "fi"},  # ok
        {"service": "no-such", "lang": "fi"},  # error
    ):
        r = kiosk.request("ticket", fields)
        ids.append(r["id"])
    wait_until(lambda: len(inbox.items) >= 2, what="two replies")
    for cmd_id, (_topic, body, msg) in zip(ids, inbox.items, strict=True):
        assert body["id"] == cmd_id
        assert msg.properties.CorrelationData == cmd_id.encode()
        assert msg.retain is False


# ---------------------------------------------------------------------------- bad input


def test_unanswerable_payloads_are_dropped(
    connect: Callable[..., DeviceClient], db: Store, spy: Raw
) -> None:
    kiosk = connect("kiosk-demo-1")
    inbox = listen(kiosk, kiosk.reply_topic)
    kiosk.request("ticket", {"service": "city-info", "lang": "fi"})
    wait_until(lambda: inbox.items, what="the first reply")
    before = db_state(db)
    topic = cmd("kiosk-demo-1", "ticket")
    bad = [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"",
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"v": 1, "service": "city-info", "lang": "fi"}',  # no id
        b'{"v": 1, "id": "", "service": "city-info", "lang": "fi"}',
        b'{"v": 1, "id": 42, "service": "city-info", "lang": "fi"}',
        b'{"v": 1, "id": null, "service": "city-info", "lang": "fi"}',
        json.dumps({"v": 1, "id": "x" * 101, "service": "city-info", "lang": "fi"}).encode(),
    ]
    for payload in bad:
        kiosk.conn.client.publish(topic, payload, qos=1)
    # The scheduler still answers, and answered nothing else since the first reply.
    r = kiosk.request("ticket", {"service": "no-such", "lang": "fi"})
    assert_error(r, "unknown_service")
    assert [b["id"] for _t, b, _m in inbox.items] == [inbox.items[0][1]["id"], r["id"]]
    assert db_state(db) == before
    # The broker did deliver the bad payloads (so the scheduler met them).
    spy.inbox.wait(topic, lambda b: isinstance(b, dict) and b.get("id") == r["id"])
    assert len(spy.inbox.on(topic)) == len(bad) + 2


def test_bad_requests_get_a_clear_error_and_change_nothing(
    connect: Callable[..., DeviceClient], db: Store
) -> None:
    kiosk = connect("kiosk-demo-1")
    desk = connect("desk-demo-1")
    assert desk.request("open", {"desk": "1"})["ok"]
    assert kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ok"]
    before = db_state(db)
    ticket = {"service": "city-info", "lang": "fi"}
    cases: list[tuple[DeviceClient, str, dict[str, Any], str]] = [
        (kiosk, "ticket", {**ticket, "v": 2}, "bad_request"),
        (kiosk, "ticket", {**ticket, "v": "1"}, "bad_request"),
        (kiosk, "ticket", {"lang": "fi"}, "bad_request"),  # no service
        (kiosk, "ticket", {**ticket, "lang": "de"}, "bad_request"),
        (kiosk, "ticket", {**ticket, "lang": None}, "bad_request"),
        (kiosk, "ticket", {**ticket, "service": 5}, "bad_request"),
        (kiosk, "ticket", {**ticket, "priority": "yes"}, "bad_request"),
        (kiosk, "ticket", {**ticket, "priority": 1}, "bad_request"),
        (kiosk, "ticket", {**ticket, "service": ["city-info"]}, "bad_request"),
        (kiosk, "ticket", {**ticket, "service": "x" * 65}, "bad_request"),
        (kiosk, "ticket", {**ticket, "service": "no-such"}, "unknown_service"),
        (kiosk, "ticket", {**ticket, "service": "notary"}, "queue_closed"),  # appointments only
        (kiosk, "dance", ticket, "bad_request"),  # unknown verb
        (kiosk, "Ticket", ticket, "bad_request"),
        (
            kiosk,
            "checkin",
            {"by": "code", "value": "QX7-K42", "lang": "fi"},  # valid, but no such booking
            "reservation_not_found",
        ),
        (kiosk, "checkin", {"by": "code", "value": "ABC123", "lang": "fi"}, "invalid_code"),
        (kiosk, "checkin", {"by": "hetu", "value": "311352-308T", "lang": "fi"}, "invalid_hetu"),
        (kiosk, "checkin", {"by": "name", "value": "x", "lang": "fi"}, "bad_request"),
        (desk, "next", {"desk": 1}, "bad_request"),
        (desk, "next", {}, "bad_request"),
        (desk, "transfer", {"desk": "1"}, "bad_request"),  # no queue
        (desk, "open", {"desk": "1", "v": 2}, "bad_request"),
    ]
    for client, verb, fields, code in cases:
        body = {"v": 1, "id": p.new_id(), **fields}
        r = client.request(verb, body)
        assert r["id"] == body["id"]
        assert_error(r, code)
    assert db_state(db) == before
    # Still serving: a good command works.
    assert desk.request("next", {"desk": "1"})["ticket"]["number"] == "A001"


def test_oversized_payloads_are_refused(
    connect: Callable[..., DeviceClient], db: Store, spy: Raw, raw: Callable[..., Raw]
) -> None:
    kiosk = connect("kiosk-demo-1")
    inbox = listen(kiosk, kiosk.reply_topic)
    before = db_state(db)
    topic = cmd("kiosk-demo-1", "ticket")
    # Over 64 KiB but under the broker's packet limit: delivered, and dropped by the
    # scheduler (it reads no further than the size).
    big = {"v": 1, "id": p.new_id(), "service": "city-info", "lang": "fi", "pad": "x" * 66_000}
    kiosk.conn.client.publish(topic, p.encode(big), qos=1)
    # The client library refuses to send one (the broker would cut the link, and the
    # unacknowledged message would be sent again on every reconnect).
    with pytest.raises(ValueError):
        kiosk.send("ticket", {"service": "city-info", "lang": "fi", "pad": "y" * 70_000})
    r = kiosk.request("ticket", {"service": "no-such", "lang": "fi"})
    assert_error(r, "unknown_service")
    assert [b["id"] for b in inbox.on("#")] == [r["id"]]
    assert kiosk.connected.is_set()
    spy.inbox.wait(kiosk.reply_topic, lambda b: b["id"] == r["id"])
    assert big["id"] in [b.get("id") for b in spy.inbox.on(topic) if isinstance(b, dict)]

    # Over the broker's max_packet_size: the broker hangs up and never passes it on.
    rogue = raw("desk-demo-1")
    huge = {"v": 1, "id": p.new_id(), "desk": "1", "pad": "z" * 80_000}
    assert rogue.publish(cmd("desk-demo-1", "open"), huge) in (-1, 0x95)
    rogue.close()
    r = kiosk.request("ticket", {"service": "no-such", "lang": "fi"})
    spy.inbox.wait(kiosk.reply_topic, lambda b: b["id"] == r["id"])
    assert huge["id"] not in [b.get("id") for b in spy.inbox.on("#") if isinstance(b, dict)]
    assert db_state(db) == before


# ---------------------------------------------------------------------------- who may do what


def test_roles_and_desks_are_checked(connect: Callable[..., DeviceClient], db: Store) -> None:
    kiosk = connect("kiosk-demo-1")
    desk1 = connect("desk-demo-1")
    desk2 = connect("desk-demo-2")
    assert desk2.request("open", {"desk": "2"})["ok"]
    assert kiosk.request("ticket", {"service": "city-info", "lang": "fi"})["ok"]
    before = db_state(db)
    assert_error(kiosk.request("next", {"desk": "1"}), "not_allowed")
    assert_error(kiosk.request("open", {"desk": "1"}), "not_allowed")
    assert_error(desk1.request("ticket", {"service": "city-info", "lang": "fi"}), "not_allowed")
    assert_error(
        desk1.request("checkin", {"by": "code", "value": "A", "lang": "fi"}), "not_allowed"
    )
    assert_error(desk1.request("next", {"desk": "2"}), "not_allowed")  # another desk
    assert_error(desk1.request("open", {"desk": "3"}), "not_allowed")
    assert_error(desk1.request("close", {"desk": "2"}), "not_allowed")
    assert_error(desk1.request("next", {"desk": "99"}), "not_allowed")  # no such desk
    assert db_state(db) == before
    assert desk2.request("next", {"desk": "2"})["ticket"]["number"] == "A001"


def test_the_broker_refuses_foreign_topics(
    connect: Callable[..., DeviceClient], db: Store, spy: Raw, raw: Callable[..., Raw]
) -> None:
    """A device cannot publish for another site or as another device, nor write state.

    Mosquitto answers a refused MQTT 5 publish with PUBACK "not authorized" (0x87) or
    drops it; either way the spy, subscribed to everything, never sees it, so the
    scheduler cannot have seen it either.
    """
    desk1 = connect("desk-demo-1")
    desk_inbox = listen(desk1, desk1.reply_topic)
    kiosk = raw("kiosk-demo-1")
    kiosk.subscribe(p.Topics.reply(SITE, "kiosk-demo-1"))
    before = db_state(db)
    ticket = {"v": 1, "service": "city-info", "lang": "fi"}
    forbidden = [
        (p.Topics.cmd("other", "kiosk-demo-1", "ticket"), ticket),  # another site
        (p.Topics.cmd("other", "desk-demo-1", "open"), {"v": 1, "desk": "1"}),
        (cmd("desk-demo-1", "open"), {"v": 1, "desk": "1"}),  # as another device
        (cmd("desk-demo-1", "next"), {"v": 1, "desk": "1"}),
        (cmd("scheduler", "ticket"), ticket),
        (p.Topics.reply(SITE, "desk-demo-1"), {"v": 1, "ok": True}),  # forged reply
        (p.Topics.display_state(SITE), {"v": 1, "seq": 10**6}),  # forged state
        (p.Topics.desk_state(SITE, "1"), {"v": 1, "status": "open"}),
        (p.Topics.event_called(SITE), {"v": 1, "number": "A999"}),
        (p.Topics.config(SITE, "kiosk-demo-1"), {"v": 1}),
        (p.Topics.status(SITE, "desk-demo-1"), {"v": 1, "online": False}),
        (p.Topics.SCHEDULER_STATUS, {"v": 1, "online": False}),
    ]
    ids = []
    for topic, body in forbidden:
        cmd_id = p.new_id()
        ids.append(cmd_id)
        rc = kiosk.publish(topic, {**body, "id": cmd_id})
        assert rc in (0x87, -1), (topic, rc)  # not authorized, or disconnected
        if rc == -1:
            kiosk.wait_connected()
            wait_until(lambda: kiosk.c.is_connected(), what="reconnect")
    # A permitted command afterwards is seen and answered: the refused ones were not.
    ok_id = p.new_id()
    assert (
        kiosk.publish(cmd("kiosk-demo-1", "ticket"), {**ticket, "id": ok_id, "service": "x"}) == 0
    )
    reply = kiosk.inbox.wait(p.Topics.reply(SITE, "kiosk-demo-1"))
    assert reply["id"] == ok_id
    assert_error(reply, "unknown_service")
    spy.inbox.wait(p.Topics.reply(SITE, "kiosk-demo-1"))
    seen = [b.get("id") for b in spy.inbox.on(f"{p.PREFIX}/#") if isinstance(b, dict)]
    assert not set(ids) & set(seen)
    assert ok_id in seen
    assert db_state(db) == before
    # The desk got no reply for what was forged in its name.
    r = desk1.request("open", {"desk": "1"})
    assert [b["id"] for b in desk_inbox.on("#")] == [r["id"]]


def test_wrong_password_and_unknown_user_are_refused(demo: Demo, raw: Callable[..., Raw]) -> None:
    for user, password in (("kiosk-demo-1", "wrong"), ("nobody", "x"), ("", "")):
        r = raw(user, password, wait=False)
        wait_until(lambda r=r: r.refused or r.disconnects, what=f"refusal of {user!r}")
        assert not r.connected.is_set()


def test_a_device_cannot_read_another_devices_replies(
    connect: Callable[..., DeviceClient], raw: Callable[..., Raw]
) -> None:
    desk = connect("desk-demo-1")
    kiosk = raw("kiosk-demo-1")
    own = p.Topics.reply(SITE, "kiosk-demo-1")
    codes = kiosk.subscribe(
        own,
        p.Topics.reply(SITE, "desk-demo-1"),
        p.Topics.reply(SITE, "+"),
        f"{p.PREFIX}/{SITE}/#",
        f"{p.PREFIX}/#",
    )
    assert codes[0] in (0, 1)  # its own replies: granted
    r = desk.request("open", {"desk": "1"})
    assert r["ok"]
    # The kiosk's own command, answered after the desk's: its reply arrives after the
    # desk's reply would have.
    own_id = p.new_id()
    kiosk.publish(
        cmd("kiosk-demo-1", "ticket"), {"v": 1, "id": own_id, "service": "x", "lang": "fi"}
    )
    kiosk.inbox.wait(own, lambda b: b["id"] == own_id)
    got = [b.get("id") for tp, b, _m in kiosk.inbox.items if "/reply/" in tp]
    assert r["id"] not in got
    assert {tp for tp, _b, _m in kiosk.inbox.items if "/reply/" in tp} == {own}


# ---------------------------------------------------------------------------- idempotency


def test_a_repeated_command_id_gets_the_same_reply(
    demo: Demo, connect: Callable[..., DeviceClient], db: Store
) -> None:
    kiosk = connect("kiosk-demo-1")
    desk = connect("desk-demo-1")
    cmd_id = p.new_id()
    fields = {"id": cmd_id, "service": "city-info", "lang": "fi"}
    first = kiosk.request("ticket", fields)
    assert first["ok"] and first["ticket"]["number"] == "A001"
    assert kiosk.request("ticket", fields) == first
    # Even with other fields: the id decides.
    assert kiosk.request("ticket", {**fields, "service": "tax-card"}) == first
    assert ticket_count(db) == 1

    # An error is repeated too, even after the state would now allow the command.
    closed_id = p.new_id()
    refused = desk.request("next", {"id": closed_id, "desk": "1"})
    assert_error(refused, "desk_closed")
    assert desk.request("open", {"desk": "1"})["ok"]
    assert desk.request("next", {"id": closed_id, "desk": "1"}) == refused

    # Two copies in flight at once (one batch): still one ticket, two equal replies.
    inbox = listen(kiosk, kiosk.reply_topic)
    twin = p.new_id()
    for _ in range(2):
        kiosk.send("ticket", {"id": twin, "service": "city-info", "lang": "sv"})
    wait_until(lambda: len([b for b in inbox.on("#") if b["id"] == twin]) == 2, what="2 replies")
    a, b = [b for b in inbox.on("#") if b["id"] == twin]
    assert a == b and a["ticket"]["number"] == "A002"
    assert ticket_count(db) == 2

    # Across a scheduler restart: the stored reply, no new ticket.
    demo.stop_scheduler()
    demo.start_scheduler()
    assert kiosk.request("ticket", fields, timeout=TIMEOUT) == first
    assert desk.request("next", {"id": closed_id, "desk": "1"}) == refused
    assert ticket_count(db) == 2
    r = kiosk.request("ticket", {"service": "city-info", "lang": "fi"})
    assert r["ticket"]["number"] == "A003"


def test_ids_are_per_device(connect: Callable[..., DeviceClient], db: Store) -> None:
    """The same id from two devices is two commands (the key is device + id)."""
    desk1 = connect("desk-demo-1")
    desk2 = connect("desk-demo-2")
    same = p.new_id()
    assert desk1.request("open", {"id": same, "desk": "1"})["desk"]["desk"] == "1"
    assert desk2.request("open", {"id": same, "desk": "2"})["desk"]["desk"] == "2"
    assert {d for d, s, _ in db_state(db)[2] if s == "open"} == {"1", "2"}


# ---------------------------------------------------------------------------- concurrency


def test_desks_pressing_next_at_once_never_share_a_ticket(
    connect: Callable[..., DeviceClient], db: Store
) -> None:
    kiosk = connect("kiosk-demo-1")
    n = 24
    for i in range(n):
        r = kiosk.request("ticket", {"service": "city-info", "lang": "fi", "priority": i % 5 == 0})
        assert r["ok"]
    desks = {"1": connect("desk-demo-1"), "2": connect("desk-demo-2"), "4": connect("desk-demo-4")}
    for d, client in desks.items():
        assert client.request("open", {"desk": d})["ok"]
    barrier = threading.Barrier(len(desks))
    called: dict[str, list[str]] = {d: [] for d in desks}
    errors: list[BaseException] = []

    def press(d: str, client: DeviceClient) -> None:
        try:
            barrier.wait(TIMEOUT)
            while True:
                r = client.request("next", {"desk": d}, timeout=TIMEOUT)
                if not r["ok"]:
                    assert r["error"]["code"] == "nothing_waiting", r
                    return
                if r["ticket"] is None:  # finished the last one, nobody left
                    continue
                called[d].append(r["ticket"]["number"])
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=press, args=item) for item in desks.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    everyone = [num for nums in called.values() for num in nums]
    assert len(everyone) == len(set(everyone)) == n, called
    assert sum(1 for nums in called.values() if nums) >= 2  # they really did share the work
    tickets = db.tickets(SITE)
    assert all(tk.status == "served" for tk in tickets)
    assert {tk.number: tk.desk for tk in tickets} == {
        num: d for d, nums in called.items() for num in nums
    }
    with db.engine.connect() as conn:
        calls = conn.execute(
            sa.select(t.ticket_events.c.ticket_id, sa.func.count())
            .where(t.ticket_events.c.kind == "called")
            .group_by(t.ticket_events.c.ticket_id)
        ).all()
    assert len(calls) == n and {c for _tid, c in calls} == {1}
