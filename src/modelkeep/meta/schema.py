"""The schema revision this code needs (no SQLAlchemy import, so fast paths can check it)."""

# The newest migration; a test checks it equals Alembic's head.
SCHEMA_HEAD = "0016_run_trash"
