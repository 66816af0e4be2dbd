"""The ticket printer: ESC/POS through python-escpos, picked by a config string.

    make_printer("usb:0x04b8:0x0e28")        # Epson TM-T20III on USB (pyusb)
    make_printer("network:10.0.0.5")          # raw TCP port 9100 (or network:HOST:PORT)
    make_printer("serial:/dev/ttyUSB0:38400") # pyserial, baud optional (9600)
    make_printer("file:/dev/usb/lp0")         # the kernel's usblp device
    make_printer("dummy")                     # keeps the bytes: .last_bytes
    make_printer("png:/tmp/tickets")          # renders each ticket to a PNG file
    make_printer("none")                      # no printer: the screen shows the number

Like python-escpos itself (one protocol base, thin connectors), the ticket is laid out
once, with python-escpos's `Dummy`, into bytes; the connector only carries those bytes.
So the bytes sent to a network printer are exactly the bytes a `dummy` printer keeps,
and `kiosk.escpos_render` turns either into a picture.

Text is sent in code page PC850 (`ESC t 2`): it has å ä ö Å Ä Ö (and é, ü, ·), every
Epson-compatible printer has it, and those letters sit at the same bytes as in PC437,
the power-on code page, so they print right even on a printer that ignores `ESC t`.

Printing never raises. Status: network, USB and serial printers are asked with
`DLE EOT` (printer, offline cause and roll-paper sensor), with a short timeout, and the
answer is cached for a few seconds; file, dummy and png printers say "ok" (a missing
device file says "absent"). One lock keeps one conversation with the printer at a
time: the kiosk may poll `status()` from a timer while the UI thread prints; a poll
that finds a print running answers from the last known state instead of waiting.
"""

from __future__ import annotations

import logging
import os
import re
import textwrap
import threading
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from escpos.escpos import Escpos
from escpos.image import EscposImage
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont

from kiosk.hardware import PrinterStatus, PrintResult, TicketPrinter, TicketView
from kiosk.ticket_text import ticket_labels, wait_text

log = logging.getLogger(__name__)

DEFAULT_PORT = 9100
DEFAULT_BAUD = 9600
PAPER_DOTS = {80: 576, 58: 384}  # printable dots at 203 dpi (72 mm and 48 mm)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

ESC = b"\x1b"
GS = b"\x1d"
DLE_EOT = b"\x10\x04"
CUT = GS + b"VA\x00"  # feed to the cutter and cut (GS V 65 0, Epson "function B")

# Characters the code page lacks, written the way a receipt would write them.
_PLAIN = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "‐": "-",
        "−": "-",
        "‘": "'",
        "’": "'",
        "‚": ",",
        "“": '"',
        "”": '"',
        "„": '"',
        "…": "...",
        "€": "EUR",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


# --------------------------------------------------------------------------- layout


def _font(names: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont | None:
    for name in names:
        try:
            return ImageFont.truetype(str(FONT_DIR / name), size)
        except OSError:
            continue
    return None


def number_bitmap(number: str, width_dots: int, height_dots: int) -> Image.Image | None:
    """The ticket number as a black-on-white bitmap `width_dots` wide (the number
    centered, its digits about `height_dots` tall), or None without a TrueType font."""
    names = ("DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf")
    probe = _font(names, 100)
    if probe is None:
        return None
    box = probe.getbbox(number)
    cap = probe.getbbox("0")
    cap_h = max(cap[3] - cap[1], 1)
    text_w = max(box[2] - box[0], 1)
    size = int(100 * min(height_dots / cap_h, 0.92 * width_dots / text_w))
    font = _font(names, max(size, 10))
    assert font is not None
    left, top, right, bottom = font.getbbox(number)
    pad_top, pad_bottom = 10, 18
    img = Image.new("L", (width_dots, bottom - top + pad_top + pad_bottom), 255)
    draw = ImageDraw.Draw(img)
    draw.text(((width_dots - (right - left)) // 2 - left, pad_top - top), number, font=font, fill=0)
    return img.point(lambda v: 0 if v < 128 else 255).convert("1")


def _raster(p: Escpos, img: Image.Image) -> None:
    """`GS v 0`: the raster image command every Epson-compatible printer knows."""
    im = EscposImage(img)
    header = GS + b"v0\x00" + p._int_low_high(im.width_bytes, 2) + p._int_low_high(im.height, 2)
    p._raw(header + im.to_raster_format())


class TicketLayout:
    """Lays a `TicketView` out as ESC/POS bytes with python-escpos.

    `width_dots`: 576 for 80 mm paper, 384 for 58 mm. `dpi` sizes the big number
    (about 2 cm tall). `number_style`: "bitmap" (a Pillow rendering sent as `GS v 0`,
    crisp and large) or "text" (the printer's own font magnified with `GS !`).
    `qr_native`: the printer draws the QR code (`GS ( k`, Epson TM-T20/T88IV and
    later); False sends it as a bitmap for printers without it.
    """

    def __init__(
        self,
        *,
        width_dots: int = 576,
        dpi: int = 203,
        profile: str | None = None,
        number_style: str = "bitmap",
        qr_native: bool = True,
    ) -> None:
        if number_style not in ("bitmap", "text"):
            raise ValueError(f'number_style must be "bitmap" or "text", not {number_style!r}')
        self.width_dots = width_dots
        self.dpi = dpi
        self.profile = profile
        self.number_style = number_style
        self.qr_native = qr_native
        self.columns = width_dots // 12  # font A is 12 x 24 dots
        probe = Dummy(profile=profile)
        pages = set(probe.profile.profile_data.get("codePages", {}).values())
        self.codepage = next((c for c in ("CP850", "CP437") if c in pages), None)

    def encode_text(self, text: str) -> str:
        """Text the code page can carry: dashes, quotes and the like made plain."""
        text = unicodedata.normalize("NFC", text).translate(_PLAIN)
        return re.sub(r"[\x00-\x09\x0b-\x1f\x7f]", " ", text)

    def _lines(self, p: Dummy, text: str, columns: int) -> None:
        for para in self.encode_text(text).splitlines() or [""]:
            for line in textwrap.wrap(para, columns) or [""]:
                p.textln(line)

    def render(self, t: TicketView) -> bytes:
        labels = {**ticket_labels(t.lang), **(t.labels or {})}
        p = Dummy(profile=self.profile)
        cols = self.columns
        p.hw("INIT")
        if self.codepage:
            p.charcode(self.codepage)
        p.line_spacing(None)

        # Site name
        p.set(align="center", bold=True, normal_textsize=True)
        self._lines(p, t.site_name, cols)
        p.set(bold=False)
        p.textln("─" * cols)

        # The number, large
        p.textln(labels.get("your_number", ""))
        self._number(p, t.number)

        # Service, wait, time
        service = self.encode_text(t.service_name)
        wide = len(service) <= cols // 2  # double width only when it fits on one line
        p.set(bold=True, double_height=True, double_width=wide)
        self._lines(p, service, cols // 2 if wide else cols)
        p.set(bold=False, normal_textsize=True)
        wait = self.encode_text(wait_text(t))
        self._lines(p, wait if len(wait) <= cols else wait.replace(" · ", "\n"), cols)
        if t.appointment:
            p.set(bold=True)
            self._lines(p, t.appointment, cols)
            p.set(bold=False)
        p.textln(self.encode_text(t.issued_at))

        if t.offline:
            p.ln()
            p.set(bold=True, invert=True)
            for line in textwrap.wrap(self.encode_text(labels.get("offline", "")), cols - 2):
                p.textln(f" {line} ")
            p.set(bold=False, invert=False)

        # QR code to the mobile page
        if t.status_url:
            p.ln()
            self._qr(p, t.status_url)
            p.textln(labels.get("qr_caption", ""))

        # Instructions
        if t.instructions:
            p.textln("─" * cols)
            p.set(align="left")
            self._lines(p, t.instructions, cols)
            p.set(align="center")
        p.textln("─" * cols)
        self._lines(p, labels.get("footer", ""), cols)
        p.set(align="left", normal_textsize=True)
        p.ln()
        p._raw(CUT)
        return p.output

    def _number(self, p: Dummy, number: str) -> None:
        height = round(2.0 / 2.54 * self.dpi)  # 2 cm
        img = (
            number_bitmap(number, self.width_dots, height)
            if self.number_style == "bitmap"
            else None
        )
        if img is not None:
            _raster(p, img)
            return
        # The printer's font magnified: font A is 12 x 24 dots.
        mag = max(1, min(8, self.width_dots // (12 * max(len(number), 1)), height // 24 + 1))
        p.set(bold=True, custom_size=True, width=mag, height=mag)
        p.textln(self.encode_text(number))
        p.set(bold=False, normal_textsize=True)

    def _qr(self, p: Dummy, url: str) -> None:
        size = 6 if self.width_dots >= 512 else 5
        if self.qr_native:
            p.qr(url, size=size, native=True)
            p._raw(ESC + b"J\x0c")  # a small gap under the code
            return
        import qrcode

        code = qrcode.QRCode(box_size=size, border=2)
        code.add_data(url)
        code.make(fit=True)
        img = code.make_image().get_image().convert("L")
        canvas = Image.new("L", (self.width_dots, img.height), 255)
        canvas.paste(img, ((self.width_dots - img.width) // 2, 0))
        _raster(p, canvas)


# --------------------------------------------------------------------------- status


def status_from_bytes(printer: int | None, offline: int | None, paper: int | None) -> PrinterStatus:
    """Map the answers to `DLE EOT 1` (printer), `DLE EOT 2` (offline cause) and
    `DLE EOT 4` (roll paper sensor) to a `PrinterStatus`. None: no answer."""
    if paper is not None and paper & 0x60 == 0x60:
        return "paper_out"
    if offline is not None and offline & 0x20:
        return "paper_out"
    if printer is not None and printer & 0x08:  # offline
        return "error"
    if offline is not None and offline & 0x44:  # cover open, error
        return "error"
    if paper is not None and paper & 0x0C == 0x0C:
        return "paper_low"
    return "ok"


def _valid(b: int | None) -> int | None:
    # Real-time status bytes have bits 1 and 4 set and bits 0 and 7 clear.
    return b if b is not None and b & 0x93 == 0x12 else None


class PrinterError(Exception):
    """A failure in plain words, with the status it means."""

    def __init__(self, status: PrinterStatus, words: str) -> None:
        super().__init__(words)
        self.status: PrinterStatus = status
        self.words = words


def _reason(exc: BaseException) -> str:
    root: BaseException = exc
    while root.__cause__ or root.__context__:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    if isinstance(root, TimeoutError):
        return "no answer"
    if isinstance(root, ConnectionRefusedError):
        return "connection refused"
    if isinstance(root, OSError) and root.strerror:
        return root.strerror.lower()
    return str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__


# --------------------------------------------------------------------------- transports


class Transport(ABC):
    """Carries ticket bytes to a printer; raises `PrinterError`."""

    reports_status = False
    where = ""

    @abstractmethod
    def send(self, data: bytes, name: str) -> str | None:
        """Send one ticket; returns a PNG path for a png printer."""

    def query(self, timeout: float) -> PrinterStatus | None:
        """Ask the printer; None when it cannot tell."""
        return None


class EscposTransport(Transport):
    """A python-escpos connector (Network, Usb, Serial, File), opened per job so that
    an unplugged or restarted printer is found again without restarting the kiosk."""

    def __init__(self, factory: Callable[[], Escpos], where: str, *, reports_status: bool) -> None:
        self.factory = factory
        self.where = where
        self.reports_status = reports_status

    def _open(self) -> Escpos:
        try:
            dev = self.factory()
            dev.open()
            return dev
        except ImportError as e:
            raise PrinterError("error", f"{self.where}: {e}") from e
        except PermissionError as e:
            raise PrinterError("error", f"No permission to open the printer {self.where}") from e
        except Exception as e:
            words = f"Printer not found at {self.where} ({_reason(e)})"
            raise PrinterError("absent", words) from e

    @staticmethod
    def _close(dev: Escpos) -> None:
        try:
            dev.close()
        except Exception:  # closing a dead connection may fail; nothing to do
            pass

    def send(self, data: bytes, name: str) -> str | None:
        dev = self._open()
        try:
            dev._raw(data)
        except Exception as e:
            raise PrinterError("error", f"Printing to {self.where} failed ({_reason(e)})") from e
        finally:
            self._close(dev)
        return None

    def query(self, timeout: float) -> PrinterStatus | None:
        dev = self._open()
        try:
            self._set_timeout(dev, timeout)
            printer = self._ask(dev, 1)
            if printer is None:
                return None  # the printer does not answer status queries
            offline = self._ask(dev, 2) if printer & 0x08 else None
            paper = self._ask(dev, 4)
            return status_from_bytes(printer, offline, paper)
        finally:
            self._close(dev)

    @staticmethod
    def _set_timeout(dev: Any, timeout: float) -> None:
        handle = getattr(dev, "_device", None)
        if hasattr(handle, "settimeout"):  # socket
            handle.settimeout(timeout)
        elif hasattr(handle, "timeout") and not hasattr(handle, "ctrl_transfer"):  # serial
            handle.timeout = timeout

    @staticmethod
    def _ask(dev: Escpos, n: int) -> int | None:
        try:
            dev._raw(DLE_EOT + bytes((n,)))
            reply = bytes(dev._read())
        except NotImplementedError:
            return None
        except Exception as e:
            if isinstance(e, TimeoutError) or "timed out" in str(e).lower():
                return None
            raise PrinterError(
                "error", f"Lost the printer while asking its status ({_reason(e)})"
            ) from e
        return _valid(reply[-1]) if reply else None


class FileTransport(EscposTransport):
    """A device file (the kernel's usblp): writes only, so no paper status."""

    def __init__(self, path: str) -> None:
        from escpos.printer import File

        super().__init__(lambda: File(path, auto_flush=True), path, reports_status=False)
        self.path = path

    def present(self) -> bool:
        return os.path.exists(self.path) and os.access(self.path, os.W_OK)


class MemoryTransport(Transport):
    """Keeps what would have been printed (`dummy`)."""

    where = "memory"

    def __init__(self) -> None:
        self.jobs: list[bytes] = []

    def send(self, data: bytes, name: str) -> str | None:
        self.jobs.append(data)
        return None


class PngTransport(Transport):
    """Renders each ticket to `<folder>/ticket-<number>-<time>.png` (`png:<folder>`)."""

    def __init__(self, folder: str, width_dots: int) -> None:
        self.folder = Path(folder)
        self.where = folder
        self.width_dots = width_dots
        self.jobs: list[bytes] = []

    def send(self, data: bytes, name: str) -> str | None:
        from kiosk.escpos_render import render

        self.jobs.append(data)
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name) or "ticket"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = self.folder / f"ticket-{safe}-{stamp}.png"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            render(data, width_dots=self.width_dots).save(path)
        except OSError as e:
            raise PrinterError(
                "error", f"Cannot write the ticket picture to {self.folder} ({_reason(e)})"
            ) from e
        return str(path)


# --------------------------------------------------------------------------- printers


class EscposTicketPrinter(TicketPrinter):
    """An ESC/POS ticket printer over any transport. See the module docstring."""

    def __init__(
        self,
        transport: Transport,
        *,
        layout: TicketLayout | None = None,
        cache_seconds: float = 3.0,
        status_timeout: float = 1.0,
    ) -> None:
        self.transport = transport
        self.layout = layout or TicketLayout()
        self.cache_seconds = cache_seconds
        self.status_timeout = status_timeout
        self._io = threading.Lock()  # one conversation with the printer at a time
        self._state = threading.Lock()  # guards the fields below
        self._status: PrinterStatus = "ok"
        self._checked_at: float | None = None
        self._answers_status: bool | None = None  # None: not known yet
        self._problem: str | None = None

    @property
    def width_dots(self) -> int:
        return self.layout.width_dots

    def ticket_bytes(self, ticket: TicketView) -> bytes:
        """The exact bytes `print_ticket` sends for this ticket."""
        return self.layout.render(ticket)

    # -- status

    def _remember(self, status: PrinterStatus, words: str | None = None) -> PrinterStatus:
        with self._state:
            self._status = status
            self._problem = words
            self._checked_at = time.monotonic()
        return status

    @property
    def problem(self) -> str | None:
        """The last failure in plain words (for the device status and the admin page)."""
        with self._state:
            return self._problem

    def _ask_locked(self) -> PrinterStatus:
        """Query the printer; the caller holds `self._io`."""
        try:
            answer = self.transport.query(self.status_timeout)
        except PrinterError as e:
            log.info("printer status: %s", e.words)
            return self._remember(e.status, e.words)
        except Exception:  # a connector bug: say "error", keep the kiosk running
            log.exception("printer status query failed")
            return self._remember("error", "The printer status query failed")
        with self._state:
            self._answers_status = answer is not None
        status: PrinterStatus = answer or "ok"
        return self._remember(status, None if status == "ok" else self._words(status))

    def status(self) -> PrinterStatus:
        with self._state:
            fresh = (
                self._checked_at is not None
                and time.monotonic() - self._checked_at < self.cache_seconds
            )
            if fresh:
                return self._status
            last = self._status
        if isinstance(self.transport, FileTransport):
            return self._remember("ok" if self.transport.present() else "absent")
        if not self.transport.reports_status:
            return self._remember("ok")
        if not self._io.acquire(timeout=0.05):
            return last  # a print is running: answer from what we knew
        try:
            return self._ask_locked()
        finally:
            self._io.release()

    # -- printing

    def print_ticket(self, ticket: TicketView) -> PrintResult:
        try:
            data = self.ticket_bytes(ticket)
        except Exception as e:  # a layout bug must not take the kiosk down
            log.exception("ticket layout failed")
            return PrintResult(
                ok=False, status="error", error=f"Could not lay out the ticket ({e})"
            )
        with self._io:
            with self._state:
                ask_first = self.transport.reports_status and self._answers_status is not False
            if ask_first:
                before = self._ask_locked()
                if before in ("paper_out", "error", "absent"):
                    words = self.problem or self._words(before)
                    return PrintResult(ok=False, status=before, error=words)
            try:
                png = self.transport.send(data, ticket.number)
            except PrinterError as e:
                log.warning("printing ticket %s failed: %s", ticket.number, e.words)
                self._remember(e.status, e.words)
                return PrintResult(ok=False, status=e.status, error=e.words)
            except Exception as e:
                log.exception("printing ticket %s failed", ticket.number)
                words = f"Printing failed ({_reason(e)})"
                self._remember("error", words)
                return PrintResult(ok=False, status="error", error=words)
            with self._state:
                status = self._status
                self._checked_at = None  # ask again at the next poll
        return PrintResult(ok=True, status=status if status == "paper_low" else "ok", png_path=png)

    def _words(self, status: PrinterStatus) -> str:
        return {
            "paper_out": "The printer is out of paper",
            "paper_low": "The printer's paper roll is running low",
            "error": "The printer reports an error (cover open, paper jam or cutter)",
            "absent": f"Printer not found at {self.transport.where}",
        }.get(status, f"Printer status: {status}")


class DummyTicketPrinter(EscposTicketPrinter):
    """Keeps the bytes in memory (`dummy`). `simulate("paper_out")` makes the next
    prints fail the way a real printer would, for tests and demos."""

    def __init__(self, *, layout: TicketLayout | None = None) -> None:
        super().__init__(MemoryTransport(), layout=layout)
        self._simulated: PrinterStatus = "ok"

    @property
    def jobs(self) -> list[bytes]:
        assert isinstance(self.transport, MemoryTransport)
        return self.transport.jobs

    @property
    def last_bytes(self) -> bytes | None:
        return self.jobs[-1] if self.jobs else None

    def simulate(self, status: PrinterStatus) -> None:
        self._simulated = status

    def status(self) -> PrinterStatus:
        return self._simulated

    def print_ticket(self, ticket: TicketView) -> PrintResult:
        if self._simulated in ("paper_out", "error", "absent"):
            return PrintResult(ok=False, status=self._simulated, error=self._words(self._simulated))
        result = super().print_ticket(ticket)
        if result.ok and self._simulated == "paper_low":
            return PrintResult(ok=True, status="paper_low")
        return result


class PngTicketPrinter(EscposTicketPrinter):
    """Renders each ticket to a PNG file (`png:<folder>`); `PrintResult.png_path`."""

    def __init__(self, folder: str, *, layout: TicketLayout | None = None) -> None:
        layout = layout or TicketLayout()
        super().__init__(PngTransport(folder, layout.width_dots), layout=layout)

    @property
    def last_bytes(self) -> bytes | None:
        assert isinstance(self.transport, PngTransport)
        return self.transport.jobs[-1] if self.transport.jobs else None


class NoPrinter(TicketPrinter):
    """No printer configured (`none`): the kiosk shows the number on screen."""

    def print_ticket(self, ticket: TicketView) -> PrintResult:
        return PrintResult(ok=False, status="absent", error="No ticket printer is configured")

    def status(self) -> PrinterStatus:
        return "absent"


# --------------------------------------------------------------------------- config


def _int_id(text: str, what: str, spec: str) -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise ValueError(
            f"printer {spec!r}: the USB {what} {text!r} is not a number (write 0x04b8 or 1208)"
        ) from None
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"printer {spec!r}: the USB {what} {text!r} is out of range")
    return value


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"printer {spec!r}: the port {text!r} must be a number from 1 to 65535")
    return int(text)


def make_printer(
    spec: str,
    *,
    profile: str | None = None,
    paper_mm: int = 80,
    width_dots: int | None = None,
    number_style: str = "bitmap",
    qr_native: bool = True,
) -> TicketPrinter:
    """The printer a config string names (see the module docstring).

    `profile`: a python-escpos printer profile (e.g. "TM-T20II", "TM-T88V"); its paper
    width and resolution are used when known. `paper_mm`: 80 (576 dots) or 58 (384 dots);
    `width_dots` overrides it. Raises ValueError for a string it cannot read.
    """
    spec = (spec or "").strip()
    kind, _, rest = spec.partition(":")
    kind = kind.lower()

    dpi = 203
    if width_dots is None:
        if paper_mm not in PAPER_DOTS:
            raise ValueError(f"paper_mm must be 80 or 58, not {paper_mm!r}")
        width_dots = PAPER_DOTS[paper_mm]
        if profile:
            media = Dummy(profile=profile).profile.profile_data.get("media", {})
            pixels = media.get("width", {}).get("pixels")
            if isinstance(pixels, int) and paper_mm == 80:
                width_dots = pixels
            if isinstance(media.get("dpi"), int):
                dpi = media["dpi"]
    layout = TicketLayout(
        width_dots=width_dots,
        dpi=dpi,
        profile=profile,
        number_style=number_style,
        qr_native=qr_native,
    )

    if kind == "none" and not rest:
        return NoPrinter()
    if kind == "dummy" and not rest:
        return DummyTicketPrinter(layout=layout)
    if kind == "png":
        if not rest:
            raise ValueError(f"printer {spec!r}: write png:<folder>, e.g. png:/tmp/tickets")
        return PngTicketPrinter(rest, layout=layout)
    if kind == "file":
        if not rest:
            raise ValueError(f"printer {spec!r}: write file:<device>, e.g. file:/dev/usb/lp0")
        return EscposTicketPrinter(FileTransport(rest), layout=layout)
    if kind == "network":
        host, port = rest, DEFAULT_PORT
        if rest.startswith("["):  # [IPv6]:port
            host, _, tail = rest[1:].partition("]")
            if tail:
                port = _port(tail.lstrip(":"), spec)
        elif rest.count(":") == 1:
            host, _, p = rest.partition(":")
            port = _port(p, spec)
        if not host:
            raise ValueError(f"printer {spec!r}: write network:HOST or network:HOST:PORT")

        def network() -> Escpos:
            from escpos.printer import Network

            return Network(host, port=port, timeout=5, profile=profile)

        where = f"{host}:{port}"
        return EscposTicketPrinter(
            EscposTransport(network, where, reports_status=True), layout=layout
        )
    if kind == "usb":
        parts = rest.split(":")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"printer {spec!r}: write usb:VENDOR:PRODUCT, e.g. usb:0x04b8:0x0e28")
        vid, pid = _int_id(parts[0], "vendor id", spec), _int_id(parts[1], "product id", spec)

        def usb() -> Escpos:
            try:
                import usb.core  # noqa: F401
            except ImportError as e:
                raise ImportError("USB printers need the pyusb package") from e
            from escpos.printer import Usb

            return Usb(vid, pid, timeout=5000, profile=profile)

        where = f"USB {vid:04x}:{pid:04x}"
        return EscposTicketPrinter(EscposTransport(usb, where, reports_status=True), layout=layout)
    if kind == "serial":
        dev, baud = rest, DEFAULT_BAUD
        m = re.fullmatch(r"(.+):(\d+)", rest)
        if m:
            dev, baud = m.group(1), int(m.group(2))
        if not dev:
            raise ValueError(
                f"printer {spec!r}: write serial:<device>[:baud], e.g. serial:/dev/ttyUSB0:38400"
            )
        if baud not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
            raise ValueError(f"printer {spec!r}: {baud} is not a serial speed a printer uses")

        def serial() -> Escpos:
            try:
                import serial as _pyserial  # noqa: F401
            except ImportError as e:
                raise ImportError("serial printers need the pyserial package") from e
            from escpos.printer import Serial

            return Serial(dev, baudrate=baud, timeout=1, profile=profile)

        return EscposTicketPrinter(EscposTransport(serial, dev, reports_status=True), layout=layout)
    raise ValueError(
        f"printer {spec!r}: not a printer; write usb:VID:PID, network:HOST[:PORT], "
        "serial:DEVICE[:BAUD], file:PATH, dummy, png:FOLDER or none"
    )
