"""Confirmations, reminders, cancellations and reschedule notices (issue 3 item 3).

- `compose` writes the e-mail in the customer's language (fi, sv, en; Finnish when the
  language is unknown): the service, the local date and time written out, the site, the
  booking code to check in with at the kiosk, the service's instructions, how to cancel
  or reschedule; plain text with an HTML alternative and an .ics attachment.
- `sms_text` writes the same as one short SMS (160 GSM-7 characters where possible).
- Senders share one small interface, `Sender.send(message)`, raising `SendError`
  (`temporary` true: try again later; false: this message will never go through):
  `SmtpSender` (e-mail), `HttpSmsSender` (SMS gateway), and for both channels
  `FileSender` (a file per message: the demo, offline development) and `LogSender`
  (logs the masked recipient and the subject only).
- `senders_from_config` builds a `Notifier` from the `[notify]` configuration;
  `Notifier.notify` sends whatever the reservation has an address for.

Identity codes and their hashes are never written into any message.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import re
import smtplib
import ssl as _ssl
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import httpx

from firmware_common.config import ConfigError
from scheduler.domain.model import ServiceDef, SiteDef

from .ical import localized, place_text, reservation_ics
from .model import Reservation

log = logging.getLogger(__name__)

KINDS = ("confirmation", "reminder", "cancellation", "rescheduled")
LANGS = ("fi", "sv", "en")
SMS_MAX = 160

# ---------------------------------------------------------------------------- dates

_FI_DAYS = (
    "maanantaina",
    "tiistaina",
    "keskiviikkona",
    "torstaina",
    "perjantaina",
    "lauantaina",
    "sunnuntaina",
)
_SV_DAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SHORT_DAYS = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "sv": ("mån", "tis", "ons", "tor", "fre", "lör", "sön"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def _lang(lang: str | None) -> str:
    return lang if lang in LANGS else "fi"


def clock_text(at: datetime, lang: str) -> str:
    """'9.30' (fi, sv) or '9:30' (en)."""
    sep = ":" if _lang(lang) == "en" else "."
    return f"{at.hour}{sep}{at.minute:02d}"


def when_long(at: datetime, lang: str) -> str:
    """A local time written out: 'tiistaina 1.12.2026 klo 9.30',
    'tisdag 1.12.2026 kl. 9.30', 'Tuesday 1 December 2026 at 9:30'."""
    lang = _lang(lang)
    wd, t = at.weekday(), clock_text(at, lang)
    if lang == "sv":
        return f"{_SV_DAYS[wd]} {at.day}.{at.month}.{at.year} kl. {t}"
    if lang == "en":
        return f"{_EN_DAYS[wd]} {at.day} {_EN_MONTHS[at.month - 1]} {at.year} at {t}"
    return f"{_FI_DAYS[wd]} {at.day}.{at.month}.{at.year} klo {t}"


def when_short(at: datetime, lang: str) -> str:
    """For SMS: 'ti 1.12. klo 9.30', 'tis 1.12. kl. 9.30', 'Tue 1 Dec at 9:30'."""
    lang = _lang(lang)
    wd, t = _SHORT_DAYS[lang][at.weekday()], clock_text(at, lang)
    if lang == "sv":
        return f"{wd} {at.day}.{at.month}. kl. {t}"
    if lang == "en":
        return f"{wd} {at.day} {_EN_MONTHS[at.month - 1][:3]} at {t}"
    return f"{wd} {at.day}.{at.month}. klo {t}"


# ---------------------------------------------------------------------------- texts

_T: dict[str, dict[str, Any]] = {
    "fi": {
        "subject": {
            "confirmation": "Ajanvaraus vahvistettu: {service}, {when}",
            "reminder": "Muistutus ajanvarauksesta: {service}, {when}",
            "cancellation": "Ajanvaraus peruttu: {service}, {when}",
            "rescheduled": "Ajanvarauksen aika muuttunut: {service}, {when}",
        },
        "lead": {
            "confirmation": "Ajanvarauksesi on vahvistettu.",
            "reminder": "Muistutamme varaamastasi ajasta.",
            "cancellation": "Ajanvarauksesi on peruttu.",
            "rescheduled": "Ajanvarauksesi aika on muuttunut. Uusi aika on alla.",
        },
        "hello": "Hei",
        "service": "Palvelu",
        "time": "Aika",
        "place": "Paikka",
        "code": "Varaustunnus",
        "checkin": (
            "Kun saavut, ilmoittaudu aulan ilmoittautumisautomaatilla tällä "
            "varaustunnuksella tai henkilökortillasi."
        ),
        "instructions": "Ohjeet",
        "manage": "Peruminen ja ajan muuttaminen",
        "manage_url": "Voit perua tai muuttaa varauksen osoitteessa:",
        "limit": "Peruminen ja muuttaminen on mahdollista viimeistään {h} ennen varattua aikaa.",
        "hours": ("tunti", "tuntia"),
        "rebook": "Voit varata uuden ajan osoitteessa:",
        "footer": "Tämä on automaattinen viesti. Siihen ei voi vastata.",
        "calendar": "varaus.ics",
        "sms": {
            "confirmation": "Varattu aika:",
            "reminder": "Muistutus:",
            "cancellation": "Peruttu:",
            "rescheduled": "Uusi aika:",
        },
        "sms_manage": "Peru/muuta:",
        "sms_rebook": "Uusi varaus:",
    },
    "sv": {
        "subject": {
            "confirmation": "Bokningen är bekräftad: {service}, {when}",
            "reminder": "Påminnelse om din bokning: {service}, {when}",
            "cancellation": "Bokningen är avbokad: {service}, {when}",
            "rescheduled": "Ny tid för din bokning: {service}, {when}",
        },
        "lead": {
            "confirmation": "Din tidsbokning är bekräftad.",
            "reminder": "Vi påminner om din bokade tid.",
            "cancellation": "Din tidsbokning har avbokats.",
            "rescheduled": "Tiden för din bokning har ändrats. Den nya tiden står nedan.",
        },
        "hello": "Hej",
        "service": "Tjänst",
        "time": "Tid",
        "place": "Plats",
        "code": "Bokningskod",
        "checkin": (
            "När du kommer, anmäl dig vid anmälningsautomaten i entréhallen med den här "
            "bokningskoden eller ditt identitetskort."
        ),
        "instructions": "Anvisningar",
        "manage": "Avbokning och ändring",
        "manage_url": "Du kan avboka eller ändra bokningen på:",
        "limit": "Avbokning och ändring är möjlig senast {h} före den bokade tiden.",
        "hours": ("timme", "timmar"),
        "rebook": "Du kan boka en ny tid på:",
        "footer": "Detta är ett automatiskt meddelande. Du kan inte svara på det.",
        "calendar": "bokning.ics",
        "sms": {
            "confirmation": "Bokad tid:",
            "reminder": "Påminnelse:",
            "cancellation": "Avbokad:",
            "rescheduled": "Ny tid:",
        },
        "sms_manage": "Avboka/ändra:",
        "sms_rebook": "Boka ny tid:",
    },
    "en": {
        "subject": {
            "confirmation": "Appointment confirmed: {service}, {when}",
            "reminder": "Reminder of your appointment: {service}, {when}",
            "cancellation": "Appointment cancelled: {service}, {when}",
            "rescheduled": "Your appointment has moved: {service}, {when}",
        },
        "lead": {
            "confirmation": "Your appointment is confirmed.",
            "reminder": "This is a reminder of your appointment.",
            "cancellation": "Your appointment has been cancelled.",
            "rescheduled": "Your appointment has been moved. The new time is below.",
        },
        "hello": "Hello",
        "service": "Service",
        "time": "Time",
        "place": "Place",
        "code": "Booking code",
        "checkin": (
            "When you arrive, check in at the kiosk in the lobby with this code or your ID card."
        ),
        "instructions": "Instructions",
        "manage": "Cancelling or changing",
        "manage_url": "You can cancel or change your appointment at:",
        "limit": "You can cancel or change it up to {h} before the appointment.",
        "hours": ("hour", "hours"),
        "rebook": "You can book a new time at:",
        "footer": "This message was sent automatically. Please do not reply to it.",
        "calendar": "appointment.ics",
        "sms": {
            "confirmation": "Booked:",
            "reminder": "Reminder:",
            "cancellation": "Cancelled:",
            "rescheduled": "New time:",
        },
        "sms_manage": "Cancel/change:",
        "sms_rebook": "Book again:",
    },
}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; one of {KINDS}")


def _hours_text(h: int, lang: str) -> str:
    one, many = _T[lang]["hours"]
    return f"{h} {one if h == 1 else many}"


@dataclass(frozen=True)
class _Content:
    """The parts of a message, in one language."""

    lang: str
    kind: str
    greeting: str
    lead: str
    rows: tuple[tuple[str, str], ...]  # (label, value)
    code_label: str
    code: str
    checkin: str | None
    instructions_label: str
    instructions: str | None
    manage_label: str | None
    manage_lines: tuple[tuple[str, str | None], ...]  # (text, url after it)
    footer: str
    subject: str


def _content(
    kind: str,
    res: Reservation,
    site: SiteDef,
    service: ServiceDef,
    manage_url: str | None,
    location: str | None,
    cancel_limit_h: int | None,
) -> _Content:
    _check_kind(kind)
    lang = _lang(res.lang)
    t = _T[lang]
    tz = site.tz
    start, end = res.start.astimezone(tz), res.end.astimezone(tz)
    svc = localized(service.name, lang)
    when = when_long(start, lang)
    name = (res.name or "").strip()
    greeting = f"{t['hello']} {name}," if name else f"{t['hello']},"
    place = place_text(site, lang, location)
    rows = (
        (t["service"], svc),
        (t["time"], f"{when}–{clock_text(end, lang)}"),
        (t["place"], place),
    )
    cancelled = kind == "cancellation"
    manage_lines: list[tuple[str, str | None]] = []
    if cancelled:
        if manage_url:
            manage_lines.append((t["rebook"], manage_url))
    else:
        if manage_url:
            manage_lines.append((t["manage_url"], manage_url))
        if cancel_limit_h is not None and cancel_limit_h > 0:
            manage_lines.append((t["limit"].format(h=_hours_text(cancel_limit_h, lang)), None))
    manage_label = t["manage"] if manage_lines and not cancelled else None
    return _Content(
        lang=lang,
        kind=kind,
        greeting=greeting,
        lead=t["lead"][kind],
        rows=rows,
        code_label=t["code"],
        code=res.code,
        checkin=None if cancelled else t["checkin"],
        instructions_label=t["instructions"],
        instructions=None if cancelled else (localized(service.instructions, lang) or None),
        manage_label=manage_label,
        manage_lines=tuple(manage_lines),
        footer=t["footer"],
        subject=t["subject"][kind].format(service=svc, when=when),
    )


def _plain(c: _Content) -> str:
    out = [c.greeting, "", c.lead, ""]
    width = max(len(label) for label, _ in c.rows) + 1
    out += [f"{label + ':':<{width}} {value}" for label, value in c.rows]
    out += ["", f"{c.code_label}:", "", f"    {c.code}", ""]
    if c.checkin:
        out += [c.checkin, ""]
    if c.instructions:
        out += [f"{c.instructions_label}:", c.instructions, ""]
    if c.manage_label:
        out.append(f"{c.manage_label}:")
    if c.manage_lines:
        for line, url in c.manage_lines:
            out += [line, url] if url else [line]
        out.append("")
    out += ["-- ", c.footer, ""]
    return "\n".join(out)


def _html(c: _Content) -> str:
    e = html.escape
    parts = [
        f'<!DOCTYPE html><html lang="{c.lang}"><head><meta charset="utf-8">',
        f"<title>{e(c.subject)}</title></head>",
        '<body style="font-family:sans-serif;line-height:1.4;color:#222">',
        f"<p>{e(c.greeting)}</p>",
        f"<p>{e(c.lead)}</p>",
        "<table>",
        *(
            f'<tr><th style="text-align:left;padding-right:1em">{e(label)}</th>'
            f"<td>{e(value)}</td></tr>"
            for label, value in c.rows
        ),
        "</table>",
        f"<p>{e(c.code_label)}:</p>",
        '<p style="font-size:2em;font-weight:bold;letter-spacing:0.15em;'
        f'font-family:monospace">{e(c.code)}</p>',
    ]
    if c.checkin:
        parts.append(f"<p>{e(c.checkin)}</p>")
    if c.instructions:
        parts += [f"<h3>{e(c.instructions_label)}</h3>", f"<p>{e(c.instructions)}</p>"]
    if c.manage_label:
        parts.append(f"<h3>{e(c.manage_label)}</h3>")
    for line, url in c.manage_lines:
        link = f'<br><a href="{e(url, quote=True)}">{e(url)}</a>' if url else ""
        parts.append(f"<p>{e(line)}{link}</p>")
    parts += [f'<p style="color:#666;font-size:0.9em">{e(c.footer)}</p>', "</body></html>"]
    return "\n".join(parts)


def compose(
    kind: str,
    res: Reservation,
    site: SiteDef,
    service: ServiceDef,
    *,
    sender: str,
    manage_url: str | None = None,
    location: str | None = None,
    cancel_limit_h: int | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The e-mail of `kind` about `res`, in `res.lang` (Finnish when unknown).

    `sender` is the From address (a bare address gets the site's name as its display
    name); `manage_url` the page to cancel or reschedule; `location` the street address
    after the site name; `cancel_limit_h` the site's cancellation limit, mentioned when
    given. Raises ValueError for an unknown kind or a reservation without an e-mail.
    """
    if not res.email:
        raise ValueError(f"reservation {res.id} has no e-mail address")
    c = _content(kind, res, site, service, manage_url, location, cancel_limit_h)
    from_name, from_addr = parseaddr(sender)
    if not from_addr or "@" not in from_addr:
        raise ValueError(f"sender {sender!r} is not an e-mail address")
    site_name = localized(site.name, c.lang)
    msg = EmailMessage()
    msg["From"] = formataddr((from_name or site_name, from_addr))
    msg["To"] = formataddr((res.name or "", res.email)) if res.name else res.email
    msg["Subject"] = c.subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=from_addr.rsplit("@", 1)[1])
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_plain(c))
    msg.add_alternative(_html(c), subtype="html")
    method = "CANCEL" if kind == "cancellation" else "REQUEST"
    ics = reservation_ics(
        res,
        site,
        service,
        lang=c.lang,
        method=method,
        location=location,
        organizer=from_addr,
        url=manage_url,
        now=now,
    )
    msg.add_attachment(
        ics,
        maintype="text",
        subtype="calendar",
        filename=_T[c.lang]["calendar"],
        params={"method": method, "charset": "utf-8"},
    )
    msg["Content-Language"] = c.lang  # after the parts: set_content drops Content-* headers
    return msg


# ---------------------------------------------------------------------------- SMS

_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = "^{}\\[~]|€\f"
_GSM7 = frozenset(_GSM7_BASIC + _GSM7_EXT)
_GSM7_MAP = {
    "–": "-",
    "—": "-",
    "‐": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "…": "...",
    "\u00a0": " ",
    "\t": " ",
}


def to_gsm7(text: str) -> str:
    """Replace what the GSM 7-bit alphabet lacks: dashes and quotes by ASCII ones,
    other letters by their base letter (š -> s), anything else by '?'."""
    out = []
    for ch in text:
        if ch in _GSM7:
            out.append(ch)
        elif ch in _GSM7_MAP:
            out.append(_GSM7_MAP[ch])
        else:
            base = "".join(
                b for b in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(b)
            )
            out.append(base if base and all(b in _GSM7 for b in base) else "?")
    return "".join(out)


def gsm7_length(text: str) -> int:
    """Septets the text takes (extension characters take two); -1 if not GSM-7."""
    n = 0
    for ch in text:
        if ch in _GSM7_EXT:
            n += 2
        elif ch in _GSM7:
            n += 1
        else:
            return -1
    return n


def sms_text(
    kind: str,
    res: Reservation,
    site: SiteDef,
    service: ServiceDef,
    manage_url: str | None = None,
) -> str:
    """One SMS about `res` in its language, in GSM-7, within 160 characters where
    possible (the site name goes first, then the service name is shortened; the
    booking code, time and link always stay)."""
    _check_kind(kind)
    lang = _lang(res.lang)
    t = _T[lang]
    when = when_short(res.start.astimezone(site.tz), lang)
    svc = to_gsm7(localized(service.name, lang))
    site_name = to_gsm7(localized(site.name, lang))
    url = manage_url.strip() if manage_url else None
    link_label = t["sms_rebook"] if kind == "cancellation" else t["sms_manage"]

    def build(svc_text: str, with_site: bool) -> str:
        text = f"{t['sms'][kind]} {svc_text} {when}"
        if with_site:
            text += f", {site_name}"
        text += f". {t['code']} {res.code}."
        if url:
            text += f" {link_label} {url}"
        return to_gsm7(text)

    text = build(svc, True)
    if gsm7_length(text) <= SMS_MAX:
        return text
    text = build(svc, False)
    over = gsm7_length(text) - SMS_MAX
    if over > 0 and len(svc) > 12:
        keep = max(12, len(svc) - over - 1)
        text = build(svc[:keep].rstrip() + ".", False)
    return text


# ---------------------------------------------------------------------------- senders


@dataclass(frozen=True)
class SmsMessage:
    to: str  # a phone number as the customer gave it; senders normalise it
    text: str


Message = EmailMessage | SmsMessage


class SendError(Exception):
    """A message was not sent. `temporary`: worth trying again later (network, server
    busy, configuration being fixed); otherwise this message will never go through
    (a refused address, an invalid number). From `Notifier.notify`, `sent` lists the
    channels that did go out, `failed` the ones that did not."""

    def __init__(
        self,
        message: str,
        *,
        temporary: bool = True,
        sent: tuple[Sent, ...] = (),
        failed: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.sent = sent
        self.failed = failed

    @property
    def permanent(self) -> bool:
        return not self.temporary


def mask_address(addr: str) -> str:
    """'maija.m@example.fi' -> 'm***@example.fi'; '+358401234567' -> '+358*******67'."""
    if "@" in addr:
        a = parseaddr(addr)[1] or addr
        local, domain = a.rsplit("@", 1)
        return f"{local[:1]}***@{domain}"
    try:
        digits = normalize_phone(addr)
    except SendError:
        digits = re.sub(r"[^\d+]", "", addr)
    return _mask_digits(digits)


def _mask_digits(digits: str) -> str:
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


def normalize_phone(phone: str, country_code: str = "358") -> str:
    """A Finnish-style number to E.164: '040 123 4567' -> '+358401234567',
    '00358...' and '+...' kept international. Raises SendError (permanent)."""
    p = re.sub(r"[\s\-().]", "", phone or "")
    if p.startswith("00"):
        p = "+" + p[2:]
    elif p.startswith("0"):
        p = f"+{country_code}{p[1:]}"
    elif not p.startswith("+"):
        p = f"+{country_code}{p}"
    if not re.fullmatch(r"\+[1-9]\d{6,14}", p):
        masked = _mask_digits(re.sub(r"[^\d+]", "", phone or ""))
        raise SendError(f"not a phone number: {masked!r}", temporary=False)
    return p


class Sender(ABC):
    """Sends one message; raises `SendError` when it does not go out."""

    @abstractmethod
    def send(self, message: Message) -> None: ...


class SmtpSender(Sender):
    """E-mail over SMTP (smtplib): plain, STARTTLS (`starttls=True`, port 587) or
    implicit TLS (`ssl=True`, port 465), with optional login. One connection per
    message: confirmations come a few a minute, not thousands."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 10,
        from_addr: str | None = None,
        *,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose starttls or ssl, not both")
        if username and password is None:
            raise ValueError("SMTP username given without a password")
        self.host, self.port = host, int(port)
        self.username, self.password = username, password
        self.starttls, self.ssl = starttls, ssl
        self.timeout = timeout
        self.from_addr = from_addr
        self.ssl_context = ssl_context

    def _context(self) -> _ssl.SSLContext:
        return self.ssl_context or _ssl.create_default_context()

    def send(self, message: Message) -> None:
        if not isinstance(message, EmailMessage):
            raise TypeError("SmtpSender sends e-mail messages only")
        to = [a for _, a in _addresses(message, "To", "Cc", "Bcc") if a]
        if not to:
            raise SendError("the message has no recipient", temporary=False)
        envelope_from = self.from_addr or parseaddr(str(message.get("From", "")))[1]
        where = f"SMTP {self.host}:{self.port}"
        try:
            smtp: smtplib.SMTP
            if self.ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(message, from_addr=envelope_from, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendError(
                f"{where} refused the recipient ({', '.join(map(str, codes))})",
                temporary=all(400 <= c < 500 for c in codes),
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(
                f"{where}: login failed ({exc.smtp_code}); check the username and password",
                temporary=True,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SendError(f"{where}: {exc} (check starttls/ssl)", temporary=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise SendError(
                f"{where} answered {exc.smtp_code} {_decode(exc.smtp_error)}",
                temporary=exc.smtp_code < 500,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"{where}: {exc or type(exc).__name__}", temporary=True) from exc
        if refused:
            codes = [code for code, _ in refused.values()]
            raise SendError(
                f"{where} refused the recipient ({', '.join(map(str, codes))})",
                temporary=all(400 <= c < 500 for c in codes),
            )


def _addresses(msg: EmailMessage, *headers: str) -> list[tuple[str, str]]:
    from email.utils import getaddresses

    values = [str(v) for h in headers for v in (msg.get_all(h) or [])]
    return getaddresses(values)


def _decode(b: bytes | str) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


class HttpSmsSender(Sender):
    """SMS through an HTTP gateway: POST `url` with the JSON body
    `{"to": "+358401234567", "text": "...", "from": sender}` ("from" only when set)
    and `Authorization: Bearer <token>`. Any 2xx is success; 408, 429 and 5xx are
    temporary failures, other 4xx permanent. Most Finnish SMS gateways take this shape
    directly or behind a small proxy; `to_field`, `text_field` and `headers` adapt the
    names."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        sender: str | None = None,
        timeout: float = 10,
        country_code: str = "358",
        to_field: str = "to",
        text_field: str = "text",
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"SMS gateway url must be http(s): {url!r}")
        self.url = url
        self.token = token
        self.sender = sender
        self.timeout = timeout
        self.country_code = country_code
        self.to_field, self.text_field = to_field, text_field
        self.headers = dict(headers or {})
        self.transport = transport

    def send(self, message: Message) -> None:
        if not isinstance(message, SmsMessage):
            raise TypeError("HttpSmsSender sends SMS messages only")
        body: dict[str, str] = {
            self.to_field: normalize_phone(message.to, self.country_code),
            self.text_field: message.text,
        }
        if self.sender:
            body["from"] = self.sender
        headers = {"Accept": "application/json", **self.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        host = httpx.URL(self.url).host
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                resp = client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendError(f"SMS gateway {host}: {exc}", temporary=True) from exc
        code = resp.status_code
        if 200 <= code < 300:
            return
        detail = resp.text[:200].strip()
        raise SendError(
            f"SMS gateway {host} answered HTTP {code}: {detail}",
            temporary=code in (408, 425, 429) or code >= 500,
        )


class FileSender(Sender):
    """Writes each message to `dir`: e-mail as `<time>-<n>-email.eml` (open it in a
    mail program), SMS as `<time>-<n>-sms.json`. For the demo and offline work."""

    def __init__(self, dir: str | os.PathLike[str]) -> None:
        self.dir = Path(dir)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.last_path: Path | None = None

    def send(self, message: Message) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        with self._lock:
            n = next(self._seq)
        if isinstance(message, EmailMessage):
            name, data = f"{stamp}-{n:04d}-email.eml", message.as_bytes()
        else:
            name = f"{stamp}-{n:04d}-sms.json"
            data = json.dumps(
                {"to": message.to, "text": message.text}, ensure_ascii=False, indent=1
            ).encode()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f".{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, self.dir / name)
        except OSError as exc:
            raise SendError(f"cannot write {self.dir / name}: {exc.strerror}") from exc
        self.last_path = self.dir / name


class LogSender(Sender):
    """Only logs: the masked recipient and the subject (e-mail) or the length (SMS),
    never the body."""

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self.log = logger or log
        self.level = level

    def send(self, message: Message) -> None:
        if isinstance(message, EmailMessage):
            to = ", ".join(mask_address(a) for _, a in _addresses(message, "To"))
            self.log.log(self.level, "e-mail to %s: %s", to, message.get("Subject", ""))
        else:
            self.log.log(
                self.level,
                "SMS to %s (%d characters)",
                mask_address(message.to),
                len(message.text),
            )


# ---------------------------------------------------------------------------- notifier


@dataclass(frozen=True)
class Sent:
    channel: str  # "email" or "sms"
    kind: str
    to: str  # masked
    message: Message


class Notifier:
    """Sends a notification by e-mail (when the reservation has an address and e-mail
    is configured) and by SMS (when it has a phone number, SMS is configured and the
    kind is among `sms_kinds`)."""

    def __init__(
        self,
        email: Sender | None = None,
        sms: Sender | None = None,
        *,
        from_addr: str | None = None,
        sms_kinds: Iterable[str] = KINDS,
    ) -> None:
        if email is not None and not from_addr:
            raise ValueError("e-mail needs a from address")
        self.email = email
        self.sms = sms
        self.from_addr = from_addr
        self.sms_kinds = frozenset(sms_kinds)
        for k in self.sms_kinds:
            _check_kind(k)

    def notify(
        self,
        kind: str,
        res: Reservation,
        site: SiteDef,
        service: ServiceDef,
        manage_url: str | None = None,
        *,
        location: str | None = None,
        cancel_limit_h: int | None = None,
        channels: Iterable[str] = ("email", "sms"),
    ) -> list[Sent]:
        """Send what applies; returns what went out. If a channel fails, the others are
        still tried and then `SendError` is raised with `.sent` and `.failed`, so the
        caller's outbox can retry only the failed channels (`channels=...`)."""
        _check_kind(kind)
        wanted = set(channels)
        sent: list[Sent] = []
        failed: list[tuple[str, SendError]] = []
        if "email" in wanted and self.email is not None and res.email:
            msg = compose(
                kind,
                res,
                site,
                service,
                sender=self.from_addr or "",
                manage_url=manage_url,
                location=location,
                cancel_limit_h=cancel_limit_h,
            )
            try:
                self.email.send(msg)
                sent.append(Sent("email", kind, mask_address(res.email), msg))
            except SendError as exc:
                failed.append(("email", exc))
        if "sms" in wanted and self.sms is not None and res.phone and kind in self.sms_kinds:
            sms = SmsMessage(res.phone, sms_text(kind, res, site, service, manage_url))
            try:
                self.sms.send(sms)
                sent.append(Sent("sms", kind, mask_address(res.phone), sms))
            except SendError as exc:
                failed.append(("sms", exc))
        if failed:
            raise SendError(
                "; ".join(f"{ch}: {exc}" for ch, exc in failed),
                temporary=all(exc.temporary for _, exc in failed),
                sent=tuple(sent),
                failed=tuple(ch for ch, _ in failed),
            )
        return sent


# ---------------------------------------------------------------------------- config

_EMAIL_KEYS = {
    "kind",
    "smtp_host",
    "smtp_port",
    "from",
    "starttls",
    "ssl",
    "username",
    "password",
    "password_file",
    "timeout",
    "ca_file",
    "dir",
}
_SMS_KEYS = {
    "kind",
    "url",
    "token",
    "token_file",
    "sender",
    "timeout",
    "country_code",
    "dir",
    "kinds",
}


def _secret(section: str, cfg: Mapping[str, Any], key: str, base: Path | None) -> str | None:
    value, file_key = cfg.get(key), f"{key}_file"
    path = cfg.get(file_key)
    if value is not None and path is not None:
        raise ConfigError(f"notify.{section}: give {key} or {file_key}, not both")
    if path is not None:
        p = Path(str(path))
        if base is not None and not p.is_absolute():
            p = base / p
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"notify.{section}.{file_key}: cannot read {p}: {exc.strerror}"
            ) from None
    return None if value is None else str(value)


def _check_keys(section: str, cfg: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ConfigError(
            f"notify.{section}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )


def _typed(section: str, cfg: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = cfg.get(key, default)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"notify.{section}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _email_sender(cfg: Mapping[str, Any], base: Path | None) -> tuple[Sender | None, str | None]:
    _check_keys("email", cfg, _EMAIL_KEYS)
    kind = _typed("email", cfg, "kind", str, "smtp" if "smtp_host" in cfg else None)
    if kind is None:
        raise ConfigError('notify.email: set smtp_host, or kind = "file", "log" or "none"')
    if kind == "none":
        return None, None
    from_addr = _typed("email", cfg, "from", str, None)
    if not from_addr or "@" not in parseaddr(from_addr)[1]:
        raise ConfigError(
            f'notify.email.from: an e-mail address is needed, e.g. "noreply@example.fi" '
            f"(got {from_addr!r})"
        )
    if kind == "smtp":
        host = _typed("email", cfg, "smtp_host", str, None)
        if not host:
            raise ConfigError("notify.email.smtp_host: the SMTP server is needed")
        starttls = _typed("email", cfg, "starttls", bool, False)
        use_ssl = _typed("email", cfg, "ssl", bool, False)
        if starttls and use_ssl:
            raise ConfigError("notify.email: starttls and ssl are exclusive; pick one")
        port = _typed("email", cfg, "smtp_port", int, 465 if use_ssl else 587 if starttls else 25)
        if not 0 < port < 65536:
            raise ConfigError(f"notify.email.smtp_port: {port} is not a port")
        username = _typed("email", cfg, "username", str, None)
        password = _secret("email", cfg, "password", base)
        if username and password is None:
            raise ConfigError("notify.email: username given without password or password_file")
        context = None
        ca_file = _typed("email", cfg, "ca_file", str, None)
        if ca_file:
            try:
                context = _ssl.create_default_context(cafile=ca_file)
            except (OSError, _ssl.SSLError) as exc:
                raise ConfigError(f"notify.email.ca_file: cannot load {ca_file}: {exc}") from None
        sender: Sender = SmtpSender(
            host,
            port,
            username=username,
            password=password,
            starttls=starttls,
            ssl=use_ssl,
            timeout=_typed("email", cfg, "timeout", float, 10.0),
            from_addr=parseaddr(from_addr)[1],
            ssl_context=context,
        )
    elif kind == "file":
        d = _typed("email", cfg, "dir", str, None)
        if not d:
            raise ConfigError('notify.email.dir: kind = "file" needs a directory')
        sender = FileSender(d)
    elif kind == "log":
        sender = LogSender()
    else:
        raise ConfigError(
            f'notify.email.kind: {kind!r} is not one of "smtp", "file", "log", "none"'
        )
    return sender, from_addr


def _sms_sender(cfg: Mapping[str, Any], base: Path | None) -> tuple[Sender | None, list[str]]:
    _check_keys("sms", cfg, _SMS_KEYS)
    kind = _typed("sms", cfg, "kind", str, "none")
    kinds = cfg.get("kinds", list(KINDS))
    if not isinstance(kinds, list) or any(k not in KINDS for k in kinds):
        raise ConfigError(f"notify.sms.kinds: a list of {', '.join(KINDS)}; got {kinds!r}")
    if kind == "none":
        return None, kinds
    if kind == "http":
        url = _typed("sms", cfg, "url", str, None)
        if not url or not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f'notify.sms.url: kind = "http" needs an http(s) URL (got {url!r})')
        cc = _typed("sms", cfg, "country_code", str, "358")
        if not cc.isdigit():
            raise ConfigError(f"notify.sms.country_code: digits only, e.g. 358 (got {cc!r})")
        return (
            HttpSmsSender(
                url,
                _secret("sms", cfg, "token", base),
                sender=_typed("sms", cfg, "sender", str, None),
                timeout=_typed("sms", cfg, "timeout", float, 10.0),
                country_code=cc,
            ),
            kinds,
        )
    if kind == "file":
        d = _typed("sms", cfg, "dir", str, None)
        if not d:
            raise ConfigError('notify.sms.dir: kind = "file" needs a directory')
        return FileSender(d), kinds
    if kind == "log":
        return LogSender(), kinds
    raise ConfigError(f'notify.sms.kind: {kind!r} is not one of "http", "file", "log", "none"')


def senders_from_config(cfg: Mapping[str, Any] | None, *, base_dir: Path | None = None) -> Notifier:
    """A `Notifier` from a mapping like

        {"email": {"smtp_host": "smtp.example.fi", "smtp_port": 587, "starttls": true,
                   "from": "ajanvaraus@example.fi", "username": "vuoro",
                   "password_file": "/etc/vuoro/smtp.pass"},
         "sms": {"kind": "http", "url": "https://sms.example.fi/api/send",
                 "token_file": "/etc/vuoro/sms.token", "sender": "Vuoro"}}

    (docs/notifications.md lists every key). A missing section means that channel is
    off. Relative `*_file` paths are read from `base_dir`. Raises `ConfigError`.
    """
    cfg = cfg or {}
    if not isinstance(cfg, Mapping):
        raise ConfigError("notify: expected a table with email and sms")
    unknown = sorted(set(cfg) - {"email", "sms"})
    if unknown:
        raise ConfigError(f"notify: unknown section(s) {', '.join(unknown)}; known: email, sms")
    email_cfg, sms_cfg = cfg.get("email"), cfg.get("sms")
    for name, section in (("email", email_cfg), ("sms", sms_cfg)):
        if section is not None and not isinstance(section, Mapping):
            raise ConfigError(f"notify.{name}: expected a table")
    email, from_addr = _email_sender(email_cfg, base_dir) if email_cfg else (None, None)
    sms, kinds = _sms_sender(sms_cfg, base_dir) if sms_cfg else (None, list(KINDS))
    return Notifier(email, sms, from_addr=from_addr, sms_kinds=kinds)
