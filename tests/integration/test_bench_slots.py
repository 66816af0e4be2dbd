"""`vuoro bench slots` runs briefly and reports what docs/performance.md says it reports.

Speed is measured, not asserted: no timing target here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.slots import build_index, check_slot, make_scenario, run

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "searches",
    "booked_share",
    "build_ms",
    "violations",
    "by_kind",
    "context",
}
CONTEXT = {"advisors", "services", "horizon_days", "python", "cpu", "cpu_count", "seed"}


def test_run_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    rc = run(argparse.Namespace(json=True, seed=3, searches=30))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    r = json.loads(out[0])
    assert rc == 0 and r["violations"] == 0, r["violation_examples"]
    assert r.keys() >= KEYS and r["context"].keys() >= CONTEXT
    assert r["searches"] == 30
    assert r["context"]["advisors"] == 30 and r["context"]["services"] == 10
    assert r["context"]["horizon_days"] == 90
    assert 0.4 <= r["booked_share"] <= 0.6
    assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]


def test_the_scenario_is_deterministic_and_the_checker_catches_overlaps() -> None:
    a, b = make_scenario(5), make_scenario(5)
    assert a.busy == b.busy and a.advisors == b.advisors

    index = build_index(a)
    svc = a.services[0]
    slot = index.search(svc, now=a.now, limit=1)[0]
    assert check_slot(a, svc, slot) is None
    a.busy[slot.advisor].append((slot.start, slot.end))
    assert check_slot(a, svc, slot) is not None


def test_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vuoro.cli", "bench", "slots", "--json", "--searches", "12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    r = json.loads(out.stdout)
    assert r.keys() >= KEYS and r["searches"] == 12 and r["violations"] == 0
