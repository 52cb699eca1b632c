"""Signed anchors: `pipeline audit keygen` makes the key, `pipeline audit anchor --out FILE` writes an anchor
signed with Ed25519 over the RFC 8785 form of {id, digest, firms, events, created_at}, and
`pipeline audit verify-anchor --file FILE --public-key KEY` checks it with no database. Without a key no
anchor is made."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from helpers import enroll, make_uscc
from sqlalchemy import func, select

from pipeline.cli import main
from pipeline.history.anchor_signing import KEY_ENV
from pipeline.models import Anchor

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:9/no_such_database"
"""A database that cannot be reached: offline checks must never need one."""


def _keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, str]:
    private = tmp_path / "anchor.key"
    assert main(["audit", "keygen", "--out", str(private)]) == 0
    out = capsys.readouterr().out
    key_id = out.splitlines()[0].removeprefix("public key id ")
    public = tmp_path / "anchor.key.pub"
    assert "BEGIN PUBLIC KEY" in out
    assert public.read_text() in out
    assert private.stat().st_mode & 0o077 == 0  # only its owner may read the private key
    return private, public, key_id


def _anchor(database_url: str, out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["--database-url", database_url, "audit", "anchor", "--note", "年度", "--out", str(out)]) == 0
    capsys.readouterr()
    document: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
    return document


def test_a_published_anchor_verifies_offline_with_the_public_key(
    database_url: str, session_factory: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll(session_factory, make_uscc("410106", 1), "2025-01-10")  # type: ignore[arg-type]
    private, public, key_id = _keygen(tmp_path, capsys)
    monkeypatch.setenv(KEY_ENV, str(private))
    published = tmp_path / "anchor.json"
    document = _anchor(database_url, published, capsys)
    assert (document["firms"], document["events"], document["public_key_id"]) == (1, 1, key_id)
    assert str(document["created_at"]).endswith("Z")

    # Independently of our code: Ed25519 over the RFC 8785 form of the five fields.
    key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(key, Ed25519PublicKey)
    signed = {name: document[name] for name in ("id", "digest", "firms", "events", "created_at")}
    key.verify(base64.b64decode(str(document["signature"])), rfc8785.dumps(signed))

    check = ["--database-url", NOWHERE, "audit", "verify-anchor", "--file", str(published), "--public-key", str(public)]
    assert main(check) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    forged = {**document, "digest": "0" * 64}
    published.write_text(json.dumps(forged), encoding="utf-8")
    assert main(check) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False
    assert "signature does not hold" in captured.err


def test_an_anchor_signed_by_another_key_is_refused(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, _, _ = _keygen(tmp_path, capsys)
    other = tmp_path / "other"
    other.mkdir()
    _, other_public, _ = _keygen(other, capsys)
    monkeypatch.setenv(KEY_ENV, str(private))
    published = tmp_path / "anchor.json"
    _anchor(database_url, published, capsys)
    assert main(["audit", "verify-anchor", "--file", str(published), "--public-key", str(other_public)]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_without_a_key_no_anchor_is_made(
    database_url: str, session_factory: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert main(["--database-url", database_url, "audit", "anchor", "--out", str(tmp_path / "a.json")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert KEY_ENV in err
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "missing.key"))
    assert main(["--database-url", database_url, "audit", "anchor"]) == 1
    assert "cannot be read" in capsys.readouterr().err
    with session_factory() as session:  # type: ignore[operator]
        assert session.scalar(select(func.count()).select_from(Anchor)) == 0
    assert not (tmp_path / "a.json").exists()


def test_the_anchor_id_form_of_verify_anchor_keeps_working(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, _, _ = _keygen(tmp_path, capsys)
    monkeypatch.setenv(KEY_ENV, str(private))
    document = _anchor(database_url, tmp_path / "anchor.json", capsys)
    assert main(["--database-url", database_url, "audit", "verify-anchor", str(document["id"])]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_keygen_never_overwrites_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, _, _ = _keygen(tmp_path, capsys)
    before = private.read_bytes()
    assert main(["audit", "keygen", "--out", str(private)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert private.read_bytes() == before
