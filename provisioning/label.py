"""The sticker for a provisioned device: id, role, site, desk, and a QR code of the id."""

from __future__ import annotations

from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for f in FONT_CANDIDATES:
        if Path(f).exists():
            return ImageFont.truetype(f, size)
    return ImageFont.load_default(size)


def make_label(
    path: Path,
    *,
    device: str,
    role: str,
    site: str,
    desks: list[str] | None = None,
    broker: str = "",
) -> Path:
    """Write a 696 x 300 px PNG (62 mm label tape at 300 dpi, the usual label printers)."""
    w, h = 696, 300
    img = Image.new("L", (w, h), 255)
    qr = qrcode.QRCode(border=1, box_size=8, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(f"vuoro:device:{site}:{device}")
    qr.make(fit=True)
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    side = h - 24
    code = code.resize((side, side), Image.Resampling.NEAREST)
    img.paste(code, (12, 12))
    draw = ImageDraw.Draw(img)
    x = side + 32
    room = w - x - 8

    def fitted(text: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        font = _font(size)
        while size > 12 and draw.textlength(text, font=font) > room:
            size -= 2
            font = _font(size)
        return font

    draw.text((x, 24), device, font=fitted(device, 40), fill=0)
    lines = [f"role: {role}", f"site: {site}"]
    if desks:
        lines.append(f"desk: {', '.join(desks)}")
    if broker:
        lines.append(f"broker: {broker}")
    y = 96
    for line in lines:
        draw.text((x, y), line, font=fitted(line, 28), fill=0)
        y += 40
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG")
    return path
