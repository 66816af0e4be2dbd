"""Benchmarks, each run by `vuoro bench NAME` and printing one JSON object on stdout.

- `calls` (bench/calls.py): desk calls and kiosk tickets against a real broker and a
  scheduler process; see docs/performance.md.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Entry point of `vuoro bench ...` (the parser is in vuoro/cli.py)."""
    name = getattr(args, "bench", "calls")
    if name == "calls":
        from bench.calls import run as run_calls

        return run_calls(args)
    raise SystemExit(f"vuoro bench: unknown benchmark {name!r}")
