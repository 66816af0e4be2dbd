"""Booking error messages in fi, sv and en, added to the domain's message table.

Codes the devices and web pages get besides PROTOCOL.md's: `slot_taken`, `hold_expired`,
`invalid_hetu`, `invalid_code`, `too_many_bookings`, `cancel_too_late`, `not_bookable`,
`bad_slot`, `contact_needed`, `answer_needed`, `unknown_site`, `unknown_advisor`,
`reservation_cancelled`.
"""

from __future__ import annotations

from scheduler.domain.errors import MESSAGES, DomainError

BOOKING_MESSAGES: dict[str, tuple[str, str, str]] = {
    "slot_taken": (
        "Aika ehdittiin juuri varata. Valitse toinen aika.",
        "Tiden hann just bokas. Välj en annan tid.",
        "This time was just booked by someone else. Please choose another time.",
    ),
    "hold_expired": (
        "Aikaa pidettiin sinulle {hold_min} minuuttia, ja se vapautui. Valitse aika uudelleen.",
        "Tiden hölls för dig i {hold_min} minuter och har frigjorts. Välj en tid igen.",
        "The time was held for you for {hold_min} minutes and has been released. "
        "Please choose a time again.",
    ),
    "invalid_hetu": (
        "Henkilötunnus ei ole oikein. Tarkista se.",
        "Personbeteckningen är inte korrekt. Kontrollera den.",
        "The personal identity code is not valid. Please check it.",
    ),
    "invalid_code": (
        "Varaustunnus ei ole oikein. Tunnus on muotoa 7KQ-4MX.",
        "Bokningskoden är inte korrekt. Koden ser ut så här: 7KQ-4MX.",
        "The booking code is not valid. It looks like 7KQ-4MX.",
    ),
    "too_many_bookings": (
        "Sinulla on jo {max} voimassa olevaa varausta. Peru jokin niistä ensin.",
        "Du har redan {max} giltiga bokningar. Avboka någon av dem först.",
        "You already have {max} active bookings. Please cancel one first.",
    ),
    "cancel_too_late": (
        "Varausta ei voi enää muuttaa verkossa ({hours} h raja). Soita meille.",
        "Bokningen kan inte längre ändras på nätet ({hours} h gräns). Ring oss.",
        "The booking can no longer be changed online ({hours} h limit). Please call us.",
    ),
    "not_bookable": (
        "Tähän palveluun ei voi varata aikaa.",
        "Det går inte att boka tid för denna tjänst.",
        "This service cannot be booked.",
    ),
    "bad_slot": (
        "Aika ei ole varattavissa: {why}",
        "Tiden kan inte bokas: {why}",
        "This time cannot be booked: {why}",
    ),
    "contact_needed": (
        "Anna nimi ja puhelinnumero tai sähköpostiosoite.",
        "Ange namn och telefonnummer eller e-postadress.",
        "Please give your name and a phone number or an e-mail address.",
    ),
    "answer_needed": (
        "Vastaa kysymykseen: {question}",
        "Svara på frågan: {question}",
        "Please answer the question: {question}",
    ),
    "unknown_site": (
        "Toimipistettä ei löydy.",
        "Verksamhetsstället finns inte.",
        "No such service point.",
    ),
    "unknown_advisor": (
        "Asiantuntijaa ei löydy.",
        "Kundbetjänaren finns inte.",
        "No such advisor.",
    ),
    "reservation_cancelled": (
        "Varaus on peruttu.",
        "Bokningen är avbokad.",
        "This reservation has been cancelled.",
    ),
    "too_early_at": (
        "Ilmoittautuminen avautuu klo {opens_fi}. Varauksesi alkaa klo {start_fi}.",
        "Anmälan öppnar kl. {opens_fi}. Din bokning börjar kl. {start_fi}.",
        "Check-in opens at {opens_en}. Your appointment starts at {start_en}.",
    ),
    "too_late_walk_in": (
        "Olet myöhässä varauksesta (klo {start_fi}). Voit ottaa vuoronumeron.",
        "Du är sen till din bokning (kl. {start_fi}). Du kan ta ett könummer.",
        "You are late for your appointment ({start_en}). You can take a number instead.",
    ),
    "reservation_not_today": (
        "Varauksesi on {day_fi} klo {start_fi}. Ilmoittaudu silloin.",
        "Din bokning är {day_sv} kl. {start_fi}. Anmäl dig då.",
        "Your appointment is on {day_en} at {start_en}. Please check in then.",
    ),
}

MESSAGES.update(BOOKING_MESSAGES)

__all__ = ["BOOKING_MESSAGES", "DomainError"]
