"""`vuoro bench calls`: desk calls and kiosk tickets against a real broker and scheduler.

What runs: a private Mosquitto (passwords and ACLs, as in the demo), the scheduler as a
separate process (`vuoro scheduler --config <generated TOML>`) on SQLite in a temporary
folder (or `--database URL`), a generated bench site (3 queues, `--desks` desks with
overlapping work profiles, one desk device per desk, `--kiosks` kiosk devices, one
display), and in this process a load generator and a display subscriber.

The load generator speaks the protocol over a few MQTT connections of the `superuser`
role, each multiplexing many device ids on their `cmd` topics (the scheduler checks that
the device id in the topic is registered with the right role, as for a real device), so
that 20-100 simulated devices do not need 20-100 paho threads competing with the
scheduler for the CPU. The display subscriber is a real display user.

Phases:
1. prefill: kiosks issue tickets until each queue has PREFILL waiting; the desks open.
2. latency (light load): one desk `next` at a time, round-robin over the desks, each with
   one kiosk `ticket` sent alongside it; the latency of a call is from publishing the
   `next` until the display subscriber receives the first `state/display` snapshot whose
   `called` list shows that number at that desk (it is `called[0]`: one call at a time).
3. load (`--seconds`): every device keeps up to WINDOW commands outstanding (closed loop:
   a reply sends the next command). Kiosks stop while a queue has HIGH_WAITING waiting,
   desks while their queues have too few, so the mix stays about half tickets and half
   calls and every command can succeed. `commands_per_s` counts the `ok` replies received
   in the phase, divided by its length. Calls are also timed under this load (same
   definition; `load_p50_ms`/`load_p99_ms`). Every RESEND_EVERY-th ticket is sent again
   with the same id, as a kiosk does after losing its link: it must get the same reply.
4. drain, stop the scheduler (SIGTERM), and check the database.

`lost`: commands never answered, plus answered commands whose reply is not stored in the
commands table, plus tickets answered `ok` that are not in the database.
`duplicates`: a number given to two tickets that were live at the same time, a ticket
called at two desks (or twice), two different replies (tickets) for one command id,
one ticket in the replies of two commands, and tickets in the database that no command
was answered with.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_common import protocol as p
from firmware_common.mqtt import no_delay
from provisioning.broker import SCHEDULER_USER, PrivateBroker, User

log = logging.getLogger("vuoro.bench")

QUEUES = (("a", "A"), ("b", "B"), ("c", "C"))
PREFILL = 100  # waiting tickets per queue before the latency phase
HIGH_WAITING = 200  # kiosks stop issuing into a queue with this many waiting
LOW_SUPPLY = 20  # a desk calls only while more than this many wait in its queues
WINDOW = 4  # outstanding commands per device in the load phase
RESEND_EVERY = 50  # every n-th ticket of the load phase is sent again with the same id
REPLY_TIMEOUT = 5.0
SHOWN_WITHIN = 1.0  # a snapshot showing a call must arrive within this after its reply
DRAIN_TIMEOUT = 30.0
PROFILE_ENV = "VUORO_BENCH_PROFILE"  # a file: cProfile the scheduler's worker thread into it
KEEP_ENV = "VUORO_BENCH_KEEP"  # set: keep the temporary folder (logs, database)


# ---------------------------------------------------------------------------- the site


@dataclass
class Layout:
    site: str
    desks: dict[str, tuple[str, ...]]  # desk id -> queues
    desk_devices: dict[str, str]  # device id -> desk id
    kiosks: list[str]
    display: str


def make_layout(site: str, desks: int, kiosks: int) -> Layout:
    qids = [q for q, _ in QUEUES]
    desk_queues = {
        str(i + 1): (qids[i % len(qids)], qids[(i + 1) % len(qids)]) for i in range(desks)
    }
    return Layout(
        site=site,
        desks=desk_queues,
        desk_devices={f"bench-desk-{d}": d for d in desk_queues},
        kiosks=[f"bench-kiosk-{i + 1}" for i in range(kiosks)],
        display="bench-display-1",
    )


def _s(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def site_toml(
    layout: Layout, *, database: str, host: str, port: int, password: str, log_level: str
) -> str:
    """The scheduler configuration file of the bench site (docs/configuration.md)."""
    out = [
        "# Generated by `vuoro bench calls`.",
        "[scheduler]",
        f"database = {_s(database)}",
        'status_url_base = "http://bench.invalid/t/"',
        f"log_level = {_s(log_level)}",
        "",
        "[mqtt]",
        f"host = {_s(host)}",
        f"port = {port}",
        f"username = {_s(SCHEDULER_USER)}",
        f"client_id = {_s(SCHEDULER_USER)}",
        f"password = {_s(password)}",
        "",
        "[web]",
        "port = 0  # a free port: other schedulers may run on this machine",
        "",
        "[[sites]]",
        f"id = {_s(layout.site)}",
        'name = { fi = "Kuormitustesti", sv = "Belastningstest", en = "Load test" }',
        'timezone = "Europe/Helsinki"',
        "",
    ]
    for qid, prefix in QUEUES:
        out += [
            "[[sites.queues]]",
            f"id = {_s(qid)}",
            f"prefix = {_s(prefix)}",
            f'name = {{ fi = "Jono {prefix}", sv = "Kö {prefix}", en = "Queue {prefix}" }}',
            "",
            "[[sites.services]]",
            f"id = {_s('s-' + qid)}",
            f'name = {{ fi = "Palvelu {prefix}", sv = "Tjänst {prefix}", '
            f'en = "Service {prefix}" }}',
            f"provider = {_s('provider-' + qid)}",
            f"queue = {_s(qid)}",
            "",
        ]
    for desk, queues in layout.desks.items():
        out += ["[[sites.desks]]", f"id = {_s(desk)}", f"queues = {json.dumps(list(queues))}", ""]
    for dev, desk in layout.desk_devices.items():
        out += [
            "[[sites.devices]]",
            f"id = {_s(dev)}",
            'role = "desk"',
            f"desks = [{_s(desk)}]",
            "",
        ]
    for dev in layout.kiosks:
        out += ["[[sites.devices]]", f"id = {_s(dev)}", 'role = "kiosk"', ""]
    out += ["[[sites.devices]]", f"id = {_s(layout.display)}", 'role = "display"', ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- MQTT


class Conn:
    """One plain paho MQTT 5 connection (no persistent session: the bench starts fresh)."""

    def __init__(self, host: str, port: int, user: User, on_message: Any) -> None:
        self.user = user
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._topics: list[str] = []
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=user.username,
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(user.username, user.password)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = on_message
        self.client = c
        self.host, self.port = host, port

    def start(self, topics: list[str], timeout: float = 10.0) -> None:
        self._topics = topics
        self.client.connect(self.host, self.port, keepalive=30, clean_start=True)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise RuntimeError(f"{self.user.username}: no connection to the broker")
        if topics and not self.subscribed.wait(timeout):
            raise RuntimeError(f"{self.user.username}: subscription not acknowledged")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("%s: broker refused the connection: %s", self.user.username, rc)
            return
        no_delay(client)
        if self._topics:
            client.subscribe([(t, 1) for t in self._topics])
        self.connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _mid: Any, codes: Any, _p: Any) -> None:
        if any(c.is_failure for c in codes):
            log.error("%s: a subscription was refused: %s", self.user.username, codes)
            return
        self.subscribed.set()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


class Display:
    """The display subscriber: every `state/display` snapshot with its arrival time."""

    def __init__(self, site: str) -> None:
        self.topic = p.Topics.display_state(site)
        self.cond = threading.Condition()
        self.times: list[float] = []
        self.called: list[tuple[tuple[str, str], ...]] = []
        self.seqs: list[int] = []
        self.scheduler_online = threading.Event()
        self.conn: Conn | None = None

    def on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        if msg.topic == p.Topics.SCHEDULER_STATUS:
            with contextlib.suppress(Exception):
                if json.loads(msg.payload).get("online") is True:
                    self.scheduler_online.set()
            return
        body = json.loads(msg.payload)
        called = tuple((c["number"], c["desk"]) for c in body.get("called", ()))
        with self.cond:
            self.times.append(t)
            self.called.append(called)
            self.seqs.append(int(body.get("seq", -1)))
            self.cond.notify_all()

    def find(self, number: str, desk: str, after: float, before: float) -> float | None:
        """Arrival time of the first snapshot received between `after` and `before` that
        shows the call (later, the number may have been given and called again)."""
        with self.cond:
            i = bisect_left(self.times, after)
            for j in range(i, len(self.times)):
                if self.times[j] > before:
                    break
                if (number, desk) in self.called[j]:
                    return self.times[j]
        return None

    def wait_for(self, number: str, desk: str, after: float, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        with self.cond:
            i = bisect_left(self.times, after)
            while True:
                while i < len(self.times):
                    if (number, desk) in self.called[i]:
                        return self.times[i]
                    i += 1
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def seq_gaps(self) -> int:
        """Snapshots missing between consecutive received ones (seq goes up by one)."""
        with self.cond:
            seqs = list(self.seqs)
        return sum(max(0, b - a - 1) for a, b in pairwise(seqs))


# ---------------------------------------------------------------------------- load


@dataclass(eq=False)
class Dev:
    id: str
    role: str
    conn: Conn
    topic: str  # command topic prefix: vuoro/v1/{site}/cmd/{device}/
    desk: str | None = None
    queues: tuple[str, ...] = ()
    inflight: int = 0


class Sent:
    __slots__ = ("dev", "payload", "phase", "queue", "resends", "t", "verb")

    def __init__(self, dev: Dev, verb: str, t: float, phase: str, payload: bytes, queue: str):
        self.dev = dev
        self.verb = verb
        self.t = t
        self.phase = phase
        self.payload = payload
        self.queue = queue
        self.resends = 0


@dataclass
class Call:
    cmd_id: str
    desk: str
    number: str
    token: str
    t_pub: float
    t_reply: float
    phase: str


@dataclass
class Results:
    replies: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    tickets: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # token -> id, n, q
    errors: Counter[str] = field(default_factory=Counter)
    resent: int = 0
    resend_mismatch: int = 0
    redelivered: int = 0
    unknown_replies: int = 0


class Load:
    """The simulated kiosks and desks, multiplexed over a few MQTT connections."""

    def __init__(
        self, layout: Layout, conns: list[Conn], *, window: int = WINDOW, resend_every: int = 0
    ) -> None:
        self.layout = layout
        self.window = window
        # Kiosks and desks get the same total of outstanding commands (each desk `window`),
        # so that neither side's supply throttles the other and the mix stays half-half.
        n_desks, n_kiosks = len(layout.desk_devices), len(layout.kiosks)
        self.kiosk_window = max(1, math.ceil(window * n_desks / max(1, n_kiosks)))
        self.resend_every = resend_every
        self.lock = threading.Lock()
        self.mode = "idle"
        self.sent: dict[str, Sent] = {}
        self.res = Results()
        self.waiters: dict[str, threading.Event] = {}
        self.waiting = dict.fromkeys((q for q, _ in QUEUES), 0)  # from the replies
        self.inflight_tickets = dict.fromkeys(self.waiting, 0)
        self.inflight_next = 0
        self.blocked: set[Dev] = set()
        self.ok_tickets = 0
        self.prefill_target = PREFILL
        site = layout.site
        self.desks: list[Dev] = []
        self.kiosks: list[Dev] = []
        by_conn: dict[int, list[str]] = defaultdict(list)
        devices = [(d, "desk") for d in layout.desk_devices] + [(k, "kiosk") for k in layout.kiosks]
        self.by_id: dict[str, Dev] = {}
        for i, (dev_id, role) in enumerate(devices):
            conn = conns[i % len(conns)]
            desk = layout.desk_devices.get(dev_id)
            dev = Dev(
                dev_id,
                role,
                conn,
                f"{p.PREFIX}/{site}/cmd/{dev_id}/",
                desk=desk,
                queues=layout.desks[desk] if desk else (),
            )
            (self.desks if role == "desk" else self.kiosks).append(dev)
            self.by_id[dev_id] = dev
            by_conn[i % len(conns)].append(p.Topics.reply(site, dev_id))
        self.reply_topics = [by_conn[i] for i in range(len(conns))]
        self._reply_prefix = f"{p.PREFIX}/{site}/reply/"

    # ------------------------------------------------------------------ sending

    def _send(
        self, dev: Dev, verb: str, fields: dict[str, Any], phase: str, queue: str = ""
    ) -> str:
        """Publish one command (call with the lock held)."""
        cmd_id = str(uuid.uuid4())
        body = {"v": 1, "id": cmd_id, **fields}
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.sent[cmd_id] = Sent(dev, verb, time.perf_counter(), phase, payload, queue)
        dev.inflight += 1
        dev.conn.client.publish(dev.topic + verb, payload, qos=1)
        return cmd_id

    def _resend(self, cmd_id: str) -> None:
        s = self.sent[cmd_id]
        s.resends += 1
        s.dev.inflight += 1
        self.res.resent += 1
        s.dev.conn.client.publish(s.dev.topic + s.verb, s.payload, qos=1)

    def _ticket(self, dev: Dev, phase: str) -> str | None:
        q = min(self.waiting, key=lambda q: self.waiting[q] + self.inflight_tickets[q])
        if self.waiting[q] + self.inflight_tickets[q] >= self._ticket_limit():
            return None
        self.inflight_tickets[q] += 1
        return self._send(dev, "ticket", {"service": f"s-{q}", "lang": "fi"}, phase, q)

    def _ticket_limit(self) -> int:
        return self.prefill_target if self.mode == "prefill" else HIGH_WAITING

    def _next(self, dev: Dev, phase: str) -> str:
        self.inflight_next += 1
        assert dev.desk is not None
        return self._send(dev, "next", {"desk": dev.desk}, phase)

    def _supply(self, dev: Dev) -> int:
        return sum(self.waiting[q] for q in dev.queues) - self.inflight_next

    def _fill(self, dev: Dev) -> None:
        """Top up the device's outstanding commands (closed loop; lock held)."""
        mode = self.mode
        if mode not in ("load", "prefill"):
            return
        limit = self.window if dev.role == "desk" else self.kiosk_window
        while dev.inflight < limit:
            if dev.role == "desk":
                if mode != "load" or self._supply(dev) <= LOW_SUPPLY:
                    self.blocked.add(dev)
                    return
                self._next(dev, mode)
            elif self._ticket(dev, mode) is None:
                self.blocked.add(dev)
                return

    def start_mode(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            self.blocked.clear()
            for dev in self.kiosks + self.desks:
                self._fill(dev)

    def stop_mode(self) -> None:
        with self.lock:
            self.mode = "idle"
            self.blocked.clear()

    def request(self, dev: Dev, verb: str, fields: dict[str, Any], phase: str) -> str:
        """Send one command and return its id; `wait(id)` waits for the reply."""
        with self.lock:
            if verb == "ticket":
                cmd_id = self._ticket(dev, phase)
                if cmd_id is None:
                    raise RuntimeError("the queues are full")
            elif verb == "next":
                cmd_id = self._next(dev, phase)
            else:
                cmd_id = self._send(dev, verb, fields, phase)
            self.waiters[cmd_id] = threading.Event()
            return cmd_id

    def wait(self, cmd_id: str, timeout: float = REPLY_TIMEOUT) -> tuple[float, dict[str, Any]]:
        ev = self.waiters[cmd_id]
        if not ev.wait(timeout):
            raise TimeoutError(f"no reply to {cmd_id} within {timeout} s")
        with self.lock:
            del self.waiters[cmd_id]
            return self.res.replies[cmd_id]

    def outstanding(self) -> int:
        with self.lock:
            return sum(d.inflight for d in self.by_id.values())

    # ------------------------------------------------------------------ replies

    def on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        body = json.loads(msg.payload)
        cmd_id = body.get("id")
        with self.lock:
            s = self.sent.get(cmd_id) if isinstance(cmd_id, str) else None
            if s is None or not msg.topic.startswith(self._reply_prefix):
                self.res.unknown_replies += 1
                return
            dev = s.dev
            first = self.res.replies.get(cmd_id)
            if first is not None:  # the answer to a re-sent id, or a QoS 1 redelivery
                if s.resends > 0:
                    s.resends -= 1
                    dev.inflight -= 1
                else:
                    self.res.redelivered += 1
                if body != first[1]:
                    self.res.resend_mismatch += 1
                self._fill(dev)
                return
            self.res.replies[cmd_id] = (t, body)
            dev.inflight -= 1
            ok = body.get("ok") is True
            if not ok:
                self.res.errors[str(body.get("error", {}).get("code"))] += 1
            if s.verb == "ticket":
                self.inflight_tickets[s.queue] -= 1
                if ok:
                    tk = body["ticket"]
                    self.waiting[tk["queue"]] += 1
                    token = tk["status_url"].rsplit("/", 1)[-1]
                    self.res.tickets[token] = (cmd_id, tk["number"], tk["queue"])
                    self.ok_tickets += 1
                    every = self.resend_every
                    if every and self.ok_tickets % every == 0 and s.phase == self.mode == "load":
                        self._resend(cmd_id)
            elif s.verb == "next":
                self.inflight_next -= 1
                tk = body.get("ticket") if ok else None
                if tk is not None:
                    self.waiting[tk["queue"]] -= 1
                    token = tk["status_url"].rsplit("/", 1)[-1]
                    assert dev.desk is not None
                    self.res.calls.append(
                        Call(cmd_id, dev.desk, tk["number"], token, s.t, t, s.phase)
                    )
            ev = self.waiters.get(cmd_id)
            if ev is not None:
                ev.set()
            self._fill(dev)
            if self.blocked:
                for other in list(self.blocked):
                    self.blocked.discard(other)
                    self._fill(other)


# ---------------------------------------------------------------------------- helpers


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p99 of 1000 samples is the 990th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[k]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 3)


def _proc_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _mosquitto_version() -> str | None:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    try:
        out = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (out.stdout + out.stderr).splitlines():
        if "version" in line:
            return line.split("version", 1)[1].strip()
    return None


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _cpu_reference_ms() -> float:
    """Milliseconds this Python takes for a plain loop of 10 million additions (the best
    of three): a yardstick for comparing runs made on different machines."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        s = 0
        for i in range(10_000_000):
            s += i
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class SchedulerProcess:
    """`vuoro scheduler --config FILE` as a child process (logs to a file)."""

    def __init__(self, config: Path, log_path: Path, profile: str | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.profile:
            cmd = [sys.executable, "-m", "bench.calls", "profile-scheduler"]
            cmd += [str(self.config), self.profile]
        else:
            cmd = [sys.executable, "-m", "vuoro.cli", "scheduler", "--config", str(self.config)]
        logf = self.log_path.open("ab")
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        self.proc = subprocess.Popen(
            cmd, stdout=logf, stderr=logf, start_new_session=True, env=env, cwd=root
        )
        logf.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("the scheduler did not stop in %.0f s: killed", timeout)
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


# ---------------------------------------------------------------------------- checking


def verify(database: str, site: str, load: Load) -> dict[str, Any]:
    """Compare what the devices were told with what the database holds."""
    from sqlalchemy import select

    from scheduler.store import tables as t
    from scheduler.store.db import Store

    store = Store(database)
    try:
        db_tickets = store.tickets(site)
        events = store.events(site)
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(t.commands.c.device, t.commands.c.id, t.commands.c.reply).where(
                    t.commands.c.site == site
                )
            ).all()
    finally:
        store.dispose()
    res = load.res
    stored = {(r.device, r.id): json.loads(r.reply) for r in rows}
    problems: Counter[str] = Counter()

    # lost: unanswered; answered but not durable; ok tickets missing from the database
    unanswered = [cid for cid in load.sent if cid not in res.replies]
    problems["lost_unanswered"] = len(unanswered)
    for cid, (_t, body) in res.replies.items():
        key = (load.sent[cid].dev.id, cid)
        if key not in stored:
            problems["lost_not_stored"] += 1
        elif stored[key] != body:
            problems["reply_differs_from_stored"] += 1
    by_token = {tk.token: tk for tk in db_tickets}
    for token, (_cid, number, queue) in res.tickets.items():
        tk = by_token.get(token)
        if tk is None or tk.number != number:
            problems["lost_ticket"] += 1
        del queue

    # duplicates
    by_number: dict[str, list[Any]] = defaultdict(list)
    for tk in db_tickets:
        by_number[tk.number].append(tk)
    for tks in by_number.values():
        tks.sort(key=lambda x: (x.issued_at, x.id))
        for a, b in pairwise(tks):
            if a.finished_at is None or a.finished_at > b.issued_at:
                problems["dup_number_live_twice"] += 1
    called: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e["kind"] == "called" and e["ticket_id"]:
            called[e["ticket_id"]].append(e["desk"])
    problems["dup_called_twice"] = sum(1 for desks in called.values() if len(desks) > 1)
    call_tokens = Counter(c.token for c in res.calls)
    problems["dup_called_twice_in_replies"] = sum(n - 1 for n in call_tokens.values() if n > 1)
    problems["dup_reply_for_one_id"] = res.resend_mismatch
    reply_tokens: Counter[str] = Counter()
    for reply in stored.values():
        tk = reply.get("ticket") if reply.get("ok") and "finished" not in reply else None
        if tk:
            reply_tokens[tk["status_url"].rsplit("/", 1)[-1]] += 1
    problems["dup_ticket_in_two_commands"] = sum(n - 1 for n in reply_tokens.values() if n > 1)
    unanswered_tickets = sum(1 for cid in unanswered if load.sent[cid].verb == "ticket")
    extra = sum(1 for tk in db_tickets if tk.token not in res.tickets)
    problems["dup_ticket_without_command"] = max(0, extra - unanswered_tickets)

    lost = sum(v for k, v in problems.items() if k.startswith("lost"))
    dups = sum(v for k, v in problems.items() if k.startswith("dup"))
    return {
        "lost": lost,
        "duplicates": dups,
        "problems": {k: v for k, v in problems.items() if v},
        "db_tickets": len(db_tickets),
        "db_events": len(events),
        "db_commands": len(rows),
    }


# ---------------------------------------------------------------------------- the run


@dataclass
class Options:
    seconds: float = 10.0
    desks: int = 16
    kiosks: int = 8
    database: str | None = None
    window: int = WINDOW
    connections: int = 2
    latency_calls: int | None = None
    workdir: str | None = None


def bench_calls(opts: Options) -> dict[str, Any]:
    if opts.desks < 1 or opts.kiosks < 1:
        raise ValueError("at least one desk and one kiosk")
    tmp = tempfile.mkdtemp(prefix="vuoro-bench-", dir=opts.workdir)
    work = Path(tmp)
    keep = bool(os.environ.get(KEEP_ENV))
    site = "bench" if opts.database is None else f"bench-{uuid.uuid4().hex[:8]}"
    database = opts.database or f"sqlite:///{work / 'vuoro.db'}"
    layout = make_layout(site, opts.desks, opts.kiosks)
    broker = PrivateBroker(work / "broker")
    sched_user = broker.add_user(SCHEDULER_USER, "scheduler")
    load_users = [
        broker.add_user(f"bench-load-{i + 1}", "superuser") for i in range(opts.connections)
    ]
    display_user = broker.add_user(layout.display, "display", site)
    config = work / "bench.toml"
    config.write_text(
        site_toml(
            layout,
            database=database,
            host=broker.host,
            port=broker.port,
            password=sched_user.password,
            log_level="WARNING",
        )
    )
    config.chmod(0o600)  # it holds the bench broker's scheduler password
    sched = SchedulerProcess(config, work / "scheduler.log", os.environ.get(PROFILE_ENV))
    display = Display(site)
    conns: list[Conn] = []
    started = time.perf_counter()
    try:
        broker.start()
        display.conn = Conn(broker.host, broker.port, display_user, display.on_message)
        display.conn.start([display.topic, p.Topics.SCHEDULER_STATUS])
        sched.start()
        deadline = time.monotonic() + 60
        while not display.scheduler_online.wait(0.2):
            if not sched.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not come up:\n{sched.log_tail()}")
        conns = [Conn(broker.host, broker.port, u, None) for u in load_users]
        load = Load(layout, conns, window=opts.window, resend_every=RESEND_EVERY)
        for c, topics in zip(conns, load.reply_topics, strict=True):
            c.client.on_message = load.on_message
            c.start(topics)
        # The generator's own garbage collections (its records are many small objects)
        # would pause the threads that time the replies and snapshots: off while measuring.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            result = _phases(opts, load, display, sched, broker)
        finally:
            gc.enable()
            gc.unfreeze()
        result["context"]["setup_s"] = round(result["context"].pop("_setup_end") - started, 3)
        drained = _drain(load)
        rc = sched.stop()
        if rc not in (0, None):
            log.warning("the scheduler exited with %s:\n%s", rc, sched.log_tail())
        checked = verify(database, site, load)
        result.update(lost=checked.pop("lost"), duplicates=checked.pop("duplicates"))
        result["checks"] = {**checked, "drained": drained, "display_seq_gaps": display.seq_gaps()}
        result["context"]["database"] = _safe_url(database)
        result["context"]["scheduler_exit"] = rc
        if keep:
            result["context"]["workdir"] = str(work)
        return result
    finally:
        for c in conns:
            c.stop()
        if display.conn is not None:
            display.conn.stop()
        sched.stop()
        broker.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _drain(load: Load) -> bool:
    load.stop_mode()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while load.outstanding() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return load.outstanding() == 0


def _phases(
    opts: Options, load: Load, display: Display, sched: SchedulerProcess, broker: PrivateBroker
) -> dict[str, Any]:
    # 1. prefill and open the desks
    load.start_mode("prefill")
    deadline = time.monotonic() + 60
    while min(load.waiting.values()) < PREFILL:
        if time.monotonic() > deadline or not sched.alive():
            raise RuntimeError(f"prefill did not finish:\n{sched.log_tail()}")
        time.sleep(0.02)
    load.stop_mode()
    for dev in load.desks:
        load.wait(load.request(dev, "open", {"desk": dev.desk}, "setup"))
    while load.outstanding():
        time.sleep(0.01)
    setup_end = time.perf_counter()

    # 2. latency: one call at a time, with a ticket alongside each
    n_lat = opts.latency_calls
    if n_lat is None:
        n_lat = max(50, min(2000, int(opts.seconds * 100)))
    lat: list[float] = []
    lat_reply: list[float] = []
    missed = 0
    t_lat = time.perf_counter()
    for i in range(n_lat):
        dev = load.desks[i % len(load.desks)]
        kiosk = load.kiosks[i % len(load.kiosks)]
        nid = load.request(dev, "next", {"desk": dev.desk}, "latency")
        tid = load.request(kiosk, "ticket", {}, "latency")
        t_rep, body = load.wait(nid)
        load.wait(tid)
        tk = body.get("ticket") if body.get("ok") else None
        if tk is None:
            missed += 1
            continue
        t0 = load.sent[nid].t
        lat_reply.append(t_rep - t0)
        seen = display.wait_for(tk["number"], str(dev.desk), t0, REPLY_TIMEOUT)
        if seen is None:
            missed += 1
        else:
            lat.append(seen - t0)
        time.sleep(0.002)
    t_lat = time.perf_counter() - t_lat

    # 3. load
    cpu0 = (_proc_cpu_s(sched.pid), _proc_cpu_s(broker.proc.pid if broker.proc else None))
    self0 = time.process_time()
    t_start = time.perf_counter()
    load.start_mode("load")
    time.sleep(opts.seconds)
    t_end = time.perf_counter()
    load.stop_mode()
    cpu1 = (_proc_cpu_s(sched.pid), _proc_cpu_s(broker.proc.pid if broker.proc else None))
    self1 = time.process_time()
    span = t_end - t_start

    with load.lock:
        replies = list(load.res.replies.items())
        calls = list(load.res.calls)
    ok_in_window = sum(
        1
        for cid, (t, body) in replies
        if t_start <= t <= t_end and body.get("ok") is True and load.sent[cid].phase == "load"
    )
    sent_load = sum(1 for s in load.sent.values() if s.phase == "load")
    verbs = Counter(s.verb for s in load.sent.values() if s.phase == "load")
    load_lat = []
    load_missed = 0
    for c in calls:
        if c.phase != "load" or c.t_pub > t_end:
            continue
        seen = display.find(c.number, c.desk, c.t_pub, c.t_reply + SHOWN_WITHIN)
        if seen is None:
            load_missed += 1
        else:
            load_lat.append(seen - c.t_pub)
    reply_lat = [t - load.sent[cid].t for cid, (t, _b) in replies if load.sent[cid].phase == "load"]

    def cpu(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round((b - a) / span, 3)

    return {
        "bench": "calls",
        "p50_ms": _ms(percentile(lat, 50)),
        "p99_ms": _ms(percentile(lat, 99)),
        "max_ms": _ms(max(lat) if lat else None),
        "latency_samples": len(lat),
        "latency_missed": missed,
        "reply_p50_ms": _ms(percentile(lat_reply, 50)),
        "reply_p99_ms": _ms(percentile(lat_reply, 99)),
        "commands_per_s": round(ok_in_window / span, 1),
        "lost": None,
        "duplicates": None,
        "load_p50_ms": _ms(percentile(load_lat, 50)),
        "load_p99_ms": _ms(percentile(load_lat, 99)),
        "load_latency_samples": len(load_lat),
        "load_latency_not_shown": load_missed,
        "load_reply_p50_ms": _ms(percentile(reply_lat, 50)),
        "load_reply_p99_ms": _ms(percentile(reply_lat, 99)),
        "errors": dict(load.res.errors),
        "context": {
            "commands": len(load.sent) + load.res.resent,
            "commands_load_phase": sent_load,
            "load_phase_verbs": dict(verbs),
            "ok_in_load_phase": ok_in_window,
            "resent_same_id": load.res.resent,
            "redelivered_replies": load.res.redelivered,
            "seconds": round(span, 3),
            "latency_phase_s": round(t_lat, 3),
            "latency_calls": n_lat,
            "desks": opts.desks,
            "kiosks": opts.kiosks,
            "window_per_desk": opts.window,
            "window_per_kiosk": load.kiosk_window,
            "load_connections": opts.connections,
            "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "cpu_reference_ms": _cpu_reference_ms(),
            "cpu_load_phase": {
                "scheduler": cpu(cpu0[0], cpu1[0]),
                "broker": cpu(cpu0[1], cpu1[1]),
                "generator": round((self1 - self0) / span, 3),
            },
            "python": platform.python_version(),
            "mosquitto": _mosquitto_version(),
            "paho_mqtt": _version("paho-mqtt"),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "profile": os.environ.get(PROFILE_ENV) or None,
            "_setup_end": setup_end,
        },
    }


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def summary(r: dict[str, Any]) -> str:
    c = r["context"]
    cpu = c.get("cpu_load_phase", {})
    lines = [
        f"vuoro bench calls: {c['desks']} desks, {c['kiosks']} kiosks, "
        f"{c['cpu_count']} CPUs, {c['database']}",
        f"  call latency (next -> display shows it), {r['latency_samples']} calls one at a "
        f"time: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms",
        f"  load phase {c['seconds']} s: {r['commands_per_s']} commands/s answered ok "
        f"({c['ok_in_load_phase']} ok of {c['commands_load_phase']} sent)",
        f"  call latency under that load: p50 {r['load_p50_ms']} ms, p99 {r['load_p99_ms']} ms"
        f" ({r['load_latency_samples']} calls)",
        f"  CPU in the load phase (1.0 = one core): scheduler {cpu.get('scheduler')}, "
        f"broker {cpu.get('broker')}, load generator {cpu.get('generator')}",
        f"  lost {r['lost']}, duplicates {r['duplicates']}, errors {r['errors'] or 'none'}",
    ]
    if r.get("checks", {}).get("problems"):
        lines.append(f"  PROBLEMS: {r['checks']['problems']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    opts = Options(
        seconds=float(args.seconds),
        desks=int(args.desks),
        kiosks=int(args.kiosks),
        database=args.database,
        window=int(getattr(args, "window", None) or WINDOW),
        connections=int(getattr(args, "connections", None) or 2),
        latency_calls=getattr(args, "latency_calls", None),
    )
    result = bench_calls(opts)
    if not args.json:
        print(summary(result), file=sys.stderr)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1


# ---------------------------------------------------------------------------- profiling


def _profile_scheduler(config_path: str, out: str) -> int:
    """The scheduler with its worker thread under cProfile (VUORO_BENCH_PROFILE)."""
    import cProfile

    from scheduler import app as app_mod
    from scheduler.config import load_config
    from vuoro import __version__
    from vuoro.cli import _logging

    config = load_config(config_path)
    _logging(config.scheduler.log_level)
    original = app_mod.SchedulerApp._work

    def work(self: app_mod.SchedulerApp) -> None:
        prof = cProfile.Profile()
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()
            prof.dump_stats(out)

    app_mod.SchedulerApp._work = work  # type: ignore[method-assign]
    app_mod.serve(config, version=__version__)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "profile-scheduler":
        sys.exit(_profile_scheduler(sys.argv[2], sys.argv[3]))
    sys.exit("usage: python -m bench.calls profile-scheduler CONFIG OUT.prof")
