"""A fake smart card that plugs into vsmartcard's virtual reader (vpcd).

vpcd (the pcscd driver from Debian's `vsmartcard-vpcd`) listens on a TCP port; a card
"is inserted" while a client is connected to it. Every message, both ways, is a 2-byte
big-endian length and then the bytes. A 1-byte message from vpcd is a control message
(0x00 power off, 0x01 power on, 0x02 reset, 0x04 "send your ATR"); anything longer is a
command APDU, answered with a response APDU (data + SW1 SW2).

`Card` is the card itself (APDU in, response out, no I/O), with three profiles:

- `fineid_card()`: a Finnish identity card as the reader sees it without a PIN: the
  PKCS#15 application (AID A0 00 00 00 63 50 4B 43 53 2D 31 35, DF 5015 under the MF) with
  its ODF (5031), a CDF (4404) listing a CA certificate, the signature certificate and the
  authentication certificate, and those certificates in files padded like a real card's.
  The certificates are made here with `cryptography`, subject like the DVV's:
  C=FI, serialNumber=<SATU>, givenName, surname, CN="<SURNAME> <GIVEN> <SATU>".
- `contactless_card()`: answers the PC/SC "get UID" pseudo-APDU FF CA 00 00 00.
- `plain_card()`: knows nothing; only its ATR tells it apart.

`VirtualCard(card, port)` is the card in the reader: `insert()` connects to vpcd and
answers on a thread, `remove()` disconnects. `pull_on_read = True` makes the card vanish
at its next READ BINARY, without answering (a card pulled out mid-read).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import socket
import struct
import threading
from dataclasses import dataclass, field

FINEID_AID = bytes.fromhex("A000000063504B43532D3135")
# ATRs of the kinds of cards the tests play (a FINEID-like contact card, a MIFARE Classic
# as a PC/SC reader reports it, a plain contact card).
FINEID_ATR = bytes.fromhex("3B7F96000080318065B0855956FB120FFE829000")
CONTACTLESS_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
PLAIN_ATR = bytes.fromhex("3B6500002063CB6600")

SW_OK = b"\x90\x00"
SW_EOF = b"\x62\x82"  # end of file reached before Le bytes
SW_WRONG_LENGTH = b"\x67\x00"
SW_WRONG_OFFSET = b"\x6b\x00"
SW_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_NO_EF = b"\x69\x86"  # command not allowed: no current EF
SW_NOT_EF = b"\x69\x81"  # command incompatible with file structure
SW_UNKNOWN_INS = b"\x6d\x00"
SW_UNKNOWN_CLA = b"\x6e\x00"


# --- files ------------------------------------------------------------------------------


@dataclass
class EF:
    fid: int
    data: bytes


@dataclass
class DF:
    fid: int
    aid: bytes = b""
    children: list[EF | DF] = field(default_factory=list)
    parent: DF | None = field(default=None, repr=False)

    def add(self, node: EF | DF) -> EF | DF:
        if isinstance(node, DF):
            node.parent = self
        self.children.append(node)
        return node

    def child(self, fid: int) -> EF | DF | None:
        return next((c for c in self.children if c.fid == fid), None)

    def find_aid(self, aid: bytes) -> DF | None:
        for c in self.children:
            if isinstance(c, DF):
                if c.aid and c.aid == aid:
                    return c
                found = c.find_aid(aid)
                if found:
                    return found
        return None


def _fcp(node: EF | DF) -> bytes:
    """The file control parameters a SELECT returns (ISO 7816-4 tag 62)."""
    body = tlv(0x83, node.fid.to_bytes(2, "big"))
    if isinstance(node, EF):
        body = tlv(0x80, len(node.data).to_bytes(2, "big")) + tlv(0x82, b"\x01") + body
    else:
        body = tlv(0x82, b"\x38") + body + (tlv(0x84, node.aid) if node.aid else b"")
    return tlv(0x62, body)


# --- the card ---------------------------------------------------------------------------


class Card:
    """ISO 7816-4 card logic: SELECT, READ BINARY, GET RESPONSE, the UID pseudo-APDU."""

    def __init__(self, atr: bytes, mf: DF | None = None, uid: bytes | None = None) -> None:
        self.atr = atr
        self.mf = mf
        self.uid = uid
        self.log: list[bytes] = []  # every command APDU, in order
        self.read_fids: list[int] = []  # the EFs READ BINARY read from, in order
        self.reset()

    def reset(self) -> None:
        self.current_df = self.mf
        self.current_ef: EF | None = None
        self.pending = b""  # what GET RESPONSE will return

    def process(self, apdu: bytes) -> bytes:
        self.log.append(apdu)
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        data, le = _split(apdu)
        if cla == 0xFF:
            if ins == 0xCA and p1 == 0x00 and self.uid is not None:
                return self.uid + SW_OK
            return SW_UNKNOWN_CLA
        if ins != 0xC0:
            self.pending = b""
        if self.mf is None:
            return SW_UNKNOWN_INS
        if ins == 0xA4:
            return self._select(p1, p2, data)
        if ins == 0xB0:
            return self._read_binary(((p1 & 0x7F) << 8) | p2, le)
        if ins == 0xC0:
            out, self.pending = self.pending[: le or 256], self.pending[le or 256 :]
            if not out:
                return SW_WRONG_P1P2
            more = min(len(self.pending), 256) & 0xFF
            return out + (bytes([0x61, more]) if self.pending else SW_OK)
        return SW_UNKNOWN_INS

    def _select(self, p1: int, p2: int, data: bytes) -> bytes:
        assert self.mf is not None
        node: EF | DF | None
        if p1 == 0x04:  # by DF name (AID)
            node = self.mf.find_aid(data)
        elif p1 in (0x00, 0x02):  # by file id: MF, a child of the current DF, or its parent
            fid = int.from_bytes(data, "big") if len(data) == 2 else 0x3F00
            cur = self.current_df or self.mf
            if fid == 0x3F00:
                node = self.mf
            else:
                node = cur.child(fid) or (
                    cur.parent if cur.parent and cur.parent.fid == fid else None
                )
        elif p1 in (0x08, 0x09):  # by path from the MF / from the current DF
            node = self.mf if p1 == 0x08 else self.current_df
            if len(data) % 2 or not data:
                return SW_WRONG_LENGTH
            for i in range(0, len(data), 2):
                fid = int.from_bytes(data[i : i + 2], "big")
                node = node.child(fid) if isinstance(node, DF) else None
        else:
            return SW_WRONG_P1P2
        if node is None:
            return SW_NOT_FOUND
        if isinstance(node, DF):
            self.current_df, self.current_ef = node, None
        else:
            self.current_ef = node
        if p2 & 0x0C == 0x0C:  # no response data
            return SW_OK
        self.pending = _fcp(node)  # T=0 style: "61 xx, fetch it with GET RESPONSE"
        return bytes([0x61, len(self.pending)])

    def _read_binary(self, offset: int, le: int) -> bytes:
        if self.current_ef is None:
            return SW_NO_EF
        self.read_fids.append(self.current_ef.fid)
        data = self.current_ef.data
        if offset > len(data):
            return SW_WRONG_OFFSET
        want = le or 256
        chunk = data[offset : offset + want]
        return chunk + (SW_OK if len(chunk) == want else SW_EOF)


def _split(apdu: bytes) -> tuple[bytes, int]:
    """(command data, Le) of a short APDU (cases 1-4)."""
    body = apdu[4:]
    if not body:
        return b"", 0
    if len(body) == 1:
        return b"", body[0]
    lc = body[0]
    data = body[1 : 1 + lc]
    le = body[1 + lc] if len(body) > 1 + lc else 0
    return data, le


# --- DER helpers (also used by the unit tests) ------------------------------------------


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + length + value


def path_obj(path: bytes, index: int | None = None, length: int | None = None) -> bytes:
    """A PKCS#15 Path: SEQUENCE { path OCTET STRING, index INTEGER, length [0] INTEGER }."""
    body = tlv(0x04, path)
    if index is not None:
        body += tlv(0x02, index.to_bytes(2, "big"))
    if length is not None:
        body += tlv(0x80, length.to_bytes(2, "big"))
    return tlv(0x30, body)


def cdf_entry(label: str, cert_id: bytes, path: bytes, authority: bool = False) -> bytes:
    """One x509Certificate object of a PKCS#15 certificate directory file."""
    common = tlv(0x30, tlv(0x0C, label.encode()))
    cls = tlv(0x04, cert_id) + (tlv(0x01, b"\xff") if authority else b"")
    typ = tlv(0xA1, tlv(0x30, path_obj(path)))
    return tlv(0x30, common + tlv(0x30, cls) + typ)


# --- certificates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    satu: str = "999198725"
    given: str = "Anna-Liisa"
    surname: str = "Specimen-Poika"

    @property
    def name(self) -> str:
        return f"{self.given} {self.surname}"


TEST_PERSON = Person()


@functools.lru_cache(maxsize=8)
def make_certificates(person: Person = TEST_PERSON) -> tuple[bytes, bytes, bytes]:
    """(CA, authentication, signature) certificates in DER, like the DVV's citizen ones."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FI"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vuoro test DVV"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Vuoro TEST Citizen Certificates - G3E"),
        ]
    )

    def build(
        subject: x509.Name, key: ec.EllipticCurvePrivateKey, usage: dict[str, bool], ca: bool
    ) -> bytes:
        flags = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        flags.update(usage)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=5 * 365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**flags), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    holder = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FI"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, person.satu),
            x509.NameAttribute(NameOID.GIVEN_NAME, person.given.upper()),
            x509.NameAttribute(NameOID.SURNAME, person.surname.upper()),
            x509.NameAttribute(
                NameOID.COMMON_NAME,
                f"{person.surname.upper()} {person.given.upper()} {person.satu}",
            ),
        ]
    )
    ca = build(ca_name, ca_key, {"key_cert_sign": True, "crl_sign": True}, ca=True)
    auth_key = ec.generate_private_key(ec.SECP256R1())
    sign_key = ec.generate_private_key(ec.SECP256R1())
    auth = build(holder, auth_key, {"digital_signature": True, "key_agreement": True}, ca=False)
    sign = build(holder, sign_key, {"content_commitment": True}, ca=False)
    return ca, auth, sign


def _padded(der: bytes, size: int = 2048) -> bytes:
    """A certificate in its file: real cards leave the rest of the file zero."""
    return der + bytes(max(0, size - len(der)))


# --- profiles ---------------------------------------------------------------------------

AUTH_CERT_FID = 0x4331
SIGN_CERT_FID = 0x4332
CA_CERT_FID = 0x4333


def fineid_card(person: Person = TEST_PERSON) -> Card:
    ca, auth, sign = make_certificates(person)
    app_path = bytes.fromhex("3F005015")
    cdf = b"".join(
        [
            cdf_entry("Vuoro TEST CA", b"\x10", app_path + CA_CERT_FID.to_bytes(2, "big"), True),
            cdf_entry(
                "allekirjoitusvarmenne", b"\x46", app_path + SIGN_CERT_FID.to_bytes(2, "big")
            ),
            cdf_entry(
                "todentamis- ja salausvarmenne",
                b"\x45",
                app_path + AUTH_CERT_FID.to_bytes(2, "big"),
            ),
        ]
    )
    odf = tlv(0xA8, path_obj(app_path + b"\x44\x01")) + tlv(0xA4, path_obj(app_path + b"\x44\x04"))
    mf = DF(0x3F00)
    app = DF(0x5015, aid=FINEID_AID)
    mf.add(app)
    for node in (
        EF(0x5031, odf + bytes(64)),  # padded, as on a card
        EF(0x5032, tlv(0x30, tlv(0x02, b"\x00") + tlv(0x0C, b"HENKILOKORTTI"))),
        EF(0x4401, bytes(32)),  # AODF (PIN objects): not read without a PIN
        EF(0x4404, cdf + bytes(128)),
        EF(CA_CERT_FID, _padded(ca)),
        EF(SIGN_CERT_FID, _padded(sign)),
        EF(AUTH_CERT_FID, _padded(auth)),
    ):
        app.add(node)
    return Card(FINEID_ATR, mf)


def contactless_card(uid: bytes = bytes.fromhex("04A1B2C3D4E580")) -> Card:
    return Card(CONTACTLESS_ATR, uid=uid)


def plain_card(atr: bytes = PLAIN_ATR) -> Card:
    return Card(atr, mf=DF(0x3F00))


# --- the card in vpcd's reader -----------------------------------------------------------


class VirtualCard:
    """A `Card` inserted into vpcd's reader on `port` (while connected)."""

    def __init__(self, card: Card, port: int, host: str = "127.0.0.1") -> None:
        self.card = card
        self.host, self.port = host, port
        self.pull_on_read = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, timeout: float = 10.0) -> None:
        assert self._sock is None, "already inserted"
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._serve, args=(self._sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VirtualCard:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                msg = _recv_msg(sock)
                if msg is None:
                    return
                if len(msg) == 1:
                    if msg[0] == 0x04:
                        _send_msg(sock, self.card.atr)
                    elif msg[0] in (0x00, 0x01, 0x02):
                        self.card.reset()
                    continue
                if self.pull_on_read and len(msg) >= 2 and msg[1] == 0xB0:
                    self.pull_on_read = False
                    self._pull(sock)
                    return
                _send_msg(sock, self.card.process(msg))
        except OSError:
            return

    def _pull(self, sock: socket.socket) -> None:
        if self._sock is sock:
            self._sock = None
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


def _recv_msg(sock: socket.socket) -> bytes | None:
    head = _recv_exact(sock, 2)
    if head is None:
        return None
    (n,) = struct.unpack(">H", head)
    return _recv_exact(sock, n) if n else b""


def _send_msg(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack(">H", len(data)) + data)
