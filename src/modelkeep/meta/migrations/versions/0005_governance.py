"""Governance: users, API tokens, roles and bindings, audit log, alias history, protected
aliases and promotion requests.

Revision ID: 0005_governance
Revises: 0004_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_governance"
down_revision = "0004_runs"


def _fk(column: str, table: str, target: str, ondelete: str = "CASCADE", type_: sa.types.TypeEngine | None = None) -> sa.Column:
    ref_table = target.split(".")[0]
    type_ = type_ if type_ is not None else sa.Integer()
    return sa.Column(column, type_, sa.ForeignKey(target, ondelete=ondelete, name=f"fk_{table}_{column}_{ref_table}"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, nullable=False),
        _fk("user_id", "api_tokens", "users.id"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_index("ix_api_tokens_prefix", "api_tokens", ["prefix"])
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("permissions", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_roles"),
    )
    op.create_table(
        "role_bindings",
        sa.Column("id", sa.Integer, nullable=False),
        _fk("user_id", "role_bindings", "users.id"),
        _fk("role", "role_bindings", "roles.name", type_=sa.String(64)),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_role_bindings"),
        sa.UniqueConstraint("user_id", "role", "scope_kind", "scope", name="uq_role_bindings_user_id_role_scope_kind_scope"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Integer, nullable=False),
        _fk("model_id", "alias_history", "models.id"),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("previous", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_history"),
    )
    op.create_index("ix_alias_history_lookup", "alias_history", ["model_id", "alias", "at"])
    op.create_table(
        "protected_aliases",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("gates", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("model", "alias", name="pk_protected_aliases"),
    )
    op.create_table(
        "promotion_requests",
        sa.Column("id", sa.Integer, nullable=False),
        _fk("model_id", "promotion_requests", "models.id"),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("justification", sa.Text, nullable=False),
        sa.Column("ticket", sa.String(128), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gates", sa.JSON, nullable=False),
        sa.Column("reviews", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_promotion_requests"),
    )


def downgrade() -> None:
    for table in ("promotion_requests", "protected_aliases", "alias_history", "audit_log", "role_bindings", "roles",
                  "api_tokens", "users"):
        op.drop_table(table)
