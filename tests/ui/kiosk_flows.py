"""Driver: touch-driven kiosk flows against a real broker and scheduler (the demo site).

    python tests/ui/kiosk_flows.py OUT_DIR

Starts a Demo (private Mosquitto + scheduler) in this process, the kiosk app offscreen
at 1280x800 with the simulated card reader and the in-memory ESC/POS printer, and plays:
take a number, check in by booking code, by identity code, by card, a scanned code of
tomorrow's booking (too early), the printer out of paper, the reader unplugged, and the
scheduler stopped (an offline number) and started again (a desk calls that number).
Writes OUT_DIR/report.json and a screenshot per step.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kiosk_harness as h

h.setup_env()


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"flows": {}}

    from firmware_common.mqtt import DeviceClient, MqttSettings
    from kiosk.app import KioskApp, configure_window, make_printer, make_reader
    from kiosk.controller import KioskController
    from vuoro.demo import Demo

    configure_window((1280, 800), False)
    demo = Demo(workdir=out / "demo")
    demo.start()
    report["bookings"] = demo.bookings

    def settings(device: str) -> MqttSettings:
        dev = demo.device(device)
        return MqttSettings(
            host=demo.broker.host,
            port=demo.broker.port,
            username=dev.username,
            password=dev.password,
            reconnect_min_s=1,
            reconnect_max_s=1,
        )

    client = DeviceClient(
        settings("kiosk-demo-1"),
        device_id="kiosk-demo-1",
        site=demo.site,
        role="kiosk",
        version="test",
        outbox_path=out / "kiosk-outbox.db",
    )
    reader: Any = make_reader("fake")
    printer: Any = make_printer("dummy")

    def in_thread(fn: Any) -> None:
        threading.Thread(target=fn, daemon=True).start()

    ctrl = KioskController(
        client,
        printer=printer,
        reader=reader,
        offline_path=out / "kiosk-outbox-numbers.db",
        runner=in_thread,
        idle_timeout_s=600,
    )
    client.on_late_reply = ctrl.on_late_reply
    ctrl.start()
    client.start()
    client.connected.wait(10)
    app = KioskApp(ctrl, demo_keys=True, fake_reader=reader)

    def shot(name: str) -> str:
        from kivy.core.window import Window

        made = Window.screenshot(name=str(out / "shot.png"))
        path = out / f"{name}.png"
        Path(made).replace(path)
        return str(path)

    def tap_text(text: str) -> Iterator[h.Step]:
        yield None
        h.tap(h.by_text(app.root, text))
        yield None

    def on(screen: str) -> Any:
        def pred() -> bool:
            return ctrl.screen == screen and app.root.current == screen

        pred.__name__ = f"screen {screen}"
        return pred

    def flow_result(name: str, t0: float, **extra: Any) -> dict[str, Any]:
        r = ctrl.result
        res: dict[str, Any] = {
            "screen": ctrl.screen,
            "seconds": round(time.monotonic() - t0, 3),
            "png": shot(name),
            "overflow": h.overflow(app.root, (1280, 800)),
            **extra,
        }
        if r is not None and ctrl.screen == "result":
            res.update(
                number=r.view.number,
                kind=r.kind,
                printed=r.printed,
                offline=r.offline,
                position=r.position,
                lang=r.view.lang,
                appointment=r.view.appointment,
                qr=app.root.get_screen("result").qr_texture is not None,
                shown_number=app.root.get_screen("result").ids.number.text,
            )
        if ctrl.error is not None and ctrl.screen == "error":
            res.update(error=ctrl.error.code, message=app.root.get_screen("error").message)
        report["flows"][name] = res
        return res

    def type_keys(text: str) -> Iterator[h.Step]:
        for ch in text:
            yield from tap_text(ch)

    def script() -> Iterator[h.Step]:
        yield lambda: bool(ctrl.config.get("services"))
        report["config_has_range"] = "offline_numbers" in ctrl.config
        bookings = demo.bookings
        # 1. take a number: language, "Take a number", a service
        ctrl.reset()
        yield on("idle")
        t0 = time.monotonic()
        yield from tap_text("Suomi")
        yield on("home")
        yield from tap_text("Ota vuoronumero")
        yield on("services")
        shot("take-number-services")
        yield from tap_text("Kaupungin neuvonta")
        yield on("result")
        before = len(printer.jobs)
        flow_result("take_number", t0, bytes=len(printer.last_bytes or b""), jobs=before)
        yield from tap_text("Valmis")
        yield on("idle")
        # 2. check in by booking code (typed on the keypad)
        due = bookings[1] if len(bookings) > 1 else bookings[0]
        t0 = time.monotonic()
        yield from tap_text("English")
        yield from tap_text("I have an appointment")
        yield on("identify")
        yield from type_keys(due["code"].replace("-", ""))
        report["code_feedback"] = app.root.get_screen("identify").feedback
        shot("checkin-code-typed")
        yield from tap_text("Check in →")
        yield lambda: ctrl.screen in ("result", "error")
        yield on(ctrl.screen)
        flow_result("checkin_code", t0, code=due["code"])
        ctrl.reset()
        # 3. check in by identity code
        hetu_booking = next((b for b in bookings if b.get("hetu")), None)
        if hetu_booking:
            yield on("idle")
            t0 = time.monotonic()
            yield from tap_text("Svenska")
            yield from tap_text("Jag har en tidsbokning")
            yield on("identify")
            yield from tap_text("Personbeteckning")
            yield from type_keys(hetu_booking["hetu"])
            report["hetu_feedback"] = app.root.get_screen("identify").feedback
            yield from tap_text("Anmäl →")
            yield lambda: ctrl.screen in ("result", "error")
            yield on(ctrl.screen)
            flow_result("checkin_hetu", t0, code=hetu_booking["code"])
            ctrl.reset()
        # 4. check in by card, inserted on the attract screen
        card_booking = next((b for b in bookings if b.get("card")), None)
        yield on("idle")
        t0 = time.monotonic()
        threading.Thread(target=reader.insert, args=("fi-id",), daemon=True).start()
        yield lambda: ctrl.screen in ("result", "error")
        yield on(ctrl.screen)
        flow_result("checkin_card", t0, code=card_booking and card_booking["code"])
        reader.remove()
        ctrl.reset()
        # 5. a scanned code of tomorrow's booking: too early
        later = next((b for b in bookings[2:] if b.get("code")), None)
        if later:
            yield on("idle")
            yield from tap_text("English")
            yield from tap_text("I have an appointment")
            t0 = time.monotonic()
            ctrl.scanner_text(later["code"].lower())
            ctrl.scanner_enter()
            yield lambda: ctrl.screen in ("result", "error")
            yield on(ctrl.screen)
            flow_result("scan_too_early", t0)
            ctrl.reset()
        # 6. printer out of paper: the number big with a QR code
        printer.simulate("paper_out")
        yield on("idle")
        t0 = time.monotonic()
        yield from tap_text("English")
        yield from tap_text("Take a number")
        yield from tap_text("Tax card and tax return")
        yield on("result")
        yield 0.2
        flow_result("printer_fault", t0, status=dict(client.status))
        printer.simulate("ok")
        ctrl.reset()
        # 7. the reader unplugged: the identify screen says so, the status too
        reader.set_status("absent")
        yield on("idle")
        yield from tap_text("Suomi")
        yield from tap_text("Minulla on ajanvaraus")
        yield on("identify")
        yield 0.2
        report["flows"]["reader_absent"] = {
            "png": shot("reader-absent"),
            "text": app.root.get_screen("identify").ids.card_text.text,
            "status": dict(client.status),
        }
        reader.set_status("ok")
        ctrl.reset()
        # 8. offline: the scheduler stops; a number from the kiosk's range
        if not report["config_has_range"]:
            ctrl.config = {**ctrl.config, "offline_numbers": {"first": 901, "last": 949}}
        demo.stop_scheduler()
        yield on("idle")
        yield from tap_text("Suomi")
        yield from tap_text("Ota vuoronumero")
        t0 = time.monotonic()
        yield from tap_text("Kaupungin neuvonta")
        yield lambda: ctrl.screen in ("result", "error")
        yield on(ctrl.screen)
        off = flow_result("offline", t0)
        # offline check-in: not possible, offered a number
        ctrl.reset()
        yield on("idle")
        yield from tap_text("English")
        yield from tap_text("I have an appointment")
        yield from type_keys(due["code"].replace("-", ""))
        yield from tap_text("Check in →")
        yield lambda: ctrl.screen in ("result", "error")
        yield on(ctrl.screen)
        flow_result("offline_checkin", time.monotonic())
        ctrl.reset()
        # 9. the scheduler is back: a desk calls the offline number
        demo.start_scheduler()
        called: list[str] = []
        done = threading.Event()

        def desk_calls() -> None:
            desk = DeviceClient(
                settings("desk-demo-1"), device_id="desk-demo-1", site=demo.site, role="desk"
            )
            desk.start()
            try:
                desk.connected.wait(10)
                deadline = time.monotonic() + 8
                desk.request("open", {"desk": "1"}, timeout=5)
                while time.monotonic() < deadline:
                    r = desk.request("next", {"desk": "1"}, timeout=5)
                    tk = r.get("ticket") if r.get("ok") else None
                    if tk:
                        called.append(tk["number"])
                        if tk["number"] == off.get("number"):
                            break
                    else:
                        time.sleep(0.3)  # the outbox may not have been re-sent yet
            except Exception as exc:
                report["desk_error"] = repr(exc)
            finally:
                desk.stop()
                done.set()

        threading.Thread(target=desk_calls, daemon=True).start()
        yield done.is_set
        report["called_after_restart"] = called
        report["outbox_pending"] = len(client.outbox.pending()) if client.outbox else None
        report["late_replies"] = len(ctrl.late_replies)

    runner = h.Runner(app, script(), report)
    app.on_started = lambda _a: runner.start()
    try:
        app.run()
    finally:
        h.write_report(out / "report.json", report)
        ctrl.stop()
        client.stop()
        demo.stop()


if __name__ == "__main__":
    main()
