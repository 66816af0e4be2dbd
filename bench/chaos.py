"""`vuoro bench chaos`: proof under faults, load and bad input (issue 9).

Every scenario runs real parts: a private Mosquitto (`PrivateBroker`), the scheduler as a
separate `vuoro scheduler` process killed with a real SIGKILL, SQLite (WAL) in a
temporary folder and a private PostgreSQL (initdb + pg_ctl). The load comes from
bench/calls.py's generator (simulated kiosks and desks multiplexed over a few MQTT
connections) plus a few real `DeviceClient` devices (a kiosk with its durable outbox, a
desk, a display fed into the display's own `DisplayModel`) on a second site.

Scenarios (each reports `done`: what was done, and `lost` / `duplicates`, which must be 0):

- `crash_loop`: under load, SIGKILL the scheduler at random moments (`--kills`, at least
  20; some during start-up) and start it again; afterwards every command answered `ok` is
  in the database, none twice; every device got every answer without help; the display
  snapshots' `seq` never went back.
- `broker_network`: SIGKILL the broker and start it again on the same port; a kiosk
  behind a TCP proxy that is cut keeps issuing offline tickets that all reach their
  queue afterwards; a display shows offline and recovers; retained state is right after.
- `power_loss`: SIGKILL a writer in the middle of heavy writes on SQLite (WAL) and
  SIGKILL a private PostgreSQL server (every process of it) during heavy writes; then
  `PRAGMA integrity_check` / amcheck, and every commit reported done is there.
- `fuzz`: malformed, oversized, wrongly typed and wrongly routed command payloads,
  over MQTT into the real process and through `Scheduler.handle_batch` in-process; the
  scheduler never crashes, answers each with an error or drops it with a log line, and
  the state (every table but the replies kept for idempotency, and the retained state)
  is unchanged.

Stdout is one JSON object; logs go to stderr. What was simulated rather than real is
said in each scenario's `notes`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench import calls as bc
from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient, MqttSettings, NotConnected, RequestTimeout
from provisioning.broker import SCHEDULER_USER, PrivateBroker, User

log = logging.getLogger("vuoro.bench.chaos")

REAL_SITE = "real"
ONLINE_TIMEOUT = 60.0


# ---------------------------------------------------------------------------- the rig


def real_site_toml() -> str:
    """A second, small site for the real devices (one queue, one desk, offline range)."""
    return "\n".join(
        [
            "[[sites]]",
            f'id = "{REAL_SITE}"',
            'name = { fi = "Oikea", sv = "Riktig", en = "Real" }',
            'timezone = "Europe/Helsinki"',
            "holidays = false",
            "",
            "[[sites.queues]]",
            'id = "r"',
            'prefix = "R"',
            'name = { fi = "Jono R", sv = "Kö R", en = "Queue R" }',
            "",
            "[[sites.services]]",
            'id = "s-r"',
            'name = { fi = "Palvelu R", sv = "Tjänst R", en = "Service R" }',
            'provider = "provider-r"',
            'queue = "r"',
            "",
            "[[sites.desks]]",
            'id = "1"',
            'queues = ["r"]',
            "",
            "[[sites.devices]]",
            'id = "kiosk-real-1"',
            'role = "kiosk"',
            'offline_numbers = "901-999"',
            "",
            "[[sites.devices]]",
            'id = "desk-real-1"',
            'role = "desk"',
            'desks = ["1"]',
            "",
            "[[sites.devices]]",
            'id = "display-real-1"',
            'role = "display"',
            "",
        ]
    )


class Rig:
    """Broker + scheduler process + the calls bench's load generator + real devices."""

    def __init__(
        self,
        work: Path,
        *,
        desks: int = 6,
        kiosks: int = 3,
        database: str | None = None,
        window: int = 2,
    ) -> None:
        self.work = work
        self.database = database or f"sqlite:///{work / 'vuoro.db'}"
        self.layout = bc.make_layout("chaos", desks, kiosks)
        self.broker = PrivateBroker(work / "broker")
        self.sched_user = self.broker.add_user(SCHEDULER_USER, "scheduler")
        self.load_users = [self.broker.add_user(f"chaos-load-{i}", "superuser") for i in (1, 2)]
        self.display_user = self.broker.add_user(self.layout.display, "display", "chaos")
        self.real_users: dict[str, User] = {
            d: self.broker.add_user(d, role, REAL_SITE)
            for d, role in (
                ("kiosk-real-1", "kiosk"),
                ("desk-real-1", "desk"),
                ("display-real-1", "display"),
            )
        }
        self.config = work / "chaos.toml"
        self.config.write_text(
            bc.site_toml(
                self.layout,
                database=self.database,
                host=self.broker.host,
                port=self.broker.port,
                password=self.sched_user.password,
                log_level="INFO",
            )
            + "\n"
            + real_site_toml()
        )
        self.config.chmod(0o600)
        self.sched = bc.SchedulerProcess(self.config, work / "scheduler.log")
        self.display = bc.Display("chaos")
        self.conns: list[bc.Conn] = []
        self.load: bc.Load | None = None
        self.window = window
        self.starts = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.broker.start()
        self.display.conn = bc.Conn(
            self.broker.host, self.broker.port, self.display_user, self.display.on_message
        )
        self.display.conn.start([self.display.topic, p.Topics.SCHEDULER_STATUS])
        self.start_scheduler()
        self.conns = [bc.Conn(self.broker.host, self.broker.port, u, None) for u in self.load_users]
        self.load = bc.Load(self.layout, self.conns, window=self.window)
        for c, topics in zip(self.conns, self.load.reply_topics, strict=True):
            c.client.on_message = self.load.on_message
            c.start(topics)

    def start_scheduler(self, wait: bool = True) -> None:
        self.display.scheduler_online.clear()
        self.sched.start()
        self.starts += 1
        if wait:
            self.wait_online()

    def wait_online(self) -> None:
        deadline = time.monotonic() + ONLINE_TIMEOUT
        while not self.display.scheduler_online.wait(0.1):
            if not self.sched.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not come up:\n{self.sched.log_tail()}")

    def kill_scheduler(self) -> None:
        proc = self.sched.proc
        assert proc is not None
        if proc.poll() is not None:
            raise RuntimeError(f"the scheduler died by itself:\n{self.sched.log_tail()}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the scheduler exited with {proc.returncode}")

    def device(self, device_id: str, *, outbox: bool = False, port: int | None = None) -> Any:
        u = self.real_users[device_id]
        settings = MqttSettings(
            host=self.broker.host,
            port=port or self.broker.port,
            username=u.username,
            password=u.password,
            reconnect_min_s=1,
            reconnect_max_s=2,
            keepalive=5,
        )
        role = u.role
        return DeviceClient(
            settings,
            device_id=device_id,
            site=REAL_SITE,
            role=role,
            outbox_path=self.work / f"outbox-{device_id}.db" if outbox else None,
        )

    def stop(self) -> None:
        for c in self.conns:
            c.stop()
        if self.display.conn is not None:
            self.display.conn.stop()
        self.sched.stop()
        self.broker.stop()

    def prefill(self, per_queue: int, timeout: float = 60.0) -> None:
        load = self.load
        assert load is not None
        load.prefill_target = per_queue
        load.start_mode("prefill")
        deadline = time.monotonic() + timeout
        while min(load.waiting.values()) < per_queue:
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefill did not finish:\n{self.sched.log_tail()}")
            time.sleep(0.02)
        load.stop_mode()
        for dev in load.desks:
            load.wait(load.request(dev, "open", {"desk": dev.desk}, "setup"), timeout=20)
        self.drain(20)

    def drain(self, timeout: float) -> bool:
        load = self.load
        assert load is not None
        load.stop_mode()
        deadline = time.monotonic() + timeout
        while load.outstanding() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        return load.outstanding() == 0

    def seq_back(self) -> tuple[int, int]:
        """(snapshots received, times the seq went back) at the load site's display."""
        with self.display.cond:
            seqs = list(self.display.seqs)
        return len(seqs), sum(1 for a, b in pairwise(seqs) if b < a)


# ---------------------------------------------------------------------------- real devices


@dataclass
class DeviceLog:
    sent: dict[str, str] = field(default_factory=dict)  # id -> verb
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    mismatched: int = 0
    timeouts: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def got(self, body: dict[str, Any]) -> None:
        cid = body.get("id")
        if not isinstance(cid, str):
            return
        with self.lock:
            first = self.replies.setdefault(cid, body)
            if first != body:
                self.mismatched += 1


class RealDevices:
    """A real kiosk (durable outbox) and desk on the second site, each in a loop, and a
    real display whose messages go into the display's own model."""

    def __init__(self, rig: Rig, *, kiosk_port: int | None = None) -> None:
        from display.model import DisplayModel

        self.rig = rig
        self.kiosk = rig.device("kiosk-real-1", outbox=True, port=kiosk_port)
        self.desk = rig.device("desk-real-1")
        self.display = rig.device("display-real-1")
        self.klog, self.dlog = DeviceLog(), DeviceLog()
        self.kiosk.on_late_reply = self.klog.got
        self.desk.on_late_reply = self.dlog.got
        self.model = DisplayModel()
        self.model_lock = threading.Lock()
        self.seqs: list[int] = []
        self.offline_seen = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        d = self.display
        d.subscribe(p.Topics.display_state(REAL_SITE), self._on_snapshot)
        d.subscribe(p.Topics.SCHEDULER_STATUS, self._on_status)
        d.conn.on_connect(lambda: self._link(True))
        d.conn.on_disconnect(lambda: self._link(False))

    def _on_snapshot(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        with self.model_lock:
            if isinstance(body.get("seq"), int):
                self.seqs.append(body["seq"])
            self.model.apply_snapshot(body, time.monotonic())

    def _on_status(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        with self.model_lock:
            self.model.set_scheduler(body)
            if self.model.offline:
                self.offline_seen += 1

    def _link(self, up: bool) -> None:
        with self.model_lock:
            self.model.set_connected(up)
            if self.model.offline:
                self.offline_seen += 1

    def offline(self) -> bool:
        with self.model_lock:
            return bool(self.model.offline)

    def start(self, *, loops: bool = True) -> None:
        for c in (self.kiosk, self.desk, self.display):
            c.start()
            if not c.connected.wait(15):
                raise RuntimeError(f"{c.device_id} did not connect")
        r = self.desk.request("open", {"desk": "1"}, timeout=15)
        with self.dlog.lock:
            self.dlog.sent[r["id"]] = "open"
        self.dlog.got(r)
        if loops:
            for fn in (self._kiosk_loop, self._desk_loop):
                th = threading.Thread(target=fn, daemon=True)
                th.start()
                self._threads.append(th)

    def _kiosk_loop(self) -> None:
        while not self._stop.is_set():
            cid = p.new_id()
            with self.klog.lock:
                self.klog.sent[cid] = "ticket"
            try:
                r = self.kiosk.request(
                    "ticket", {"id": cid, "service": "s-r", "lang": "fi"}, timeout=1.0, durable=True
                )
                self.klog.got(r)
            except RequestTimeout:
                self.klog.timeouts += 1  # stays in the outbox; the late reply comes later
            self._stop.wait(0.05)

    def _desk_loop(self) -> None:
        while not self._stop.is_set():
            cid = p.new_id()
            try:
                with self.dlog.lock:
                    self.dlog.sent[cid] = "next"
                r = self.desk.request("next", {"id": cid, "desk": "1"}, timeout=1.0)
                self.dlog.got(r)
            except RequestTimeout:
                self.dlog.timeouts += 1  # delivered later: the reply is a late reply
            except NotConnected:
                with self.dlog.lock:
                    del self.dlog.sent[cid]
                    self.dlog.refused += 1
                self._stop.wait(0.2)
            self._stop.wait(0.08)

    def stop_loops(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(10)

    def unanswered(self) -> int:
        n = 0
        for lg in (self.klog, self.dlog):
            with lg.lock:
                n += sum(1 for cid in lg.sent if cid not in lg.replies)
        return n

    def wait_answered(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outbox = self.kiosk.outbox.pending() if self.kiosk.outbox else []
            if self.unanswered() == 0 and not outbox:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self._stop.set()
        for c in (self.kiosk, self.desk, self.display):
            with contextlib.suppress(Exception):
                c.stop()

    def check(self, database: str) -> dict[str, Any]:
        """The real site in the database against what the devices were told."""
        from scheduler.store.db import Store

        store = Store(database)
        try:
            tickets = store.tickets(REAL_SITE)
            events = store.events(REAL_SITE)
        finally:
            store.dispose()
        problems: Counter[str] = Counter()
        problems["lost_unanswered"] = self.unanswered()
        problems["dup_reply_differs"] = self.klog.mismatched + self.dlog.mismatched
        told = {
            b["ticket"]["status_url"].rsplit("/", 1)[-1]: b["ticket"]["number"]
            for cid, b in self.klog.replies.items()
            if b.get("ok") and cid in self.klog.sent
        }
        by_token = {tk.token: tk for tk in tickets}
        problems["lost_ticket"] = sum(
            1 for tok, num in told.items() if tok not in by_token or by_token[tok].number != num
        )
        problems["dup_ticket_without_command"] = sum(1 for tok in by_token if tok not in told)
        problems["dup_ticket_in_two_replies"] = sum(
            1 for b in self.klog.replies.values() if b.get("ok")
        ) - len(told)
        called: Counter[str] = Counter(
            e["ticket_id"] for e in events if e["kind"] == "called" and e["ticket_id"]
        )
        problems["dup_called_twice"] = sum(1 for n in called.values() if n > 1)
        by_number: dict[str, list[Any]] = defaultdict(list)
        for tk in tickets:
            by_number[tk.number].append(tk)
        for tks in by_number.values():
            tks.sort(key=lambda x: (x.issued_at, x.id))
            for a, b in pairwise(tks):
                if a.finished_at is None or a.finished_at > b.issued_at:
                    problems["dup_number_live_twice"] += 1
        with self.model_lock:
            seqs = list(self.seqs)
        return {
            "lost": sum(v for k, v in problems.items() if k.startswith("lost")),
            "duplicates": sum(v for k, v in problems.items() if k.startswith("dup")),
            "problems": {k: v for k, v in problems.items() if v},
            "kiosk_commands": len(self.klog.sent),
            "kiosk_ok": sum(1 for b in self.klog.replies.values() if b.get("ok")),
            "kiosk_timeouts_answered_late": self.klog.timeouts,
            "desk_commands": len(self.dlog.sent),
            "desk_ok": sum(1 for b in self.dlog.replies.values() if b.get("ok")),
            "desk_errors": dict(
                Counter(
                    str((b.get("error") or {}).get("code"))
                    for b in self.dlog.replies.values()
                    if not b.get("ok")
                )
            ),
            "display_snapshots": len(seqs),
            "display_seq_back": sum(1 for a, b in pairwise(seqs) if b < a),
            "db_tickets": len(tickets),
        }


# ---------------------------------------------------------------------------- 1. crash loop


def crash_loop(
    work: Path,
    *,
    kills: int = 20,
    seed: int = 1,
    database: str | None = None,
    max_up_s: float = 1.0,
) -> dict[str, Any]:
    """SIGKILL the scheduler `kills` times at random moments under load."""
    rng = random.Random(seed)
    rig = Rig(work, database=database)
    real: RealDevices | None = None
    t0 = time.monotonic()
    try:
        rig.start()
        rig.prefill(30)
        real = RealDevices(rig)
        real.start()
        load = rig.load
        assert load is not None
        load.start_mode("load")
        during_start = 0
        up_times: list[float] = []
        for i in range(kills):
            if i % 4 == 3:
                # Killed while starting: importing, migrating, loading or subscribing.
                time.sleep(rng.uniform(0.2, 1.2))
                if not rig.display.scheduler_online.is_set():
                    during_start += 1
            else:
                rig.wait_online()
                up = rng.uniform(0.05, max_up_s)
                up_times.append(up)
                time.sleep(up)
            rig.kill_scheduler()
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0.0, 0.5))  # commands pile up while it is down
            rig.start_scheduler(wait=False)
        rig.wait_online()
        time.sleep(0.5)
        load.stop_mode()
        real.stop_loops()
        drained = rig.drain(60)
        real_ok = real.wait_answered(60)
        # A device resumes without help: one more command each, answered at once.
        after = {
            "kiosk": real.kiosk.request("ticket", {"service": "s-r", "lang": "fi"}, timeout=10),
            "desk": real.desk.request("open", {"desk": "1"}, timeout=10),
        }
        real.klog.got(after["kiosk"])
        real.dlog.got(after["desk"])
        with real.klog.lock:
            real.klog.sent[after["kiosk"]["id"]] = "ticket"
        with real.dlog.lock:
            real.dlog.sent[after["desk"]["id"]] = "open"
        online_again = not real.offline()
        rc = rig.sched.stop()
        checked = bc.verify(rig.database, rig.layout.site, load)
        devices = real.check(rig.database)
        snaps, back = rig.seq_back()
        res = load.res
        return {
            "done": {
                "sigkills": kills,
                "sigkills_during_start_up": during_start,
                "scheduler_starts": rig.starts,
                "commands_sent": len(load.sent)
                + devices["kiosk_commands"]
                + devices["desk_commands"],
                "ok_replies": sum(1 for _t, b in res.replies.values() if b.get("ok"))
                + devices["kiosk_ok"]
                + devices["desk_ok"],
                "redelivered_replies": res.redelivered,
                "load_verbs": dict(Counter(s.verb for s in load.sent.values())),
                "load_errors": dict(res.errors),
                "display_snapshots": snaps,
                "seconds": round(time.monotonic() - t0, 1),
            },
            "lost": checked["lost"] + devices["lost"],
            "duplicates": checked["duplicates"] + devices["duplicates"],
            "display_seq_back": back + devices["display_seq_back"],
            "ok": drained
            and real_ok
            and back + devices["display_seq_back"] == 0
            and all(r.get("ok") for r in after.values())
            and online_again,
            "checks": {
                **{k: v for k, v in checked.items() if k not in ("lost", "duplicates")},
                "drained": drained,
                "real_devices_answered": real_ok,
                "real_devices": devices,
                "devices_resumed": all(r.get("ok") for r in after.values()) and online_again,
                "scheduler_exit": rc,
            },
        }
    finally:
        if real is not None:
            real.close()
        rig.stop()


# ---------------------------------------------------------------------------- 2. broker, network


class TcpProxy:
    """A small TCP proxy in front of the broker: `cut()` closes every connection through
    it and refuses new ones until `restore()`: a real network cut, as the device sees it."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        import socket

        from provisioning.broker import free_port

        self.upstream = upstream
        self.port = free_port()
        self._srv = socket.create_server(("127.0.0.1", self.port))
        self._srv.settimeout(0.2)
        self._open = threading.Event()
        self._open.set()
        self._socks: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while not self._stop.is_set():
            try:
                client, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            up.settimeout(None)
            with self._lock:
                self._socks += [client, up]
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            import socket

            # shutdown, not only close: close() does not wake the other direction's
            # thread blocked in recv() on the same socket, and sends no FIN meanwhile.
            for sk in (src, dst):
                with contextlib.suppress(OSError):
                    sk.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sk.close()

    def cut(self) -> None:
        import socket

        self._open.clear()
        self.cuts += 1
        with self._lock:
            socks, self._socks = self._socks, []
        for sk in socks:
            with contextlib.suppress(OSError):
                sk.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sk.close()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._srv.close()


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - t0


def broker_network(
    work: Path,
    *,
    offline_tickets: int = 30,
    cut_minutes: float = 10.0,
    min_cut_s: float = 5.0,
    seed: int = 1,
) -> dict[str, Any]:
    """SIGKILL the broker and start it again; cut a kiosk's network for `cut_minutes` (by
    its clock) while it issues offline tickets; a display's offline mark; retained state."""
    from datetime import UTC, datetime, timedelta

    from kiosk.controller import KioskController

    del seed
    t0 = time.monotonic()
    rig = Rig(work, desks=4, kiosks=2)
    proxy: TcpProxy | None = None
    real: RealDevices | None = None
    kiosk: Any = None
    try:
        rig.start()
        rig.prefill(5)
        proxy = TcpProxy((rig.broker.host, rig.broker.port))
        real = RealDevices(rig, kiosk_port=proxy.port)
        real.start(loops=False)
        sites = (rig.layout.site, REAL_SITE)
        # Some state on the real site: tickets, a call.
        for _ in range(3):
            r = real.kiosk.request("ticket", {"service": "s-r", "lang": "fi"}, timeout=10)
            assert r["ok"], r
        assert real.desk.request("next", {"desk": "1"}, timeout=10)["ok"]
        _wait(lambda: not real.offline(), 10, "the display online")

        # --- the broker dies and comes back
        before = retained_state(rig, sites)
        rig.broker.kill()
        offline_after = _wait(real.offline, 15, "the display's offline mark")
        down = time.monotonic()
        time.sleep(1.0)
        rig.broker.start()
        back = {
            c.device_id: _wait(c.connected.is_set, 30, f"{c.device_id} reconnect")
            for c in (real.kiosk, real.desk, real.display)
        }
        rig.display.scheduler_online.clear()
        _wait(lambda: not real.offline(), 30, "the display online again")
        reconnected_s = round(time.monotonic() - down, 2)
        after = retained_state(rig, sites)
        retained_wrong = sorted(
            tp for tp in set(before) | set(after) if before.get(tp) != after.get(tp)
        )
        # Resubscribed: replies reach the devices again.
        r1 = real.kiosk.request("ticket", {"service": "s-r", "lang": "fi"}, timeout=10)
        r2 = real.desk.request("next", {"desk": "1"}, timeout=10)

        # --- the kiosk's network is cut for `cut_minutes` by its clock
        start_wall = datetime.now(UTC) - timedelta(minutes=cut_minutes)
        step = timedelta(minutes=cut_minutes) / max(1, offline_tickets)
        fake = {"t": start_wall}
        kiosk = KioskController(
            real.kiosk,
            offline_path=work / "kiosk-offline.db",
            request_timeout_s=0.5,
            wall=lambda: fake["t"],
        )
        kiosk.start()
        _wait(lambda: kiosk.config.get("offline_numbers"), 10, "the kiosk's config")
        proxy.cut()
        _wait(lambda: not real.kiosk.connected.is_set(), 15, "the kiosk noticing the cut")
        cut_at = time.monotonic()
        printed: list[str] = []
        online_meanwhile = 0
        for i in range(offline_tickets):
            fake["t"] = start_wall + step * i
            kiosk.take_number("s-r")
            res = kiosk.result
            if res is None or not res.offline:
                raise RuntimeError(f"no offline ticket: {kiosk.screen} {kiosk.error}")
            printed.append(res.view.number)
            # The rest of the site goes on: the desk calls, the display follows.
            if i % 5 == 0:
                online_meanwhile += bool(real.desk.request("next", {"desk": "1"}, timeout=10))
        # Held for at least `min_cut_s` of real time: the kiosk's reconnect attempts
        # (with back-off) meet a refused connection meanwhile.
        time.sleep(max(0.0, min_cut_s - (time.monotonic() - cut_at)))
        pending = len(real.kiosk.outbox.pending()) if real.kiosk.outbox else 0
        cut_s = round(time.monotonic() - cut_at, 1)
        proxy.restore()
        _wait(real.kiosk.connected.is_set, 30, "the kiosk reconnect")
        _wait(lambda: not real.kiosk.outbox.pending(), 60, "the kiosk's outbox to empty")
        from scheduler.store.db import Store

        store = Store(rig.database)
        try:
            tickets = [t for t in store.tickets(REAL_SITE) if t.device == "kiosk-real-1"]
        finally:
            store.dispose()
        numbers = Counter(t.number for t in tickets)
        lost = sum(1 for n in printed if numbers.get(n, 0) == 0)
        dups = sum(numbers.get(n, 0) - 1 for n in printed if numbers.get(n, 0) > 1)
        arrival = {t.number: t.arrival_at for t in tickets}
        in_order = all(
            arrival[a] <= arrival[b] for a, b in pairwise(printed) if a in arrival and b in arrival
        )
        spread = (
            (arrival[printed[-1]] - arrival[printed[0]]).total_seconds() / 60
            if printed[0] in arrival and printed[-1] in arrival
            else None
        )
        return {
            "done": {
                "broker_sigkills": 1,
                "broker_restarts": 1,
                "devices_reconnected_s": {k: round(v, 2) for k, v in back.items()},
                "display_offline_after_s": round(offline_after, 2),
                "back_online_after_s": reconnected_s,
                "network_cuts": proxy.cuts,
                "offline_tickets_printed": len(printed),
                "outbox_at_the_end_of_the_cut": pending,
                "cut_wall_s": cut_s,
                "cut_kiosk_clock_min": cut_minutes,
                "desk_calls_during_the_cut": online_meanwhile,
                "seconds": round(time.monotonic() - t0, 1),
            },
            "retained_wrong_after_restart": retained_wrong,
            "replies_after_restart": bool(r1.get("ok")) and bool(r2.get("ok")),
            "offline_tickets_in_queue": len(printed) - lost,
            "offline_tickets_in_order": in_order,
            "offline_arrival_spread_min": None if spread is None else round(spread, 1),
            "lost": lost,
            "duplicates": dups,
            "ok": not retained_wrong and in_order and lost == 0 and dups == 0,
            "notes": (
                "The broker is really killed (SIGKILL) and restarted on the same port; the "
                "kiosk's network is really cut (a TCP proxy closes its connection and "
                "refuses new ones) for cut_wall_s seconds, while the kiosk's own clock "
                "(its injectable wall clock) runs through cut_kiosk_clock_min minutes, so "
                "its offline tickets carry issue times spread over those minutes."
            ),
        }
    finally:
        if kiosk is not None:
            with contextlib.suppress(Exception):
                kiosk.stop()
        if real is not None:
            real.close()
        if proxy is not None:
            proxy.close()
        rig.stop()


# ---------------------------------------------------------------------------- 3. power loss


def _writer(config_path: str, database: str) -> int:
    """`python -m bench.chaos writer CONFIG URL`: heavy writes through the scheduler's own
    handle_batch until killed; after each commit, one line `ok <token> ...` on stdout
    naming the tickets that commit made (what was reported done)."""
    import uuid

    from scheduler.config import load_config
    from scheduler.service import Incoming, Scheduler
    from scheduler.store.db import Store

    config = load_config(config_path)
    store = Store(database)
    store.migrate()
    sched = Scheduler(config.site_defs(), store)
    sched.load()
    layout = bc.make_layout("chaos", 6, 3)

    def cmd(device: str, verb: str, **fields: Any) -> Incoming:
        body = {"v": 1, "id": str(uuid.uuid4()), **fields}
        return Incoming(p.Topics.cmd("chaos", device, verb), json.dumps(body).encode())

    sched.handle_batch([cmd(d, "open", desk=k) for d, k in layout.desk_devices.items()])
    rng = random.Random()
    while True:
        batch = [
            cmd(rng.choice(layout.kiosks), "ticket", service=f"s-{rng.choice('abc')}", lang="fi")
            for _ in range(150)
        ]
        batch += [cmd(d, "next", desk=k) for d, k in layout.desk_devices.items()]
        res = sched.handle_batch(batch)
        tokens = [
            o.payload["ticket"]["status_url"].rsplit("/", 1)[-1]
            for o in res.out
            if "/reply/" in o.topic and o.payload.get("ok") and "finished" not in o.payload
        ]
        sys.stdout.write("ok " + " ".join(tokens) + "\n")
        sys.stdout.flush()


class Writer:
    def __init__(self, config: Path, database: str) -> None:
        import subprocess

        root = str(Path(__file__).resolve().parent.parent)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.chaos", "writer", str(config), database],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=root,
            start_new_session=True,
        )
        self.tokens: list[str] = []
        self.commits = 0
        self.first = threading.Event()
        self._th = threading.Thread(target=self._read, daemon=True)
        self._th.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.decode().split()
            if parts and parts[0] == "ok":
                self.tokens.extend(parts[1:])
                self.commits += 1
                self.first.set()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._th.join(5)


def _pg_pids(pg: Any) -> list[int]:
    """The private PostgreSQL's postmaster and its children (all started by us)."""
    pidfile = pg.dir / "data" / "postmaster.pid"
    try:
        master = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    kids.append(int(d.name))
    return [master, *kids]


def _pg_start_again(pg: Any) -> None:
    from scheduler.store.private_pg import _pg_bin

    data = pg.dir / "data"
    opts = f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {pg.dir} -c fsync=on"
    pg._run(
        _pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(pg.dir / "log"), "-w", "start"
    )


def _db_check(database: str, tokens: list[str]) -> dict[str, Any]:
    from scheduler.store.db import Store

    store = Store(database)
    try:
        tickets = store.tickets("chaos")
    finally:
        store.dispose()
    have = {tk.token for tk in tickets}
    live: Counter[str] = Counter(tk.number for tk in tickets if tk.finished_at is None)
    return {
        "lost": sum(1 for t in set(tokens) if t not in have),
        "duplicates": sum(n - 1 for n in live.values() if n > 1),
        "db_tickets": len(tickets),
    }


def power_loss(
    work: Path, *, sqlite_kills: int = 5, pg_kills: int = 3, seed: int = 1, postgres: Any = None
) -> dict[str, Any]:
    """SIGKILL during heavy writes: the writer on SQLite (WAL); on PostgreSQL the server
    itself (every process of it) and the writer, then integrity checks."""
    import sqlite3

    import psycopg

    rng = random.Random(seed)
    t0 = time.monotonic()
    rig = Rig(work)  # only its configuration file (the bench site) is used
    out: dict[str, Any] = {}
    # SQLite
    db_file = work / "power.db"
    url = f"sqlite:///{db_file}"
    tokens: list[str] = []
    commits = 0
    for _ in range(sqlite_kills):
        w = Writer(rig.config, url)
        if not w.first.wait(60):
            w.kill()
            raise RuntimeError("the writer made no commit")
        time.sleep(rng.uniform(0.1, 1.0))
        w.kill()
        tokens += w.tokens
        commits += w.commits
    wal = db_file.with_name(db_file.name + "-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    con = sqlite3.connect(db_file)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    sq = _db_check(url, tokens)
    out["sqlite"] = {
        "sigkills_of_the_writer": sqlite_kills,
        "commits_reported": commits,
        "tickets_reported": len(tokens),
        "wal_bytes_at_the_last_kill": wal_bytes,
        "integrity_check": [r[0] for r in integrity],
        "foreign_key_violations": len(fk),
        **sq,
    }
    # PostgreSQL
    own = postgres is None
    if own:
        from scheduler.store.private_pg import PrivatePostgres

        postgres = PrivatePostgres()
        postgres.start()
    try:
        url = postgres.new_database()
        tokens, commits, killed = [], 0, 0
        for _ in range(pg_kills):
            w = Writer(rig.config, url)
            if not w.first.wait(60):
                w.kill()
                raise RuntimeError("the writer made no commit on PostgreSQL")
            time.sleep(rng.uniform(0.2, 1.2))
            pids = _pg_pids(postgres)
            for pid in pids:  # the whole server at once, as a power cut would
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed += len(pids)
            w.kill()
            tokens += w.tokens
            commits += w.commits
            deadline = time.monotonic() + 10
            while _pg_pids(postgres) and time.monotonic() < deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    pid = _pg_pids(postgres)[0]
                    os.kill(pid, 0)
                    time.sleep(0.05)
                    continue
                break
            _pg_start_again(postgres)
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            idx = conn.execute(
                "SELECT c.relname, bt_index_check(c.oid, true) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam"
                " WHERE am.amname = 'btree' AND c.relnamespace = 'public'::regnamespace"
            ).fetchall()
            heap = conn.execute(
                "SELECT c.relname, count(v.*) FROM pg_class c"
                " LEFT JOIN LATERAL verify_heapam(c.oid) v ON true"
                " WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
                " GROUP BY c.relname"
            ).fetchall()
        pg = _db_check(url, tokens)
        out["postgresql"] = {
            "server_sigkills": pg_kills,
            "server_processes_killed": killed,
            "commits_reported": commits,
            "tickets_reported": len(tokens),
            "amcheck_btree_indexes_checked": len(idx),
            "amcheck_heap_tables_checked": len(heap),
            "amcheck_heap_corruptions": sum(int(n) for _r, n in heap),
            **pg,
        }
    finally:
        if own:
            postgres.stop()
    problems = (
        out["sqlite"]["integrity_check"] != ["ok"],
        out["sqlite"]["foreign_key_violations"] > 0,
        out["postgresql"]["amcheck_heap_corruptions"] > 0,
    )
    return {
        "done": {
            "sqlite_writer_sigkills": sqlite_kills,
            "postgresql_server_sigkills": pg_kills,
            "commits_reported": out["sqlite"]["commits_reported"]
            + out["postgresql"]["commits_reported"],
            "seconds": round(time.monotonic() - t0, 1),
        },
        **out,
        "lost": out["sqlite"]["lost"] + out["postgresql"]["lost"],
        "duplicates": out["sqlite"]["duplicates"] + out["postgresql"]["duplicates"],
        "ok": not any(problems),
        "notes": (
            "SIGKILL of the processes, not of the machine: the kernel's page cache "
            "survives, so this proves the crash consistency of SQLite WAL "
            "(synchronous=FULL) and PostgreSQL's WAL recovery and that every commit "
            "reported done is there; a real power cut also needs the disk to honour "
            "fsync, which a process kill cannot show."
        ),
    }


# ---------------------------------------------------------------------------- 4. bad input


def fuzz_target(rig: Rig) -> Any:
    from bench.fuzz import Target

    return Target(
        site=rig.layout.site,
        kiosks=tuple(rig.layout.kiosks),
        desks=dict(rig.layout.desk_devices),
        display=rig.layout.display,
        other_site=REAL_SITE,
        other_device="kiosk-real-1",
    )


def table_rows(database: str, skip: tuple[str, ...] = ("commands",)) -> dict[str, list[Any]]:
    """Every row of every table but `skip` (the replies kept for idempotency), sorted."""
    import sqlalchemy as sa

    from scheduler.store.db import make_engine

    engine = make_engine(database)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        out: dict[str, list[Any]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                if name in skip or name == "alembic_version":
                    continue
                cols = [
                    c
                    for c in table.c
                    # A restart or the periodic tick republishes the display (seq + 1)
                    # without a state change; `version` counts the state's commits.
                    if not (name == "sites" and c.name in ("display_seq", "updated_at"))
                ]
                rows = [tuple(r) for r in conn.execute(sa.select(*cols))]
                out[name] = sorted(rows, key=repr)
        return out
    finally:
        engine.dispose()


def new_commands(database: str, since: set[tuple[str, str]]) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from scheduler.store import tables as t
    from scheduler.store.db import make_engine

    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(t.commands.c.device, t.commands.c.id, t.commands.c.reply))
            return [json.loads(r.reply) for r in rows if (r.device, r.id) not in since]
    finally:
        engine.dispose()


def command_keys(database: str) -> set[tuple[str, str]]:
    from scheduler.store.db import Store

    store = Store(database)
    try:
        return {(d, i) for d, i, _at in store.command_keys()}
    finally:
        store.dispose()


class _Count(logging.Handler):
    """Counts the scheduler's log records: drops (warnings) and internal errors."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.dropped = 0
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors += 1
        elif record.levelno == logging.WARNING and record.getMessage().startswith("dropped"):
            self.dropped += 1


def fuzz_in_process(
    config_path: Path, database: str, items: list[tuple[str, bytes, str]], *, rounds: int = 1
) -> dict[str, Any]:
    """The payloads through `Scheduler.handle_batch` (the worker's code), in batches of
    100, `rounds` times (each round with new ids, so every payload is a new command)."""
    from bench.fuzz import expected, iter_chunks
    from scheduler.config import load_config
    from scheduler.service import Incoming, Scheduler
    from scheduler.store.db import Store

    config = load_config(config_path)
    store = Store(database)
    counter = _Count()
    slog = logging.getLogger("vuoro.scheduler")
    slog.addHandler(counter)
    try:
        store.migrate()
        sched = Scheduler(config.site_defs(), store)
        sched.load()
        before_rows = table_rows(database)
        before_keys = command_keys(database)
        views = {
            sid: _steady(sched._display_body(st, sched.clock())) for sid, st in sched.states.items()
        }
        desks = {
            sid: {d: st.desk_state(d) for d in st.site.desks} for sid, st in sched.states.items()
        }
        want = Counter(
            {k: v * rounds for k, v in Counter(expected(tp, r) for tp, r, _ in items).items()}
        )
        replies = 0
        errors_ok_true = 0
        other_out = 0
        for r in range(rounds):
            tag = f"r{r:03d}".encode()
            for chunk in iter_chunks(items, 100):
                batch = [
                    Incoming(tp, raw.replace(b"fuzz-", b"fz" + tag + b"-", 1), None)
                    for tp, raw, _f in chunk
                ]
                res = sched.handle_batch(batch)
                for o in res.out:
                    if "/reply/" in o.topic:
                        replies += 1
                        errors_ok_true += o.payload.get("ok") is not False
                    else:
                        other_out += 1
        after_rows = table_rows(database)
        stored = new_commands(database, before_keys)
        views_after = {
            sid: _steady(sched._display_body(st, sched.clock())) for sid, st in sched.states.items()
        }
        desks_after = {
            sid: {d: st.desk_state(d) for d in st.site.desks} for sid, st in sched.states.items()
        }
        changed = [n for n in before_rows if before_rows[n] != after_rows.get(n)]
        return {
            "payloads": len(items) * rounds,
            "distinct_payloads": len(items),
            "expected_replies": want["reply"],
            "expected_drops": want["drop"],
            "error_replies": replies,
            "dropped_with_log_line": counter.dropped,
            "ok_replies": errors_ok_true,
            "state_messages": other_out,
            "internal_errors_logged": counter.errors,
            "stored_replies_not_errors": sum(1 for b in stored if b.get("ok") is not False),
            "tables_changed": changed,
            "views_changed": views != views_after or desks != desks_after,
        }
    finally:
        slog.removeHandler(counter)
        store.dispose()


def fuzz_over_mqtt(rig: Rig, items: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    """The payloads published to the scheduler process; replies and log lines counted."""
    from bench.fuzz import expected

    got: Counter[str] = Counter()
    lock = threading.Lock()
    ok_true = 0

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        nonlocal ok_true
        with contextlib.suppress(Exception):
            body = json.loads(msg.payload)
            if str(body.get("id", "")).startswith("fuzz-"):
                with lock:
                    got["reply"] += 1
                    ok_true += body.get("ok") is not False

    user = rig.broker.add_user("chaos-fuzz", "superuser")
    rig.broker.reload()
    time.sleep(0.3)
    conn = bc.Conn(rig.broker.host, rig.broker.port, user, on_message)
    conn.start([f"{p.PREFIX}/+/reply/+"])
    log_mark = rig.sched.log_path.stat().st_size
    # A topic with a wildcard cannot be published (MQTT forbids it; paho refuses it).
    sendable = [x for x in items if "+" not in x[0] and "#" not in x[0]]
    unsendable = len(items) - len(sendable)
    # The scheduler subscribes to `vuoro/v1/{site}/cmd/+/+` of its sites: the broker does
    # not route it anything else (e.g. a topic with one level too few or too many).
    filters = [p.Topics.cmd_filter(s) for s in (rig.layout.site, REAL_SITE)]
    items = [x for x in sendable if any(mqtt_match(f, x[0]) for f in filters)]
    not_routed = len(sendable) - len(items)
    want = Counter(expected(tp, raw) for tp, raw, _f in items)
    t0 = time.monotonic()
    try:
        for i, (tp, raw, _f) in enumerate(items):
            info = conn.client.publish(tp, raw, qos=1)
            if i % 500 == 499:
                info.wait_for_publish(30)
                # Keep at most a few thousand unanswered in the scheduler's queue.
                deadline = time.monotonic() + 60
                while i - got["reply"] - _drops(rig, log_mark) > 3000:
                    if time.monotonic() > deadline or not rig.sched.alive():
                        break
                    time.sleep(0.02)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and rig.sched.alive():
            if got["reply"] >= want["reply"] and _drops(rig, log_mark) >= want["drop"]:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # anything beyond what was expected would show now
    finally:
        conn.stop()
    return {
        "payloads": len(items),
        "not_publishable_wildcard_topic": unsendable,
        "not_routed_to_the_scheduler": not_routed,
        "expected_replies": want["reply"],
        "expected_drops": want["drop"],
        "error_replies": got["reply"],
        "dropped_with_log_line": _drops(rig, log_mark),
        "ok_replies": ok_true,
        "scheduler_alive": rig.sched.alive(),
        "seconds": round(time.monotonic() - t0, 1),
    }


def mqtt_match(topic_filter: str, topic: str) -> bool:
    import paho.mqtt.client as mqtt

    return bool(mqtt.topic_matches_sub(topic_filter, topic))


def _drops(rig: Rig, mark: int) -> int:
    with rig.sched.log_path.open("rb") as f:
        f.seek(mark)
        return sum(1 for line in f if b"WARNING vuoro.scheduler: dropped" in line)


def _steady(body: dict[str, Any]) -> dict[str, Any]:
    """A retained body without what changes with time alone (`seq`, `at`, the queues'
    `eta_min`: an estimate of the wait moves as the clock moves)."""
    out = {k: v for k, v in body.items() if k not in ("seq", "at")}
    if isinstance(out.get("queues"), list):
        out["queues"] = [
            {k: v for k, v in q.items() if k != "eta_min"} if isinstance(q, dict) else q
            for q in out["queues"]
        ]
    return out


def retained_state(rig: Rig, sites: tuple[str, ...]) -> dict[str, Any]:
    """The retained state a device gets on subscribing (without `seq` and `at`)."""
    seen: dict[str, Any] = {}
    lock = threading.Lock()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        body = json.loads(msg.payload)
        with lock:
            seen[msg.topic] = _steady(body)

    name = f"chaos-look-{len(rig.broker.users)}"
    user = rig.broker.add_user(name, "superuser")
    rig.broker.reload()
    time.sleep(0.3)
    conn = bc.Conn(rig.broker.host, rig.broker.port, user, on_message)
    conn.start([f"{p.PREFIX}/{s}/state/#" for s in sites])
    time.sleep(1.0)
    conn.stop()
    with lock:
        return dict(seen)


def fuzz(
    work: Path,
    *,
    n_mqtt: int = 100_000,
    n_distinct: int = 100_000,
    in_process_rounds: int = 1,
    seed: int = 1,
) -> dict[str, Any]:
    """Bad input over MQTT into the real process, and through handle_batch in-process."""
    from bench.fuzz import payloads

    t0 = time.monotonic()
    rig = Rig(work, desks=4, kiosks=2)
    try:
        rig.start()
        rig.prefill(5)
        load = rig.load
        assert load is not None
        for dev in load.desks[:2]:  # two desks calling, the others open
            load.wait(load.request(dev, "next", {"desk": dev.desk}, "setup"), timeout=20)
        items = payloads(max(n_mqtt, n_distinct), fuzz_target(rig), seed=seed)
        gen_s = round(time.monotonic() - t0, 1)
        sites = (rig.layout.site, REAL_SITE)
        retained_before = retained_state(rig, sites)
        rig.sched.stop()
        rows_before = table_rows(rig.database)
        rig.start_scheduler()
        mqtt = fuzz_over_mqtt(rig, items[:n_mqtt])
        retained_after = retained_state(rig, sites)
        rc = rig.sched.stop()
        rows_after = table_rows(rig.database)
        mqtt["scheduler_exit"] = rc
        mqtt["tables_changed"] = [n for n in rows_before if rows_before[n] != rows_after.get(n)]
        mqtt["retained_changed"] = sorted(
            tp
            for tp in set(retained_before) | set(retained_after)
            if retained_before.get(tp) != retained_after.get(tp)
        )
        for tp in mqtt["retained_changed"]:
            log.warning(
                "retained %s: %s -> %s", tp, retained_before.get(tp), retained_after.get(tp)
            )
        inproc = fuzz_in_process(
            rig.config, rig.database, items[:n_distinct], rounds=in_process_rounds
        )
        from bench.fuzz import FAULTS

        faults = Counter(f for _t, _r, f in items)
        bad = (
            mqtt["ok_replies"]
            + inproc["ok_replies"]
            + inproc["stored_replies_not_errors"]
            + inproc["state_messages"]
            + inproc["internal_errors_logged"]
            + len(mqtt["tables_changed"])
            + len(mqtt["retained_changed"])
            + len(inproc["tables_changed"])
            + int(inproc["views_changed"])
            + int(rc != 0)
        )
        unaccounted = abs(mqtt["error_replies"] - mqtt["expected_replies"]) + abs(
            mqtt["dropped_with_log_line"] - mqtt["expected_drops"]
        )
        unaccounted += abs(inproc["error_replies"] - inproc["expected_replies"]) + abs(
            inproc["dropped_with_log_line"] - inproc["expected_drops"]
        )
        return {
            "done": {
                "payloads_over_mqtt": len(items[:n_mqtt]),
                "payloads_in_process": inproc["payloads"],
                "distinct_payloads": len(items),
                "faults": {f: faults.get(f, 0) for f in FAULTS},
                "generator": "hypothesis strategies (bench/fuzz.py), drawn in lists of 50",
                "generate_s": gen_s,
                "seconds": round(time.monotonic() - t0, 1),
            },
            "mqtt": mqtt,
            "in_process": inproc,
            "lost": 0,
            "duplicates": 0,
            "state_changes": bad,
            "unaccounted": unaccounted,
            "ok": bad == 0 and unaccounted == 0 and mqtt["scheduler_alive"] is not False,
        }
    finally:
        rig.stop()


# ---------------------------------------------------------------------------- 5. scale-out


def scale_out(
    work: Path, *, postgres: Any = None, before_s: float = 3.0, after_s: float = 6.0
) -> dict[str, Any]:
    """Two scheduler processes on one PostgreSQL behind one broker, each serving the
    sites whose advisory lock it holds (scheduler/ownership.py); under load, SIGKILL the
    one serving the loaded site: the other takes the site over and carries on."""
    t0 = time.monotonic()
    own = postgres is None
    if own:
        from scheduler.store.private_pg import PrivatePostgres

        postgres = PrivatePostgres()
        postgres.start()
    rig: Rig | None = None
    second: bc.SchedulerProcess | None = None
    try:
        rig = Rig(work, database=postgres.new_database(), desks=6, kiosks=3)
        user2 = rig.broker.add_user("scheduler-2", "scheduler")
        text = rig.config.read_text()
        config2 = work / "chaos-2.toml"
        config2.write_text(
            text.replace(f'username = "{SCHEDULER_USER}"', 'username = "scheduler-2"')
            .replace(f'client_id = "{SCHEDULER_USER}"', 'client_id = "scheduler-2"')
            .replace(rig.sched_user.password, user2.password)
        )
        config2.chmod(0o600)
        second = bc.SchedulerProcess(config2, work / "scheduler-2.log")
        procs = {1: rig.sched, 2: second}
        site = rig.layout.site
        rig.broker.start()
        rig.display.conn = bc.Conn(
            rig.broker.host, rig.broker.port, rig.display_user, rig.display.on_message
        )
        rig.display.conn.start([rig.display.topic, p.Topics.SCHEDULER_STATUS])
        for k, proc in procs.items():  # both at once: each takes its own sites first
            os.environ["VUORO_SCHEDULER_SHARD"] = f"{k}/2"
            try:
                proc.start()
            finally:
                del os.environ["VUORO_SCHEDULER_SHARD"]
        rig.starts = 2
        rig.wait_online()
        time.sleep(3.0)  # the other's sites are free for the grace time: nobody takes them
        rig.conns = [bc.Conn(rig.broker.host, rig.broker.port, u, None) for u in rig.load_users]
        rig.load = load = bc.Load(rig.layout, rig.conns, window=2)
        for c, topics in zip(rig.conns, load.reply_topics, strict=True):
            c.client.on_message = load.on_message
            c.start(topics)
        rig.prefill(20)
        load.start_mode("load")
        time.sleep(before_s)
        with load.lock:
            ok_before = sum(1 for _t, b in load.res.replies.values() if b.get("ok"))
        both_alive = rig.sched.alive() and second.alive()
        # Who serves the loaded site: the process whose log says it took it.
        took = {k: _took(proc, site) for k, proc in procs.items()}
        owner = 1 if took[1] else 2
        survivor = procs[3 - owner]
        taken_before = _took(survivor, site)
        victim = procs[owner]
        assert victim.proc is not None
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(10)
        killed_at = time.perf_counter()
        time.sleep(after_s)
        load.stop_mode()
        drained = rig.drain(60)
        with load.lock:
            replies = list(load.res.replies.values())
        ok_after = sum(1 for t, b in replies if b.get("ok") and t > killed_at)
        took_over = _took(survivor, site) > taken_before
        first_after = min((t for t, b in replies if t > killed_at), default=None)
        rc = survivor.stop()
        checked = bc.verify(rig.database, site, load)
        snaps, back = rig.seq_back()
        return {
            "done": {
                "scheduler_processes": 2,
                "database": "postgresql",
                "sigkilled": f"process {owner} (serving {site})",
                "ok_replies_before_the_kill": ok_before,
                "ok_replies_after_the_kill": ok_after,
                "first_reply_after_the_kill_s": None
                if first_after is None
                else round(first_after - killed_at, 2),
                "commands_sent": len(load.sent),
                "display_snapshots": snaps,
                "seconds": round(time.monotonic() - t0, 1),
            },
            "both_alive_before_the_kill": both_alive,
            "survivor_took_over": took_over,
            "drained": drained,
            "survivor_exit": rc,
            "display_seq_back": back,
            "problems": checked["problems"],
            "db_tickets": checked["db_tickets"],
            "lost": checked["lost"],
            "duplicates": checked["duplicates"],
            "ok": drained
            and both_alive
            and took_over
            and checked["lost"] == 0
            and checked["duplicates"] == 0,
        }
    finally:
        if second is not None:
            second.stop()
        if rig is not None:
            rig.stop()
        if own:
            postgres.stop()


def _took(proc: bc.SchedulerProcess, site: str) -> int:
    """How often the process's log says it took `site` over."""
    import re

    pat = re.compile(r"took over \d+ site\(s\): (.*)")
    return sum(
        1
        for m in pat.finditer(proc.log_tail(10_000_000))
        if site in [x.strip() for x in m.group(1).split(",")]
    )


# ---------------------------------------------------------------------------- the command


@dataclass
class ChaosOptions:
    kills: int = 20
    seed: int = 1
    # 100,000 reach the scheduler over MQTT: ~4 % cannot be published (a wildcard in the
    # topic) or are not routed to it (a topic of another shape).
    fuzz: int = 104_000
    scenarios: tuple[str, ...] = (
        "crash_loop",
        "broker_network",
        "power_loss",
        "fuzz",
        "scale_out",
    )
    workdir: str | None = None


SCENARIOS: dict[str, Callable[[Path, ChaosOptions], dict[str, Any]]] = {
    "crash_loop": lambda w, o: crash_loop(w, kills=o.kills, seed=o.seed),
    "broker_network": lambda w, o: broker_network(w, seed=o.seed),
    "power_loss": lambda w, o: power_loss(w, seed=o.seed),
    "fuzz": lambda w, o: fuzz(w, n_mqtt=o.fuzz, n_distinct=o.fuzz, seed=o.seed),
    "scale_out": lambda w, o: scale_out(w),
    # Not in the default run (minutes): `--scenario national`.
    "national": lambda w, o: _national(w),
}


def _national(work: Path) -> dict[str, Any]:
    from bench.national import national_day

    return national_day(work)


def run_chaos(opts: ChaosOptions) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="vuoro-chaos-", dir=opts.workdir))
    keep = bool(os.environ.get(bc.KEEP_ENV))
    out: dict[str, Any] = {"bench": "chaos", "scenarios": {}}
    try:
        for name in opts.scenarios:
            sub = work / name
            sub.mkdir()
            log.warning("chaos: %s", name)
            out["scenarios"][name] = SCENARIOS[name](sub, opts)
    finally:
        if keep:
            out["workdir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sc = out["scenarios"].values()
    out["lost"] = sum(int(s.get("lost", 0)) for s in sc)
    out["duplicates"] = sum(int(s.get("duplicates", 0)) for s in sc)
    out["ok"] = all(s.get("ok", True) for s in sc) and out["lost"] == 0 and out["duplicates"] == 0
    return out


def run(args: argparse.Namespace) -> int:
    names = tuple(args.scenario or ChaosOptions().scenarios)
    opts = ChaosOptions(kills=int(args.kills), seed=int(args.seed), scenarios=names)
    result = run_chaos(opts)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "writer":
        sys.exit(_writer(sys.argv[2], sys.argv[3]))
    sys.exit("usage: python -m bench.chaos writer CONFIG DATABASE_URL")
