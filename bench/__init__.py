"""Benchmarks, each run by `vuoro bench NAME` and printing one JSON object on stdout.

- `calls` (bench/calls.py): desk calls and kiosk tickets against a real broker and a
  scheduler process; see docs/performance.md.
- `slots` (bench/slots.py): free-slot search of the booking availability engine.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Entry point of `vuoro bench ...` (the parser is in vuoro/cli.py)."""
    name = getattr(args, "bench", "calls")
    if name == "calls":
        from bench.calls import run as run_calls

        return run_calls(args)
    if name == "slots":
        from bench.slots import run as run_slots

        return run_slots(args)
    raise SystemExit(f"vuoro bench: unknown benchmark {name!r}")
