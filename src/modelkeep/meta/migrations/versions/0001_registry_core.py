"""Registry core: models, versions, params, metrics, tags, aliases, composites, lineage.

Revision ID: 0001_registry_core
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_registry_core"
down_revision = None


def _version_fk() -> sa.ForeignKey:
    return sa.ForeignKey("model_versions.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", ondelete="CASCADE", name="fk_model_versions_model_id_models"),
            nullable=False,
        ),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sort_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("artifact_kind", sa.String(16), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("artifact_size", sa.Integer, nullable=False),
        sa.Column("signature", sa.JSON, nullable=True),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("environment", sa.JSON, nullable=True),
        sa.Column("code", sa.JSON, nullable=True),
        sa.Column("composite_config", sa.JSON, nullable=True),
        sa.Column(
            "parent_id",
            sa.Integer,
            sa.ForeignKey(
                "model_versions.id",
                ondelete="SET NULL",
                name="fk_model_versions_parent_id_model_versions",
            ),
            nullable=True,
        ),
        sa.Column("bump", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model_id", "sort_key", name="uq_model_versions_model_id_sort_key"),
    )
    op.create_table(
        "version_params",
        sa.Column("version_id", sa.Integer, _version_fk(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("value_num", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("version_id", "key", name="pk_version_params"),
    )
    op.create_table(
        "version_metrics",
        sa.Column("version_id", sa.Integer, _version_fk(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("dataset", sa.String(255), nullable=False),
        sa.Column("split", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "key", "dataset", "split", name="pk_version_metrics"),
    )
    op.create_table(
        "version_tags",
        sa.Column("version_id", sa.Integer, _version_fk(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "key", name="pk_version_tags"),
    )
    op.create_table(
        "aliases",
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", ondelete="CASCADE", name="fk_aliases_model_id_models"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey(
                "model_versions.id", ondelete="RESTRICT", name="fk_aliases_version_id_model_versions"
            ),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "name", name="pk_aliases"),
    )
    op.create_index("ix_aliases_version_id", "aliases", ["version_id"])
    op.create_table(
        "composite_components",
        sa.Column(
            "composite_id",
            sa.Integer,
            sa.ForeignKey(
                "model_versions.id",
                ondelete="CASCADE",
                name="fk_composite_components_composite_id_model_versions",
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column(
            "component_id",
            sa.Integer,
            sa.ForeignKey(
                "model_versions.id",
                ondelete="RESTRICT",
                name="fk_composite_components_component_id_model_versions",
            ),
            nullable=False,
        ),
        sa.Column("role", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("composite_id", "position", name="pk_composite_components"),
    )
    op.create_index(
        "ix_composite_components_component_id", "composite_components", ["component_id"]
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("src", sa.String(300), nullable=False),
        sa.Column("dst", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
        sa.UniqueConstraint("src", "dst", "kind", name="uq_lineage_edges_src_dst_kind"),
    )
    op.create_index("ix_lineage_edges_dst", "lineage_edges", ["dst"])


def downgrade() -> None:
    for table in (
        "lineage_edges",
        "composite_components",
        "aliases",
        "version_tags",
        "version_metrics",
        "version_params",
        "model_versions",
        "models",
    ):
        op.drop_table(table)
