"""What the MLflow API needs: version numbers per model, model tags, experiments, logged models
and path-addressed artifact files.

Revision ID: 0009_mlflow
Revises: 0008_trust
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_mlflow"
down_revision = "0008_trust"


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("tags", sa.JSON, nullable=True))
        batch.add_column(sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("seq", sa.Integer, nullable=True))
    bind = op.get_bind()
    # Existing versions are numbered in the order they were registered, model by model.
    rows = bind.execute(sa.text("SELECT id, model_id FROM model_versions ORDER BY model_id, id")).all()
    last: dict[int, int] = {}
    for version_id, model_id in rows:
        last[model_id] = last.get(model_id, 0) + 1
        bind.execute(sa.text("UPDATE model_versions SET seq = :seq WHERE id = :id"), {"seq": last[model_id], "id": version_id})
    for model_id, seq in last.items():
        bind.execute(sa.text("UPDATE models SET last_seq = :seq WHERE id = :id"), {"seq": seq, "id": model_id})
    op.create_index("ix_model_versions_model_id_seq", "model_versions", ["model_id", "seq"], unique=True)
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "logged_models",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("experiment_id", sa.Integer, nullable=False, index=True),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("model_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=True),
        sa.Column("tags", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "artifact_files",
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("artifact_files")
    op.drop_table("logged_models")
    op.drop_table("experiments")
    op.drop_index("ix_model_versions_model_id_seq", "model_versions")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("last_seq")
        batch.drop_column("tags")
