"""Booking codes: six characters read over the phone or typed at a kiosk, e.g. `7KQ-4MX`.

The alphabet leaves out 0/O and 1/I, so nothing can be misread. Five random characters
and a check character: one wrong character or two swapped neighbours are always caught,
so a typo never finds somebody else's reservation. The check is the linear code
s = 2·s + c over GF(32) (a Damm-style quasigroup): unlike Luhn mod 32, it also catches
every transposition, `2Z` <-> `Z2` included.
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
N = len(ALPHABET)  # 32
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def _times2(x: int) -> int:
    """Multiply by the generator 2 in GF(32) with the polynomial x^5 + x^2 + 1."""
    x <<= 1
    return x ^ 0b100101 if x & 0b100000 else x


def _sum(chars: str) -> int:
    s = 0
    for ch in chars:
        s = _times2(s) ^ _INDEX[ch]
    return s


def _check(payload: str) -> str:
    """The character that makes the sum of the whole code zero."""
    return ALPHABET[_times2(_sum(payload))]


def new_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(5))
    code = body + _check(body)
    return f"{code[:3]}-{code[3:]}"


def normalize(text: str) -> str | None:
    """'7kq 4mx' -> '7KQ-4MX'; None if it cannot be a booking code."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(raw) != 6 or any(ch not in _INDEX for ch in raw):
        return None
    if _sum(raw) != 0:
        return None
    return f"{raw[:3]}-{raw[3:]}"


def is_valid(text: str) -> bool:
    return normalize(text) is not None
