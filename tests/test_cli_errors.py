"""Every `pipeline` failure is one line on stderr and a non-zero exit, never a traceback — and says what to do."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_process import free_port
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pipeline import __version__, cli
from pipeline.db import database_url as parse_database_url

_names = itertools.count()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pipeline: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def run_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True,
                          env=env if env is not None else dict(os.environ), cwd=cwd, timeout=timeout, check=False)


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists but was never migrated: an empty SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")  # skips, saying why, without PostgreSQL
    name = f"pipeline_empty_{os.getpid()}_{next(_names)}"
    with template.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = template.url(name).render_as_string(hide_password=False)
    yield url
    template.drop(url)


def test_version_prints_the_package_version() -> None:
    result = run_process("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pipeline {__version__}"


def test_an_unreachable_postgresql_server_is_one_line_naming_it_from_a_real_process(tmp_path: Path) -> None:
    port = free_port()
    result = run_process("--database-url", f"postgresql://postgres:secret@127.0.0.1:{port}/pipeline",
                         "principal", "list")
    assert_one_line_error(result.returncode, result.stderr, "cannot connect", f"127.0.0.1:{port}")
    assert "secret" not in result.stderr


def test_a_nonexistent_postgresql_database_is_one_line(capsys: pytest.CaptureFixture[str],
                                                       postgres_template: Any) -> None:
    url = postgres_template.url("pipeline_no_such_database").render_as_string(hide_password=False)
    code, _, err = run(capsys, "--database-url", url, "principal", "list")
    assert_one_line_error(code, err, "pipeline_no_such_database", "does not exist")


@pytest.mark.parametrize("url", ["mysql://root@localhost/pipeline", "not-a-url", "oracle+cx_oracle://x@y/z"])
def test_malformed_or_unsupported_urls_are_refused_in_one_line(capsys: pytest.CaptureFixture[str],
                                                               url: str) -> None:
    code, _, err = run(capsys, "--database-url", url, "principal", "list")
    assert_one_line_error(code, err, "sqlite:///", "postgresql://")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_and_postgresql_urls_mean_psycopg_3(scheme: str) -> None:
    assert parse_database_url(f"{scheme}://u@db.example:5432/pipeline").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_postgres_url_without_driver_works_end_to_end(capsys: pytest.CaptureFixture[str], database_url: str,
                                                        scheme: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL URL form")
    plain = make_url(database_url).set(drivername=scheme).render_as_string(hide_password=False)
    code, out, err = run(capsys, "--database-url", plain, "principal", "list")
    assert (code, err) == (0, "")
    assert out.startswith("id ")


def test_an_sqlite_path_in_a_missing_folder_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    for command in (["principal", "list"], ["db", "upgrade"]):
        code, _, err = run(capsys, "--database-url", f"sqlite:///{missing}/pipeline.db", *command)
        assert_one_line_error(code, err, str(missing), "does not exist")
    assert not missing.exists()


def test_commands_never_leave_an_empty_database_file_behind(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPELINE_DATABASE_URL", raising=False)
    for command in (["principal", "list"], ["audit", "verify"], ["db", "current"], ["sweep"]):
        code, _, err = run(capsys, *command)
        assert_one_line_error(code, err, "pipeline db upgrade")
    assert list(tmp_path.iterdir()) == []
    code, _, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert (tmp_path / "pipeline.db").is_file()


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_database_not_yet_migrated_says_to_run_db_upgrade(capsys: pytest.CaptureFixture[str],
                                                             empty_database_url: str) -> None:
    code, _, err = run(capsys, "--database-url", empty_database_url, "principal", "list")
    assert_one_line_error(code, err, "run `pipeline db upgrade`")
    code, _, _ = run(capsys, "--database-url", empty_database_url, "db", "upgrade")
    assert code == 0
    code, _, err = run(capsys, "--database-url", empty_database_url, "principal", "list")
    assert (code, err) == (0, "")


def test_a_directory_given_as_an_import_file_is_one_line(capsys: pytest.CaptureFixture[str], database_url: str,
                                                         tmp_path: Path) -> None:
    folder = tmp_path / "名单"
    folder.mkdir()
    for command in (["import", str(folder), "--action", "enroll"], ["indicators", "import", str(folder)],
                    ["batch", str(folder)]):
        code, _, err = run(capsys, "--database-url", database_url, *command)
        assert_one_line_error(code, err, str(folder), "is a folder")


def test_serve_on_a_busy_port_says_so_before_serving_and_suggests_another(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_process("--database-url", f"sqlite:///{tmp_path}/p.db", "serve", "--port", str(port))
    assert_one_line_error(result.returncode, result.stderr, str(port), "in use", "--port")
    assert "serving" not in result.stdout + result.stderr


def test_serve_with_several_workers_needs_the_shared_secret_key(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PIPELINE_SECRET_KEY"}
    result = run_process("--database-url", f"sqlite:///{tmp_path}/p.db", "serve", "--workers", "2",
                         "--port", str(free_port()), env=env)
    assert_one_line_error(result.returncode, result.stderr, "PIPELINE_SECRET_KEY", "--workers 2")
    assert "serving" not in result.stderr


def test_principal_add_refuses_a_level_that_does_not_match_the_region(capsys: pytest.CaptureFixture[str],
                                                                      database_url: str) -> None:
    for level, region, fitting in (("city", "410000", "province"), ("district", "419001", "city"),
                                   ("province", "410106", "district"), ("district", "410100", "city")):
        code, out, err = run(capsys, "--database-url", database_url, "principal", "add", "--name", "x",
                             "--role", "official", "--level", level, "--region", region)
        assert_one_line_error(code, err, f"--level {level}", region, f"--level {fitting}")
        assert "zjtx_" not in out


def test_jiyuan_is_a_city_level_jurisdiction(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, _ = run(capsys, "--database-url", database_url, "principal", "add", "--name", "济源示范区工信局",
                       "--role", "official", "--level", "city", "--region", "419001")
    assert code == 0
    assert out.splitlines()[-1].startswith("zjtx_")


def test_an_integrator_without_grants_is_accepted_as_read_only_and_told_so(
        capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, _ = run(capsys, "--database-url", database_url, "principal", "add", "--name", "统计局查询",
                       "--role", "integrator", "--region", "410100")
    assert code == 0
    assert "read-only" in out.splitlines()[0]
    assert out.splitlines()[-1].startswith("zjtx_")


def test_a_missing_region_speaks_english_properly(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, _, err = run(capsys, "--database-url", database_url, "principal", "add", "--name", "x", "--role", "auditor")
    assert_one_line_error(code, err, "an auditor needs --region")
    assert "a auditor" not in err
