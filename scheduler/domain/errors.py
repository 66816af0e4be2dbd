"""Domain errors, each with a message for the customer or advisor in fi, sv and en."""

from __future__ import annotations

from typing import Any

# code -> (fi, sv, en); `{...}` fields are filled from the error's params.
MESSAGES: dict[str, tuple[str, str, str]] = {
    "bad_request": (
        "Virheellinen pyyntö: {detail}",
        "Felaktig begäran: {detail}",
        "Bad request: {detail}",
    ),
    "unknown_service": (
        "Palvelua ei löydy tästä toimipisteestä.",
        "Tjänsten finns inte på detta verksamhetsställe.",
        "This service is not offered at this site.",
    ),
    "unknown_queue": (
        "Jonoa ei löydy tästä toimipisteestä.",
        "Kön finns inte på detta verksamhetsställe.",
        "This queue does not exist at this site.",
    ),
    "unknown_desk": (
        "Palvelupistettä {desk} ei ole tässä toimipisteessä.",
        "Disk {desk} finns inte på detta verksamhetsställe.",
        "Desk {desk} does not exist at this site.",
    ),
    "not_allowed": (
        "Tällä laitteella ei voi tehdä tätä.",
        "Den här enheten får inte göra detta.",
        "This device is not allowed to do this.",
    ),
    "site_closed": (
        "Toimipiste on suljettu. Avautuu {opens_fi}.",
        "Verksamhetsstället är stängt. Öppnar {opens_sv}.",
        "The service point is closed. Opens {opens_en}.",
    ),
    "site_closed_reason": (
        "Toimipiste on suljettu ({reason_fi}). Avautuu {opens_fi}.",
        "Verksamhetsstället är stängt ({reason_sv}). Öppnar {opens_sv}.",
        "The service point is closed ({reason_en}). Opens {opens_en}.",
    ),
    "site_closed_unknown": (
        "Toimipiste on suljettu.",
        "Verksamhetsstället är stängt.",
        "The service point is closed.",
    ),
    "queue_closed": (
        "Tähän palveluun ei nyt oteta vuoronumeroita. Avautuu {opens_fi}.",
        "Inga könummer till denna tjänst just nu. Öppnar {opens_sv}.",
        "This service takes no walk-in numbers now. Opens {opens_en}.",
    ),
    "queue_closed_reason": (
        "Tähän palveluun ei nyt oteta vuoronumeroita ({reason_fi}). Avautuu {opens_fi}.",
        "Inga könummer till denna tjänst just nu ({reason_sv}). Öppnar {opens_sv}.",
        "This service takes no walk-in numbers now ({reason_en}). Opens {opens_en}.",
    ),
    "queue_closed_unknown": (
        "Tähän palveluun ei nyt oteta vuoronumeroita.",
        "Inga könummer till denna tjänst just nu.",
        "This service takes no walk-in numbers now.",
    ),
    "queue_full": (
        "Jono on täynnä. Kysy henkilökunnalta.",
        "Kön är full. Fråga personalen.",
        "The queue is full. Please ask the staff.",
    ),
    "reservation_not_found": (
        "Varausta ei löytynyt tälle päivälle.",
        "Ingen bokning hittades för i dag.",
        "No reservation was found for today.",
    ),
    "too_early": (
        "Ilmoittautuminen ei ole vielä auki.",
        "Anmälan är inte öppen ännu.",
        "Check-in is not open yet.",
    ),
    "too_late": (
        "Varauksen ilmoittautumisaika on päättynyt. Ota vuoronumero.",
        "Anmälningstiden har gått ut. Ta ett könummer.",
        "Check-in for this reservation has closed. Please take a number.",
    ),
    "nothing_waiting": (
        "Ei odottavia asiakkaita.",
        "Inga väntande kunder.",
        "Nobody is waiting.",
    ),
    "ticket_not_waiting": (
        "Numero {number} ei ole jonossa tälle palvelupisteelle.",
        "Nummer {number} väntar inte på den här disken.",
        "Number {number} is not waiting for this desk.",
    ),
    "no_current_ticket": (
        "Palvelupisteellä ei ole kutsuttua asiakasta.",
        "Disken har ingen kallad kund.",
        "The desk has no called customer.",
    ),
    "desk_closed": (
        "Palvelupiste on suljettu. Avaa se ensin.",
        "Disken är stängd. Öppna den först.",
        "The desk is closed. Open it first.",
    ),
    "bad_state": (
        "Toimintoa ei voi tehdä nyt ({state}).",
        "Åtgärden går inte nu ({state}).",
        "This cannot be done now ({state}).",
    ),
    "internal_error": (
        "Järjestelmävirhe. Yritä uudelleen.",
        "Systemfel. Försök igen.",
        "System error. Please try again.",
    ),
}

STATE_NAMES: dict[str, tuple[str, str, str]] = {
    "closed": ("suljettu", "stängd", "closed"),
    "open": ("vapaa", "ledig", "open"),
    "calling": ("kutsuu", "kallar", "calling"),
    "serving": ("palvelee", "betjänar", "serving"),
}


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(code: str, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The {fi, sv, en} message of an error code."""
    texts = MESSAGES.get(code, MESSAGES["internal_error"])
    params = _Defaults(params or {})
    if "state" in params and params["state"] in STATE_NAMES:
        names = STATE_NAMES[params["state"]]
        return {
            lang: text.format_map(_Defaults({**params, "state": names[i]}))
            for i, (lang, text) in enumerate(zip(("fi", "sv", "en"), texts, strict=True))
        }
    return {
        lang: text.format_map(params) for lang, text in zip(("fi", "sv", "en"), texts, strict=True)
    }


class DomainError(Exception):
    """A refused command. Raised before anything changed."""

    def __init__(self, code: str, message_key: str | None = None, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message_key = message_key or code
        self.params = params

    @property
    def message(self) -> dict[str, str]:
        return render(self.message_key, self.params)

    def __str__(self) -> str:
        return f"{self.code}: {self.message['en']}"
