"""Reading cards without a reader: DER/PKCS#15 parsing, the certificate, the APDU dialogue.

`read_card` talks through a transmit function; here that is the fake card's own
`process` (tests/support/vcard.py), so no pcscd and no socket.
"""

from __future__ import annotations

import pytest

from kiosk.hardware import CardInfo
from kiosk.reader import (
    CardError,
    CardGone,
    CertRef,
    FakeReader,
    NoReader,
    PcscReader,
    der_total_length,
    holder_from_certificate,
    iter_tlv,
    make_reader,
    order_certificates,
    parse_cdf,
    parse_odf,
    read_card,
    read_uid,
)
from tests.support.vcard import (
    AUTH_CERT_FID,
    EF,
    PLAIN_ATR,
    TEST_PERSON,
    Card,
    Person,
    cdf_entry,
    contactless_card,
    fineid_card,
    make_certificates,
    path_obj,
    plain_card,
    tlv,
)


def test_tlv_lengths_and_padding() -> None:
    long = bytes(300)
    data = tlv(0x04, b"ab") + tlv(0x30, long) + tlv(0x0C, bytes(200)) + b"\x00\x00\xff"
    parsed = list(iter_tlv(data))
    assert [(t, len(v)) for t, v in parsed] == [(0x04, 2), (0x30, 300), (0x0C, 200)]
    assert list(iter_tlv(bytes.fromhex("9F2A0101"))) == [(0x9F2A, b"\x01")]
    with pytest.raises(CardError):
        list(iter_tlv(bytes.fromhex("3005AABB")))  # shorter than it says


def test_der_total_length() -> None:
    assert der_total_length(bytes.fromhex("3082012A3082")) == 4 + 0x12A
    assert der_total_length(bytes.fromhex("3081F0")) == 3 + 0xF0
    assert der_total_length(bytes.fromhex("3010")) == 0x12
    with pytest.raises(CardError):
        der_total_length(b"\x30")


def test_parse_odf_finds_certificate_directories() -> None:
    odf = (
        tlv(0xA8, path_obj(bytes.fromhex("3F0050154401")))  # AODF: not certificates
        + tlv(0xA4, path_obj(bytes.fromhex("3F0050154404")))
        + tlv(0xA4, path_obj(bytes.fromhex("4405")))
        + bytes(20)
    )
    assert parse_odf(odf) == [bytes.fromhex("3F0050154404"), bytes.fromhex("4405")]
    assert parse_odf(bytes(16)) == []


def test_parse_cdf_labels_paths_and_authority() -> None:
    with_index = tlv(
        0x30,
        tlv(0x30, tlv(0x0C, b"indexed"))
        + tlv(0x30, tlv(0x04, b"\x47"))
        + tlv(0xA1, tlv(0x30, path_obj(bytes.fromhex("4340"), index=16, length=900))),
    )
    cdf = (
        cdf_entry("CA", b"\x10", bytes.fromhex("3F0050154333"), authority=True)
        + cdf_entry("todentamis- ja salausvarmenne", b"\x45", bytes.fromhex("4331"))
        + tlv(0xA0, b"\x30\x00")  # some other kind of certificate object: skipped
        + with_index
        + bytes(32)
    )
    refs = parse_cdf(cdf)
    assert refs == [
        CertRef("CA", bytes.fromhex("3F0050154333"), authority=True),
        CertRef("todentamis- ja salausvarmenne", bytes.fromhex("4331")),
        CertRef("indexed", bytes.fromhex("4340"), index=16, length=900),
    ]


def test_order_certificates_authentication_first_no_ca() -> None:
    refs = [
        CertRef("CA", b"\x43\x33", authority=True),
        CertRef("allekirjoitusvarmenne", b"\x43\x32"),
        CertRef("todentamis- ja salausvarmenne", b"\x43\x31"),
    ]
    assert [r.label for r in order_certificates(refs)] == [
        "todentamis- ja salausvarmenne",
        "allekirjoitusvarmenne",
    ]


def test_holder_from_certificate() -> None:
    ca, auth, sign = make_certificates()
    assert holder_from_certificate(auth) == (TEST_PERSON.satu, "Anna-Liisa Specimen-Poika")
    assert holder_from_certificate(sign) == (TEST_PERSON.satu, "Anna-Liisa Specimen-Poika")
    assert holder_from_certificate(ca) is None  # no serialNumber: not a holder
    with pytest.raises(CardError):
        holder_from_certificate(b"\x30\x03\x02\x01\x00")


def test_holder_name_from_cn_when_no_given_name() -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "12345678X"),
            x509.NameAttribute(NameOID.COMMON_NAME, "VIRTANEN MATTI 12345678X"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    assert holder_from_certificate(der) == ("12345678X", "Virtanen Matti")


def test_read_fineid_card() -> None:
    card = fineid_card(Person("99900001C", "Matti Juhani", "Meikäläinen"))
    info = read_card(card.process, card.atr, reader="R")
    assert info == CardInfo(
        "fi-id", "99900001C", "Matti Juhani Meikäläinen", reader="R", atr=card.atr.hex().upper()
    )
    assert card.read_fids[-1] == AUTH_CERT_FID
    assert {apdu[1] for apdu in card.log} <= {0xA4, 0xB0, 0xC0}  # no VERIFY, no PIN


def test_read_fineid_card_relative_paths_and_fci() -> None:
    """A card with paths relative to the application that wants SELECT to return FCI."""
    card = fineid_card()
    assert card.mf is not None
    app = card.mf.children[0]
    odf = app.child(0x5031)  # type: ignore[union-attr]
    cdf = app.child(0x4404)  # type: ignore[union-attr]
    assert isinstance(odf, EF) and isinstance(cdf, EF)
    odf.data = tlv(0xA4, path_obj(bytes.fromhex("4404")))
    cdf.data = cdf_entry("todentamis- ja salausvarmenne", b"\x45", bytes.fromhex("4331"))
    process = card.process

    def no_p2_0c(apdu: bytes) -> bytes:
        if apdu[1] == 0xA4 and apdu[3] == 0x0C:
            return b"\x6a\x86"  # P2 "no response data" not supported
        return process(apdu)

    info = read_card(no_p2_0c, card.atr)
    assert (info.kind, info.identifier) == ("fi-id", TEST_PERSON.satu)
    assert any(apdu[1] == 0xC0 for apdu in card.log)  # the FCI came with GET RESPONSE


def test_read_other_cards() -> None:
    nfc = contactless_card(bytes.fromhex("04112233445566"))
    info = read_card(nfc.process, nfc.atr)
    assert (info.kind, info.identifier, info.name) == ("other", "04112233445566", None)
    plain = plain_card()
    assert read_card(plain.process, plain.atr).identifier == PLAIN_ATR.hex().upper()


def test_get_response_and_wrong_le() -> None:
    answers = {
        bytes.fromhex("FFCA000000"): bytes.fromhex("6104"),
        bytes.fromhex("00C0000004"): bytes.fromhex("6C07"),
        bytes.fromhex("00C0000007"): bytes.fromhex("01020304050607") + b"\x90\x00",
    }
    assert read_uid(lambda apdu: answers[apdu]) == "01020304050607"


def test_card_gone_mid_read() -> None:
    card = fineid_card()

    def pulled(apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and card.read_fids:
            return b""  # what pcscd gives when vpcd's card vanished
        return card.process(apdu)

    with pytest.raises(CardGone):
        read_card(pulled, card.atr)


def test_card_that_answers_nonsense_is_other() -> None:
    junk = Card(bytes.fromhex("3B00"))
    junk.process = lambda apdu: b"\x90\x00"  # type: ignore[method-assign]
    info = read_card(junk.process, junk.atr)
    assert (info.kind, info.identifier) == ("other", "3B00")


def test_fake_reader() -> None:
    r = FakeReader()
    seen: list[object] = []
    r.on_insert = seen.append
    r.on_remove = lambda: seen.append("removed")
    r.on_status = lambda s: seen.append(s)
    r.start()
    assert r.status() == "ok"
    info = r.insert("fi-id")
    assert info.kind == "fi-id" and info.identifier == "999198725"
    r.insert(FakeReader.TEST_CARDS["library"])  # the first card is taken out first
    r.set_status("absent")
    assert r.insert("fi-id") and r.card is None  # no reader, no card
    assert seen == [
        FakeReader.TEST_CARDS["fi-id"],
        "removed",
        FakeReader.TEST_CARDS["library"],
        "removed",
        "absent",
    ]
    r.on_insert = lambda info: 1 / 0  # a failing callback does not break the reader
    r.set_status("ok")
    r.insert("library")
    assert r.card is not None


def test_make_reader_specs() -> None:
    assert isinstance(make_reader("fake"), FakeReader)
    assert isinstance(make_reader(" none "), NoReader)
    assert make_reader("none").status() == "absent"
    pcsc = make_reader("pcsc")
    assert isinstance(pcsc, PcscReader) and pcsc.name_part == ""
    named = make_reader("pcsc:Identiv uTrust")
    assert isinstance(named, PcscReader) and named.name_part == "Identiv uTrust"
    for bad in ("bogus", "pcsc:", "fake:1", "", "PCSC"):
        with pytest.raises(ValueError, match="card reader"):
            make_reader(bad)
