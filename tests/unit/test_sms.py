"""SMS texts, the file and log senders, the HTTP SMS gateway sender, notifier config."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firmware_common.config import ConfigError
from scheduler.booking.model import Reservation
from scheduler.booking.notify import (
    KINDS,
    FileSender,
    HttpSmsSender,
    LogSender,
    Notifier,
    Sender,
    SendError,
    SmsMessage,
    SmtpSender,
    compose,
    gsm7_length,
    mask_address,
    normalize_phone,
    senders_from_config,
    sms_text,
    to_gsm7,
)
from scheduler.domain.model import ServiceDef, SiteDef

HEL = ZoneInfo("Europe/Helsinki")
URL = "https://ajanvaraus.example.fi/book/7KQ-4MX"

SITE = SiteDef(
    id="demo",
    name={"fi": "Asiointipiste Demola", "sv": "Servicepunkt Demola", "en": "Demola Service Point"},
)
DVV = ServiceDef(
    id="notary",
    name={
        "fi": "Digi- ja väestötietoviraston notaaripalvelut",
        "sv": "Myndigheten för digitalisering och befolkningsdatas notarietjänster",
        "en": "Notary services of the Digital and Population Data Services Agency",
    },
    provider="dvv",
    queue="dvv",
)
KELA = ServiceDef(
    id="kela-benefits",
    name={"fi": "Kelan etuudet", "sv": "FPA:s förmåner", "en": "Kela benefits"},
    provider="kela",
    queue="kela",
)


def reservation(lang: str = "fi", **kw: object) -> Reservation:
    base: dict[str, object] = dict(
        id="r-1",
        code="7KQ-4MX",
        site="demo",
        service="kela-benefits",
        advisor="anna",
        start=datetime(2026, 12, 1, 9, 30, tzinfo=HEL),
        end=datetime(2026, 12, 1, 10, 0, tzinfo=HEL),
        lang=lang,
        name="Maija Meikäläinen",
        phone="040 123 4567",
        email="maija@example.fi",
        hetu_hash="hetuhash0123456789",
    )
    base.update(kw)
    return Reservation(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- texts


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("service", [KELA, DVV])
def test_sms_fits_one_message(lang: str, kind: str, service: ServiceDef) -> None:
    text = sms_text(kind, reservation(lang), SITE, service, URL)
    assert 0 < gsm7_length(text) <= 160, text
    assert "7KQ-4MX" in text
    assert URL in text
    assert "hetuhash" not in text and "Maija" not in text


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fi", "Varattu aika: Kelan etuudet ti 1.12. klo 9.30, Asiointipiste Demola."),
        ("sv", "Bokad tid: FPA:s förmåner tis 1.12. kl. 9.30, Servicepunkt Demola."),
        ("en", "Booked: Kela benefits Tue 1 Dec at 9:30, Demola Service Point."),
    ],
)
def test_sms_language(lang: str, expected: str) -> None:
    text = sms_text("confirmation", reservation(lang), SITE, KELA, URL)
    assert text.startswith(expected)


def test_sms_kinds_and_fallback_language() -> None:
    assert sms_text("reminder", reservation("fi"), SITE, KELA).startswith("Muistutus:")
    assert sms_text("cancellation", reservation("sv"), SITE, KELA, URL).startswith("Avbokad:")
    assert "Boka ny tid:" in sms_text("cancellation", reservation("sv"), SITE, KELA, URL)
    assert sms_text("rescheduled", reservation("en"), SITE, KELA).startswith("New time:")
    assert sms_text("confirmation", reservation("de"), SITE, KELA).startswith("Varattu aika:")
    with pytest.raises(ValueError):
        sms_text("birthday", reservation(), SITE, KELA)


def test_sms_summer_time_is_local() -> None:
    res = reservation(start=datetime(2026, 6, 16, 14, 15, tzinfo=HEL))
    assert "ti 16.6. klo 14.15" in sms_text("reminder", res, SITE, KELA)


def test_gsm7() -> None:
    assert to_gsm7("Äiti – “Åsa” … š") == 'Äiti - "Åsa" ... s'
    assert gsm7_length("äöå") == 3
    assert gsm7_length("€[]") == 6
    assert gsm7_length("Здравствуйте") == -1
    assert gsm7_length(to_gsm7("Здравствуйте")) > 0


def test_mask_and_normalize() -> None:
    assert mask_address("maija.m@example.fi") == "m***@example.fi"
    assert mask_address("+358401234567") == "+358*******67"
    assert normalize_phone("040 123 4567") == "+358401234567"
    assert normalize_phone("00358 40 123 4567") == "+358401234567"
    assert normalize_phone("+46 70 123 45 67") == "+46701234567"
    with pytest.raises(SendError) as err:
        normalize_phone("not a number")
    assert err.value.permanent


# ---------------------------------------------------------------------------- senders


def test_file_sender_sms_and_email(tmp_path: Path) -> None:
    sender = FileSender(tmp_path / "out")
    assert isinstance(sender, Sender)
    sender.send(SmsMessage("040 123 4567", "Hei"))
    msg = compose("confirmation", reservation(), SITE, KELA, sender="noreply@example.fi")
    sender.send(msg)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 2
    sms_file = next(p for p in (tmp_path / "out").iterdir() if p.name.endswith("-sms.json"))
    assert json.loads(sms_file.read_text()) == {"to": "040 123 4567", "text": "Hei"}
    eml = next(p for p in (tmp_path / "out").iterdir() if p.name.endswith(".eml"))
    parsed = message_from_bytes(eml.read_bytes())
    assert parsed["To"].endswith("<maija@example.fi>")
    assert not any(n.startswith(".") for n in files)  # no temp files left


def test_file_sender_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SendError):
        FileSender(blocker / "sub").send(SmsMessage("0401234567", "x"))


def test_log_sender_logs_no_body(caplog: pytest.LogCaptureFixture) -> None:
    sender = LogSender()
    msg = compose("confirmation", reservation(), SITE, KELA, sender="noreply@example.fi")
    with caplog.at_level(logging.INFO):
        sender.send(msg)
        sender.send(SmsMessage("+358401234567", "Varaustunnus 7KQ-4MX"))
    assert "m***@example.fi" in caplog.text
    assert "Ajanvaraus vahvistettu" in caplog.text
    assert "+358*******67" in caplog.text
    for secret in ("maija@", "Maija", "7KQ-4MX", "0401234567"):
        assert secret not in caplog.text


class _Gateway:
    """A local SMS gateway: records POSTs, answers with `status`."""

    def __init__(self) -> None:
        self.status = 202
        self.received: list[tuple[str, dict[str, str], dict[str, object]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                outer.received.append((self.path, dict(self.headers), body))
                out = json.dumps({"ok": outer.status < 300}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/sms"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    g = _Gateway()
    yield g
    g.close()


def test_http_sms_sender(gateway: _Gateway) -> None:
    sender = HttpSmsSender(gateway.url, "s3cret", sender="Demola")
    text = sms_text("confirmation", reservation(), SITE, KELA, URL)
    sender.send(SmsMessage("040 123 4567", text))
    path, headers, body = gateway.received[0]
    assert path == "/api/sms"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    assert body == {"to": "+358401234567", "text": text, "from": "Demola"}


@pytest.mark.parametrize(
    ("status", "temporary"),
    [(500, True), (503, True), (429, True), (400, False), (401, False), (404, False)],
)
def test_http_sms_sender_errors(gateway: _Gateway, status: int, temporary: bool) -> None:
    gateway.status = status
    with pytest.raises(SendError) as err:
        HttpSmsSender(gateway.url, "t").send(SmsMessage("0401234567", "x"))
    assert err.value.temporary is temporary
    assert str(status) in str(err.value)


def test_http_sms_sender_unreachable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SendError) as err:
        HttpSmsSender(f"http://127.0.0.1:{port}/x", timeout=2).send(SmsMessage("0401234567", "x"))
    assert err.value.temporary


def test_http_sms_sender_bad_number_is_permanent(gateway: _Gateway) -> None:
    with pytest.raises(SendError) as err:
        HttpSmsSender(gateway.url).send(SmsMessage("12", "x"))
    assert err.value.permanent
    assert gateway.received == []


# ---------------------------------------------------------------------------- notifier


class _Recorder(Sender):
    def __init__(self, fail: SendError | None = None) -> None:
        self.sent: list[object] = []
        self.fail = fail

    def send(self, message: object) -> None:  # type: ignore[override]
        if self.fail:
            raise self.fail
        self.sent.append(message)


def test_notifier_sends_what_applies() -> None:
    email, sms = _Recorder(), _Recorder()
    n = Notifier(email, sms, from_addr="noreply@example.fi", sms_kinds=("reminder",))
    sent = n.notify("confirmation", reservation(), SITE, KELA, URL)
    assert [s.channel for s in sent] == ["email"]
    sent = n.notify("reminder", reservation(), SITE, KELA, URL)
    assert [s.channel for s in sent] == ["email", "sms"]
    assert sent[1].to == "+358*******67"
    assert n.notify("reminder", reservation(email=None, phone=None), SITE, KELA) == []
    assert [
        s.channel for s in n.notify("reminder", reservation(), SITE, KELA, channels=("sms",))
    ] == ["sms"]


def test_notifier_partial_failure_reports_sent_and_failed() -> None:
    email = _Recorder(SendError("down", temporary=True))
    sms = _Recorder()
    n = Notifier(email, sms, from_addr="noreply@example.fi")
    with pytest.raises(SendError) as err:
        n.notify("confirmation", reservation(), SITE, KELA, URL)
    assert err.value.temporary
    assert err.value.failed == ("email",)
    assert [s.channel for s in err.value.sent] == ["sms"]
    assert len(sms.sent) == 1


def test_config_full(tmp_path: Path) -> None:
    (tmp_path / "smtp.pass").write_text("pw\n")
    (tmp_path / "sms.token").write_text("tok\n")
    n = senders_from_config(
        {
            "email": {
                "smtp_host": "smtp.example.fi",
                "starttls": True,
                "from": "Demola <ajanvaraus@example.fi>",
                "username": "vuoro",
                "password_file": "smtp.pass",
            },
            "sms": {
                "kind": "http",
                "url": "https://sms.example.fi/send",
                "token_file": str(tmp_path / "sms.token"),
                "kinds": ["reminder"],
            },
        },
        base_dir=tmp_path,
    )
    assert isinstance(n.email, SmtpSender)
    assert (n.email.host, n.email.port, n.email.password) == ("smtp.example.fi", 587, "pw")
    assert n.email.from_addr == "ajanvaraus@example.fi"
    assert isinstance(n.sms, HttpSmsSender) and n.sms.token == "tok"
    assert n.sms_kinds == {"reminder"}


def test_config_file_and_none(tmp_path: Path) -> None:
    n = senders_from_config(
        {
            "email": {"kind": "file", "dir": str(tmp_path), "from": "x@example.fi"},
            "sms": {"kind": "file", "dir": str(tmp_path)},
        }
    )
    assert isinstance(n.email, FileSender) and isinstance(n.sms, FileSender)
    n = senders_from_config({})
    assert n.email is None and n.sms is None
    n = senders_from_config({"email": {"kind": "none"}, "sms": {"kind": "log"}})
    assert n.email is None and isinstance(n.sms, LogSender)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"email": {"smtp_host": "h"}}, "notify.email.from"),
        ({"email": {"smtp_host": "h", "from": "x@y.fi", "smtp_prot": 25}}, "smtp_prot"),
        (
            {"email": {"smtp_host": "h", "from": "x@y.fi", "ssl": True, "starttls": True}},
            "exclusive",
        ),
        ({"email": {"smtp_host": "h", "from": "x@y.fi", "smtp_port": "25"}}, "expected int"),
        ({"email": {"smtp_host": "h", "from": "x@y.fi", "username": "u"}}, "password"),
        (
            {"email": {"smtp_host": "h", "from": "x@y.fi", "password": "a", "password_file": "b"}},
            "not both",
        ),
        (
            {
                "email": {
                    "smtp_host": "h",
                    "from": "x@y.fi",
                    "username": "u",
                    "password_file": "/nonexistent/pw",
                }
            },
            "cannot read",
        ),
        ({"email": {"from": "x@y.fi"}}, "smtp_host"),
        ({"email": {"kind": "pigeon", "from": "x@y.fi"}}, "pigeon"),
        ({"sms": {"kind": "http"}}, "notify.sms.url"),
        ({"sms": {"kind": "carrier-pigeon"}}, "carrier-pigeon"),
        ({"sms": {"kind": "file"}}, "notify.sms.dir"),
        ({"sms": {"kind": "log", "kinds": ["birthday"]}}, "notify.sms.kinds"),
        ({"fax": {}}, "fax"),
    ],
)
def test_config_errors(cfg: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        senders_from_config(cfg)
