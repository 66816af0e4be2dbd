"""`vuoro`: one command, a subcommand per role."""

from __future__ import annotations

import argparse
import logging
import sys

from firmware_common.config import ConfigError
from vuoro import __version__


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def cmd_scheduler(args: argparse.Namespace) -> int:
    from scheduler.app import serve
    from scheduler.config import load_config

    config = load_config(args.config)
    _logging(args.log_level or config.scheduler.log_level)
    serve(config, version=__version__)
    return 0


def cmd_desk(args: argparse.Namespace) -> int:
    from desk.app import run
    from desk.config import load_desk_config

    config = load_desk_config(args.config)
    _logging(args.log_level or "INFO")
    return run(config, version=__version__)


def cmd_demo(args: argparse.Namespace) -> int:
    from vuoro.demo import run_demo

    _logging(args.log_level or ("INFO" if args.headless else "WARNING"))
    return run_demo(
        headless=args.headless,
        port=args.port,
        workdir=args.workdir,
        config_path=args.config,
        windows=not args.no_windows,
    )


def cmd_display(args: argparse.Namespace) -> int:
    from display.config import load_settings

    settings = load_settings(args.config)
    _logging(args.log_level or "INFO")
    from display.app import run_display

    size = tuple(int(x) for x in args.window.lower().split("x")) if args.window else None
    return run_display(
        settings,
        window_size=size,  # type: ignore[arg-type]
        fullscreen=args.fullscreen,
        probe=args.probe,
    )


def cmd_kiosk(args: argparse.Namespace) -> int:
    from kiosk.app import run_kiosk
    from kiosk.config import load_settings

    settings = load_settings(args.config)
    _logging(args.log_level or "INFO")
    size = None
    if args.size:
        w, _, h = args.size.partition("x")
        size = (int(w), int(h))
    fullscreen = settings.kiosk.fullscreen if args.fullscreen is None else args.fullscreen
    return run_kiosk(
        settings, window_size=size, fullscreen=fullscreen and size is None, demo_keys=args.demo_keys
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from bench import run

    _logging(args.log_level or "WARNING")
    return run(args)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vuoro", description="Vuoro: queue and check-in system for public service points."
    )
    ap.add_argument("--version", action="version", version=f"vuoro {__version__}")
    ap.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("scheduler", help="run the central scheduler")
    s.add_argument("--config", required=True, help="the scheduler's TOML file")
    s.set_defaults(func=cmd_scheduler)

    dk = sub.add_parser("desk", help="run a desk unit (buttons, LED, number display)")
    dk.add_argument("--config", required=True, help="the desk unit's TOML file")
    dk.set_defaults(func=cmd_desk)

    d = sub.add_parser("demo", help="run a whole service point on this machine")
    d.add_argument("--headless", action="store_true", help="no screens; print one JSON line")
    d.add_argument("--port", type=int, help="broker port (default: a free one)")
    d.add_argument("--workdir", help="folder for the broker and database (default: temporary)")
    d.add_argument("--config", help="site configuration (default: the bundled demo site)")
    d.add_argument(
        "--no-windows", action="store_true", help="no kiosk and display windows (terminal only)"
    )
    d.set_defaults(func=cmd_demo)

    dp = sub.add_parser("display", help="run the lobby display (Kivy)")
    dp.add_argument("--config", required=True, help="the display's TOML file")
    dp.add_argument("--window", help="window size, e.g. 1920x1080 or 1080x1920")
    dp.add_argument("--fullscreen", action="store_true", help="fill the screen")
    dp.add_argument("--probe", help="write a JSON line per drawn change here ('-': stdout)")
    dp.set_defaults(func=cmd_display)

    k = sub.add_parser("kiosk", help="run the entrance kiosk (touch screen, reader, printer)")
    k.add_argument("--config", required=True, help="the kiosk's TOML file")
    k.add_argument("--size", help="window size WxH instead of full screen, e.g. 1280x800")
    k.add_argument(
        "--fullscreen", action=argparse.BooleanOptionalAction, default=None, help="full screen"
    )
    k.add_argument("--demo-keys", action="store_true", help="F1/F2/F3 insert/remove test cards")
    k.set_defaults(func=cmd_kiosk)

    from scheduler.web.users_cli import add_parser as add_users

    add_users(sub)

    from provisioning.cli import add_parser as add_provision

    add_provision(sub)

    from scheduler.stats.cli import add_parser as add_report

    add_report(sub)

    b = sub.add_parser("bench", help="benchmarks, each printing one JSON object")
    bsub = b.add_subparsers(dest="bench", required=True, metavar="BENCH")
    c = bsub.add_parser("calls", help="desk calls and kiosk tickets over a real broker")
    c.add_argument("--json", action="store_true", help="print only the JSON result")
    c.add_argument("--seconds", type=float, default=10.0, help="length of the load phase")
    c.add_argument("--desks", type=int, default=16)
    c.add_argument("--kiosks", type=int, default=8)
    c.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temp dir)")
    sl = bsub.add_parser("slots", help="free-slot search of the booking availability engine")
    sl.add_argument("--json", action="store_true", help="print only the JSON result")
    sl.add_argument("--seed", type=int, default=1, help="seed of the generated scenario")
    sl.add_argument("--searches", type=int, default=3000, help="number of timed searches")
    bd = bsub.add_parser("display", help="lobby display: desk press until drawn; CPU, memory")
    bd.add_argument("--json", action="store_true", help="print only the JSON result")
    bd.add_argument("--calls", type=int, default=100, help="number of timed calls")
    bd.add_argument("--idle-seconds", type=float, default=10.0, help="length of the idle phase")
    bd.add_argument("--size", default="1920x1080", help="window size")
    kb = bsub.add_parser("kiosk", help="kiosk: card inserted until the ticket bytes are written")
    kb.add_argument("--json", action="store_true", help="print only the JSON result")
    kb.add_argument("--runs", type=int, default=200, help="timed runs per path")
    kb.add_argument("--no-ui", action="store_true", help="skip the window's memory probe")
    ch = bsub.add_parser("chaos", help="faults, load and bad input: what was done and lost")
    ch.add_argument("--json", action="store_true", help="print only the JSON result")
    ch.add_argument("--kills", type=int, default=20, help="SIGKILLs of the crash loop")
    ch.add_argument("--seed", type=int, default=1)
    ch.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    sm = bsub.add_parser("simulate", help="simulated days: service level, waits, ETA vs baseline")
    sm.add_argument("--json", action="store_true", help="print only the JSON result")
    sm.add_argument("--seed", type=int, default=1, help="seed of the simulated days")
    sm.add_argument("--kinds", help="kinds of day, comma-separated (default quiet,normal,peak)")
    sm.add_argument("--days", type=int, default=5, help="days per kind (different seeds)")
    sm.add_argument("--tickets", help="write every ticket's estimate and wait here (JSON lines)")
    b.set_defaults(func=cmd_bench)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"vuoro: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
