"""Finnish personal identity codes (henkilötunnus, HETU).

`DDMMYYCZZZQ`: birth date, century sign, individual number, check character. The century
signs: `+` 1800s; `-` and, since 2023, `Y X W V U` 1900s; `A` and, since 2023, `B C D E F`
2000s. The check character is `0123456789ABCDEFHJKLMNPRSTUVWXY`[DDMMYYZZZ mod 31].

The clear code is never stored or logged: `HetuHasher` makes the keyed hash (HMAC-SHA256,
key from configuration) that reservations keep and check-ins are matched by. `Hetu`
objects do not show the code in `repr`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900}
CENTURY |= {c: 2000 for c in "ABCDEF"}
_RE = re.compile(r"^(\d{2})(\d{2})(\d{2})([-+YXWVUABCDEF])(\d{3})([0-9A-Y])$")


class InvalidHetu(ValueError):
    """The text is not a valid identity code; `reason` is a short code for the UI."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # format, date, individual, check


@dataclass(frozen=True)
class Hetu:
    code: str = field(repr=False)
    birth_date: date
    temporary: bool  # individual number 900-999

    def __str__(self) -> str:  # never print the code by accident
        return "Hetu(***)"


def normalize(text: str) -> str:
    return text.strip().upper().replace(" ", "")


def parse(text: str) -> Hetu:
    """A valid code, or InvalidHetu(reason) with reason format/date/individual/check."""
    code = normalize(text)
    m = _RE.match(code)
    if not m:
        raise InvalidHetu("format")
    dd, mm, yy, sign, zzz, check = m.groups()
    try:
        born = date(CENTURY[sign] + int(yy), int(mm), int(dd))
    except ValueError:
        raise InvalidHetu("date") from None
    if int(zzz) < 2:
        raise InvalidHetu("individual")
    if CHECK_CHARS[int(dd + mm + yy + zzz) % 31] != check:
        raise InvalidHetu("check")
    return Hetu(code=code, birth_date=born, temporary=int(zzz) >= 900)


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except InvalidHetu:
        return False
    return True


def check_char(ddmmyy: str, zzz: str) -> str:
    return CHECK_CHARS[int(ddmmyy + zzz) % 31]


class HetuHasher:
    """Keyed hash of an identity code: the only form in which one is ever kept."""

    def __init__(self, key: bytes | str) -> None:
        if isinstance(key, str):
            key = key.encode()
        if len(key) < 16:
            raise ValueError("the identity-code hash key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "HetuHasher(***)"

    def hash(self, hetu: Hetu | str) -> str:
        code = hetu.code if isinstance(hetu, Hetu) else parse(hetu).code
        # The 2023 signs are alternatives: one person, one hash whichever sign is typed.
        canonical = code[:6] + _canonical_sign(code[6]) + code[7:]
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()


def _canonical_sign(sign: str) -> str:
    return {1800: "+", 1900: "-", 2000: "A"}[CENTURY[sign]]
