"""A simulated national day on one scheduler (issue 9 item 5), run by
`vuoro bench chaos --scenario national`.

`--sites` service points (default 150) with 1,000+ desks in all (6-7 each, three queues
per site, overlapping work profiles), one kiosk and one display per site, in ONE
`vuoro scheduler` process on SQLite (WAL, synchronous=FULL) behind one private
Mosquitto. Every site runs bench/calls.py's closed-loop generator (kiosks take tickets,
desks call `next`, which finishes the previous customer as served), all multiplexed
over two MQTT connections, with small queues (a site keeps at most `HIGH` waiting per
queue). The day is compressed: its events are sent as fast as the scheduler takes them,
for `seconds` of wall time; the scheduler's own clock is the real one (the process has
no injectable clock), so waits and estimates are those of a day squeezed into minutes.

Reported: tickets and calls made, call latency (a desk's `next` until the display
subscriber of that site sees the call; and until the desk's reply), commands per
second, the scheduler's peak RSS (VmHWM) and the database size after the day, and
`lost`/`duplicates` per site with bench/calls.py's checks.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench import calls as bc
from firmware_common import protocol as p
from provisioning.broker import SCHEDULER_USER, PrivateBroker

HIGH = 12  # waiting per queue at most (kiosks wait below it)
LOW = 2  # a desk calls while more than this many wait in its queues


class SiteLoad(bc.Load):
    """bench/calls.py's generator with a small site's queue limits."""

    def _ticket_limit(self) -> int:
        return HIGH

    def _supply(self, dev: bc.Dev) -> int:
        # calls.Load stops a desk at LOW_SUPPLY; shifted so that it stops at LOW here.
        return super()._supply(dev) + bc.LOW_SUPPLY - LOW


def national_toml(layouts: list[bc.Layout], *, database: str, host: str, port: int, pw: str) -> str:
    head, sites = "", []
    for i, lay in enumerate(layouts):
        text = bc.site_toml(
            lay, database=database, host=host, port=port, password=pw, log_level="WARNING"
        )
        cut = text.index("[[sites]]")
        if i == 0:
            head = text[:cut]
        sites.append(
            text[cut:].replace(
                'timezone = "Europe/Helsinki"', 'timezone = "Europe/Helsinki"\nholidays = false'
            )
        )
    return head + "\n".join(sites)


def _rss_peak_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def _paced(loads: list[SiteLoad], rate: float, seconds: float) -> int:
    """Open loop: `rate` commands per second spread over the sites, alternating a kiosk
    ticket and a desk `next` at each site in turn (a desk calls only when its queues
    hold someone); returns how many were skipped (queue full or nobody waiting)."""
    import random

    rng = random.Random(1)
    t0 = time.perf_counter()
    sent = skipped = 0
    i = 0
    while True:
        now = time.perf_counter() - t0
        if now >= seconds:
            return skipped
        due = int(now * rate)
        while sent < due:
            ld = loads[i % len(loads)]
            kiosk_turn = (i // len(loads)) % 2 == 0
            i += 1
            sent += 1
            try:
                if kiosk_turn:
                    ld.request(ld.kiosks[0], "ticket", {}, "load")
                else:
                    dev = rng.choice(ld.desks)
                    with ld.lock:
                        supply = sum(ld.waiting[q] for q in dev.queues) - ld.inflight_next
                    if supply <= 0:
                        skipped += 1
                        continue
                    ld.request(dev, "next", {"desk": dev.desk}, "load")
            except RuntimeError:  # the site's queues are full
                skipped += 1
        time.sleep(0.005)


def national_day(
    work: Path,
    *,
    sites: int = 150,
    desks: int = 1000,
    seconds: float = 120.0,
    rate: float = 300.0,
) -> dict[str, Any]:
    t0 = time.monotonic()
    per = [desks // sites + (1 if i < desks % sites else 0) for i in range(sites)]
    layouts = [bc.make_layout(f"site-{i + 1:03d}", per[i], 1) for i in range(sites)]
    # Device ids are per site: prefix them with the site.
    for lay in layouts:
        lay.desk_devices = {f"{lay.site}-desk-{d}": d for d in lay.desks}
        lay.kiosks = [f"{lay.site}-kiosk-1"]
        lay.display = f"{lay.site}-display-1"
    broker = PrivateBroker(work / "broker")
    sched_user = broker.add_user(SCHEDULER_USER, "scheduler")
    load_users = [broker.add_user(f"national-load-{i}", "superuser") for i in (1, 2)]
    watch_user = broker.add_user("national-watch", "superuser")
    database = f"sqlite:///{work / 'vuoro.db'}"
    config = work / "national.toml"
    config.write_text(
        national_toml(
            layouts, database=database, host=broker.host, port=broker.port, pw=sched_user.password
        )
    )
    config.chmod(0o600)
    sched = bc.SchedulerProcess(config, work / "scheduler.log")
    displays = {lay.site: bc.Display(lay.site) for lay in layouts}
    online = bc.Display("-")
    conns: list[bc.Conn] = []
    watch: bc.Conn | None = None

    def on_display(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == p.Topics.SCHEDULER_STATUS:
            online.on_message(c, u, msg)
            return
        site = msg.topic.split("/")[2]
        d = displays.get(site)
        if d is not None:
            d.on_message(c, u, msg)

    try:
        broker.start()
        watch = bc.Conn(broker.host, broker.port, watch_user, on_display)
        watch.start([f"{p.PREFIX}/+/state/display", p.Topics.SCHEDULER_STATUS])
        started = time.monotonic()
        sched.start()
        while not online.scheduler_online.wait(0.2):
            if not sched.alive() or time.monotonic() - started > 180:
                raise RuntimeError(f"the scheduler did not come up:\n{sched.log_tail()}")
        startup_s = time.monotonic() - started
        conns = [bc.Conn(broker.host, broker.port, u, None) for u in load_users]
        loads = {lay.site: SiteLoad(lay, conns, window=1) for lay in layouts}

        def on_reply(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
            ld = loads.get(msg.topic.split("/")[2])
            if ld is not None:
                ld.on_message(c, u, msg)

        for i, c in enumerate(conns):
            c.client.on_message = on_reply
            # Replies on one connection only (each would otherwise arrive twice).
            c.start([f"{p.PREFIX}/+/reply/+"] if i == 0 else [])
        # Open every desk, then the day.
        for ld in loads.values():
            for dev in ld.desks:
                ld.request(dev, "open", {"desk": dev.desk}, "setup")
        deadline = time.monotonic() + 120
        while any(ld.outstanding() for ld in loads.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        t_start = time.perf_counter()
        refused = _paced(list(loads.values()), rate, seconds)
        t_end = time.perf_counter()
        deadline = time.monotonic() + 120
        while any(ld.outstanding() for ld in loads.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        drained = not any(ld.outstanding() for ld in loads.values())
        time.sleep(1.0)
        rss = _rss_peak_mb(sched.pid)
        rc = sched.stop()
        lat, reply_lat, not_shown = [], [], 0
        ok = 0
        verbs: Counter[str] = Counter()
        lost = dups = 0
        problems: Counter[str] = Counter()
        for site, ld in loads.items():
            for c in ld.res.calls:
                reply_lat.append(c.t_reply - c.t_pub)
                seen = displays[site].find(c.number, c.desk, c.t_pub, c.t_reply + 5.0)
                if seen is None:
                    not_shown += 1
                else:
                    lat.append(seen - c.t_pub)
            ok += sum(1 for _t, b in ld.res.replies.values() if b.get("ok"))
            verbs.update(s.verb for s in ld.sent.values())
        # The database, checked per site as bench calls does (one store for all).
        for site, ld in loads.items():
            v = bc.verify(database, site, ld)
            lost += v["lost"]
            dups += v["duplicates"]
            problems.update(v["problems"])
        db_file = work / "vuoro.db"
        size = sum(
            f.stat().st_size for f in (db_file, db_file.with_name("vuoro.db-wal")) if f.exists()
        )
        span = t_end - t_start
        return {
            "done": {
                "sites": sites,
                "desks": sum(per),
                "kiosks": sites,
                "displays": sites,
                "tickets": sum(len(ld.res.tickets) for ld in loads.values()),
                "calls": sum(len(ld.res.calls) for ld in loads.values()),
                "commands": sum(verbs.values()),
                "ok_replies": ok,
                "verbs": dict(verbs),
                "seconds_of_load": round(span, 1),
                "scheduler_start_s": round(startup_s, 1),
                "seconds": round(time.monotonic() - t0, 1),
            },
            "commands_per_s": round(ok / span, 1) if span else None,
            "target_rate_per_s": rate,
            "skipped_full_or_empty": refused,
            "call_p50_ms": bc._ms(bc.percentile(lat, 50)),
            "call_p99_ms": bc._ms(bc.percentile(lat, 99)),
            "call_max_ms": bc._ms(max(lat) if lat else None),
            "calls_not_shown": not_shown,
            "reply_p99_ms": bc._ms(bc.percentile(reply_lat, 99)),
            "scheduler_peak_rss_mb": rss,
            "database_mb": round(size / 1e6, 1),
            "drained": drained,
            "scheduler_exit": rc,
            "lost": lost,
            "duplicates": dups,
            "problems": dict(problems),
            "ok": drained and lost == 0 and dups == 0,
            "notes": (
                "A day of events in minutes: an open-loop generator sends target_rate_per_s "
                "commands per second over all sites (a kiosk ticket and a desk next in "
                "turn); the scheduler runs on the real clock, so its waits and estimates "
                "are a compressed day's."
            ),
        }
    finally:
        for c in conns:
            c.stop()
        if watch is not None:
            watch.stop()
        sched.stop()
        broker.stop()


if __name__ == "__main__":
    import sys
    import tempfile

    print(json.dumps(national_day(Path(tempfile.mkdtemp()), seconds=float(sys.argv[1]))))
