"""The kiosk's logic, without Kivy: screens, language, input, the scheduler, the printer.

The Kivy app (kiosk/app.py) only draws what this says and forwards touches, keys and
card events to it; the tests drive it directly.

Screens form a small state machine::

    idle --touch/language--> home --"take a number"--> services --pick--> busy --> result
                               \\--"I have an appointment"--> identify --send/card--> busy
    any screen --card inserted--> busy (check-in by card)          busy --> result | error
    back: services/identify/error -> home -> idle; home (the button): -> home
    idle timeout (no touch for `idle_timeout_s`): -> idle, language and typed input forgotten

Offline mode (the contract of issue 4): a `ticket` is sent normally (not durable) and
waited for `request_timeout_s` (2 s). Without a reply the kiosk takes the next number of
the queue's letter from its reserved range (`offline_numbers` of its config), counted in
a small SQLite file per day and letter (a restart never reuses a number), shows and
prints it marked offline, and sends a DURABLE `ticket` with `offline` {number,
issued_at} and `supersedes` (the id of the unanswered one); the scheduler makes exactly
one ticket with the printed number of the two. A check-in cannot be verified offline: the
customer is offered a number instead.

Network calls block (up to the timeout): the app runs actions through `runner` (a worker
thread) and redraws on `listeners`; tests use the default, which runs them at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from firmware_common import protocol as p
from firmware_common.localdb import open_durable
from firmware_common.mqtt import NotConnected, RequestTimeout
from kiosk import texts as tx
from kiosk.hardware import CardInfo, CardReader, PrintResult, TicketPrinter, TicketView

log = logging.getLogger("vuoro.kiosk")

SCREENS = ("idle", "home", "services", "identify", "busy", "result", "error")
STATUS_EVERY_S = 30.0
SCAN_GAP_S = 0.25  # a scanner types faster than this; a pause starts a new scan


class Link(Protocol):
    """What the kiosk needs of firmware_common.mqtt.DeviceClient."""

    site: str
    device_id: str

    def request(
        self, verb: str, fields: dict[str, Any], *, timeout: float = ..., durable: bool = ...
    ) -> dict[str, Any]: ...

    def send(self, verb: str, fields: dict[str, Any], *, durable: bool = ...) -> str: ...

    def subscribe(self, topic_filter: str, handler: Callable[..., None]) -> None: ...

    def set_status(self, **fields: Any) -> None: ...


# ---------------------------------------------------------------------------- input


HETU_RE = re.compile(r"^(\d{2})(\d{2})(\d{2})([-+YXWVUABCDEF])(\d{3})([0-9A-Y])$")
HETU_SIGNS = "-+YXWVUABCDEF"


@dataclass
class Validation:
    """Live feedback on the typed text: state empty/partial/valid/invalid and a text key."""

    state: str
    key: str | None = None

    @property
    def valid(self) -> bool:
        return self.state == "valid"


def validate_hetu(text: str) -> Validation:
    """Live validation of an identity code while it is typed (scheduler/booking/hetu.py)."""
    from scheduler.booking import hetu

    code = hetu.normalize(text)
    if not code:
        return Validation("empty", "hint_hetu")
    if len(code) > 11:
        return Validation("invalid", "hetu_format")
    if not code[:6].isdigit():
        return Validation("invalid", "hetu_date")
    if len(code) >= 7:
        sign = code[6]
        if sign not in HETU_SIGNS:
            return Validation("invalid", "hetu_sign")
        try:
            datetime(hetu.CENTURY[sign] + int(code[4:6]), int(code[2:4]), int(code[0:2]))
        except ValueError:
            return Validation("invalid", "hetu_date")
    elif len(code) >= 4:
        dd, mm = int(code[0:2]), int(code[2:4])
        if not (1 <= dd <= 31 and 1 <= mm <= 12):
            return Validation("invalid", "hetu_date")
    elif len(code) >= 2 and not 1 <= int(code[0:2]) <= 31:
        return Validation("invalid", "hetu_date")
    if len(code) > 7 and not code[7 : min(len(code), 10)].isdigit():
        return Validation("invalid", "hetu_individual")
    if len(code) < 11:
        return Validation("partial", "hint_hetu")
    try:
        hetu.parse(code)
    except hetu.InvalidHetu as exc:
        return Validation("invalid", f"hetu_{exc.reason}")
    return Validation("valid", "hetu_ok")


def validate_code(text: str) -> Validation:
    """Live validation of a booking code (scheduler/booking/codes.py)."""
    from scheduler.booking import codes

    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    if not raw:
        return Validation("empty", "hint_code")
    if any(ch not in codes.ALPHABET for ch in raw):
        return Validation("invalid", "code_bad_char")
    if len(raw) > 6:
        return Validation("invalid", "code_too_long")
    if len(raw) < 6:
        return Validation("partial", "hint_code")
    return (
        Validation("valid", "code_ok")
        if codes.normalize(raw)
        else Validation("invalid", "code_typo")
    )


def format_code(text: str) -> str:
    """What the input field shows of a booking code: '7KQ4' -> '7KQ-4'."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    return raw if len(raw) <= 3 else f"{raw[:3]}-{raw[3:]}"


_CODE_IN_TEXT = re.compile(r"([2-9A-HJ-NP-Z]{3})-?([2-9A-HJ-NP-Z]{3})(?![0-9A-Z])")


def code_from_scan(text: str) -> str | None:
    """A booking code out of what a barcode/QR scanner typed (the code alone, or a link
    or text that ends with it)."""
    from scheduler.booking import codes

    up = text.strip().upper()
    found = codes.normalize(up)
    if found:
        return found
    for m in reversed(list(_CODE_IN_TEXT.finditer(up))):
        found = codes.normalize(m.group(1) + m.group(2))
        if found:
            return found
    return None


# ---------------------------------------------------------------------------- offline numbers


class OfflineStore:
    """The kiosk's small SQLite file next to the outbox: offline number counters per day
    and letter, the letters of the queues, and the last config (to start offline)."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_durable(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS offline_numbers ("
            " day TEXT NOT NULL, letter TEXT NOT NULL, last INTEGER NOT NULL,"
            " PRIMARY KEY (day, letter))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue_letters (queue TEXT PRIMARY KEY, letter TEXT)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)")
        self._lock = threading.Lock()

    def allocate(self, day: str, letter: str, first: int, last: int) -> str | None:
        """The next unused number of `letter` today in [first, last], or None when used
        up. Committed (synchronous=FULL) before it is returned."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT last FROM offline_numbers WHERE day = ? AND letter = ?",
                    (day, letter),
                ).fetchone()
                n = first if row is None else max(first, row[0] + 1)
                if n > last:
                    self._db.execute("ROLLBACK")
                    return None
                self._db.execute(
                    "INSERT INTO offline_numbers VALUES (?, ?, ?)"
                    " ON CONFLICT (day, letter) DO UPDATE SET last = excluded.last",
                    (day, letter, n),
                )
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        return f"{letter}{n:03d}"

    def learn_letter(self, queue: str, letter: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO queue_letters VALUES (?, ?)"
                " ON CONFLICT (queue) DO UPDATE SET letter = excluded.letter",
                (queue, letter),
            )

    def letter(self, queue: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT letter FROM queue_letters WHERE queue = ?", (queue,)
            ).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO kv VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def get(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------------- results


@dataclass
class Result:
    """What the result screen shows."""

    view: TicketView
    kind: str  # "ticket" or "checkin"
    printed: bool
    offline: bool = False
    print_error: str | None = None
    png_path: str | None = None
    position: int | None = None  # None: not known (offline)
    eta_min: int | None = None


@dataclass
class ErrorInfo:
    code: str
    message: dict[str, str] | None = None
    offer_number: bool = False  # "take a number" button
    offer_service: str | None = None  # take a number for this service at once


@dataclass
class ServiceItem:
    """One button of the service menu."""

    id: str
    name: str
    provider: str
    provider_name: str
    queue: str
    walk_in: bool
    open: bool
    waiting: int | None
    eta_min: int | None
    opens: str | None = None


@dataclass
class _Stats:
    last_print_ms: float | None = None
    timings: list[float] = field(default_factory=list)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(ts: datetime) -> str:
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------- controller


class KioskController:
    def __init__(
        self,
        link: Link | None,
        *,
        printer: TicketPrinter | None = None,
        reader: CardReader | None = None,
        offline_path: str | Path | None = None,
        idle_timeout_s: float = 45.0,
        request_timeout_s: float = 2.0,
        tz: str = "Europe/Helsinki",
        default_lang: str = "fi",
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utc_now,
        runner: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.link = link
        self.printer = printer
        self.reader = reader
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.tz = tz
        self.default_lang = default_lang
        self.clock = clock
        self.wall = wall
        self.runner = runner or (lambda fn: fn())
        self.store = OfflineStore(offline_path) if offline_path else None
        self.listeners: list[Callable[[], None]] = []
        self._lock = threading.RLock()
        # screen state
        self.screen = "idle"
        self.lang = default_lang
        self.input_mode = "code"  # identify keypad: "code" or "hetu"
        self.typed = ""
        self.result: Result | None = None
        self.error: ErrorInfo | None = None
        self.offline = False  # the last request went unanswered
        self.last_touch = clock()
        # from the protocol
        self.config: dict[str, Any] = {}
        self.display: dict[str, Any] = {}
        # devices
        self.printer_status = "absent" if printer is None else "ok"
        self.reader_status = "absent" if reader is None else "ok"
        self._status_sent: dict[str, str] = {}
        self._status_at = -1e9
        self._scan = ""
        self._scan_at = 0.0
        self.stats = _Stats()
        self.late_replies: list[dict[str, Any]] = []
        if self.store is not None:
            cached = self.store.get("config")
            if isinstance(cached, dict):
                self.config = cached

    # ------------------------------------------------------------------ wiring

    def start(self) -> None:
        """Subscribe to the kiosk's config and the lobby state; start the reader."""
        if self.link is not None:
            site, dev = self.link.site, self.link.device_id
            self.link.subscribe(p.Topics.config(site, dev), self._on_config)
            self.link.subscribe(p.Topics.display_state(site), self._on_display)
        if self.reader is not None:
            self.reader.on_insert = self.card_inserted
            self.reader.on_remove = lambda: None
            self.reader.on_status = self._on_reader_status
            try:
                self.reader.start()
                self.reader_status = self.reader.status()
            except Exception:
                log.exception("card reader did not start")
                self.reader_status = "absent"
        self.poll_devices(force=True)

    def stop(self) -> None:
        if self.reader is not None:
            with contextlib.suppress(Exception):
                self.reader.stop()
        if self.printer is not None:
            with contextlib.suppress(Exception):
                self.printer.close()
        if self.store is not None:
            self.store.close()

    def on_late_reply(self, body: dict[str, Any]) -> None:
        """A reply that came after its request gave up (DeviceClient.on_late_reply).

        The customer already left with the offline number: nothing changes on screen."""
        self.late_replies.append(body)
        if not body.get("ok"):
            log.warning("late reply %s: %s", body.get("id"), (body.get("error") or {}).get("code"))
        else:
            log.info("late reply %s", body.get("id"))

    def _on_config(self, _topic: str, body: dict[str, Any], *_: Any) -> None:
        with self._lock:
            self.config = body
            for s in body.get("services") or []:
                letter = s.get("prefix") or s.get("queue_prefix")
                if letter and self.store is not None:
                    self.store.learn_letter(s["queue"], letter)
            if self.store is not None:
                self.store.put("config", body)
        self._changed()

    def _on_display(self, _topic: str, body: dict[str, Any], *_: Any) -> None:
        with self._lock:
            if body.get("seq", 0) >= self.display.get("seq", -1) or body.get("seq") == 1:
                self.display = body
        if self.screen == "services":
            self._changed()

    def _on_reader_status(self, status: str) -> None:
        self.reader_status = status
        self.poll_devices(force=False)
        self._changed()

    def _changed(self) -> None:
        for fn in list(self.listeners):
            try:
                fn()
            except Exception:
                log.exception("kiosk listener failed")

    # ------------------------------------------------------------------ status, idle

    def tick(self) -> None:
        """Called about once a second: the idle timeout and the periodic device status."""
        now = self.clock()
        if self.screen not in ("idle", "busy") and now - self.last_touch >= self.idle_timeout_s:
            self.reset()
        if now - self._status_at >= STATUS_EVERY_S:
            self.poll_devices(force=True)

    def poll_devices(self, *, force: bool = False) -> None:
        if self.printer is not None:
            try:
                self.printer_status = self.printer.status()
            except Exception:
                self.printer_status = "error"
        if self.reader is not None:
            with contextlib.suppress(Exception):
                self.reader_status = self.reader.status()
        status = {"printer": self.printer_status, "reader": self.reader_status}
        if force or status != self._status_sent:
            self._status_at = self.clock()
            self._status_sent = status
            if self.link is not None:
                try:
                    self.link.set_status(**status)
                except Exception:
                    log.exception("could not publish the device status")

    def touch(self) -> None:
        self.last_touch = self.clock()

    def reset(self) -> None:
        """Back to the attract screen; forget everything the customer chose or typed."""
        with self._lock:
            self.screen = "idle"
            self.lang = self.default_lang
            self.typed = ""
            self.input_mode = "code"
            self.result = None
            self.error = None
            self._scan = ""
        self._changed()

    # ------------------------------------------------------------------ navigation

    def _go(self, screen: str) -> None:
        assert screen in SCREENS
        self.screen = screen
        self._changed()

    def start_session(self, lang: str | None = None) -> None:
        """Touch on the attract screen (optionally on a language button)."""
        self.touch()
        if lang in tx.LANGS:
            self.lang = lang
        self._go("home")

    def set_lang(self, lang: str) -> None:
        self.touch()
        if lang in tx.LANGS:
            self.lang = lang
        self._changed()

    def choose_take_number(self) -> None:
        self.touch()
        self._go("services")

    def choose_appointment(self) -> None:
        self.touch()
        self.typed = ""
        self._go("identify")

    def back(self) -> None:
        self.touch()
        if self.screen in ("services", "identify", "result"):
            self.typed = ""
            self._go("home")
        elif self.screen == "error":
            self.error = None
            self._go("home")
        elif self.screen == "home":
            self.reset()

    def go_home(self) -> None:
        self.touch()
        if self.screen == "busy":
            return
        self.typed = ""
        self.result = None
        self.error = None
        self._go("home")

    def done(self) -> None:
        """ "Done" on the result screen: the next customer starts from the attract screen."""
        self.reset()

    def error_action(self) -> None:
        """The error screen's "take a number" button."""
        self.touch()
        err = self.error
        self.error = None
        if err is not None and err.offer_service:
            self.take_number(err.offer_service)
        else:
            self._go("services")

    # ------------------------------------------------------------------ keypad and scanner

    def set_input_mode(self, mode: str) -> None:
        self.touch()
        if mode in ("code", "hetu") and mode != self.input_mode:
            self.input_mode = mode
            self.typed = ""
        self._changed()

    def key(self, ch: str) -> None:
        """A key of the on-screen keypad."""
        self.touch()
        limit = 11 if self.input_mode == "hetu" else 6
        if self.input_mode == "code":
            raw = "".join(c for c in self.typed if c.isalnum())
            if ch.isalnum() and len(raw) < limit:
                self.typed = raw + ch.upper()
        elif len(self.typed) < limit:
            self.typed += ch.upper()
        self._changed()

    def backspace(self) -> None:
        self.touch()
        self.typed = self.typed[:-1]
        self._changed()

    def clear(self) -> None:
        self.touch()
        self.typed = ""
        self._changed()

    @property
    def shown_input(self) -> str:
        return format_code(self.typed) if self.input_mode == "code" else self.typed

    @property
    def validation(self) -> Validation:
        if self.input_mode == "hetu":
            return validate_hetu(self.typed)
        return validate_code(self.typed)

    def submit(self) -> None:
        """The keypad's "Check in" button: sent only when the input is valid."""
        self.touch()
        v = self.validation
        if not v.valid:
            self._changed()
            return
        if self.input_mode == "hetu":
            from scheduler.booking import hetu

            self.check_in("hetu", hetu.normalize(self.typed))
        else:
            self.check_in("code", format_code(self.typed))

    def scanner_text(self, text: str) -> None:
        """Characters typed by a barcode/QR scanner (a keyboard) or a real keyboard."""
        now = self.clock()
        if now - self._scan_at > SCAN_GAP_S * 8:
            self._scan = ""
        self._scan_at = now
        self._scan += text
        if len(self._scan) > 300:
            self._scan = self._scan[-300:]

    def scanner_enter(self) -> bool:
        """Enter after scanner text: a booking code anywhere in it checks in at once."""
        text, self._scan = self._scan, ""
        if self.screen in ("busy",):
            return False
        code = code_from_scan(text)
        if code is None:
            if self.screen == "identify" and text.strip():
                self.touch()
                self.input_mode = "code"
                self.typed = "".join(c for c in text.upper() if c.isalnum())[:6]
                self._changed()
            return False
        self.touch()
        self.input_mode = "code"
        self.typed = code.replace("-", "")
        self.check_in("code", code)
        return True

    # ------------------------------------------------------------------ card reader

    def card_inserted(self, card: CardInfo) -> None:
        """On the reader's thread: a card on any screen (also idle/home) checks in."""
        if self.screen == "busy":
            return
        self.touch()
        if self.screen == "idle":
            self.lang = self.default_lang
        self.check_in("card", card.identifier)

    # ------------------------------------------------------------------ services

    def services(self) -> list[ServiceItem]:
        """The service menu: walk-in services, in config order, grouped by provider."""
        queues = {q.get("id"): q for q in self.display.get("queues") or []}
        items: list[ServiceItem] = []
        for s in self.config.get("services") or []:
            if not s.get("walk_in", True):
                continue
            q = queues.get(s.get("queue")) or {}
            items.append(
                ServiceItem(
                    id=s["id"],
                    name=tx.pick(s.get("name"), self.lang) or s["id"],
                    provider=s.get("provider") or "",
                    provider_name=self._provider_name(s),
                    queue=s.get("queue") or "",
                    walk_in=bool(s.get("walk_in", True)),
                    open=bool(s.get("open", True)),
                    waiting=q.get("waiting"),
                    eta_min=q.get("eta_min"),
                    opens=self._opens_text(s.get("opens") or s.get("opens_at")),
                )
            )
        order: dict[str, int] = {}
        for it in items:
            order.setdefault(it.provider, len(order))
        items.sort(key=lambda it: order[it.provider])
        return items

    def _provider_name(self, s: dict[str, Any]) -> str:
        names = self.config.get("provider_names") or {}
        if s.get("provider") in names:
            return tx.pick(names[s["provider"]], self.lang)
        queues = {q.get("id"): q.get("name") for q in self.display.get("queues") or []}
        return tx.provider_name(s.get("provider") or "", self.lang, queues.get(s.get("provider")))

    def _opens_text(self, when: Any) -> str | None:
        if not isinstance(when, str):
            return None
        try:
            ts = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(ZoneInfo(self.tz))
        except ValueError:
            return None
        clock = f"{ts.hour}:{ts.minute:02d}" if self.lang == "en" else f"{ts.hour}.{ts.minute:02d}"
        today = self.wall().astimezone(ZoneInfo(self.tz)).date()
        if ts.date() == today:
            return clock
        return f"{ts.day}.{ts.month}. {clock}"

    def service(self, service_id: str) -> dict[str, Any] | None:
        return next((s for s in self.config.get("services") or [] if s["id"] == service_id), None)

    # ------------------------------------------------------------------ scheduler commands

    def take_number(self, service_id: str, *, priority: bool = False) -> None:
        self.touch()
        self._go("busy")
        self.runner(lambda: self._take_number(service_id, priority))

    def check_in(self, by: str, value: str) -> None:
        self.touch()
        self._go("busy")
        self.runner(lambda: self._check_in(by, value))

    def _request(self, verb: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """The reply, or None when the scheduler did not answer in time (offline)."""
        if self.link is None:
            return None
        try:
            reply = self.link.request(verb, fields, timeout=self.request_timeout_s, durable=False)
        except (RequestTimeout, NotConnected) as exc:
            log.warning("%s: %s", verb, exc)
            self.offline = True
            return None
        self.offline = False
        return reply

    def _take_number(self, service_id: str, priority: bool) -> None:
        lang = self.lang
        fields: dict[str, Any] = {"id": p.new_id(), "service": service_id, "lang": lang}
        if priority:
            fields["priority"] = True
        try:
            reply = self._request("ticket", fields)
            if reply is None:
                self._offline_ticket(fields)
            elif reply.get("ok"):
                self._ticket_result(reply["ticket"], "ticket", lang)
            else:
                self._fail(reply, verb="ticket")
        except Exception:
            log.exception("ticket failed")
            self._show_error(ErrorInfo("internal_error"))

    def _check_in(self, by: str, value: str) -> None:
        lang = self.lang
        try:
            reply = self._request("checkin", {"by": by, "value": value, "lang": lang})
            if reply is None:
                self._show_error(ErrorInfo("offline_checkin", offer_number=True))
            elif reply.get("ok"):
                self._ticket_result(reply["ticket"], "checkin", lang)
            else:
                self._fail(reply, verb="checkin")
        except Exception:
            log.exception("checkin failed")
            self._show_error(ErrorInfo("internal_error"))

    def _fail(self, reply: dict[str, Any], *, verb: str) -> None:
        err = reply.get("error") or {}
        code = str(err.get("code") or "internal_error")
        message = err.get("message") if isinstance(err.get("message"), dict) else None
        offer = code == "too_late"
        service = err.get("service") if isinstance(err.get("service"), str) else None
        self._show_error(ErrorInfo(code, message, offer_number=offer, offer_service=service))

    def _show_error(self, info: ErrorInfo) -> None:
        with self._lock:
            self.error = info
            self.screen = "error"
        self._changed()

    # ------------------------------------------------------------------ offline

    def _letter(self, service: dict[str, Any]) -> str | None:
        letter = service.get("prefix") or service.get("queue_prefix")
        if isinstance(letter, str) and re.fullmatch(r"[A-Z]", letter):
            return letter
        if self.store is not None:
            return self.store.letter(service.get("queue") or "")
        return None

    def _offline_ticket(self, fields: dict[str, Any]) -> None:
        service = self.service(fields["service"])
        rng = self.config.get("offline_numbers")
        if (
            service is None
            or self.store is None
            or not isinstance(rng, dict)
            or self.link is None
            or not service.get("open", True)
        ):
            code = "offline_no_range"
            if service is not None and not service.get("open", True):
                code = "queue_closed"
            self._show_error(ErrorInfo(code))
            return
        letter = self._letter(service)
        if letter is None:
            self._show_error(ErrorInfo("offline_no_range"))
            return
        day = self.wall().astimezone(ZoneInfo(self.tz)).date().isoformat()
        number = self.store.allocate(day, letter, int(rng["first"]), int(rng["last"]))
        if number is None:
            self._show_error(ErrorInfo("offline_range_used"))
            return
        issued = rfc3339(self.wall())
        durable = {k: v for k, v in fields.items() if k != "id"}
        durable["id"] = p.new_id()
        durable["offline"] = {"number": number, "issued_at": issued}
        durable["supersedes"] = fields["id"]
        self.link.send("ticket", durable, durable=True)
        log.warning("offline ticket %s for %s (supersedes %s)", number, service["id"], fields["id"])
        ticket = {
            "number": number,
            "queue": service.get("queue"),
            "service": service["id"],
            "position": 0,
            "eta_min": 0,
            "issued_at": issued,
            "status_url": None,
            "appointment": None,
        }
        self._ticket_result(ticket, "ticket", fields["lang"], offline=True)

    # ------------------------------------------------------------------ printing

    def _ticket_result(
        self, ticket: dict[str, Any], kind: str, lang: str, *, offline: bool = False
    ) -> None:
        number = str(ticket.get("number") or "")
        if self.store is not None and not offline and len(number) == 4 and ticket.get("queue"):
            self.store.learn_letter(str(ticket["queue"]), number[0])
        service = self.service(str(ticket.get("service") or "")) or {}
        view = make_view(
            ticket,
            service_name=service.get("name") or str(ticket.get("service") or ""),
            site_name=self.config.get("site_name") or "",
            lang=lang,
            instructions=service.get("instructions"),
            tz=self.tz,
            offline=offline,
        )
        result = Result(
            view=view,
            kind=kind,
            printed=False,
            offline=offline,
            position=None if offline else ticket.get("position"),
            eta_min=None if offline else ticket.get("eta_min"),
        )
        pr = self._print(view)
        result.printed = pr.ok
        result.print_error = pr.error
        result.png_path = pr.png_path
        with self._lock:
            self.result = result
            self.screen = "result"
            self.typed = ""
        self._changed()

    def _print(self, view: TicketView) -> PrintResult:
        if self.printer is None:
            return PrintResult(ok=False, status="absent", error="no printer")
        t0 = time.perf_counter()
        try:
            pr = self.printer.print_ticket(view)
        except Exception as exc:  # the interface says never, but a customer is waiting
            log.exception("printer raised")
            pr = PrintResult(ok=False, status="error", error=str(exc))
        self.stats.last_print_ms = (time.perf_counter() - t0) * 1000
        if pr.status != self.printer_status:
            self.printer_status = pr.status
            self.poll_devices(force=False)
        if not pr.ok:
            log.warning("printing failed (%s): %s", pr.status, pr.error)
        return pr


def make_view(
    ticket: dict[str, Any],
    *,
    service_name: Any,
    site_name: Any,
    lang: str,
    instructions: Any,
    tz: str,
    offline: bool,
) -> TicketView:
    """The TicketView of a ticket, through kiosk/ticket_text.py."""
    from kiosk.ticket_text import ticket_view

    return ticket_view(
        ticket,
        service_name=service_name,
        site_name=site_name,
        lang=lang,
        instructions=instructions,
        tz=tz,
        offline=offline,
    )
