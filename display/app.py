"""`vuoro display`: the lobby display (Kivy), thin over DisplayModel and the MQTT link.

The MQTT callbacks (paho's thread) only queue what arrived and wake the Kivy clock; the
main thread applies it to the `DisplayModel` and copies the model's `View` into the
screen. A 4 Hz tick keeps the clock, the language rotation and the blink going. Calls
are announced by the `Announcer` (its own thread), so sound never holds up the screen.

`run_display(settings_or_path, window_size=..., fullscreen=...)` is the entry point
(`vuoro display --config display.toml`, and the demo's display window). A `probe` file
(or "-" for stdout) receives a JSON line after every frame whose content changed: what
was drawn and when (time.monotonic()); the tests and `vuoro bench display` read it.
With a probe, or offscreen, every frame is finished (glFinish) before that line, so its
time is when the frame's pixels exist. VUORO_DISPLAY_TRACE=<file> writes a timing trace
of each stage (display/trace.py).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import LabelBase
from kivy.graphics.opengl import glFinish
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout

from display import trace, widgets
from display.announce import Announcer, Synth, languages_for, make_player
from display.config import DisplaySettings, load_settings
from display.model import TEXTS, DisplayModel, View
from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient

log = logging.getLogger("vuoro.display")

HERE = Path(__file__).resolve().parent
FONT_DIRS = (HERE / "fonts", Path("/usr/share/fonts/truetype/dejavu"))
FONTS = {
    "VuoroRegular": "DejaVuSans.ttf",
    "VuoroBold": "DejaVuSans-Bold.ttf",
    "VuoroNumber": "DejaVuSansCondensed-Bold.ttf",
}
TICK_S = 0.25

_ = widgets  # FitLabel and WrapLabel are used by display.kv
_kv_loaded = False


def register_fonts() -> None:
    """DejaVu (Roboto lacks the arrow and the warning sign); Roboto if it is missing."""
    for name, file in FONTS.items():
        for d in FONT_DIRS:
            if (d / file).exists():
                LabelBase.register(name=name, fn_regular=str(d / file))
                break
        else:
            log.warning("font %s not found (install fonts-dejavu-core); using Roboto", file)
            LabelBase.register(name=name, fn_regular="data/fonts/Roboto-Bold.ttf")


def load_kv() -> None:
    global _kv_loaded
    if not _kv_loaded:
        Builder.load_file(str(HERE / "display.kv"))
        _kv_loaded = True


# ---------------------------------------------------------------------------- screens


class _Part(BoxLayout):
    """A part of a screen; display.kv binds its texts to `screen`'s properties."""

    screen = ObjectProperty(None, rebind=True)


class TopBar(_Part):
    pass


class CallPanel(_Part):
    hl = BooleanProperty(False)


class QueueHeader(_Part):
    waiting_w = NumericProperty(100)
    eta_w = NumericProperty(100)


class NoticeBand(_Part):
    pass


class HistoryRow(BoxLayout):
    number = StringProperty("")
    desk = StringProperty("")
    font = NumericProperty(40)
    u = NumericProperty(10)


class QueueRowWidget(BoxLayout):
    name = StringProperty("")
    waiting = StringProperty("")
    eta = StringProperty("")
    font = NumericProperty(30)
    max_lines = NumericProperty(1)
    waiting_w = NumericProperty(100)
    eta_w = NumericProperty(100)
    u = NumericProperty(10)


class LobbyScreen(BoxLayout):
    """What both layouts share: the properties display.kv binds to."""

    portrait = BooleanProperty(False)
    history_rows = 5
    number_ratio = 0.245  # the newest number's font size, as a share of the window height

    u = NumericProperty(10)
    number_font = NumericProperty(100)
    texts = DictProperty(TEXTS["fi"])
    t_number = StringProperty(TEXTS["fi"]["number"])
    t_desk = StringProperty(TEXTS["fi"]["desk"])
    t_previous = StringProperty(TEXTS["fi"]["previous"])
    t_queue = StringProperty(TEXTS["fi"]["queue"])
    t_waiting = StringProperty(TEXTS["fi"]["waiting"])
    t_eta = StringProperty(TEXTS["fi"]["eta"])
    t_offline = StringProperty(TEXTS["fi"]["offline"])
    lang = StringProperty("fi")
    site_line = StringProperty("")
    clock = StringProperty("")
    number = StringProperty("")
    desk = StringProperty("")
    subtitle = StringProperty("")
    blink_on = BooleanProperty(False)
    notice = StringProperty("")
    offline = BooleanProperty(False)
    seq = NumericProperty(-1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(size=self._resize)
        self._queue_count = -1
        self._resize()
        self._history = [HistoryRow() for _ in range(self.history_rows)]
        for row in self._history:
            self.ids.history.add_widget(row)
        self._resize()

    def _resize(self, *_: Any) -> None:
        self.u = min(self.width, self.height) / 100.0
        self.number_font = self.height * self.number_ratio
        for row in getattr(self, "_history", []):
            row.u = self.u
            row.font = self.u * (5.6 if not self.portrait else 5.2)
        self._size_queue_rows()

    def _size_queue_rows(self) -> None:
        box = self.ids.get("queues")
        if box is None:
            return
        n = max(1, len(box.children))
        row_h = max(1.0, box.height / n) if box.height > 1 else self.u * 8
        font = min(self.u * (3.8 if not self.portrait else 3.6), row_h * 0.5)
        lines = 2 if row_h >= font * 1.8 else 1
        for row in box.children:
            row.u = self.u
            row.font = font
            row.max_lines = lines
            row.waiting_w = self.u * (22 if not self.portrait else 16)
            row.eta_w = self.u * (30 if not self.portrait else 22)

    def apply(self, view: View) -> None:
        self.lang = view.lang
        if self.texts != view.texts:
            self.texts = view.texts
            for key in ("number", "desk", "previous", "queue", "waiting", "eta", "offline"):
                setattr(self, f"t_{key}", view.texts[key])
        line = view.site_name
        if not view.open:
            line = f"{line}  ·  {view.texts['closed']}" if line else view.texts["closed"]
        self.site_line = line
        self.clock = view.clock
        self.number = view.newest.number if view.newest else ""
        self.desk = view.newest.desk if view.newest else ""
        if view.newest is None:
            self.subtitle = view.texts["no_calls"]
        elif view.newest.recall:
            self.subtitle = view.texts["recall"]
        else:
            self.subtitle = ""
        self.blink_on = view.blink_on
        self.notice = view.notice or ""
        self.offline = view.offline
        self.seq = view.seq if view.seq is not None else -1
        for i, row in enumerate(self._history):
            c = view.previous[i] if i < len(view.previous) else None
            row.number = c.number if c else ""
            row.desk = c.desk if c else ""
        box = self.ids.queues
        if len(view.queues) != len(box.children):
            box.clear_widgets()
            for _ in view.queues:
                box.add_widget(QueueRowWidget())
            box.unbind(height=self._on_queue_box)
            box.bind(height=self._on_queue_box)
            self._size_queue_rows()
        rows = list(reversed(box.children))
        for row, q in zip(rows, view.queues, strict=True):
            row.name = q.name
            row.waiting = str(q.waiting)
            row.eta = q.eta_text

    def _on_queue_box(self, *_: Any) -> None:
        self._size_queue_rows()


class LandscapeScreen(LobbyScreen):
    history_rows = 5
    number_ratio = 0.245


class PortraitScreen(LobbyScreen):
    portrait = BooleanProperty(True)
    history_rows = 4
    number_ratio = 0.235


# ---------------------------------------------------------------------------- the app


def _now() -> datetime:
    return datetime.now(UTC)


class DisplayApp(App):
    title = "Vuoro"

    def __init__(
        self,
        settings: DisplaySettings,
        *,
        probe: str | Path | None = None,
        connect: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        ds = settings.display
        self.model = DisplayModel(
            languages=list(ds.languages) if ds.languages else None,
            rotate_s=ds.rotate_s,
            blink_s=ds.blink_s,
            max_age_s=ds.max_age_s,
        )
        self.t0 = time.monotonic()
        self._inbox: deque[tuple[str, dict[str, Any], float]] = deque()
        self._recv_at: float | None = None  # when the message behind the shown number came
        self._lock = threading.Lock()
        self._probe_path = probe
        self._probe: IO[str] | None = None
        self._last_probe: tuple[Any, ...] | None = None
        self._dirty = True
        # Offscreen (tests, the bench, a demo without a screen) the window is a pbuffer
        # whose swap is a no-op: Mesa's software renderer then draws only when something
        # forces it, several frames at once (0.2-1 s) at a random later moment. Finishing
        # every frame keeps that cost in its own frame, and makes the probe's time the
        # time the pixels exist. A probe on a real screen means the same.
        self._finish_frames = probe is not None or os.environ.get("SDL_VIDEODRIVER") == "offscreen"
        self.screen: LobbyScreen | None = None
        self.client: DeviceClient | None = None
        self.announcer: Announcer | None = None
        self._connect = connect
        self.clock_fn = _now

    # ------------------------------------------------------------------ building

    def load_kv(self, filename: str | None = None) -> bool:
        """Kivy would load display/display.kv by the app's name; load it once, here."""
        load_kv()
        return True

    def build(self) -> LobbyScreen:
        from kivy.core.window import Window

        register_fonts()
        load_kv()
        Window.clearcolor = (0.035, 0.075, 0.125, 1)
        if self._probe_path == "-":
            self._probe = sys.stdout
        elif self._probe_path:
            self._probe = Path(self._probe_path).open("a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self.screen = self._make_screen(Window.size)
        Window.bind(on_resize=self._on_resize, on_flip=self._on_flip)
        trace.install(Window, Clock)
        ds = self.settings.display
        if ds.announce:
            synth = Synth(
                voices=ds.voices, speed=ds.speed, volume=ds.volume, cache_dir=ds.cache_dir
            )
            self.announcer = Announcer(synth, make_player(ds.player, ds.audio_device))
            self.announcer.start()
        if self._connect:
            self._start_mqtt()
        Clock.schedule_interval(self._tick, TICK_S)
        self.refresh()
        return self.screen

    def _orientation(self, size: tuple[int, int]) -> str:
        want = self.settings.display.layout
        if want in ("landscape", "portrait"):
            return want
        return "landscape" if size[0] >= size[1] else "portrait"

    def _make_screen(self, size: tuple[int, int]) -> LobbyScreen:
        cls = PortraitScreen if self._orientation(size) == "portrait" else LandscapeScreen
        return cls()

    def _on_resize(self, _win: Any, w: int, h: int) -> None:
        if self.screen is None:
            return
        want = PortraitScreen if self._orientation((w, h)) == "portrait" else LandscapeScreen
        if type(self.screen) is not want:
            from kivy.core.window import Window

            Window.remove_widget(self.screen)
            self.screen = want()
            self.root = self.screen
            Window.add_widget(self.screen)
            self.refresh()

    # ------------------------------------------------------------------ MQTT

    def _start_mqtt(self) -> None:
        s = self.settings
        site, dev = s.device.site, s.device.id
        from vuoro import __version__

        self.client = c = DeviceClient(
            s.mqtt, device_id=dev, site=site, role="display", version=__version__
        )
        c.subscribe(p.Topics.display_state(site), lambda _t, b, _m: self._put("state", b))
        c.subscribe(p.Topics.event_called(site), lambda _t, b, _m: self._put("called", b))
        c.subscribe(p.Topics.config(site, dev), lambda _t, b, _m: self._put("config", b))
        c.subscribe(p.Topics.SCHEDULER_STATUS, lambda _t, b, _m: self._put("scheduler", b))
        c.conn.on_connect(lambda: self._put("link", {"up": True}))
        c.conn.on_disconnect(lambda: self._put("link", {"up": False}))
        c.start()

    def _put(self, kind: str, body: dict[str, Any]) -> None:
        """From paho's thread: queue, and wake the main loop."""
        with self._lock:
            self._inbox.append((kind, body, time.monotonic()))
        trace.mark("recv", kind=kind)
        Clock.schedule_once(self._drain, 0)

    def feed(self, kind: str, body: dict[str, Any]) -> None:
        """Apply a message as if it had arrived (screenshots, tests)."""
        self._put(kind, body)

    def _drain(self, _dt: float = 0.0) -> None:
        with self._lock:
            items = list(self._inbox)
            self._inbox.clear()
        if not items:
            return
        trace.mark("drain", n=len(items))
        t = time.monotonic() - self.t0
        m = self.model
        before = m.called()[:1]
        for kind, body, _recv in items:
            if kind == "state":
                m.apply_snapshot(body, t)
            elif kind == "called":
                if m.apply_call(body, t, self.clock_fn()):
                    self._announce(body)
            elif kind == "config":
                m.set_config(body)
            elif kind == "scheduler":
                m.set_scheduler(body)
            elif kind == "link":
                m.set_connected(bool(body.get("up")))
        if m.called()[:1] != before:
            self._recv_at = min(r for k, _b, r in items if k in ("state", "called"))
        trace.mark("model")
        self.refresh()
        trace.mark("apply")

    def _announce(self, body: dict[str, Any]) -> None:
        if self.announcer is None:
            return
        langs = languages_for(body.get("lang"), self.model.active_languages())
        self.announcer.announce(
            str(body["number"]), str(body["desk"]), langs, body.get("recall") is True
        )

    # ------------------------------------------------------------------ drawing

    def _tick(self, _dt: float) -> None:
        trace.mark("tick")
        self.refresh()

    def refresh(self) -> None:
        if self.screen is None:
            return
        view = self.model.view(time.monotonic() - self.t0, self.clock_fn())
        self.screen.apply(view)

    def _on_flip(self, *_: Any) -> None:
        if self._finish_frames:
            t = time.monotonic()
            glFinish()
            if trace.enabled:
                trace.mark("finish", ms=round((time.monotonic() - t) * 1000, 2))
        if self._probe is None or self.screen is None:
            return
        s = self.screen
        state = (s.number, s.desk, s.offline, s.seq, s.lang, s.notice, s.blink_on)
        if state == self._last_probe:
            return
        self._last_probe = state
        line = {
            "t": time.monotonic(),
            "number": s.number,
            "desk": s.desk,
            "offline": s.offline,
            "seq": s.seq,
            "lang": s.lang,
            "notice": s.notice,
            "blink": s.blink_on,
            "recv": self._recv_at,
        }
        try:
            self._probe.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._probe.flush()
        except (OSError, ValueError):
            self._probe = None

    def on_start(self) -> None:
        # Start-up leaves ~70k objects (Kivy, the widgets, the libraries) for the cyclic
        # collector: a full collection of them took 70-230 ms on a 2-core VM, a pause on
        # the screen whenever it came. Frozen, they are never scanned again.
        gc.collect()
        gc.freeze()

    def on_stop(self) -> None:
        if self.client is not None:
            self.client.stop()
        if self.announcer is not None:
            self.announcer.stop(timeout=1.0)
        if self._probe not in (None, sys.stdout):
            self._probe.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- entry


def prepare_kivy(window_size: tuple[int, int] | None, fullscreen: bool) -> None:
    """Kivy reads its settings when first imported and the window is made on first use
    of kivy.core.window: call this before either (run_display does)."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    from kivy.config import Config

    if window_size:
        Config.set("graphics", "width", str(window_size[0]))
        Config.set("graphics", "height", str(window_size[1]))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "1")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")


def run_display(
    config_or_settings: DisplaySettings | str | Path,
    *,
    window_size: tuple[int, int] | None = None,
    fullscreen: bool = False,
    probe: str | Path | None = None,
) -> int:
    settings = (
        config_or_settings
        if isinstance(config_or_settings, DisplaySettings)
        else load_settings(config_or_settings)
    )
    prepare_kivy(window_size, fullscreen or settings.display.fullscreen)
    app = DisplayApp(settings, probe=probe)
    # systemd: ready once Kivy's loop runs; watchdog pings from it while the link is up.
    from firmware_common.watchdog import Watchdog

    wd = Watchdog(link=lambda: app.client is not None and app.client.connected.is_set())
    Clock.schedule_once(lambda _dt: wd.ready(), 0)
    Clock.schedule_interval(lambda _dt: wd.beat(), 1.0)
    try:
        app.run()
    except KeyboardInterrupt:
        app.stop()
    return 0
