"""Runs: params, metric step series, tags, artifacts, captured environment and code.

Revision ID: 0004_runs
Revises: 0003_datasets
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_runs"
down_revision = "0003_datasets"


def _run_fk(table: str) -> sa.Column:
    return sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE", name=f"fk_{table}_run_id_runs"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command", sa.JSON, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("environment", sa.JSON, nullable=True),
        sa.Column("code", sa.JSON, nullable=True),
        sa.Column("seeds", sa.JSON, nullable=True),
        sa.Column("warnings", sa.JSON, nullable=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_project_started", "runs", ["project", "started_at"])
    op.create_table(
        "run_params",
        _run_fk("run_params"),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_run_params"),
    )
    op.create_table(
        "run_metrics",
        _run_fk("run_metrics"),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("logged_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", "step", name="pk_run_metrics"),
    )
    op.create_table(
        "run_tags",
        _run_fk("run_tags"),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_run_tags"),
    )
    op.create_table(
        "run_artifacts",
        _run_fk("run_artifacts"),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_run_artifacts"),
    )


def downgrade() -> None:
    for table in ("run_artifacts", "run_tags", "run_metrics", "run_params", "runs"):
        op.drop_table(table)
