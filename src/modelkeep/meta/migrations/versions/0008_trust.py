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


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("mac")
    op.drop_table("id_sequences")
