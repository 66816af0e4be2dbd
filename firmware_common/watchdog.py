"""systemd's notify protocol (sd_notify) and watchdog, by hand: no dependency.

Under a `Type=notify` unit systemd passes `NOTIFY_SOCKET` (a datagram socket's path, or
`@name` in the abstract namespace) and, with `WatchdogSec=`, `WATCHDOG_USEC` (and
`WATCHDOG_PID`). The process sends `READY=1` once it serves, then `WATCHDOG=1` more often
than every WATCHDOG_USEC; if the pings stop, systemd kills and restarts it.

`Watchdog.beat()` is called from the process's MAIN LOOP (the scheduler's supervising
loop, a Kivy Clock callback, the desk unit's loop): a hung loop sends nothing. It pings
only while `alive()` (e.g. the scheduler's worker thread runs) and the broker link is up;
a link that stays down longer than `link_grace_s` stops the pings too, so systemd
restarts the process (with the unit's back-off). Outside systemd everything is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("vuoro.watchdog")

GRACE_ENV = "VUORO_WATCHDOG_LINK_GRACE_S"


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify datagram; False when not under systemd (or it failed)."""
    env = os.environ if env is None else env
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(path)
            s.sendall(message.encode())
        return True
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", env.get("NOTIFY_SOCKET"), exc)
        return False


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings (half of WatchdogSec), or None without a watchdog."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. our parent)
    return int(usec) / 1e6 / 2


class Watchdog:
    """READY=1 once, then WATCHDOG=1 from the main loop while the process is healthy."""

    def __init__(
        self,
        *,
        alive: Callable[[], bool] = lambda: True,
        link: Callable[[], bool] = lambda: True,
        link_grace_s: float | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.enabled = bool(self.env.get("NOTIFY_SOCKET"))
        self.interval = watchdog_interval(self.env)
        if link_grace_s is None:
            try:
                link_grace_s = float(self.env.get(GRACE_ENV, "0") or 0)
            except ValueError:
                link_grace_s = 0.0
        self.link_grace_s = max(0.0, link_grace_s)
        self.alive = alive
        self.link = link
        self.clock = clock
        self._last_ping = -1e18
        self._link_down_since: float | None = None
        self._ready = False
        self._unhealthy_said = ""

    def ready(self, status: str = "") -> None:
        if self._ready:
            return
        self._ready = True
        notify("READY=1" + (f"\nSTATUS={status}" if status else ""), self.env)

    def status(self, text: str) -> None:
        notify(f"STATUS={text}", self.env)

    def stopping(self) -> None:
        notify("STOPPING=1", self.env)

    def healthy(self) -> tuple[bool, str]:
        if not self.alive():
            return False, "main work stopped"
        now = self.clock()
        if self.link():
            self._link_down_since = None
            return True, ""
        if self._link_down_since is None:
            self._link_down_since = now
        down = now - self._link_down_since
        if down <= self.link_grace_s:
            return True, ""
        return False, f"no broker link for {down:.0f} s"

    def beat(self) -> bool:
        """Call from the main loop, often; pings when due and healthy. True if it pinged."""
        if not self.enabled or self.interval is None:
            return False
        ok, why = self.healthy()
        if not ok:
            if why != self._unhealthy_said:
                self._unhealthy_said = why
                log.warning("watchdog: not pinging systemd: %s", why)
                self.status(f"unhealthy: {why}")
            return False
        if self._unhealthy_said:
            self._unhealthy_said = ""
            self.status("running")
        now = self.clock()
        if now - self._last_ping < self.interval:
            return False
        self._last_ping = now
        return notify("WATCHDOG=1", self.env)
