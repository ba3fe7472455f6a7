"""Retention policies, legal holds and the tombstones of versions a garbage collection dropped.

Revision ID: 0010_retention
Revises: 0009_mlflow
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_retention"
down_revision = "0009_mlflow"


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("kind", "scope", name="uq_retention_policies_kind_scope"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("target", sa.String(300), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "tombstones",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("rows", sa.JSON, nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("marked_by", sa.String(128), nullable=False),
        sa.Column("marked_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tombstones")
    op.drop_table("legal_holds")
    op.drop_table("retention_policies")
