"""Webhooks gain what MLflow's webhooks API has: a name, a description, the creator's own signing
secret (sealed with the server key, never in clear) and when the webhook last changed.

Revision ID: 0014_webhook_fields
Revises: 0013_metric_model
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_webhook_fields"
down_revision = "0013_metric_model"

COLUMNS = (("name", sa.String(256)), ("description", sa.Text), ("secret_sealed", sa.Text), ("updated_at", sa.DateTime))


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
