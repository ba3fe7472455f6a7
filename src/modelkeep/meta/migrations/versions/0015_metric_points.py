"""A run keeps every point of a metric MLflow's client logs, several at one step included: a point is
one per run, key, step *and moment* (the moment was not part of the key, so a point at a step
already logged replaced it, where MLflow keeps both).

Revision ID: 0015_metric_points
Revises: 0014_webhook_fields
"""

from alembic import op

revision = "0015_metric_points"
down_revision = "0014_webhook_fields"


def upgrade() -> None:
    with op.batch_alter_table("run_metrics") as batch:  # PostgreSQL alters in place; SQLite copies the table
        batch.drop_constraint("pk_run_metrics", type_="primary")
        batch.create_primary_key("pk_run_metrics", ["run_id", "key", "step", "logged_at"])


def downgrade() -> None:
    # several points at one step would break the narrower key: the last one logged stays
    op.execute("DELETE FROM run_metrics WHERE EXISTS (SELECT 1 FROM run_metrics later WHERE later.run_id = "
               "run_metrics.run_id AND later.key = run_metrics.key AND later.step = run_metrics.step "
               "AND later.logged_at > run_metrics.logged_at)")
    with op.batch_alter_table("run_metrics") as batch:  # PostgreSQL alters in place; SQLite copies the table
        batch.drop_constraint("pk_run_metrics", type_="primary")
        batch.create_primary_key("pk_run_metrics", ["run_id", "key", "step"])
