"""Driver: every kiosk screen in fi/sv/en at several window sizes, screenshots + overflow.

    python tests/ui/kiosk_screens.py OUT_DIR WxH

Writes OUT_DIR/<W>x<H>/<screen>-<lang>.png and OUT_DIR/<W>x<H>/report.json: per shot, the
labels whose text does not fit and the touch targets under 80 px. No broker: the
controller gets the demo's config and lobby state as the protocol would deliver them.
One size per process: the offscreen window cannot grow past the size it started with.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kiosk_harness as h

h.setup_env()

CONFIG: dict[str, Any] = {
    "v": 1,
    "site": "demo",
    "role": "kiosk",
    "languages": ["fi", "sv", "en"],
    "site_name": {
        "fi": "Asiointipiste Demola",
        "sv": "Servicepunkt Demola",
        "en": "Demola Service Point",
    },
    "offline_numbers": {"first": 901, "last": 949},
    "services": [
        {
            "id": "city-info",
            "name": {
                "fi": "Kaupungin neuvonta",
                "sv": "Stadens rådgivning",
                "en": "City information",
            },
            "provider": "municipality",
            "queue": "municipality",
            "walk_in": True,
            "appointments": False,
            "open": True,
            "instructions": {
                "fi": "Ota mukaan henkilöllisyystodistus.",
                "sv": "Ta med ett identitetsbevis.",
                "en": "Bring an identity document.",
            },
        },
        {
            "id": "parking-permit",
            "name": {"fi": "Pysäköintitunnus", "sv": "Parkeringstillstånd", "en": "Parking permit"},
            "provider": "municipality",
            "queue": "municipality",
            "walk_in": True,
            "appointments": False,
            "open": True,
            "instructions": None,
        },
        {
            "id": "kela-benefits",
            "name": {"fi": "Kelan etuudet", "sv": "FPA:s förmåner", "en": "Kela benefits"},
            "provider": "kela",
            "queue": "kela",
            "walk_in": True,
            "appointments": True,
            "open": True,
            "instructions": {
                "fi": "Ota mukaan henkilöllisyystodistus ja hakemuksen liitteet.",
                "sv": "Ta med identitetsbevis och bilagor till ansökan.",
                "en": "Bring an identity document and the attachments of your application.",
            },
        },
        {
            "id": "tax-card",
            "name": {
                "fi": "Verokortti ja veroilmoitus",
                "sv": "Skattekort och skattedeklaration",
                "en": "Tax card and tax return",
            },
            "provider": "tax",
            "queue": "tax",
            "walk_in": True,
            "appointments": False,
            "open": True,
            "instructions": None,
        },
        {
            "id": "passport-pickup",
            "name": {"fi": "Passin nouto", "sv": "Avhämtning av pass", "en": "Passport pick-up"},
            "provider": "police",
            "queue": "police",
            "walk_in": True,
            "appointments": False,
            "open": False,
            "opens": "2026-11-24T07:00:00Z",
            "instructions": None,
        },
        {
            "id": "notary",
            "name": {"fi": "Julkinen notaari", "sv": "Notarius publicus", "en": "Notary public"},
            "provider": "dvv",
            "queue": "dvv",
            "walk_in": False,
            "appointments": True,
            "open": False,
            "instructions": None,
        },
    ],
}
DISPLAY = {
    "v": 1,
    "seq": 7,
    "queues": [
        {"id": "municipality", "name": {"fi": "Kaupungin palvelut"}, "waiting": 3, "eta_min": 14},
        {"id": "kela", "name": {"fi": "Kela"}, "waiting": 12, "eta_min": 48},
        {"id": "tax", "name": {"fi": "Verohallinto"}, "waiting": 0, "eta_min": 0},
        {"id": "police", "name": {"fi": "Poliisi"}, "waiting": 0, "eta_min": 0},
    ],
}
TICKET = {
    "number": "K012",
    "queue": "kela",
    "service": "kela-benefits",
    "position": 4,
    "eta_min": 17,
    "issued_at": "2026-11-23T09:14:40.120Z",
    "status_url": "http://localhost:8080/t/4fJq2xQ0vN8kYb1cZr7TtA",
    "appointment": None,
}


class Link:
    site = "demo"
    device_id = "kiosk-demo-1"

    def __init__(self) -> None:
        self.subs: dict[str, Any] = {}

    def request(self, *a: Any, **k: Any) -> dict[str, Any]:
        raise AssertionError("no requests in the screen driver")

    def send(self, *a: Any, **k: Any) -> str:
        return "x"

    def subscribe(self, topic: str, handler: Any) -> None:
        self.subs[topic] = handler

    def set_status(self, **fields: Any) -> None:
        pass


def states(ctrl: Any) -> list[tuple[str, Any]]:
    """(name, setup) for every screen worth a picture."""
    from kiosk.controller import ErrorInfo, Result
    from kiosk.controller import make_view as mv

    def view(ticket: dict[str, Any], offline: bool = False) -> Any:
        svc = ctrl.service(ticket["service"]) or {}
        return mv(
            ticket,
            service_name=svc.get("name"),
            site_name=CONFIG["site_name"],
            lang=ctrl.lang,
            instructions=svc.get("instructions"),
            tz="Europe/Helsinki",
            offline=offline,
        )

    def goto(screen: str, **attrs: Any) -> Any:
        def setup() -> None:
            for k, v in attrs.items():
                setattr(ctrl, k, v)
            ctrl.screen = screen

        return setup

    def result(kind: str, printed: bool, offline: bool = False, **tk: Any) -> Any:
        def setup() -> None:
            ticket = {**TICKET, **tk}
            ctrl.result = Result(
                view=view(ticket, offline),
                kind=kind,
                printed=printed,
                offline=offline,
                position=None if offline else ticket["position"],
                eta_min=None if offline else ticket["eta_min"],
                png_path="/tmp/vuoro-tickets/ticket-0007-K012.png" if printed else None,
            )
            ctrl.screen = "result"

        return setup

    def error(code: str, offer: bool = False, message: Any = None) -> Any:
        def setup() -> None:
            ctrl.error = ErrorInfo(code, message, offer_number=offer)
            ctrl.screen = "error"

        return setup

    appt = {"code": "7KQ-4MX", "start": "2026-11-23T09:30:00Z", "resource": "Aino Virtanen"}
    closed_msg = {
        "fi": "Tähän palveluun ei nyt oteta vuoronumeroita. Avautuu ti 24.11. klo 9.00.",
        "sv": "Inga könummer till denna tjänst just nu. Öppnar tis 24.11. kl. 9.00.",
        "en": "This service takes no walk-in numbers now. Opens Tue 24 Nov at 9:00.",
    }
    return [
        ("idle", goto("idle")),
        ("home", goto("home")),
        ("services", goto("services")),
        ("identify-code", goto("identify", input_mode="code", typed="")),
        ("identify-code-valid", goto("identify", input_mode="code", typed="7KQ4MX")),
        ("identify-hetu-typing", goto("identify", input_mode="hetu", typed="0101")),
        ("identify-hetu-bad-date", goto("identify", input_mode="hetu", typed="310290-")),
        ("identify-hetu-valid", goto("identify", input_mode="hetu", typed="010190-900P")),
        (
            "identify-no-reader",
            goto("identify", input_mode="code", typed="", reader_status="absent"),
        ),
        ("busy", goto("busy", reader_status="ok")),
        ("result-printed", result("ticket", True)),
        ("result-not-printed", result("ticket", False)),
        ("result-checkin", result("checkin", True, appointment=appt, position=0, eta_min=0)),
        ("result-offline", result("ticket", True, True, number="K905", status_url=None)),
        ("error-closed", error("queue_closed", message=closed_msg)),
        ("error-too-early", error("too_early")),
        ("error-too-late", error("too_late", offer=True)),
        ("error-not-found", error("reservation_not_found")),
        ("error-offline-checkin", error("offline_checkin", offer=True)),
        ("error-paper-out", error("paper_out")),
        ("error-ask-staff", error("offline_range_used")),
    ]


def main() -> None:
    out = Path(sys.argv[1])
    size = tuple(int(x) for x in sys.argv[2].split("x"))
    out = out / f"{size[0]}x{size[1]}"
    out.mkdir(parents=True, exist_ok=True)
    from kivy.config import Config

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))

    from kiosk.app import KioskApp, configure_window
    from kiosk.controller import KioskController

    configure_window(size, False)
    link = Link()
    ctrl = KioskController(link, printer=None, reader=None, offline_path=None)
    ctrl.idle_timeout_s = 1e9
    ctrl.reader_status = "ok"
    ctrl.start()
    ctrl.reader_status = "ok"
    link.subs["vuoro/v1/demo/config/kiosk-demo-1"]("t", CONFIG)
    link.subs["vuoro/v1/demo/state/display"]("t", DISPLAY)
    report: dict[str, Any] = {"shots": []}

    def script() -> Iterator[h.Step]:
        from kivy.core.window import Window

        report["window"] = list(Window.size)
        for lang in ("fi", "sv", "en"):
            for name, setup in states(ctrl):
                ctrl.lang = lang
                ctrl.reader_status = "ok"
                setup()
                app.sync()
                yield None
                yield None
                yield None
                path = out / f"{name}-{lang}.png"
                made = Window.screenshot(name=str(out / "shot.png"))
                Path(made).replace(path)
                report["shots"].append(
                    {
                        "size": list(size),
                        "lang": lang,
                        "screen": name,
                        "shown": app.root.current,
                        "png": str(path),
                        "overflow": h.overflow(app.root, tuple(Window.size)),
                        "small_targets": h.small_targets(app.root, 80),
                    }
                )

    app = KioskApp(ctrl)
    runner = h.Runner(app, script(), report)
    app.on_started = lambda _a: runner.start()
    try:
        app.run()
    finally:
        h.write_report(out / "report.json", report)


if __name__ == "__main__":
    main()
