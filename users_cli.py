"""`python app.py users ...`: manage local accounts from the server's command line.

    python app.py users add NAME [--admin]     password from a prompt, or the first line of stdin
    python app.py users list
    python app.py users disable NAME | enable NAME | passwd NAME

It opens the database only (no jobs are recovered), so it is safe while the app runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import replace
from pathlib import Path

from core.errors import InputError
from settings import Settings
from storage.accounts import Accounts
from storage.db import make_engine
from storage.intake import Limits
from storage.library import Actor, Library
from storage.media import open_media_store

# Who the security log names for changes made here.
CLI_ACTOR = Actor(username="(command line)", user_agent="python app.py users")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python app.py users", description="Manage the studio's accounts.")
    p.add_argument("--data-dir", type=Path, help="media, database and scratch files (DATA_DIR)")
    p.add_argument("--database-url", help="SQLAlchemy URL (DATABASE_URL)")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account (the first one is an admin)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage users and read the security log")
    sub.add_parser("list", help="the accounts, with admin and disabled flags")
    for name, what in (("disable", "refuse sign-in and end the account's sessions"),
                       ("enable", "allow a disabled account again"), ("passwd", "set a new password")):
        sub.add_parser(name, help=what).add_argument("name")
    return p


def _read_password(stdin=None) -> str:
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise InputError("the two passwords differ")
    return first


def main(argv: list[str], env: dict[str, str] | None = None, stdin=None, out=None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    settings = Settings.from_env(env)
    if args.data_dir:
        settings = replace(settings, data_dir=args.data_dir)
    if args.database_url:
        settings = replace(settings, database_url=args.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    accounts = Accounts(Library(engine, open_media_store(settings),
                                Limits.from_settings(settings)))
    try:
        if args.command == "add":
            admin = args.admin or accounts.first_admin() is None
            u = accounts.create_user(args.name, _read_password(stdin), is_admin=admin, actor=CLI_ACTOR)
            print(f"created {u.username}" + (" (admin)" if u.is_admin else ""), file=out)
        elif args.command == "list":
            for u in accounts.list_users():
                flags = [f for f, on in (("admin", u.is_admin), ("disabled", u.disabled),
                                         (f"Hugging Face: {u.hf_username}", u.hf_sub is not None),
                                         ("no password", not u.password_hash and u.hf_sub is None)) if on]
                print(f"{u.id:>5}  {u.username:<30} {', '.join(flags)}", file=out)
        elif args.command in ("disable", "enable"):
            u = accounts.set_disabled(args.name, args.command == "disable", actor=CLI_ACTOR)
            print(f"{u.username} is {'disabled' if u.disabled else 'enabled'}", file=out)
        elif args.command == "passwd":
            u = accounts.set_password(args.name, _read_password(stdin), actor=CLI_ACTOR)
            print(f"new password set for {u.username}", file=out)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
