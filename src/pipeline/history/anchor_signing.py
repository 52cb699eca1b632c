"""Ed25519 signatures on anchors, so that a published anchor proves who issued it and can be checked offline.

The signature covers the RFC 8785 (JSON Canonicalization Scheme) form of ``{id, digest, firms, events,
created_at}`` — ``created_at`` written ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` — so any language with a JCS
implementation and Ed25519 can check it. The private key is a PKCS#8 PEM file named by
``PIPELINE_ANCHOR_KEY`` (``pipeline audit keygen`` writes one); the public key is published beside the
anchors as a SubjectPublicKeyInfo PEM. A key's id is the first 16 hex digits of the SHA-256 of its 32 raw
public bytes, so an anchor names the key that signed it without carrying the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pipeline.errors import AnchorKeyMissing, InvalidInput
from pipeline.lifecycle.chain import format_timestamp

KEY_ENV = "PIPELINE_ANCHOR_KEY"
ALGORITHM = "Ed25519"
CANONICALIZATION = "RFC 8785"
SIGNED_FIELDS = ("id", "digest", "firms", "events", "created_at")


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    key_id: str


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def generate(private_path: Path) -> tuple[Path, str, str]:
    """Write a new private key (mode 0600, never over an existing file) and its public key beside it
    (``<path>.pub``); return the public key's path, PEM and id."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"密钥文件已存在，未覆盖 — {private_path} already exists; not overwritten",
                           field="out") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_path = private_path.with_name(private_path.name + ".pub")
    text = public_pem(private.public_key())
    public_path.write_text(text, encoding="ascii")
    return public_path, text, key_id(private.public_key())


def load_signing_key(path: str | None = None) -> SigningKey:
    """The key named by ``path`` or ``PIPELINE_ANCHOR_KEY``; :class:`AnchorKeyMissing` when there is none."""
    where = path if path is not None else os.environ.get(KEY_ENV, "")
    if not where:
        raise AnchorKeyMissing(f"未配置锚点签名密钥 — no anchor signing key: set {KEY_ENV} to the private key "
                               f"file written by `pipeline audit keygen`")
    try:
        private = serialization.load_pem_private_key(Path(where).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AnchorKeyMissing(f"锚点签名密钥无法读取 — the anchor signing key {where} cannot be read "
                               f"({type(exc).__name__})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise AnchorKeyMissing(f"锚点签名密钥不是 Ed25519 — {where} is not an Ed25519 private key")
    return SigningKey(private, key_id(private.public_key()))


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        public = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"公钥无法读取 — the public key {path} cannot be read ({type(exc).__name__})",
                           field="public_key") from None
    if not isinstance(public, Ed25519PublicKey):
        raise InvalidInput(f"公钥不是 Ed25519 — {path} is not an Ed25519 public key", field="public_key")
    return public


def signed_fields(anchor_id: int, digest: str, firms: int, events: int, created_at: dt.datetime) -> dict[str, Any]:
    """Exactly what the signature covers."""
    return {"id": anchor_id, "digest": digest, "firms": firms, "events": events,
            "created_at": format_timestamp(created_at)}


def sign(key: SigningKey, fields: dict[str, Any]) -> str:
    return base64.b64encode(key.private.sign(rfc8785.dumps(fields))).decode("ascii")


def signature_ok(public: Ed25519PublicKey, fields: dict[str, Any], signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), rfc8785.dumps(fields))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_document(document: dict[str, Any], public: Ed25519PublicKey) -> list[str]:
    """What is wrong with a published anchor file (empty when its signature holds under ``public``)."""
    missing = [name for name in (*SIGNED_FIELDS, "signature") if name not in document]
    if missing:
        return [f"锚点文件缺少字段 — the anchor file lacks {', '.join(missing)}"]
    problems = []
    if document.get("public_key_id") not in (None, key_id(public)):
        problems.append(f"锚点由另一密钥签名 — the anchor names key {document['public_key_id']}, the public key "
                        f"given is {key_id(public)}")
    fields = {name: document[name] for name in SIGNED_FIELDS}
    if not isinstance(document["signature"], str) or not signature_ok(public, fields, document["signature"]):
        problems.append("签名无效：锚点被改动或非该密钥所签 — the signature does not hold: the anchor was altered or "
                        "not signed by this key")
    return problems
