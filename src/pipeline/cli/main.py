"""The ``pipeline`` command. Each writing command is one unit of work; errors are one line and exit 1."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from pipeline import __version__
from pipeline.access import LEVELS, ROLES
from pipeline.cli import audit as audit_cli
from pipeline.cli import awards as awards_cli
from pipeline.cli import demo as demo_cli
from pipeline.cli import dynamic as dynamic_cli
from pipeline.cli import imports as imports_cli
from pipeline.cli import screening as screening_cli
from pipeline.cli import webhooks as webhooks_cli
from pipeline.cli.common import actor_from_args
from pipeline.cli.preflight import (
    SetupFailed,
    check_schema,
    check_serve,
    check_sqlite_file,
    database_error,
    metrics_directory,
)
from pipeline.config import Settings
from pipeline.dates import business_today
from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.errors import PipelineError
from pipeline.migrate import current_revision, head_revision, require_head, upgrade
from pipeline.principals.service import add_principal, list_principals, revoke_principal, stale_grants
from pipeline.rulebooks import rulebook_in_force

Handler = Callable[[argparse.Namespace, Engine], int]
DEBUG_ENV = "PIPELINE_DEBUG"

def cmd_db_upgrade(args: argparse.Namespace, engine: Engine) -> int:
    """Migrations run as the schema owner: ``PIPELINE_MIGRATION_DATABASE_URL``, else the main URL."""
    settings: Settings = args.settings
    owner = engine if settings.migrates_itself else make_engine(settings.migration_database_url)
    try:
        upgrade(owner)
        print(f"database at revision {current_revision(owner)} (head {head_revision()})")
    finally:
        if owner is not engine:
            owner.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace, engine: Engine) -> int:
    current, head = current_revision(engine), head_revision()
    print(f"current {current}, head {head}")
    return 0 if current == head else 1


def cmd_serve(args: argparse.Namespace, engine: Engine) -> int:
    import uvicorn

    check_serve(args.host, args.port, args.workers)
    settings: Settings = args.settings
    if settings.migrates_itself:
        upgrade(engine)
    else:  # a restricted role: the owner migrates (`pipeline db upgrade`); serving only checks
        require_head(engine)
    url = engine.url
    if args.workers > 1 and url.get_backend_name() == "sqlite":
        print("note: several workers on SQLite serialise every write; use PostgreSQL to scale out",
              file=sys.stderr)
    engine.dispose()
    os.environ["PIPELINE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    print(f"serving on http://{args.host}:{args.port} ({url.get_backend_name()}, {args.workers} worker(s))",
          file=sys.stderr)
    with metrics_directory():
        # the app logs one line per request itself (PIPELINE_LOG_FORMAT), so uvicorn's access log is off
        uvicorn.run("api.main:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, proxy_headers=True, access_log=False)
    return 0


def cmd_principal_add(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        created = add_principal(
            session, name=args.name, role=args.role, level=args.level, region_code=args.region,
            grants=args.grant, created_by=actor_from_args(session, args).id,
        )
        principal = created.principal
        scope = principal.region_code or "all"
        rights = ""
        if principal.role == "integrator":
            rights = (f", may fire {', '.join(principal.grants)}" if principal.grants
                      else ", read-only: no --grant, so it may read but write nothing")
        print(f"principal {principal.id} ({principal.role}{':' + principal.level if principal.level else ''}, "
              f"region {scope}{rights}) created; its token follows and is shown only once:")
        print(created.token)
    return 0


def cmd_principal_list(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        rows = list_principals(session)
        print(f"{'id':<16} {'role':<10} {'level':<9} {'region':<7} {'status':<8} {'grants':<20} name")
        for p in rows:
            status = "revoked" if p.revoked_at else "active"
            print(f"{p.id:<16} {p.role:<10} {p.level or '-':<9} {p.region_code or 'all':<7} {status:<8} "
                  f"{','.join(p.grants) or '-':<20} {p.name}")
        rulebook = rulebook_in_force(business_today())
        for p in rows:
            if not p.revoked_at and (stale := stale_grants(p, rulebook)):
                print(f"warning: {p.id} holds {', '.join(stale)}, which rulebook {rulebook.id} does not let an "
                      f"integrator hold: the grant no longer works (integrator_grantable: "
                      f"{', '.join(rulebook.integrator_grantable)})")
    return 0


def cmd_principal_revoke(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        principal = revoke_principal(session, args.id)
        print(f"principal {principal.id} revoked at {principal.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description="专精特新 Pipeline — tiered cultivation of SMEs")
    parser.add_argument("--version", action="version", version=f"pipeline {__version__}")
    parser.add_argument("--database-url", help="overrides PIPELINE_DATABASE_URL")
    parser.add_argument("--actor", metavar="PRINCIPAL_ID",
                        help="record writes as this principal instead of cli:<OS user>")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate to the latest schema (alembic upgrade head)").set_defaults(
        handler=cmd_db_upgrade, creates_database=True, needs_schema=False)
    db.add_parser("current", help="show the schema revision; exit 1 if not at head").set_defaults(
        handler=cmd_db_current, needs_schema=False)

    serve = commands.add_parser("serve", help="migrate (or, under a restricted role, check the schema is at head), "
                                              "then serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help=">1 on PostgreSQL is the scale-out mode")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(handler=cmd_serve, creates_database=True, needs_schema=False)

    principal = commands.add_parser("principal", help="manage who may call the API").add_subparsers(
        dest="principal_command", required=True)
    add = principal.add_parser("add", help="create a principal and print its bearer token (last line)")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--level", choices=LEVELS)
    add.add_argument("--region", metavar="CODE", help="GB/T 2260 code of the jurisdiction")
    add.add_argument("--grant", metavar="TRIGGER", action="append", default=[],
                     help="an action an integrator may perform (repeatable); the rulebook's "
                          "integrator_grantable lists which")
    add.set_defaults(handler=cmd_principal_add)
    principal.add_parser("list", help="list principals").set_defaults(handler=cmd_principal_list)
    revoke = principal.add_parser("revoke", help="revoke a principal's token")
    revoke.add_argument("id")
    revoke.set_defaults(handler=cmd_principal_revoke)

    for register in FEATURE_COMMANDS:
        register(commands)
    return parser


#: Each feature's own subcommands: a ``register(commands)`` function in that feature's module.
FEATURE_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    dynamic_cli.register,
    audit_cli.register,
    imports_cli.register,
    screening_cli.register,
    awards_cli.register,
    demo_cli.register,
    webhooks_cli.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever goes wrong is one line on stderr and a non-zero exit, never a traceback
    (``PIPELINE_DEBUG=1`` shows the traceback of an unexpected error)."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    engine: Engine | None = None
    try:
        args.settings = Settings.from_env(args.database_url)
        engine = make_engine(args.settings.database_url)
        needs_database = getattr(args, "needs_database", True)
        if callable(needs_database):
            needs_database = needs_database(args)
        if needs_database:  # keygen and the offline anchor check touch no database
            check_sqlite_file(engine, creates=getattr(args, "creates_database", False))
            if getattr(args, "needs_schema", True):
                check_schema(engine)
        return handler(args, engine)
    except PipelineError as exc:
        return _fail(exc.detail)
    except SetupFailed as exc:
        return _fail(str(exc))
    except DBAPIError as exc:
        assert engine is not None  # only a connected engine raises driver errors
        return _fail(database_error(engine, exc))
    except OSError as exc:
        return _fail(" ".join(str(exc).split()))
    except KeyboardInterrupt:
        print("pipeline: interrupted; nothing of the unfinished step was written", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        return _fail(f"内部错误 — unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
                     f"(a bug; {DEBUG_ENV}=1 shows the traceback)")
    finally:
        if engine is not None:
            engine.dispose()


def _fail(message: str) -> int:
    print(f"pipeline: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
