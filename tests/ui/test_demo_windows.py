"""The kiosk and display windows `make demo` opens: real `vuoro kiosk` and `vuoro display`
processes (Kivy offscreen here) that connect to the demo's broker as their devices, serve
a customer, and stop with the demo."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vuoro.demo import Demo
from vuoro.demo_windows import DISPLAY_DEVICE, KIOSK_DEVICE, DemoWindows, have_screen


def test_no_screen_no_windows_and_a_clear_note(tmp_path: Path) -> None:
    assert not have_screen({"PATH": "/usr/bin"})
    windows = DemoWindows(type("D", (), {"dir": tmp_path})())
    notes = windows.start(env={"PATH": "/usr/bin"})
    assert windows.windows == [] and "no screen" in notes[0]


def test_windows_connect_and_stop_with_the_demo(demo: Demo, tmp_path: Path) -> None:
    seen: dict[str, dict] = {}
    got = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload or b"{}")
        seen[msg.topic.rsplit("/", 1)[-1]] = body
        if all(seen.get(d, {}).get("online") for d in (KIOSK_DEVICE, DISPLAY_DEVICE)):
            got.set()

    watch = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=demo.monitor.username)
    watch.username_pw_set(demo.monitor.username, demo.monitor.password)
    watch.on_message = on_message
    watch.connect(demo.broker.host, demo.broker.port)
    watch.subscribe(f"vuoro/v1/{demo.site}/status/+", qos=1)
    watch.loop_start()
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1")
    windows = DemoWindows(demo)
    try:
        notes = windows.start(env=env)
        assert any("kiosk window opened" in n for n in notes), notes
        assert got.wait(90), (seen, [w.log_path.read_text()[-2000:] for w in windows.windows])
        assert seen[KIOSK_DEVICE].get("reader") == "ok"  # the simulated reader
        assert windows.alive() == {"kiosk": True, "display": True}
        procs = [w.proc for w in windows.windows]
    finally:
        windows.stop()
        watch.loop_stop()
        watch.disconnect()
    assert windows.windows == []
    assert all(proc.poll() is not None for proc in procs)  # both windows closed
