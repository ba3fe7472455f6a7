"""Gateway replicas' closed analysis windows, pooled to judge a deployment on all its traffic.

Revision ID: 0012_gateway_windows
Revises: 0011_evaluations
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_gateway_windows"
down_revision = "0011_evaluations"


def upgrade() -> None:
    op.create_table(
        "gateway_windows",
        sa.Column("deployment_id", sa.Integer,
                  sa.ForeignKey("deployments.id", ondelete="CASCADE", name="fk_gateway_windows_deployment_id_deployments"),
                  nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("window_no", sa.BigInteger, nullable=False),
        sa.Column("gateway", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("summaries", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "revision", "window_no", "gateway", name="pk_gateway_windows"),
    )


def downgrade() -> None:
    op.drop_table("gateway_windows")
