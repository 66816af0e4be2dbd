"""The kiosk's logic without Kivy: screens, idle timeout, keypad validation, offline numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firmware_common.mqtt import NotConnected, RequestTimeout
from kiosk import texts as tx
from kiosk.controller import (
    KioskController,
    OfflineStore,
    code_from_scan,
    validate_code,
    validate_hetu,
)
from kiosk.hardware import CardInfo, CardReader, PrintResult, TicketPrinter, TicketView
from scheduler.booking import codes

CONFIG: dict[str, Any] = {
    "v": 1,
    "site": "demo",
    "role": "kiosk",
    "languages": ["fi", "sv", "en"],
    "site_name": {"fi": "Asiointipiste", "sv": "Servicepunkt", "en": "Service point"},
    "offline_numbers": {"first": 901, "last": 903},
    "services": [
        {
            "id": "city-info",
            "name": {"fi": "Neuvonta", "sv": "Rådgivning", "en": "Information"},
            "provider": "municipality",
            "queue": "municipality",
            "prefix": "A",
            "walk_in": True,
            "appointments": False,
            "open": True,
            "instructions": None,
        },
        {
            "id": "tax-card",
            "name": {"fi": "Verokortti", "sv": "Skattekort", "en": "Tax card"},
            "provider": "tax",
            "queue": "tax",
            "walk_in": True,
            "appointments": False,
            "open": True,
            "instructions": None,
        },
        {
            "id": "notary",
            "name": {"fi": "Notaari", "sv": "Notarie", "en": "Notary"},
            "provider": "dvv",
            "queue": "dvv",
            "walk_in": False,
            "appointments": True,
            "open": False,
            "instructions": None,
        },
    ],
}


def ticket(number: str = "A001", queue: str = "municipality", **kw: Any) -> dict[str, Any]:
    return {
        "number": number,
        "queue": queue,
        "service": kw.pop("service", "city-info"),
        "position": 2,
        "eta_min": 7,
        "issued_at": "2026-11-23T09:14:40.120Z",
        "status_url": "http://localhost/t/x",
        "appointment": None,
        **kw,
    }


class FakeLink:
    site = "demo"
    device_id = "kiosk-demo-1"

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[str, dict[str, Any], bool]] = []
        self.status: dict[str, Any] = {}
        self.subs: dict[str, Callable[..., None]] = {}
        self.answer: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda v, f: {
            "ok": True,
            "ticket": ticket(),
        }

    def request(
        self, verb: str, fields: dict[str, Any], *, timeout: float = 5, durable: bool = False
    ) -> dict[str, Any]:
        assert not durable
        self.requests.append((verb, fields))
        return self.answer(verb, fields)

    def send(self, verb: str, fields: dict[str, Any], *, durable: bool = False) -> str:
        self.sent.append((verb, fields, durable))
        return "y"

    def subscribe(self, topic: str, handler: Callable[..., None]) -> None:
        self.subs[topic] = handler

    def set_status(self, **fields: Any) -> None:
        self.status.update(fields)


class StubPrinter(TicketPrinter):
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.printed: list[TicketView] = []

    def print_ticket(self, ticket: TicketView) -> PrintResult:
        self.printed.append(ticket)
        if self.ok:
            return PrintResult(ok=True, status="ok")
        return PrintResult(ok=False, status="paper_out", error="out of paper")

    def status(self) -> str:  # type: ignore[override]
        return "ok" if self.ok else "paper_out"


class StubReader(CardReader):
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self) -> str:  # type: ignore[override]
        return "ok"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(
    tmp_path: Path, link: FakeLink | None = None, **kw: Any
) -> tuple[KioskController, FakeLink, StubPrinter, Clock]:
    link = link or FakeLink()
    printer = kw.pop("printer", StubPrinter())
    clock = Clock()
    c = KioskController(
        link,
        printer=printer,
        reader=kw.pop("reader", StubReader()),
        offline_path=tmp_path / "kiosk-offline.db",
        clock=clock,
        wall=kw.pop("wall", lambda: datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        **kw,
    )
    c.start()
    link.subs["vuoro/v1/demo/config/kiosk-demo-1"]("t", dict(CONFIG))
    return c, link, printer, clock


# ---------------------------------------------------------------------------- screens


def test_state_machine_take_a_number(tmp_path: Path) -> None:
    c, link, printer, _ = make(tmp_path)
    assert c.screen == "idle"
    c.start_session("sv")
    assert (c.screen, c.lang) == ("home", "sv")
    c.choose_take_number()
    assert c.screen == "services"
    c.take_number("city-info")
    assert c.screen == "result"
    assert link.requests[0][0] == "ticket"
    assert link.requests[0][1]["lang"] == "sv"
    assert c.result is not None and c.result.printed and c.result.view.number == "A001"
    assert printer.printed[0].lang == "sv"
    c.done()
    assert (c.screen, c.lang) == ("idle", "fi")


def test_back_and_home(tmp_path: Path) -> None:
    c, *_ = make(tmp_path)
    c.start_session("en")
    c.choose_appointment()
    c.key("7")
    c.back()
    assert c.screen == "home" and c.typed == ""
    c.choose_take_number()
    c.go_home()
    assert c.screen == "home"
    c.back()
    assert c.screen == "idle"


def test_services_grouped_walk_in_only(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.subs["vuoro/v1/demo/state/display"](
        "t",
        {"seq": 3, "queues": [{"id": "tax", "name": {"fi": "Vero"}, "waiting": 4, "eta_min": 9}]},
    )
    items = c.services()
    assert [i.id for i in items] == ["city-info", "tax-card"]
    assert items[1].waiting == 4 and items[1].eta_min == 9
    assert items[1].provider_name == "Verohallinto"


def test_idle_timeout_forgets_input(tmp_path: Path) -> None:
    c, _, _, clock = make(tmp_path, idle_timeout_s=45)
    c.start_session("en")
    c.choose_appointment()
    c.set_input_mode("hetu")
    for ch in "0101":
        c.key(ch)
    clock.t += 44
    c.tick()
    assert c.screen == "identify" and c.typed == "0101"
    c.key("9")  # a touch resets the timer
    clock.t += 44
    c.tick()
    assert c.screen == "identify"
    clock.t += 2
    c.tick()
    assert (c.screen, c.typed, c.lang, c.input_mode) == ("idle", "", "fi", "code")


def test_error_codes_and_scheduler_message(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    msg = {"fi": "Suljettu klo 16.", "sv": "Stängt kl. 16.", "en": "Closed at 4 pm."}
    link.answer = lambda v, f: {"ok": False, "error": {"code": "queue_closed", "message": msg}}
    c.start_session("sv")
    c.take_number("city-info")
    assert c.screen == "error" and c.error is not None
    assert tx.error_text(c.error.code, c.lang, c.error.message) == "Stängt kl. 16."
    assert tx.error_text("too_early", "en").startswith("You are too early")
    assert tx.error_text("whatever", "fi") == tx.GENERAL_ERROR["fi"]
    c.back()
    assert c.screen == "home"


def test_too_late_offers_a_number(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.answer = lambda v, f: {"ok": False, "error": {"code": "too_late"}}
    c.start_session("fi")
    c.check_in("code", "7KQ-4MX")
    assert c.error is not None and c.error.offer_number
    c.error_action()
    assert c.screen == "services"


def test_every_text_in_three_languages() -> None:
    for key, texts in {**tx.TEXTS, **tx.ERRORS, **tx.ERROR_TITLES}.items():
        assert set(texts) == {"fi", "sv", "en"}, key
        assert all(v.strip() for v in texts.values()), key
    assert tx.t("take_number", "fi") == "Ota vuoronumero"
    assert tx.t("take_number", "sv") == "Ta ett könummer"
    assert tx.t("have_appointment", "en") == "I have an appointment"


# ---------------------------------------------------------------------------- keypad


def test_hetu_live_validation() -> None:
    assert validate_hetu("").state == "empty"
    assert validate_hetu("0101").state == "partial"
    assert validate_hetu("3213").key == "hetu_date"  # month 13
    assert validate_hetu("310290-").key == "hetu_date"  # 31 Feb
    assert validate_hetu("010190Q").key == "hetu_sign"
    assert validate_hetu("010190-900P").valid
    assert validate_hetu("010190-900R").key == "hetu_check"
    assert validate_hetu("010190Y900P").valid  # a 2023 century sign
    assert validate_hetu("010190-001P").key == "hetu_individual"


def test_code_live_validation_and_scan() -> None:
    good = codes.new_code()
    assert validate_code(good).valid
    assert validate_code(good.lower().replace("-", " ")).valid
    assert validate_code(good[:3]).state == "partial"
    assert validate_code("OI0").key == "code_bad_char"
    body = good.replace("-", "")
    typo = body[:5] + next(ch for ch in codes.ALPHABET if ch != body[5])
    assert validate_code(typo).key == "code_typo"
    assert code_from_scan(good.replace("-", "").lower()) == good
    assert code_from_scan(f"https://ajanvaraus.example.fi/r/{good}") == good
    assert code_from_scan("HELLO") is None


def test_keypad_hetu_and_submit(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.answer = lambda v, f: {"ok": True, "ticket": ticket("K001", "kela", service="city-info")}
    c.start_session("fi")
    c.choose_appointment()
    c.set_input_mode("hetu")
    for ch in "010190-900":
        c.key(ch)
    c.submit()  # incomplete: nothing sent
    assert c.screen == "identify" and not link.requests
    c.key("P")
    assert c.validation.valid
    c.submit()
    assert link.requests[-1] == (
        "checkin",
        {"by": "hetu", "value": "010190-900P", "lang": "fi"},
    )
    assert c.screen == "result" and c.result is not None and c.result.kind == "checkin"


def test_scanner_enter_checks_in_from_any_screen(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    good = codes.new_code()
    c.start_session("en")
    c.scanner_text(good.lower())
    assert c.scanner_enter()
    assert link.requests[-1][1] == {"by": "code", "value": good, "lang": "en"}


def test_card_on_idle_screen_checks_in(tmp_path: Path) -> None:
    reader = StubReader()
    c, link, *_ = make(tmp_path, reader=reader)
    assert reader.on_insert is not None
    reader.on_insert(CardInfo(kind="fi-id", identifier="999198725"))
    assert link.requests[-1][1]["by"] == "card"
    assert link.requests[-1][1]["value"] == "999198725"
    assert c.screen == "result"


def test_printer_failure_keeps_the_number_and_reports_status(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path, printer=StubPrinter(ok=False))
    c.start_session("fi")
    c.take_number("city-info")
    assert c.screen == "result" and c.result is not None
    assert not c.result.printed and c.result.view.status_url
    assert link.status["printer"] == "paper_out"
    assert link.status["reader"] == "ok"


# ---------------------------------------------------------------------------- offline


def _offline(v: str, f: dict[str, Any]) -> dict[str, Any]:
    raise RequestTimeout("no reply")


def test_offline_ticket_from_the_range(tmp_path: Path) -> None:
    c, link, printer, _ = make(tmp_path)
    link.answer = _offline
    c.start_session("en")
    c.take_number("city-info")
    assert c.screen == "result" and c.result is not None and c.result.offline
    assert c.result.view.number == "A901" and c.result.position is None
    assert printer.printed[-1].offline
    verb, fields, durable = link.sent[-1]
    first_id = link.requests[-1][1]["id"]
    assert verb == "ticket" and durable
    assert fields["supersedes"] == first_id and fields["id"] != first_id
    assert fields["offline"]["number"] == "A901"
    assert fields["offline"]["issued_at"].endswith("Z")
    assert fields["service"] == "city-info" and fields["lang"] == "en"


def test_offline_letter_learned_from_replies(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.answer = lambda v, f: {"ok": True, "ticket": ticket("V004", "tax", service="tax-card")}
    c.take_number("tax-card")

    def refuse(v: str, f: dict[str, Any]) -> dict[str, Any]:
        raise NotConnected("down")

    link.answer = refuse
    c.take_number("tax-card")
    assert c.result is not None and c.result.view.number == "V901"


def test_offline_numbers_survive_restart_and_run_out(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.answer = _offline
    c.take_number("city-info")
    c.take_number("city-info")
    c.stop()
    c2, link2, *_ = make(tmp_path)  # a restart: same file
    link2.answer = _offline
    c2.take_number("city-info")
    assert c2.result is not None and c2.result.view.number == "A903"
    c2.take_number("city-info")
    assert c2.screen == "error" and c2.error is not None
    assert c2.error.code == "offline_range_used"
    assert "staff" in tx.error_text(c2.error.code, "en")


def test_offline_counter_is_per_day_and_never_duplicates(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path / "o.db")
    got = [store.allocate("2026-11-23", "A", 901, 949) for _ in range(49)]
    assert len(set(got)) == 49 and got[0] == "A901" and got[-1] == "A949"
    assert store.allocate("2026-11-23", "A", 901, 949) is None
    assert store.allocate("2026-11-23", "K", 901, 949) == "K901"
    assert store.allocate("2026-11-24", "A", 901, 949) == "A901"


def test_offline_without_range_asks_staff(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.subs["vuoro/v1/demo/config/kiosk-demo-1"](
        "t", {k: v for k, v in CONFIG.items() if k != "offline_numbers"}
    )
    link.answer = _offline
    c.take_number("city-info")
    assert c.screen == "error" and c.error is not None and c.error.code == "offline_no_range"


def test_offline_checkin_offers_a_number(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.answer = _offline
    c.start_session("sv")
    c.check_in("code", "7KQ-4MX")
    assert c.screen == "error" and c.error is not None
    assert c.error.code == "offline_checkin" and c.error.offer_number
    assert "könummer" in tx.error_text(c.error.code, "sv")


def test_late_reply_is_ignored_for_the_customer(tmp_path: Path) -> None:
    c, link, *_ = make(tmp_path)
    link.answer = _offline
    c.take_number("city-info")
    shown = c.result
    c.on_late_reply({"v": 1, "id": "x", "ok": True, "ticket": ticket("A007")})
    assert c.result is shown and c.result is not None and c.result.view.number == "A901"


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_config_cached_for_an_offline_start(tmp_path: Path, lang: str) -> None:
    c, *_ = make(tmp_path)
    c.stop()
    c2 = KioskController(None, offline_path=tmp_path / "kiosk-offline.db")
    c2.lang = lang
    assert [s.id for s in c2.services()] == ["city-info", "tax-card"]
