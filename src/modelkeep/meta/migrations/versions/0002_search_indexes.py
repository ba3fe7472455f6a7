"""Indexes that keep search fast at a million versions.

Revision ID: 0002_search_indexes
Revises: 0001_registry_core
"""

from alembic import op

revision = "0002_search_indexes"
down_revision = "0001_registry_core"

INDEXES = [
    ("ix_model_versions_created_at", "model_versions", ["created_at"]),
    ("ix_model_versions_sort_key", "model_versions", ["sort_key"]),
    ("ix_model_versions_digest", "model_versions", ["digest"]),
    ("ix_version_params_key_value", "version_params", ["key", "value"]),
    ("ix_version_params_key_num", "version_params", ["key", "value_num"]),
    ("ix_version_metrics_key_value", "version_metrics", ["key", "value"]),
    ("ix_version_tags_key_value", "version_tags", ["key", "value"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
