"""`vuoro report daily|monthly`: the reports of docs/reports.md from the scheduler's
database, as CSV (default), JSON or a self-contained HTML page with charts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    r = sub.add_parser("report", help="daily report and monthly provider report (CSV, HTML)")
    rsub = r.add_subparsers(dest="report", required=True, metavar="REPORT")
    for kind, what in (("daily", "one day's measures"), ("monthly", "the provider report")):
        p = rsub.add_parser(kind, help=what)
        p.add_argument("--config", required=True, help="the scheduler's TOML file")
        p.add_argument("--site", required=True, help="site id")
        if kind == "daily":
            p.add_argument("--date", help="YYYY-MM-DD (default: today at the site)")
        else:
            p.add_argument("--month", required=True, help="YYYY-MM")
        p.add_argument("--provider", help="only this provider (default: all)")
        p.add_argument("--format", choices=("csv", "json", "html"), default="csv")
        p.add_argument("--lang", choices=("fi", "sv", "en"), default="fi", help="HTML language")
        p.add_argument("--out", help="write here (default: standard output)")
        p.set_defaults(func=cmd_report, kind=kind)


def cmd_report(args: argparse.Namespace) -> int:
    from scheduler.config import load_config
    from scheduler.stats import report as rp
    from scheduler.store.db import make_engine

    config = load_config(args.config)
    sites = config.site_defs()
    site = sites.get(args.site)
    if site is None:
        print(
            f"vuoro report: unknown site {args.site!r}: one of {', '.join(sorted(sites))}",
            file=sys.stderr,
        )
        return 2
    now = datetime.now(UTC)
    period = args.month if args.kind == "monthly" else args.date
    if period is None:
        period = now.astimezone(site.tz).date().isoformat()
    engine = make_engine(config.scheduler.database)
    try:
        report = rp.build(
            engine, site, args.kind, period, provider=args.provider, cfg=config.reports, now=now
        )
        if args.format == "csv":
            text = rp.to_csv(report)
        elif args.format == "json":
            text = json.dumps(report.as_json(), ensure_ascii=False, indent=1) + "\n"
        else:
            text = rp.to_html(report, args.lang)
    except rp.ReportError as exc:
        print(f"vuoro report: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
