"""The windows of `make demo`: the kiosk (simulated card reader, tickets rendered to PNG)
and the lobby display, each `vuoro kiosk` / `vuoro display` in its own process, as on
their Raspberry Pis, configured for the demo's broker and devices.

They open when the machine has a screen (`DISPLAY` or `WAYLAND_DISPLAY`), or anywhere
with `SDL_VIDEODRIVER=offscreen` (the tests). `vuoro demo --no-windows` leaves them out.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("vuoro.demo")

KIOSK_DEVICE = "kiosk-demo-2"
DISPLAY_DEVICE = "display-demo-2"
KIOSK_SIZE = "1280x800"
DISPLAY_SIZE = "1280x720"


def have_screen(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ if env is None else env)
    return bool(
        env.get("DISPLAY")
        or env.get("WAYLAND_DISPLAY")
        or env.get("SDL_VIDEODRIVER") == "offscreen"
    )


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Window:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


class DemoWindows:
    """Start and stop the kiosk and display windows of a running `Demo`."""

    def __init__(self, demo: Any) -> None:
        self.demo = demo
        self.dir = Path(demo.dir) / "windows"
        self.tickets = self.dir / "tickets"
        self.windows: list[Window] = []

    def _mqtt(self, device: str) -> str:
        dev = self.demo.device(device)
        return (
            "[mqtt]\n"
            f"host = {_toml_str(self.demo.broker.host)}\n"
            f"port = {self.demo.broker.port}\n"
            f"username = {_toml_str(dev.username)}\n"
            f"password = {_toml_str(dev.password)}\n"
        )

    def write_configs(self) -> tuple[Path, Path]:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tickets.mkdir(exist_ok=True)
        kiosk = self.dir / "kiosk.toml"
        kiosk.write_text(
            f'[device]\nid = "{KIOSK_DEVICE}"\nsite = {_toml_str(self.demo.site)}\n\n'
            + self._mqtt(KIOSK_DEVICE)
            + "\n[kiosk]\n"
            'reader = "fake"\n'
            f"printer = {_toml_str('png:' + str(self.tickets))}\n"
            f"outbox = {_toml_str(str(self.dir / 'kiosk-outbox.db'))}\n"
            "fullscreen = false\n"
        )
        display = self.dir / "display.toml"
        display.write_text(
            f'[device]\nid = "{DISPLAY_DEVICE}"\nsite = {_toml_str(self.demo.site)}\n\n'
            + self._mqtt(DISPLAY_DEVICE)
            + "\n[display]\nfullscreen = false\n"
        )
        return kiosk, display

    def start(self, env: dict[str, str] | None = None) -> list[str]:
        """Open both windows; returns lines saying what opened (or why not)."""
        env = dict(os.environ if env is None else env)
        if not have_screen(env):
            return [
                "no screen here (DISPLAY is not set): the kiosk and display windows are not "
                "opened; run `make demo` in a desktop session to see them"
            ]
        kiosk, display = self.write_configs()
        vuoro = str(Path(sys.executable).with_name("vuoro"))
        env.setdefault("KIVY_NO_ARGS", "1")
        env.setdefault("KIVY_HOME", str(self.dir / "kivy"))
        commands = {
            "kiosk": [vuoro, "kiosk", "--config", str(kiosk), "--size", KIOSK_SIZE, "--demo-keys"],
            "display": [vuoro, "display", "--config", str(display), "--window", DISPLAY_SIZE],
        }
        out = []
        for name, cmd in commands.items():
            log_path = self.dir / f"{name}.log"
            with open(log_path, "wb") as fh:
                proc = subprocess.Popen(
                    cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            self.windows.append(Window(name, proc, log_path))
            out.append(f"{name} window opened (log: {log_path})")
        out.append(
            f"kiosk: F1 inserts the test ID card, F2 another card, F3 removes it; printed "
            f"tickets are PNG files in {self.tickets}"
        )
        return out

    def alive(self) -> dict[str, bool]:
        return {w.name: w.proc.poll() is None for w in self.windows}

    def stop(self, timeout: float = 5.0) -> None:
        for w in self.windows:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in self.windows:
            try:
                w.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(2)
        self.windows.clear()
