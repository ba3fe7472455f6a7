"""Users, API tokens, roles and permission checks.

Tokens are random (``mk_<prefix>_<secret>``, 256 bits of secret), shown once, and stored only as
SHA-256; the prefix finds the row. Roles are sets of named permissions (``model.read``,
``model.write``, ``data.write``, ``promotion.request``, ``promotion.approve``, ``alias.set:NAME``,
``alias.rollback``, ``audit.read``, ``deployment.read``, ``deployment.write``, ``deployment.invoke``,
``admin``; ``*`` is every permission), bound to a user
globally, per project or per model. A registry with no users at all is a personal one: every
check passes for its single local user.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from modelkeep.meta.db import Database
from modelkeep.meta.tables import ApiToken, Role, RoleBinding, User
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.models.inputs import check_name

VIEWER = ["model.read", "data.read", "audit.read", "deployment.read"]
BUILTIN_ROLES: dict[str, list[str]] = {
    "viewer": VIEWER,
    "contributor": [*VIEWER, "model.write", "data.write", "promotion.request", "alias.set:*"],
    "approver": [*VIEWER, "promotion.approve", "alias.rollback"],
    # Deployment systems: read versions that passed a promotion (or hold a protected alias), run
    # deployments and their gateways, nothing else (migration 0007 grants the deployment ones).
    "deployer": ["model.read_approved", "deployment.read", "deployment.write", "deployment.invoke"],
    "admin": ["*"],
}
SCOPES = ("global", "project", "model")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    name: str
    user_id: int | None  # None: the single user of a personal registry


class Access:
    CACHE_S = 2.0  # how stale a permission or token answer may be (revocation takes effect within this)

    def __init__(self, db: Database, actor: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.actor = actor
        self.clock = clock  # the caches' ages (tests freeze it)
        self._personal: list[tuple[float, bool]] = []  # [(when, no users yet)], shared by for_actor's Accesses
        self._granted: dict[tuple[str, str | None, str | None], tuple[float, set[str]]] = {}
        self._tokens: dict[str, tuple[float, Principal]] = {}

    def for_actor(self, actor: str) -> Access:
        """An Access for another actor sharing this one's caches (the server: one per request)."""
        other = Access(self.db, actor, self.clock)
        other._granted, other._tokens = self._granted, self._tokens
        other._personal = self._personal  # the same list: one query every 5 s for all requests, not each
        return other

    # --- users, roles, tokens -----------------------------------------------------------

    def _ensure_roles(self, session: Session) -> None:
        present = set(session.scalars(select(Role.name)))
        for name, permissions in BUILTIN_ROLES.items():
            if name not in present:
                session.add(Role(name=name, permissions=permissions))
        session.flush()

    def create_user(self, name: str, *, role: str | None = None) -> dict[str, Any]:
        check_name(name, "user name")
        self.check("admin")  # in a personal registry (no users yet) this bootstraps the first one
        with self.db.writer() as session, session.begin():
            self._ensure_roles(session)
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(f"user {name!r} exists already")
            self._personal.clear()
            self._granted.clear()
            user = User(name=name, created_at=utcnow(), disabled=False)
            session.add(user)
            session.flush()
            if role:
                self._bind(session, user, role, "global", "")
            audit.append(session, self.actor, "user.create", f"user:{name}", detail={"role": role})
            return {"name": name, "id": user.id, "roles": [role] if role else []}

    def define_role(self, name: str, permissions: list[str]) -> None:
        self.check("admin")
        if name in BUILTIN_ROLES:
            raise Conflict(f"{name!r} is a built-in role")
        with self.db.writer() as session, session.begin():
            self._ensure_roles(session)
            existing = session.get(Role, name)
            if existing is None:
                session.add(Role(name=name, permissions=sorted(set(permissions))))
            else:
                existing.permissions = sorted(set(permissions))
            audit.append(session, self.actor, "role.define", f"role:{name}", detail={"permissions": permissions})

    def _bind(self, session: Session, user: User, role: str, scope_kind: str, scope: str) -> None:
        if scope_kind not in SCOPES:
            raise InvalidInput(f"invalid scope {scope_kind!r}: one of {', '.join(SCOPES)}")
        if session.get(Role, role) is None:
            raise NotFound(f"role {role!r} does not exist", hint=f"built-in roles: {', '.join(BUILTIN_ROLES)}")
        session.add(RoleBinding(user_id=user.id, role=role, scope_kind=scope_kind, scope=scope if scope_kind != "global" else ""))
        session.flush()

    def bind(self, user_name: str, role: str, scope_kind: str = "global", scope: str = "") -> None:
        self.check("admin")
        with self.db.writer() as session, session.begin():
            self._ensure_roles(session)
            user = self._user(session, user_name)
            self._bind(session, user, role, scope_kind, scope)
            self._granted.clear()
            audit.append(session, self.actor, "role.bind", f"user:{user_name}",
                         detail={"role": role, "scope_kind": scope_kind, "scope": scope})

    def _user(self, session: Session, name: str) -> User:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise NotFound(f"user {name!r} does not exist")
        return user

    def create_token(self, user_name: str, *, name: str = "default", expires_days: float | None = None) -> dict[str, Any]:
        """A new token for ``user_name`` (admins: anyone's; users: their own); the plaintext is in
        the result and nowhere else."""
        if user_name != self.actor:
            self.check("admin")
        prefix = secrets.token_hex(4)
        token = f"mk_{prefix}_{secrets.token_urlsafe(32)}"
        with self.db.writer() as session, session.begin():
            user = self._user(session, user_name)
            expires = utcnow() + timedelta(days=expires_days) if expires_days else None
            row = ApiToken(user_id=user.id, name=name, prefix=prefix, hash=_hash(token), created_at=utcnow(),
                           expires_at=expires)
            session.add(row)
            session.flush()
            audit.append(session, self.actor, "token.create", f"user:{user_name}", detail={"token_id": row.id, "name": name})
            return {"id": row.id, "user": user_name, "token": token, "expires_at": expires.isoformat() + "Z" if expires else None}

    def revoke_token(self, token_id: int) -> None:
        with self.db.writer() as session, session.begin():
            row = session.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"token {token_id} does not exist")
            owner = session.get(User, row.user_id)
            if owner is None or owner.name != self.actor:
                self.check("admin")
            row.revoked_at = utcnow()
            self._tokens.clear()
            audit.append(session, self.actor, "token.revoke", f"token:{token_id}")

    def authenticate(self, token: str) -> Principal:
        """The user a token belongs to; Unauthenticated for unknown, expired or revoked tokens.
        Answers are cached for ``CACHE_S`` seconds, keyed by the token's hash."""
        principal = self.known(token)
        if principal is None:
            principal = self._authenticate(token)
            self._tokens[_hash(token) if isinstance(token, str) else ""] = (self.clock(), principal)
        return principal

    def known(self, token: str) -> Principal | None:
        """The user ``authenticate`` answered for ``token`` less than ``CACHE_S`` ago, without asking
        the database (the server's event loop may ask); None otherwise."""
        cached = self._tokens.get(_hash(token) if isinstance(token, str) else "")
        return cached[1] if cached is not None and self.clock() - cached[0] < self.CACHE_S else None

    def _authenticate(self, token: str) -> Principal:
        parts = token.split("_", 2) if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != "mk":
            raise Unauthenticated("not a modelkeep API token")
        with self.db.reader() as session:
            for row in session.scalars(select(ApiToken).where(ApiToken.prefix == parts[1])):
                if hmac.compare_digest(row.hash, _hash(token)):
                    now = utcnow()
                    if row.revoked_at is not None:
                        raise Unauthenticated("this token was revoked")
                    if row.expires_at is not None and row.expires_at <= now:
                        raise Unauthenticated("this token has expired")
                    user = session.get(User, row.user_id)
                    if user is None or user.disabled:
                        raise Unauthenticated("this token's user is disabled")
                    return Principal(user.name, user.id)
        raise Unauthenticated("unknown API token")

    # --- checks -------------------------------------------------------------------------

    def permissions(self, user_name: str, *, model: str | None = None, project: str | None = None) -> set[str]:
        key = (user_name, model, project)
        cached = self._granted.get(key)
        if cached is not None and self.clock() - cached[0] < self.CACHE_S:
            return cached[1]
        granted = self._permissions(user_name, model=model, project=project)
        self._granted[key] = (self.clock(), granted)
        return granted

    def _permissions(self, user_name: str, *, model: str | None = None, project: str | None = None) -> set[str]:
        with self.db.reader() as session:
            rows = session.execute(
                select(RoleBinding.scope_kind, RoleBinding.scope, Role.permissions)
                .join(Role, Role.name == RoleBinding.role)
                .join(User, User.id == RoleBinding.user_id)
                .where(User.name == user_name, User.disabled.is_(False))
            ).all()
        granted: set[str] = set()
        for scope_kind, scope, permissions in rows:
            if scope_kind == "global" or (scope_kind == "model" and scope == model) or (
                scope_kind == "project" and scope == project
            ):
                granted.update(permissions)
        return granted

    def personal(self) -> bool:
        """True while the registry has no users (checked at most every 5 s: writes stay cheap)."""
        now = self.clock()
        cached = self._personal[0] if self._personal else None
        if cached is None or now - cached[0] > 5.0:
            with self.db.reader() as session:
                cached = (now, not session.scalar(select(func.count()).select_from(User)))
            self._personal[:] = [cached]
        return cached[1]

    def allowed(self, user_name: str, permission: str, *, model: str | None = None, project: str | None = None) -> bool:
        if self.personal():
            return True
        granted = self.permissions(user_name, model=model, project=project)
        if "*" in granted or permission in granted:
            return True
        family = permission.split(":", 1)[0]
        return f"{family}:*" in granted and ":" in permission

    def check(self, permission: str, *, model: str | None = None, project: str | None = None, user: str | None = None) -> None:
        who = user or self.actor
        if not self.allowed(who, permission, model=model, project=project):
            denied = PermissionDenied(f"{who} may not {permission}" + (f" on {model}" if model else ""),
                                      hint="ask an admin for a role that grants it (mk role bind)")
            denied.actor, denied.permission = who, permission
            raise denied


