"""Turn ESC/POS bytes into a picture of the receipt.

    render(data, width_dots=576) -> PIL.Image.Image        # mode "1", white paper
    python -m kiosk.escpos_render ticket.bin out.png [--width 576]

Interprets what kiosk/printer.py sends and the common rest: ESC @ (reset), ESC a
(alignment), ESC E / ESC G (bold), ESC - (underline), ESC ! (print mode), GS ! (size),
GS B (white on black), ESC M (font A 12x24 / B 9x17), ESC t (code page), ESC 2 / ESC 3
(line spacing), LF, CR, HT, ESC d / ESC J (feed), GS v 0 (raster image), ESC * (bit
image), GS ( L (graphics), GS ( k (QR code, drawn with the `qrcode` package from the
stored data), GS V (cut: a dashed line). Other commands are skipped by their length
where it is known, else by their command byte; nothing here raises on odd input.

Text is drawn with DejaVu Sans Mono (fonts-dejavu-core), which has å ä ö and the box
drawing rule; without it, Pillow's own font.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# ESC t n -> Python codec (Epson numbering).
CODE_PAGES: dict[int, str] = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    15: "iso8859_7",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
    33: "cp775",
    34: "cp855",
    35: "cp861",
    36: "cp862",
    38: "cp869",
    39: "iso8859_2",
    40: "iso8859_15",
    45: "cp1250",
    46: "cp1251",
    47: "cp1253",
    48: "cp1254",
    51: "cp1257",
}

FONTS = {0: (12, 24), 1: (9, 17)}  # font A, font B cell sizes in dots
CUTTER_FEED = 48  # dots from the print head to the cutter, roughly
DEFAULT_SPACING = 30  # dots between lines (1/6 inch at 180 dpi)


@dataclass(frozen=True)
class Style:
    font: int = 0
    bold: bool = False
    underline: bool = False
    invert: bool = False
    width: int = 1
    height: int = 1


@dataclass
class State:
    style: Style = field(default_factory=Style)
    align: int = 0
    codec: str = "cp437"
    spacing: int = DEFAULT_SPACING


@lru_cache(maxsize=8)
def _truetype(bold: bool, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    try:
        return ImageFont.truetype(str(FONT_DIR / name), size)
    except OSError:
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            return ImageFont.load_default()


@lru_cache(maxsize=4096)
def _glyph(ch: str, style: Style) -> Image.Image:
    """One character cell, black on white ("L"), magnified like the printer does."""
    cw, chh = FONTS.get(style.font, FONTS[0])
    size = 20 if style.font == 0 else 15
    font = _truetype(style.bold, size)
    fg, bg = (255, 0) if style.invert else (0, 255)
    cell = Image.new("L", (cw, chh), bg)
    if ch.strip():
        draw = ImageDraw.Draw(cell)
        if ch in "─━═":  # a continuous rule, like the printer's box-drawing glyph
            y = chh // 2
            draw.rectangle((0, y - (1 if ch != "─" else 0), cw, y + 1), fill=fg)
        else:
            draw.text((cw / 2, chh - 5), ch, font=font, fill=fg, anchor="ms")
    if style.underline:
        ImageDraw.Draw(cell).line((0, chh - 1, cw, chh - 1), fill=fg, width=1 + style.bold)
    if style.width > 1 or style.height > 1:
        cell = cell.resize((cw * style.width, chh * style.height), Image.Resampling.NEAREST)
    return cell


class Receipt:
    """A growing white strip of paper that blocks and lines are drawn onto."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.img = Image.new("L", (width, 2048), 255)
        self.y = 8  # a little top margin, like the paper above the first line

    def _room(self, h: int) -> None:
        if self.y + h + 1 > self.img.height:
            bigger = Image.new("L", (self.width, max(self.img.height * 2, self.y + h + 256)), 255)
            bigger.paste(self.img, (0, 0))
            self.img = bigger

    def block(self, im: Image.Image, align: int, advance: bool = True) -> None:
        self._room(im.height)
        x = {1: (self.width - im.width) // 2, 2: self.width - im.width}.get(align, 0)
        self.img.paste(im, (max(x, 0), self.y))
        if advance:
            self.y += im.height

    def feed(self, dots: int) -> None:
        self._room(dots)
        self.y += max(dots, 0)

    def cut(self) -> None:
        self.feed(10)
        draw = ImageDraw.Draw(self.img)
        for x in range(0, self.width, 16):
            draw.line((x, self.y, x + 8, self.y), fill=0, width=2)
        self.y += 18

    def image(self) -> Image.Image:
        return self.img.crop((0, 0, self.width, max(self.y + 8, 16))).convert(
            "1", dither=Image.Dither.NONE
        )


class Renderer:
    def __init__(self, width: int) -> None:
        self.paper = Receipt(width)
        self.width = width
        self.st = State()
        self.line: list[Image.Image] = []
        self.line_w = 0
        self.qr: dict[str, object] = {"size": 3, "ec": "L", "data": b""}
        self.graphics: bytes | None = None

    # -- lines

    def put(self, im: Image.Image) -> None:
        if self.line and self.line_w + im.width > self.width:
            self.flush(wrapped=True)
        self.line.append(im)
        self.line_w += im.width

    def flush(self, wrapped: bool = False) -> None:
        """Print the line buffer (LF) and move down one line."""
        if not self.line:
            self.paper.feed(self.st.spacing)
            return
        h = max(im.height for im in self.line)
        strip = Image.new("L", (self.line_w, h), 255)
        x = 0
        for im in self.line:
            strip.paste(im, (x, h - im.height))
            x += im.width
        self.paper.block(strip, self.st.align, advance=False)
        self.paper.feed(max(h, self.st.spacing) if h > 24 else self.st.spacing)
        self.line, self.line_w = [], 0

    def text(self, raw: bytes) -> None:
        for ch in raw.decode(self.st.codec, errors="replace"):
            self.put(_glyph(ch, self.st.style))

    def tab(self) -> None:
        cw = FONTS.get(self.st.style.font, FONTS[0])[0] * self.st.style.width
        stop = (self.line_w // (cw * 8) + 1) * cw * 8
        if stop < self.width:
            self.put(Image.new("L", (stop - self.line_w, 1), 255))

    def start_block(self) -> None:
        """Images and QR codes start on a fresh line."""
        if self.line:
            self.flush()

    # -- images

    @staticmethod
    def _bits(data: bytes, width_bytes: int, height: int) -> Image.Image:
        need = width_bytes * height
        data = data[:need].ljust(need, b"\x00")
        im = Image.frombytes("1", (width_bytes * 8, height), data)
        return Image.eval(im.convert("L"), lambda v: 255 - v)

    def raster(self, mode: int, width_bytes: int, height: int, data: bytes) -> None:
        if width_bytes == 0 or height == 0:
            return
        im = self._bits(data, width_bytes, height)
        sx, sy = (2 if mode & 1 else 1), (2 if mode & 2 else 1)
        if sx > 1 or sy > 1:
            im = im.resize((im.width * sx, im.height * sy), Image.Resampling.NEAREST)
        self.start_block()
        self.paper.block(im, self.st.align)

    def column_image(self, m: int, n: int, data: bytes) -> None:
        dots = 24 if m in (32, 33) else 8
        rows = dots // 8
        im = Image.new("L", (n, dots), 255)
        px = im.load()
        for col in range(n):
            for r in range(rows):
                i = col * rows + r
                b = data[i] if i < len(data) else 0
                for bit in range(8):
                    if b & (0x80 >> bit):
                        px[col, r * 8 + bit] = 0
        sx = 1 if m in (1, 33) else 2
        sy = 1 if dots == 24 else 3
        if sx > 1 or sy > 1:
            im = im.resize((n * sx, dots * sy), Image.Resampling.NEAREST)
        self.put(im)

    def qr_print(self) -> None:
        import qrcode
        from qrcode.constants import (
            ERROR_CORRECT_H,
            ERROR_CORRECT_L,
            ERROR_CORRECT_M,
            ERROR_CORRECT_Q,
        )

        data = bytes(self.qr["data"])  # type: ignore[arg-type]
        if not data:
            return
        ec = {
            "L": ERROR_CORRECT_L,
            "M": ERROR_CORRECT_M,
            "Q": ERROR_CORRECT_Q,
            "H": ERROR_CORRECT_H,
        }
        size = int(self.qr["size"])  # type: ignore[call-overload]
        code = qrcode.QRCode(
            box_size=max(1, min(size, 16)), border=0, error_correction=ec[str(self.qr["ec"])]
        )
        try:
            code.add_data(data.decode("utf-8", errors="replace"))
            code.make(fit=True)
        except Exception:  # too much data for a QR code: the printer prints nothing
            return
        im = code.make_image().get_image().convert("L")
        self.start_block()
        self.paper.block(im, self.st.align)

    def graphics_cmd(self, body: bytes) -> None:
        """GS ( L: m fn [params]; fn 112 stores a raster, fn 50 prints it."""
        if len(body) < 2:
            return
        fn = body[1]
        if fn == 112 and len(body) >= 10:  # m fn a bx by c xL xH yL yH d...
            bx, by = body[3], body[4]
            w = body[6] | body[7] << 8
            h = body[8] | body[9] << 8
            self.graphics = (
                bytes((bx, by)) + w.to_bytes(2, "little") + h.to_bytes(2, "little") + body[10:]
            )
        elif fn in (50, 2) and self.graphics:
            bx, by = self.graphics[0], self.graphics[1]
            w = int.from_bytes(self.graphics[2:4], "little")
            h = int.from_bytes(self.graphics[4:6], "little")
            im = self._bits(self.graphics[6:], (w + 7) // 8, h).crop((0, 0, w, h))
            if bx == 2 or by == 2:
                im = im.resize((im.width * bx, im.height * by), Image.Resampling.NEAREST)
            self.start_block()
            self.paper.block(im, self.st.align)
            self.graphics = None

    def qr_cmd(self, body: bytes) -> None:
        """GS ( k: cn fn [params]; cn 49 is QR."""
        if len(body) < 2 or body[0] != 49:
            return
        fn = body[1]
        if fn == 67 and len(body) > 2:
            self.qr["size"] = body[2]
        elif fn == 69 and len(body) > 2:
            self.qr["ec"] = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(body[2], "L")
        elif fn == 80:
            self.qr["data"] = body[3:]
        elif fn == 81:
            self.qr_print()

    # -- the byte stream

    def run(self, data: bytes) -> Image.Image:
        i, n = 0, len(data)
        st = self.st

        def arg(k: int) -> int:
            return data[i + k] if i + k < n else 0

        while i < n:
            b = data[i]
            if b == 0x0A:
                self.flush()
                i += 1
            elif b == 0x0D or b == 0x00:
                i += 1
            elif b == 0x09:
                self.tab()
                i += 1
            elif b == 0x0C:
                self.flush()
                i += 1
            elif b == 0x10:  # DLE: real-time commands
                c = arg(1)
                if c == 0x14:  # DLE DC4 fn ...
                    i += 5 if arg(2) in (1, 2) else 3
                else:  # DLE EOT n, DLE ENQ n
                    i += 3
            elif b == 0x1B:  # ESC
                c, i = arg(1), i + 2
                if c == 0x40:  # @
                    self.line, self.line_w = [], 0
                    self.st = st = State()
                elif c == 0x61:  # a
                    st.align = arg(0) % 48 if arg(0) >= 48 else arg(0)
                    i += 1
                elif c in (0x45, 0x47):  # E, G
                    st.style = replace(st.style, bold=bool(arg(0) & 1))
                    i += 1
                elif c == 0x2D:  # -
                    st.style = replace(st.style, underline=arg(0) % 48 > 0)
                    i += 1
                elif c == 0x21:  # ! print mode
                    m = arg(0)
                    st.style = replace(
                        st.style,
                        font=m & 1,
                        bold=bool(m & 8),
                        height=2 if m & 16 else 1,
                        width=2 if m & 32 else 1,
                        underline=bool(m & 128),
                    )
                    i += 1
                elif c == 0x4D:  # M font
                    st.style = replace(st.style, font=1 if arg(0) in (1, 49) else 0)
                    i += 1
                elif c == 0x74:  # t code page
                    st.codec = CODE_PAGES.get(arg(0), st.codec)
                    i += 1
                elif c == 0x32:  # 2
                    st.spacing = DEFAULT_SPACING
                elif c == 0x33:  # 3 n
                    st.spacing = arg(0)
                    i += 1
                elif c == 0x64:  # d n: print and feed n lines
                    self.flush()
                    self.paper.feed(st.spacing * max(arg(0) - 1, 0))
                    i += 1
                elif c == 0x4A:  # J n: print and feed n dots
                    if self.line:
                        self.flush()
                    self.paper.feed(arg(0))
                    i += 1
                elif c == 0x2A:  # * m nL nH data
                    m, cols = arg(0), arg(1) | arg(2) << 8
                    size = cols * (3 if m in (32, 33) else 1)
                    self.column_image(m, cols, data[i + 3 : i + 3 + size])
                    i += 3 + size
                elif c == 0x70:  # p m t1 t2 (drawer)
                    i += 3
                elif c == 0x63:  # c 3/4/5 n
                    i += 2
                elif c == 0x28:  # ESC ( x pL pH ...
                    i += 3 + (arg(1) | arg(2) << 8)
                elif c in (0x20, 0x52, 0x56, 0x7B, 0x25, 0x55, 0x72, 0x3D):  # one-byte argument
                    i += 1
                elif c in (0x24, 0x5C):  # $ / \ nL nH positions
                    i += 2
                # other ESC x: two bytes skipped
            elif b == 0x1D:  # GS
                c, i = arg(1), i + 2
                if c == 0x21:  # ! size
                    m = arg(0)
                    st.style = replace(st.style, width=(m >> 4 & 7) + 1, height=(m & 7) + 1)
                    i += 1
                elif c == 0x42:  # B invert
                    st.style = replace(st.style, invert=bool(arg(0) & 1))
                    i += 1
                elif c == 0x76 and arg(0) in (0x30, 0):  # v 0 m xL xH yL yH d
                    m = arg(1)
                    wb, h = arg(2) | arg(3) << 8, arg(4) | arg(5) << 8
                    self.raster(m, wb, h, data[i + 6 : i + 6 + wb * h])
                    i += 6 + wb * h
                elif c == 0x28:  # ( X pL pH body
                    kind, size = arg(0), arg(1) | arg(2) << 8
                    body = data[i + 3 : i + 3 + size]
                    if kind == 0x6B:
                        self.qr_cmd(body)
                    elif kind == 0x4C:
                        self.graphics_cmd(body)
                    i += 3 + size
                elif c == 0x38 and arg(0) == 0x4C:  # 8 L p1..p4 (long graphics)
                    size = int.from_bytes(data[i + 1 : i + 5].ljust(4, b"\0"), "little")
                    self.graphics_cmd(data[i + 5 : i + 5 + size])
                    i += 5 + size
                elif c == 0x56:  # V cut
                    m = arg(0)
                    if self.line:
                        self.flush()
                    if m in (65, 66, 97, 98, 103, 104):  # feed to the cutter first
                        self.paper.feed(CUTTER_FEED + arg(1))
                        i += 2
                    else:
                        i += 1
                    self.paper.cut()
                elif c == 0x6B:  # k barcode: skipped
                    m = arg(0)
                    if m <= 6:
                        end = data.find(b"\x00", i + 1)
                        i = n if end < 0 else end + 1
                    else:
                        i += 2 + arg(1)
                elif c in (0x4C, 0x57, 0x50, 0x24, 0x5C):  # L W P $ \ : two bytes
                    i += 2
                elif c in (0x48, 0x66, 0x68, 0x77, 0x61, 0x72, 0x49, 0x62, 0x2F, 0x45):  # one byte
                    i += 1
                # other GS x: two bytes skipped
            elif b == 0x1C:  # FS
                c, i = arg(1), i + 2
                if c == 0x28:  # ( x pL pH
                    i += 3 + (arg(1) | arg(2) << 8)
                elif c == 0x70:  # p n m
                    i += 2
                elif c in (0x21, 0x2D, 0x43, 0x53, 0x57):
                    i += 1
            elif b < 0x20:
                i += 1
            else:
                j = i
                while j < n and data[j] >= 0x20:
                    j += 1
                self.text(data[i:j])
                i = j
        if self.line:
            self.flush()
        return self.paper.image()


def render(data: bytes, *, width_dots: int = 576) -> Image.Image:
    """A monochrome picture of the receipt these ESC/POS bytes print."""
    return Renderer(width_dots).run(bytes(data))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m kiosk.escpos_render", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "bytes_file", help="ESC/POS bytes, e.g. a dummy printer's output ('-' reads stdin)"
    )
    ap.add_argument("png", help="where to write the picture")
    ap.add_argument(
        "--width", type=int, default=576, help="paper width in dots (576: 80 mm, 384: 58 mm)"
    )
    args = ap.parse_args(argv)
    data = sys.stdin.buffer.read() if args.bytes_file == "-" else Path(args.bytes_file).read_bytes()
    img = render(data, width_dots=args.width)
    img.save(args.png)
    print(f"{args.png}: {img.width} x {img.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
