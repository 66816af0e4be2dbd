"""UI strings of the citizen booking pages in Finnish, Swedish and English.

One dict per language, the same keys in each (tests/ui/test_web_citizen.py checks this).
Error messages of refused actions come from the domain (`DomainError.message`); only a
few are worded more plainly here for a form field (e.g. an e-mail address the booking
service refused), see `FIELD_ERRORS`.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGS = ("fi", "sv", "en")
LANG_NAMES = {"fi": "Suomeksi", "sv": "På svenska", "en": "In English"}

FI: dict[str, str] = {
    "title": "Ajanvaraus",
    "skip": "Siirry sisältöön",
    "lang_nav": "Kieli",
    "step_service": "Valitse palvelu",
    "step_site": "Valitse toimipiste",
    "step_time": "Valitse aika",
    "step_details": "Omat tiedot",
    "step_done": "Varaus vahvistettu",
    "steps": "Vaiheet",
    "intro": "Varaa aika asiointipisteeseen. Et tarvitse tunnuksia.",
    "manage_intro": "Onko sinulla jo varaus? Voit perua tai siirtää sen varaustunnuksella.",
    "manage_link": "Peru tai siirrä varaus",
    "minutes": "{n} min",
    "duration": "Kesto",
    "choose": "Valitse",
    "back": "Takaisin",
    "back_services": "Takaisin palveluihin",
    "calendar": "Kalenteri",
    "prev_month": "Edellinen kuukausi",
    "next_month": "Seuraava kuukausi",
    "free_day": "vapaita aikoja",
    "no_free_day": "ei vapaita aikoja",
    "selected_day": "valittu päivä",
    "weekdays": "ma ti ke to pe la su",
    "months": "tammikuu helmikuu maaliskuu huhtikuu toukokuu kesäkuu heinäkuu elokuu "
    "syyskuu lokakuu marraskuu joulukuu",
    "no_days": "Tässä kuussa ei ole vapaita aikoja. Katso seuraava kuukausi.",
    "times_of": "Vapaat ajat {day}",
    "no_times": "Tälle päivälle ei ole vapaita aikoja.",
    "advisor": "Asiantuntija",
    "any_advisor": "Kuka tahansa",
    "show": "Näytä",
    "quiet": "hiljainen aika",
    "quiet_legend": "Hiljainen aika",
    "quiet_help": "Hiljaiseksi merkittyinä aikoina asiointipisteeseen on viime viikkojen "
    "kävijätilastojen mukaan tullut vähiten asiakkaita (viikon hiljaisin kolmannes), joten "
    "silloin on yleensä väljää. Jos tilastoja ei vielä ole tarpeeksi, hiljainen aika "
    "tarkoittaa, että lähes kaikki tämän palvelun asiantuntijat ovat vapaina.",
    "time_button": "Varaa klo {time}",
    "quiet_suggest_title": "Hiljaisia aikoja",
    "quiet_suggest_help": "Päivän hiljaisimmat vapaat ajat: silloin asiointipisteessä on "
    "yleensä väljintä.",
    "all_times": "Kaikki vapaat ajat",
    "hold_note": "Kun valitset ajan, se pidetään sinulle {n} minuuttia, kun täytät tiedot.",
    "held_until": "Aika on varattu sinulle klo {time} asti.",
    "remaining": "Aikaa jäljellä: {left}",
    "your_time": "Valittu aika",
    "change_time": "Vaihda aika",
    "name": "Nimi",
    "phone": "Puhelinnumero",
    "email": "Sähköpostiosoite",
    "contact_help": "Anna puhelinnumero tai sähköpostiosoite (tai molemmat). "
    "Lähetämme vahvistuksen ja muistutuksen niihin.",
    "hetu": "Henkilötunnus (vapaaehtoinen)",
    "hetu_help": "Henkilötunnuksella voit ilmoittautua paikan päällä ilman "
    "varaustunnusta. Sitä käytetään vain ilmoittautumiseen, eikä sitä tallenneta "
    "sellaisenaan: tallennamme vain siitä salaisella avaimella lasketun tiivisteen.",
    "lang_field": "Viestien kieli",
    "required": "pakollinen",
    "optional": "vapaaehtoinen",
    "questions": "Ennakkokysymykset",
    "confirm": "Vahvista varaus",
    "privacy": "Tietojasi käytetään vain tähän varaukseen, ja ne poistetaan {days} "
    "päivän kuluttua käynnistä.",
    "error_title": "Tarkista tiedot",
    "booked_title": "Aikasi on varattu",
    "code_label": "Varaustunnus",
    "code_help": "Näytä tai kirjoita tämä tunnus asiointipisteen ilmoittautumislaitteeseen.",
    "service": "Palvelu",
    "when": "Aika",
    "where": "Paikka",
    "instructions": "Ota huomioon",
    "qr_label": "QR-koodi varaustunnuksesta {code}",
    "ics": "Lataa kalenteriin (.ics)",
    "manage": "Peru tai siirrä tätä varausta",
    "checkin_note": "Ilmoittaudu paikan päällä aikaisintaan {before} min ennen aikaasi.",
    "sent_note": "Vahvistus lähetetään antamiisi yhteystietoihin.",
    "new_booking": "Tee uusi varaus",
    "manage_title": "Oma varaus",
    "code_field": "Varaustunnus",
    "contact_field": "Sähköposti, puhelinnumero tai henkilötunnus",
    "contact_field_help": "Anna sama tieto, jolla teit varauksen.",
    "show_booking": "Näytä varaus",
    "status": "Tila",
    "status_booked": "Voimassa",
    "status_cancelled": "Peruttu",
    "status_checked_in": "Ilmoittautunut",
    "status_done": "Käyty",
    "status_noshow": "Ei saapunut",
    "status_held": "Kesken",
    "cancel": "Peru varaus",
    "cancel_confirm": "Haluan perua tämän varauksen",
    "move": "Siirrä toiseen aikaan",
    "move_title": "Siirrä varaus",
    "move_from": "Nykyinen aika: {when}",
    "move_button": "Siirrä klo {time}",
    "cancelled_ok": "Varaus on peruttu.",
    "moved_ok": "Varaus on siirretty uuteen aikaan. Varaustunnus pysyy samana.",
    "cancel_limit": "Voit perua tai siirtää varauksen verkossa viimeistään {hours} tuntia "
    "ennen aikaa.",
    "csrf": "Lomake on vanhentunut. Lataa sivu uudelleen ja yritä uudestaan.",
    "rate_limited": "Liian monta yritystä lyhyessä ajassa. Odota hetki ja yritä uudelleen.",
    "bad_email": "Sähköpostiosoite ei ole oikein. Tarkista se (esimerkiksi nimi@esimerkki.fi).",
    "bad_phone": "Puhelinnumero ei ole oikein. Tarkista se (esimerkiksi 040 123 4567).",
    "bad_answer": "Valitse jokin vaihtoehdoista.",
    "not_found_page": "Sivua ei löydy.",
    "answer_other": "Muu",
    "hold_gone": "Valitse aika uudelleen",
    "footer": "Vuoro-ajanvaraus",
}

SV: dict[str, str] = {
    "title": "Tidsbokning",
    "skip": "Gå till innehållet",
    "lang_nav": "Språk",
    "step_service": "Välj tjänst",
    "step_site": "Välj verksamhetsställe",
    "step_time": "Välj tid",
    "step_details": "Dina uppgifter",
    "step_done": "Bokningen bekräftad",
    "steps": "Steg",
    "intro": "Boka en tid till servicepunkten. Du behöver inga koder.",
    "manage_intro": "Har du redan en bokning? Du kan avboka eller flytta den med bokningskoden.",
    "manage_link": "Avboka eller flytta en bokning",
    "minutes": "{n} min",
    "duration": "Längd",
    "choose": "Välj",
    "back": "Tillbaka",
    "back_services": "Tillbaka till tjänsterna",
    "calendar": "Kalender",
    "prev_month": "Föregående månad",
    "next_month": "Nästa månad",
    "free_day": "lediga tider",
    "no_free_day": "inga lediga tider",
    "selected_day": "vald dag",
    "weekdays": "må ti on to fr lö sö",
    "months": "januari februari mars april maj juni juli augusti september oktober "
    "november december",
    "no_days": "Det finns inga lediga tider den här månaden. Se nästa månad.",
    "times_of": "Lediga tider {day}",
    "no_times": "Det finns inga lediga tider den här dagen.",
    "advisor": "Kundbetjänare",
    "any_advisor": "Vem som helst",
    "show": "Visa",
    "quiet": "lugn tid",
    "quiet_legend": "Lugn tid",
    "quiet_help": "Vid tider som är märkta som lugna har minst antal kunder kommit till "
    "servicepunkten enligt besöksstatistiken för de senaste veckorna (veckans lugnaste "
    "tredjedel), så det är oftast lugnt då. Om det ännu inte finns tillräckligt med "
    "statistik betyder lugn tid att nästan alla kundbetjänare för tjänsten är lediga.",
    "time_button": "Boka kl. {time}",
    "quiet_suggest_title": "Lugna tider",
    "quiet_suggest_help": "Dagens lugnaste lediga tider: då är det oftast minst folk på "
    "verksamhetsstället.",
    "all_times": "Alla lediga tider",
    "hold_note": "När du väljer en tid hålls den för dig i {n} minuter medan du fyller i "
    "uppgifterna.",
    "held_until": "Tiden hålls för dig till kl. {time}.",
    "remaining": "Tid kvar: {left}",
    "your_time": "Vald tid",
    "change_time": "Byt tid",
    "name": "Namn",
    "phone": "Telefonnummer",
    "email": "E-postadress",
    "contact_help": "Ange telefonnummer eller e-postadress (eller båda). Vi skickar "
    "bekräftelsen och en påminnelse dit.",
    "hetu": "Personbeteckning (frivillig)",
    "hetu_help": "Med personbeteckningen kan du anmäla dig på plats utan bokningskod. Den "
    "används bara för anmälan och sparas inte som sådan: vi sparar bara en "
    "kontrollsumma som räknats med en hemlig nyckel.",
    "lang_field": "Meddelandenas språk",
    "required": "obligatorisk",
    "optional": "frivillig",
    "questions": "Förhandsfrågor",
    "confirm": "Bekräfta bokningen",
    "privacy": "Dina uppgifter används bara för den här bokningen och raderas {days} "
    "dagar efter besöket.",
    "error_title": "Kontrollera uppgifterna",
    "booked_title": "Din tid är bokad",
    "code_label": "Bokningskod",
    "code_help": "Visa eller skriv in koden i anmälningsautomaten på servicepunkten.",
    "service": "Tjänst",
    "when": "Tid",
    "where": "Plats",
    "instructions": "Observera",
    "qr_label": "QR-kod för bokningskoden {code}",
    "ics": "Ladda ner till kalendern (.ics)",
    "manage": "Avboka eller flytta den här bokningen",
    "checkin_note": "Anmäl dig på plats tidigast {before} min före din tid.",
    "sent_note": "Bekräftelsen skickas till de kontaktuppgifter du angav.",
    "new_booking": "Gör en ny bokning",
    "manage_title": "Min bokning",
    "code_field": "Bokningskod",
    "contact_field": "E-post, telefonnummer eller personbeteckning",
    "contact_field_help": "Ange samma uppgift som du bokade med.",
    "show_booking": "Visa bokningen",
    "status": "Status",
    "status_booked": "Giltig",
    "status_cancelled": "Avbokad",
    "status_checked_in": "Anmäld",
    "status_done": "Besökt",
    "status_noshow": "Kom inte",
    "status_held": "Pågår",
    "cancel": "Avboka",
    "cancel_confirm": "Jag vill avboka den här bokningen",
    "move": "Flytta till en annan tid",
    "move_title": "Flytta bokningen",
    "move_from": "Nuvarande tid: {when}",
    "move_button": "Flytta till kl. {time}",
    "cancelled_ok": "Bokningen är avbokad.",
    "moved_ok": "Bokningen har flyttats till den nya tiden. Bokningskoden är densamma.",
    "cancel_limit": "Du kan avboka eller flytta bokningen på nätet senast {hours} timmar "
    "före tiden.",
    "csrf": "Formuläret har gått ut. Ladda om sidan och försök igen.",
    "rate_limited": "För många försök på kort tid. Vänta en stund och försök igen.",
    "bad_email": "E-postadressen är inte korrekt. Kontrollera den (till exempel namn@exempel.fi).",
    "bad_phone": "Telefonnumret är inte korrekt. Kontrollera det (till exempel 040 123 4567).",
    "bad_answer": "Välj ett av alternativen.",
    "not_found_page": "Sidan finns inte.",
    "answer_other": "Annat",
    "hold_gone": "Välj en tid igen",
    "footer": "Vuoro tidsbokning",
}

EN: dict[str, str] = {
    "title": "Book an appointment",
    "skip": "Skip to content",
    "lang_nav": "Language",
    "step_service": "Choose a service",
    "step_site": "Choose a service point",
    "step_time": "Choose a time",
    "step_details": "Your details",
    "step_done": "Booking confirmed",
    "steps": "Steps",
    "intro": "Book a time at the service point. No sign-in needed.",
    "manage_intro": "Already booked? You can cancel or move your booking with its code.",
    "manage_link": "Cancel or move a booking",
    "minutes": "{n} min",
    "duration": "Duration",
    "choose": "Choose",
    "back": "Back",
    "back_services": "Back to the services",
    "calendar": "Calendar",
    "prev_month": "Previous month",
    "next_month": "Next month",
    "free_day": "free times",
    "no_free_day": "no free times",
    "selected_day": "selected day",
    "weekdays": "Mo Tu We Th Fr Sa Su",
    "months": "January February March April May June July August September October "
    "November December",
    "no_days": "There are no free times this month. Please look at the next month.",
    "times_of": "Free times on {day}",
    "no_times": "There are no free times on this day.",
    "advisor": "Advisor",
    "any_advisor": "Anyone",
    "show": "Show",
    "quiet": "quiet time",
    "quiet_legend": "Quiet time",
    "quiet_help": "Times marked quiet are when the fewest customers have come to the "
    "service point in recent weeks' visitor statistics (the quietest third of the week), "
    "so it is usually calm then. Until there are enough statistics, a quiet time means "
    "that nearly all advisors of this service are free.",
    "time_button": "Book at {time}",
    "quiet_suggest_title": "Quiet times",
    "quiet_suggest_help": "The day's quietest free times: the service point is usually "
    "calmest then.",
    "all_times": "All free times",
    "hold_note": "When you choose a time, it is held for you for {n} minutes while you "
    "fill in your details.",
    "held_until": "The time is held for you until {time}.",
    "remaining": "Time left: {left}",
    "your_time": "Chosen time",
    "change_time": "Change the time",
    "name": "Name",
    "phone": "Phone number",
    "email": "E-mail address",
    "contact_help": "Give a phone number or an e-mail address (or both). We send the "
    "confirmation and a reminder there.",
    "hetu": "Personal identity code (optional)",
    "hetu_help": "With your identity code you can check in on site without the booking "
    "code. It is used only for check-in and is not stored as such: we keep only a keyed "
    "hash of it.",
    "lang_field": "Language of messages",
    "required": "required",
    "optional": "optional",
    "questions": "Questions before the visit",
    "confirm": "Confirm the booking",
    "privacy": "Your details are used only for this booking and deleted {days} days after "
    "the visit.",
    "error_title": "Please check",
    "booked_title": "Your time is booked",
    "code_label": "Booking code",
    "code_help": "Show or type this code at the check-in kiosk of the service point.",
    "service": "Service",
    "when": "Time",
    "where": "Place",
    "instructions": "Please note",
    "qr_label": "QR code of the booking code {code}",
    "ics": "Add to calendar (.ics)",
    "manage": "Cancel or move this booking",
    "checkin_note": "Check in on site at the earliest {before} min before your time.",
    "sent_note": "A confirmation is sent to the contact details you gave.",
    "new_booking": "Make a new booking",
    "manage_title": "My booking",
    "code_field": "Booking code",
    "contact_field": "E-mail, phone number or identity code",
    "contact_field_help": "Give the same one you booked with.",
    "show_booking": "Show the booking",
    "status": "Status",
    "status_booked": "Valid",
    "status_cancelled": "Cancelled",
    "status_checked_in": "Checked in",
    "status_done": "Visited",
    "status_noshow": "Did not come",
    "status_held": "In progress",
    "cancel": "Cancel the booking",
    "cancel_confirm": "I want to cancel this booking",
    "move": "Move to another time",
    "move_title": "Move the booking",
    "move_from": "Current time: {when}",
    "move_button": "Move to {time}",
    "cancelled_ok": "The booking has been cancelled.",
    "moved_ok": "The booking has been moved to the new time. The booking code stays the same.",
    "cancel_limit": "You can cancel or move the booking online until {hours} hours before "
    "the time.",
    "csrf": "The form has expired. Please reload the page and try again.",
    "rate_limited": "Too many attempts in a short time. Please wait a moment and try again.",
    "bad_email": "The e-mail address is not valid. Please check it (for example name@example.fi).",
    "bad_phone": "The phone number is not valid. Please check it (for example 040 123 4567).",
    "bad_answer": "Please choose one of the options.",
    "not_found_page": "Page not found.",
    "answer_other": "Other",
    "hold_gone": "Choose a time again",
    "footer": "Vuoro booking",
}

STRINGS: dict[str, dict[str, str]] = {"fi": FI, "sv": SV, "en": EN}

# A `bad_request` refusal's `detail` (scheduler/booking/service.py) -> the form field it
# belongs to and a plainer message for a citizen.
FIELD_ERRORS: dict[str, tuple[str, str]] = {
    "e-mail address": ("email", "bad_email"),
    "phone number": ("phone", "bad_phone"),
}

# Pre-questions' choices are plain values in the configuration (e.g. "marriage"); the
# common ones are shown in the page's language, any other value as it is.
CHOICES: dict[str, dict[str, str]] = {
    "marriage": {"fi": "Avioliitto", "sv": "Äktenskap", "en": "Marriage"},
    "certificate": {
        "fi": "Todistus tai oikeaksi todistaminen",
        "sv": "Intyg eller bestyrkande",
        "en": "Certificate or certification",
    },
    "other": {"fi": "Muu asia", "sv": "Annat ärende", "en": "Other matter"},
    "yes": {"fi": "Kyllä", "sv": "Ja", "en": "Yes"},
    "no": {"fi": "Ei", "sv": "Nej", "en": "No"},
}


def choice_label(value: str, lang: str) -> str:
    return CHOICES.get(value, {}).get(lang) or value


def pick_lang(query: str | None, accept_language: str | None) -> str:
    """`?lang=` if valid, else the best of Accept-Language, else Finnish."""
    if query in LANGS:
        return query  # type: ignore[return-value]
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower()[:2]
        if code not in LANGS:
            continue
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, code)
    return best[1] if best else "fi"


def t(lang: str, key: str, **params: object) -> str:
    text = STRINGS.get(lang, FI).get(key) or FI[key]
    return text.format(**params) if params else text


def local_text(names: Mapping[str, str] | None, lang: str) -> str:
    """A {fi, sv, en} text in `lang`, else Finnish, else any; '' for none."""
    if not names:
        return ""
    return names.get(lang) or names.get("fi") or next(iter(names.values()), "")
