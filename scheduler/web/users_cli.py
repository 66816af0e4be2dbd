"""`vuoro users ...`: the staff pages' accounts, from the scheduler host's shell.

    vuoro users add NAME --role advisor --sites kuopio [--display-name "..."] [--lang fi]
    vuoro users list
    vuoro users passwd NAME
    vuoro users disable NAME | enable NAME | remove NAME

Every subcommand takes `--config` (the scheduler's TOML file: its database). A password is
read from the terminal twice (not echoed), or from standard input with `--password-stdin`,
or made up and printed once with `--generate`. `--json` prints a machine-readable result.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from typing import Any

# Kept here, not imported from auth.py: `vuoro --version` on a device must not load the
# database and password-hashing libraries (tests check auth.ROLES is the same).
ROLES = ("admin", "advisor", "switchboard")
MIN_PASSWORD = 10

MESSAGES = {
    "bad_name": (
        "a user name is 2-64 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    ),
    "bad_role": "role must be one of " + ", ".join(ROLES),
    "bad_lang": "language must be fi, sv or en",
    "user_exists": "that user exists already",
    "unknown_user": "no such user",
    "password_short": f"a password needs at least {MIN_PASSWORD} characters",
    "password_long": "a password is at most 256 characters",
}


def add_parser(sub: Any) -> None:
    u = sub.add_parser(
        "users", help="staff accounts of the web pages (admin, advisor, switchboard)"
    )
    usub = u.add_subparsers(dest="users_cmd", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", required=True, help="the scheduler's TOML file")
        p.add_argument("--json", action="store_true", help="print a JSON result")
        return p

    a = common(usub.add_parser("add", help="add an account"))
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--sites", default="", help="comma-separated site ids (empty: every site)")
    a.add_argument("--display-name")
    a.add_argument("--lang", default="fi", choices=["fi", "sv", "en"])
    pw = a.add_mutually_exclusive_group()
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.add_argument("--generate", action="store_true", help="make up a password and print it")
    common(usub.add_parser("list", help="list the accounts"))
    p = common(usub.add_parser("passwd", help="set a new password (ends their sessions)"))
    p.add_argument("name")
    pw = p.add_mutually_exclusive_group()
    pw.add_argument("--password-stdin", action="store_true")
    pw.add_argument("--generate", action="store_true")
    for verb, text in (
        ("disable", "stop an account signing in (ends its sessions)"),
        ("enable", "let a disabled account sign in again"),
        ("remove", "delete an account"),
    ):
        common(usub.add_parser(verb, help=text)).add_argument("name")
    u.set_defaults(func=run)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    from scheduler.web.auth import UserError

    if getattr(args, "generate", False):
        return secrets.token_urlsafe(12), True
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n"), False
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise UserError("mismatch")
    return first, False


def run(args: argparse.Namespace) -> int:
    from scheduler.config import load_config
    from scheduler.store.db import Store
    from scheduler.web.auth import UserError, UserStore

    config = load_config(args.config)
    store = Store(config.scheduler.database)
    store.migrate()
    users = UserStore(store.engine)
    out: dict[str, Any] = {"ok": True}
    try:
        if args.users_cmd == "add":
            password, made = _password(args)
            sites = [s.strip() for s in args.sites.split(",") if s.strip()]
            known = {s.id for s in config.sites}
            unknown = [s for s in sites if s not in known]
            if unknown:
                print(f"vuoro users: unknown site(s): {', '.join(unknown)}", file=sys.stderr)
                return 2
            user = users.add(
                args.name.lower(),
                args.role,
                password,
                display_name=args.display_name,
                sites=sites,
                lang=args.lang,
            )
            out["user"] = {"name": user.name, "role": user.role, "sites": list(user.sites)}
            if made:
                out["password"] = password
            text = f"added {user.name} ({user.role})" + (f", password: {password}" if made else "")
        elif args.users_cmd == "list":
            rows = [
                {
                    "name": x.name,
                    "display_name": x.display_name,
                    "role": x.role,
                    "sites": list(x.sites),
                    "disabled": x.disabled,
                }
                for x in users.all()
            ]
            out["users"] = rows
            text = (
                "\n".join(
                    f"{r['name']:<20} {r['role']:<12} {','.join(r['sites']) or '(all sites)':<20}"
                    f"{' disabled' if r['disabled'] else ''}"
                    for r in rows
                )
                or "(no users)"
            )
        elif args.users_cmd == "passwd":
            password, made = _password(args)
            users.set_password(args.name, password)
            if made:
                out["password"] = password
            text = f"new password for {args.name}" + (f": {password}" if made else " set")
        elif args.users_cmd in ("disable", "enable"):
            users.update(args.name, disabled=args.users_cmd == "disable")
            text = f"{args.name} {args.users_cmd}d"
        else:
            users.remove(args.name)
            text = f"removed {args.name}"
    except UserError as exc:
        msg = "the passwords differ" if exc.code == "mismatch" else MESSAGES.get(exc.code, exc.code)
        if args.json:
            print(json.dumps({"ok": False, "error": {"code": exc.code, "message": msg}}))
        else:
            print(f"vuoro users: {msg}", file=sys.stderr)
        return 2
    finally:
        store.dispose()
    print(json.dumps(out) if args.json else text)
    return 0
