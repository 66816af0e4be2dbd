"""The switchboard pages (issue 6 item 3): book on behalf of a caller, find, move, cancel.

Routes (role `switchboard`; a site in a request is checked with `StaffWeb.check_site`, so
a user with `sites` sees only those; language by `?lang=`, else the user's):

    GET  /switchboard/                       search free times: service (per site, or "any
                                             site" when several sites offer it), day,
                                             advisor; the next free times, soonest first
    POST /switchboard/hold                   choose a time: BookingService.hold
    GET  /switchboard/book/{hold}            the caller's details form
    POST /switchboard/book/{hold}            BookingService.book (created_by "switchboard")
    POST /switchboard/book/{hold}/release    give the held time back (BookingService.cancel)
    GET  /switchboard/find                   by booking code (-> the reservation) or by name
                                             (+ site, date range): a list of matches
    GET  /switchboard/r/{code}               a reservation, its code big for reading out
    GET  /switchboard/r/{code}/move          free times of the same service; with `start`:
    POST /switchboard/r/{code}/move          the confirm step; BookingService.reschedule
    GET  /switchboard/r/{code}/cancel        the confirm step;
    POST /switchboard/r/{code}/cancel        BookingService.cancel (staff: no time limit)

Every rule is BookingService's (the JSON API's staff endpoints make the same calls): these
pages only show its refusals (`DomainError.message` in the page language) next to the
field, with the API's HTTP status. Forms work without JavaScript (POST -> 303 -> GET); every
POST goes through `StaffWeb.form` (CSRF). The citizen pages' script adds the hold countdown.
Quiet times are marked by the citizen pages' rule (`citizen.quiet_ranks`: the measured
load, else free advisors), and the quietest few of the times shown (`citizen.SUGGEST`)
are suggested above them, soonest first, to offer to the caller.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from scheduler.booking.errors import DomainError
from scheduler.booking.model import Reservation, Slot
from scheduler.booking.notify import clock_text, when_long
from scheduler.booking.service import BookingService, Customer, SiteBooking
from scheduler.booking.store import NotFound
from scheduler.web.api import STATUS
from scheduler.web.auth import User
from scheduler.web.citizen import SUGGEST, PreQuestionView, day_long, quiet_ranks
from scheduler.web.i18n import FIELD_ERRORS, LANGS, choice_label, local_text
from scheduler.web.i18n import t as citizen_t
from scheduler.web.staff import StaffPage, StaffWeb, register, st

CREATED_BY = "switchboard"  # as the JSON API marks a booking made with a switchboard key
SHOW = 24  # free times on one results page
FIND_LIMIT = 50
FIND_BACK_DAYS = 7  # a name search looks this far back by default
MSG_LANGS = (("fi", "suomi"), ("sv", "svenska"), ("en", "English"))
BY_KEY = {
    "web": "sw_by_web",
    "switchboard": "role_switchboard",
    "admin": "role_admin",
    "advisor": "role_advisor",
    "desk": "sw_by_desk",
}
STATUSES = ("held", "booked", "checked_in", "done", "noshow", "cancelled", "expired")

# ---------------------------------------------------------------------------- strings

register(
    {
        "fi": {
            "sw_title": "Vaihde",
            "sw_tabs": "Vaihteen toiminnot",
            "sw_tab_book": "Varaa aika",
            "sw_tab_find": "Hae varaus",
            "sw_no_booking": "Ajanvaraus ei ole käytössä yhdessäkään toimipisteessä.",
            "sw_search_title": "Vapaat ajat",
            "sw_service": "Palvelu",
            "sw_choose_service": "Valitse palvelu",
            "sw_any_site": "Mikä tahansa toimipiste",
            "sw_day": "Alkaen päivästä (vapaaehtoinen)",
            "sw_day_help": "Tyhjä: lähimmät vapaat ajat nyt.",
            "sw_advisor": "Asiantuntija (vapaaehtoinen)",
            "sw_advisor_label": "Asiantuntija",
            "sw_any_advisor": "Kuka tahansa",
            "sw_search": "Hae vapaat ajat",
            "sw_results": "Vapaat ajat: {service}",
            "sw_no_times": "Vapaita aikoja ei löytynyt. Kokeile toista päivää tai palvelua.",
            "sw_later": "Myöhemmät ajat",
            "sw_first": "Lähimmät ajat",
            "sw_quiet": "hiljainen aika",
            "sw_quiet_legend": "Hiljainen aika",
            "sw_quiet_help": "Asiointipisteeseen on viime viikkoina tullut silloin vähiten "
            "asiakkaita (viikon hiljaisin kolmannes; ennen kuin tilastoja on tarpeeksi: lähes "
            "kaikki palvelun asiantuntijat ovat vapaina). Ehdota näitä aikoja soittajalle.",
            "sw_suggest_title": "Hiljaiset ajat",
            "sw_suggest_help": "Näytettyjen aikojen hiljaisimmat. Ehdota näitä soittajalle.",
            "sw_free_advisors": "Vapaana: {names}",
            "sw_hold_note": "Valittu aika pidetään {n} minuuttia, kun kirjaat soittajan tiedot.",
            "sw_details_title": "Soittajan tiedot",
            "sw_chosen": "Valittu aika",
            "sw_held_until": "Aika on pidossa klo {time} asti.",
            "sw_remaining": "Aikaa jäljellä: ",
            "sw_hold_gone": "Pito päättyi: valitse aika uudelleen",
            "sw_other_time": "Valitse toinen aika",
            "sw_name": "Soittajan nimi",
            "sw_contact": "Puhelinnumero ja/tai sähköposti",
            "sw_contact_help": "Vähintään toinen. Vahvistus lähetetään niihin.",
            "sw_phone": "Puhelinnumero",
            "sw_email": "Sähköpostiosoite",
            "sw_hetu": "Henkilötunnus (vapaaehtoinen)",
            "sw_hetu_help": "Soittaja voi ilmoittautua sillä paikan päällä. Ei tallenneta "
            "sellaisenaan.",
            "sw_msg_lang": "Vahvistusviestin kieli",
            "sw_questions": "Ennakkokysymykset",
            "sw_required": "pakollinen",
            "sw_optional": "vapaaehtoinen",
            "sw_book": "Vahvista varaus",
            "sw_error_title": "Tarkista tiedot",
            "sw_booked": "Varaus on tehty. Lue varaustunnus soittajalle.",
            "sw_code": "Varaustunnus",
            "sw_code_help": "Tavaa tunnus merkki kerrallaan. Soittaja ilmoittautuu sillä "
            "paikan päällä.",
            "sw_sent": "Vahvistus lähetetään ({lang}): {to}.",
            "sw_not_sent": "Vahvistusviestejä ei lähetetä tästä palvelusta. Kerro aika "
            "ja tunnus soittajalle.",
            "sw_no_contact_sent": "Vahvistusta ei lähetetä (ei yhteystietoja).",
            "sw_moved": "Varaus on siirretty. Varaustunnus pysyy samana.",
            "sw_cancelled": "Varaus on peruttu.",
            "sw_reservation": "Varaus {code}",
            "sw_when": "Aika",
            "sw_site": "Toimipiste",
            "sw_status": "Tila",
            "sw_customer": "Asiakas",
            "sw_answers": "Vastaukset",
            "sw_created_by": "Varannut",
            "sw_move": "Siirrä toiseen aikaan",
            "sw_cancel": "Peru varaus",
            "sw_cancel_title": "Perutaanko varaus?",
            "sw_cancel_yes": "Kyllä, peru varaus",
            "sw_back": "Takaisin",
            "sw_move_title": "Siirrä varaus {code}",
            "sw_move_from": "Nykyinen aika: {when}",
            "sw_move_button": "Siirrä {time}",
            "sw_move_confirm_title": "Siirretäänkö varaus?",
            "sw_move_to": "Uusi aika: {when}",
            "sw_move_yes": "Kyllä, siirrä varaus",
            "sw_new_booking": "Uusi varaus",
            "sw_find_title": "Hae varaus",
            "sw_by_code": "Varaustunnuksella",
            "sw_code_field": "Varaustunnus",
            "sw_code_field_help": "Esimerkiksi 7KQ-4MX (väliviiva ei ole pakollinen).",
            "sw_show": "Näytä varaus",
            "sw_by_name": "Nimellä",
            "sw_name_field": "Asiakkaan nimi tai sen osa",
            "sw_all_sites": "Kaikki toimipisteet",
            "sw_from": "Alkaen",
            "sw_to": "Päättyen",
            "sw_find": "Hae",
            "sw_matches": "Löytyi {n}",
            "sw_no_matches": "Hakuehdoilla ei löytynyt varauksia.",
            "sw_too_many": "Näytetään ensimmäiset {n}. Tarkenna hakua.",
            "sw_name_short": "Anna nimestä vähintään kaksi merkkiä.",
            "sw_bad_dates": "Tarkista päivämäärät.",
            "sw_name_gone": "Nimi poistettu",
            "sw_st_held": "Pidossa",
            "sw_st_booked": "Voimassa",
            "sw_st_checked_in": "Ilmoittautunut",
            "sw_st_done": "Käyty",
            "sw_st_noshow": "Ei saapunut",
            "sw_st_cancelled": "Peruttu",
            "sw_st_expired": "Vanhentunut",
            "sw_by_web": "verkossa (asiakas itse)",
            "sw_by_desk": "palvelupisteessä",
        },
        "sv": {
            "sw_title": "Växel",
            "sw_tabs": "Växelns funktioner",
            "sw_tab_book": "Boka tid",
            "sw_tab_find": "Sök bokning",
            "sw_no_booking": "Tidsbokning används inte på något verksamhetsställe.",
            "sw_search_title": "Lediga tider",
            "sw_service": "Tjänst",
            "sw_choose_service": "Välj tjänst",
            "sw_any_site": "Vilket verksamhetsställe som helst",
            "sw_day": "Från dag (frivilligt)",
            "sw_day_help": "Tomt: de närmaste lediga tiderna nu.",
            "sw_advisor": "Kundbetjänare (frivilligt)",
            "sw_advisor_label": "Kundbetjänare",
            "sw_any_advisor": "Vem som helst",
            "sw_search": "Sök lediga tider",
            "sw_results": "Lediga tider: {service}",
            "sw_no_times": "Inga lediga tider hittades. Pröva en annan dag eller tjänst.",
            "sw_later": "Senare tider",
            "sw_first": "Närmaste tider",
            "sw_quiet": "lugn tid",
            "sw_quiet_legend": "Lugn tid",
            "sw_quiet_help": "Då har minst antal kunder kommit under de senaste veckorna "
            "(veckans lugnaste tredjedel; innan det finns tillräckligt med statistik: nästan "
            "alla kundbetjänare för tjänsten är lediga). Föreslå dessa tider för den som ringer.",
            "sw_suggest_title": "Lugna tider",
            "sw_suggest_help": "De lugnaste av de visade tiderna. Föreslå dem för den som ringer.",
            "sw_free_advisors": "Lediga: {names}",
            "sw_hold_note": "Den valda tiden hålls i {n} minuter medan du fyller i uppgifterna.",
            "sw_details_title": "Uppgifter om den som ringer",
            "sw_chosen": "Vald tid",
            "sw_held_until": "Tiden hålls till kl. {time}.",
            "sw_remaining": "Tid kvar: ",
            "sw_hold_gone": "Tiden frigjordes: välj en tid igen",
            "sw_other_time": "Välj en annan tid",
            "sw_name": "Namn",
            "sw_contact": "Telefonnummer och/eller e-post",
            "sw_contact_help": "Minst det ena. Bekräftelsen skickas dit.",
            "sw_phone": "Telefonnummer",
            "sw_email": "E-postadress",
            "sw_hetu": "Personbeteckning (frivilligt)",
            "sw_hetu_help": "Med den kan kunden anmäla sig på plats. Den sparas inte som sådan.",
            "sw_msg_lang": "Bekräftelsens språk",
            "sw_questions": "Förhandsfrågor",
            "sw_required": "obligatoriskt",
            "sw_optional": "frivilligt",
            "sw_book": "Bekräfta bokningen",
            "sw_error_title": "Kontrollera uppgifterna",
            "sw_booked": "Bokningen är gjord. Läs upp bokningskoden för den som ringer.",
            "sw_code": "Bokningskod",
            "sw_code_help": "Bokstavera koden tecken för tecken. Kunden anmäler sig med den "
            "på plats.",
            "sw_sent": "En bekräftelse skickas ({lang}): {to}.",
            "sw_not_sent": "Denna tjänst skickar inga bekräftelser. Berätta tiden och koden "
            "för den som ringer.",
            "sw_no_contact_sent": "Ingen bekräftelse skickas (inga kontaktuppgifter).",
            "sw_moved": "Bokningen är flyttad. Bokningskoden är densamma.",
            "sw_cancelled": "Bokningen är avbokad.",
            "sw_reservation": "Bokning {code}",
            "sw_when": "Tid",
            "sw_site": "Verksamhetsställe",
            "sw_status": "Status",
            "sw_customer": "Kund",
            "sw_answers": "Svar",
            "sw_created_by": "Bokad av",
            "sw_move": "Flytta till en annan tid",
            "sw_cancel": "Avboka",
            "sw_cancel_title": "Avboka bokningen?",
            "sw_cancel_yes": "Ja, avboka",
            "sw_back": "Tillbaka",
            "sw_move_title": "Flytta bokning {code}",
            "sw_move_from": "Nuvarande tid: {when}",
            "sw_move_button": "Flytta {time}",
            "sw_move_confirm_title": "Flytta bokningen?",
            "sw_move_to": "Ny tid: {when}",
            "sw_move_yes": "Ja, flytta bokningen",
            "sw_new_booking": "Ny bokning",
            "sw_find_title": "Sök bokning",
            "sw_by_code": "Med bokningskod",
            "sw_code_field": "Bokningskod",
            "sw_code_field_help": "Till exempel 7KQ-4MX (bindestrecket behövs inte).",
            "sw_show": "Visa bokningen",
            "sw_by_name": "Med namn",
            "sw_name_field": "Kundens namn eller en del av det",
            "sw_all_sites": "Alla verksamhetsställen",
            "sw_from": "Från",
            "sw_to": "Till",
            "sw_find": "Sök",
            "sw_matches": "{n} hittades",
            "sw_no_matches": "Inga bokningar hittades.",
            "sw_too_many": "De första {n} visas. Avgränsa sökningen.",
            "sw_name_short": "Ange minst två tecken av namnet.",
            "sw_bad_dates": "Kontrollera datumen.",
            "sw_name_gone": "Namnet raderat",
            "sw_st_held": "Hålls",
            "sw_st_booked": "Giltig",
            "sw_st_checked_in": "Anmäld",
            "sw_st_done": "Besökt",
            "sw_st_noshow": "Kom inte",
            "sw_st_cancelled": "Avbokad",
            "sw_st_expired": "Utgången",
            "sw_by_web": "på nätet (kunden själv)",
            "sw_by_desk": "vid disken",
        },
        "en": {
            "sw_title": "Switchboard",
            "sw_tabs": "Switchboard tasks",
            "sw_tab_book": "Book a time",
            "sw_tab_find": "Find a booking",
            "sw_no_booking": "No service point takes bookings.",
            "sw_search_title": "Free times",
            "sw_service": "Service",
            "sw_choose_service": "Choose a service",
            "sw_any_site": "Any service point",
            "sw_day": "From day (optional)",
            "sw_day_help": "Empty: the nearest free times from now.",
            "sw_advisor": "Advisor (optional)",
            "sw_advisor_label": "Advisor",
            "sw_any_advisor": "Anyone",
            "sw_search": "Search free times",
            "sw_results": "Free times: {service}",
            "sw_no_times": "No free times found. Try another day or service.",
            "sw_later": "Later times",
            "sw_first": "Nearest times",
            "sw_quiet": "quiet time",
            "sw_quiet_legend": "Quiet time",
            "sw_quiet_help": "The fewest customers have come then in recent weeks (the "
            "quietest third of the week; until there are enough statistics: nearly all "
            "advisors of the service are free). Suggest these times to the caller.",
            "sw_suggest_title": "Quiet times",
            "sw_suggest_help": "The quietest of the times shown. Suggest these to the caller.",
            "sw_free_advisors": "Free: {names}",
            "sw_hold_note": "The chosen time is held for {n} minutes while you enter the details.",
            "sw_details_title": "Caller's details",
            "sw_chosen": "Chosen time",
            "sw_held_until": "The time is held until {time}.",
            "sw_remaining": "Time left: ",
            "sw_hold_gone": "The hold ended: choose a time again",
            "sw_other_time": "Choose another time",
            "sw_name": "Caller's name",
            "sw_contact": "Phone number and/or e-mail",
            "sw_contact_help": "At least one. The confirmation is sent there.",
            "sw_phone": "Phone number",
            "sw_email": "E-mail address",
            "sw_hetu": "Personal identity code (optional)",
            "sw_hetu_help": "The caller can check in with it on site. It is not stored as such.",
            "sw_msg_lang": "Language of the confirmation",
            "sw_questions": "Pre-questions",
            "sw_required": "required",
            "sw_optional": "optional",
            "sw_book": "Confirm the booking",
            "sw_error_title": "Please check the details",
            "sw_booked": "The booking is made. Read the booking code to the caller.",
            "sw_code": "Booking code",
            "sw_code_help": "Spell the code one character at a time. The caller checks in "
            "with it on site.",
            "sw_sent": "A confirmation will be sent ({lang}): {to}.",
            "sw_not_sent": "This service sends no confirmation messages. Tell the caller the "
            "time and the code.",
            "sw_no_contact_sent": "No confirmation is sent (no contact details).",
            "sw_moved": "The booking has been moved. The booking code stays the same.",
            "sw_cancelled": "The booking has been cancelled.",
            "sw_reservation": "Booking {code}",
            "sw_when": "Time",
            "sw_site": "Service point",
            "sw_status": "Status",
            "sw_customer": "Customer",
            "sw_answers": "Answers",
            "sw_created_by": "Booked by",
            "sw_move": "Move to another time",
            "sw_cancel": "Cancel the booking",
            "sw_cancel_title": "Cancel this booking?",
            "sw_cancel_yes": "Yes, cancel the booking",
            "sw_back": "Back",
            "sw_move_title": "Move booking {code}",
            "sw_move_from": "Current time: {when}",
            "sw_move_button": "Move to {time}",
            "sw_move_confirm_title": "Move this booking?",
            "sw_move_to": "New time: {when}",
            "sw_move_yes": "Yes, move the booking",
            "sw_new_booking": "New booking",
            "sw_find_title": "Find a booking",
            "sw_by_code": "By booking code",
            "sw_code_field": "Booking code",
            "sw_code_field_help": "For example 7KQ-4MX (the dash is optional).",
            "sw_show": "Show the booking",
            "sw_by_name": "By name",
            "sw_name_field": "Customer's name or part of it",
            "sw_all_sites": "All service points",
            "sw_from": "From",
            "sw_to": "To",
            "sw_find": "Search",
            "sw_matches": "{n} found",
            "sw_no_matches": "No bookings found.",
            "sw_too_many": "Showing the first {n}. Please narrow the search.",
            "sw_name_short": "Give at least two characters of the name.",
            "sw_bad_dates": "Please check the dates.",
            "sw_name_gone": "Name deleted",
            "sw_st_held": "Held",
            "sw_st_booked": "Booked",
            "sw_st_checked_in": "Checked in",
            "sw_st_done": "Visited",
            "sw_st_noshow": "Did not come",
            "sw_st_cancelled": "Cancelled",
            "sw_st_expired": "Expired",
            "sw_by_web": "online (the customer)",
            "sw_by_desk": "at the desk",
        },
    }
)


# ---------------------------------------------------------------------------- helpers


def err_text(exc: DomainError, lang: str) -> str:
    return exc.message.get(lang) or exc.message["fi"]


def status_of(exc: DomainError) -> int:
    return STATUS.get(exc.code, 400)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def spelled(code: str) -> list[list[str]]:
    """'K7P-4XQ' -> [['K', '7', 'P'], ['4', 'X', 'Q']]: shown with a gap, read one by one."""
    return [list(part) for part in code.split("-")]


def parse_start(text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text.strip().replace(" ", "+"))  # '+' of a raw query
    except ValueError:
        raise DomainError("bad_request", detail="start") from None
    if start.tzinfo is None:
        raise DomainError("bad_request", detail="start")
    return start


def parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def field_error(
    exc: DomainError, lang: str, questions: list[PreQuestionView]
) -> tuple[str | None, str]:
    """(the details form's field a refusal belongs to, the message to show)."""
    detail = str(exc.params.get("detail", ""))
    if exc.code == "bad_request" and detail in FIELD_ERRORS:
        fld, key = FIELD_ERRORS[detail]
        return fld, citizen_t(lang, key)
    if exc.code == "bad_request" and detail.startswith("answer to "):
        return "q_" + detail.removeprefix("answer to "), citizen_t(lang, "bad_answer")
    if exc.code == "invalid_hetu":
        return "hetu", err_text(exc, lang)
    if exc.code == "contact_needed":
        return "contact", err_text(exc, lang)
    if exc.code == "answer_needed":
        asked = str(exc.params.get("question", ""))
        for q in questions:
            if asked in q.texts:
                return "q_" + q.id, err_text(exc, lang)
    return None, err_text(exc, lang)


# ---------------------------------------------------------------------------- the router


def router(web: StaffWeb) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    guard = web.guard("switchboard")

    def svc() -> BookingService | None:
        return web.booking

    def sites_of(user: User) -> list[SiteBooking]:
        b = svc()
        if b is None:
            return []
        return [b.sites[s] for s in user.visible_sites(list(b.sites))]

    def no_booking(request: Request, user: User) -> HTMLResponse:
        return web.message(request, user, "sw_no_booking", 503)

    def render(
        request: Request, pg: StaffPage, template: str, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        return web.render(request, pg, template, status, **ctx)

    # -------------------------------------------------------------- views of data

    def service_groups(sites: list[SiteBooking], lang: str) -> list[dict[str, Any]]:
        """The search form's services: "any site" for a service several sites offer, then
        each site's own."""
        groups: list[dict[str, Any]] = []
        offered: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for sb in sites:
            opts = []
            for sid in sb.services:
                sdef = sb.site.services.get(sid)
                if sdef is None or not sdef.appointments:
                    continue
                names.setdefault(sid, local_text(sdef.name, lang))
                offered.setdefault(sid, []).append(sb.site.id)
                opts.append((f"{sb.site.id}/{sid}", local_text(sdef.name, lang)))
            if opts:
                groups.append({"label": local_text(sb.site.name, lang), "options": opts})
        many = [(f"*/{sid}", names[sid]) for sid, where in offered.items() if len(where) > 1]
        if many:
            groups.insert(0, {"label": "any", "options": many})
        return groups

    def advisor_options(sites: list[SiteBooking], lang: str) -> list[tuple[str, str]]:
        out = []
        for sb in sites:
            for a in sb.advisors.values():
                label = a.name
                if len(sites) > 1:
                    label = f"{a.name} – {local_text(sb.site.name, lang)}"
                out.append((f"{sb.site.id}/{a.id}", label))
        return out

    def service_name(sb: SiteBooking, service: str, lang: str) -> str:
        sdef = sb.site.services.get(service)
        return local_text(sdef.name, lang) if sdef else service

    def res_view(res: Reservation, lang: str) -> dict[str, Any]:
        b = svc()
        assert b is not None
        sb = b.sites.get(res.site)
        tz = sb.site.tz if sb else UTC
        adv = sb.advisors.get(res.advisor) if sb else None
        loc = res.start.astimezone(tz)
        questions = {}
        if sb is not None and res.service in sb.services:
            questions = {q.id: q for q in sb.services[res.service].pre_questions}
        answers = [
            (
                local_text(questions[k].text, lang) if k in questions else k,
                choice_label(v, lang),
            )
            for k, v in res.answers.items()
        ]
        return {
            "code": res.code,
            "spelled": spelled(res.code),
            "status": res.status,
            "status_text": st(lang, f"sw_st_{res.status}")
            if res.status in STATUSES
            else res.status,
            "service": service_name(sb, res.service, lang) if sb else res.service,
            "when": when_long(res.start.astimezone(tz), lang),
            "short": f"{loc:%d.%m.%Y} {clock_text(loc, lang)}",
            "advisor": adv.name if adv else res.advisor,
            "site_name": local_text(sb.site.name, lang) if sb else res.site,
            "address": (sb.address or "") if sb else "",
            "name": res.name,
            "phone": res.phone,
            "email": res.email,
            "answers": answers,
            "created_by": res.created_by,
            "created_by_text": st(lang, BY_KEY[res.created_by])
            if res.created_by in BY_KEY
            else res.created_by,
            "lang": dict(MSG_LANGS).get(res.lang, res.lang),
            "can_change": res.status == "booked",
            "can_cancel": res.status in ("booked", "held"),
        }

    def free_times(
        sites: list[str],
        service: str,
        advisor: tuple[str, str] | None,
        start_from: datetime | None,
        after: datetime | None,
        lang: str,
    ) -> list[dict[str, Any]]:
        """The next free times of `service` at `sites`, soonest first, quiet ones marked:
        BookingService.slots per site, merged."""
        b = svc()
        assert b is not None
        items: list[dict[str, Any]] = []
        for site in sites:
            sb = b.site(site)
            if service not in sb.services or (advisor and advisor[0] != site):
                continue
            tz = sb.site.tz
            frm = after or start_from
            every = b.slots(site, service, start_from=frm, limit=200)
            if len(every) == 200:  # the last start may be cut: leave it out
                every = [s for s in every if s.start != every[-1].start]
            skilled = [a for a in sb.advisors.values() if service in a.skills]
            shown: list[Slot] = every
            if advisor:
                shown = b.slots(site, service, advisor=advisor[1], start_from=frm, limit=SHOW + 1)
            quiet, rank = quiet_ranks(
                [*every, *shown] if advisor else every,
                len(skilled),
                site=sb.site,
                engine=b.store.engine,
            )
            by_start: dict[datetime, list[str]] = {}
            for s in shown:
                if after is not None and s.start <= after:
                    continue
                by_start.setdefault(s.start, []).append(s.advisor)
            for start, who in by_start.items():
                loc = start.astimezone(tz)
                items.append(
                    {
                        "start": start,
                        "site": site,
                        "site_name": local_text(sb.site.name, lang),
                        "value": f"{site}|{start.astimezone(UTC).isoformat()}",
                        "iso": start.astimezone(UTC).isoformat(),
                        "day": loc.date(),
                        "text": clock_text(loc, lang),
                        "quiet": start in quiet,
                        "rank": rank.get(start),
                        "day_text": day_long(loc.date(), lang),
                        "advisors": ", ".join(
                            sb.advisors[a].name if a in sb.advisors else a for a in who
                        ),
                    }
                )
        items.sort(key=lambda x: (x["start"], x["site"]))
        return items[:SHOW]

    def suggested(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The quietest `SUGGEST` of the quiet times shown (least load, then earliest),
        soonest first."""
        quiet = [x for x in items if x["quiet"] and x["rank"] is not None]
        quiet.sort(key=lambda x: (x["rank"], x["start"], x["site"]))
        return sorted(quiet[:SUGGEST], key=lambda x: (x["start"], x["site"]))

    def by_day(items: list[dict[str, Any]], lang: str) -> list[tuple[str, list[dict[str, Any]]]]:
        days: dict[date, list[dict[str, Any]]] = {}
        for x in items:
            days.setdefault(x["day"], []).append(x)
        return [(day_long(d, lang), xs) for d, xs in days.items()]

    def pick_sites(user: User, choice: str) -> tuple[list[str], str]:
        """'site/service' or '*/service' -> (the allowed sites to search, service)."""
        site, _, service = choice.partition("/")
        if not service:
            raise DomainError("unknown_service", service=choice)
        b = svc()
        assert b is not None
        if site == "*":
            sites = [sb.site.id for sb in sites_of(user) if service in sb.services]
            if not sites:
                raise DomainError("unknown_service", service=service)
            return sites, service
        web.check_site(user, site)
        b.site(site)
        return [site], service

    # -------------------------------------------------------------- search and book

    def search_page(
        request: Request,
        user: User,
        *,
        service: str = "",
        day: str = "",
        advisor: str = "",
        after: str = "",
        error: str | None = None,
        error_field: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        pg = web.page(request, user)
        lang = pg.lang
        sites = sites_of(user)
        items: list[dict[str, Any]] = []
        searched = False
        title = ""
        hold_min = 10
        if service:  # also after a refusal: the times as they are now, to choose again
            try:
                site_ids, sid = pick_sites(user, service)
                adv = None
                if advisor:
                    a_site, _, a_id = advisor.partition("/")
                    web.check_site(user, a_site)
                    adv = (a_site, a_id)
                    site_ids = [s for s in site_ids if s == a_site]
                first = site_ids[0] if site_ids else None
                b = svc()
                assert b is not None
                sb0 = b.site(first) if first else None
                d = parse_day(day)
                start_from = None
                if d is not None and sb0 is not None:
                    start_from = datetime.combine(d, time.min, tzinfo=sb0.site.tz)
                after_dt = parse_start(after) if after else None
                items = free_times(site_ids, sid, adv, start_from, after_dt, lang)
                searched = True
                if sb0 is not None:
                    title = service_name(sb0, sid, lang)
                    hold_min = sb0.rules.hold_min
            except DomainError as exc:
                error, status = err_text(exc, lang), status_of(exc)
                error_field, searched = "service", False
        return render(
            request,
            pg,
            "switchboard/search.html",
            status,
            tab="book",
            groups=service_groups(sites, lang),
            advisors=advisor_options(sites, lang),
            v={"service": service, "day": day, "advisor": advisor},
            searched=searched,
            title=title,
            days=by_day(items, lang),
            any_quiet=any(x["quiet"] for x in items),
            suggested=suggested(items),
            later=items[-1]["iso"] if len(items) == SHOW else None,
            after=after,
            hold_min=hold_min,
            many_sites=len(sites) > 1,
            error=error,
            error_field=error_field,
        )

    @r.get("/switchboard/")
    def home(
        request: Request,
        user: Annotated[User, Depends(guard)],
        service: str = "",
        day: str = "",
        advisor: str = "",
        after: str = "",
    ) -> Response:
        if svc() is None:
            return no_booking(request, user)
        return search_page(request, user, service=service, day=day, advisor=advisor, after=after)

    @r.post("/switchboard/hold")
    async def hold(request: Request, user: Annotated[User, Depends(guard)]) -> Response:
        form = await web.form(request)
        b = svc()
        if b is None:
            return no_booking(request, user)
        pg = web.page(request, user)
        keep = {k: str(form.get(k) or "") for k in ("service", "day", "advisor", "after")}
        site, _, when = str(form.get("pick") or "").partition("|")
        _, _, service = keep["service"].partition("/")
        advisor = keep["advisor"].partition("/")[2] or None
        web.check_site(user, site)
        try:
            start = parse_start(when)
            res = await run_in_threadpool(
                lambda: b.hold(
                    site, service, start, advisor=advisor, lang=pg.lang, created_by=CREATED_BY
                )
            )
        except DomainError as exc:
            msg, http = err_text(exc, pg.lang), status_of(exc)
            return await run_in_threadpool(
                lambda: search_page(request, user, **keep, error=msg, status=http)
            )
        return see_other(pg.url(f"/switchboard/book/{res.id}", **keep))

    def live_hold(user: User, hold_id: str) -> Reservation | None:
        b = svc()
        assert b is not None
        try:
            res = b.store.get(hold_id)
        except NotFound:
            return None
        web.check_site(user, res.site)
        if res.status != "held" or res.created_by != CREATED_BY:
            return None
        if res.hold_until is None or res.hold_until <= b.clock():
            return None
        return res

    def hold_gone(request: Request, user: User, keep: dict[str, str]) -> HTMLResponse:
        b = svc()
        assert b is not None
        hold_min = min((sb.rules.hold_min for sb in b.sites.values()), default=10)
        exc = DomainError("hold_expired", hold_min=hold_min)
        pg = web.page(request, user)
        return search_page(
            request, user, **keep, error=err_text(exc, pg.lang), status=status_of(exc)
        )

    def details_page(
        request: Request,
        user: User,
        res: Reservation,
        keep: dict[str, str],
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        b = svc()
        assert b is not None
        pg = web.page(request, user)
        lang = pg.lang
        sb = b.site(res.site)
        _sdef, bdef = b.service(sb, res.service)
        assert res.hold_until is not None
        left = max(0, int((res.hold_until - b.clock()).total_seconds()))
        return render(
            request,
            pg,
            "switchboard/details.html",
            status,
            tab="book",
            r=res_view(res, lang),
            hold_id=res.id,
            duration=bdef.duration_min,
            hold_until_text=clock_text(res.hold_until.astimezone(sb.site.tz), lang),
            left_s=left,
            left_text=f"{left // 60}:{left % 60:02d}",
            questions=[
                {
                    "id": q.id,
                    "text": local_text(q.text, lang),
                    "required": q.required,
                    "choices": [(c, choice_label(c, lang)) for c in q.choices],
                }
                for q in bdef.pre_questions
            ],
            keep=keep,
            msg_langs=MSG_LANGS,
            v=values or {"lang_msg": lang},
            errors=errors or {},
            error=error,
        )

    def keep_of(params: Any) -> dict[str, str]:
        return {k: str(params.get(k) or "") for k in ("service", "day", "advisor", "after")}

    @r.get("/switchboard/book/{hold_id}")
    def details(request: Request, user: Annotated[User, Depends(guard)], hold_id: str) -> Response:
        if svc() is None:
            return no_booking(request, user)
        keep = keep_of(request.query_params)
        res = live_hold(user, hold_id)
        if res is None:
            return hold_gone(request, user, keep)
        return details_page(request, user, res, keep)

    async def posted_hold(
        request: Request, user: User, hold_id: str
    ) -> tuple[Any, Any, dict[str, str], Reservation | None] | Response:
        """A POST about a hold: (form, booking service, kept search, the live hold or
        None), or the page to answer at once (no bookable site)."""
        form = await web.form(request)
        b = svc()
        if b is None:
            return no_booking(request, user)
        res = await run_in_threadpool(live_hold, user, hold_id)
        return form, b, keep_of(form), res

    @r.post("/switchboard/book/{hold_id}")
    async def details_post(
        request: Request, user: Annotated[User, Depends(guard)], hold_id: str
    ) -> Response:
        got = await posted_hold(request, user, hold_id)
        if isinstance(got, Response):
            return got
        form, b, keep, res = got
        pg = web.page(request, user)
        if res is None:
            return await run_in_threadpool(hold_gone, request, user, keep)
        sb = b.site(res.site)
        _sdef, bdef = b.service(sb, res.service)
        values = {k: str(form.get(k) or "") for k in ("name", "phone", "email", "lang_msg")}
        answers = {q.id: str(form.get("q_" + q.id) or "") for q in bdef.pre_questions}
        values.update({"q_" + k: v for k, v in answers.items()})
        msg_lang = values["lang_msg"] if values["lang_msg"] in LANGS else pg.lang
        customer = Customer(
            name=values["name"],
            phone=values["phone"].strip() or None,
            email=values["email"].strip() or None,
            hetu=str(form.get("hetu") or "").strip() or None,
            answers={k: v for k, v in answers.items() if v},
            lang=msg_lang,
        )
        try:
            booked = await run_in_threadpool(
                lambda: b.book(res.site, customer=customer, hold_id=hold_id, created_by=CREATED_BY)
            )
        except DomainError as exc:
            if exc.code == "hold_expired":
                return await run_in_threadpool(hold_gone, request, user, keep)
            qs = [PreQuestionView(q.id, set(q.text.values())) for q in bdef.pre_questions]
            fld, text = field_error(exc, pg.lang, qs)
            http = status_of(exc)
            return await run_in_threadpool(
                lambda: details_page(
                    request,
                    user,
                    res,
                    keep,
                    values=values,
                    errors={fld: text} if fld else {},
                    error=text,
                    status=http,
                )
            )
        return see_other(pg.url(f"/switchboard/r/{booked.code}", done="booked"))

    @r.post("/switchboard/book/{hold_id}/release")
    async def release(
        request: Request, user: Annotated[User, Depends(guard)], hold_id: str
    ) -> Response:
        got = await posted_hold(request, user, hold_id)
        if isinstance(got, Response):
            return got
        _form, b, keep, res = got
        pg = web.page(request, user)
        if res is not None:
            try:
                await run_in_threadpool(lambda: b.cancel(res.code, staff=True))
            except DomainError:
                pass  # gone meanwhile: nothing held any more either way
        return see_other(pg.url("/switchboard/", **keep))

    # -------------------------------------------------------------- find

    @r.get("/switchboard/find")
    def find(
        request: Request,
        user: Annotated[User, Depends(guard)],
        code: str = "",
        name: str = "",
        site: str = "",
        start: str = "",
        end: str = "",
    ) -> Response:
        b = svc()
        if b is None:
            return no_booking(request, user)
        pg = web.page(request, user)
        lang = pg.lang
        sites = sites_of(user)
        error: str | None = None
        error_field: str | None = None
        status = 200
        rows: list[dict[str, Any]] | None = None
        code = code.strip()
        if code:
            try:
                res = b.find_own(code, None, staff=True)
                if not user.may_site(res.site):
                    raise DomainError("reservation_not_found")
                return see_other(pg.url(f"/switchboard/r/{res.code}"))
            except DomainError as exc:
                error, error_field, status = err_text(exc, lang), "code", status_of(exc)
        elif "name" in request.query_params:
            today = b.clock().date()
            d_from = parse_day(start) if start else today - timedelta(days=FIND_BACK_DAYS)
            horizon = max((sb.rules.horizon_days for sb in sites), default=90)
            d_to = parse_day(end) if end else today + timedelta(days=horizon + 1)
            if site:
                web.check_site(user, site)
            wanted = [site] if site else [sb.site.id for sb in sites]
            if len(name.strip()) < 2:
                error, error_field, status = pg.T("sw_name_short"), "name", 422
            elif d_from is None or d_to is None or d_to < d_from:
                error, error_field, status = pg.T("sw_bad_dates"), "dates", 422
            else:
                lo = datetime.combine(d_from, time.min, tzinfo=UTC) - timedelta(hours=3)
                hi = datetime.combine(d_to + timedelta(days=1), time.min, tzinfo=UTC)
                found = b.store.find_by_name(wanted, lo, hi, name, limit=FIND_LIMIT)
                rows = [res_view(x, lang) for x in found]
        return render(
            request,
            pg,
            "switchboard/find.html",
            status,
            tab="find",
            sites=[(sb.site.id, local_text(sb.site.name, lang)) for sb in sites],
            v={"code": code, "name": name, "site": site, "start": start, "end": end},
            rows=rows,
            limit=FIND_LIMIT,
            error=error,
            error_field=error_field,
        )

    # -------------------------------------------------------------- one reservation

    def reservation(user: User, code: str) -> Reservation:
        b = svc()
        assert b is not None
        res = b.find_own(code, None, staff=True)
        web.check_site(user, res.site)
        return res

    def res_page(
        request: Request,
        user: User,
        res: Reservation,
        *,
        done: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        b = svc()
        assert b is not None
        pg = web.page(request, user)
        sent, sent_ok = None, False
        if done in ("booked", "moved"):
            kinds = {k for k, _ in b.store.pending_kinds(res.id)}
            to = ", ".join(x for x in (res.email, res.phone) if x)
            if not to or not kinds & {"confirmation", "rescheduled"}:
                sent = pg.T("sw_no_contact_sent")
            elif b.notifier is None:
                sent = pg.T("sw_not_sent")
            else:
                sent = pg.T("sw_sent", lang=dict(MSG_LANGS).get(res.lang, res.lang), to=to)
                sent_ok = True
        return render(
            request,
            pg,
            "switchboard/reservation.html",
            status,
            tab="book" if done == "booked" else "find",
            r=res_view(res, pg.lang),
            done=done if done in ("booked", "moved", "cancelled") else None,
            sent=sent,
            sent_ok=sent_ok,
            error=error,
        )

    def res_or_error(request: Request, user: User, code: str) -> Reservation | HTMLResponse:
        try:
            return reservation(user, code)
        except DomainError as exc:
            pg = web.page(request, user)
            return render(
                request,
                pg,
                "switchboard/find.html",
                status_of(exc),
                tab="find",
                sites=[(sb.site.id, local_text(sb.site.name, pg.lang)) for sb in sites_of(user)],
                v={"code": code},
                rows=None,
                limit=FIND_LIMIT,
                error=err_text(exc, pg.lang),
                error_field="code",
            )

    @r.get("/switchboard/r/{code}")
    def show(
        request: Request, user: Annotated[User, Depends(guard)], code: str, done: str = ""
    ) -> Response:
        if svc() is None:
            return no_booking(request, user)
        res = res_or_error(request, user, code)
        if isinstance(res, HTMLResponse):
            return res
        return res_page(request, user, res, done=done or None)

    @r.get("/switchboard/r/{code}/cancel")
    def cancel_confirm(
        request: Request, user: Annotated[User, Depends(guard)], code: str
    ) -> Response:
        if svc() is None:
            return no_booking(request, user)
        res = res_or_error(request, user, code)
        if isinstance(res, HTMLResponse):
            return res
        pg = web.page(request, user)
        return render(request, pg, "switchboard/cancel.html", tab="find", r=res_view(res, pg.lang))

    @r.post("/switchboard/r/{code}/cancel")
    async def cancel(
        request: Request, user: Annotated[User, Depends(guard)], code: str
    ) -> Response:
        await web.form(request)
        b = svc()
        if b is None:
            return no_booking(request, user)
        pg = web.page(request, user)
        res = await run_in_threadpool(res_or_error, request, user, code)
        if isinstance(res, HTMLResponse):
            return res
        try:
            done = await run_in_threadpool(lambda: b.cancel(res.code, staff=True))
        except DomainError as exc:
            msg, http = err_text(exc, pg.lang), status_of(exc)
            return await run_in_threadpool(
                lambda: res_page(request, user, res, error=msg, status=http)
            )
        return see_other(pg.url(f"/switchboard/r/{done.code}", done="cancelled"))

    def move_page(
        request: Request,
        user: User,
        res: Reservation,
        *,
        day: str = "",
        advisor: str = "",
        after: str = "",
        start: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        b = svc()
        assert b is not None
        pg = web.page(request, user)
        lang = pg.lang
        sb = b.site(res.site)
        view = res_view(res, lang)
        if start and error is None:
            try:
                at = parse_start(start)
                return render(
                    request,
                    pg,
                    "switchboard/move_confirm.html",
                    tab="find",
                    r=view,
                    start=at.astimezone(UTC).isoformat(),
                    advisor=advisor,
                    new_when=when_long(at.astimezone(sb.site.tz), lang),
                    day=day,
                )
            except DomainError as exc:
                error, status = err_text(exc, lang), status_of(exc)
        items: list[dict[str, Any]] = []
        try:
            d = parse_day(day)
            start_from = datetime.combine(d, time.min, tzinfo=sb.site.tz) if d else None
            adv = (res.site, advisor) if advisor else None
            after_dt = parse_start(after) if after else None
            items = free_times([res.site], res.service, adv, start_from, after_dt, lang)
        except DomainError as exc:
            error, status = error or err_text(exc, lang), status_of(exc)
        skilled = [a for a in sb.advisors.values() if res.service in a.skills]
        return render(
            request,
            pg,
            "switchboard/move.html",
            status,
            tab="find",
            r=view,
            days=by_day(items, lang),
            any_quiet=any(x["quiet"] for x in items),
            later=items[-1]["iso"] if len(items) == SHOW else None,
            after=after,
            advisors=[(a.id, a.name) for a in skilled],
            v={"day": day, "advisor": advisor},
            error=error,
        )

    @r.get("/switchboard/r/{code}/move")
    def move(
        request: Request,
        user: Annotated[User, Depends(guard)],
        code: str,
        day: str = "",
        advisor: str = "",
        after: str = "",
        start: str = "",
    ) -> Response:
        if svc() is None:
            return no_booking(request, user)
        res = res_or_error(request, user, code)
        if isinstance(res, HTMLResponse):
            return res
        if res.status != "booked":
            pg = web.page(request, user)
            exc = DomainError("bad_state", state=res.status)
            return res_page(request, user, res, error=err_text(exc, pg.lang), status=409)
        return move_page(request, user, res, day=day, advisor=advisor, after=after, start=start)

    @r.post("/switchboard/r/{code}/move")
    async def move_post(
        request: Request, user: Annotated[User, Depends(guard)], code: str
    ) -> Response:
        form = await web.form(request)
        b = svc()
        if b is None:
            return no_booking(request, user)
        pg = web.page(request, user)
        res = await run_in_threadpool(res_or_error, request, user, code)
        if isinstance(res, HTMLResponse):
            return res
        advisor = str(form.get("advisor") or "")
        day = str(form.get("day") or "")
        try:
            start = parse_start(str(form.get("start") or ""))
            moved = await run_in_threadpool(
                lambda: b.reschedule(res.code, start, advisor=advisor or None, staff=True)
            )
        except DomainError as exc:
            msg, http = err_text(exc, pg.lang), status_of(exc)
            return await run_in_threadpool(
                lambda: move_page(
                    request,
                    user,
                    res,
                    day=day,
                    advisor=advisor,
                    error=msg,
                    status=http,
                )
            )
        return see_other(pg.url(f"/switchboard/r/{moved.code}", done="moved"))

    return r
