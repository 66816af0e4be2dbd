"""Benchmarks, each run by `vuoro bench NAME` and printing one JSON object on stdout.

- `calls` (bench/calls.py): desk calls and kiosk tickets against a real broker and a
  scheduler process; see docs/performance.md.
- `slots` (bench/slots.py): free-slot search of the booking availability engine.
- `kiosk` (bench/kiosk.py): card inserted -> check-in -> ticket bytes at the printer.
- `simulate` (bench/simulate.py): the day simulator; the ETA against the baseline.
- `chaos` (bench/chaos.py): SIGKILLs, broker restarts, network cuts, power loss and a
  fuzzer under load; reports what was done and what was lost (nothing).
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Entry point of `vuoro bench ...` (the parser is in vuoro/cli.py)."""
    name = getattr(args, "bench", "calls")
    if name == "calls":
        from bench.calls import run as run_calls

        return run_calls(args)
    if name == "kiosk":
        from bench.kiosk import run as run_kiosk_bench

        return run_kiosk_bench(args)
    if name == "slots":
        from bench.slots import run as run_slots

        return run_slots(args)
    if name == "chaos":
        from bench.chaos import run as run_chaos

        return run_chaos(args)
    if name == "display":
        from bench.display import run as run_display

        return run_display(args)
    if name == "simulate":
        from bench.simulate import run as run_simulate

        return run_simulate(args)
    raise SystemExit(f"vuoro bench: unknown benchmark {name!r}")
