"""The kiosk's hardware interfaces: a card reader and a ticket printer.

Like gpiozero's pin factories, each has a real adapter and a fake behind one small
interface, chosen by a config string (see `kiosk/reader.py` and `kiosk/printer.py`):

    reader  = "pcsc"          # the first PC/SC reader; "pcsc:<name part>" picks one
            | "fake"          # keys or tests insert cards (make demo, tests)
            | "none"
    printer = "usb:0x04b8:0x0e28" | "network:10.0.0.5" | "network:10.0.0.5:9100"
            | "serial:/dev/ttyUSB0" | "file:/dev/usb/lp0" | "dummy" | "png:<folder>" | "none"

The UI (kiosk/app.py) only sees these classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ReaderStatus = Literal["ok", "absent"]
PrinterStatus = Literal["ok", "paper_low", "paper_out", "error", "absent"]


@dataclass(frozen=True)
class CardInfo:
    """What a card told the reader. Never holds an identity code.

    `kind`: "fi-id" for a Finnish identity card (the citizen certificate read without a
    PIN: `identifier` is the certificate holder's electronic identifier (SATU) and
    `name` the holder's name), or "other" (any other card: `identifier` is its UID).
    `identifier` is what the kiosk sends as `checkin` `by: "card"`.
    """

    kind: Literal["fi-id", "other"]
    identifier: str
    name: str | None = None
    reader: str = ""
    atr: str = ""

    def __repr__(self) -> str:  # names and identifiers stay out of logs
        return f"CardInfo(kind={self.kind!r}, reader={self.reader!r})"


class CardReader(ABC):
    """Watches for cards. Callbacks run on the reader's own thread."""

    def __init__(self) -> None:
        self.on_insert: Callable[[CardInfo], None] | None = None
        self.on_remove: Callable[[], None] | None = None
        self.on_status: Callable[[ReaderStatus], None] | None = None

    @abstractmethod
    def start(self) -> None:
        """Begin watching (returns at once)."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def status(self) -> ReaderStatus:
        """ "ok" while a reader is connected, "absent" otherwise (unplugged, no pcscd)."""


@dataclass
class TicketView:
    """Everything printed on (or shown instead of) a ticket, already in one language."""

    lang: str
    site_name: str
    number: str
    service_name: str
    position: int
    eta_min: int
    issued_at: str  # local time text, e.g. "24.11.2026 klo 9.41"
    status_url: str | None = None
    instructions: str | None = None
    appointment: str | None = None  # e.g. "Varaus klo 9.30, Aino Virtanen"
    offline: bool = False  # issued while the scheduler could not be reached
    labels: dict[str, str] = field(default_factory=dict)  # translated captions


@dataclass(frozen=True)
class PrintResult:
    ok: bool
    status: PrinterStatus
    error: str | None = None  # plain words for the log and the admin page
    png_path: str | None = None  # where a "png:" printer rendered the ticket


class TicketPrinter(ABC):
    @abstractmethod
    def print_ticket(self, ticket: TicketView) -> PrintResult:
        """Print and cut. Never raises: failures come back as `ok=False`."""

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Paper and connection state, polled where the printer reports it."""

    def close(self) -> None:  # noqa: B027 - optional
        pass
