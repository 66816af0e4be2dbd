"""Every word the kiosk shows, in Finnish, Swedish and English.

Plain, short, friendly words: a citizen who has never seen the kiosk reads them standing
up, maybe without glasses. `t(key, lang, **values)` returns one text; an unknown
language falls back to Finnish, an unknown key to the key itself (a bug the screenshot
tests show at once). Error texts are by the scheduler's error code (`error_text`); when
the scheduler's reply carries a message, that message is shown instead, in the
customer's language.
"""

from __future__ import annotations

from typing import Any

LANGS = ("fi", "sv", "en")
LANG_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}

TEXTS: dict[str, dict[str, str]] = {
    # idle / attract
    "touch_to_start": {
        "fi": "Kosketa näyttöä aloittaaksesi",
        "sv": "Tryck på skärmen för att börja",
        "en": "Touch the screen to start",
    },
    "welcome": {"fi": "Tervetuloa", "sv": "Välkommen", "en": "Welcome"},
    "choose_language": {
        "fi": "Valitse kieli",
        "sv": "Välj språk",
        "en": "Choose your language",
    },
    # home
    "have_appointment": {
        "fi": "Minulla on ajanvaraus",
        "sv": "Jag har en tidsbokning",
        "en": "I have an appointment",
    },
    "have_appointment_sub": {
        "fi": "Ilmoittaudu",
        "sv": "Anmäl dig",
        "en": "Check in",
    },
    "take_number": {
        "fi": "Ota vuoronumero",
        "sv": "Ta ett könummer",
        "en": "Take a number",
    },
    "take_number_sub": {
        "fi": "Ei ajanvarausta",
        "sv": "Ingen tidsbokning",
        "en": "No appointment",
    },
    "home_question": {
        "fi": "Miten voimme auttaa?",
        "sv": "Hur kan vi hjälpa dig?",
        "en": "How can we help you?",
    },
    # navigation
    "back": {"fi": "← Takaisin", "sv": "← Tillbaka", "en": "← Back"},
    "home": {"fi": "⌂ Alkuun", "sv": "⌂ Början", "en": "⌂ Start"},
    "done": {"fi": "Valmis", "sv": "Klar", "en": "Done"},
    "wait": {"fi": "Hetkinen…", "sv": "Ett ögonblick…", "en": "One moment…"},
    # services
    "choose_service": {
        "fi": "Valitse asia",
        "sv": "Välj ärende",
        "en": "Choose your matter",
    },
    "waiting_eta": {
        "fi": "Jonossa {waiting} · noin {eta} min",
        "sv": "I kö {waiting} · cirka {eta} min",
        "en": "{waiting} waiting · about {eta} min",
    },
    "no_wait": {
        "fi": "Ei jonoa",
        "sv": "Ingen kö",
        "en": "No queue",
    },
    "closed": {"fi": "Suljettu", "sv": "Stängt", "en": "Closed"},
    "closed_opens": {
        "fi": "Suljettu · avautuu {when}",
        "sv": "Stängt · öppnar {when}",
        "en": "Closed · opens {when}",
    },
    "appointment_only": {
        "fi": "Vain ajanvarauksella",
        "sv": "Endast med tidsbokning",
        "en": "By appointment only",
    },
    "no_services": {
        "fi": "Palveluja ei voi nyt valita. Kysy henkilökunnalta.",
        "sv": "Tjänsterna kan inte väljas nu. Fråga personalen.",
        "en": "Services cannot be chosen right now. Please ask the staff.",
    },
    # identify
    "checkin_title": {"fi": "Ilmoittaudu", "sv": "Anmäl dig", "en": "Check in"},
    "insert_card": {
        "fi": "Aseta henkilökortti lukijaan",
        "sv": "Sätt in ditt identitetskort i läsaren",
        "en": "Insert your ID card in the reader",
    },
    "reader_absent": {
        "fi": "Kortinlukija ei ole nyt käytössä",
        "sv": "Kortläsaren fungerar inte just nu",
        "en": "The card reader is not working right now",
    },
    "or_type": {
        "fi": "tai kirjoita",
        "sv": "eller skriv",
        "en": "or type",
    },
    "mode_code": {"fi": "Varaustunnus", "sv": "Bokningskod", "en": "Booking code"},
    "mode_hetu": {"fi": "Henkilötunnus", "sv": "Personbeteckning", "en": "Identity code"},
    "send": {"fi": "Ilmoittaudu", "sv": "Anmäl", "en": "Check in"},
    "clear": {"fi": "Tyhjennä", "sv": "Rensa", "en": "Clear"},
    "hint_code": {
        "fi": "Esim. 7KQ-4MX, tai lue viivakoodi",
        "sv": "T.ex. 7KQ-4MX, eller läs streckkoden",
        "en": "E.g. 7KQ-4MX, or scan the barcode",
    },
    "hint_hetu": {
        "fi": "Esim. 010190-900P",
        "sv": "T.ex. 010190-900P",
        "en": "E.g. 010190-900P",
    },
    "code_ok": {"fi": "✓ Tunnus on oikein", "sv": "✓ Koden är rätt", "en": "✓ The code is valid"},
    "code_bad_char": {
        "fi": "Tunnuksessa ei ole kirjaimia O ja I eikä numeroita 0 ja 1",
        "sv": "Koden har inte bokstäverna O och I eller siffrorna 0 och 1",
        "en": "Codes have no letters O or I and no digits 0 or 1",
    },
    "code_typo": {
        "fi": "Tarkista tunnus: siinä on kirjoitusvirhe",
        "sv": "Kontrollera koden: den har ett skrivfel",
        "en": "Please check the code: it has a typo",
    },
    "code_too_long": {
        "fi": "Tunnuksessa on 6 merkkiä",
        "sv": "Koden har 6 tecken",
        "en": "The code has 6 characters",
    },
    "hetu_ok": {
        "fi": "✓ Henkilötunnus on oikein",
        "sv": "✓ Personbeteckningen är rätt",
        "en": "✓ The identity code is valid",
    },
    "hetu_date": {
        "fi": "Tarkista syntymäaika",
        "sv": "Kontrollera födelsedatumet",
        "en": "Please check the date of birth",
    },
    "hetu_sign": {
        "fi": "7. merkki on -, + tai kirjain (A, B, …, Y)",
        "sv": "Tecken 7 är -, + eller en bokstav (A, B, …, Y)",
        "en": "Character 7 is -, + or a letter (A, B, …, Y)",
    },
    "hetu_check": {
        "fi": "Tarkista tunnus: viimeinen merkki ei täsmää",
        "sv": "Kontrollera koden: sista tecknet stämmer inte",
        "en": "Please check: the last character does not match",
    },
    "hetu_format": {
        "fi": "Henkilötunnuksessa on 11 merkkiä",
        "sv": "Personbeteckningen har 11 tecken",
        "en": "The identity code has 11 characters",
    },
    "hetu_individual": {
        "fi": "Tarkista tunnuksen loppuosa",
        "sv": "Kontrollera slutet av koden",
        "en": "Please check the end of the code",
    },
    # result
    "your_number": {"fi": "Vuoronumerosi", "sv": "Ditt könummer", "en": "Your number"},
    "checked_in": {
        "fi": "Olet ilmoittautunut",
        "sv": "Du är anmäld",
        "en": "You are checked in",
    },
    "ahead_eta": {
        "fi": "Edelläsi {position} · odotus noin {eta} min",
        "sv": "Före dig {position} · väntetid cirka {eta} min",
        "en": "{position} ahead of you · about {eta} min",
    },
    "ahead_none": {
        "fi": "Olet seuraavana vuorossa",
        "sv": "Du står näst i tur",
        "en": "You are next",
    },
    "at_your_time": {
        "fi": "Sinut kutsutaan varausaikanasi",
        "sv": "Du ropas upp vid din bokade tid",
        "en": "You will be called at your booked time",
    },
    "follow_screen": {
        "fi": "Seuraa näyttöä: sinut kutsutaan numerollasi.",
        "sv": "Följ skärmen: du ropas upp med ditt nummer.",
        "en": "Watch the screen: you will be called by your number.",
    },
    "offline_note": {
        "fi": "Jonotilanne ei ole nyt tiedossa.",
        "sv": "Köläget är inte känt just nu.",
        "en": "The queue is not known right now.",
    },
    "printed": {
        "fi": "Ota lippu tulostimesta",
        "sv": "Ta biljetten från skrivaren",
        "en": "Take your ticket from the printer",
    },
    "not_printed": {
        "fi": "Lippua ei voitu tulostaa. Muista numerosi.",
        "sv": "Biljetten kunde inte skrivas ut. Kom ihåg ditt nummer.",
        "en": "The ticket could not be printed. Remember your number.",
    },
    "scan_qr": {
        "fi": "Seuraa vuoroasi puhelimella:",
        "sv": "Följ din tur med telefonen:",
        "en": "Follow your turn on your phone:",
    },
    "printed_file": {
        "fi": "Tulostettu tiedostoon {path}",
        "sv": "Utskrivet till filen {path}",
        "en": "Printed to the file {path}",
    },
    "appointment_at": {
        "fi": "Varaus klo {time}",
        "sv": "Bokning kl. {time}",
        "en": "Appointment at {time}",
    },
    "appointment_with": {
        "fi": "Varaus klo {time}, {resource}",
        "sv": "Bokning kl. {time}, {resource}",
        "en": "Appointment at {time}, {resource}",
    },
    # errors (titles and texts)
    "error_title": {
        "fi": "Tämä ei onnistunut",
        "sv": "Det här gick inte",
        "en": "This did not work",
    },
    "offline_checkin": {
        "fi": "Ilmoittautuminen ei ole nyt mahdollinen. Ota vuoronumero.",
        "sv": "Anmälan går inte just nu. Ta ett könummer.",
        "en": "Check-in is not possible right now. Please take a number.",
    },
    "ask_staff": {
        "fi": "Vuoronumeroita ei voi nyt antaa. Kysy henkilökunnalta.",
        "sv": "Könummer kan inte ges just nu. Fråga personalen.",
        "en": "No numbers can be given right now. Please ask the staff.",
    },
    "offline_range_used": {
        "fi": "Vuoronumerot ovat loppuneet. Kysy henkilökunnalta.",
        "sv": "Könumren är slut. Fråga personalen.",
        "en": "The numbers have run out. Please ask the staff.",
    },
    "printer_out": {
        "fi": "Tulostimesta on loppunut paperi.",
        "sv": "Skrivaren har slut på papper.",
        "en": "The printer is out of paper.",
    },
}

# Plain words for each error code of the protocol (shown when the reply has no message).
ERRORS: dict[str, dict[str, str]] = {
    "site_closed": {
        "fi": "Toimipiste on nyt suljettu.",
        "sv": "Verksamhetsstället är stängt nu.",
        "en": "The service point is closed now.",
    },
    "queue_closed": {
        "fi": "Tähän palveluun ei nyt oteta vuoronumeroita.",
        "sv": "Inga könummer till denna tjänst just nu.",
        "en": "This service takes no numbers right now.",
    },
    "queue_full": {
        "fi": "Jono on täynnä. Kysy henkilökunnalta.",
        "sv": "Kön är full. Fråga personalen.",
        "en": "The queue is full. Please ask the staff.",
    },
    "reservation_not_found": {
        "fi": "Varausta ei löytynyt tälle päivälle.",
        "sv": "Ingen bokning hittades för i dag.",
        "en": "No appointment was found for today.",
    },
    "too_early": {
        "fi": "Olet liian aikaisin. Ilmoittaudu enintään 30 min ennen varausta.",
        "sv": "Du är för tidigt ute. Anmäl dig högst 30 min före bokningen.",
        "en": "You are too early. Check in at most 30 min before your appointment.",
    },
    "too_late": {
        "fi": "Varauksesi aika on mennyt. Voit ottaa vuoronumeron.",
        "sv": "Din bokade tid har gått ut. Du kan ta ett könummer.",
        "en": "Your appointment time has passed. You can take a number.",
    },
    "invalid_code": {
        "fi": "Varaustunnus ei ole oikein. Tarkista se.",
        "sv": "Bokningskoden är fel. Kontrollera den.",
        "en": "The booking code is not right. Please check it.",
    },
    "invalid_hetu": {
        "fi": "Henkilötunnus ei ole oikein. Tarkista se.",
        "sv": "Personbeteckningen är fel. Kontrollera den.",
        "en": "The identity code is not right. Please check it.",
    },
    "unknown_service": {
        "fi": "Palvelua ei löytynyt. Kysy henkilökunnalta.",
        "sv": "Tjänsten hittades inte. Fråga personalen.",
        "en": "The service was not found. Please ask the staff.",
    },
    "not_allowed": {
        "fi": "Tämä laite ei voi nyt palvella. Kysy henkilökunnalta.",
        "sv": "Den här enheten kan inte betjäna nu. Fråga personalen.",
        "en": "This kiosk cannot serve you now. Please ask the staff.",
    },
    "paper_out": {
        "fi": "Tulostimesta on loppunut paperi.",
        "sv": "Skrivaren har slut på papper.",
        "en": "The printer is out of paper.",
    },
    "offline_checkin": TEXTS["offline_checkin"],
    "offline_no_range": TEXTS["ask_staff"],
    "offline_range_used": TEXTS["offline_range_used"],
}
GENERAL_ERROR = {
    "fi": "Jokin meni vikaan. Yritä uudelleen tai kysy henkilökunnalta.",
    "sv": "Något gick fel. Försök igen eller fråga personalen.",
    "en": "Something went wrong. Please try again or ask the staff.",
}

# Error titles (short, on top of the error screen).
ERROR_TITLES: dict[str, dict[str, str]] = {
    "site_closed": {"fi": "Suljettu", "sv": "Stängt", "en": "Closed"},
    "queue_closed": {"fi": "Suljettu", "sv": "Stängt", "en": "Closed"},
    "too_early": {"fi": "Liian aikaisin", "sv": "För tidigt", "en": "Too early"},
    "too_late": {"fi": "Liian myöhään", "sv": "För sent", "en": "Too late"},
    "reservation_not_found": {
        "fi": "Varausta ei löytynyt",
        "sv": "Ingen bokning",
        "en": "Not found",
    },
    "invalid_code": {"fi": "Tarkista tunnus", "sv": "Kontrollera koden", "en": "Check the code"},
    "invalid_hetu": {"fi": "Tarkista tunnus", "sv": "Kontrollera koden", "en": "Check the code"},
    "offline_checkin": {
        "fi": "Yhteys on katki",
        "sv": "Ingen förbindelse",
        "en": "No connection",
    },
    "offline_no_range": {"fi": "Yhteys on katki", "sv": "Ingen förbindelse", "en": "No connection"},
    "offline_range_used": {
        "fi": "Numerot loppuivat",
        "sv": "Numren är slut",
        "en": "Out of numbers",
    },
    "paper_out": {"fi": "Paperi loppui", "sv": "Papperet är slut", "en": "Out of paper"},
}

# Organisations seen at Finnish joint service points, by the usual provider ids.
PROVIDERS: dict[str, dict[str, str]] = {
    "municipality": {"fi": "Kaupunki", "sv": "Staden", "en": "City"},
    "kela": {"fi": "Kela", "sv": "FPA", "en": "Kela"},
    "tax": {"fi": "Verohallinto", "sv": "Skatteförvaltningen", "en": "Tax Administration"},
    "police": {"fi": "Poliisi", "sv": "Polisen", "en": "Police"},
    "dvv": {
        "fi": "Digi- ja väestötietovirasto",
        "sv": "Myndigheten för digitalisering och befolkningsdata",
        "en": "Digital and Population Data Services",
    },
    "te": {"fi": "TE-palvelut", "sv": "TE-tjänsterna", "en": "TE Services"},
}


def t(key: str, lang: str, **values: Any) -> str:
    """One text in `lang` (Finnish when the language is unknown)."""
    texts = TEXTS.get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts["fi"]
    return text.format(**values) if values else text


def pick(texts: dict[str, str] | None, lang: str) -> str:
    """A `{fi, sv, en}` object from the scheduler in `lang` (then Finnish, then any)."""
    if not texts:
        return ""
    return texts.get(lang) or texts.get("fi") or next(iter(texts.values()), "")


def error_text(code: str, lang: str, message: dict[str, str] | None = None) -> str:
    """What the customer reads for an error: the scheduler's message when it sent one."""
    if message:
        chosen = pick(message, lang)
        if chosen:
            return chosen
    return pick(ERRORS.get(code) or GENERAL_ERROR, lang)


def error_title(code: str, lang: str) -> str:
    return pick(ERROR_TITLES.get(code), lang) or t("error_title", lang)


def provider_name(provider: str, lang: str, fallback: dict[str, str] | None = None) -> str:
    if provider in PROVIDERS:
        return pick(PROVIDERS[provider], lang)
    if fallback:
        return pick(fallback, lang)
    return provider.replace("-", " ").replace("_", " ").capitalize()
