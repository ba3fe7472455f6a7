"""The audit log's keys, kept apart from the database.

- The **MAC key** (32 random bytes) keys each entry's HMAC. Taken from ``MODELKEEP_AUDIT_KEY``
  (hex; for servers, from a secret store), else from the file ``audit.key_file`` names, else
  ``.modelkeep/keys/audit.key`` (mode 0600), made on first use. Whoever can write the database
  but cannot read this key cannot rewrite history undetected. Put the file (or the variable)
  where the database's writers cannot reach for that to hold.
- The **signing key** (Ed25519) signs checkpoints of the chain head; the public key alone
  verifies them, so auditors never need the secret. ``audit.signing_key`` or
  ``.modelkeep/keys/audit-signing.pem``; the public key is written beside it (``.pub.pem``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from modelkeep.config import RepoConfig
from modelkeep.errors import IntegrityError, InvalidInput

if TYPE_CHECKING:  # every command reads the MAC key; only checkpoints need cryptography (~40 ms to import)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_ENV = "MODELKEEP_AUDIT_KEY"


def _keys_dir(config: RepoConfig) -> Path:
    return config.root / "keys"


def _create_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file only the owner can read; False if it exists already."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def mac_key(config: RepoConfig) -> tuple[bytes, bool]:
    """The MAC key, and whether it was made just now (then the existing entries must be sealed)."""
    text = os.environ.get(KEY_ENV)
    if text:
        try:
            key = bytes.fromhex(text.strip())
        except ValueError:
            raise InvalidInput(f"{KEY_ENV} must be hex (e.g. 64 hex digits from 'openssl rand -hex 32')") from None
        if len(key) < 16:
            raise InvalidInput(f"{KEY_ENV} is too short: at least 16 bytes (32 hex digits)")
        return key, False
    configured = config.get("audit.key_file")
    path = Path(configured).expanduser() if configured else _keys_dir(config) / "audit.key"
    created = _create_private(path, secrets.token_hex(32).encode())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"the audit key {path} cannot be read ({exc}); restore it from its backup") from None
    return key, created


def signing_key(config: RepoConfig) -> Ed25519PrivateKey:
    """The checkpoint signing key (made on first use, its public half written beside it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    configured = config.get("audit.signing_key")
    path = Path(configured).expanduser() if configured else _keys_dir(config) / "audit-signing.pem"
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    if not _create_private(path, pem):
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path} is not an Ed25519 private key in PEM ({exc})") from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise InvalidInput(f"{path} is not an Ed25519 private key")
        private = loaded
    public = public_key_path(config)
    if not public.exists():
        public.write_bytes(public_pem(private.public_key()))
    return private


def public_key_path(config: RepoConfig) -> Path:
    configured = config.get("audit.signing_key")
    private = Path(configured).expanduser() if configured else _keys_dir(config) / "audit-signing.pem"
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")


def public_pem(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the public key {path}: {exc}") from None
    return parse_public_key(pem, str(path))


def parse_public_key(pem: bytes, what: str = "the public key") -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not an Ed25519 public key in PEM ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{what} is not an Ed25519 public key")
    return key


def signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
