"""`vuoro bench kiosk` runs end to end (card in -> ticket bytes) and prints one JSON object.
Speed is measured by the benchmark, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VUORO = Path(sys.executable).with_name("vuoro")


def test_bench_kiosk_prints_one_json_object() -> None:
    out = subprocess.run(
        [str(VUORO), "bench", "kiosk", "--json", "--runs", "3", "--no-ui"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, out.stdout
    result = json.loads(lines[0])
    assert result["bench"] == "kiosk" and result["ok"] is True
    for path in ("card", "ticket"):
        r = result[path]
        assert r["runs"] == 3 and r["failures"] == [] and r["bytes"] > 1000
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"]
    assert result["peak_rss_mb"] > 0
