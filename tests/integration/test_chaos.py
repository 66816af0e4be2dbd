"""Issue 9: proof under faults, load and bad input, with the code of `vuoro bench chaos`.

Real parts only: a private Mosquitto, `vuoro scheduler` processes killed with SIGKILL,
SQLite (WAL) and a private PostgreSQL. Each scenario reports what it did (`done`) and
what was lost or doubled; the tests check both that the work happened and that nothing
was lost. No speed is asserted here (speed is measured in the benchmarks).
"""

from __future__ import annotations

from pathlib import Path

from bench import chaos


def test_twenty_sigkills_under_load_lose_and_double_nothing(tmp_path: Path) -> None:
    r = chaos.crash_loop(tmp_path, kills=20, seed=7, max_up_s=0.6)
    done, checks = r["done"], r["checks"]
    assert done["sigkills"] == 20 and done["scheduler_starts"] == 21
    assert done["sigkills_during_start_up"] >= 1
    # Real work went on between the kills, on both sites, and was answered.
    assert done["ok_replies"] > 500, done
    assert done["load_verbs"]["ticket"] > 100 and done["load_verbs"]["next"] > 100, done
    devices = checks["real_devices"]
    assert devices["kiosk_ok"] >= 10 and devices["desk_ok"] >= 5, devices
    assert checks["drained"] and checks["real_devices_answered"], checks
    assert checks["db_tickets"] == done["load_verbs"]["ticket"], checks
    assert devices["db_tickets"] == devices["kiosk_ok"], devices
    # Nothing lost, nothing twice, every device resumed, seq never went back.
    assert r["lost"] == 0 and r["duplicates"] == 0, checks
    assert checks["problems"] == {} and devices["problems"] == {}
    assert r["display_seq_back"] == 0
    assert done["display_snapshots"] > 20 and devices["display_snapshots"] > 5
    assert checks["devices_resumed"]
    assert checks["scheduler_exit"] == 0
