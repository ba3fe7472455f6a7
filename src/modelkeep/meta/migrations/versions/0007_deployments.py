"""Deployments, their revisions and gateway reports; deployment permissions for built-in roles.

Revision ID: 0007_deployments
Revises: 0006_events
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_deployments"
down_revision = "0006_events"

# Permissions the built-in roles gain with deployments (roles created later get them from code).
GRANTS = {
    "viewer": ["deployment.read"],
    "contributor": ["deployment.read"],
    "approver": ["deployment.read"],
    "deployer": ["deployment.read", "deployment.write", "deployment.invoke"],
}


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint("name", name="uq_deployments_name"),
    )
    op.create_table(
        "deployment_revisions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("deployment_id", sa.Integer,
                  sa.ForeignKey("deployments.id", ondelete="CASCADE", name="fk_deployment_revisions_deployment_id_deployments"),
                  nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=True),
        sa.Column("validation", sa.JSON, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployment_revisions"),
        sa.UniqueConstraint("deployment_id", "revision", name="uq_deployment_revisions_deployment_id_revision"),
    )
    op.create_table(
        "gateway_reports",
        sa.Column("deployment_id", sa.Integer,
                  sa.ForeignKey("deployments.id", ondelete="CASCADE", name="fk_gateway_reports_deployment_id_deployments"),
                  nullable=False),
        sa.Column("gateway", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "gateway", name="pk_gateway_reports"),
    )
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("permissions", sa.JSON))
    bind = op.get_bind()
    for name, permissions in bind.execute(sa.select(roles.c.name, roles.c.permissions)).all():
        extra = GRANTS.get(name)
        if extra:
            merged = sorted(set(permissions or []) | set(extra))
            bind.execute(roles.update().where(roles.c.name == name).values(permissions=merged))


def downgrade() -> None:
    for table in ("gateway_reports", "deployment_revisions", "deployments"):
        op.drop_table(table)
