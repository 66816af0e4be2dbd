"""`vuoro demo`: a whole service point on one machine.

A private Mosquitto (per-device passwords and the ACL of PROTOCOL.md) on a free port, the
scheduler on SQLite in a temporary folder, the bundled demo site. `--headless` prints one
JSON line (host, port, site, devices with credentials) and runs no simulated device;
without it, the terminal lobby (vuoro.demo_tui) drives the demo devices.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.broker import SCHEDULER_USER, PrivateBroker
from scheduler.app import SchedulerApp
from scheduler.config import DEMO_SITE, SchedulerConfig, load_config
from vuoro import __version__

log = logging.getLogger("vuoro.demo")

MONITOR_USER = "demo-watch"


@dataclass
class DemoDevice:
    id: str
    role: str
    username: str
    password: str
    desks: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "username": self.username,
            "password": self.password,
        }


class Demo:
    """Broker + scheduler, started and stopped together (also used by tests)."""

    def __init__(
        self,
        *,
        workdir: str | Path | None = None,
        port: int | None = None,
        config_path: str | Path | None = None,
        database: str | None = None,
        web_port: int | None = None,
        seed_bookings: bool = True,
    ) -> None:
        self._tmp = None if workdir else tempfile.mkdtemp(prefix="vuoro-demo-")
        self.dir = Path(workdir or self._tmp or ".")
        self.dir.mkdir(parents=True, exist_ok=True)
        base = load_config(config_path or DEMO_SITE)
        self.broker = PrivateBroker(self.dir / "broker", port=port)
        sched_user = self.broker.add_user(SCHEDULER_USER, "scheduler")
        self.devices: list[DemoDevice] = []
        for site in base.sites:
            for dev in site.devices:
                u = self.broker.add_user(dev.id, dev.role, site.id)
                self.devices.append(
                    DemoDevice(dev.id, dev.role, u.username, u.password, tuple(dev.desks))
                )
        # A read-only account to watch every message with mosquitto_sub without taking
        # over (and kicking off) one of the devices: the broker uses usernames as client ids.
        self.monitor = self.broker.add_user(MONITOR_USER, "monitor")
        data = base.model_dump(by_alias=True)
        data["scheduler"]["database"] = database or f"sqlite:///{self.dir / 'vuoro.db'}"
        # The booking API on a free port (`web` in info()); the key of the demo's
        # switchboard account is made here and printed with the rest.
        self.staff_key = secrets.token_urlsafe(24)
        self.admin_key = secrets.token_urlsafe(24)  # `vuoro provision` talks to the admin API
        # The port is chosen here, so the tickets' status_url points at the demo's own
        # mobile ticket page (and stays the same when the scheduler restarts).
        web_port = web_port or _free_port()
        data["scheduler"]["status_url_base"] = f"http://127.0.0.1:{web_port}/t/"
        data["web"].update(
            host="127.0.0.1",
            port=web_port,
            api_keys=[
                {"name": "demo-switchboard", "role": "switchboard", "key": self.staff_key},
                {"name": "demo-admin", "role": "admin", "key": self.admin_key},
            ],
        )
        # The staff pages' demo accounts (made at start, new passwords each run).
        self.users: list[dict[str, str]] = []
        self.bookings: list[dict[str, Any]] = []
        data["mqtt"].update(
            host=self.broker.host,
            port=self.broker.port,
            username=SCHEDULER_USER,
            password=sched_user.password,
            password_file=None,
        )
        self.config = SchedulerConfig.model_validate(data)
        self.site = self.config.sites[0].id
        self.seed = seed_bookings
        self.notes: list[str] = []  # shown in the terminal lobby's log (e.g. the windows)
        self.app: SchedulerApp | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 20.0) -> None:
        self.broker.start()
        self.start_scheduler(timeout)

    def start_scheduler(self, timeout: float = 20.0) -> None:
        self.app = SchedulerApp(self.config, version=__version__)
        self._thread = threading.Thread(target=self.app.run, name="scheduler", daemon=True)
        self._thread.start()
        if not self.app.ready.wait(timeout):
            raise RuntimeError("the scheduler did not come up (see the log above)")
        if self.app.booking is not None:
            self.app.booking.web_ready.wait(timeout)
            if not self.users:
                self.users = make_demo_users(self.app.booking.engine, self.site)
            if self.seed and not self.bookings:
                self.bookings = seed_demo_bookings(self.app.booking.service, self.site)

    @property
    def web_url(self) -> str | None:
        rt = self.app.booking if self.app else None
        if rt is None or rt.web_port is None:
            return None
        return f"http://127.0.0.1:{rt.web_port}"

    def stop_scheduler(self) -> None:
        if self.app is not None:
            self.app.stop()
        if self._thread is not None:
            self._thread.join(10)
        self.app = None
        self._thread = None

    def stop(self) -> None:
        self.stop_scheduler()
        self.broker.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def info(self) -> dict[str, Any]:
        return {
            "host": self.broker.host,
            "port": self.broker.port,
            "site": self.site,
            "devices": [d.public() for d in self.devices],
            "monitor": {"username": self.monitor.username, "password": self.monitor.password},
            "web": self.web_url,
            "users": self.users,
            "api_keys": [
                {"name": "demo-switchboard", "role": "switchboard", "key": self.staff_key},
                {"name": "demo-admin", "role": "admin", "key": self.admin_key},
            ],
            "bookings": self.bookings,
        }

    def device(self, device_id: str) -> DemoDevice:
        return next(d for d in self.devices if d.id == device_id)


DEMO_USERS = (
    # name, role, display name, sites
    ("admin", "admin", "Demo Admin", ()),
    ("aino", "advisor", "Aino Virtanen", ("{site}",)),
    ("bertil", "advisor", "Bertil Lindqvist", ("{site}",)),
    ("vaihde", "switchboard", "Vaihde / Växel", ()),
)


def make_demo_users(engine: Any, site: str) -> list[dict[str, str]]:
    """The demo's staff accounts, each with a new random password (printed by the demo):
    an admin, the two advisors of the demo site's bookings, and a switchboard user."""
    from scheduler.web.auth import UserStore

    users = UserStore(engine)
    out = []
    for name, role, display, sites in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        site_ids = [s.format(site=site) for s in sites]
        if users.get(name) is None:
            users.add(name, role, password, display_name=display, sites=site_ids, lang="fi")
        else:
            users.set_password(name, password)
        out.append({"name": name, "role": role, "password": password})
    return out


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(
    *,
    headless: bool,
    port: int | None = None,
    workdir: str | None = None,
    config_path: str | None = None,
    windows: bool = True,
) -> int:
    demo = Demo(workdir=workdir, port=port, config_path=config_path)
    opened = None
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping the demo", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        demo.start()
        if headless or not sys.stdout.isatty():
            sys.stdout.write(json.dumps(demo.info()) + "\n")
            sys.stdout.flush()
            log.info("demo running; Ctrl-C stops it")
            while not stop.wait(0.5):
                pass
        else:
            from vuoro.demo_tui import run_tui
            from vuoro.demo_windows import DemoWindows

            notes: list[str] = []
            if windows:
                opened = DemoWindows(demo)
                notes = opened.start()
            if demo.web_url:
                notes[0:0] = [
                    f"web: {demo.web_url}/book/ (booking), {demo.web_url}/api/docs (API); "
                    "a ticket's live page opens from its QR code",
                    f"staff pages: {demo.web_url}/staff/signin, users: "
                    + ", ".join(f"{u['name']}/{u['password']} ({u['role']})" for u in demo.users),
                ]
            demo.notes = notes
            run_tui(demo, stop)
    finally:
        if opened is not None:
            opened.stop()
        demo.stop()
    return 0


# The demo's identity code: a valid one with a temporary individual number (900-999,
# never a real person's).
# The electronic identifier (SATU) of the simulated reader's test ID card (kiosk/reader.py
# FakeReader); the demo's second booking can be checked in with that card.
DEMO_CARD = "999198725"


def _demo_hetu() -> str:
    from scheduler.booking.hetu import check_char

    return f"010190-900{check_char('010190', '900')}"


def seed_demo_bookings(service: Any, site: str) -> list[dict[str, Any]]:
    """A few of today's appointments, so the demo shows check-ins at any hour: one due
    now (Aino, desk 4; also by the test identity code), one in 20 minutes (Bertil, desk
    2; also by the test ID card), one tomorrow. Made through
    the booking store directly (the demo's minimum notice would refuse "now")."""
    import uuid
    from datetime import timedelta

    from scheduler.booking import codes
    from scheduler.booking.model import Reservation
    from scheduler.booking.store import SlotTaken

    if service is None or site not in service.sites:
        return []
    sb = service.sites[site]
    now = service.clock()
    base = now.replace(second=0, microsecond=0)
    base -= timedelta(minutes=base.minute % 5)
    hetu_code = _demo_hetu()
    plan = [
        ("kela-benefits", "aino", base, "Maija Meikäläinen", "fi"),
        ("kela-benefits", "bertil", base + timedelta(minutes=20), "Sven Svensson", "sv"),
        ("notary", "aino", base + timedelta(days=1), "Anna Example", "en"),
    ]
    out: list[dict[str, Any]] = []
    for i, (svc, adv, start, name, lang) in enumerate(plan):
        b = sb.services[svc]
        needs = [r for r in sb.resources if "room" in b.needs][:1]
        res = Reservation(
            id=str(uuid.uuid4()),
            code=codes.new_code(),
            site=site,
            service=svc,
            advisor=adv,
            start=start,
            end=start + timedelta(minutes=b.duration_min),
            resources=tuple(needs),
            lang=lang,
            name=name,
            email=f"demo{i + 1}@example.invalid",
            hetu_hash=service.hasher.hash(hetu_code) if i == 0 else None,
            card_hash=service.card_hash(DEMO_CARD) if i == 1 else None,
            created_at=now,
            created_by="demo",
        )
        try:
            service.store.insert(res, now)
        except SlotTaken:
            continue
        service._occupy(sb, res)
        out.append(
            {
                "code": res.code,
                "service": svc,
                "advisor": adv,
                "start": res.start.isoformat(),
                "hetu": hetu_code if i == 0 else None,
                "card": DEMO_CARD if i == 1 else None,
            }
        )
    return out
