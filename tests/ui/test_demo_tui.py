"""The terminal lobby of `vuoro demo`, run for real: the `vuoro` command in a tmux pane
(a real terminal), keys sent with `tmux send-keys`, the screen read with `capture-pane`.

Everything behind the screen is real too: the private Mosquitto, the scheduler, and one
MQTT connection per demo device.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
VUORO = Path(sys.executable).with_name("vuoro")


class Pane:
    """One detached tmux session on a private server, running one command."""

    def __init__(self, command: str, *, width: int, height: int) -> None:
        self.server = f"vuoro-test-{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        # A fixed UTF-8 locale: box drawing characters, and English as the start language.
        env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM=env.get("TERM") or "xterm")
        self.env = env
        self.tmux(
            "-f", "/dev/null",
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command,
            ";", "set-option", "-t", "t", "remain-on-exit", "on",
        )  # fmt: skip
        self.socket = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            [TMUX or "tmux", "-u", "-L", self.server, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout

    def screen(self) -> str:
        try:
            return self.tmux("capture-pane", "-p", "-t", "t")
        except subprocess.CalledProcessError as exc:
            return f"(no screen: {exc.stderr})"

    def keys(self, *keys: str) -> None:
        for k in keys:  # one by one, as a person types
            self.tmux("send-keys", "-t", "t", k)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def wait_for(self, *patterns: str, timeout: float = 10.0) -> str:
        """Poll the screen until every regex matches (multi-line); return that screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(re.search(pat, screen, re.M) for pat in patterns):
                return screen
            time.sleep(0.1)
        missing = [pat for pat in patterns if not re.search(pat, screen, re.M)]
        pytest.fail(f"screen never showed {missing} within {timeout} s:\n{screen}")

    def close(self) -> None:
        subprocess.run(
            [TMUX or "tmux", "-L", self.server, "kill-server"], env=self.env, capture_output=True
        )
        self.socket.unlink(missing_ok=True)  # tmux leaves it behind


def brokers_in(folder: Path) -> list[int]:
    """Pids of the mosquitto processes whose configuration lies in `folder`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "mosquitto" in cmdline and str(folder) in cmdline:
            pids.append(int(entry.name))
    return pids


DESK_ROW = r"^.{{0,2}}{desk}\s+{status}\s+{ticket}(?=\s|$)"


def desk_row(desk: str, status: str, ticket: str = "—") -> str:
    return DESK_ROW.format(desk=desk, status=status, ticket=re.escape(ticket))


@dataclass
class Running:
    pane: Pane
    workdir: Path
    status_file: Path

    def wait_exit(self, timeout: float = 10.0) -> str:
        """The exit status of `vuoro demo`, waiting at most `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while not self.status_file.exists() or not self.status_file.read_text().strip():
            assert time.monotonic() < deadline, (
                f"still running {timeout} s after the quit key:\n{self.pane.screen()}"
            )
            time.sleep(0.1)
        return self.status_file.read_text().strip()


@pytest.fixture
def lobby(tmp_path: Path) -> Iterator[Running]:
    """`vuoro demo` in a 120x40 terminal, started up: services listed, desks open."""
    assert TMUX, "tmux is missing: run `make bootstrap` (the Debian package tmux)"
    assert VUORO.exists(), f"{VUORO} is missing: the project is not installed in this venv"
    workdir = tmp_path / "demo"
    status_file = tmp_path / "exit-status"
    # The shell records the exit status (tmux does not always reap a pane's process); its
    # `trap` keeps it alive through Ctrl-C, which reaches `vuoro` as a SIGINT.
    command = (
        f"trap : INT; {shlex.quote(str(VUORO))} demo --workdir {shlex.quote(str(workdir))}; "
        f"echo $? > {shlex.quote(str(status_file))}"
    )
    pane = Pane(command, width=120, height=40)
    try:
        pane.wait_for(
            r"MQTT 127\.0\.0\.1:\d+",
            r"scheduler online",
            r"^\s+1\s+City information",
            r"Notary public \(appointments only\)",
            *(desk_row(d, "open") for d in "1234"),  # opened automatically at start
            timeout=20,
        )
        assert brokers_in(workdir), "the demo's private broker is not running"
        yield Running(pane, workdir, status_file)
    finally:
        pane.close()


def test_keys_take_tickets_and_call_them_then_ctrl_c_stops_everything(lobby: Running) -> None:
    pane = lobby.pane

    # The watch line works as printed: a read-only account sees the retained state.
    watch = re.search(r"(mosquitto_sub .*-v)\s*$", pane.screen(), re.M)
    assert watch, pane.screen()
    assert shutil.which("mosquitto_sub"), "mosquitto_sub is missing: run `make bootstrap`"
    out = subprocess.run(
        [*shlex.split(watch.group(1)), "-C", "1", "-W", "5"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert out.stdout.startswith("vuoro/v1/"), out

    # 1 takes a number for the first service; q calls it at desk 1.
    pane.keys("1")
    pane.wait_for(r"Kiosk \(City information\): A001 · 0 ahead")
    pane.keys("q")
    pane.wait_for(
        desk_row("1", "calling", "A001"),
        r"^\s+A001 → Desk 1\b",  # the newest call, in text above the block letters
        r"Desk 1: called A001",
    )

    # p makes the next number a priority one; desk 2 calls it.
    pane.keys("p", "3")
    pane.wait_for(r"Kiosk \(Kela benefits\): K001 · 0 ahead · ~\d+ min · priority")
    pane.keys("w")
    pane.wait_for(desk_row("2", "calling", "K001"), r"^\s+K001 → Desk 2\b")

    # A refusal is shown in the log, in the chosen language (l cycles fi -> sv -> en).
    pane.keys("r")
    pane.wait_for(r"Desk 4 · next: Nobody is waiting\. \[nothing_waiting\]")
    pane.keys("l")
    pane.wait_for(r"Palvelupiste 4 · next: Ei odottavia asiakkaita\.", r"\[FI\]")
    pane.keys("l")
    pane.wait_for(r"Disk 4 · next: Inga väntande kunder\.", r"\[SV\]")
    pane.keys("l")
    pane.wait_for(r"\[EN\]")

    # x recalls at desk 2, which makes desk 2 the selected one; t then transfers its
    # customer (K001, Kela) to the next queue (Tax); desk 3 serves Tax and calls K001.
    pane.keys("x")
    pane.wait_for(r"Desk 2: K001 recalled", r"^\s+K001 → Desk 2  \(recall\)", r"^▶ 2 ")
    pane.keys("t")
    pane.wait_for(r"Desk 2: K001 transferred → Tax Administration", desk_row("2", "open"))
    pane.keys("e")
    pane.wait_for(desk_row("3", "calling", "K001"))

    # i checks in the demo's first booking (with Aino, starting now) at the kiosk; Aino's
    # desk 4 calls her customer ahead of everyone else.
    pane.keys("i")
    pane.wait_for(r"Kiosk \(check-in [2-9A-Z]{3}-[2-9A-Z]{3}\): K002 · appointment \d+\.\d\d Aino")
    pane.keys("r")
    pane.wait_for(desk_row("4", "calling", "K002"))

    # Small windows get a message instead of a broken screen; growing back redraws.
    pane.resize(50, 12)
    pane.wait_for(r"enlarge the window")
    pane.resize(80, 24)
    screen = pane.wait_for(desk_row("1", "calling", "A001"), desk_row("3", "calling", "K001"))
    assert "enlarge" not in screen

    # Ctrl-C stops the screen, the scheduler and the broker within 10 seconds.
    pane.keys("C-c")
    assert lobby.wait_exit(10) == "0", pane.screen()
    assert not brokers_in(lobby.workdir), "the broker outlived the demo"


def test_q_quits_and_stops_the_broker(lobby: Running) -> None:
    lobby.pane.keys("?")
    lobby.pane.wait_for(r"── Help ", r"Press \? again to close this help")
    lobby.pane.keys("Q")
    assert lobby.wait_exit(10) == "0", lobby.pane.screen()
    assert not brokers_in(lobby.workdir), "the broker outlived the demo"
