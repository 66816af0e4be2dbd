"""The kiosk's screens (Kivy), drawn from kiosk/controller.py; layout in kiosk/kiosk.kv.

`run_kiosk(settings)` is `vuoro kiosk`: the MQTT link (firmware_common.mqtt.DeviceClient
with the durable outbox), the card reader and the printer named by the configuration
(kiosk/reader.py, kiosk/printer.py), the controller, and the window. Every screen is a
small widget class here with its layout in the .kv file; what they show comes from the
controller, which gets it from the protocol (the retained config and lobby state).

Sizes: everything is measured in `app.u`, a hundredth of the window's shorter side, and
every text is a `FitLabel`, which shrinks its font until the text fits its box: text
fits in all three languages at 1280x800 and 1920x1080, landscape and portrait.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

from kivy.app import App
from kivy.clock import Clock
from kivy.config import Config
from kivy.core.text import Label as CoreLabel
from kivy.core.text import LabelBase
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen, ScreenManager
from kivy.uix.widget import Widget

from kiosk import texts as tx
from kiosk.controller import KioskController
from kiosk.hardware import CardReader, TicketPrinter

log = logging.getLogger("vuoro.kiosk.app")

KV = Path(__file__).with_name("kiosk.kv")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
KEYS_ROWS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM+")
CODE_UNUSED = set("01OI+-")
F1, F2, F3 = 282, 283, 284
ENTER_KEYS = (13, 271)


def _register_fonts() -> tuple[str, str]:
    """DejaVu Sans as the default font (Roboto lacks arrows and check marks)."""
    regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
    mono = DEJAVU / "DejaVuSansMono-Bold.ttf"
    if regular.exists() and bold.exists():
        LabelBase.register("Roboto", str(regular), fn_bold=str(bold))
        LabelBase.register("DejaVuSans", str(regular), fn_bold=str(bold))
        return "DejaVuSans", str(mono) if mono.exists() else "DejaVuSans"
    log.warning("DejaVu fonts missing (%s): arrows may not show", DEJAVU)
    return "Roboto", "RobotoMono-Regular"


# ---------------------------------------------------------------------------- widgets


class FitLabel(Label):
    """A label whose font shrinks (from `max_font`) until its text fits its box, words
    unbroken: no text runs out of its button or off the screen in any language."""

    max_font = NumericProperty(30)
    min_font = NumericProperty(9)

    def __init__(self, **kwargs: Any) -> None:
        self._fit_trigger = Clock.create_trigger(self._fit, -1)
        super().__init__(**kwargs)
        self.bind(
            size=self._fit_trigger,
            text=self._fit_trigger,
            max_font=self._fit_trigger,
            bold=self._fit_trigger,
            font_name=self._fit_trigger,
        )
        self._fit_trigger()

    def _longest_word(self, size: float) -> float:
        words = self.text.split()
        if not words:
            return 0.0
        core = CoreLabel(font_size=size, font_name=self.font_name, bold=self.bold)
        return max(core.get_extents(w)[0] for w in words)

    def _fit(self, *_: Any) -> None:
        if self.width < 4 or self.height < 4:
            return
        pad = max(2.0, self.width * 0.02)
        avail_w = self.width - 2 * pad
        size = max(self.max_font, self.min_font)
        while True:
            self.font_size = size
            self.text_size = (avail_w, None)
            self.texture_update()
            tw, th = self.texture_size
            fits = th <= self.height and tw <= self.width
            if fits and self._longest_word(size) <= avail_w:
                break
            if size <= self.min_font:
                break
            size = max(self.min_font, size * 0.92)


class FitButton(ButtonBehavior, FitLabel):
    bg = ListProperty([1, 1, 1, 1])


class KioskScreen(Screen):
    def refresh(self, ctrl: KioskController) -> None:
        pass


class NavBar(BoxLayout):
    pass


class LangBar(BoxLayout):
    pass


class BigChoice(ButtonBehavior, BoxLayout):
    title = StringProperty("")
    sub = StringProperty("")
    icon = StringProperty("")


class CardPicture(Widget):
    ok = BooleanProperty(True)
    cw = NumericProperty(0)
    ch = NumericProperty(0)

    def on_size(self, *_: Any) -> None:
        self.cw = min(self.width * 0.8, self.height * 0.9 * 1.58)
        self.ch = self.cw / 1.58


class ServiceButton(ButtonBehavior, BoxLayout):
    service_id = StringProperty("")
    name = StringProperty("")
    info = StringProperty("")
    is_open = BooleanProperty(True)


class IdleScreen(KioskScreen):
    def on_touch_down(self, touch: Any) -> bool:
        if super().on_touch_down(touch):
            return True
        if self.collide_point(*touch.pos):
            App.get_running_app().ctrl.start_session(None)
            return True
        return False


class HomeScreen(KioskScreen):
    pass


class ServicesScreen(KioskScreen):
    _shown: tuple[Any, ...] = ()

    def refresh(self, ctrl: KioskController) -> None:
        app = App.get_running_app()
        items = ctrl.services()
        key = (ctrl.lang, app.landscape, app.u, tuple(tuple(vars(i).values()) for i in items))
        if key == self._shown:
            return
        self._shown = key
        groups = self.ids.groups
        groups.clear_widgets()
        self.ids.empty.text = "" if items else tx.t("no_services", ctrl.lang)
        u = app.u
        cols = 2 if app.landscape else 1
        row_h = u * (13 if app.landscape else 12)
        by_provider: dict[str, list[Any]] = {}
        for it in items:
            by_provider.setdefault(it.provider, []).append(it)
        for provider_items in by_provider.values():
            rows = -(-len(provider_items) // cols)
            grid_h = rows * row_h + (rows - 1) * u
            head = FitLabel(
                text=provider_items[0].provider_name,
                bold=True,
                max_font=u * 4,
                color=(1, 0.831, 0, 1),
            )
            grid = GridLayout(cols=cols, spacing=u, size_hint_y=None, height=grid_h)
            for it in provider_items:
                grid.add_widget(self._button(ctrl, it, row_h))
            for _ in range(rows * cols - len(provider_items)):
                grid.add_widget(Widget(size_hint_y=None, height=row_h))
            if app.landscape:
                group = BoxLayout(size_hint_y=None, height=grid_h, spacing=u * 2)
                head.size_hint_x = 0.26
                head.halign = "right"
                group.add_widget(head)
                group.add_widget(grid)
            else:
                group = BoxLayout(orientation="vertical", size_hint_y=None, height=grid_h + u * 6)
                head.size_hint_y = None
                head.height = u * 6
                head.halign = "left"
                group.add_widget(head)
                group.add_widget(grid)
            groups.add_widget(group)

    def _button(self, ctrl: KioskController, it: Any, row_h: float) -> ServiceButton:
        lang = ctrl.lang
        if not it.open:
            info = tx.t("closed_opens", lang, when=it.opens) if it.opens else tx.t("closed", lang)
        elif it.waiting is None:
            info = ""
        elif it.waiting == 0:
            info = tx.t("no_wait", lang)
        else:
            info = tx.t("waiting_eta", lang, waiting=it.waiting, eta=max(1, it.eta_min or 0))
        b = ServiceButton(
            service_id=it.id, name=it.name, info=info, is_open=it.open, size_hint_y=None
        )
        b.height = row_h
        b.bind(on_release=lambda btn: ctrl.take_number(btn.service_id) if btn.is_open else None)
        return b


class IdentifyScreen(KioskScreen):
    mode = StringProperty("code")
    entry_text = StringProperty("")
    entry_filled = BooleanProperty(False)
    feedback = StringProperty("")
    feedback_state = StringProperty("empty")
    can_send = BooleanProperty(False)
    _keys_for: tuple[Any, ...] = ()

    def refresh(self, ctrl: KioskController) -> None:
        self.mode = ctrl.input_mode
        shown = ctrl.shown_input
        self.entry_filled = bool(shown)
        placeholder = "ABC-123" if ctrl.input_mode == "code" else "ppkkvv-nnnX"
        if ctrl.lang == "sv" and ctrl.input_mode == "hetu":
            placeholder = "ddmmåå-nnnX"
        elif ctrl.lang == "en" and ctrl.input_mode == "hetu":
            placeholder = "ddmmyy-nnnX"
        self.entry_text = shown or placeholder
        v = ctrl.validation
        self.feedback_state = v.state
        self.feedback = tx.t(v.key, ctrl.lang) if v.key else ""
        self.can_send = v.valid
        self._build_keys(ctrl)

    def _build_keys(self, ctrl: KioskController) -> None:
        app = App.get_running_app()
        key = (ctrl.input_mode, ctrl.lang, app.u)
        if key == self._keys_for:
            return
        self._keys_for = key
        grid = self.ids.keypad
        grid.clear_widgets()
        u = app.u
        for row in KEYS_ROWS:
            for ch in row:
                unused = ctrl.input_mode == "code" and ch in CODE_UNUSED
                b = FitButton(text=ch, max_font=u * 4.6, disabled=unused, font_name=app.mono_font)
                b.bind(on_release=lambda btn, c=ch: app.ctrl.key(c))
                grid.add_widget(b)
        back = FitButton(text="⌫", max_font=u * 4.6, bg=(0.85, 0.90, 0.97, 1))
        back.bind(on_release=lambda *_: app.ctrl.backspace())
        clear = FitButton(text=tx.t("clear", ctrl.lang), max_font=u * 3, bg=(0.85, 0.90, 0.97, 1))
        clear.bind(on_release=lambda *_: app.ctrl.clear())
        grid.add_widget(back)
        grid.add_widget(clear)


class BusyScreen(KioskScreen):
    pass


class ResultScreen(KioskScreen):
    heading = StringProperty("")
    number = StringProperty("")
    wait = StringProperty("")
    follow = StringProperty("")
    service = StringProperty("")
    appointment = StringProperty("")
    printed = BooleanProperty(True)
    printed_text = StringProperty("")
    qr_caption = StringProperty("")
    qr_texture = ObjectProperty(None, allownone=True)
    instructions = StringProperty("")
    png_text = StringProperty("")
    offline = BooleanProperty(False)
    _qr_for: str | None = None

    def refresh(self, ctrl: KioskController) -> None:
        r = ctrl.result
        if r is None:
            return
        lang = ctrl.lang
        v = r.view
        self.heading = tx.t("checked_in" if r.kind == "checkin" else "your_number", lang)
        self.number = v.number
        self.offline = r.offline
        self.follow = tx.t("follow_screen", lang)
        if r.offline or r.position is None:
            self.wait = tx.t("offline_note", lang)
        elif v.appointment:
            self.wait = tx.t("at_your_time", lang)
        else:
            if r.position <= 0:
                self.wait = tx.t("ahead_none", lang)
            else:
                eta = max(1, r.eta_min or 0)
                self.wait = tx.t("ahead_eta", lang, position=r.position, eta=eta)
        self.service = v.service_name
        self.appointment = v.appointment or ""
        self.printed = r.printed
        self.printed_text = tx.t("printed" if r.printed else "not_printed", lang)
        url = None if r.printed else v.status_url
        self.qr_caption = tx.t("scan_qr", lang) if url else ""
        if url != self._qr_for:
            self._qr_for = url
            self.qr_texture = qr_texture(url) if url else None
        self.instructions = v.instructions or ""
        self.png_text = tx.t("printed_file", lang, path=r.png_path) if r.png_path else ""


class ErrorScreen(KioskScreen):
    title = StringProperty("")
    message = StringProperty("")
    offer = BooleanProperty(False)

    def refresh(self, ctrl: KioskController) -> None:
        err = ctrl.error
        if err is None:
            return
        self.title = tx.error_title(err.code, ctrl.lang)
        self.message = tx.error_text(err.code, ctrl.lang, err.message)
        self.offer = err.offer_number


class KioskRoot(ScreenManager):
    def on_touch_down(self, touch: Any) -> bool:
        app = App.get_running_app()
        if app is not None and getattr(app, "ctrl", None) is not None:
            app.ctrl.touch()
        return super().on_touch_down(touch)


def qr_texture(text: str) -> Texture:
    """A QR code of `text` as a Kivy texture (black on white, crisp when scaled)."""
    import qrcode

    qr = qrcode.QRCode(border=2, box_size=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white").convert("RGB")
    img = img.resize((img.width * 8, img.height * 8), 0)
    tex = Texture.create(size=img.size, colorfmt="rgb")
    tex.blit_buffer(img.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
    tex.flip_vertical()
    tex.mag_filter = "nearest"
    return tex


# ---------------------------------------------------------------------------- the app


class KioskApp(App):
    u = NumericProperty(8.0)
    landscape = BooleanProperty(True)
    lang = StringProperty("fi")
    site_name = StringProperty("")
    reader_ok = BooleanProperty(True)
    demo_text = StringProperty("")
    mono_font = StringProperty("RobotoMono-Regular")

    def __init__(
        self,
        ctrl: KioskController,
        *,
        demo_keys: bool = False,
        fake_reader: Any = None,
        on_started: Callable[[KioskApp], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ctrl = ctrl
        self.demo_keys = demo_keys
        self.fake_reader = fake_reader
        self.on_started = on_started
        self.title = "Vuoro"
        self._sync_trigger = Clock.create_trigger(self.sync, -1)
        ctrl.listeners.append(self._sync_trigger)

    def build(self) -> KioskRoot:
        from kivy.core.window import Window

        _, mono = _register_fonts()
        self.mono_font = mono
        Window.clearcolor = (0.043, 0.122, 0.227, 1)
        Window.bind(size=self._on_window_size)
        Window.bind(on_keyboard=self._on_keyboard, on_textinput=self._on_textinput)
        self._on_window_size(Window, Window.size)
        if self.demo_keys:
            self.demo_text = "F1: ID card (Finnish) · F2: other card · F3: remove card"
        if str(KV) not in Builder.files:
            Builder.load_file(str(KV))
        root = KioskRoot()
        Clock.schedule_interval(lambda _dt: self.ctrl.tick(), 1.0)
        Clock.schedule_once(lambda _dt: self.sync(), 0)
        if self.on_started is not None:
            Clock.schedule_once(lambda _dt: self.on_started(self), 0.2)  # type: ignore[misc]
        return root

    def load_kv(self, filename: str | None = None) -> bool:
        return True  # build() loads kiosk.kv once (Kivy would load it by the class name too)

    def _on_window_size(self, _w: Any, size: tuple[int, int]) -> None:
        w, h = size
        self.u = min(w, h) / 100.0
        self.landscape = w >= h
        self._sync_trigger()

    def sync(self, *_: Any) -> None:
        """Redraw from the controller (on Kivy's thread)."""
        ctrl = self.ctrl
        root = self.root
        if root is None:
            return
        self.lang = ctrl.lang
        self.site_name = tx.pick(ctrl.config.get("site_name"), ctrl.lang)
        self.reader_ok = ctrl.reader_status == "ok"
        screen = root.get_screen(ctrl.screen)
        screen.refresh(ctrl)
        if root.current != ctrl.screen:
            root.current = ctrl.screen

    # ------------------------------------------------------------------ keyboard

    def _on_keyboard(self, _w: Any, key: int, _sc: int, _cp: str | None, _mod: Any) -> bool:
        if key == 27:  # Escape: never leave the kiosk by a key
            return True
        if key in ENTER_KEYS:
            self.ctrl.scanner_enter()
            return True
        if self.demo_keys and key in (F1, F2, F3):
            self._demo_card(key)
            return True
        return False

    def _on_textinput(self, _w: Any, text: str) -> None:
        self.ctrl.scanner_text(text)

    def _demo_card(self, key: int) -> None:
        reader = self.fake_reader
        if reader is None:
            return
        if key == F3:
            reader.remove()
            return
        cards = getattr(reader, "TEST_CARDS", {})
        values = list(cards.values()) if isinstance(cards, dict) else list(cards)
        kind = "fi-id" if key == F1 else "other"
        card = next((c for c in values if getattr(c, "kind", None) == kind), None)
        if card is not None:
            threading.Thread(target=reader.insert, args=(card,), daemon=True).start()


# ---------------------------------------------------------------------------- running


def configure_window(size: tuple[int, int] | None, fullscreen: bool) -> None:
    """Window settings; must run before the window is created (the first Window import)."""
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,multitouch_on_demand")
    Config.set("graphics", "resizable", "1")
    if fullscreen:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "show_cursor", "0")
    elif size:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))


def make_reader(spec: str) -> CardReader:
    from kiosk.reader import make_reader as real

    return real(spec)


def make_printer(spec: str) -> TicketPrinter:
    from kiosk.printer import make_printer as real

    return real(spec)


def run_kiosk(
    settings: Any,
    *,
    reader: CardReader | None = None,
    printer: TicketPrinter | None = None,
    window_size: tuple[int, int] | None = None,
    fullscreen: bool = False,
    demo_keys: bool = False,
) -> int:
    """`vuoro kiosk`: connect, open the window, serve customers until the window closes.

    `settings` is kiosk.config.KioskSettings. With `demo_keys`, F1/F2/F3 insert the
    simulated reader's test ID card, another card, or remove it.
    """
    from firmware_common.mqtt import DeviceClient
    from vuoro import __version__

    ks = settings.kiosk
    configure_window(window_size or ks.window_size, fullscreen)
    reader = reader if reader is not None else make_reader(ks.reader)
    printer = printer if printer is not None else make_printer(ks.printer)
    client = DeviceClient(
        settings.mqtt,
        device_id=settings.device.id,
        site=settings.device.site,
        role="kiosk",
        version=__version__,
        outbox_path=ks.outbox,
    )

    def in_thread(fn: Callable[[], None]) -> None:
        threading.Thread(target=fn, name="kiosk-action", daemon=True).start()

    ctrl = KioskController(
        client,
        printer=printer,
        reader=reader,
        offline_path=ks.offline_path,
        idle_timeout_s=ks.idle_timeout_s,
        request_timeout_s=ks.request_timeout_s,
        tz=ks.timezone,
        default_lang=ks.language,
        runner=in_thread,
    )
    client.on_late_reply = ctrl.on_late_reply
    ctrl.start()
    client.start()
    fake = reader if hasattr(reader, "insert") else None
    app = KioskApp(ctrl, demo_keys=demo_keys, fake_reader=fake)
    # systemd: ready once Kivy's loop runs; watchdog pings from it while the link is up.
    from firmware_common.watchdog import Watchdog

    wd = Watchdog(link=client.connected.is_set)
    Clock.schedule_once(lambda _dt: wd.ready(), 0)
    Clock.schedule_interval(lambda _dt: wd.beat(), 1.0)
    try:
        app.run()
    finally:
        ctrl.stop()
        client.stop()
    return 0
