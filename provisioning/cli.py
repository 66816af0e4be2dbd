"""`vuoro provision ...`: the subcommands, their help and their output (text or --json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# The parser only: `vuoro --version` and the other roles do not load the tool's modules
# (cryptography, qrcode, httpx); run() does.
DEFAULT_STATE = Path("/etc/vuoro/provision")
ROLES = ("kiosk", "display", "desk")

EPILOG = """\
a site from zero (on the scheduler's machine, as root):
  vuoro provision init --site kuopio --broker vuoro.kuopio.local --broker 10.0.0.2 \\
      --web http://127.0.0.1:8080 --api-key-file /etc/vuoro/admin.key
  (then the printed install commands, once)
each device (SD card's boot partition mounted at /media/boot):
  vuoro provision add kiosk --out /media/boot --label kiosk.png
  vuoro provision add desk --desk 3 --out /media/boot
then: vuoro provision list | check ID | rotate ID --out DIR | revoke ID | label ID
"""


def add_parser(sub: Any) -> None:
    pr = sub.add_parser(
        "provision",
        help="field provisioning: broker security, device credentials, SD-card config",
        description="Set up a site's broker security and its devices.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state",
        type=Path,
        default=DEFAULT_STATE,
        help=f"the provisioning folder (default {DEFAULT_STATE})",
    )
    common.add_argument("--json", action="store_true", help="print one JSON object (scripts)")
    ps = pr.add_subparsers(dest="provision", required=True, metavar="STEP")

    i = ps.add_parser(
        "init", parents=[common], help="make the site CA, broker certificate and credentials"
    )
    i.add_argument("--site", required=True, help="the default site slug, e.g. kuopio")
    i.add_argument(
        "--broker",
        action="append",
        required=True,
        help="a name or address devices use for the broker (repeat; the first goes in configs)",
    )
    i.add_argument("--port", type=int, default=8883, help="MQTT over TLS port (default 8883)")
    i.add_argument("--admin-host", default="", help="how this tool reaches the broker")
    i.add_argument("--web", default="", help="the scheduler's web address, to register devices")
    i.add_argument("--api-key-file", default="", help="file with a scheduler admin API key")
    i.add_argument("--force", action="store_true", help="replace an existing CA (re-provision all)")

    a = ps.add_parser("add", parents=[common], help="create a device and write its SD-card files")
    a.add_argument("role", choices=ROLES)
    a.add_argument("--out", type=Path, required=True, help="where to write vuoro/ (boot partition)")
    a.add_argument("--site", help="site slug (default: provision.toml's)")
    a.add_argument("--desk", action="append", dest="desks", help="desk unit: its desk (repeat)")
    a.add_argument("--id", dest="device", help="device id (default: ROLE-SITE-N)")
    a.add_argument("--layout", choices=["auto", "landscape", "portrait"], help="display layout")
    a.add_argument("--offline-numbers", help="kiosk: its reserved offline range, e.g. 901-949")
    a.add_argument("--printer", help="kiosk: printer, e.g. usb:0x04b8:0x0e28 (docs/hardware.md)")
    a.add_argument("--reader", help="kiosk: card reader (pcsc, pcsc:<name part>, none)")
    a.add_argument("--label", type=Path, help="also write the label PNG here")
    a.add_argument(
        "--no-scheduler", action="store_true", help="do not register at the scheduler's API"
    )

    r = ps.add_parser("rotate", parents=[common], help="new credentials and SD-card files")
    r.add_argument("device")
    r.add_argument("--out", type=Path, required=True, help="where to write vuoro/")
    r.add_argument("--layout", choices=["auto", "landscape", "portrait"])
    r.add_argument("--printer")
    r.add_argument("--reader")

    v = ps.add_parser("revoke", parents=[common], help="disconnect and refuse a device at once")
    v.add_argument("device")

    lb = ps.add_parser("label", parents=[common], help="write a device's label (PNG, QR code)")
    lb.add_argument("device")
    lb.add_argument("--out", type=Path, help="PNG file (default: ./DEVICE.png)")

    ps.add_parser("list", parents=[common], help="every device with its live status")

    c = ps.add_parser("check", parents=[common], help="one device: online, version, printer...")
    c.add_argument("device")
    pr.set_defaults(func=run)


def _print(args: argparse.Namespace, obj: dict[str, Any], text: list[str]) -> None:
    if args.json:
        print(json.dumps(obj, ensure_ascii=False))
    else:
        print("\n".join(text))


def run(args: argparse.Namespace) -> int:
    from provisioning.provision import Provisioner, ProvisionError

    prov = Provisioner(args.state)
    try:
        return _run(prov, args)
    except ProvisionError as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        print(f"vuoro provision: {exc}", file=sys.stderr)
        return 1


def _run(prov: Any, args: argparse.Namespace) -> int:
    from provisioning.provision import ProvisionError

    step = args.provision
    if step == "init":
        res = prov.init(
            site=args.site,
            broker_names=args.broker,
            port=args.port,
            admin_host=args.admin_host,
            web=args.web,
            api_key_file=args.api_key_file,
            force=args.force,
        )
        text = [
            f"Site CA and broker certificate for {', '.join(args.broker)} made in {args.state}.",
            "On the broker's machine, install them once:",
            *(f"  {c}" for c in res["install"]),
            f'The scheduler\'s [mqtt]: username = "scheduler", password_file = '
            f'"{args.state}/scheduler.secret", tls = true, port = {args.port}, '
            f'ca_file = "{args.state}/ca.pem"',
        ]
        _print(args, res, text)
        return 0
    if step == "add":
        res = prov.add(
            args.role,
            out=args.out,
            site=args.site,
            desks=args.desks,
            device=args.device,
            layout=args.layout,
            offline_numbers=args.offline_numbers,
            printer=args.printer,
            reader=args.reader,
            tell_scheduler=not args.no_scheduler,
        )
        if args.label:
            res["label"] = str(prov.label(res["id"], args.label))
        text = [
            f"{res['id']}: {res['role']} at {res['site']}"
            + (f", desk {', '.join(res['desks'])}" if res["desks"] else ""),
            "  broker: credentials and ACL active now",
            "  scheduler: "
            + ("registered (config published)" if res["scheduler"] else "NOT told (no --web)"),
            *(f"  wrote {f}" for f in res["files"]),
        ]
        if res.get("label"):
            text.append(f"  label {res['label']}")
        _print(args, res, text)
        return 0
    if step == "rotate":
        res = prov.rotate(
            args.device, out=args.out, layout=args.layout, printer=args.printer, reader=args.reader
        )
        text = [
            f"{args.device}: new credentials; the old ones are refused from now on.",
            *(f"  wrote {f}" for f in res["files"]),
        ]
        _print(args, res, text)
        return 0
    if step == "revoke":
        res = prov.revoke(args.device)
        text = [f"{args.device}: revoked (disconnected and refused by the broker)"]
        text.append(
            "  scheduler: removed" if res["scheduler"] else "  scheduler: not told (not registered)"
        )
        _print(args, res, text)
        return 0
    if step == "label":
        path = prov.label(args.device, args.out or Path(f"{args.device}.png"))
        _print(args, {"id": args.device, "label": str(path)}, [f"label written to {path}"])
        return 0
    if step == "list":
        rows = prov.devices()
        res_l: dict[str, Any] = {"devices": rows}
        if prov.scheduler_error:
            res_l["scheduler_error"] = prov.scheduler_error
        text = [
            f"{'DEVICE':<24} {'ROLE':<8} {'SITE':<12} {'STATE':<10} {'VERSION':<10} PRINTER/READER"
        ]
        for d in rows:
            extra = "/".join(x for x in (d.get("printer"), d.get("reader")) if x) or "-"
            text.append(
                f"{d['id']:<24} {d['role']:<8} {d['site']:<12} {d['state']:<10} "
                f"{d.get('version') or '-':<10} {extra}"
            )
        if not rows:
            text.append("(no devices yet: vuoro provision add ROLE --out DIR)")
        if prov.scheduler_error:
            text.append(f"(scheduler not asked: {prov.scheduler_error})")
        _print(args, res_l, text)
        return 0
    if step == "check":
        res = prov.check(args.device)
        text = [
            f"{res['id']}: {res['state']}",
            f"  role {res['role']} at {res['site']}, version {res['version'] or '-'}",
        ]
        if res["role"] == "kiosk":
            text.append(f"  printer {res['printer'] or '-'}, reader {res['reader'] or '-'}")
        text.append("  OK" if res["ok"] else "  PROBLEM: " + "; ".join(res["problems"]))
        _print(args, res, text)
        return 0 if res["ok"] else 1
    raise ProvisionError(f"unknown step {step}")
