"""Signed checkpoints of the audit chain's head, kept outside the database.

Like a Certificate Transparency signed tree head: ``{seq, hash, mac, entries, at, key_id}``
signed with Ed25519. Written on demand (``mk audit checkpoint --out FILE``, or stdout for an
external log) and periodically by the server (every ``audit.checkpoint_every`` entries, as an
``audit.checkpoint`` webhook event and a line in ``.modelkeep/keys/checkpoints.jsonl``). A later
``mk audit verify --checkpoint FILE`` checks each checkpoint's signature with the public key
only, then that the database still holds entry ``seq`` with that very hash: removing the newest
entries (truncation) or recomputing the chain after an edit both fail, even for someone who
could rewrite every row and its hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select

from modelkeep.config import RepoConfig
from modelkeep.errors import InvalidInput
from modelkeep.meta.db import Database
from modelkeep.meta.tables import AuditEntry
from modelkeep.services.clock import utcnow
from modelkeep.services.governance.audit import verify_chain
from modelkeep.services.governance.audit_keys import public_pem, signature_valid

SIGNED_FIELDS = ("seq", "hash", "mac", "entries", "at", "key_id")


class Checkpoint(BaseModel):
    """A signed checkpoint of the audit chain's head, as written by ``mk audit checkpoint``."""

    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=0, le=2**62)
    hash: str | None = Field(default=None, max_length=64)
    mac: str | None = Field(default=None, max_length=64)
    entries: int = Field(ge=0, le=2**62)
    at: str = Field(max_length=64)
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=200)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_pem(public)).hexdigest()[:16]


def _message(checkpoint: dict[str, Any]) -> bytes:
    body = {name: checkpoint.get(name) for name in SIGNED_FIELDS}
    return b"modelkeep-audit-checkpoint-v1\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def make_checkpoint(db: Database, private: Ed25519PrivateKey) -> dict[str, Any]:
    """A signed checkpoint of the current head (``seq`` 0 for an empty log)."""
    with db.reader() as session:
        head = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        entries = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    checkpoint: dict[str, Any] = {
        "seq": head.seq if head else 0, "hash": head.hash if head else None, "mac": head.mac if head else None,
        "entries": entries, "at": utcnow().isoformat() + "Z", "key_id": key_id(private.public_key()),
    }
    checkpoint["signature"] = base64.b64encode(private.sign(_message(checkpoint))).decode()
    return checkpoint


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """Checkpoints from a file: one JSON document, or one per line (a log of them)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read checkpoint file {path}: {exc}") from None
    try:
        doc = json.loads(text)
        docs = doc if isinstance(doc, list) else [doc]
    except ValueError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise InvalidInput(f"{path} holds no audit checkpoints (JSON, or one JSON document per line): {exc}") from None
    try:
        checked = [Checkpoint.model_validate(d).model_dump() for d in docs]
    except ValidationError as exc:
        raise InvalidInput(f"{path} holds something that is not an audit checkpoint: {exc.errors()[0]['msg']} "
                           f"at {'.'.join(str(p) for p in exc.errors()[0]['loc'])}") from None
    if not checked:
        raise InvalidInput(f"{path} holds no audit checkpoints")
    return checked


def verify_against(db: Database, checkpoints: list[dict[str, Any]], public: Ed25519PublicKey) -> dict[str, Any]:
    """The chain check plus, for each checkpoint, whether it is authentic and the database still agrees."""
    chain = verify_chain(db)
    results = []
    with db.reader() as session:
        for checkpoint in checkpoints:
            try:
                signature = base64.b64decode(str(checkpoint["signature"]), validate=True)
            except ValueError:
                signature = b""
            result: dict[str, Any] = {"seq": checkpoint.get("seq"), "at": checkpoint.get("at")}
            if not signature_valid(public, signature, _message(checkpoint)):
                result.update(ok=False, reason="its signature does not verify with this public key (forged or altered)")
            elif not checkpoint.get("seq"):
                result.update(ok=True, reason="the log was empty")
            else:
                row = session.get(AuditEntry, int(checkpoint["seq"]))
                if row is None:
                    result.update(ok=False, reason=f"entry {checkpoint['seq']} is gone: the log was truncated")
                elif row.hash != checkpoint["hash"]:
                    result.update(ok=False, reason=f"entry {checkpoint['seq']} differs from the signed one: "
                                  "the chain was rewritten")
                else:
                    result.update(ok=True, reason="the database holds the signed head")
            results.append(result)
    ok = chain["ok"] and all(r["ok"] for r in results)
    return {**chain, "ok": ok, "checkpoints": results}


class CheckpointSchedule:
    """Every ``audit.checkpoint_every`` entries (default 1000): sign the head, append it to
    ``.modelkeep/keys/checkpoints.jsonl`` and hand it to the webhooks (``audit.checkpoint``).

    The server calls :meth:`tick` once a second; the last checkpointed entry is read from the
    log once, at construction, and kept in memory: a tick costs one indexed ``max(seq)``.
    """

    def __init__(self, db: Database, config: RepoConfig) -> None:
        text = config.get("audit.checkpoint_every") or "1000"
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput(f"audit.checkpoint_every = {text!r}: a whole number of entries, at least 1 (default 1000)")
        self.db, self.config, self.every = db, config, int(text)
        self.log = config.root / "keys" / "checkpoints.jsonl"
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.last = int(json.loads(lines[-1])["seq"]) if lines else 0

    def tick(self) -> dict[str, Any] | None:
        from modelkeep.meta.tables import Event
        from modelkeep.services.governance.audit_keys import signing_key

        with self.db.reader() as session:
            head = session.scalar(select(func.max(AuditEntry.seq))) or 0
        if head - self.last < self.every:
            return None
        checkpoint = make_checkpoint(self.db, signing_key(self.config))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as handle:
            handle.write(json.dumps(checkpoint, sort_keys=True) + "\n")
        with self.db.writer() as session, session.begin():
            session.add(Event(type="audit.checkpoint", created_at=utcnow(), payload={
                "event": "audit.checkpoint", "at": checkpoint["at"], "actor": "modelkeep-server",
                "target": f"audit:{checkpoint['seq']}", "detail": checkpoint}))
        self.last = checkpoint["seq"]
        return checkpoint
