"""The terminal lobby of `vuoro demo`: watch the service point work and drive it with keys.

Until the kiosk and lobby display windows exist, `vuoro demo` (in a terminal) shows this
screen. It plays the demo devices, each over its own MQTT connection with its own
credentials, exactly as the real devices will: the kiosk takes tickets, the desks call,
recall, finish, transfer; the display side follows the retained lobby and desk state and
`event/called`. Nothing here touches the scheduler directly: every command is a
`DeviceClient.request` over the private broker, and every refusal is shown in the log in
the chosen language.

Keys (also on screen): 1-9 take a number for service N (`p` first: priority); per desk
q w e r = next, z x c v = recall, a s d f = finish; the selected desk (the last one used,
Tab changes it) takes g = start, n = no-show, t = transfer, o = open/close; l = language,
? = help, Q or Ctrl-C = quit.
"""

from __future__ import annotations

import contextlib
import curses
import json
import locale
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient, MqttSettings, NotConnected, RequestTimeout

if TYPE_CHECKING:
    from vuoro.demo import Demo, DemoDevice

log = logging.getLogger("vuoro.demo.tui")

LANGS = ("fi", "sv", "en")
REQUEST_TIMEOUT = 3.0
FLASH_S = 4.0  # how long a fresh call stays highlighted
MIN_W = 72

NEXT_KEYS = "qwer"
RECALL_KEYS = "zxcv"
FINISH_KEYS = "asdf"
SERVICE_KEYS = "123456789"

Render = Callable[[str], str]  # lang -> text

# ---------------------------------------------------------------------------- texts

# key -> (fi, sv, en)
TEXTS: dict[str, tuple[str, str, str]] = {
    "online": ("palvelin toiminnassa", "servern är i drift", "scheduler online"),
    "offline": ("palvelin ei vastaa", "servern svarar inte", "scheduler offline"),
    "watch": ("Seuraa liikennettä:", "Följ trafiken:", "Watch the traffic:"),
    "now": ("Nyt vuorossa", "Nu betjänas", "Now calling"),
    "desk": ("Palvelupiste", "Disk", "Desk"),
    "previous": ("Edelliset", "Tidigare", "Previous"),
    "no_calls": ("Ei vielä kutsuja", "Inga kallelser ännu", "No calls yet"),
    "recall": ("uusintakutsu", "kallas igen", "recall"),
    "waiting_sched": (
        "Odotetaan palvelinta…",
        "Väntar på servern…",
        "Waiting for the scheduler…",
    ),
    "services": ("Ota vuoronumero", "Ta ett könummer", "Take a number"),
    "priority_on": (
        "seuraava numero: ETUSIJA",
        "nästa nummer: FÖRTUR",
        "next number: PRIORITY",
    ),
    "closed_svc": ("suljettu", "stängd", "closed"),
    "appt_only": ("vain ajanvaraus", "endast tidsbokning", "appointments only"),
    "queues": ("Jonot", "Köer", "Queues"),
    "waiting": ("odottaa", "väntar", "waiting"),
    "wait": ("arvio", "väntetid", "est. wait"),
    "desks": ("Palvelupisteet", "Diskar", "Desks"),
    "status": ("tila", "status", "status"),
    "number": ("numero", "nummer", "number"),
    "keys": ("näppäimet", "tangenter", "keys"),
    "log": ("Tapahtumat", "Händelser", "Log"),
    "help": ("Ohje", "Hjälp", "Help"),
    "enlarge": (
        "Suurenna ikkunaa (enlarge the window)",
        "Förstora fönstret (enlarge the window)",
        "Please enlarge the window",
    ),
    "kiosk": ("Kioski", "Kiosk", "Kiosk"),
    "k_checkin": ("ilmoittaudu varauksella", "anmäl bokning", "check in a booking"),
    "checkin": ("ilmoittautuminen", "anmälan", "check-in"),
    "appt": ("varaus", "bokning", "appointment"),
    "no_booking": (
        "demon varaukset on jo käytetty",
        "demons bokningar är redan använda",
        "the demo's bookings are all used",
    ),
    "ahead": ("edellä", "före", "ahead"),
    "prio": ("etusija", "förtur", "priority"),
    "called": ("kutsuttu", "kallad", "called"),
    "finished": ("valmis", "klar", "finished"),
    "nobody": ("ei odottavia", "inga väntande", "nobody waiting"),
    "recalled": ("kutsuttu uudelleen", "kallad igen", "recalled"),
    "serving": ("palvellaan", "betjänas", "now serving"),
    "served": ("palveltu", "betjänad", "served"),
    "noshow": ("ei saapunut", "kom inte", "did not come"),
    "transferred": ("siirretty", "flyttad", "transferred"),
    "opened": ("avattu", "öppnad", "opened"),
    "closed": ("suljettu", "stängd", "closed"),
    "timeout": ("ei vastausta", "inget svar", "no reply within"),
    "no_link": (
        "ei yhteyttä välittäjään",
        "ingen förbindelse till mäklaren",
        "not connected to the broker",
    ),
    "no_queue": (
        "ei jonoa, johon siirtää",
        "ingen kö att flytta till",
        "no queue to transfer to",
    ),
    "started": (
        "Demo käynnissä. Paina 1 ja sitten q: numero kutsutaan palvelupisteeseen 1.",
        "Demon körs. Tryck 1 och sedan q: numret kallas till disk 1.",
        "Demo running. Press 1, then q: the number is called to desk 1.",
    ),
    "lang_now": ("Kieli: suomi", "Språk: svenska", "Language: English"),
    # key help: (keys, label)
    "k_ticket": ("numero", "nummer", "number"),
    "k_prio": ("etusija", "förtur", "priority"),
    "k_next": ("seuraava", "nästa", "next"),
    "k_recall": ("uudelleen", "igen", "recall"),
    "k_finish": ("valmis", "klar", "finish"),
    "k_select": ("valitse piste", "välj disk", "select desk"),
    "k_start": ("aloita", "börja", "start"),
    "k_noshow": ("ei saapunut", "kom inte", "no-show"),
    "k_transfer": ("siirrä", "flytta", "transfer"),
    "k_open": ("auki/kiinni", "öppna/stäng", "open/close"),
    "k_lang": ("kieli", "språk", "language"),
    "k_help": ("ohje", "hjälp", "help"),
    "k_quit": ("lopeta", "avsluta", "quit"),
}

STATUS_NAMES: dict[str, tuple[str, str, str]] = {
    "closed": ("suljettu", "stängd", "closed"),
    "open": ("vapaa", "ledig", "open"),
    "calling": ("kutsuu", "kallar", "calling"),
    "serving": ("palvelee", "betjänar", "serving"),
}

HELP: dict[str, list[str]] = {
    "en": [
        "This is a whole service point on your machine: a Mosquitto broker, the scheduler,",
        "and this screen, which plays the kiosk, the lobby display and desks 1-4 over MQTT.",
        "",
        "1-9       take a number for that service at the kiosk (p first: a priority number)",
        "q w e r   desk 1-4 calls the next customer (finishing the current one)",
        "z x c v   desk 1-4 calls its current number again",
        "a s d f   desk 1-4 finishes its current customer",
        "Tab       select another desk; the last desk used is selected (marked ▶)",
        "g         the selected desk starts serving (the customer arrived)",
        "n         the called customer did not come (no-show)",
        "t         transfer the selected desk's customer to the next queue",
        "o         open or close the selected desk",
        "l         language: suomi / svenska / English",
        "Q, Ctrl-C quit: the broker and the scheduler stop too",
        "",
        "Every key is a command over the real broker; refusals appear in the log.",
        "Press ? again to close this help.",
    ],
    "fi": [
        "Koko asiointipiste koneellasi: Mosquitto-välittäjä, jonopalvelin ja tämä näkymä,",
        "joka toimii kioskina, aulanäyttönä ja palvelupisteinä 1-4 MQTT:n kautta.",
        "",
        "1-9       ota vuoronumero palveluun kioskilta (ensin p: etusijanumero)",
        "q w e r   piste 1-4 kutsuu seuraavan (ja päättää nykyisen)",
        "z x c v   piste 1-4 kutsuu nykyisen numeron uudelleen",
        "a s d f   piste 1-4 päättää nykyisen asiakkaan",
        "Tab       valitse toinen piste; viimeksi käytetty on valittuna (▶)",
        "g         valittu piste aloittaa palvelun (asiakas saapui)",
        "n         kutsuttu asiakas ei saapunut",
        "t         siirrä valitun pisteen asiakas seuraavaan jonoon",
        "o         avaa tai sulje valittu piste",
        "l         kieli: suomi / svenska / English",
        "Q, Ctrl-C lopeta: myös välittäjä ja jonopalvelin pysähtyvät",
        "",
        "Jokainen näppäin on komento oikean välittäjän kautta; virheet näkyvät lokissa.",
        "Sulje ohje painamalla ? uudelleen.",
    ],
    "sv": [
        "Ett helt servicekontor på din dator: en Mosquitto-mäklare, servern och den här",
        "vyn, som spelar kiosk, väntrumsskärm och diskarna 1-4 via MQTT.",
        "",
        "1-9       ta ett könummer till tjänsten i kiosken (först p: förtursnummer)",
        "q w e r   disk 1-4 kallar nästa kund (och avslutar den nuvarande)",
        "z x c v   disk 1-4 kallar sitt nuvarande nummer igen",
        "a s d f   disk 1-4 avslutar sin nuvarande kund",
        "Tab       välj en annan disk; den senast använda är vald (▶)",
        "g         den valda disken börjar betjäna (kunden kom)",
        "n         den kallade kunden kom inte",
        "t         flytta den valda diskens kund till nästa kö",
        "o         öppna eller stäng den valda disken",
        "l         språk: suomi / svenska / English",
        "Q, Ctrl-C avsluta: mäklaren och servern stannar också",
        "",
        "Varje tangent är ett kommando via den riktiga mäklaren; fel syns i loggen.",
        "Tryck ? igen för att stänga hjälpen.",
    ],
}


def tr(key: str, lang: str) -> str:
    return TEXTS[key][LANGS.index(lang)]


def pick(names: dict[str, str] | None, lang: str, default: str = "") -> str:
    if not names:
        return default
    return names.get(lang) or names.get("en") or next(iter(names.values()), default)


def _default_lang() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        val = os.environ.get(var, "")
        if val:
            code = val[:2].lower()
            return code if code in LANGS else "en"
    return "en"


# ---------------------------------------------------------------------------- big digits

# 5 rows per glyph; '#' is a pixel. Wide enough to read across a room (or a desk).
FONT: dict[str, tuple[str, ...]] = {
    "0": ("####", "#  #", "#  #", "#  #", "####"),
    "1": ("  # ", " ## ", "  # ", "  # ", "  # "),
    "2": ("####", "   #", "####", "#   ", "####"),
    "3": ("####", "   #", " ###", "   #", "####"),
    "4": ("#  #", "#  #", "####", "   #", "   #"),
    "5": ("####", "#   ", "####", "   #", "####"),
    "6": ("####", "#   ", "####", "#  #", "####"),
    "7": ("####", "   #", "  # ", " #  ", " #  "),
    "8": ("####", "#  #", "####", "#  #", "####"),
    "9": ("####", "#  #", "####", "   #", "####"),
    "A": (" ## ", "#  #", "####", "#  #", "#  #"),
    "B": ("### ", "#  #", "### ", "#  #", "### "),
    "C": ("####", "#   ", "#   ", "#   ", "####"),
    "D": ("### ", "#  #", "#  #", "#  #", "### "),
    "E": ("####", "#   ", "### ", "#   ", "####"),
    "F": ("####", "#   ", "### ", "#   ", "#   "),
    "G": ("####", "#   ", "# ##", "#  #", "####"),
    "H": ("#  #", "#  #", "####", "#  #", "#  #"),
    "I": ("###", " # ", " # ", " # ", "###"),
    "J": ("   #", "   #", "   #", "#  #", " ## "),
    "K": ("#  #", "# # ", "##  ", "# # ", "#  #"),
    "L": ("#   ", "#   ", "#   ", "#   ", "####"),
    "M": ("#   #", "## ##", "# # #", "#   #", "#   #"),
    "N": ("#   #", "##  #", "# # #", "#  ##", "#   #"),
    "O": (" ## ", "#  #", "#  #", "#  #", " ## "),
    "P": ("### ", "#  #", "### ", "#   ", "#   "),
    "Q": (" ## ", "#  #", "#  #", "# ##", " ###"),
    "R": ("### ", "#  #", "### ", "# # ", "#  #"),
    "S": (" ###", "#   ", " ## ", "   #", "### "),
    "T": ("#####", "  #  ", "  #  ", "  #  ", "  #  "),
    "U": ("#  #", "#  #", "#  #", "#  #", "####"),
    "V": ("#   #", "#   #", "#   #", " # # ", "  #  "),
    "W": ("#   #", "#   #", "# # #", "## ##", "#   #"),
    "X": ("#   #", " # # ", "  #  ", " # # ", "#   #"),
    "Y": ("#   #", " # # ", "  #  ", "  #  ", "  #  "),
    "Z": ("####", "   #", "  # ", " #  ", "####"),
    ">": ("  #  ", "   # ", "#####", "   # ", "  #  "),
    " ": ("  ", "  ", "  ", "  ", "  "),
}


def big_text(text: str, pixel: str) -> list[str] | None:
    """Five lines of block letters for `text`, or None if a character has no glyph."""
    glyphs = []
    for ch in text.upper():
        g = FONT.get(ch)
        if g is None:
            return None
        glyphs.append(g)
    rows = [" ".join(g[r] for g in glyphs) for r in range(5)]
    return [row.replace("#", pixel) for row in rows]


# ---------------------------------------------------------------------------- the model


@dataclass
class LogEntry:
    at: float
    kind: str  # "ok", "err", "info", "warn"
    render: Render


@dataclass
class DeskInfo:
    id: str
    device: DemoDevice
    label: str
    status: str | None = None
    ticket: str | None = None
    waiting: int = 0
    queues: list[str] = field(default_factory=list)
    ticket_queue: tuple[str, str] | None = None  # (number, queue) learnt from replies
    # The desk unit (desk/app.py on gpiozero's mock pins) whose buttons the keys press,
    # what its LED and number display show, and the log lines its replies are awaited for.
    unit: Any = None
    unit_text: str = ""
    pending: dict[str, tuple[Any, Any]] = field(default_factory=dict)


# Keys -> the desk unit's buttons: (button, seconds held). A long press of next is a
# no-show, of recall a start (desk/app.py BUTTON_VERBS).
UNIT_PRESSES = {
    "next": ("next", 0.1),
    "recall": ("recall", 0.1),
    "finish": ("finish", 0.1),
    "noshow": ("next", 1.8),
    "start": ("recall", 1.8),
}


class Lobby:
    """What the screen shows, fed by MQTT callbacks; and the commands the keys send."""

    def __init__(self, demo: Demo, stop: threading.Event) -> None:
        self.demo = demo
        self.stop = stop
        self.site = demo.site
        self.lang = _default_lang()
        self.lock = threading.Lock()
        self.version = 0
        self.display: dict[str, Any] | None = None
        self.scheduler_online: bool | None = None
        self.services: list[dict[str, Any]] = []
        self.site_name: dict[str, str] | None = None
        self.queue_names: dict[str, dict[str, str]] = {}
        self.flash: tuple[str, str, float] | None = None  # number, desk, monotonic time
        self.log: deque[LogEntry] = deque(maxlen=300)
        self.priority_next = False
        self.show_help = False
        self.transfer_turn = 0
        self.watch: tuple[str, str] | None = None  # mosquitto_sub user and password
        self.next_booking = 0  # the demo booking the `i` key checks in next

        by_role: dict[str, list[DemoDevice]] = {}
        for dev in demo.devices:
            by_role.setdefault(dev.role, []).append(dev)
        self.kiosk_dev = by_role.get("kiosk", [None])[0]  # type: ignore[list-item]
        self.display_dev = by_role.get("display", [None])[0]  # type: ignore[list-item]
        self.desks: list[DeskInfo] = []
        for dev in by_role.get("desk", []):
            for d in dev.desks:
                self.desks.append(DeskInfo(id=d, device=dev, label=d))
        self.desks.sort(key=lambda d: (len(d.id), d.id))
        self.selected = 0
        self.clients: dict[str, DeviceClient] = {}
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="tui-commands", daemon=True)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._open_watch_account()
        devices = [d for d in (self.kiosk_dev, self.display_dev) if d is not None]
        for dev in devices:
            client = self._client(dev)
            self.clients[dev.id] = client
        # Each desk device is a real desk unit on mock pins: keys press its buttons.
        for dev in {d.device.id: d.device for d in self.desks}.values():
            unit = self._unit(dev)
            self.clients[dev.id] = unit.client
            for desk in self.desks:
                if desk.device.id == dev.id:
                    desk.unit = unit
                    unit.on_reply = self._unit_reply(desk)
                    unit.observe(self._unit_view(desk))
        if self.display_dev is not None:
            c = self.clients[self.display_dev.id]
            c.subscribe(p.Topics.display_state(self.site), self._on_display)
            c.subscribe(p.Topics.desk_state(self.site, "+"), self._on_desk)
            c.subscribe(p.Topics.event_called(self.site), self._on_called)
            c.subscribe(p.Topics.SCHEDULER_STATUS, self._on_scheduler)
        if self.kiosk_dev is not None:
            c = self.clients[self.kiosk_dev.id]
            c.subscribe(p.Topics.config(self.site, self.kiosk_dev.id), self._on_kiosk_config)
        for dev in {d.device.id: d.device for d in self.desks}.values():
            c = self.clients[dev.id]
            c.subscribe(p.Topics.config(self.site, dev.id), self._on_desk_config)
        units = {d.unit for d in self.desks if d.unit is not None}
        for c in self.clients.values():
            if not any(c is u.client for u in units):
                c.start()
        for u in units:
            u.start()
        self._worker.start()
        self.add_log("info", lambda lang: tr("started", lang))
        for note in getattr(self.demo, "notes", []):
            self.add_log("info", lambda _lang, note=note: note)
        # Desks start closed; open them so that `next` works at once.
        for desk in self.desks:
            self.desk_command(desk, "open")

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(1.0)  # a command still waiting for its reply is abandoned
        units = {d.unit for d in self.desks if d.unit is not None}
        stoppers = [
            threading.Thread(target=c.stop, name=f"stop-{c.device_id}", daemon=True)
            for c in self.clients.values()
            if not any(c is u.client for u in units)
        ]
        stoppers += [
            threading.Thread(target=u.stop, name="stop-desk-unit", daemon=True) for u in units
        ]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(3)

    def _unit(self, dev: DemoDevice) -> Any:
        from desk.app import DeskUnit

        # Mock pins give no TM1637 acknowledgements: that warning is for real hardware.
        logging.getLogger("vuoro.desk.hw").setLevel(logging.ERROR)
        return DeskUnit.mock(
            host=self.demo.broker.host,
            port=self.demo.broker.port,
            site=self.site,
            device_id=dev.id,
            username=dev.username,
            password=dev.password,
            desk=dev.desks[0] if dev.desks else None,
        )

    def _unit_view(self, desk: DeskInfo) -> Callable[[Any], None]:
        def seen(view: Any) -> None:
            text = f"[{view.display or ' '}] LED {view.led_text}"
            if text != desk.unit_text:
                with self.lock:
                    desk.unit_text = text
                    self._touch()

        return seen

    def _unit_reply(self, desk: DeskInfo) -> Callable[[str, dict[str, Any]], None]:
        """Log a desk unit's reply like the lobby's own commands."""

        def reply(verb: str, body: dict[str, Any]) -> None:
            who, on_ok = desk.pending.pop(verb, (None, None))
            if who is None:

                def who(lang: str) -> str:
                    return f"{tr('desk', lang)} {desk.label}"

            if body.get("ok"):
                if on_ok is not None:
                    self.add_log("ok", on_ok(body))
                return
            error = body.get("error") or {}
            code = error.get("code", "?")
            message = error.get("message") or {}
            if code == "timeout":
                message = {lang: f"{tr('timeout', lang)} {REQUEST_TIMEOUT:.0f} s" for lang in LANGS}
            self.add_log(
                "err", lambda lang: f"{who(lang)} · {verb}: {pick(message, lang, code)} [{code}]"
            )

        return reply

    def _client(self, dev: DemoDevice) -> DeviceClient:
        settings = MqttSettings(
            host=self.demo.broker.host,
            port=self.demo.broker.port,
            username=dev.username,
            password=dev.password,
            reconnect_min_s=1,
            reconnect_max_s=5,
        )
        return DeviceClient(
            settings,
            device_id=dev.id,
            site=self.site,
            role=dev.role,
            version="demo-tui",
        )

    def _open_watch_account(self) -> None:
        """The demo's read-only broker account, shown for `mosquitto_sub`."""
        self.watch = (self.demo.monitor.username, self.demo.monitor.password)

    # ------------------------------------------------------------------ MQTT callbacks

    def _touch(self) -> None:
        self.version += 1

    def _on_display(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        with self.lock:
            if self.display is None or body.get("seq", 0) >= self.display.get("seq", 0):
                self.display = body
                for q in body.get("queues") or []:
                    if isinstance(q, dict) and "id" in q:
                        self.queue_names.setdefault(q["id"], q.get("name") or {})
            self._touch()

    def _on_desk(self, topic: str, body: dict[str, Any], _m: Any) -> None:
        desk_id = topic.rsplit("/", 1)[-1]
        with self.lock:
            for d in self.desks:
                if d.id == desk_id:
                    d.status = body.get("status")
                    d.ticket = body.get("ticket")
                    d.waiting = int(body.get("waiting") or 0)
            self._touch()

    def _on_called(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        with self.lock:
            self.flash = (str(body.get("number")), str(body.get("desk")), time.monotonic())
            self._touch()

    def _on_scheduler(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        with self.lock:
            self.scheduler_online = bool(body.get("online"))
            self._touch()

    def _on_kiosk_config(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        with self.lock:
            self.services = [s for s in body.get("services") or [] if isinstance(s, dict)]
            self.site_name = body.get("site_name")
            self._touch()

    def _on_desk_config(self, _t: str, body: dict[str, Any], _m: Any) -> None:
        desk_ids = body.get("desks") or []
        with self.lock:
            for d in self.desks:
                if d.id in desk_ids:
                    if body.get("desk") and len(desk_ids) == 1:
                        d.label = str(body["desk"])
                    d.queues = list(body.get("queues") or [])
            for qid, names in (body.get("queue_names") or {}).items():
                self.queue_names.setdefault(qid, names)
            self._touch()

    # ------------------------------------------------------------------ the log

    def add_log(self, kind: str, render: Render) -> None:
        with self.lock:
            self.log.append(LogEntry(time.time(), kind, render))
            self._touch()

    # ------------------------------------------------------------------ commands

    def _work(self) -> None:
        """Run commands one at a time, in key order (a ticket is issued before the `next`
        pressed after it), so a slow reply never freezes the screen."""
        while True:
            job = self._jobs.get()
            if job is None or self.stop.is_set():
                return
            try:
                job()
            except Exception as exc:  # never let one command end the worker
                log.warning("command failed: %s", exc)

    def _request(
        self,
        device_id: str,
        verb: str,
        fields: dict[str, Any],
        who: Render,
        on_ok: Callable[[dict[str, Any]], Render],
    ) -> None:
        client = self.clients.get(device_id)
        if client is None:
            return

        def job() -> None:
            client.connected.wait(REQUEST_TIMEOUT)  # at start-up, or while reconnecting
            try:
                reply = client.request(verb, fields, timeout=REQUEST_TIMEOUT)
            except RequestTimeout:
                self.add_log(
                    "err",
                    lambda lang: (
                        f"{who(lang)} · {verb}: {tr('timeout', lang)} {REQUEST_TIMEOUT:.0f} s"
                    ),
                )
                return
            except NotConnected:
                self.add_log("err", lambda lang: f"{who(lang)} · {verb}: {tr('no_link', lang)}")
                return
            if reply.get("ok"):
                self.add_log("ok", on_ok(reply))
                return
            error = reply.get("error") or {}
            code = error.get("code", "?")
            message = error.get("message") or {}
            self.add_log(
                "err", lambda lang: f"{who(lang)} · {verb}: {pick(message, lang, code)} [{code}]"
            )

        self._jobs.put(job)

    def take_ticket(self, index: int) -> None:
        if self.kiosk_dev is None:
            return
        with self.lock:
            services = list(self.services)
            priority, self.priority_next = self.priority_next, False
            self._touch()
        if index >= len(services):
            return
        svc = services[index]
        names = svc.get("name") or {}

        def who(lang: str) -> str:
            return f"{tr('kiosk', lang)} ({pick(names, lang, svc.get('id', '?'))})"

        def ok(reply: dict[str, Any]) -> Render:
            t = reply.get("ticket") or {}

            def text(lang: str) -> str:
                out = (
                    f"{who(lang)}: {t.get('number')} · {t.get('position', 0)} "
                    f"{tr('ahead', lang)} · ~{t.get('eta_min', 0)} min"
                )
                return out + (f" · {tr('prio', lang)}" if t.get("priority") else "")

            return text

        fields = {"service": svc.get("id"), "lang": self.lang}
        if priority:
            fields["priority"] = True
        self._request(self.kiosk_dev.id, "ticket", fields, who, ok)

    def check_in(self) -> None:
        """Check in the demo's next booking at the kiosk by its booking code (the first
        one starts now with Aino at desk 4, the next in 20 minutes with Bertil at desk 2)."""
        bookings = list(getattr(self.demo, "bookings", []) or [])
        with self.lock:
            index = self.next_booking
            self.next_booking += 1
            self._touch()
        if self.kiosk_dev is None:
            return
        if index >= len(bookings):
            self.add_log("err", lambda lang: f"{tr('kiosk', lang)}: {tr('no_booking', lang)}")
            return
        code = bookings[index]["code"]

        def who(lang: str) -> str:
            return f"{tr('kiosk', lang)} ({tr('checkin', lang)} {code})"

        def ok(reply: dict[str, Any]) -> Render:
            t = reply.get("ticket") or {}
            appt = t.get("appointment") or {}
            at = appt.get("start", "")
            try:
                from datetime import datetime

                when = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone()
                at = f"{when.hour}.{when.minute:02d}"
            except ValueError:
                pass

            def text(lang: str) -> str:
                return (
                    f"{who(lang)}: {t.get('number')} · {tr('appt', lang)} {at} "
                    f"{appt.get('resource', '')} · ~{t.get('eta_min', 0)} min"
                )

            return text

        self._request(
            self.kiosk_dev.id, "checkin", {"by": "code", "value": code, "lang": self.lang}, who, ok
        )

    def desk_command(self, desk: DeskInfo, verb: str, extra: dict[str, Any] | None = None) -> None:
        def who(lang: str) -> str:
            return f"{tr('desk', lang)} {desk.label}"

        def ok(reply: dict[str, Any]) -> Render:
            t = reply.get("ticket") or {}
            number = t.get("number")
            if number and t.get("queue") and verb in ("next", "recall", "start"):
                desk.ticket_queue = (number, t["queue"])
            finished = reply.get("finished")

            def text(lang: str) -> str:
                head = who(lang)
                if verb == "next":
                    parts = []
                    if finished:
                        parts.append(f"{finished} {tr('finished', lang)}")
                    if number:
                        parts.append(f"{tr('called', lang)} {number}")
                    else:
                        parts.append(tr("nobody", lang))
                    return f"{head}: " + " · ".join(parts)
                if verb == "transfer":
                    target = pick(self.queue_names.get(t.get("queue", "")), lang, t.get("queue"))
                    return f"{head}: {number} {tr('transferred', lang)} → {target}"
                key = {
                    "recall": "recalled",
                    "start": "serving",
                    "finish": "served",
                    "noshow": "noshow",
                    "open": "opened",
                    "close": "closed",
                }[verb]
                return f"{head}: {number} {tr(key, lang)}" if number else f"{head} {tr(key, lang)}"

            return text

        press = UNIT_PRESSES.get(verb)
        if desk.unit is not None and press is not None and not extra:
            # The key presses the desk unit's button; its reply comes to _unit_reply.
            desk.pending[verb] = (who, ok)
            desk.unit.press(press[0], press[1], block=False)
            return
        self._request(desk.device.id, verb, {"desk": desk.id, **(extra or {})}, who, ok)

    def transfer(self, desk: DeskInfo) -> None:
        """Send the desk's current customer to the queue after the ticket's own one, in the
        site's order (pressing t again at the desk that calls it next moves it on)."""
        with self.lock:
            queues = [q["id"] for q in (self.display or {}).get("queues") or []]
            queues = queues or list(self.queue_names)
            current = None
            if desk.ticket_queue and desk.ticket_queue[0] == desk.ticket:
                current = desk.ticket_queue[1]
            self.transfer_turn += 1
            turn = self.transfer_turn
        if current in queues:
            i = queues.index(current)
            choices = queues[i + 1 :] + queues[:i]
            turn = 1
        else:  # the ticket's queue is unknown: take the queues in turn
            choices = queues
        if not choices:
            self.add_log(
                "err", lambda lang: f"{tr('desk', lang)} {desk.label}: {tr('no_queue', lang)}"
            )
            return
        self.desk_command(desk, "transfer", {"queue": choices[(turn - 1) % len(choices)]})

    # ------------------------------------------------------------------ keys

    def key(self, ch: str) -> None:
        """One key press (a character, or a curses key name like "KEY_BTAB")."""
        if ch in ("Q", "\x03"):
            self.stop.set()
            return
        if ch in SERVICE_KEYS:
            self.take_ticket(SERVICE_KEYS.index(ch))
            return
        for keys, verb in ((NEXT_KEYS, "next"), (RECALL_KEYS, "recall"), (FINISH_KEYS, "finish")):
            if ch in keys and keys.index(ch) < len(self.desks):
                with self.lock:
                    self.selected = keys.index(ch)
                    self._touch()
                self.desk_command(self.desks[keys.index(ch)], verb)
                return
        desk = self.desks[self.selected] if self.desks else None
        if ch in ("\t", "KEY_BTAB") and self.desks:
            with self.lock:
                step = 1 if ch == "\t" else -1
                self.selected = (self.selected + step) % len(self.desks)
                self._touch()
        elif ch == "i":
            self.check_in()
        elif ch == "p":
            with self.lock:
                self.priority_next = not self.priority_next
                self._touch()
        elif ch == "l":
            with self.lock:
                self.lang = LANGS[(LANGS.index(self.lang) + 1) % len(LANGS)]
                self._touch()
        elif ch == "?":
            with self.lock:
                self.show_help = not self.show_help
                self._touch()
        elif desk is not None and ch == "g":
            self.desk_command(desk, "start")
        elif desk is not None and ch == "n":
            self.desk_command(desk, "noshow")
        elif desk is not None and ch == "t":
            self.transfer(desk)
        elif desk is not None and ch == "o":
            self.desk_command(desk, "open" if desk.status == "closed" else "close")


# ---------------------------------------------------------------------------- drawing


class Glyphs:
    def __init__(self, unicode: bool) -> None:
        self.pixel = "█" if unicode else "#"
        self.hline = "─" if unicode else "-"
        self.vline = "│" if unicode else "|"
        self.arrow = "→" if unicode else "->"
        self.sel = "▶" if unicode else ">"
        self.dot = "·" if unicode else "-"
        self.on = "●" if unicode else "*"
        self.bad = "✗" if unicode else "x"
        self.good = "✓" if unicode else "+"
        self.info = "•" if unicode else "*"
        self.dash = "—" if unicode else "-"


class Screen:
    """Draws the lobby on a curses window; every draw starts from a blank screen."""

    def __init__(self, win: curses.window, lobby: Lobby) -> None:
        self.win = win
        self.lobby = lobby
        enc = (locale.getpreferredencoding(False) or "").lower().replace("-", "")
        self.g = Glyphs(unicode=enc == "utf8")
        self.attr: dict[str, int] = {}
        self._colours()

    def _colours(self) -> None:
        a = self.attr
        a.update(
            title=curses.A_REVERSE | curses.A_BOLD,
            title_ok=curses.A_REVERSE | curses.A_BOLD,
            title_err=curses.A_REVERSE | curses.A_BOLD | curses.A_BLINK,
            head=curses.A_BOLD,
            dim=curses.A_DIM,
            ok=0,
            err=curses.A_BOLD,
            warn=curses.A_BOLD,
            open=0,
            calling=curses.A_BOLD,
            serving=curses.A_BOLD,
            closed=curses.A_DIM,
            flash=curses.A_REVERSE | curses.A_BOLD,
            big=curses.A_BOLD,
            prio=curses.A_REVERSE,
        )
        if not curses.has_colors():
            return
        try:
            curses.start_color()
            with contextlib.suppress(curses.error):
                curses.use_default_colors()
            pairs = {
                1: curses.COLOR_GREEN,
                2: curses.COLOR_YELLOW,
                3: curses.COLOR_CYAN,
                4: curses.COLOR_RED,
                5: curses.COLOR_MAGENTA,
            }
            for n, fg in pairs.items():
                curses.init_pair(n, fg, -1)
            curses.init_pair(6, curses.COLOR_BLACK, curses.COLOR_CYAN)
            curses.init_pair(7, curses.COLOR_GREEN, curses.COLOR_CYAN)
            curses.init_pair(8, curses.COLOR_RED, curses.COLOR_CYAN)
        except curses.error:
            return
        a.update(
            title=curses.color_pair(6) | curses.A_BOLD,
            title_ok=curses.color_pair(7) | curses.A_BOLD,
            title_err=curses.color_pair(8) | curses.A_BOLD,
            ok=curses.color_pair(1),
            err=curses.color_pair(4) | curses.A_BOLD,
            warn=curses.color_pair(2),
            open=curses.color_pair(1),
            calling=curses.color_pair(2) | curses.A_BOLD,
            serving=curses.color_pair(3) | curses.A_BOLD,
            closed=curses.color_pair(4),
            flash=curses.color_pair(2) | curses.A_BOLD | curses.A_REVERSE,
            big=curses.color_pair(2) | curses.A_BOLD,
            prio=curses.color_pair(5) | curses.A_BOLD | curses.A_REVERSE,
        )

    # ------------------------------------------------------------------ primitives

    def put(self, y: int, x: int, text: str, attr: int = 0, width: int | None = None) -> int:
        """Write clipped text; returns the column after it. Never raises."""
        h, w = self.win.getmaxyx()
        if y < 0 or y >= h or x < 0 or x >= w:
            return x
        room = w - x
        if y == h - 1:
            room -= 1  # curses cannot write the bottom-right cell
        if width is not None:
            room = min(room, width)
        if room <= 0:
            return x
        if len(text) > room:
            text = text[: max(room - 1, 0)] + ("…" if self.g.pixel == "█" else "~")
            text = text[:room]
        with contextlib.suppress(curses.error):
            self.win.addstr(y, x, text, attr)
        return x + len(text)

    def hline(self, y: int, title: str = "") -> None:
        _, w = self.win.getmaxyx()
        self.put(y, 0, self.g.hline * w, self.attr["dim"])
        if title:
            self.put(y, 2, f" {title} ", self.attr["head"])

    # ------------------------------------------------------------------ the frame

    def draw(self) -> None:
        lobby = self.lobby
        win = self.win
        win.erase()
        h, w = win.getmaxyx()
        with lobby.lock:
            lang = lobby.lang
            display = lobby.display
            services = list(lobby.services)
            desks = [
                (d.id, d.label, d.status, d.ticket, d.waiting, i == lobby.selected, d.unit_text)
                for i, d in enumerate(lobby.desks)
            ]
            entries = list(lobby.log)
            flash = lobby.flash
            online = lobby.scheduler_online
            priority = lobby.priority_next
            show_help = lobby.show_help
            site_name = lobby.site_name
        queues = list((display or {}).get("queues") or [])
        calls = list((display or {}).get("called") or [])
        help_lines = self._key_help(lang, w, len(services), len(desks))

        band = 1 + max(len(services), len(queues), 1)
        fixed = 2 + 1 + band + 1 + (1 + len(desks)) + 1 + len(help_lines)
        small_calls = 2  # title row + one row of calls
        big_calls = 6
        min_log = 2
        if w < MIN_W or h < fixed + small_calls + min_log:
            self._too_small(lang, w, h, max(fixed + small_calls + min_log, 0))
            win.noutrefresh()
            return
        big = h >= fixed + big_calls + 6 and w >= 60

        y = self._header(lang, site_name, online, w)
        y = self._calls(y, lang, display is not None, calls, flash, big, w)
        if show_help:
            rows = h - y - len(help_lines)
            self._help(y, lang, rows)
        else:
            self.hline(y)
            y += 1
            y = self._band(y, lang, services, queues, priority, band, w)
            self.hline(y, tr("desks", lang))
            y += 1
            y = self._desks(y, lang, desks, w)
            self.hline(y, tr("log", lang))
            y += 1
            self._log(y, lang, entries, h - y - len(help_lines))
        for i, line in enumerate(help_lines):
            self.put(h - len(help_lines) + i, 0, line, self.attr["dim"] if i else 0)
        win.noutrefresh()

    def _too_small(self, lang: str, w: int, h: int, need_h: int) -> None:
        lines = [tr("enlarge", lang), f"{w}x{h} < {MIN_W}x{need_h}", "Q: quit"]
        top = max((h - len(lines)) // 2, 0)
        for i, line in enumerate(lines):
            self.put(top + i, max((w - len(line)) // 2, 0), line, self.attr["head"] if not i else 0)

    def _header(
        self, lang: str, site_name: dict[str, str] | None, online: bool | None, w: int
    ) -> int:
        g = self.g
        broker = self.lobby.demo.broker
        name = pick(site_name, lang, self.lobby.site)
        state = {True: tr("online", lang), False: tr("offline", lang), None: "…"}[online]
        langs = " ".join(f"[{x.upper()}]" if x == lang else x.upper() for x in LANGS)
        addr = f"MQTT {broker.host}:{broker.port}"
        self.put(0, 0, " " * w, self.attr["title"])
        # Drop what fits least well first: the site name, then the words of the status.
        for left, right in (
            (f" Vuoro demo {g.dot} {name} {g.dot} {addr}", f"{g.on} {state}  {langs} "),
            (f" Vuoro demo {g.dot} {addr}", f"{g.on} {state}  {langs} "),
            (f" Vuoro demo {g.dot} {addr}", f"{g.on}  {langs} "),
        ):
            if len(left) + len(right) + 1 <= w:
                break
        dot = self.attr["title_ok"] if online else self.attr["title_err"]
        self.put(0, 0, left, self.attr["title"])
        x = max(w - len(right), len(left) + 1)
        self.put(0, x, g.on, dot)
        self.put(0, x + len(g.on), right[len(g.on) :], self.attr["title"])
        watch = self.lobby.watch
        if watch:
            host = "" if broker.host in ("127.0.0.1", "localhost") else f"-h {broker.host} "
            cmd = (
                f"mosquitto_sub {host}-p {broker.port} -u {watch[0]} -P {watch[1]} "
                "-t 'vuoro/v1/#' -v"
            )
            label = tr("watch", lang) + " "
            x = 1
            if len(label) + len(cmd) + 2 <= w:
                x = self.put(1, 1, label, self.attr["dim"])
            self.put(1, x, cmd)
        return 2

    def _calls(
        self,
        y: int,
        lang: str,
        known: bool,
        calls: list[dict[str, Any]],
        flash: tuple[str, str, float] | None,
        big: bool,
        w: int,
    ) -> int:
        g = self.g
        self.hline(y, tr("now", lang))
        y += 1
        if not known:
            self.put(y, 2, tr("waiting_sched", lang), self.attr["dim"])
            return y + (5 if big else 1)
        if not calls:
            self.put(y, 2, tr("no_calls", lang), self.attr["dim"])
            return y + (5 if big else 1)
        newest = calls[0]
        number, desk = str(newest.get("number")), str(newest.get("desk"))
        fresh = (
            flash is not None
            and flash[0] == number
            and flash[1] == desk
            and time.monotonic() - flash[2] < FLASH_S
        )
        attr = self.attr["flash"] if fresh else self.attr["big"]
        recall = f"  ({tr('recall', lang)})" if newest.get("recall") else ""
        line = f"{number} {g.arrow} {tr('desk', lang)} {desk}{recall}"
        prev = calls[1:]
        if not big:
            x = self.put(y, 2, f" {line} ", attr)
            x += 3
            if prev:
                x = self.put(y, x, tr("previous", lang) + ": ", self.attr["dim"])
                for c in prev:
                    x = self.put(y, x, f"{c.get('number')}{g.arrow}{c.get('desk')}  ")
            return y + 1
        # Big: the number in block letters, with the same in plain text above it.
        prev_w = 24
        room = w - prev_w - 4
        rows = None
        for pixel in (self.g.pixel * 2, self.g.pixel):
            rows = big_text(f"{number} > {desk}", pixel)
            if rows and len(rows[0]) <= room:
                break
            rows = None
        self.put(y, 2, line, self.attr["head"])
        if rows:
            for i, row in enumerate(rows):
                self.put(y + 1 + i, 2, row, attr)
        else:
            self.put(y + 2, 2, f"  {line}  ", attr)
        px = min(w - prev_w, 2 + (len(rows[0]) if rows else len(line) + 4) + 8)
        self.put(y, px, tr("previous", lang), self.attr["dim"])
        for i, c in enumerate(prev[:5]):
            mark = f" ({tr('recall', lang)})" if c.get("recall") else ""
            self.put(
                y + 1 + i,
                px,
                f"{c.get('number'):>5} {g.arrow} {c.get('desk')}{mark}",
                width=prev_w - 1,
            )
        return y + 6

    def _band(
        self,
        y: int,
        lang: str,
        services: list[dict[str, Any]],
        queues: list[dict[str, Any]],
        priority: bool,
        rows: int,
        w: int,
    ) -> int:
        g = self.g
        longest = max(
            [len(tr("services", lang)) + 2]
            + [len(self._service_text(svc, lang)[0]) + 5 for svc in services[:9]]
        )
        left_w = min(max(longest + 2, 36), w // 2)
        # services: the kiosk's buttons
        x = self.put(y, 1, tr("services", lang), self.attr["head"])
        if priority:
            self.put(y, x + 2, f" {tr('priority_on', lang)} ", self.attr["prio"])
        for i, svc in enumerate(services[:9]):
            text, attr = self._service_text(svc, lang)
            xx = self.put(y + 1 + i, 2, f"{SERVICE_KEYS[i]}", self.attr["head"])
            self.put(y + 1 + i, xx + 2, text, attr, width=left_w - xx - 3)
        # queues: from the lobby snapshot
        qx = left_w + 1
        for i in range(rows):
            self.put(y + i, left_w - 1, g.vline, self.attr["dim"])
        qw = w - qx - 1
        num_w = max(len(tr("waiting", lang)), 4)
        eta_w = max(len(tr("wait", lang)), 8)
        longest = max([len(pick(q.get("name"), lang)) for q in queues] + [len(tr("queues", lang))])
        name_w = max(min(qw - num_w - eta_w - 3, longest + 2), 8)
        self.put(y, qx, tr("queues", lang).ljust(name_w), self.attr["head"])
        self.put(y, qx + name_w + 1, tr("waiting", lang).rjust(num_w), self.attr["dim"])
        self.put(y, qx + name_w + num_w + 3, tr("wait", lang).rjust(eta_w), self.attr["dim"])
        for i, q in enumerate(queues[: rows - 1]):
            name = pick(q.get("name"), lang, str(q.get("id")))
            waiting = int(q.get("waiting") or 0)
            attr = self.attr["head"] if waiting else 0
            self.put(y + 1 + i, qx, name, width=name_w)
            self.put(y + 1 + i, qx + name_w + 1, str(waiting).rjust(num_w), attr)
            self.put(y + 1 + i, qx + name_w + num_w + 3, f"~{q.get('eta_min', 0)} min".rjust(eta_w))
        return y + rows

    def _service_text(self, svc: dict[str, Any], lang: str) -> tuple[str, int]:
        name = pick(svc.get("name"), lang, str(svc.get("id")))
        if not svc.get("walk_in", True):
            return f"{name} ({tr('appt_only', lang)})", self.attr["dim"]
        if not svc.get("open", True):
            return f"{name} ({tr('closed_svc', lang)})", self.attr["closed"]
        return name, 0

    def _desks(self, y: int, lang: str, desks: list[tuple[Any, ...]], w: int) -> int:
        g = self.g
        heads = [
            tr("desk", lang),
            tr("status", lang),
            tr("number", lang),
            tr("waiting", lang),
            f"{tr('keys', lang)}: {tr('k_next', lang)} / {tr('k_recall', lang)} / "
            f"{tr('k_finish', lang)}",
        ]
        li = LANGS.index(lang)
        widths = [
            max(len(heads[0]), *(len(str(d[1])) for d in desks)) if desks else len(heads[0]),
            max(len(heads[1]), *(len(n[li]) for n in STATUS_NAMES.values())),
            max(len(heads[2]), 4),
            len(heads[3]),
        ]
        cols = [2]
        for width in widths:
            cols.append(cols[-1] + width + 3)
        for x, text in zip(cols, heads, strict=True):
            self.put(y, x, text, self.attr["dim"])
        keys_w = len(f"{NEXT_KEYS[0]} / {RECALL_KEYS[0]} / {FINISH_KEYS[0]}")
        unit_x = cols[4] + max(keys_w, 0) + 3
        for i, (_id, label, status, ticket, waiting, selected, unit) in enumerate(desks):
            row = y + 1 + i
            attr = self.attr.get(status or "", 0)
            if selected:
                self.put(row, 0, g.sel, self.attr["head"])
            self.put(row, cols[0], str(label), self.attr["head"], width=widths[0])
            name = STATUS_NAMES.get(status or "", (status or "…",) * 3)[li]
            self.put(row, cols[1], name, attr)
            self.put(row, cols[2], ticket or g.dash, attr)
            self.put(row, cols[3], str(waiting).rjust(widths[3]))
            if i < len(NEXT_KEYS):
                self.put(row, cols[4], f"{NEXT_KEYS[i]} / {RECALL_KEYS[i]} / {FINISH_KEYS[i]}")
            if unit and unit_x + 8 < w:  # the desk unit's number display and LED
                self.put(row, unit_x, unit, self.attr["dim"], width=w - unit_x - 1)
        return y + 1 + len(desks)

    def _log(self, y: int, lang: str, entries: list[LogEntry], rows: int) -> None:
        """The newest entries at the bottom; long ones wrap under their text."""
        g = self.g
        _, w = self.win.getmaxyx()
        marks = {"ok": g.good, "err": g.bad, "warn": "!", "info": g.info}
        indent = 12
        room = max(w - indent - 1, 10)
        lines: list[tuple[str, str, int]] = []  # (prefix, text, attr)
        for e in entries[-max(rows, 0) :]:
            try:
                text = e.render(lang)
            except Exception as exc:  # a bad entry must not break the screen
                text = f"({exc})"
            stamp = time.strftime("%H:%M:%S", time.localtime(e.at))
            attr = 0 if e.kind == "ok" else self.attr.get(e.kind, 0)
            chunks = _wrap(text, room)
            lines.append((f"{stamp} {marks.get(e.kind, ' ')}", chunks[0], attr))
            lines.extend(("", chunk, attr) for chunk in chunks[1:3])
        for i, (prefix, text, attr) in enumerate(lines[-rows:] if rows > 0 else []):
            if prefix:
                self.put(y + i, 1, prefix[:8], self.attr["dim"])
                self.put(y + i, 10, prefix[9:], attr or self.attr["ok"])
            self.put(y + i, indent, text, attr)

    def _help(self, y: int, lang: str, rows: int) -> None:
        self.hline(y, tr("help", lang))
        for i, line in enumerate(HELP[lang][: max(rows - 1, 0)]):
            self.put(y + 1 + i, 2, line)

    def _key_help(self, lang: str, w: int, n_services: int, n_desks: int) -> list[str]:
        """The key line(s); the per-desk keys are left out when space is short (the desk
        table shows them)."""
        n = min(n_desks, len(NEXT_KEYS))
        last = SERVICE_KEYS[max(min(n_services, 9) - 1, 0)]
        desk_keys = [
            (" ".join(NEXT_KEYS[:n]), "k_next"),
            (" ".join(RECALL_KEYS[:n]), "k_recall"),
            (" ".join(FINISH_KEYS[:n]), "k_finish"),
        ]
        rest = [
            ("Tab", "k_select"),
            ("g", "k_start"),
            ("n", "k_noshow"),
            ("t", "k_transfer"),
            ("o", "k_open"),
            ("l", "k_lang"),
            ("?", "k_help"),
            ("Q", "k_quit"),
        ]
        head = [(f"1-{last}", "k_ticket"), ("p", "k_prio"), ("i", "k_checkin")]
        for items in (head + desk_keys + rest, head + rest):
            lines: list[str] = []
            cur = ""
            for keys, label in items:
                part = f"{keys} {tr(label, lang)}"
                if cur and len(cur) + 3 + len(part) > w - 2:
                    lines.append(cur)
                    cur = part
                else:
                    cur = f"{cur}   {part}" if cur else part
            if cur:
                lines.append(cur)
            if len(lines) <= 2:
                break
        return [" " + line for line in lines]


# ---------------------------------------------------------------------------- the loop


def _wrap(text: str, width: int) -> list[str]:
    """Split at spaces into lines of at most `width` (long words are cut)."""
    out: list[str] = []
    cur = ""
    for word in text.split(" "):
        while len(word) > width:
            if cur:
                out.append(cur)
                cur = ""
            out.append(word[:width])
            word = word[width:]
        if cur and len(cur) + 1 + len(word) > width:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    out.append(cur)
    return out


class _LogToLobby(logging.Handler):
    """While the screen runs, warnings go to its log instead of garbling the terminal."""

    def __init__(self, lobby: Lobby) -> None:
        super().__init__(logging.WARNING)
        self.lobby = lobby
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record).splitlines()[0]
        except Exception:
            msg = record.getMessage()
        self.lobby.add_log("warn", lambda _lang: msg)


def _loop(win: curses.window, lobby: Lobby) -> None:
    with contextlib.suppress(curses.error):
        curses.curs_set(0)
    win.keypad(True)
    win.timeout(100)
    screen = Screen(win, lobby)
    drawn = -1
    last_draw = 0.0
    size = win.getmaxyx()
    while not lobby.stop.is_set():
        now = time.monotonic()
        if lobby.version != drawn or now - last_draw > 0.5:
            drawn = lobby.version
            last_draw = now
            screen.draw()
            curses.doupdate()
        try:
            ch = win.get_wch()
        except curses.error:  # no key within the timeout
            continue
        except KeyboardInterrupt:
            lobby.stop.set()
            break
        if ch == curses.KEY_RESIZE or win.getmaxyx() != size:
            size = win.getmaxyx()
            win.clear()  # repaint every cell after a resize
            drawn = -1
            if ch == curses.KEY_RESIZE:
                continue
        if isinstance(ch, int):
            name = curses.keyname(ch).decode(errors="replace")
            if name in ("KEY_BTAB",):
                lobby.key(name)
            continue
        lobby.key(ch)
        drawn = -1


def _terminal_problem() -> str | None:
    """Why this terminal cannot show a full-screen lobby (e.g. TERM=dumb), or None."""
    try:
        curses.setupterm()
    except curses.error as exc:
        return str(exc)
    if not curses.tigetstr("cup") or not curses.tigetstr("clear"):
        return f"TERM={os.environ.get('TERM', '')!r} cannot place the cursor"
    return None


def run_tui(demo: Demo, stop: threading.Event) -> None:
    """Show the live lobby and drive the demo devices with keys until `stop` is set
    (by Q, Ctrl-C or a signal). The caller stops the broker and the scheduler."""
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_ALL, "")
    os.environ.setdefault("ESCDELAY", "25")
    problem = _terminal_problem()
    if problem is None:
        problem = _run_screen(demo, stop)
    if problem is not None and not stop.is_set():
        print(
            f"vuoro demo: this terminal cannot show the lobby ({problem}); running without it "
            "(as with --headless). Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        print(json.dumps(demo.info()), flush=True)
        while not stop.wait(0.5):
            pass
    print("Vuoro demo: stopping the scheduler and the broker.", flush=True)


def _run_screen(demo: Demo, stop: threading.Event) -> str | None:
    """The lobby until `stop`; returns why curses failed, if it did."""
    lobby = Lobby(demo, stop)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [_LogToLobby(lobby)]  # log lines would garble the screen
    try:
        lobby.start()
        curses.wrapper(_loop, lobby)
    except KeyboardInterrupt:
        stop.set()
    except curses.error as exc:
        return str(exc) or "curses failed"
    finally:
        try:
            lobby.close()
        finally:
            root.handlers = saved
    return None
