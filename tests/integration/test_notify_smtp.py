"""Confirmation e-mails through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from scheduler.booking.model import Reservation
from scheduler.booking.notify import SendError, SmtpSender, compose, senders_from_config
from scheduler.domain.model import ServiceDef, SiteDef

HEL = ZoneInfo("Europe/Helsinki")
SENDER = "ajanvaraus@demola.example"
MANAGE = "https://vuoro.example/book/7KQ-4MX"
HETU = "131052-308T"
HETU_HASH = "9f2c4e1d0b7a66hetuhashvalue"

SITE = SiteDef(
    id="demo",
    name={"fi": "Asiointipiste Demola", "sv": "Servicepunkt Demola", "en": "Demola Service Point"},
)
SERVICE = ServiceDef(
    id="passport-pickup",
    name={"fi": "Passin nouto", "sv": "Avhämtning av pass", "en": "Passport pick-up"},
    provider="police",
    queue="police",
    appointments=True,
    instructions={
        "fi": "Ota mukaan vanha passi.",
        "sv": "Ta med ditt gamla pass.",
        "en": "Bring your old passport.",
    },
)


@dataclass
class Inbox:
    """Collects what the SMTP server accepts; refuses some recipients on purpose."""

    envelopes: list[Any] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def reservation(lang: str, start: datetime, **kw: Any) -> Reservation:
    base: dict[str, Any] = dict(
        id="0c6f9a4e-res",
        code="7KQ-4MX",
        site="demo",
        service=SERVICE.id,
        advisor="anna",
        start=start.astimezone(UTC),
        end=(start + (datetime(2000, 1, 1, 0, 20) - datetime(2000, 1, 1))).astimezone(UTC),
        lang=lang,
        name="Maija Meikäläinen",
        email="maija@example.fi",
        phone="+358401234567",
        hetu_hash=HETU_HASH,
        card_hash="cardhashvalue",
        version=2,
    )
    base.update(kw)
    return Reservation(**base)


def plain_and_html(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return (
        plain.get_content().replace("\r\n", "\n"),
        rich.get_content().replace("\r\n", "\n"),
    )


def calendar_part(msg: EmailMessage) -> tuple[EmailMessage, icalendar.Calendar]:
    parts = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    part = parts[0]
    data = part.get_payload(decode=True)
    return part, icalendar.Calendar.from_ical(data)


WINTER = datetime(2026, 12, 1, 9, 30, tzinfo=HEL)  # UTC+2
SUMMER = datetime(2026, 6, 16, 14, 15, tzinfo=HEL)  # UTC+3

CASES = [
    (
        "fi",
        WINTER,
        "tiistaina 1.12.2026 klo 9.30",
        "Ajanvaraus vahvistettu: Passin nouto",
        "Ota mukaan vanha passi.",
        "Hei Maija Meikäläinen,",
        "henkilökortillasi",
        "24 tuntia",
    ),
    (
        "sv",
        WINTER,
        "tisdag 1.12.2026 kl. 9.30",
        "Bokningen är bekräftad: Avhämtning av pass",
        "Ta med ditt gamla pass.",
        "Hej Maija Meikäläinen,",
        "identitetskort",
        "24 timmar",
    ),
    (
        "en",
        WINTER,
        "Tuesday 1 December 2026 at 9:30",
        "Appointment confirmed: Passport pick-up",
        "Bring your old passport.",
        "Hello Maija Meikäläinen,",
        "ID card",
        "24 hours",
    ),
    (
        "fi",
        SUMMER,
        "tiistaina 16.6.2026 klo 14.15",
        "Ajanvaraus vahvistettu: Passin nouto",
        "Ota mukaan vanha passi.",
        "Hei Maija Meikäläinen,",
        "henkilökortillasi",
        "24 tuntia",
    ),
    (
        "sv",
        SUMMER,
        "tisdag 16.6.2026 kl. 14.15",
        "Bokningen är bekräftad: Avhämtning av pass",
        "Ta med ditt gamla pass.",
        "Hej Maija Meikäläinen,",
        "identitetskort",
        "24 timmar",
    ),
    (
        "en",
        SUMMER,
        "Tuesday 16 June 2026 at 14:15",
        "Appointment confirmed: Passport pick-up",
        "Bring your old passport.",
        "Hello Maija Meikäläinen,",
        "ID card",
        "24 hours",
    ),
]


@pytest.mark.parametrize(
    ("lang", "start", "when", "subject", "instructions", "greeting", "checkin", "limit"), CASES
)
def test_confirmation_over_smtp(
    smtp: tuple[Inbox, int],
    lang: str,
    start: datetime,
    when: str,
    subject: str,
    instructions: str,
    greeting: str,
    checkin: str,
    limit: str,
) -> None:
    inbox, port = smtp
    res = reservation(lang, start)
    msg = compose(
        "confirmation",
        res,
        SITE,
        SERVICE,
        sender=SENDER,
        manage_url=MANAGE,
        location="Kauppakatu 1, 33100 Tampere",
        cancel_limit_h=24,
    )
    SmtpSender("127.0.0.1", port, from_addr=SENDER).send(msg)

    assert len(inbox.envelopes) == 1
    env = inbox.envelopes[0]
    assert env.rcpt_tos == ["maija@example.fi"]
    assert env.mail_from == SENDER
    got = inbox.messages()[0]
    assert got["Subject"].strip() == f"{subject}, {when}"
    assert "maija@example.fi" in got["To"]
    assert got["Content-Language"] == lang
    plain, rich = plain_and_html(got)
    for text in (plain, rich):
        assert greeting in text
        assert when in text
        assert instructions in text
        assert "7KQ-4MX" in text
        assert MANAGE in text
        assert limit in text
        assert checkin in text
        assert SITE.name[lang] in text
        assert "Kauppakatu 1, 33100 Tampere" in text
    assert "<html" in rich
    assert "\n    7KQ-4MX\n" in plain  # the code on a line of its own

    part, cal = calendar_part(got)
    assert part.get_param("method") == "REQUEST"
    assert str(cal["METHOD"]) == "REQUEST"
    (ev,) = cal.walk("VEVENT")
    assert ev["DTSTART"].dt == start.astimezone(UTC)
    assert ev["DTSTART"].dt.utcoffset().total_seconds() == 0
    assert str(ev["UID"]) == "reservation-0c6f9a4e-res@vuoro"
    assert int(ev["SEQUENCE"]) == 2
    assert str(ev["SUMMARY"]) == SERVICE.name[lang]
    assert "7KQ-4MX" in str(ev["DESCRIPTION"])

    raw = env.content if isinstance(env.content, bytes) else env.content.encode()
    decoded = raw + b"".join(
        (p.get_payload(decode=True) or b"") for p in got.walk() if not p.is_multipart()
    )
    for secret in (HETU, HETU_HASH, "cardhashvalue"):
        assert secret.encode() not in decoded


@pytest.mark.parametrize(
    ("lang", "subject"),
    [
        ("fi", "Ajanvaraus peruttu: Passin nouto, tiistaina 1.12.2026 klo 9.30"),
        ("sv", "Bokningen är avbokad: Avhämtning av pass, tisdag 1.12.2026 kl. 9.30"),
        ("en", "Appointment cancelled: Passport pick-up, Tuesday 1 December 2026 at 9:30"),
    ],
)
def test_cancellation_over_smtp(smtp: tuple[Inbox, int], lang: str, subject: str) -> None:
    inbox, port = smtp
    res = reservation(lang, WINTER, status="cancelled", version=3)
    msg = compose("cancellation", res, SITE, SERVICE, sender=SENDER, manage_url=MANAGE)
    SmtpSender("127.0.0.1", port).send(msg)
    got = inbox.messages()[0]
    assert got["Subject"].strip() == subject
    plain, _ = plain_and_html(got)
    assert "7KQ-4MX" in plain
    assert SERVICE.instructions[lang] not in plain  # nothing to bring to a cancelled visit
    part, cal = calendar_part(got)
    assert part.get_param("method") == "CANCEL"
    assert str(cal["METHOD"]) == "CANCEL"
    (ev,) = cal.walk("VEVENT")
    assert str(ev["STATUS"]) == "CANCELLED"
    assert str(ev["UID"]) == "reservation-0c6f9a4e-res@vuoro"
    assert int(ev["SEQUENCE"]) == 3


def test_reminder_and_rescheduled_without_name(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    sender = SmtpSender("127.0.0.1", port)
    res = reservation("en", SUMMER, name=None)
    sender.send(compose("reminder", res, SITE, SERVICE, sender=SENDER))
    sender.send(compose("rescheduled", res, SITE, SERVICE, sender=SENDER))
    reminder, moved = inbox.messages()
    assert reminder["Subject"].strip().startswith("Reminder of your appointment: Passport pick-up")
    assert moved["Subject"].strip().startswith("Your appointment has moved: Passport pick-up")
    plain, _ = plain_and_html(reminder)
    assert plain.startswith("Hello,\n")
    assert "Tuesday 16 June 2026 at 14:15" in plain
    _, cal = calendar_part(moved)
    assert str(cal["METHOD"]) == "REQUEST"


def test_unknown_language_falls_back_to_finnish(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    msg = compose("confirmation", reservation("de", WINTER), SITE, SERVICE, sender=SENDER)
    SmtpSender("127.0.0.1", port).send(msg)
    assert inbox.messages()[0]["Subject"].strip().startswith("Ajanvaraus vahvistettu")


def test_refused_recipients(smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    sender = SmtpSender("127.0.0.1", port)
    msg = compose(
        "confirmation",
        reservation("fi", WINTER, email="nobody@example.fi"),
        SITE,
        SERVICE,
        sender=SENDER,
    )
    with pytest.raises(SendError) as err:
        sender.send(msg)
    assert err.value.permanent and "550" in str(err.value)
    msg = compose(
        "confirmation",
        reservation("fi", WINTER, email="full@example.fi"),
        SITE,
        SERVICE,
        sender=SENDER,
    )
    with pytest.raises(SendError) as err:
        sender.send(msg)
    assert err.value.temporary and "452" in str(err.value)


def test_server_down_is_temporary() -> None:
    msg = compose("confirmation", reservation("fi", WINTER), SITE, SERVICE, sender=SENDER)
    with pytest.raises(SendError) as err:
        SmtpSender("127.0.0.1", _free_port(), timeout=3).send(msg)
    assert err.value.temporary


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_notifier_from_config_with_login(tmp_path: Any) -> None:
    inbox = Inbox()
    port = _free_port()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"vuoro",
            b"s3cret",
        )
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        (tmp_path / "smtp.pass").write_text("s3cret\n")
        notifier = senders_from_config(
            {
                "email": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": port,
                    "from": SENDER,
                    "username": "vuoro",
                    "password_file": "smtp.pass",
                },
                "sms": {"kind": "file", "dir": str(tmp_path / "sms")},
            },
            base_dir=tmp_path,
        )
        res = reservation("sv", WINTER)
        sent = notifier.notify("confirmation", res, SITE, SERVICE, MANAGE)
        assert [s.channel for s in sent] == ["email", "sms"]
        assert inbox.envelopes[0].rcpt_tos == ["maija@example.fi"]
        assert inbox.messages()[0]["Subject"].strip().startswith("Bokningen är bekräftad")
        (sms_file,) = (tmp_path / "sms").iterdir()
        assert "Bokningskod 7KQ-4MX" in sms_file.read_text()

        bad = senders_from_config(
            {
                "email": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": port,
                    "from": SENDER,
                    "username": "vuoro",
                    "password": "wrong",
                }
            }
        )
        with pytest.raises(SendError) as err:
            bad.notify("confirmation", res, SITE, SERVICE, MANAGE)
        assert err.value.temporary and err.value.failed == ("email",)
        assert "login failed" in str(err.value)
    finally:
        controller.stop()
