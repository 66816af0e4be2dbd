"""What a ticket says, in Finnish, Swedish and English.

`ticket_labels(lang)` gives the printed captions; `ticket_view(...)` turns a scheduler
ticket reply (PROTOCOL.md, the ticket object) into a `TicketView` in one language, with
the time in the site's timezone written the way each language writes it:
"24.11.2026 klo 9.41", "24.11.2026 kl. 9.41", "24 Nov 2026 9:41".

The printer (kiosk/printer.py) and the on-screen fallback (the number and the QR code
when the printer fails) both use `wait_text` and `appointment_text`, so the screen and
the paper say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kiosk.hardware import TicketView

LANGS = ("fi", "sv", "en")

_LABELS: dict[str, dict[str, str]] = {
    "fi": {
        "your_number": "Vuoronumerosi",
        "ahead": "Edelläsi {n} · odotus noin {m} min",
        "next": "Olet seuraavana vuorossa",
        "at_your_time": "Sinut kutsutaan varausaikanasi",
        "qr_caption": "Seuraa vuoroasi puhelimella",
        "offline": "Numero annettu ilman yhteyttä — seuraa näyttöä",
        "appointment": "Varaus klo {time}",
        "footer": "Odota, kunnes numerosi näkyy näytöllä.",
        "printer_failed": "Tulostin ei toimi. Ota numero talteen.",
    },
    "sv": {
        "your_number": "Ditt könummer",
        "ahead": "Före dig: {n} · väntetid cirka {m} min",
        "next": "Du står näst i tur",
        "at_your_time": "Du ropas upp vid din bokade tid",
        "qr_caption": "Följ din tur i mobilen",
        "offline": "Numret gavs utan förbindelse — följ skärmen",
        "appointment": "Bokning kl. {time}",
        "footer": "Vänta tills ditt nummer visas på skärmen.",
        "printer_failed": "Skrivaren fungerar inte. Kom ihåg ditt nummer.",
    },
    "en": {
        "your_number": "Your number",
        "ahead": "{n} ahead of you · about {m} min",
        "next": "You are next",
        "at_your_time": "You will be called at your booked time",
        "qr_caption": "Follow your turn on your phone",
        "offline": "Number issued offline — watch the screen",
        "appointment": "Appointment {time}",
        "footer": "Please wait until your number is shown on the screen.",
        "printer_failed": "The printer is not working. Please note your number.",
    },
}

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _lang(lang: str) -> str:
    return lang if lang in _LABELS else "en"


def ticket_labels(lang: str) -> dict[str, str]:
    """The printed captions in `lang` ("fi", "sv", "en"; anything else gets English).

    Keys: your_number, ahead ({n}, {m}), next, qr_caption, offline, appointment ({time}),
    footer, printer_failed.
    """
    return dict(_LABELS[_lang(lang)])


def format_clock(ts: datetime, lang: str) -> str:
    """ "9.41" (fi, sv) or "9:41" (en); `ts` already in local time."""
    sep = ":" if _lang(lang) == "en" else "."
    return f"{ts.hour}{sep}{ts.minute:02d}"


def format_time(ts: datetime, lang: str) -> str:
    """Date and time as the language writes it; `ts` already in local time."""
    lang = _lang(lang)
    clock = format_clock(ts, lang)
    if lang == "fi":
        return f"{ts.day}.{ts.month}.{ts.year} klo {clock}"
    if lang == "sv":
        return f"{ts.day}.{ts.month}.{ts.year} kl. {clock}"
    return f"{ts.day} {_MONTHS_EN[ts.month - 1]} {ts.year} {clock}"


def _parse_ts(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _pick(texts: Mapping[str, str] | str | None, lang: str) -> str | None:
    """One language out of an i18n dict, falling back to fi, en, then any."""
    if texts is None or isinstance(texts, str):
        return texts
    for key in (lang, "fi", "en"):
        if texts.get(key):
            return texts[key]
    return next((v for v in texts.values() if v), None)


def wait_text(view: TicketView) -> str:
    """ "Edelläsi 4 · odotus noin 12 min", or "Olet seuraavana vuorossa"."""
    labels = view.labels or ticket_labels(view.lang)
    if view.offline:
        return ""  # the queue is not known: the offline note says to watch the screen
    if view.appointment:
        return labels.get("at_your_time", "")
    if view.position <= 0:
        return labels.get("next", "")
    return labels.get("ahead", "{n} · {m}").format(n=view.position, m=max(view.eta_min, 1))


def appointment_text(
    appointment: Mapping[str, Any] | None, lang: str, tz: str = "Europe/Helsinki"
) -> str | None:
    """ "Varaus klo 9.30, Aino Virtanen" from the ticket's `appointment` object."""
    if not appointment:
        return None
    parts: list[str] = []
    start = appointment.get("start")
    if start:
        local = _parse_ts(str(start)).astimezone(ZoneInfo(tz))
        parts.append(ticket_labels(lang)["appointment"].format(time=format_clock(local, lang)))
    if appointment.get("resource"):
        parts.append(str(appointment["resource"]))
    return ", ".join(parts) or None


def ticket_view(
    ticket_reply: Mapping[str, Any],
    *,
    service_name: Mapping[str, str] | str,
    site_name: Mapping[str, str] | str,
    lang: str,
    instructions: Mapping[str, str] | str | None = None,
    tz: str = "Europe/Helsinki",
    offline: bool = False,
) -> TicketView:
    """A `TicketView` in `lang` from a scheduler ticket (a `ticket`/`checkin` result).

    `ticket_reply` is the ticket object itself (number, queue, service, position,
    eta_min, issued_at, status_url, appointment); a whole reply with the ticket under
    "ticket" is accepted too. `issued_at` missing (an offline ticket) means now.
    """
    tk: Mapping[str, Any] = ticket_reply
    if "number" not in tk and isinstance(tk.get("ticket"), Mapping):
        tk = tk["ticket"]
    lang = _lang(lang)
    zone = ZoneInfo(tz)
    issued = tk.get("issued_at")
    when = _parse_ts(str(issued)) if issued else datetime.now(UTC)
    return TicketView(
        lang=lang,
        site_name=_pick(site_name, lang) or "",
        number=str(tk["number"]),
        service_name=_pick(service_name, lang) or str(tk.get("service", "")),
        position=int(tk.get("position") or 0),
        eta_min=int(tk.get("eta_min") or 0),
        issued_at=format_time(when.astimezone(zone), lang),
        status_url=tk.get("status_url") or None,
        instructions=_pick(instructions, lang),
        appointment=appointment_text(tk.get("appointment"), lang, tz),
        offline=offline,
        labels=ticket_labels(lang),
    )
