"""`vuoro bench display`: a desk's button press until the lobby display has drawn it.

What runs: the demo (a private Mosquitto and the scheduler, in this process) and the
display as its own process (`vuoro display`, Kivy with SDL_VIDEODRIVER=offscreen, a
1920x1080 window, announcements on with the recording player so that speech synthesis
runs as on a real display). The display writes a probe line after every frame whose
content changed (`--probe -`: what was drawn and time.monotonic(), one clock for all
processes on Linux).

Measures:
- latency: from just before desk 1 publishes `next` until the display's first frame
  that shows the called number (the Kivy frame after the label changed, i.e. after
  Window.flip); p50/p95/p99/max over `--calls` calls, one at a time;
- idle CPU: the display process's CPU time (user+system, /proc) over `--idle-seconds`
  with nothing happening (after the last call stopped blinking), as a share of one core;
- peak memory: the display process's peak resident set (VmHWM, i.e. ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from firmware_common.mqtt import DeviceClient, MqttSettings
from vuoro.demo import Demo

BLINK_S = 3.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * (len(s) - 1))))
    return s[k]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Probe:
    """The display's probe lines, read from its stdout in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self._t = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._t.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, pred: Any, timeout: float, start: int = 0) -> dict[str, Any] | None:
        end = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def _client(demo: Demo, device_id: str) -> DeviceClient:
    dev = demo.device(device_id)
    settings = MqttSettings(
        host=demo.broker.host, port=demo.broker.port, username=dev.username, password=dev.password
    )
    c = DeviceClient(settings, device_id=device_id, site=demo.site, role=dev.role)
    c.start()
    if not c.connected.wait(10):
        raise RuntimeError(f"{device_id} did not connect")
    return c


def write_config(demo: Demo, folder: Path, device_id: str = "display-demo-1") -> Path:
    dev = demo.device(device_id)
    path = folder / "display.toml"
    path.write_text(
        f"""[device]
id = "{device_id}"
site = "{demo.site}"

[mqtt]
host = "{demo.broker.host}"
port = {demo.broker.port}
username = "{dev.username}"
password = "{dev.password}"

[display]
announce = true
player = "record-fast:{folder / "audio"}"
cache_dir = "{folder / "cache"}"
blink_s = {BLINK_S}
""",
        encoding="utf-8",
    )
    return path


def run(args: argparse.Namespace) -> int:
    calls = int(getattr(args, "calls", 100))
    idle_s = float(getattr(args, "idle_seconds", 10.0))
    size = str(getattr(args, "size", "1920x1080"))
    tmp = Path(tempfile.mkdtemp(prefix="vuoro-bench-display-"))
    demo = Demo(workdir=tmp / "demo", seed_bookings=False)
    demo.start()
    proc: subprocess.Popen[str] | None = None
    clients: list[DeviceClient] = []
    try:
        config = write_config(demo, tmp)
        env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp / "kivy")}
        argv = [sys.executable, "-m", "vuoro.cli", "--log-level", "WARNING", "display"]
        argv += ["--config", str(config), "--window", size, "--probe", "-"]
        log_file = (tmp / "display.log").open("w")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env)
        probe = Probe(proc)
        shown = probe.wait_for(lambda x: x.get("seq", -1) >= 1 and not x["offline"], 60)
        if shown is None:
            raise RuntimeError("the display did not show the retained snapshot within 60 s")
        desk = _client(demo, "desk-demo-1")
        kiosk = _client(demo, "kiosk-demo-1")
        clients += [desk, kiosk]
        desk.request("open", {"desk": "1"})
        for _ in range(calls + 2):
            r = kiosk.request("ticket", {"service": "city-info", "lang": "fi"})
            if not r.get("ok"):
                raise RuntimeError(f"ticket refused: {r}")
        time.sleep(1.0)
        latencies: list[float] = []
        in_display: list[float] = []  # from the message's arrival in the display
        missed = 0
        for _ in range(calls):
            mark = len(probe.lines)
            t0 = time.monotonic()
            reply = desk.request("next", {"desk": "1"})
            number = (reply.get("ticket") or {}).get("number")
            if not number:
                raise RuntimeError(f"next refused: {reply}")
            line = probe.wait_for(lambda x, n=number: x["number"] == n, 5.0, start=mark)
            if line is None:
                missed += 1
            else:
                latencies.append((line["t"] - t0) * 1000)
                if line.get("recv"):
                    in_display.append((line["t"] - line["recv"]) * 1000)
            time.sleep(0.15)
        time.sleep(BLINK_S + 1.5)  # the last call stops blinking
        cpu0, w0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(idle_s)
        cpu1, w1 = _cpu_seconds(proc.pid), time.monotonic()
        result = {
            "bench": "display",
            "calls": calls,
            "missed": missed,
            "window": size,
            "announce": os.environ.get("VUORO_DISPLAY_ANNOUNCE", "true").lower() != "false",
            "p50_ms": round(_pct(latencies, 50), 1),
            "p95_ms": round(_pct(latencies, 95), 1),
            "p99_ms": round(_pct(latencies, 99), 1),
            "max_ms": round(max(latencies), 1) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "display_p50_ms": round(_pct(in_display, 50), 1),
            "display_p99_ms": round(_pct(in_display, 99), 1),
            "idle_cpu_percent": round((cpu1 - cpu0) / (w1 - w0) * 100, 2),
            "idle_seconds": round(w1 - w0, 1),
            "peak_rss_mb": round(_peak_rss_mb(proc.pid), 1),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
    finally:
        for c in clients:
            c.stop()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        demo.stop()
    out = json.dumps(result)
    if not getattr(args, "json", False):
        print(
            f"display: p99 {result['p99_ms']} ms, idle CPU {result['idle_cpu_percent']} %, "
            f"peak {result['peak_rss_mb']} MB",
            file=sys.stderr,
        )
    print(out)
    return 0 if missed == 0 else 1
