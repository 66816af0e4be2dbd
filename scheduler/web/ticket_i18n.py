"""The mobile ticket page's texts in Finnish, Swedish and English.

`render(view, lang)` turns a ticket view (scheduler/web/tickets.py) into the page's
changing sentences; the server uses it both for the first HTML and for every event, so
the page's JavaScript only puts the strings in place and never builds a sentence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

LANGS = ("fi", "sv", "en")
DEFAULT = "fi"
LANG_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}

T: dict[str, dict[str, str]] = {
    "page_title": {"fi": "Vuoronumero", "sv": "Könummer", "en": "Your ticket"},
    "your_number": {"fi": "Vuoronumerosi", "sv": "Ditt könummer", "en": "Your number"},
    "language": {"fi": "Kieli", "sv": "Språk", "en": "Language"},
    "ahead_one": {
        "fi": "Edelläsi 1 asiakas",
        "sv": "1 person före dig",
        "en": "1 person ahead of you",
    },
    "ahead_many": {
        "fi": "Edelläsi {n} asiakasta",
        "sv": "{n} personer före dig",
        "en": "{n} people ahead of you",
    },
    "next": {"fi": "Olet seuraavana", "sv": "Du är näst på tur", "en": "You are next"},
    "eta": {
        "fi": "Arvioitu odotusaika noin {m} min",
        "sv": "Beräknad väntetid cirka {m} min",
        "en": "Estimated wait about {m} min",
    },
    "eta_soon": {
        "fi": "Vuorosi tulee pian",
        "sv": "Snart är det din tur",
        "en": "Your turn is coming soon",
    },
    "appointment": {
        "fi": "Ajanvaraus klo {t}",
        "sv": "Tidsbokning kl. {t}",
        "en": "Appointment at {t}",
    },
    "called": {"fi": "Sinun vuorosi!", "sv": "Din tur!", "en": "It's your turn!"},
    "go_to_desk": {
        "fi": "Mene palvelupisteeseen",
        "sv": "Gå till lucka",
        "en": "Go to desk",
    },
    "recalled": {
        "fi": "Kutsuttu uudelleen",
        "sv": "Uppropad igen",
        "en": "Called again",
    },
    "called_at": {"fi": "Kutsuttu klo {t}", "sv": "Uppropad kl. {t}", "en": "Called at {t}"},
    "serving": {
        "fi": "Sinua palvellaan",
        "sv": "Du betjänas",
        "en": "You are being served",
    },
    "at_desk": {"fi": "Palvelupiste", "sv": "Lucka", "en": "Desk"},
    "done": {"fi": "Kiitos käynnistä!", "sv": "Tack för besöket!", "en": "Thank you for visiting!"},
    "done_detail": {
        "fi": "Asiointisi on päättynyt.",
        "sv": "Ditt ärende är klart.",
        "en": "Your visit is complete.",
    },
    "noshow": {
        "fi": "Et saapunut palvelupisteeseen",
        "sv": "Du kom inte till luckan",
        "en": "You did not come to the desk",
    },
    "noshow_detail": {
        "fi": "Numerosi kutsuttiin, mutta et ehtinyt paikalle. Ota tarvittaessa uusi vuoronumero.",
        "sv": "Ditt nummer ropades upp men du hann inte fram. Ta vid behov ett nytt könummer.",
        "en": "Your number was called but you did not arrive. Please take a new number if "
        "you still need service.",
    },
    "gone": {
        "fi": "Vuoronumero ei ole enää voimassa",
        "sv": "Könumret gäller inte längre",
        "en": "This ticket is no longer valid",
    },
    "gone_detail": {
        "fi": "Ota tarvittaessa uusi vuoronumero.",
        "sv": "Ta vid behov ett nytt könummer.",
        "en": "Please take a new number if you need service.",
    },
    "updated": {"fi": "Päivitetty klo {t}", "sv": "Uppdaterad kl. {t}", "en": "Updated {t}"},
    "live": {
        "fi": "Päivittyy automaattisesti",
        "sv": "Uppdateras automatiskt",
        "en": "Updates automatically",
    },
    "offline": {
        "fi": "Ei yhteyttä, yhdistetään uudelleen…",
        "sv": "Ingen anslutning, ansluter igen…",
        "en": "Offline, reconnecting…",
    },
    "ended": {
        "fi": "Sivu ei enää päivity.",
        "sv": "Sidan uppdateras inte längre.",
        "en": "This page no longer updates.",
    },
    "refresh": {"fi": "Päivitä sivu", "sv": "Uppdatera sidan", "en": "Refresh the page"},
    "no_js": {
        "fi": "Sivu ei päivity itsestään ilman JavaScriptiä.",
        "sv": "Sidan uppdateras inte av sig själv utan JavaScript.",
        "en": "Without JavaScript this page does not update by itself.",
    },
    "sound_heading": {
        "fi": "Äänimerkki ja värinä",
        "sv": "Ljudsignal och vibration",
        "en": "Sound and vibration",
    },
    "sound_on_button": {
        "fi": "Ota äänimerkki käyttöön",
        "sv": "Slå på ljudsignalen",
        "en": "Turn on sound",
    },
    "sound_is_on": {
        "fi": "Äänimerkki on päällä – kokeile",
        "sv": "Ljudsignalen är på – prova",
        "en": "Sound is on – test it",
    },
    "sound_help": {
        "fi": "Kun vuorosi tulee, puhelin antaa äänimerkin ja värisee, jos puhelin sen "
        "sallii. Selain sallii äänen vasta, kun olet painanut painiketta. Pidä tämä sivu "
        "auki.",
        "sv": "När det är din tur piper och vibrerar telefonen, om telefonen tillåter det. "
        "Webbläsaren tillåter ljud först när du har tryckt på knappen. Håll sidan öppen.",
        "en": "When it is your turn, your phone beeps and vibrates if it allows it. The "
        "browser only plays sound after you have pressed the button. Keep this page open.",
    },
    "not_found": {
        "fi": "Vuoronumeroa ei löydy",
        "sv": "Könumret hittades inte",
        "en": "Ticket not found",
    },
    "not_found_detail": {
        "fi": "Tarkista osoite. Vanhat vuoronumerot poistuvat käytöstä asioinnin jälkeen.",
        "sv": "Kontrollera adressen. Gamla könummer slutar gälla efter besöket.",
        "en": "Please check the address. Old tickets stop working after the visit.",
    },
    "unavailable": {
        "fi": "Palvelu ei juuri nyt vastaa",
        "sv": "Tjänsten svarar inte just nu",
        "en": "The service is not answering right now",
    },
    "unavailable_detail": {
        "fi": "Yritä hetken kuluttua uudelleen.",
        "sv": "Försök igen om en stund.",
        "en": "Please try again in a moment.",
    },
}


def pick(lang: str | None) -> str | None:
    """`lang` if it is one of the page's languages, else None."""
    return lang if lang in LANGS else None


def texts(lang: str) -> dict[str, str]:
    """Every fixed text in `lang` (for the templates)."""
    return {k: v[lang] for k, v in T.items()}


def client_texts(lang: str) -> dict[str, str]:
    """The few texts the page's script needs itself."""
    keys = ("live", "offline", "ended", "sound_on_button", "sound_is_on")
    return {k: T[k][lang] for k in keys}


def _clock(stamp: str | None, tz: str, lang: str) -> str:
    if not stamp:
        return ""
    local = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
    return local.strftime("%H:%M" if lang == "en" else "%H.%M")


def _name(names: dict[str, str] | None, lang: str) -> str:
    if not names:
        return ""
    return names.get(lang) or names.get("fi") or next(iter(names.values()), "")


def render(view: dict[str, Any], lang: str) -> dict[str, str]:
    """The changing sentences of the page for `view` in `lang`: `head`, `detail`,
    `desk_label`, `desk`, `recall`, `number`, `service`, `site`, `updated`, `title`."""
    tz = view.get("timezone") or "Europe/Helsinki"
    status = view["status"]
    number = view["number"]
    desk = view.get("desk") or ""
    out = {
        "number": number,
        "service": _name(view.get("service"), lang),
        "site": _name(view.get("site"), lang),
        "updated": T["updated"][lang].format(t=_clock(view.get("updated_at"), tz, lang)),
        "desk_label": "",
        "desk": "",
        "recall": "",
    }
    if status == "waiting":
        n, m = view["position"], view["eta_min"]
        if n == 0:
            out["head"] = T["next"][lang]
        else:
            out["head"] = (T["ahead_one"] if n == 1 else T["ahead_many"])[lang].format(n=n)
        if view.get("appointment"):
            out["detail"] = T["appointment"][lang].format(t=_clock(view["appointment"], tz, lang))
        else:
            out["detail"] = T["eta"][lang].format(m=m) if m > 0 else T["eta_soon"][lang]
        out["title"] = f"{number} · {out['head']}"
    elif status == "called":
        out["head"] = T["called"][lang]
        out["detail"] = T["called_at"][lang].format(t=_clock(view.get("called_at"), tz, lang))
        out["desk_label"] = T["go_to_desk"][lang]
        out["desk"] = desk
        out["recall"] = T["recalled"][lang] if view.get("recalls") else ""
        out["title"] = f"{out['desk_label']} {desk} · {number}"
    elif status == "serving":
        out["head"] = T["serving"][lang]
        out["detail"] = ""
        out["desk_label"] = T["at_desk"][lang]
        out["desk"] = desk
        out["title"] = f"{number} · {out['head']}"
    elif status in ("done", "noshow", "gone"):
        out["head"] = T[status][lang]
        out["detail"] = T[f"{status}_detail"][lang]
        out["title"] = f"{number} · {out['head']}"
    else:  # a status this page does not know yet
        out["head"] = ""
        out["detail"] = ""
        out["title"] = number
    return out
