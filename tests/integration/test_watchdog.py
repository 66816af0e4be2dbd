"""systemd's notify protocol over a real datagram socket: READY=1, and WATCHDOG=1 only
while the main loop runs and the broker link is up.

The second test runs the real `vuoro scheduler` process against a real Mosquitto with
NOTIFY_SOCKET and WATCHDOG_USEC set as systemd sets them, kills the broker (the pings
stop), and starts it again (they come back).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_common.watchdog import Watchdog, notify, watchdog_interval
from provisioning.broker import SCHEDULER_USER, PrivateBroker


class NotifySocket:
    """The systemd end: a bound AF_UNIX datagram socket recording what arrives, timed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.got: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.got.append((time.monotonic(), line))

    def lines(self, since: float = 0.0) -> list[str]:
        return [m for t, m in list(self.got) if t >= since]

    def wait(self, line: str, timeout: float, since: float = 0.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, m in list(self.got):
                if t >= since and m == line:
                    return t
            time.sleep(0.02)
        raise AssertionError(f"no {line} within {timeout} s; got {self.lines(since)[-10:]}")

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()


@pytest.fixture
def nsock(tmp_path: Path) -> Iterator[NotifySocket]:
    s = NotifySocket(tmp_path / "notify.sock")
    yield s
    s.close()


def test_helper_pings_only_while_alive_and_linked(nsock: NotifySocket) -> None:
    env = {"NOTIFY_SOCKET": str(nsock.path), "WATCHDOG_USEC": "200000"}
    assert watchdog_interval(env) == pytest.approx(0.1)
    assert watchdog_interval({**env, "WATCHDOG_PID": "1"}) is None  # another process's
    assert not notify("READY=1", {})  # not under systemd: nothing sent, no error
    link, alive = threading.Event(), threading.Event()
    link.set()
    alive.set()
    wd = Watchdog(alive=alive.is_set, link=link.is_set, link_grace_s=0.3, env=env)
    stop = threading.Event()

    def main_loop() -> None:
        while not stop.wait(0.02):
            wd.beat()

    wd.ready("running")
    t = threading.Thread(target=main_loop, daemon=True)
    t.start()
    try:
        nsock.wait("READY=1", 2)
        t0 = time.monotonic()
        time.sleep(0.55)
        pings = nsock.lines(t0).count("WATCHDOG=1")
        assert 4 <= pings <= 7, f"{pings} pings in 0.55 s at a 0.1 s interval"
        # Link lost: pings go on for the grace time, then stop.
        link.clear()
        t1 = time.monotonic()
        time.sleep(0.3)
        assert nsock.lines(t1).count("WATCHDOG=1") >= 1, "no pings during the grace time"
        time.sleep(0.15)
        t2 = time.monotonic()
        time.sleep(0.5)
        assert nsock.lines(t2).count("WATCHDOG=1") == 0, "pinged without a broker link"
        assert any(m.startswith("STATUS=unhealthy: no broker link") for m in nsock.lines(t1))
        # Back: pings resume at once.
        link.set()
        nsock.wait("WATCHDOG=1", 1, since=time.monotonic())
        # The main work stops (e.g. a worker thread died): no pings, link or not.
        alive.clear()
        time.sleep(0.15)
        t3 = time.monotonic()
        time.sleep(0.4)
        assert nsock.lines(t3).count("WATCHDOG=1") == 0
    finally:
        stop.set()
        t.join(2)
    # A hung main loop (no beat() calls) sends nothing at all.
    t4 = time.monotonic()
    time.sleep(0.3)
    assert nsock.lines(t4) == []


def test_scheduler_process_notifies_systemd(nsock: NotifySocket, tmp_path: Path) -> None:
    from scheduler.config import DEMO_SITE

    broker = PrivateBroker(tmp_path / "broker")
    password = broker.add_user(SCHEDULER_USER, "scheduler").password
    broker.start()
    exe = Path(sys.executable).with_name("vuoro")
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(nsock.path),
        "WATCHDOG_USEC": "1000000",  # WatchdogSec=1: a ping every 0.5 s
        "VUORO_SCHEDULER_DATABASE": json.dumps(f"sqlite:///{tmp_path / 'v.db'}"),
        "VUORO_MQTT_HOST": json.dumps("127.0.0.1"),
        "VUORO_MQTT_PORT": str(broker.port),
        "VUORO_MQTT_USERNAME": json.dumps(SCHEDULER_USER),
        "VUORO_MQTT_PASSWORD": json.dumps(password),
    }
    env.pop("WATCHDOG_PID", None)
    logf = (tmp_path / "scheduler.log").open("wb")
    proc = subprocess.Popen(
        [str(exe), "scheduler", "--config", str(DEMO_SITE)],
        env=env,
        stdout=logf,
        stderr=logf,
        start_new_session=True,
    )

    def log() -> str:
        return (tmp_path / "scheduler.log").read_text(errors="replace")[-3000:]

    try:
        try:
            nsock.wait("READY=1", 30)
            t_ready = time.monotonic()
            nsock.wait("WATCHDOG=1", 5, since=t_ready)
            time.sleep(1.6)
            assert nsock.lines(t_ready).count("WATCHDOG=1") >= 3
            # The broker goes away: the link drops and the pings stop.
            broker.kill()
            time.sleep(1.0)  # paho notices a closed socket at once; allow one late ping
            t_gone = time.monotonic()
            time.sleep(2.0)
            assert nsock.lines(t_gone).count("WATCHDOG=1") == 0, "pinged without a broker"
            assert any("no broker link" in m for m in nsock.lines(t_gone - 1.0))
            # The broker is back on the same port: the scheduler reconnects, pings resume.
            broker.start()
            nsock.wait("WATCHDOG=1", 15, since=time.monotonic())
            assert proc.poll() is None
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nscheduler log:\n{log()}") from None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        logf.close()
        broker.stop()
