"""`vuoro bench kiosk`: from a card in the reader to the ticket's bytes at the printer.

Issue 4's target: card inserted until the ticket bytes are written, p95 under 500 ms.

Set-up: `vuoro demo --headless` in a subprocess (a private Mosquitto and the scheduler
with the demo site and today's demo bookings), and in this process the kiosk's own code
without a window: kiosk/controller.py over a real `DeviceClient` (as kiosk-demo-1, with
its durable outbox), the simulated card reader (`fake`) and the in-memory ESC/POS
printer (`dummy`). Timed:

- `card`: `FakeReader.insert(card of a demo booking)` -> check-in over MQTT -> ticket
  laid out -> bytes written by the printer (the printer's `print_ticket` returning). A
  repeated check-in returns the same ticket, so every run does the whole round trip.
- `ticket`: "take a number" pressed on a service -> `ticket` over MQTT -> bytes written.

Each sample is timed alone with `time.perf_counter`. `peak_rss_mb` is this process's
peak resident memory (`ru_maxrss`: the kiosk's logic, MQTT client and printer, no
window); `ui_peak_rss_mb` that of a separate process that opens the real Kivy window
(offscreen SDL) and draws every screen once: the whole kiosk process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.calls import _cpu_model, _cpu_reference_ms, percentile
from kiosk.hardware import PrintResult, TicketPrinter, TicketView

RUNS = 200
TARGET_P95_MS = 500.0


class _Timed(TicketPrinter):
    """The real printer, noting when its bytes were written."""

    def __init__(self, inner: TicketPrinter) -> None:
        self.inner = inner
        self.done_at: float | None = None
        self.last_len = 0

    def print_ticket(self, ticket: TicketView) -> PrintResult:
        result = self.inner.print_ticket(ticket)
        self.done_at = time.perf_counter()
        last = getattr(self.inner, "last_bytes", None)
        self.last_len = len(last) if last else 0
        return result

    def status(self) -> Any:
        return self.inner.status()


def _stats(samples: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "runs": len(ms),
        "p50_ms": _r(percentile(ms, 50)),
        "p95_ms": _r(percentile(ms, 95)),
        "p99_ms": _r(percentile(ms, 99)),
        "max_ms": _r(max(ms) if ms else None),
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _start_demo(workdir: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vuoro.cli", "demo", "--headless", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("vuoro bench kiosk: the demo did not start")
    return proc, json.loads(line)


_UI_PROBE = textwrap.dedent(
    """
    import os, resource, sys
    os.environ["SDL_VIDEODRIVER"] = "offscreen"
    from kiosk.app import KioskApp, configure_window
    from kiosk.controller import KioskController
    from kivy.clock import Clock
    configure_window((1280, 800), False)
    ctrl = KioskController(None)
    ctrl.config = {"services": [{"id": "s", "name": {"fi": "Palvelu"}, "provider": "kela",
                   "queue": "q", "walk_in": True, "open": True}]}
    app = KioskApp(ctrl)
    screens = ["home", "services", "identify", "busy", "error", "idle"]
    def step(_dt):
        if not screens:
            app.stop()
            return
        ctrl.screen = screens.pop(0)
        app.sync()
        Clock.schedule_once(step, 0.1)
    Clock.schedule_once(step, 0.3)
    app.run()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def _ui_peak_rss_mb(home: Path) -> float | None:
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_NO_ARGS": "1",
        "KIVY_HOME": str(home),
        "KIVY_NO_CONSOLELOG": "1",
    }
    try:
        out = subprocess.run(
            [sys.executable, "-c", _UI_PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 1)
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def run(args: argparse.Namespace) -> int:
    from firmware_common.mqtt import DeviceClient, MqttSettings
    from kiosk.controller import KioskController
    from kiosk.printer import make_printer
    from kiosk.reader import make_reader

    runs = int(getattr(args, "runs", RUNS) or RUNS)
    result: dict[str, Any] = {
        "bench": "kiosk",
        "target_p95_ms": TARGET_P95_MS,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_reference_ms": _cpu_reference_ms(),
    }
    with tempfile.TemporaryDirectory(prefix="vuoro-bench-kiosk-") as tmp:
        tmpdir = Path(tmp)
        if not getattr(args, "no_ui", False):
            result["ui_peak_rss_mb"] = _ui_peak_rss_mb(tmpdir / "kivy")
        demo, info = _start_demo(tmpdir / "demo")
        try:
            dev = next(d for d in info["devices"] if d["role"] == "kiosk")
            client = DeviceClient(
                MqttSettings(
                    host=info["host"],
                    port=info["port"],
                    username=dev["username"],
                    password=dev["password"],
                ),
                device_id=dev["id"],
                site=info["site"],
                role="kiosk",
                version="bench",
                outbox_path=tmpdir / "kiosk-outbox.db",
            )
            reader: Any = make_reader("fake")
            printer = _Timed(make_printer("dummy"))
            ctrl = KioskController(
                client, printer=printer, reader=reader, offline_path=tmpdir / "numbers.db"
            )
            client.on_late_reply = ctrl.on_late_reply
            ctrl.start()
            client.start()
            if not client.connected.wait(15):
                raise SystemExit("vuoro bench kiosk: no connection to the demo broker")
            deadline = time.monotonic() + 15
            while not ctrl.config.get("services") and time.monotonic() < deadline:
                time.sleep(0.05)
            services = [s for s in ctrl.config.get("services", []) if s.get("open")]
            bookings = info.get("bookings") or []
            card = next((b["card"] for b in bookings if b.get("card")), None)

            def measure(action: Any, n: int) -> tuple[list[float], list[str]]:
                samples: list[float] = []
                failures: list[str] = []
                for _ in range(n):
                    ctrl.reset()
                    printer.done_at = None
                    t0 = time.perf_counter()
                    action()
                    if ctrl.screen != "result" or printer.done_at is None:
                        err = ctrl.error.code if ctrl.error else ctrl.screen
                        failures.append(str(err))
                        continue
                    samples.append(printer.done_at - t0)
                return samples, failures

            if card:
                from kiosk.hardware import CardInfo

                info_card = CardInfo(kind="fi-id", identifier=card)

                def insert() -> None:
                    reader.remove()
                    reader.insert(info_card)

                measure(insert, 5)  # warm-up
                samples, failures = measure(insert, runs)
                result["card"] = {**_stats(samples), "failures": failures[:5]}
                result["card"]["bytes"] = printer.last_len
            else:
                result["card"] = None
                result["card_note"] = "the demo has no booking with a card yet"
            if services:
                sid = services[0]["id"]
                measure(lambda: ctrl.take_number(sid), 5)
                samples, failures = measure(lambda: ctrl.take_number(sid), runs)
                result["ticket"] = {**_stats(samples), "failures": failures[:5], "service": sid}
                result["ticket"]["bytes"] = printer.last_len
            ctrl.stop()
            client.stop()
        finally:
            demo.terminate()
            try:
                demo.wait(15)
            except subprocess.TimeoutExpired:
                demo.kill()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    main = result.get("card") or result.get("ticket") or {}
    p95 = main.get("p95_ms")
    result["ok"] = p95 is not None and p95 < TARGET_P95_MS and not main.get("failures")
    print(json.dumps(result, indent=None if getattr(args, "json", False) else 2))
    return 0 if result["ok"] else 1
