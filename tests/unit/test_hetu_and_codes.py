"""Identity codes (DVV's published vectors, 2023 century signs) and booking codes."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.booking import codes, hetu

# Examples from the Digital and Population Data Services Agency's 2023 announcement.
DVV_VALID = [
    "010594Y9021",
    "020594X903P",
    "020594X902N",
    "030594W903B",
    "030694W9024",
    "040594V9030",
    "040594V902Y",
    "050594U903M",
    "050594U902L",
    "010516B903X",
    "010516B902W",
    "020516C903K",
    "020516C902J",
    "030516D9037",
    "030516D9026",
    "010501E9032",
    "020502E902X",
    "020503F9037",
    "020504A902E",
    "020504B904H",
    "131052-308T",
]


@pytest.mark.parametrize("code", DVV_VALID)
def test_valid_vectors(code: str) -> None:
    assert hetu.is_valid(code)
    assert hetu.is_valid(code.lower())


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("131052-308U", "check"),  # wrong check character
        ("010594Y9022", "check"),
        ("310252-308T", "date"),  # 31 February
        ("290223A9012", "date"),  # 29 Feb 2023 is not a date
        ("000152-308T", "date"),
        ("131052*308T", "format"),  # no such century sign
        ("131052-308", "format"),
        ("13105-2308T", "format"),
        ("", "format"),
        ("131052-001A", "individual"),  # 000 and 001 are not used
    ],
)
def test_invalid(code: str, reason: str) -> None:
    with pytest.raises(hetu.InvalidHetu) as exc:
        hetu.parse(code)
    assert exc.value.reason == reason


def test_century_and_birth_date() -> None:
    assert hetu.parse("131052-308T").birth_date == date(1952, 10, 13)
    assert hetu.parse("010594Y9021").birth_date == date(1994, 5, 1)
    assert hetu.parse("010516B903X").birth_date == date(2016, 5, 1)
    assert hetu.parse("290200A901C").birth_date == date(2000, 2, 29)  # leap day 2000


def test_code_never_in_repr_or_str() -> None:
    h = hetu.parse("131052-308T")
    assert "131052" not in repr(h) and "131052" not in str(h)


def test_hash_is_keyed_and_sign_independent() -> None:
    a = hetu.HetuHasher(b"k" * 32)
    b = hetu.HetuHasher(b"j" * 32)
    assert a.hash("010594Y9021") == a.hash("010594-9021")  # Y and - are the same 1900s
    assert a.hash("020504A902E") == a.hash("020504B902E")
    assert a.hash("131052-308T") != b.hash("131052-308T")
    assert "131052" not in a.hash("131052-308T")
    with pytest.raises(ValueError):
        hetu.HetuHasher(b"short")


@given(st.dates(date(1800, 1, 1), date(2099, 12, 31)), st.integers(2, 999))
def test_every_generated_code_is_valid(born: date, n: int) -> None:
    ddmmyy = born.strftime("%d%m") + f"{born.year % 100:02d}"
    signs = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}[born.year // 100 * 100]
    for sign in signs:
        code = f"{ddmmyy}{sign}{n:03d}{hetu.check_char(ddmmyy, f'{n:03d}')}"
        assert hetu.parse(code).birth_date == born


# ---------------------------------------------------------------------------- booking codes


def test_booking_code_shape() -> None:
    for _ in range(200):
        c = codes.new_code()
        assert len(c) == 7 and c[3] == "-"
        assert not set(c.replace("-", "")) & set("01IO")
        assert codes.normalize(c) == c
        assert codes.normalize(c.lower().replace("-", " ")) == c


def test_single_errors_and_swaps_are_caught() -> None:
    rng = random.Random(7)
    for _ in range(100):
        raw = codes.new_code().replace("-", "")
        for i, ch in itertools.product(range(6), codes.ALPHABET):
            if ch != raw[i]:
                assert codes.normalize(raw[:i] + ch + raw[i + 1 :]) is None
        for i in range(5):
            if raw[i] != raw[i + 1]:
                swapped = raw[:i] + raw[i + 1] + raw[i] + raw[i + 2 :]
                assert codes.normalize(swapped) is None
        assert codes.normalize(raw[: rng.randrange(6)]) is None
