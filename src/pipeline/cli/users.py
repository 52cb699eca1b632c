"""``pipeline user add --name NAME --principal P`` — a console account acting as principal P (its role and
region); the password is read from the terminal without echo (twice), or from standard input when it is not
a terminal (one line). ``pipeline user list``."""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import Engine

from pipeline.access import cli_actor
from pipeline.db import make_session_factory, unit_of_work
from pipeline.errors import InvalidInput
from pipeline.principals.accounts import add_user, list_users


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码 Password: ")
    if getpass.getpass("再次输入 Again: ") != first:
        raise InvalidInput("两次输入的密码不一致 — the passwords differ", field="password")
    return first


def cmd_user_add(args: argparse.Namespace, engine: Engine) -> int:
    password = _password()
    with unit_of_work(make_session_factory(engine)) as session:
        user = add_user(session, name=args.name, principal_id=args.principal, password=password,
                        created_by=args.actor or cli_actor().id)
        print(f"user {user.id} {user.name!r} acts as principal {user.principal_id}")
    return 0


def cmd_user_list(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        for user in list_users(session):
            state = "disabled" if user.disabled_at else ("locked" if user.locked_until else "active")
            print(f"{user.id}\t{user.name}\t{user.principal_id}\t{state}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser("user", help="console accounts (name + password, acting as a principal)")
    sub = user.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="create an account; the password is read without echo")
    add.add_argument("--name", required=True, help="the sign-in name (a person)")
    add.add_argument("--principal", required=True, help="the principal id (p-…) whose role and region it uses")
    add.set_defaults(handler=cmd_user_add)
    sub.add_parser("list", help="list accounts").set_defaults(handler=cmd_user_list)
