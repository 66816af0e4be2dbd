"""`vuoro bench calls` on a real broker and a scheduler process, briefly and small.

Speed is measured, not asserted: these tests check that the benchmark runs, reports what
docs/performance.md says it reports, and finds nothing lost or duplicated.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.calls import Options, bench_calls, make_layout, percentile, site_toml
from scheduler.config import SchedulerConfig
from scheduler.config import load_config as load_scheduler_config

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "p50_ms",
    "p99_ms",
    "commands_per_s",
    "lost",
    "duplicates",
    "load_p50_ms",
    "load_p99_ms",
    "errors",
    "context",
    "checks",
}
CONTEXT = {
    "commands",
    "seconds",
    "desks",
    "kiosks",
    "cpu_count",
    "python",
    "mosquitto",
    "database",
    "cpu_load_phase",
}


def test_a_short_run_loses_nothing_and_duplicates_nothing() -> None:
    r = bench_calls(Options(seconds=1.5, desks=3, kiosks=2, latency_calls=30))
    assert r.keys() >= KEYS and r["context"].keys() >= CONTEXT
    assert r["lost"] == 0 and r["duplicates"] == 0, r["checks"]
    assert r["checks"]["problems"] == {} and r["checks"]["drained"] is True
    assert r["errors"] == {}  # every command of the mix can succeed
    assert r["latency_samples"] == 30 and r["latency_missed"] == 0
    assert 0 < r["p50_ms"] <= r["p99_ms"]
    assert r["commands_per_s"] > 0
    c = r["context"]
    assert (c["desks"], c["kiosks"], c["cpu_count"]) == (3, 2, c["cpu_count"])
    assert c["load_phase_verbs"]["ticket"] > 0 and c["load_phase_verbs"]["next"] > 0
    assert c["resent_same_id"] >= 0 and c["database"].startswith("sqlite:///")
    # Everything answered is in the database: one stored reply per command sent.
    assert r["checks"]["db_commands"] == c["commands"] - c["resent_same_id"]


def test_the_command_prints_one_json_object_and_a_summary(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bench.db'}"
    args = ["--seconds", "1", "--desks", "2", "--kiosks", "1", "--database", db]
    out = subprocess.run(
        [sys.executable, "-m", "vuoro.cli", "bench", "calls", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)  # the whole of stdout is one JSON object
    assert result.keys() >= KEYS
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["context"]["database"] == db
    assert "vuoro bench calls:" in out.stderr and "commands/s" in out.stderr


def test_the_bench_site_is_a_valid_scheduler_configuration(tmp_path: Path) -> None:
    layout = make_layout("bench", desks=5, kiosks=3)
    text = site_toml(
        layout,
        database="sqlite:///x.db",
        host="127.0.0.1",
        port=1883,
        password="pw",
        log_level="INFO",
    )
    (tmp_path / "bench.toml").write_text(text)
    config: SchedulerConfig = load_scheduler_config(tmp_path / "bench.toml")
    site = config.site_defs()["bench"]
    assert len(site.queues) == 3 and len(site.desks) == 5
    roles = sorted(d.role for d in site.devices.values())
    assert roles == ["desk"] * 5 + ["display"] + ["kiosk"] * 3
    # Work profiles overlap: every queue is served by more than one desk.
    for q in site.queues:
        assert sum(q in d.queues for d in site.desks.values()) >= 2


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None
