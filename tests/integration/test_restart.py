"""Restarts and lost links: nothing answered is forgotten, nothing is done twice.

The scheduler is stopped cleanly (in process) and killed hard (a `vuoro scheduler`
subprocess and SIGKILL); the broker is killed and started again on the same port. Every
queue, desk and ticket must be as it was, commands sent meanwhile must be answered once
the scheduler is back, and a device's durable outbox must turn a command sent into the
void into exactly one ticket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient, NotConnected, RequestTimeout
from scheduler.store import tables as t
from scheduler.store.db import Store
from tests.support import waiting
from vuoro.demo import Demo

SITE = "demo"
TIMEOUT = 15.0


# ---------------------------------------------------------------------------- helpers


def wait_until(pred: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    return waiting.wait_until(pred, timeout, what)


class Inbox:
    """What one client received, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def handler(self, topic: str, body: dict[str, Any], _msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.items.append((topic, body))

    def mark(self) -> int:
        with self.lock:
            return len(self.items)

    def on(self, topic_filter: str, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [b for tp, b in self.items[since:] if mqtt.topic_matches_sub(topic_filter, tp)]

    def wait(
        self,
        topic_filter: str,
        pred: Callable[[dict[str, Any]], bool] = lambda b: True,
        since: int = 0,
        timeout: float = TIMEOUT,
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((b for b in self.on(topic_filter, since) if pred(b)), None)

        return wait_until(find, timeout, what=f"a message on {topic_filter}")


def listen(client: DeviceClient, *filters: str) -> Inbox:
    inbox = Inbox()
    for f in filters:
        client.subscribe(f, inbox.handler)
    return inbox


@pytest.fixture
def db(demo: Demo) -> Iterator[Store]:
    s = Store(demo.config.scheduler.database)
    yield s
    s.dispose()


def display_seq(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(t.sites.c.display_seq)).scalar_one()


def tickets(store: Store) -> dict[str, Any]:
    return {tk.id: tk for tk in store.tickets(SITE)}


class Lobby:
    """The display's view: retained state, events and the scheduler's status."""

    def __init__(self, display: DeviceClient) -> None:
        self.inbox = listen(
            display,
            p.Topics.state_filter(SITE),
            p.Topics.event_filter(SITE),
            p.Topics.SCHEDULER_STATUS,
        )

    def snapshot(self, seq: int, since: int = 0) -> dict[str, Any]:
        """The display snapshot `seq` (waited for) and the desk states published before
        it, without what a republish changes (`seq`, `at`)."""
        disp = self.inbox.wait(p.Topics.display_state(SITE), lambda b: b["seq"] >= seq, since=since)
        with self.inbox.lock:
            upto = next(
                i
                for i, (tp, b) in enumerate(self.inbox.items)
                if i >= since and tp == p.Topics.display_state(SITE) and b is disp
            )
            desks = {
                tp.rsplit("/", 1)[1]: b
                for tp, b in self.inbox.items[: upto + 1]
                if mqtt.topic_matches_sub(p.Topics.desk_state(SITE, "+"), tp)
            }
        return {
            "display": {k: v for k, v in disp.items() if k not in ("seq", "at")},
            "seq": disp["seq"],
            "desks": desks,
        }

    def status(self, online: bool, since: int) -> dict[str, Any]:
        return self.inbox.wait(
            p.Topics.SCHEDULER_STATUS, lambda b: b["online"] is online, since=since
        )


def probe(desks: dict[str, DeviceClient]) -> dict[str, Any]:
    """Each desk's state, asked by a command that changes nothing (open on an open
    desk, close on a closed one)."""
    out = {}
    for d, client in desks.items():
        verb = "close" if d == "4" else "open"  # desk 4 stays closed all day
        r = client.request(verb, {"desk": d}, timeout=TIMEOUT)
        assert r["ok"], r
        out[d] = r["desk"]
    return out


def mid_day(kiosk: DeviceClient, desks: dict[str, DeviceClient]) -> list[dict[str, Any]]:
    """A morning's work: tickets in four queues, desks serving, calling, open, closed."""
    replies = []
    for service, lang, prio in [
        ("city-info", "fi", False),
        ("kela-benefits", "sv", False),
        ("tax-card", "en", False),
        ("city-info", "sv", False),
        ("kela-benefits", "fi", False),
        ("parking-permit", "fi", True),
        ("tax-card", "fi", False),
        ("city-info", "en", False),
    ]:
        r = kiosk.request("ticket", {"service": service, "lang": lang, "priority": prio})
        assert r["ok"], r
        replies.append(r)
    for d in ("1", "2", "3"):
        assert desks[d].request("open", {"desk": d})["ok"]
    assert desks["1"].request("next", {"desk": "1"})["ticket"]["number"] == "A003"  # priority
    assert desks["1"].request("start", {"desk": "1"})["ok"]
    assert desks["2"].request("next", {"desk": "2"})["ok"]
    assert desks["2"].request("recall", {"desk": "2"})["ok"]
    assert desks["3"].request("next", {"desk": "3"})["ok"]
    assert desks["3"].request("noshow", {"desk": "3"})["ok"]
    assert desks["3"].request("next", {"desk": "3"})["ok"]
    assert desks["3"].request("transfer", {"desk": "3", "queue": "municipality"})["ok"]
    assert desks["3"].request("next", {"desk": "3"})["ok"]
    assert desks["3"].request("finish", {"desk": "3"})["ok"]
    return replies


def assert_error_code(reply: dict[str, Any], code: str) -> None:
    assert reply["ok"] is False and reply["error"]["code"] == code, reply


def vuoro_command() -> list[str]:
    exe = Path(sys.executable).with_name("vuoro")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vuoro.cli"]


class SchedulerProcess:
    """`vuoro scheduler --config demo.toml` with the demo's broker and database."""

    def __init__(self, demo: Demo, workdir: Path) -> None:
        self.demo = demo
        self.log = workdir / "scheduler-process.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from scheduler.config import DEMO_SITE

        cfg = self.demo.config
        env = {
            **os.environ,
            # TOML values: quoted strings, a bare integer
            "VUORO_SCHEDULER_DATABASE": json.dumps(cfg.scheduler.database),
            "VUORO_MQTT_HOST": json.dumps(cfg.mqtt.host),
            "VUORO_MQTT_PORT": str(cfg.mqtt.port),
            "VUORO_MQTT_USERNAME": json.dumps(cfg.mqtt.username),
            "VUORO_MQTT_PASSWORD": json.dumps(cfg.mqtt.password),
            "VUORO_WEB_PORT": "0",  # a free port: other schedulers may run on this machine
        }
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(
                [*vuoro_command(), "scheduler", "--config", str(DEMO_SITE)],
                env=env,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.tail()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.returncode == -signal.SIGKILL

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def scheduler_process(demo: Demo, tmp_path: Path) -> Iterator[SchedulerProcess]:
    sp = SchedulerProcess(demo, tmp_path)
    yield sp
    sp.close()


@pytest.fixture
def devices(connect: Callable[..., DeviceClient]) -> tuple[Lobby, DeviceClient, dict[str, Any]]:
    lobby = Lobby(connect("display-demo-1"))
    kiosk = connect("kiosk-demo-1")
    desks = {d: connect(f"desk-demo-{d}") for d in ("1", "2", "3", "4")}
    return lobby, kiosk, desks


def everything(lobby: Lobby, db: Store, since: int = 0) -> dict[str, Any]:
    seq = display_seq(db)
    return {"lobby": lobby.snapshot(seq, since), "tickets": tickets(db)}


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["tickets"] == before["tickets"]
    assert after["lobby"]["display"] == before["lobby"]["display"]
    assert after["lobby"]["desks"] == before["lobby"]["desks"]
    assert after["lobby"]["seq"] > before["lobby"]["seq"]


# ---------------------------------------------------------------------------- restarts


def test_a_clean_restart_keeps_every_queue_desk_and_ticket(
    demo: Demo, devices: tuple[Lobby, DeviceClient, dict[str, Any]], db: Store
) -> None:
    lobby, kiosk, desks = devices
    issued = mid_day(kiosk, desks)
    before = everything(lobby, db)
    asked = probe(desks)
    assert asked["4"]["status"] == "closed"
    assert {a["status"] for a in asked.values()} == {"serving", "calling", "open", "closed"}

    mark = lobby.inbox.mark()
    demo.stop_scheduler()
    lobby.status(False, mark)
    mark = lobby.inbox.mark()
    demo.start_scheduler()
    lobby.status(True, mark)
    after = everything(lobby, db, since=mark)
    assert_same(before, after)
    assert probe(desks) == asked

    # The day goes on where it was: same calling ticket, numbers continue.
    calling = asked["2"]["ticket"]
    assert desks["2"].request("recall", {"desk": "2"})["ticket"]["number"] == calling
    assert desks["1"].request("finish", {"desk": "1"})["ticket"]["number"] == "A003"
    r = kiosk.request("ticket", {"service": "city-info", "lang": "fi"})
    assert r["ticket"]["number"] == "A005"
    # The first ticket's id still gets its first reply.
    assert (
        kiosk.request("ticket", {"id": issued[0]["id"], "service": "x", "lang": "fi"})
        == (issued[0])
    )


def test_a_hard_kill_keeps_everything_and_the_will_says_offline(
    demo: Demo,
    devices: tuple[Lobby, DeviceClient, dict[str, Any]],
    db: Store,
    scheduler_process: SchedulerProcess,
) -> None:
    lobby, kiosk, desks = devices
    # The in-process scheduler hands over to a real `vuoro scheduler` process.
    mark = lobby.inbox.mark()
    demo.stop_scheduler()
    lobby.status(False, mark)
    mark = lobby.inbox.mark()
    scheduler_process.start()
    try:
        lobby.status(True, mark)
    except AssertionError:
        raise AssertionError(scheduler_process.tail()) from None
    issued = mid_day(kiosk, desks)
    before = everything(lobby, db)
    asked = probe(desks)

    mark = lobby.inbox.mark()
    scheduler_process.kill()
    assert lobby.status(False, mark) == {"v": 1, "online": False}  # the last will
    retained = Inbox()  # and it is retained: a device that subscribes now reads it
    kiosk.subscribe(p.Topics.SCHEDULER_STATUS, retained.handler)
    assert retained.wait(p.Topics.SCHEDULER_STATUS) == {"v": 1, "online": False}

    # Commands while it is down wait in its persistent session.
    inbox = listen(kiosk, kiosk.reply_topic)
    desk_inbox = listen(desks["2"], desks["2"].reply_topic)
    waiting_id = kiosk.send("ticket", {"service": "kela-benefits", "lang": "sv"})
    recall_id = desks["2"].send("recall", {"desk": "2"})

    mark = lobby.inbox.mark()
    scheduler_process.start()
    lobby.status(True, mark)
    r = inbox.wait("#", lambda b: b["id"] == waiting_id)
    assert r["ok"] and r["ticket"]["number"] == "K003"
    r = desk_inbox.wait("#", lambda b: b["id"] == recall_id)
    assert r["ok"] and r["ticket"]["number"] == asked["2"]["ticket"]

    # Everything from before is as it was; the two new commands added just their part.
    after = tickets(db)
    new = {i: tk for i, tk in after.items() if i not in before["tickets"]}
    assert [tk.number for tk in new.values()] == ["K003"]
    changed = {i for i, tk in before["tickets"].items() if after[i] != tk}
    assert [after[i].number for i in changed] == [asked["2"]["ticket"]]
    assert after[next(iter(changed))].recalls == before["tickets"][next(iter(changed))].recalls + 1
    plus_one = {d: {**asked[d], "waiting": asked[d]["waiting"] + 1} for d in ("2", "3")}
    assert probe(desks) == {**asked, **plus_one}  # desks 2 and 3 serve kela

    # A second hard kill, when idle: the state it republishes is exactly the state before.
    before = everything(lobby, db)
    scheduler_process.kill()
    mark = lobby.inbox.mark()
    demo.start_scheduler()  # and back in process, on the same database and session
    lobby.status(True, mark)
    assert_same(before, everything(lobby, db, since=mark))
    assert (
        kiosk.request("ticket", {"id": issued[1]["id"], "service": "x", "lang": "fi"})
        == (issued[1])
    )


def test_a_kill_in_the_middle_of_a_burst_loses_and_doubles_nothing(
    demo: Demo,
    devices: tuple[Lobby, DeviceClient, dict[str, Any]],
    db: Store,
    scheduler_process: SchedulerProcess,
) -> None:
    lobby, kiosk, _desks = devices
    mark = lobby.inbox.mark()
    demo.stop_scheduler()
    scheduler_process.start()
    lobby.status(True, mark)
    inbox = listen(kiosk, kiosk.reply_topic)
    n = 60
    ids = [kiosk.send("ticket", {"service": "city-info", "lang": "fi"}) for _ in range(n)]
    wait_until(lambda: inbox.on("#"), what="the first reply")
    scheduler_process.kill()  # some answered, some committed, some not even read
    answered_before = {b["id"] for b in inbox.on("#")}
    mark = lobby.inbox.mark()
    scheduler_process.start()
    lobby.status(True, mark)
    wait_until(lambda: {b["id"] for b in inbox.on("#")} >= set(ids), what="every reply")

    by_id: dict[str, dict[str, Any]] = {}
    for b in inbox.on("#"):
        assert by_id.setdefault(b["id"], b) == b  # a repeated reply is the same reply
    assert all(b["ok"] for b in by_id.values())
    numbers = sorted(b["ticket"]["number"] for b in by_id.values())
    assert numbers == [f"A{i:03d}" for i in range(1, n + 1)]
    assert sorted(tk.number for tk in tickets(db).values()) == numbers
    assert len(answered_before) > 0


# ---------------------------------------------------------------------------- lost links


def test_commands_sent_while_the_scheduler_is_down_are_answered_when_it_returns(
    demo: Demo, devices: tuple[Lobby, DeviceClient, dict[str, Any]], db: Store
) -> None:
    _lobby, kiosk, desks = devices
    assert desks["1"].request("open", {"desk": "1"})["ok"]
    first = kiosk.request("ticket", {"service": "tax-card", "lang": "en"})["ticket"]
    inbox = listen(kiosk, kiosk.reply_topic)
    desk_inbox = listen(desks["1"], desks["1"].reply_topic)
    demo.stop_scheduler()
    # (Two devices' commands may reach the broker in either order: the desk's `next`
    # calls V001, issued before, whatever it meets first.)
    ids = [kiosk.send("ticket", {"service": "city-info", "lang": "fi"}) for _ in range(3)]
    next_id = desks["1"].send("next", {"desk": "1"})
    with pytest.raises(RequestTimeout):
        desks["2"].request("open", {"desk": "2"}, timeout=0.3)
    assert [tk.number for tk in tickets(db).values()] == [first["number"]] == ["V001"]
    demo.start_scheduler()
    got = [inbox.wait("#", lambda b, i=i: b["id"] == i)["ticket"]["number"] for i in ids]
    assert got == ["A001", "A002", "A003"]
    r = desk_inbox.wait("#", lambda b: b["id"] == next_id)
    assert r["ticket"]["number"] == "V001"
    # The request that timed out was still delivered and carried out: desk 2 is open.
    assert probe({"2": desks["2"]})["2"]["status"] == "open"
    assert len(tickets(db)) == 4


def test_the_outbox_resends_a_command_sent_while_the_broker_was_down(
    demo: Demo, connect: Callable[..., DeviceClient], db: Store
) -> None:
    kiosk = connect("kiosk-demo-1", outbox=True)
    desk = connect("desk-demo-1")
    late: list[dict[str, Any]] = []
    kiosk.on_late_reply = late.append
    assert desk.request("open", {"desk": "1"})["ok"]

    demo.broker.kill()
    wait_until(lambda: not kiosk.connected.is_set() and not desk.connected.is_set(), what="loss")
    cmd_id = kiosk.send("ticket", {"service": "city-info", "lang": "fi"}, durable=True)
    assert [i for i, _t, _b in kiosk.outbox.pending()] == [cmd_id]  # type: ignore[union-attr]
    # Without the outbox, a command is refused at once.
    with pytest.raises(NotConnected):
        desk.request("next", {"desk": "1"})
    with pytest.raises(NotConnected):
        kiosk.send("ticket", {"service": "city-info", "lang": "fi"})
    with pytest.raises(NotConnected):
        kiosk.request("ticket", {"service": "city-info", "lang": "fi"})

    demo.broker.start()  # same port; it lost its sessions and retained messages
    wait_until(lambda: late, what="the late reply")
    assert late[0]["id"] == cmd_id and late[0]["ok"] and late[0]["ticket"]["number"] == "A001"
    assert kiosk.outbox.pending() == []  # type: ignore[union-attr]
    wait_until(desk.connected.is_set, what="the desk's reconnect")
    r = desk.request("next", {"desk": "1"}, timeout=TIMEOUT)
    assert r["ticket"]["number"] == "A001"
    assert [tk.number for tk in tickets(db).values()] == ["A001"]
    # Once a later command is answered, every copy of the first one was: one late reply.
    assert_error_code(
        kiosk.request("ticket", {"service": "no-such", "lang": "fi"}), "unknown_service"
    )
    assert late == [late[0]]


def test_the_outbox_resends_after_the_device_restarts_while_the_scheduler_is_down(
    demo: Demo, connect: Callable[..., DeviceClient], db: Store
) -> None:
    kiosk = connect("kiosk-demo-1", outbox=True)
    demo.stop_scheduler()
    cmd_id = kiosk.send("ticket", {"service": "kela-benefits", "lang": "sv"}, durable=True)
    kiosk.stop()  # the kiosk restarts before any reply came
    again = connect("kiosk-demo-1", outbox=True)
    assert [i for i, _t, _b in again.outbox.pending()] == [cmd_id]  # type: ignore[union-attr]
    late: list[dict[str, Any]] = []
    again.on_late_reply = late.append
    demo.start_scheduler()
    wait_until(lambda: late, what="the late reply")
    assert late[0]["id"] == cmd_id and late[0]["ticket"]["number"] == "K001"
    wait_until(lambda: again.outbox.pending() == [], what="an empty outbox")  # type: ignore[union-attr]
    # Sent twice (once before, once after the restart), carried out once.
    assert [tk.number for tk in tickets(db).values()] == ["K001"]
    r = again.request("ticket", {"service": "kela-benefits", "lang": "sv"}, durable=True)
    assert r["ticket"]["number"] == "K002"
    assert len(tickets(db)) == 2
    # Both copies were answered (the same reply) before K002 was: the app heard of it once.
    assert late == [late[0]]
