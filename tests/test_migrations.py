from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from modelkeep.meta import collaboration_tables  # noqa: F401  (its tables join Base.metadata)
from modelkeep.meta.db import SCHEMA_HEAD, connect, current_revision, open_database
from modelkeep.meta.migrate import head_revision, upgrade
from modelkeep.meta.tables import Base


def _schema(url: str) -> dict[str, object]:
    db = connect(url)
    insp = inspect(db.engine)
    schema = {
        table: (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)),
            sorted(i["name"] for i in insp.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            insp.get_pk_constraint(table)["constrained_columns"],
        )
        for table in sorted(insp.get_table_names())
    }
    db.dispose()
    return schema


def test_head_constant_matches_alembic() -> None:
    assert head_revision() == SCHEMA_HEAD


def test_fresh_and_upgraded_databases_reach_the_same_schema(db_url: str, pg_or_tmp_second: str) -> None:
    fresh = open_database(db_url)
    assert current_revision(fresh) == SCHEMA_HEAD
    fresh.dispose()

    old = connect(pg_or_tmp_second)
    upgrade(old, "0001_registry_core")
    assert current_revision(old) == "0001_registry_core"
    upgrade(old)  # what `mk init` / opening does for an older repository
    assert current_revision(old) == SCHEMA_HEAD
    old.dispose()

    assert _schema(db_url) == _schema(pg_or_tmp_second)
    assert _schema(db_url)["run_metrics"][3] == ["run_id", "key", "step", "logged_at"]  # several points at a step


def test_migrations_match_the_table_definitions(db_url: str) -> None:
    db = open_database(db_url)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_existing_built_in_roles_gain_the_deployment_permissions(db_url: str) -> None:
    from sqlalchemy import text

    old = connect(db_url)
    upgrade(old, "0006_events")
    with old.write_engine.begin() as conn:  # roles as a registry created before deployments has them
        for name, permissions in (("viewer", '["model.read", "data.read", "audit.read"]'),
                                  ("deployer", '["model.read_approved"]'), ("custom", '["model.read"]')):
            conn.execute(text("INSERT INTO roles (name, permissions) VALUES (:n, :p)"), {"n": name, "p": permissions})
    upgrade(old)
    with old.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, permissions FROM roles")).all())
    old.dispose()
    as_list = {k: (v if isinstance(v, list) else json.loads(v)) for k, v in rows.items()}
    assert as_list["deployer"] == ["deployment.invoke", "deployment.read", "deployment.write", "model.read_approved"]
    assert "deployment.read" in as_list["viewer"] and as_list["custom"] == ["model.read"]
