"""The booking half inside the scheduler process: the booking service, the HTTP server
(uvicorn, in a thread) and the housekeeping thread (expired holds, retention, the
confirmation and reminder outbox, team-calendar refresh)."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import datetime
from typing import Any

from firmware_common import protocol as p
from scheduler.booking.service import BookingService
from scheduler.booking.store import ReservationStore

log = logging.getLogger("vuoro.booking")

HOUSEKEEPING_S = 15.0


class BookingRuntime:
    def __init__(
        self, config: Any, engine: Any, *, clock: Any = p.now_utc, tickets: Any = None
    ) -> None:
        self.config = config
        self.tickets = tickets  # the mobile ticket page's hub (scheduler/web/tickets.py)
        self.engine = engine
        # Customers' names encrypted at rest with a key derived from the booking secret
        # (no secret: no bookable site either, so no names).
        b = config.booking
        secret = b.key() if b.hetu_key is not None or b.hetu_key_file else None
        self.store = ReservationStore(engine, personal_key=secret)
        notifier = None
        if config.booking.notify:
            from scheduler.booking.notify import senders_from_config

            notifier = senders_from_config(config.booking.notify)
        self.service = BookingService.from_config(
            config, self.store, clock=clock, notifier=notifier
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self.web_port: int | None = None
        self.web_ready = threading.Event()
        # The SchedulerApp (bridge to the worker, site admin, device status) for the
        # staff pages; None in tests that run the booking half alone.
        self.host: Any = None
        self.staff: Any = None  # StaffWeb, once the web server runs
        self.app: Any = None

    def start(self) -> None:
        if self.service is not None:
            t = threading.Thread(
                target=self._housekeeping, name="booking-housekeeping", daemon=True
            )
            t.start()
            self._threads.append(t)
        # The web server also serves the mobile ticket pages, bookable sites or not.
        if self.config.web.enabled and (self.service is not None or self.tickets is not None):
            self._start_web()
        else:
            self.web_ready.set()

    def _start_web(self) -> None:
        import uvicorn

        from scheduler.web.api import create_app

        web = self.config.web
        if self.service is not None:
            app = create_app(
                self.service,
                api_keys=web.keys(),
                feed_key=self.config.booking.key(),
                tickets=self.tickets,
            )
        else:  # no bookable site: the ticket and staff pages
            from fastapi import FastAPI
            from fastapi.staticfiles import StaticFiles

            from scheduler.web.citizen import STATIC
            from scheduler.web.tickets import ticket_router

            app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
            app.include_router(ticket_router(self.tickets))
            app.mount("/static", StaticFiles(directory=STATIC), name="static")
        self.staff = self._staff_web()
        from scheduler.web.staff import mount_staff, role_routers

        mount_staff(app, self.staff, role_routers(self.staff))
        from scheduler.web.admin_api import admin_api_router

        app.include_router(admin_api_router(self.staff, web.keys()))
        self.app = app  # the ASGI app (tests walk its routes)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((web.host, web.port))
        self.web_port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=3,  # open event streams never finish by themselves
            )
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._server = server

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except Exception:
                log.exception("the web server stopped")

        t = threading.Thread(target=serve, name="web", daemon=True)
        t.start()
        self._threads.append(t)
        for _ in range(200):
            if server.started or not t.is_alive():
                break
            self._stop.wait(0.05)
        log.info("booking API on http://%s:%d/api/docs", web.host, self.web_port)
        self.web_ready.set()

    def _staff_web(self) -> Any:
        """The staff pages' plumbing (scheduler/web/staff.py): accounts in this database,
        the CSRF key derived from the identity-code key when there is one."""
        from scheduler.web.auth import UserStore
        from scheduler.web.staff import StaffWeb

        secret = None
        try:
            secret = self.config.booking.key()
        except Exception:
            secret = None  # no key: a random one per process (forms reload after a restart)
        return StaffWeb(UserStore(self.engine), host=self.host, booking=self.service, secret=secret)

    def _housekeeping(self) -> None:
        assert self.service is not None
        while not self._stop.wait(HOUSEKEEPING_S):
            try:
                done = self.service.housekeeping()
                if any(done.values()):
                    log.info("booking housekeeping: %s", done)
            except Exception:
                log.exception("booking housekeeping failed (tried again in %.0f s)", HOUSEKEEPING_S)

    def stop(self) -> None:
        self._stop.set()
        if self.tickets is not None:
            self.tickets.close()  # ends the ticket pages' event streams
        if self._server is not None:
            self._server.should_exit = True
        for t in self._threads:
            t.join(5)


def now() -> datetime:
    return p.now_utc()
