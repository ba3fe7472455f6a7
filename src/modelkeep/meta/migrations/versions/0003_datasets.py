"""Datasets, their versions and partitions; artifact sizes beyond 2 GiB.

Revision ID: 0003_datasets
Revises: 0002_search_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_datasets"
down_revision = "0002_search_indexes"


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("partition_key", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE", name="fk_dataset_versions_dataset_id_datasets"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("root_kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("bytes_new", sa.BigInteger, nullable=False),
        sa.Column("bytes_stored", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_dataset_id_number"),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])
    op.create_table(
        "dataset_partitions",
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey(
                "dataset_versions.id", ondelete="CASCADE", name="fk_dataset_partitions_version_id_dataset_versions"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "name", name="pk_dataset_partitions"),
    )
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("artifact_size", type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("artifact_size", type_=sa.Integer, existing_type=sa.BigInteger, existing_nullable=False)
    op.drop_table("dataset_partitions")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
