"""A run MLflow's client deletes goes to the trash (MLflow's lifecycle stage ``deleted``) and can be
restored, as in MLflow: ``runs.deleted_at``. modelkeep's own ``mk runs delete`` still removes a run.

Revision ID: 0016_run_trash
Revises: 0015_metric_points
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_run_trash"
down_revision = "0015_metric_points"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deleted_at")
