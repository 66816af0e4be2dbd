"""The ticket printer over a real TCP connection (python-escpos `Network`) to a fake
Epson on 127.0.0.1 that records what it gets and answers DLE EOT status queries."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from kiosk.escpos_render import render
from kiosk.hardware import TicketView
from kiosk.printer import DummyTicketPrinter, EscposTicketPrinter, make_printer
from kiosk.ticket_text import ticket_view

REPLY = {
    "number": "B007",
    "queue": "q-tax",
    "service": "tax",
    "position": 2,
    "eta_min": 6,
    "issued_at": "2026-11-24T07:41:05.123Z",
    "status_url": "https://vuoro.example.fi/t/z9y8x7",
    "appointment": None,
}

# Real-time status bytes as an Epson TM-T20 sends them.
PRINTER_ONLINE, PRINTER_OFFLINE = 0x12, 0x1A
CAUSE = {"ok": 0x12, "paper_out": 0x32, "cover": 0x16}
PAPER = {"ok": 0x12, "low": 0x1E, "out": 0x7E}


class FakeEpson:
    """A network printer on port 9100's protocol: one connection at a time, every
    byte recorded per connection, `DLE EOT n` answered at once."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.paper = "ok"  # ok / low / out
        self.cover_open = False
        self.answers = True
        self.connections: list[bytearray] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _status(self, n: int) -> int:
        offline = self.paper == "out" or self.cover_open
        if n == 1:
            return PRINTER_OFFLINE if offline else PRINTER_ONLINE
        if n == 2:
            if self.paper == "out":
                return CAUSE["paper_out"]
            return CAUSE["cover"] if self.cover_open else CAUSE["ok"]
        if n == 4:
            return PAPER[self.paper]
        return 0x12

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            got = bytearray()
            with self.lock:
                self.connections.append(got)
            conn.settimeout(0.2)
            with conn:
                while not self._stop.is_set():
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not chunk:
                        break
                    with self.lock:
                        start = max(len(got) - 2, 0)
                        got.extend(chunk)
                        tail = bytes(got[start:])
                    if not self.answers:
                        continue
                    i = tail.find(b"\x10\x04")
                    while 0 <= i < len(tail) - 2:
                        conn.sendall(bytes((self._status(tail[i + 2]),)))
                        i = tail.find(b"\x10\x04", i + 3)

    def jobs(self) -> list[bytes]:
        """What each connection sent, without the status queries."""
        with self.lock:
            return [bytes(c) for c in self.connections if not bytes(c).startswith(b"\x10\x04")]

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def epson() -> Iterator[FakeEpson]:
    fake = FakeEpson()
    yield fake
    fake.stop()


def view(lang: str = "fi") -> TicketView:
    return ticket_view(
        REPLY,
        service_name={
            "fi": "Verohallinto",
            "sv": "Skatteförvaltningen",
            "en": "Tax Administration",
        },
        site_name={"fi": "Yhteispalvelupiste Åänekoski", "sv": "Samservicepunkt Äänekoski"},
        lang=lang,
        instructions={"fi": "Pidä verokortti käden ulottuvilla."},
    )


def printer_for(fake: FakeEpson) -> EscposTicketPrinter:
    p = make_printer(f"network:127.0.0.1:{fake.port}")
    assert isinstance(p, EscposTicketPrinter)
    p.cache_seconds = 0  # every status() asks the printer
    return p


def _wait_for(cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_prints_the_dummy_bytes(epson: FakeEpson, lang: str) -> None:
    dummy = make_printer("dummy")
    assert isinstance(dummy, DummyTicketPrinter)
    assert dummy.print_ticket(view(lang)).ok
    p = printer_for(epson)
    r = p.print_ticket(view(lang))
    assert (r.ok, r.status, r.error) == (True, "ok", None)
    assert _wait_for(lambda: len(epson.jobs()) == 1 and epson.jobs()[0] == dummy.last_bytes)
    assert epson.jobs()[0] == dummy.last_bytes
    assert render(epson.jobs()[0]).size == render(dummy.last_bytes or b"").size
    p.close()


def test_status_mapping(epson: FakeEpson) -> None:
    p = printer_for(epson)
    assert p.status() == "ok"
    epson.paper = "low"
    assert p.status() == "paper_low"
    r = p.print_ticket(view())
    assert (r.ok, r.status) == (True, "paper_low")  # still prints, but says so
    epson.paper = "out"
    assert p.status() == "paper_out"
    r = p.print_ticket(view())
    assert (r.ok, r.status) == (False, "paper_out") and "paper" in (r.error or "")
    epson.paper = "ok"
    epson.cover_open = True
    assert p.status() == "error"
    epson.cover_open = False
    assert p.status() == "ok"
    assert len(epson.jobs()) == 1  # the paper-out ticket was never sent


def test_status_cached(epson: FakeEpson) -> None:
    p = printer_for(epson)
    p.cache_seconds = 60
    assert p.status() == "ok"
    epson.paper = "out"
    assert p.status() == "ok"  # from the cache
    p.cache_seconds = 0
    assert p.status() == "paper_out"


def test_printer_that_does_not_answer_status(epson: FakeEpson) -> None:
    epson.answers = False
    p = printer_for(epson)
    p.status_timeout = 0.2
    assert p.status() == "ok"  # reachable, paper unknown
    r = p.print_ticket(view())
    assert r.ok
    assert _wait_for(lambda: len(epson.jobs()) == 1)


def test_server_down_is_a_result_not_an_exception() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    p = make_printer(f"network:127.0.0.1:{port}")
    assert p.status() == "absent"
    r = p.print_ticket(view())
    assert r.ok is False and r.status == "absent"
    assert r.error == f"Printer not found at 127.0.0.1:{port} (connection refused)"


def test_png_printer_writes_a_file(tmp_path: Path) -> None:
    p = make_printer(f"png:{tmp_path}")
    r = p.print_ticket(view("sv"))
    assert r.ok and r.png_path
    img = Image.open(r.png_path)
    assert img.width == 576 and img.height > 600


def test_status_polled_while_printing(epson: FakeEpson) -> None:
    """A timer thread polls status while the UI thread prints: no errors, no mixing."""
    p = printer_for(epson)
    stop = threading.Event()
    seen: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            seen.append(p.status())
            time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        results = [p.print_ticket(view(lang)) for lang in ("fi", "sv", "en")]
    finally:
        stop.set()
        poller.join(5)
    assert all(r.ok for r in results)
    assert set(seen) <= {"ok"}
    assert _wait_for(lambda: len(epson.jobs()) == 3)
    dummy = make_printer("dummy")
    assert isinstance(dummy, DummyTicketPrinter)
    expected = []
    for lang in ("fi", "sv", "en"):
        dummy.print_ticket(view(lang))
        expected.append(dummy.last_bytes)
    assert epson.jobs() == expected
