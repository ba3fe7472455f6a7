"""A metric row names its version's model, so a model's versions can be ranked by a metric on an index.

"The best 50 versions of this model by auc" walks ``(model_id, key, value)`` and stops at a page
instead of joining each of the model's versions to its metrics and sorting them all.

Revision ID: 0013_metric_model
Revises: 0012_gateway_windows
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_metric_model"
down_revision = "0012_gateway_windows"


def upgrade() -> None:
    op.add_column("version_metrics", sa.Column("model_id", sa.Integer, nullable=True))
    op.execute("UPDATE version_metrics SET model_id = "
               "(SELECT model_id FROM model_versions WHERE model_versions.id = version_metrics.version_id)")
    op.create_index("ix_version_metrics_model_key_value", "version_metrics", ["model_id", "key", "value"])


def downgrade() -> None:
    op.drop_index("ix_version_metrics_model_key_value", table_name="version_metrics")
    with op.batch_alter_table("version_metrics") as batch:
        batch.drop_column("model_id")
