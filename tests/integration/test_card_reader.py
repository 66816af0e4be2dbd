"""The PC/SC card reader against a real pcscd with vsmartcard's virtual reader.

The cards are fakes from tests/support/vcard.py that answer APDUs as real cards do; the
pcscd is private to the test session (tests/support/pcsc.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kiosk.hardware import CardInfo, CardReader
from kiosk.reader import PcscReader, make_reader
from tests.support.pcsc import PrivatePcscd
from tests.support.vcard import (
    AUTH_CERT_FID,
    PLAIN_ATR,
    SIGN_CERT_FID,
    TEST_PERSON,
    VirtualCard,
    contactless_card,
    fineid_card,
    plain_card,
)

TIMEOUT = 20.0  # generous: a busy 2-core machine; pcscd polls cards every 400 ms


class Events:
    """What the reader's callbacks said, in order, with waiting for the next ones."""

    def __init__(self, reader: CardReader) -> None:
        self.items: list[tuple[str, Any]] = []
        self._cond = threading.Condition()
        reader.on_insert = lambda info: self._add("insert", info)
        reader.on_remove = lambda: self._add("remove", None)
        reader.on_status = lambda status: self._add("status", status)

    def _add(self, kind: str, value: Any) -> None:
        with self._cond:
            self.items.append((kind, value))
            self._cond.notify_all()

    def wait_for(self, kind: str, value: Any = None, since: int = 0) -> Any:
        """The first `kind` event (with `value`, if given) at or after index `since`."""

        def found() -> tuple[str, Any] | None:
            return next(
                (
                    e
                    for e in self.items[since:]
                    if e[0] == kind and (value is None or e[1] == value)
                ),
                None,
            )

        with self._cond:
            if not self._cond.wait_for(found, timeout=TIMEOUT):
                raise AssertionError(f"no {kind} {value or ''} within {TIMEOUT}s: {self.items}")
            event = found()
            assert event is not None
            return event[1]

    def mark(self) -> int:
        with self._cond:
            return len(self.items)

    def kinds(self, since: int = 0) -> list[str]:
        with self._cond:
            return [k for k, _ in self.items[since:]]


def wait_until(check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def reader(pcscd: PrivatePcscd) -> Iterator[PcscReader]:
    r = make_reader(f"pcsc:{pcscd.reader_name}")
    assert isinstance(r, PcscReader)
    yield r
    r.stop()


@pytest.fixture
def events(reader: PcscReader) -> Events:
    ev = Events(reader)
    reader.start()
    ev.wait_for("status", "ok")
    return ev


def test_finnish_id_card_gives_satu_and_name(
    pcscd: PrivatePcscd, reader: PcscReader, events: Events
) -> None:
    card = fineid_card()
    with VirtualCard(card, pcscd.port):
        info: CardInfo = events.wait_for("insert")
        assert info.kind == "fi-id"
        assert info.identifier == TEST_PERSON.satu
        assert info.name == "Anna-Liisa Specimen-Poika"
        assert info.reader == pcscd.reader_name
        assert info.atr == card.atr.hex().upper()
        assert TEST_PERSON.satu not in repr(info)  # stays out of logs
        # The authentication certificate was read, not the signature or CA certificate.
        assert AUTH_CERT_FID in card.read_fids
        assert SIGN_CERT_FID not in card.read_fids
        # Nothing but SELECT, READ BINARY (and GET RESPONSE) went to the card: no PIN.
        assert {apdu[1] for apdu in card.log} <= {0xA4, 0xB0, 0xC0}
        mark = events.mark()
    events.wait_for("remove", since=mark)
    assert reader.status() == "ok"
    assert events.kinds().count("insert") == 1


def test_other_cards_give_uid_or_atr(pcscd: PrivatePcscd, events: Events) -> None:
    with VirtualCard(contactless_card(bytes.fromhex("04A1B2C3D4E580")), pcscd.port):
        info: CardInfo = events.wait_for("insert")
        assert (info.kind, info.identifier, info.name) == ("other", "04A1B2C3D4E580", None)
        mark = events.mark()
    events.wait_for("remove", since=mark)

    mark = events.mark()
    with VirtualCard(plain_card(), pcscd.port):  # no UID: the ATR is what there is
        info = events.wait_for("insert", since=mark)
        assert (info.kind, info.identifier) == ("other", PLAIN_ATR.hex().upper())
        mark = events.mark()
    events.wait_for("remove", since=mark)


def test_card_pulled_mid_read(pcscd: PrivatePcscd, reader: PcscReader, events: Events) -> None:
    card = VirtualCard(fineid_card(), pcscd.port)
    card.pull_on_read = True  # gone at the first READ BINARY, without an answer
    card.insert()
    events.wait_for("remove")
    assert "insert" not in events.kinds()
    assert not card.inserted
    # The reader goes on: the next card is read as usual.
    mark = events.mark()
    with VirtualCard(fineid_card(), pcscd.port):
        info = events.wait_for("insert", since=mark)
        assert info.identifier == TEST_PERSON.satu
    assert reader.status() == "ok"


def test_pcscd_stopped_and_started_again(
    pcscd: PrivatePcscd, reader: PcscReader, events: Events
) -> None:
    card = VirtualCard(contactless_card(), pcscd.port)
    card.insert()
    events.wait_for("insert")
    mark = events.mark()
    pcscd.stop()
    events.wait_for("status", "absent", since=mark)
    events.wait_for("remove", since=mark)  # the card went with the reader
    assert reader.status() == "absent"
    card.remove()

    mark = events.mark()
    pcscd.start()
    events.wait_for("status", "ok", since=mark)
    assert reader.status() == "ok"
    with VirtualCard(fineid_card(), pcscd.port):
        assert events.wait_for("insert", since=mark).kind == "fi-id"


def test_reader_started_before_pcscd(pcscd: PrivatePcscd) -> None:
    pcscd.stop()
    r = make_reader("pcsc")  # the first reader, whatever its name
    assert isinstance(r, PcscReader)
    r.retry_interval = 0.5
    ev = Events(r)
    r.start()
    try:
        ev.wait_for("status", "absent")
        assert r.status() == "absent"
        pcscd.start()
        ev.wait_for("status", "ok")
        wait_until(lambda: r.reader_name is not None)
        assert r.reader_name == pcscd.reader_name  # vpcd's first slot comes first
    finally:
        r.stop()


def test_no_matching_reader_is_absent(pcscd: PrivatePcscd) -> None:
    r = make_reader("pcsc:no such reader")
    ev = Events(r)
    r.start()
    try:
        ev.wait_for("status", "absent")
        assert r.status() == "absent"
    finally:
        r.stop()


def test_fake_card_answers_like_a_card(pcscd: PrivatePcscd) -> None:
    """The fake card itself, straight through pcscd: SELECT, READ BINARY and their errors."""
    from smartcard.scard import (
        SCARD_LEAVE_CARD,
        SCARD_PROTOCOL_T0,
        SCARD_PROTOCOL_T1,
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCARD_SHARE_SHARED,
        SCardConnect,
        SCardDisconnect,
        SCardEstablishContext,
        SCardReleaseContext,
        SCardTransmit,
    )

    rv, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    assert rv == SCARD_S_SUCCESS
    with VirtualCard(fineid_card(), pcscd.port):
        deadline = time.monotonic() + TIMEOUT
        while True:
            rv, card, proto = SCardConnect(
                ctx, pcscd.reader_name, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1
            )
            if rv == SCARD_S_SUCCESS or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert rv == SCARD_S_SUCCESS

        def send(hexapdu: str) -> str:
            rv, resp = SCardTransmit(card, proto, list(bytes.fromhex(hexapdu)))
            assert rv == SCARD_S_SUCCESS
            return bytes(resp).hex().upper()

        try:
            assert send("00A4040C0CA000000063504B43532D3135") == "9000"
            assert send("00A4000C025099") == "6A82"  # no such file
            assert send("00B0000010") == "6986"  # no EF selected yet
            fci = send("00A40000025031")  # FCI wanted: 61xx, then GET RESPONSE
            assert fci.startswith("61")
            fcp = send("00C00000" + fci[2:])
            assert fcp.startswith("62") and fcp.endswith("9000")
            assert send("00B0000002") == "A80A9000"  # the ODF's first entry begins
            size = int(fcp[fcp.index("8002") + 4 :][:4], 16)
            assert send(f"00B0{size - 2:04X}10").endswith("6282")  # fewer bytes than asked
            assert send(f"00B0{size + 1:04X}10") == "6B00"  # offset past the end
            assert send("00E2000000") == "6D00"  # unknown instruction
            assert send("FFCA000000") == "6E00"  # a contact card has no UID
        finally:
            SCardDisconnect(card, SCARD_LEAVE_CARD)
            SCardReleaseContext(ctx)


def test_make_reader_rejects_unknown_specs() -> None:
    for spec in ("bogus", "pcsc:", "fake:x", "usb:0x04b8", ""):
        with pytest.raises(ValueError, match="card reader"):
            make_reader(spec)
