"""Evaluations of versions on pinned dataset versions, notes (decisions) on versions, branches,
and the subject of a webhook (``mk watch``).

Revision ID: 0011_evaluations
Revises: 0010_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_evaluations"
down_revision = "0010_retention"


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("dataset_digest", sa.String(64), nullable=False),
        sa.Column("split", sa.String(64), nullable=True),
        sa.Column("slice_by", sa.String(128), nullable=True),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("environment", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_evaluations_version", "evaluations", ["model", "version"])
    op.create_table(
        "version_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_version_notes_version", "version_notes", ["model", "version"])
    op.create_table(
        "branches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("base", sa.String(64), nullable=True),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("merged", sa.JSON, nullable=True),
        sa.UniqueConstraint("model", "name", name="uq_branches_model_name"),
    )


    with op.batch_alter_table("webhooks") as batch:  # mk watch: a subscription to one model or dataset
        batch.add_column(sa.Column("subject", sa.String(300), nullable=True))
        batch.add_column(sa.Column("bumps", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("bumps")
        batch.drop_column("subject")
    op.drop_table("branches")
    op.drop_table("version_notes")
    op.drop_table("evaluations")
