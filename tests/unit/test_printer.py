"""The ticket printer without any I/O: layout bytes, labels, the renderer, config strings."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from kiosk.escpos_render import render
from kiosk.hardware import TicketView
from kiosk.printer import (
    DummyTicketPrinter,
    EscposTicketPrinter,
    NoPrinter,
    PngTicketPrinter,
    PrinterError,
    TicketLayout,
    Transport,
    make_printer,
    status_from_bytes,
)
from kiosk.ticket_text import format_time, ticket_labels, ticket_view, wait_text

REPLY = {
    "number": "A012",
    "queue": "q-kela",
    "service": "kela",
    "position": 4,
    "eta_min": 12,
    "issued_at": "2026-11-24T07:41:05.123Z",
    "status_url": "https://vuoro.example.fi/t/8f3k2m9q4x7w",
    "appointment": None,
}
SERVICE = {"fi": "Kela: perhe-etuudet", "sv": "FPA: familjeförmåner", "en": "Kela: family benefits"}
SITE = {
    "fi": "Yhteispalvelupiste Jyväskylä",
    "sv": "Samservicepunkt Jyväskylä",
    "en": "Citizen Service Point Jyväskylä",
}
INSTRUCTIONS = {
    "fi": "Ota mukaan henkilöllisyystodistus. Odota aulassa, kunnes numerosi näkyy näytöllä.",
    "sv": "Ta med identitetsbevis. Vänta i lobbyn tills ditt nummer visas på skärmen.",
    "en": "Bring an identity document. Wait in the lobby until your number is on the screen.",
}
CP850 = b"\x1bt\x02"
QR_STORE = b"\x1d(k"
CUT = b"\x1dVA\x00"


def view(lang: str, **changes: object) -> TicketView:
    reply = {**REPLY, **changes.pop("reply", {})}  # type: ignore[dict-item]
    return ticket_view(
        reply,
        service_name=SERVICE,
        site_name=SITE,
        lang=lang,
        instructions=INSTRUCTIONS,
        **changes,  # type: ignore[arg-type]
    )


def ticket_bytes(v: TicketView, spec: str = "dummy", **kw: object) -> bytes:
    printer = make_printer(spec, **kw)  # type: ignore[arg-type]
    assert isinstance(printer, DummyTicketPrinter)
    result = printer.print_ticket(v)
    assert result.ok and result.status == "ok" and result.error is None
    assert printer.last_bytes is not None
    return printer.last_bytes


# --------------------------------------------------------------------------- text


def test_ticket_view_formats_time_per_language() -> None:
    assert view("fi").issued_at == "24.11.2026 klo 9.41"
    assert view("sv").issued_at == "24.11.2026 kl. 9.41"
    assert view("en").issued_at == "24 Nov 2026 9:41"
    summer = view("fi", reply={"issued_at": "2026-07-01T12:05:00Z"})
    assert summer.issued_at == "1.7.2026 klo 15.05"  # EEST
    assert view("en", tz="UTC").issued_at == "24 Nov 2026 7:41"


def test_ticket_view_fields() -> None:
    v = view("sv", offline=True)
    assert (v.lang, v.number, v.site_name, v.service_name) == (
        "sv",
        "A012",
        "Samservicepunkt Jyväskylä",
        "FPA: familjeförmåner",
    )
    assert (v.position, v.eta_min, v.status_url) == (4, 12, REPLY["status_url"])
    assert v.instructions == INSTRUCTIONS["sv"] and v.offline and v.appointment is None
    assert v.labels == ticket_labels("sv")
    # a whole reply with the ticket inside; strings and missing languages
    w = ticket_view(
        {"ok": True, "ticket": REPLY}, service_name="Kela", site_name={"fi": "YPP"}, lang="en"
    )
    assert (w.number, w.service_name, w.site_name, w.instructions) == ("A012", "Kela", "YPP", None)


def test_appointment_line() -> None:
    appt = {"code": "K7Q2", "start": "2026-11-24T07:30:00Z", "resource": "Aino Virtanen"}
    assert view("fi", reply={"appointment": appt}).appointment == "Varaus klo 9.30, Aino Virtanen"
    assert view("sv", reply={"appointment": appt}).appointment == "Bokning kl. 9.30, Aino Virtanen"
    assert view("en", reply={"appointment": appt}).appointment == "Appointment 9:30, Aino Virtanen"


def test_wait_text() -> None:
    assert wait_text(view("fi")) == "Edelläsi 4 · odotus noin 12 min"
    assert wait_text(view("en")) == "4 ahead of you · about 12 min"
    assert wait_text(view("sv", reply={"position": 0, "eta_min": 0})) == "Du står näst i tur"


def test_labels_complete_in_every_language() -> None:
    keys = set(ticket_labels("fi"))
    for lang in ("sv", "en"):
        assert set(ticket_labels(lang)) == keys
    assert ticket_labels("de") == ticket_labels("en")
    assert format_time(datetime(2026, 1, 2, 9, 5), "fi") == "2.1.2026 klo 9.05"


# --------------------------------------------------------------------------- bytes


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "fi",
            [
                "Yhteispalvelupiste Jyväskylä",
                "Kela: perhe-etuudet",
                "Edelläsi 4",
                "24.11.2026 klo 9.41",
            ],
        ),
        (
            "sv",
            [
                "Samservicepunkt Jyväskylä",
                "FPA: familjeförmåner",
                "Före dig: 4",
                "24.11.2026 kl. 9.41",
            ],
        ),
        (
            "en",
            [
                "Citizen Service Point Jyväskylä",
                "Kela: family benefits",
                "4 ahead of you",
                "24 Nov 2026 9:41",
            ],
        ),
    ],
)
def test_ticket_bytes(lang: str, words: list[str]) -> None:
    data = ticket_bytes(view(lang))
    assert data.startswith(b"\x1b@" + CP850)  # reset, then code page PC850
    assert data.count(b"\x1bt") == 1  # one code page for the whole ticket
    for w in [*words, ticket_labels(lang)["qr_caption"], INSTRUCTIONS[lang].split(".")[0]]:
        assert w.encode("cp850") in data, w
    # å ä ö in PC850 are the same bytes as in PC437 (the power-on code page)
    assert "äåö".encode("cp850") == "äåö".encode("cp437") == b"\x84\x86\x94"
    # the QR code: native GS ( k with the status URL, stored then printed
    url = REPLY["status_url"].encode()
    store = QR_STORE + (len(url) + 3).to_bytes(2, "little") + b"1P0" + url
    assert store in data
    assert QR_STORE + b"\x03\x001Q0" in data
    assert data.rstrip(b"\n").endswith(CUT)  # cut last
    assert b"\x1dv0\x00" in data  # the number as a raster bitmap
    # no UTF-8 leaked through
    assert "ä".encode() not in data and "·".encode("cp850") in data


def test_special_characters_made_plain() -> None:
    v = view("fi")
    v.instructions = "Maksu 5 € — kuitti “pyydettäessä”…"
    data = ticket_bytes(v)
    assert b'Maksu 5 EUR - kuitti "pyydett\x84ess\x84"...' in data


def test_offline_and_appointment_and_no_url() -> None:
    appt = {"code": "K7Q2", "start": "2026-11-24T07:30:00Z", "resource": "Aino Virtanen"}
    v = view("fi", reply={"status_url": None, "appointment": appt}, offline=True)
    data = ticket_bytes(v)
    assert QR_STORE not in data
    assert "Varaus klo 9.30, Aino Virtanen".encode("cp850") in data
    assert "Numero annettu ilman yhteyttä - seuraa näyttöä".encode("cp850") in data
    assert b"\x1dB\x01" in data  # printed white on black
    assert "Seuraa vuoroasi".encode("cp850") not in data


def test_text_number_style_and_58mm() -> None:
    data = ticket_bytes(view("en"), number_style="text")
    assert b"\x1dv0" not in data and b"\x1d!" in data and b"A012" in data
    narrow = ticket_bytes(view("sv"), paper_mm=58)
    assert narrow != ticket_bytes(view("sv"))
    # a long service name is not drawn double width on 58 mm
    assert b"\x1b!\x10" in narrow or b"\x1b!\x30" not in narrow


def test_bitmap_qr_for_printers_without_native_qr() -> None:
    data = ticket_bytes(view("fi"), qr_native=False)
    assert QR_STORE not in data and data.count(b"\x1dv0") == 2


def test_same_bytes_every_time() -> None:
    assert ticket_bytes(view("fi")) == ticket_bytes(view("fi"))


# --------------------------------------------------------------------------- render


def _dark(img: Image.Image, box: tuple[int, int, int, int]) -> float:
    region = img.crop(box).convert("L")
    hist = region.histogram()
    return sum(hist[:128]) / max(region.width * region.height, 1)


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_render_ticket(lang: str, tmp_path: Path) -> None:
    img = render(ticket_bytes(view(lang)))
    img.save(tmp_path / f"ticket-{lang}.png")
    assert img.width == 576 and 700 < img.height < 1400
    assert img.mode == "1"
    # the big number: a dark band across the middle of the paper near the top
    assert _dark(img, (40, 120, 536, 240)) > 0.25
    # white margins on the sides of the QR code, dark modules in it
    assert 0.25 < _dark(img, (230, 440, 346, 560)) < 0.75
    # a dashed cut line at the bottom
    grey = img.convert("L")
    last = max(y for y in range(img.height) if grey.crop((0, y, 576, y + 1)).getextrema()[0] < 128)
    assert img.height - last < 40
    assert 0.3 < _dark(img, (0, last, 576, last + 1)) < 0.7


def test_render_58mm(tmp_path: Path) -> None:
    data = ticket_bytes(view("sv"), paper_mm=58)
    img = render(data, width_dots=384)
    img.save(tmp_path / "ticket-sv-58.png")
    assert img.width == 384
    assert _dark(img, (20, 120, 364, 200)) > 0.2


def test_renderer_draws_codepage_letters_and_survives_junk() -> None:
    # ä drawn through PC850 looks like ä drawn through PC437 (same byte), unlike 'a'
    a = render(b"\x1b@\x1bt\x02\x84\n")
    same = render(b"\x1b@\x84\n")
    plain = render(b"\x1b@a\n")
    assert a.tobytes() == same.tobytes() and a.tobytes() != plain.tobytes()
    # unknown and truncated commands are skipped, never raise
    for junk in [
        b"\x1b",
        b"\x1d",
        b"\x1d(k\xff\xff1P0",
        b"\x1dv0\x00\x10\x00\x10",
        b"\x1b\x99x\x1d\x99y\xff\n",
    ]:
        render(junk)
    render(bytes(range(256)) * 4)


def test_renderer_sizes_and_alignment() -> None:
    left = render(b"\x1b@\x1ba\x00XX\n")
    right = render(b"\x1b@\x1ba\x02XX\n")
    big = render(b"\x1b@\x1d!\x11XX\n")
    assert _dark(left, (0, 0, 40, 40)) > 0 and _dark(left, (536, 0, 576, 40)) == 0
    assert _dark(right, (536, 0, 576, 40)) > 0 and _dark(right, (0, 0, 40, 40)) == 0
    assert big.height > left.height


def test_render_cli(tmp_path: Path) -> None:
    from kiosk.escpos_render import main

    src = tmp_path / "t.bin"
    src.write_bytes(ticket_bytes(view("fi")))
    assert main([str(src), str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").width == 576


# --------------------------------------------------------------------------- printers


def test_png_printer_writes_files(tmp_path: Path) -> None:
    p = make_printer(f"png:{tmp_path / 'out'}")
    assert isinstance(p, PngTicketPrinter) and p.status() == "ok"
    r = p.print_ticket(view("fi"))
    assert r.ok and r.png_path and Path(r.png_path).exists()
    assert Path(r.png_path).name.startswith("ticket-A012-")
    assert Image.open(r.png_path).width == 576


def test_none_printer() -> None:
    p = make_printer("none")
    assert isinstance(p, NoPrinter) and p.status() == "absent"
    r = p.print_ticket(view("fi"))
    assert not r.ok and r.status == "absent" and r.error


def test_dummy_simulates_failures() -> None:
    p = make_printer("dummy")
    assert isinstance(p, DummyTicketPrinter)
    p.simulate("paper_out")
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status) == (False, "paper_out") and "paper" in (r.error or "")
    assert p.last_bytes is None and p.status() == "paper_out"
    p.simulate("paper_low")
    assert p.print_ticket(view("fi")).status == "paper_low"
    assert p.last_bytes is not None


class _Flaky(Transport):
    reports_status = True
    where = "test"

    def __init__(self) -> None:
        self.answer: object = "ok"
        self.send_error: Exception | None = None
        self.queries = 0
        self.sent: list[bytes] = []
        self.block: threading.Event | None = None

    def send(self, data: bytes, name: str) -> str | None:
        if self.block:
            self.block.wait(5)
        if self.send_error:
            raise self.send_error
        self.sent.append(data)
        return None

    def query(self, timeout: float):  # type: ignore[no-untyped-def]
        self.queries += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_print_never_raises_and_checks_paper_first() -> None:
    t = _Flaky()
    p = EscposTicketPrinter(t)
    t.answer = "paper_out"
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status) == (False, "paper_out") and not t.sent
    t.answer = PrinterError("absent", "Printer not found at test (connection refused)")
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status, r.error) == (
        False,
        "absent",
        "Printer not found at test (connection refused)",
    )
    t.answer = RuntimeError("boom")  # a bug in a connector
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status) == (False, "error") and not t.sent
    t.answer, t.send_error = "ok", PrinterError("error", "Printing to test failed (broken pipe)")
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status, r.error) == (False, "error", "Printing to test failed (broken pipe)")
    t.send_error = ValueError("odd")
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status) == (False, "error") and r.error
    t.send_error = None
    t.answer = "paper_low"
    r = p.print_ticket(view("fi"))
    assert (r.ok, r.status) == (True, "paper_low") and len(t.sent) == 1


def test_layout_failure_is_a_result() -> None:
    p = make_printer("dummy")
    bad = view("fi")
    bad.number = None  # type: ignore[assignment]
    r = p.print_ticket(bad)
    assert not r.ok and r.status == "error" and "lay out" in (r.error or "")


def test_status_cached_and_not_blocked_by_printing() -> None:
    t = _Flaky()
    p = EscposTicketPrinter(t, cache_seconds=60)
    assert p.status() == "ok" and p.status() == "ok"
    assert t.queries == 1  # cached
    p._checked_at = None
    t.block = threading.Event()
    worker = threading.Thread(target=p.print_ticket, args=(view("fi"),))
    worker.start()
    try:
        for _ in range(200):  # wait until the print holds the printer
            if p._io.locked() and t.queries >= 2:
                break
            threading.Event().wait(0.01)
        p._checked_at = None
        assert p.status() == "ok"  # answered from the last state, without waiting
    finally:
        t.block.set()
        worker.join(5)
    assert len(t.sent) == 1


@pytest.mark.parametrize(
    ("printer", "offline", "paper", "expected"),
    [
        (0x12, None, 0x12, "ok"),
        (0x12, None, 0x1E, "paper_low"),
        (0x1A, 0x32, 0x72, "paper_out"),
        (0x1A, 0x32, 0x7E, "paper_out"),
        (0x1A, 0x16, 0x12, "error"),  # cover open
        (0x1A, 0x52, 0x12, "error"),  # error
        (None, None, None, "ok"),
    ],
)
def test_status_bytes(
    printer: int | None, offline: int | None, paper: int | None, expected: str
) -> None:
    assert status_from_bytes(printer, offline, paper) == expected


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ("usb:0x04b8:0x0e28", "USB 04b8:0e28"),
        ("usb:1208:3624", "USB 04b8:0e28"),
        ("network:10.0.0.5", "10.0.0.5:9100"),
        ("network:printer.local:9101", "printer.local:9101"),
        ("network:[fe80::1]:9100", "fe80::1:9100"),
        ("serial:/dev/ttyUSB0", "/dev/ttyUSB0"),
        ("serial:/dev/ttyUSB0:38400", "/dev/ttyUSB0"),
        ("file:/dev/usb/lp0", "/dev/usb/lp0"),
    ],
)
def test_specs(spec: str, where: str) -> None:
    p = make_printer(spec)
    assert isinstance(p, EscposTicketPrinter)
    assert p.transport.where == where
    assert p.width_dots == 576


def test_profile_width() -> None:
    p = make_printer("dummy", profile="TM-T88V")
    assert isinstance(p, EscposTicketPrinter) and p.width_dots == 512 and p.layout.dpi == 180
    assert make_printer("dummy", paper_mm=58).layout.width_dots == 384  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "not a printer"),
        ("laser", "not a printer"),
        ("usb:04b8", "usb:VENDOR:PRODUCT"),
        ("usb:0xZZ:0x0e28", "not a number"),
        ("usb:0x10000:1", "out of range"),
        ("network:", "network:HOST"),
        ("network:host:port", "port"),
        ("network:host:70000", "port"),
        ("serial:", "serial:<device>"),
        ("serial:/dev/ttyS0:1234", "serial speed"),
        ("file:", "file:<device>"),
        ("png:", "png:<folder>"),
        ("dummy:x", "not a printer"),
    ],
)
def test_bad_specs(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        make_printer(spec)


def test_layout_options_checked() -> None:
    with pytest.raises(ValueError):
        TicketLayout(number_style="huge")
    with pytest.raises(ValueError):
        make_printer("dummy", paper_mm=76)
