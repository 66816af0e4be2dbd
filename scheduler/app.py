"""`vuoro scheduler`: the central service's process.

The paho network thread only queues incoming commands; one worker thread takes them in
batches, hands them to the service layer (one commit per batch), publishes the replies and
state, and only then acknowledges the commands to the broker (manual acks), so a command
that was not committed is delivered again after a crash.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from firmware_common import protocol as p
from firmware_common.mqtt import Connection, MqttSettings
from firmware_common.watchdog import Watchdog
from scheduler.bridge import WebCall, WebCommand, WorkerBridge, settle
from scheduler.config import SchedulerConfig
from scheduler.devstatus import STATUS_FILTER, DeviceStatusBoard
from scheduler.service import Incoming, Outgoing, Scheduler
from scheduler.store.db import Store
from scheduler.web.tickets import TicketHub

log = logging.getLogger("vuoro.scheduler")

TICK_S = 15.0
PURGE_S = 3600.0


class SchedulerApp:
    def __init__(self, config: SchedulerConfig, *, version: str = "") -> None:
        self.config = config
        self.version = version
        # Set when the scheduler is the process (`serve`): what start-up made (modules,
        # migrations, configuration, the loaded state) is then kept out of the garbage
        # collector's full scans, which would otherwise pause the worker for tens of ms.
        self.freeze_gc = False
        self.store = Store(config.scheduler.database)
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.booking: Any = None
        self._inbox: queue.Queue[Incoming] = queue.Queue()
        self._republish = threading.Event()
        self._subscribed: set[str] = set()
        # The staff pages' way into the worker thread (commands and functions).
        self.bridge = WorkerBridge(self._inbox)
        self.devices = DeviceStatusBoard()  # the devices' live status (admin pages)
        self.admin: Any = None  # SiteAdmin, once `run` has read the stored sites
        m = config.mqtt
        settings = MqttSettings(
            host=m.host,
            port=m.port,
            username=m.username,
            password=m.secret(),
            client_id=m.client_id,
            tls=m.tls,
            ca_file=m.ca_file,
            keepalive=m.keepalive,
        )
        self.conn = Connection(
            settings,
            m.client_id,
            will=(p.Topics.SCHEDULER_STATUS, {"v": 1, "online": False}),
            manual_ack=True,
            max_inflight=1000,
        )
        # The mobile ticket page's views, kept by the worker thread (scheduler/web/tickets.py).
        self.tickets = TicketHub()
        from scheduler.ownership import SiteOwnership

        self.ownership = SiteOwnership(None, ())  # run() decides (scheduler/ownership.py)
        # Everything run after each batch and tick (worker thread): the ticket hub, and
        # the staff pages' live views, which add theirs (e.g. scheduler/web/advisor.py).
        self.after_batch_hooks: list[Any] = [self.tickets.after_batch]
        self.scheduler = Scheduler(
            config.site_defs(),
            self.store,
            status_url_base=config.scheduler.status_url_base,
            after_batch=self._after_batch,
        )

    def _after_batch(self, scheduler: Scheduler, sites: set[str]) -> None:
        for hook in list(self.after_batch_hooks):
            try:
                hook(scheduler, sites)
            except Exception:
                log.exception("after-batch hook %r failed", hook)

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        log.info("database %s", _safe_url(self.config.scheduler.database))
        self.store.migrate()
        # The sites as last changed in the admin pages, or as the file has them (seeded
        # on the first start; scheduler/siteconfig.py).
        from scheduler.siteconfig import SiteAdmin, SiteConfigStore

        site_configs = SiteConfigStore(self.store.engine, clock=self.scheduler.clock)
        self.config = site_configs.sync(self.config)
        self.scheduler.set_defs(self.config.site_defs())
        self.scheduler.load()
        # Bookings, the HTTP API and pages, and their housekeeping (booking/runtime.py).
        from scheduler.booking.runtime import BookingRuntime

        self.booking = BookingRuntime(
            self.config, self.store.engine, clock=self.scheduler.clock, tickets=self.tickets
        )
        self.scheduler.booking = self.booking.service
        self.admin = SiteAdmin(self.config, site_configs, self.bridge, booking=self.booking.service)
        self.booking.host = self  # the staff pages reach the worker through this app
        self.booking.start()
        if self.freeze_gc:
            gc.collect()
            gc.freeze()
        for sid, st in self.scheduler.states.items():
            live = len(st.live_tickets())
            log.info("site %s loaded: %d live tickets, version %d", sid, live, st.version)
        for site in self.scheduler.defs:
            self._subscribed.add(site)
            self.conn.subscribe_raw(p.Topics.cmd_filter(site), self._on_command)
        self.conn.subscribe_raw(STATUS_FILTER, self._on_status)
        # Several processes on one PostgreSQL: each serves the sites it holds the lock of
        # (scheduler/ownership.py, VUORO_SCHEDULER_SHARD); one process serves them all.
        from scheduler import ownership

        self.ownership = ownership.from_env(self.config.scheduler.database, self.scheduler.defs)
        self.ownership.poll()
        self.conn.on_connect(self._republish.set)
        self.conn.start()
        self.worker_beat = time.monotonic()
        worker = threading.Thread(target=self._work, name="scheduler-worker", daemon=True)
        worker.start()
        # systemd (Type=notify): ready now; watchdog pings only while the worker turns and
        # the broker link is up (firmware_common/watchdog.py).
        wd = Watchdog(
            alive=lambda: worker.is_alive() and time.monotonic() - self.worker_beat < 30,
            link=self.conn.connected.is_set,
        )
        wd.ready()
        try:
            while not self.stop_event.wait(0.5):
                if not worker.is_alive():
                    raise RuntimeError("the scheduler's worker thread died")
                wd.beat()
        finally:
            self.stop_event.set()
            worker.join(10)
            self.booking.stop()
            self.conn.stop(final=(p.Topics.SCHEDULER_STATUS, {"v": 1, "online": False}))
            self.store.dispose()
            log.info("scheduler stopped")

    def stop(self) -> None:
        self.stop_event.set()

    # ------------------------------------------------------------------ threads

    def _on_status(self, msg: mqtt.MQTTMessage) -> None:
        self.devices.on_message(msg.topic, msg.payload)
        self.conn.ack(msg.mid, msg.qos)

    def _on_command(self, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(Incoming(msg.topic, msg.payload, (msg.mid, msg.qos)))

    def _work(self) -> None:
        batch_max = self.config.scheduler.batch_max
        next_tick = time.monotonic() + TICK_S
        next_purge = next_own = time.monotonic()
        while not self.stop_event.is_set():
            self.worker_beat = time.monotonic()  # the watchdog's sign of life
            if self._republish.is_set():
                self._republish.clear()
                self._publish(
                    [
                        Outgoing(
                            p.Topics.SCHEDULER_STATUS,
                            {"v": 1, "online": True, "version": self.version},
                            retain=True,
                        ),
                        *self.scheduler.startup_messages(),
                    ]
                )
                self.ready.set()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + TICK_S
                self._publish(self.scheduler.tick())
            if self.ownership.active and now >= next_own:
                next_own = now + 0.5
                self._take_over(self.ownership.poll())
            if now >= next_purge:
                next_purge = now + PURGE_S
                n = self.scheduler.purge()
                if n:
                    log.info("forgot %d command ids older than 48 h", n)
            self.tickets.pump(self.scheduler)  # the ticket pages' first look-ups
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            # Let paho's network thread read what has arrived meanwhile (it needs the GIL):
            # bigger batches, so fewer commits and state messages per command.
            time.sleep(0)
            batch = [first]
            while len(batch) < batch_max:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            calls = [m.token for m in batch if isinstance(m.token, WebCall)]
            if calls:
                batch = [m for m in batch if not isinstance(m.token, WebCall)]
                self._run_calls(calls)
            if self.ownership.active:
                batch = self._mine(batch)
            if not batch:
                continue
            result = self.scheduler.handle_batch(batch)
            with self.conn.batch():  # one wake-up of paho's network thread per batch
                self._publish(result.out)
                for token in result.acks:
                    if isinstance(token, WebCommand):
                        continue
                    mid, qos = token
                    self.conn.ack(mid, qos)
            settle(result.acks, result.replies)

    def _run_calls(self, calls: list[WebCall]) -> None:
        """The staff pages' functions (scheduler/bridge.py), between batches."""
        for call in calls:
            if not call.future.set_running_or_notify_cancel():
                continue
            try:
                got = call.fn(self.scheduler)
            except BaseException as exc:
                call.future.set_exception(exc)
                continue
            if call.publishes:
                got, out = got
                self._publish(out)
                for sid in self.scheduler.defs:
                    if sid not in self._subscribed:
                        self._subscribed.add(sid)
                        self.conn.subscribe_raw(p.Topics.cmd_filter(sid), self._on_command)
            call.future.set_result(got)

    def _mine(self, batch: list[Incoming]) -> list[Incoming]:
        """The commands of this process's sites; the others are parked (acknowledged: the
        site's owner got them too) in case this process takes their site over."""
        from scheduler.ownership import site_of

        mine = []
        for m in batch:
            if self.ownership.owns(site_of(m.topic)) or not isinstance(m.token, tuple):
                mine.append(m)
            else:
                self.ownership.park(m)
                self.conn.ack(*m.token)
        self.ownership.forget_old()
        return mine

    def _take_over(self, sites: set[str]) -> None:
        """Sites whose owner is gone: their state from the database, then the commands
        parked meanwhile (those already done get their stored reply)."""
        if not sites:
            return
        self.scheduler.load()
        parked = self.ownership.unpark(sites)
        if parked:
            result = self.scheduler.handle_batch(parked)
            self._publish(result.out)
        self._republish.set()

    def _publish(self, out: list[Outgoing]) -> None:
        from scheduler.ownership import site_of

        for o in out:
            if not self.ownership.owns(site_of(o.topic)):
                continue  # another process serves that site and publishes its state
            self.conn.publish(o.topic, o.payload, retain=o.retain, correlation=o.correlation)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def serve(config: SchedulerConfig, *, version: str = "", install_signals: bool = True) -> None:
    app = SchedulerApp(config, version=version)
    app.freeze_gc = True
    if install_signals:
        import signal

        def _stop(signum: int, _frame: Any) -> None:
            log.info("signal %d: stopping", signum)
            app.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    app.run()
