"""What the lobby display shows, decided without Kivy (and testable without it).

`DisplayModel` takes what arrives over MQTT (the retained `state/display` snapshots,
`event/called`, the device config, the broker link and the scheduler's status) and, for
a moment in time, returns a `View`: the newest call and whether it is blinking, the
previous calls, the queue rows and the notice in the current language, the clock, and
whether to show the offline mark. The Kivy screens only copy a `View` into widgets.

Rules:
- Snapshots are ordered by `seq`: one not newer than the shown one is ignored. The one
  exception is a scheduler whose counter started again (a new database): a lower `seq`
  with a later `at` is taken.
- A call event shows at once, before the snapshot that carries it arrives (the order of
  one change's messages is not fixed); the next snapshot made at or after the call
  replaces it.
- A new call blinks for `blink_s` seconds. The first snapshot after start-up does not
  blink (it is history, not news); one after a reconnect does if its newest call changed.
- The offline mark shows while the broker link is down or the scheduler is not known to
  be online (its retained status says offline, or has not arrived since the link came
  back); the last state stays on the screen.
- Only numbers and desks are kept from calls, and only names, counts and estimates from
  queues: anything else a payload may carry is dropped here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

LANGS = ("fi", "sv", "en")

TEXTS: dict[str, dict[str, str]] = {
    "fi": {
        "number": "Numero",
        "desk": "Palvelupiste",
        "previous": "Edelliset kutsut",
        "queue": "Jono",
        "waiting": "Jonossa",
        "eta": "Arvioitu odotus",
        "offline": "Ei yhteyttä",
        "closed": "Suljettu",
        "no_calls": "Odota, kunnes numerosi kutsutaan",
        "recall": "Uusintakutsu",
        "notice": "Tiedote",
    },
    "sv": {
        "number": "Nummer",
        "desk": "Disk",
        "previous": "Tidigare nummer",
        "queue": "Kö",
        "waiting": "I kö",
        "eta": "Beräknad väntetid",
        "offline": "Ingen anslutning",
        "closed": "Stängt",
        "no_calls": "Vänta tills ditt nummer ropas upp",
        "recall": "Nytt upprop",
        "notice": "Meddelande",
    },
    "en": {
        "number": "Number",
        "desk": "Desk",
        "previous": "Previous calls",
        "queue": "Queue",
        "waiting": "Waiting",
        "eta": "Estimated wait",
        "offline": "Offline",
        "closed": "Closed",
        "no_calls": "Please wait until your number is called",
        "recall": "Called again",
        "notice": "Notice",
    },
}

BLINK_PERIOD_S = 0.5  # half a blink: highlighted, then plain, each this long


def _parse_at(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, AttributeError):
        return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Call:
    """One call as shown: a ticket number and a desk, nothing else."""

    number: str
    desk: str
    at: str
    recall: bool = False

    @classmethod
    def from_payload(cls, body: dict[str, Any]) -> Call | None:
        number, desk = body.get("number"), body.get("desk")
        if not isinstance(number, str) or not isinstance(desk, str | int):
            return None
        at = body.get("at") if isinstance(body.get("at"), str) else ""
        return cls(number=number, desk=str(desk), at=at or "", recall=body.get("recall") is True)

    @property
    def key(self) -> tuple[str, str, str, bool]:
        return (self.number, self.desk, self.at, self.recall)


@dataclass(frozen=True)
class QueueRow:
    id: str
    name: str
    waiting: int
    eta_min: int
    eta_text: str


@dataclass(frozen=True)
class View:
    """Everything on the screen at one moment."""

    lang: str
    texts: dict[str, str]
    site_name: str
    clock: str
    newest: Call | None
    flashing: bool  # the newest call is new: it blinks
    blink_on: bool  # ... and is highlighted in this half of the blink
    previous: tuple[Call, ...]
    queues: tuple[QueueRow, ...]
    notice: str | None
    open: bool
    offline: bool
    seq: int | None


def eta_text(minutes: int) -> str:
    if minutes <= 0:
        return "0 min"
    if minutes < 60:
        return f"~{minutes} min"
    h, m = divmod(minutes, 60)
    return f"~{h} h {m} min" if m else f"~{h} h"


@dataclass
class _Snapshot:
    seq: int
    at: datetime
    open: bool
    called: tuple[Call, ...]
    queues: tuple[dict[str, Any], ...]
    message: dict[str, str] | None


@dataclass
class DisplayModel:
    languages: list[str] | None = None  # an override from the display's own config file
    rotate_s: float = 8.0
    blink_s: float = 6.0
    max_previous: int = 6
    tz: tzinfo | None = None  # None: the machine's local time zone
    max_age_s: float = 120.0

    config_languages: list[str] = field(default_factory=lambda: list(LANGS))
    site_names: dict[str, str] = field(default_factory=dict)
    layout: str | None = None
    connected: bool = False
    scheduler_online: bool | None = None
    _snap: _Snapshot | None = None
    _pending: list[Call] = field(default_factory=list)
    _seen: deque[tuple[str, str, str, bool]] = field(default_factory=lambda: deque(maxlen=64))
    _blink_start: float | None = None
    _shown_newest: tuple[str, str, str, bool] | None = None

    # ------------------------------------------------------------------ inputs

    def set_config(self, body: dict[str, Any]) -> None:
        """The device config from the scheduler (`config/{device}`)."""
        langs = [x for x in body.get("languages") or [] if x in LANGS]
        if langs:
            self.config_languages = langs
        names = body.get("site_name")
        if isinstance(names, dict):
            self.site_names = {k: v for k, v in names.items() if isinstance(v, str)}
        if isinstance(body.get("layout"), str):
            self.layout = body["layout"]

    def set_connected(self, connected: bool) -> None:
        if connected and not self.connected:
            # Until the (retained) scheduler status arrives again, the scheduler is not
            # known to be there: a broker that lost its state has nothing for us yet.
            self.scheduler_online = None
        self.connected = connected

    def set_scheduler(self, body: dict[str, Any]) -> None:
        self.scheduler_online = body.get("online") is True

    def apply_snapshot(self, body: dict[str, Any], t: float) -> bool:
        """A `state/display` snapshot; False if it is not newer than the one shown."""
        seq = body.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return False
        at = _parse_at(str(body.get("at", "")))
        cur = self._snap
        if cur is not None and not (seq > cur.seq or (seq < cur.seq and at > cur.at)):
            return False
        called = tuple(
            c
            for c in (Call.from_payload(x) for x in body.get("called") or [] if isinstance(x, dict))
            if c
        )
        queues = tuple(q for q in body.get("queues") or [] if isinstance(q, dict))
        message = body.get("message") if isinstance(body.get("message"), dict) else None
        first = cur is None
        self._snap = _Snapshot(seq, at, body.get("open") is not False, called, queues, message)
        self._pending = [c for c in self._pending if _parse_at(c.at) > at]
        self._note_newest(t, blink=not first)
        return True

    def apply_call(self, body: dict[str, Any], t: float, now: datetime) -> bool:
        """An `event/called`; True if it should be announced (new, and not stale)."""
        call = Call.from_payload(body)
        if call is None or call.key in self._seen:
            return False
        self._seen.append(call.key)
        at = _parse_at(call.at)
        if (now - at).total_seconds() > self.max_age_s:
            return False  # queued while the link was down: the snapshot shows it already
        snap = self._snap
        if snap is None or at > snap.at:
            self._pending = [c for c in self._pending if c.number != call.number]
            self._pending.insert(0, call)
        self._note_newest(t, blink=True, force=True)
        return True

    def _note_newest(self, t: float, *, blink: bool, force: bool = False) -> None:
        called = self.called()
        key = called[0].key if called else None
        if key is not None and blink and (force or key != self._shown_newest):
            self._blink_start = t
        self._shown_newest = key

    # ------------------------------------------------------------------ outputs

    @property
    def seq(self) -> int | None:
        return self._snap.seq if self._snap else None

    @property
    def offline(self) -> bool:
        return not self.connected or self.scheduler_online is not True

    def active_languages(self) -> list[str]:
        return list(self.languages or self.config_languages or ["fi"])

    def lang(self, t: float) -> str:
        langs = self.active_languages()
        return langs[int(t // self.rotate_s) % len(langs)]

    def called(self) -> list[Call]:
        """The calls to show, newest first: pending events, then the snapshot's."""
        snap = list(self._snap.called) if self._snap else []
        numbers = {c.number for c in self._pending}
        return [*self._pending, *(c for c in snap if c.number not in numbers)][:8]

    def flashing(self, t: float) -> bool:
        return self._blink_start is not None and 0 <= t - self._blink_start < self.blink_s

    def blink_on(self, t: float) -> bool:
        if not self.flashing(t):
            return False
        assert self._blink_start is not None
        return int((t - self._blink_start) // BLINK_PERIOD_S) % 2 == 0

    def view(self, t: float, now: datetime) -> View:
        lang = self.lang(t)
        called = self.called()
        snap = self._snap
        queues: list[QueueRow] = []
        for q in snap.queues if snap else ():
            names = q.get("name") if isinstance(q.get("name"), dict) else {}
            name = names.get(lang) or names.get("fi") or str(q.get("id", ""))
            waiting = q.get("waiting") if isinstance(q.get("waiting"), int) else 0
            eta = q.get("eta_min") if isinstance(q.get("eta_min"), int) else 0
            queues.append(QueueRow(str(q.get("id", "")), name, waiting, eta, eta_text(eta)))
        notice = None
        if snap and snap.message:
            notice = snap.message.get(lang) or snap.message.get("fi")
        local = now.astimezone(self.tz) if self.tz else now.astimezone()
        return View(
            lang=lang,
            texts=TEXTS.get(lang, TEXTS["en"]),
            site_name=self.site_names.get(lang, ""),
            clock=local.strftime("%H:%M"),
            newest=called[0] if called else None,
            flashing=self.flashing(t),
            blink_on=self.blink_on(t),
            previous=tuple(called[1 : 1 + self.max_previous]),
            queues=tuple(queues),
            notice=notice,
            open=snap.open if snap else True,
            offline=self.offline,
            seq=snap.seq if snap else None,
        )
