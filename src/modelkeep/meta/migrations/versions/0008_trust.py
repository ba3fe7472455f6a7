"""Run ids that are never reused; a keyed MAC on each audit entry.

Revision ID: 0008_trust
Revises: 0007_deployments
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0008_trust"
down_revision = "0007_deployments"


def upgrade() -> None:
    op.create_table(
        "id_sequences",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_value", sa.Integer, nullable=False),
    )
    bind = op.get_bind()
    top = bind.execute(sa.text("SELECT max(id) FROM runs")).scalar() or 0
    # Runs deleted before this migration left their ids in the audit log: never hand those out again.
    for (target,) in bind.execute(sa.text("SELECT target FROM audit_log WHERE target LIKE 'run:%'")):
        match = re.fullmatch(r"run:(\d+)", target)
        if match:
            top = max(top, int(match.group(1)))
    bind.execute(sa.text("INSERT INTO id_sequences (name, last_value) VALUES ('runs', :top)"), {"top": top})
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("mac", sa.String(64), nullable=True))
    # Alias names are case-folded from now on; existing ones follow unless a lower-case twin exists
    # (then the mixed-case one keeps its name and can only be deleted by an admin in the database).
    bind.execute(sa.text(
        "UPDATE aliases SET name = lower(name) WHERE name <> lower(name) AND NOT EXISTS "
        "(SELECT 1 FROM aliases other WHERE other.model_id = aliases.model_id AND other.name = lower(aliases.name))"))
    bind.execute(sa.text("UPDATE alias_history SET alias = lower(alias)"))
    bind.execute(sa.text("UPDATE promotion_requests SET alias = lower(alias)"))
    bind.execute(sa.text(
        "UPDATE protected_aliases SET alias = lower(alias) WHERE alias <> lower(alias) AND NOT EXISTS "
        "(SELECT 1 FROM protected_aliases other WHERE other.model = protected_aliases.model "
        "AND other.alias = lower(protected_aliases.alias))"))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("mac")
    op.drop_table("id_sequences")
