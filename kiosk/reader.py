"""Card readers: PC/SC through pyscard, a fake for the demo and the tests, or none.

    make_reader("pcsc")                # the first PC/SC reader pcscd shows
    make_reader("pcsc:Identiv")        # the first whose name contains "Identiv" (any case)
    make_reader("fake")                # FakeReader: keys or tests insert cards
    make_reader("none")                # no reader: status() stays "absent"

What is read from a card (see docs/hardware.md):

- A Finnish identity card: the PKCS#15 application (AID A0 00 00 00 63 50 4B 43 53 2D 31
  35), its ODF, the certificate directory (CDF) it points to, and the holder's
  authentication certificate, which the card gives without a PIN. From that certificate
  only the subject's serialNumber (the electronic identifier, SATU) and name are kept:
  `CardInfo(kind="fi-id", identifier=<SATU>, name=<given names surname>)`. No PIN is asked,
  nothing is signed, and the identity code (henkilötunnus) is not on the certificate and
  is never read.
- Any other card: its UID through the PC/SC pseudo-APDU FF CA 00 00 00, or when the
  reader or card has none, its ATR: `CardInfo(kind="other", identifier=<hex>)`.

The parsing below (`parse_odf`, `parse_cdf`, `holder_from_certificate`, `read_card`) does
no I/O: `read_card` talks to the card through a `transmit` function, which the PC/SC
reader backs with SCardTransmit and the unit tests with a fake card.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from kiosk.hardware import CardInfo, CardReader, ReaderStatus

log = logging.getLogger(__name__)

FINEID_AID = bytes.fromhex("A000000063504B43532D3135")  # "PKCS-15" under RID A000000063
PKCS15_APP_PATH = bytes.fromhex("3F005015")
ODF_FID = bytes.fromhex("5031")
MF = bytes.fromhex("3F00")
GET_UID = bytes.fromhex("FFCA000000")
CHUNK = 0xE0  # bytes per READ BINARY; every card and reader takes this
MAX_FILE = 16 * 1024  # no file we read is larger (certificates are 1-2 KiB)
MAX_APDUS = 300  # per card: a card that never stops answering "more" is cut off


class CardGone(Exception):
    """The card (or the reader, or pcscd) went away in the middle of a read."""


class CardError(Exception):
    """The card answered, but not what was asked for (not a FINEID card, no such file)."""


Transmit = Callable[[bytes], bytes]
"""Send one command APDU, return the response (data + SW1 SW2); raise CardGone."""


# --- DER and PKCS#15 (pure) --------------------------------------------------------------


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The BER-TLVs of `data` in order; stops at padding (00 or FF where a tag should be)."""
    i = 0
    while i < len(data):
        tag = data[i]
        if tag in (0x00, 0xFF):
            return
        i += 1
        if tag & 0x1F == 0x1F:  # multi-byte tag
            while i < len(data) and data[i] & 0x80:
                tag = (tag << 8) | data[i]
                i += 1
            if i >= len(data):
                raise CardError("truncated tag")
            tag = (tag << 8) | data[i]
            i += 1
        length, i = _read_length(data, i)
        if i + length > len(data):
            raise CardError("truncated TLV")
        yield tag, data[i : i + length]
        i += length


def _read_length(data: bytes, i: int) -> tuple[int, int]:
    if i >= len(data):
        raise CardError("truncated length")
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 3 or i + 1 + n > len(data):
        raise CardError("bad length")
    return int.from_bytes(data[i + 1 : i + 1 + n], "big"), i + 1 + n


def der_total_length(head: bytes) -> int:
    """How long the DER object starting `head` is, header included (head: its first bytes)."""
    if len(head) < 2:
        raise CardError("too short for DER")
    length, end = _read_length(head, 1)
    return end + length


@dataclass(frozen=True)
class CertRef:
    """One certificate listed in a PKCS#15 CDF: where it is and what it is."""

    label: str
    path: bytes
    index: int | None = None
    length: int | None = None
    authority: bool = False


def _path(value: bytes) -> tuple[bytes, int | None, int | None]:
    """A PKCS#15 Path's content: path OCTET STRING, index INTEGER, length [0] INTEGER."""
    path, index, length = b"", None, None
    for tag, v in iter_tlv(value):
        if tag == 0x04:
            path = v
        elif tag == 0x02:
            index = int.from_bytes(v, "big")
        elif tag == 0x80:
            length = int.from_bytes(v, "big")
    if not path or len(path) % 2:
        raise CardError("bad PKCS#15 path")
    return path, index, length


def parse_odf(data: bytes) -> list[bytes]:
    """The paths of the certificate directory files (`certificates [4]`) an ODF lists."""
    paths = []
    for tag, value in iter_tlv(data):
        if tag == 0xA4:
            for inner_tag, inner in iter_tlv(value):
                if inner_tag == 0x30:
                    paths.append(_path(inner)[0])
    return paths


def parse_cdf(data: bytes) -> list[CertRef]:
    """The X.509 certificate objects of a CDF (other kinds of objects are skipped)."""
    refs = []
    for tag, obj in iter_tlv(data):
        if tag != 0x30:
            continue
        parts = list(iter_tlv(obj))
        seqs = [v for t, v in parts if t == 0x30]
        label, authority = "", False
        if seqs:  # CommonObjectAttributes: label UTF8String, flags, ...
            label = next(
                (v.decode("utf-8", "replace") for t, v in iter_tlv(seqs[0]) if t == 0x0C), ""
            )
        if len(seqs) > 1:  # CommonCertificateAttributes: iD, authority BOOLEAN, ...
            authority = any(t == 0x01 and v[:1] not in (b"", b"\x00") for t, v in iter_tlv(seqs[1]))
        typ = next((v for t, v in parts if t == 0xA1), None)
        if typ is None:
            continue
        # [1] { X509CertificateAttributes SEQUENCE { value Path SEQUENCE {...}, ... } }
        attrs = next((v for t, v in iter_tlv(typ) if t == 0x30), b"")
        value = next((v for t, v in iter_tlv(attrs) if t == 0x30), None)
        if value is None:
            continue  # a certificate stored in the CDF itself, or a URL: not on FINEID cards
        path, index, length = _path(value)
        refs.append(CertRef(label, path, index, length, authority))
    return refs


_AUTH_LABELS = ("todentamis", "authentication", "autentiser", "auth")


def order_certificates(refs: list[CertRef]) -> list[CertRef]:
    """The holder's certificates, the authentication one first; CA certificates dropped."""
    own = [r for r in refs if not r.authority]
    return sorted(own, key=lambda r: not any(w in r.label.lower() for w in _AUTH_LABELS))


def holder_from_certificate(der: bytes) -> tuple[str, str | None] | None:
    """(SATU, name) from a citizen certificate's subject; None if it names no holder."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise CardError(f"not an X.509 certificate: {e}") from None
    subject = cert.subject

    def first(oid: x509.ObjectIdentifier) -> str | None:
        attrs = subject.get_attributes_for_oid(oid)
        value = attrs[0].value if attrs else None
        return value.strip() if isinstance(value, str) and value.strip() else None

    satu = first(NameOID.SERIAL_NUMBER)
    if satu is None:
        return None
    given, surname = first(NameOID.GIVEN_NAME), first(NameOID.SURNAME)
    if given and surname:
        name: str | None = f"{given} {surname}"
    else:  # the DVV's CN is "SURNAME GIVEN NAMES SATU"
        cn = first(NameOID.COMMON_NAME) or ""
        words = [w for w in cn.split() if w != satu]
        name = " ".join(words) or None
    if name and name.isupper():  # the DVV writes names in capitals
        name = name.title()
    return satu, name


# --- talking to the card (over a transmit function) ---------------------------------------


class _Apdu:
    """ISO 7816-4 commands over `transmit`: GET RESPONSE for 61xx, re-send for 6Cxx."""

    def __init__(self, transmit: Transmit) -> None:
        self._transmit = transmit
        self.count = 0

    def send(self, apdu: bytes) -> tuple[bytes, int]:
        data = b""
        while True:
            self.count += 1
            if self.count > MAX_APDUS:
                raise CardError("too many APDUs")
            resp = self._transmit(apdu)
            if len(resp) < 2:
                raise CardGone("no status word (card removed?)")
            body, sw1, sw2 = resp[:-2], resp[-2], resp[-1]
            data += body
            if sw1 == 0x61:  # more data waiting
                cla = 0x00 if apdu[0] == 0xFF else apdu[0] & 0x03  # keep the channel
                apdu = bytes([cla, 0xC0, 0, 0, sw2])
            elif sw1 == 0x6C and len(apdu) >= 5:  # wrong Le; sw2 is the right one
                apdu = apdu[:-1] + bytes([sw2])
            else:
                return data, (sw1 << 8) | sw2

    def select(self, p1: int, data: bytes) -> int:
        _, sw = self.send(bytes([0x00, 0xA4, p1, 0x0C, len(data)]) + data)
        if sw in (0x6A86, 0x6A87):  # "no response data" not supported: ask for FCI
            _, sw = self.send(bytes([0x00, 0xA4, p1, 0x00, len(data)]) + data + b"\x00")
        return sw

    def select_path(self, path: bytes) -> None:
        """Select a PKCS#15 path: absolute (from 3F00) or relative to the application."""
        if path[:2] == MF:
            rest = path[2:]
            if rest and self.select(0x08, rest) == 0x9000:
                return
            fids = [path[i : i + 2] for i in range(0, len(path), 2)]
        else:
            self.select_app()
            fids = [path[i : i + 2] for i in range(0, len(path), 2)]
        for fid in fids:
            sw = self.select(0x00, fid)
            if sw != 0x9000:
                raise CardError(f"SELECT {fid.hex()}: {sw:04X}")

    def select_app(self) -> None:
        if self.select(0x04, FINEID_AID) == 0x9000:
            return
        for fid in (MF, PKCS15_APP_PATH[2:]):
            sw = self.select(0x00, fid)
            if sw != 0x9000:
                raise CardError(f"no PKCS#15 application: {sw:04X}")

    def read(self, offset: int = 0, length: int | None = None) -> bytes:
        """READ BINARY of the current EF from `offset`: `length` bytes or up to its end."""
        out = b""
        limit = length if length is not None else MAX_FILE
        while len(out) < limit:
            pos = offset + len(out)
            if pos > 0x7FFF:
                break
            want = min(CHUNK, limit - len(out))
            data, sw = self.send(bytes([0x00, 0xB0, pos >> 8, pos & 0xFF, want]))
            if sw == 0x6B00 and out:  # offset past the end: the file ended exactly
                break
            if sw not in (0x9000, 0x6282):
                raise CardError(f"READ BINARY at {pos}: {sw:04X}")
            out += data
            if sw == 0x6282 or len(data) < want:
                break
        return out

    def read_certificate(self, ref: CertRef) -> bytes:
        self.select_path(ref.path)
        start = ref.index or 0
        if ref.length is not None:
            return self.read(start, ref.length)
        head = self.read(start, 8)
        return head + self.read(start + len(head), der_total_length(head) - len(head))


def read_fineid(transmit: Transmit) -> tuple[str, str | None]:
    """(SATU, name) from a Finnish identity card; CardError if it is not one."""
    card = _Apdu(transmit)
    card.select_app()
    if card.select(0x00, ODF_FID) != 0x9000:
        raise CardError("no ODF")
    cdf_paths = parse_odf(card.read())
    if not cdf_paths:
        raise CardError("the ODF lists no certificates")
    refs: list[CertRef] = []
    for path in cdf_paths:
        card.select_path(path)
        refs += parse_cdf(card.read())
    for ref in order_certificates(refs):
        holder = holder_from_certificate(card.read_certificate(ref))
        if holder is not None:
            return holder
    raise CardError("no certificate names a holder")


def read_uid(transmit: Transmit) -> str | None:
    """The card's UID (hex) through the PC/SC reader's FF CA pseudo-APDU, if it has one."""
    data, sw = _Apdu(transmit).send(GET_UID)
    return data.hex().upper() if sw == 0x9000 and data else None


def read_card(transmit: Transmit, atr: bytes, reader: str = "") -> CardInfo:
    """Identify the card: FINEID certificate, else UID, else ATR. CardGone if it left."""
    atr_hex = atr.hex().upper()
    try:
        satu, name = read_fineid(transmit)
        return CardInfo("fi-id", satu, name, reader=reader, atr=atr_hex)
    except CardError as e:
        log.debug("not a Finnish ID card: %s", e)
    try:
        uid = read_uid(transmit)
    except CardError:
        uid = None
    return CardInfo("other", uid or atr_hex, None, reader=reader, atr=atr_hex)


# --- readers ------------------------------------------------------------------------------


class _Callbacks(CardReader):
    """Callbacks that never take the reader down with them."""

    def _emit(self, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception("card reader callback failed")


def _gone_codes() -> tuple[int, ...]:
    from smartcard import scard

    names = (
        "SCARD_W_REMOVED_CARD",
        "SCARD_E_NO_SMARTCARD",
        "SCARD_W_RESET_CARD",
        "SCARD_E_NO_SERVICE",
        "SCARD_E_SERVICE_STOPPED",
        "SCARD_E_READER_UNAVAILABLE",
        "SCARD_E_UNKNOWN_READER",
        "SCARD_E_INVALID_HANDLE",
    )
    return tuple(getattr(scard, n) for n in names if hasattr(scard, n))


class PcscReader(_Callbacks):
    """A PC/SC reader through pcscd, watched by a thread that never gives up.

    The thread polls with SCardGetStatusChange (short timeouts, so `stop()` and a reader
    that appears later are seen quickly). pcscd not running, restarted, or the reader
    unplugged: status "absent" (on_status tells), and the thread tries again every
    `retry_interval` seconds with a new PC/SC context. A card is read once per insertion
    (pcsc-lite counts insertions in the high word of the event state).
    """

    REREAD_AFTER = 0.6  # seconds; pcscd looks for cards every 400 ms

    def __init__(
        self, name_part: str = "", retry_interval: float = 2.0, poll_interval: float = 0.5
    ) -> None:
        super().__init__()
        self.name_part = name_part
        self.retry_interval = retry_interval
        self.poll_interval = poll_interval
        self._status: ReaderStatus = "absent"
        self._told_status: ReaderStatus | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._ctx: Any = None
        self._reader: str | None = None
        self._state = 0  # the reader's last event state, passed back to GetStatusChange
        self._handled: tuple[str, int] | None = None  # (reader, insertion count) read
        self._card_in = False  # a card is in, as far as the callbacks were told

    # CardReader
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="card-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._ctx is not None:
                from smartcard import scard

                with contextlib.suppress(Exception):
                    scard.SCardCancel(self._ctx)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def status(self) -> ReaderStatus:
        return self._status

    @property
    def reader_name(self) -> str | None:
        """The PC/SC name of the reader being watched, if any."""
        return self._reader

    # the thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._step()
            except Exception:  # never let a surprise end the thread
                log.exception("card reader loop failed; retrying")
                self._drop_context()
                wait = self.retry_interval
            if wait:
                self._stop.wait(wait)
        self._drop_context()

    def _step(self) -> float:
        """One round; returns how long to wait before the next."""
        from smartcard import scard

        if self._ctx is None:
            rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if rv != scard.SCARD_S_SUCCESS:
                self._absent(f"no pcscd: {scard.SCardGetErrorMessage(rv)}")
                return self.retry_interval
            with self._lock:
                self._ctx = ctx
        reader = self._pick_reader()
        if reader is None:
            return self.retry_interval if self._ctx is None else self.poll_interval
        if reader != self._reader:
            self._reader, self._state = reader, scard.SCARD_STATE_UNAWARE
        self._set_status("ok")
        timeout_ms = int(self.poll_interval * 1000)
        rv, states = scard.SCardGetStatusChange(self._ctx, timeout_ms, [(reader, self._state)])
        if rv == scard.SCARD_E_TIMEOUT or self._stop.is_set():
            return 0
        if rv != scard.SCARD_S_SUCCESS:
            if rv in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
                self._lose_reader()
                return 0  # listed again on the next round
            self._drop_context()
            self._absent(f"pcscd: {scard.SCardGetErrorMessage(rv)}")
            return self.retry_interval
        _, event, atr = states[0]
        self._state = event & ~scard.SCARD_STATE_CHANGED
        if event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            self._lose_reader()  # unplugged
            return self.poll_interval
        if event & scard.SCARD_STATE_PRESENT and not event & scard.SCARD_STATE_MUTE:
            insertion = (reader, event >> 16)
            if insertion != self._handled:
                self._card_gone()  # a different card than the one before (swapped quickly)
                self._handled = insertion
                self._card_in = True
                self._read(reader, bytes(atr))
        elif not event & scard.SCARD_STATE_PRESENT:
            self._card_gone()
        return 0

    def _pick_reader(self) -> str | None:
        from smartcard import scard

        rv, names = scard.SCardListReaders(self._ctx, [])
        if rv == scard.SCARD_E_NO_READERS_AVAILABLE or (rv == scard.SCARD_S_SUCCESS and not names):
            self._absent("no card reader connected")
            return None
        if rv != scard.SCARD_S_SUCCESS:
            self._drop_context()
            self._absent(f"pcscd: {scard.SCardGetErrorMessage(rv)}")
            return None
        part = self.name_part.lower()
        found = next((n for n in names if part in n.lower()), None)
        if found is None:
            self._absent(f"no card reader named like {self.name_part!r}")
        return found

    def _read(self, reader: str, atr: bytes) -> None:
        """Read the card just seen; on_insert, or on_remove if it left before it was read.

        A read that fails because the card went away is tried once more after a moment
        if pcscd still shows a card (a card pushed back in at once, or a glitch).
        """
        from smartcard import scard

        for attempt in range(2):
            info = self._read_once(reader, atr)
            if info is not None:
                log.info("card read: %r", info)
                self._emit(self.on_insert, info)
                return
            if attempt or self._stop.wait(self.REREAD_AFTER):
                break
            rv, states = scard.SCardGetStatusChange(
                self._ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
            )
            if rv != scard.SCARD_S_SUCCESS or not states[0][1] & scard.SCARD_STATE_PRESENT:
                break
            atr = bytes(states[0][2])
        log.info("card removed before it was read")
        self._card_gone()

    def _read_once(self, reader: str, atr: bytes) -> CardInfo | None:
        """The card's CardInfo, or None if the card (or pcscd) went away."""
        from smartcard import scard

        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        rv, card, protocol = scard.SCardConnect(
            self._ctx, reader, scard.SCARD_SHARE_SHARED, protocols
        )
        if rv != scard.SCARD_S_SUCCESS:
            log.info("cannot connect to the card: %s", scard.SCardGetErrorMessage(rv))
            if rv in _gone_codes():
                return None
            # A card that is there but will not talk: its ATR is all there is.
            return CardInfo("other", atr.hex().upper(), reader=reader, atr=atr.hex().upper())

        def transmit(apdu: bytes) -> bytes:
            rv, resp = scard.SCardTransmit(card, protocol, list(apdu))
            if rv != scard.SCARD_S_SUCCESS:
                raise CardGone(scard.SCardGetErrorMessage(rv))
            return bytes(resp)

        try:
            return read_card(transmit, atr, reader)
        except CardGone as e:
            log.info("card removed while reading: %s", e)
            return None
        finally:
            with contextlib.suppress(Exception):
                scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

    # state changes
    def _card_gone(self) -> None:
        if self._card_in:
            self._card_in = False
            self._emit(self.on_remove)

    def _lose_reader(self) -> None:
        self._reader = None
        self._handled = None  # a reader plugged in again counts insertions from 0
        self._card_gone()

    def _absent(self, why: str) -> None:
        if self._status != "absent" or self._told_status is None:
            log.warning("card reader absent: %s", why)
        self._lose_reader()
        self._set_status("absent")

    def _set_status(self, status: ReaderStatus) -> None:
        self._status = status
        if status != self._told_status:
            self._told_status = status
            if status == "ok":
                log.info("card reader ready: %s", self._reader)
            self._emit(self.on_status, status)

    def _drop_context(self) -> None:
        from smartcard import scard

        with self._lock:
            ctx, self._ctx = self._ctx, None
        if ctx is not None:
            with contextlib.suppress(Exception):
                scard.SCardReleaseContext(ctx)


class FakeReader(_Callbacks):
    """A reader the demo's keys and the UI tests put cards into.

    Callbacks run on the caller's thread, at once. `set_status("absent")` plays an
    unplugged reader (a card in it is removed first).
    """

    TEST_CARDS: ClassVar[dict[str, CardInfo]] = {
        # A Finnish identity card of a test person (SATU as on the DVV's test cards).
        "fi-id": CardInfo(
            "fi-id",
            "999198725",
            "Anna-Liisa Specimen-Poika",
            reader="Fake reader",
            atr="3B7F96000080318065B0855956FB120FFE829000",
        ),
        # A library card (MIFARE Classic): only its UID.
        "library": CardInfo(
            "other",
            "04A1B2C3D4E580",
            reader="Fake reader",
            atr="3B8F8001804F0CA000000306030001000000006A",
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self._status: ReaderStatus = "ok"
        self.card: CardInfo | None = None
        self.started = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def status(self) -> ReaderStatus:
        return self._status

    def insert(self, card: CardInfo | str) -> CardInfo:
        """Put a card in (a CardInfo or the name of a test card); returns it."""
        info = self.TEST_CARDS[card] if isinstance(card, str) else card
        if self._status != "ok":
            return info  # no reader, no card
        self.remove()
        self.card = info
        self._emit(self.on_insert, info)
        return info

    def remove(self) -> None:
        if self.card is not None:
            self.card = None
            self._emit(self.on_remove)

    def set_status(self, status: ReaderStatus) -> None:
        if status == "absent":
            self.remove()
        if status != self._status:
            self._status = status
            self._emit(self.on_status, status)


class NoReader(_Callbacks):
    """No card reader configured: the kiosk works with its keypad only."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self) -> ReaderStatus:
        return "absent"


def make_reader(spec: str) -> CardReader:
    """The card reader a config string names: "pcsc", "pcsc:<name part>", "fake", "none"."""
    kind, colon, arg = spec.strip().partition(":")
    if kind == "pcsc":
        if colon and not arg.strip():
            raise ValueError('card reader "pcsc:" needs a part of the reader\'s name after ":"')
        return PcscReader(arg.strip())
    if kind in ("fake", "none") and not colon:
        return FakeReader() if kind == "fake" else NoReader()
    raise ValueError(
        f"unknown card reader {spec!r}: use 'pcsc', 'pcsc:<part of the reader name>', "
        "'fake' or 'none'"
    )
