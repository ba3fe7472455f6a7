from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.errors import InvalidInput
from modelkeep.services.models.search import search_versions
from modelkeep.services.workspace import Workspace


@pytest.fixture
def populated(any_workspace: Workspace, tmp_path: Path) -> Workspace:
    reg = any_workspace.registry
    for i in range(12):
        path = tmp_path / f"m{i}"
        path.write_text(str(i))
        reg.register(
            "fraud" if i % 2 == 0 else "churn",
            path,
            params={"depth": i, "optimizer": "adam" if i < 6 else "sgd"},
            metrics={"auc": 0.80 + i / 100, "loss[test]": 1.0 - i / 20},
            tags={"team": "risk" if i % 3 == 0 else "growth"},
        )
    reg.set_alias("fraud@latest", "production")
    return any_workspace


def names(page: object) -> list[str]:
    return [v.ref for v in page.results]  # type: ignore[attr-defined]


def test_filter_language(populated: Workspace) -> None:
    db = populated.db
    page = search_versions(db, "metrics.auc > 0.85 and tags.team = 'risk' and version >= 1.0.1")
    assert all(v.metrics["auc"] > 0.85 and v.tags["team"] == "risk" for v in page.results)
    assert {v.ref for v in page.results} == {"fraud@1.0.3.0.0", "churn@1.0.4.0.0"}
    assert len(search_versions(db, "name = 'fraud'").results) == 6
    assert len(search_versions(db, "params.depth >= 10").results) == 2
    assert len(search_versions(db, "params.optimizer = 'sgd'").results) == 6
    assert names(search_versions(db, "alias = 'production'")) == ["fraud@1.0.5.0.0"]
    assert len(search_versions(db, "metrics.loss < 0.5").results) == 1
    assert len(search_versions(db, "name like 'fr%' and not tags.team = 'risk'").results) == 4
    assert len(search_versions(db, "(name = 'fraud' or name = 'churn') and version < 1.0.1").results) == 2
    assert len(search_versions(db, "tags.team in ('risk', 'growth')").results) == 12
    assert len(search_versions(db, "created_at > 2000-01-01 and created_by = 'tester'").results) == 12
    assert len(search_versions(db, "bump = 'patch'").results) == 10


def test_order_and_cursor_pagination(populated: Workspace) -> None:
    db = populated.db
    seen: list[str] = []
    cursor = None
    while True:
        page = search_versions(db, "", order_by="metrics.auc desc", limit=5, cursor=cursor)
        seen.extend(names(page))
        cursor = page.next_cursor
        if cursor is None:
            break
    aucs = [populated.registry.get(ref).metrics["auc"] for ref in seen]
    assert len(seen) == 12 == len(set(seen))
    assert aucs == sorted(aucs, reverse=True)
    by_version = names(search_versions(db, "name = 'fraud'", order_by="version", limit=100))
    assert by_version == [f"fraud@1.0.{i}.0.0" for i in range(6)]
    with pytest.raises(InvalidInput, match="different filter"):
        first = search_versions(db, "", order_by="version", limit=2)
        search_versions(db, "name = 'x'", order_by="version", cursor=first.next_cursor)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("metrics.auc >", "expected a value"),
        ("metrics.auc > high", "compares numbers"),
        ("colour = 'red'", "unknown field"),
        ("version >= 1.x", "MAJOR.MINOR"),
        ("name = 'a' and", "expected a field"),
        ("(name = 'a'", "expected"),
        ("created_at > yesterday", "ISO date"),
        ("name ! 'a'", "unexpected character|operator"),
    ],
)
def test_bad_filters_say_what_is_valid(workspace: Workspace, bad: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        search_versions(workspace.db, bad)


def test_bad_order_and_limit(workspace: Workspace) -> None:
    with pytest.raises(InvalidInput, match="cannot order by"):
        search_versions(workspace.db, "", order_by="colour")
    with pytest.raises(InvalidInput, match="limit"):
        search_versions(workspace.db, "", limit=0)
    with pytest.raises(InvalidInput, match="cursor"):
        search_versions(workspace.db, "", cursor="!!notacursor")


def test_exists_and_in_strategies_agree(populated: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unselective conditions are probed per version (EXISTS); the answers do not change."""
    import modelkeep.meta.search as search_module

    filters = ["metrics.auc > 0.85 and tags.team = 'risk'", "params.depth >= 3", "tags.team in ('risk', 'growth')"]
    before = [names(search_versions(populated.db, f, limit=100)) for f in filters]
    monkeypatch.setattr(search_module, "SEMIJOIN_CAP", 1)
    after = [names(search_versions(populated.db, f, limit=100)) for f in filters]
    assert before == after and all(before)


def test_walking_the_key_index_orders_and_pages_exactly_as_sorting_every_match(
    any_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SCAN_ABOVE matches, an order by a tag, param or metric walks that key's index; the pages
    must be the same as sorting every match by its value (a version with several values of one key
    by its largest: here a second auc on an evaluation set, sometimes larger, sometimes equal)."""
    from sqlalchemy import insert, select

    from modelkeep.meta.tables import ModelVersion, VersionMetric
    from modelkeep.services.models import search as search_module

    reg = any_workspace.registry
    evaluated = []
    for i in range(40):
        auc = round(0.5 + (i * 7 % 13) / 40, 3)  # repeated values: ties go by version id
        version = reg.register("fraud" if i % 3 else "churn", params={"depth": i % 5},
                               metrics={"auc": auc}, tags={"team": ("risk", "ops", "growth")[i % 3]})
        if i % 4 == 0:
            evaluated.append({"version_id": version.id, "key": "auc", "dataset": "eval", "split": "test",
                              "value": auc + (0.2 if i % 8 == 0 else 0.0)})
    db = any_workspace.db
    with db.writer() as session, session.begin():
        models = dict(session.execute(select(ModelVersion.id, ModelVersion.model_id)).all())
        session.execute(insert(VersionMetric), [dict(row, model_id=models[row["version_id"]]) for row in evaluated])

    def pages(filter_text: str, order: str) -> list[list[str]]:
        out, cursor = [], None
        while True:
            page = search_versions(db, filter_text, order_by=order, limit=7, cursor=cursor)
            out.append(names(page))
            cursor = page.next_cursor
            if cursor is None:
                return out

    # a filter naming one model walks that model's metric rows only ((model_id, key, value))
    for filter_text in ("", "tags.team = 'risk'", "name = 'fraud' and params.depth >= 2", "name = 'churn'"):
        for order in ("metrics.auc desc", "metrics.auc", "params.depth desc", "tags.team"):
            monkeypatch.setattr(search_module, "SCAN_ABOVE", 10**9)
            sorted_all = pages(filter_text, order)
            monkeypatch.setattr(search_module, "SCAN_ABOVE", 1)
            assert pages(filter_text, order) == sorted_all, (filter_text, order)
            monkeypatch.setattr(search_module, "FIRST_BATCH", 1)  # batches sized by the rate of matches so far
            assert pages(filter_text, order) == sorted_all, (filter_text, order)
            monkeypatch.setattr(search_module, "FIRST_BATCH", 256)
    assert sum(len(p) for p in sorted_all) > 7  # more than one page was compared


def test_a_walk_that_finds_too_few_matches_gives_way_to_sorting(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.services.models import search as search_module

    reg = workspace.registry
    for i in range(30):
        reg.register("rare" if i % 10 == 0 else "common", metrics={"auc": i / 30},
                     tags={"kind": "rare" if i % 10 == 0 else "common"})
    monkeypatch.setattr(search_module, "SCAN_ABOVE", 1)
    monkeypatch.setattr(search_module, "SCAN_BUDGET", 8)  # 3 rare versions among 30: not within 8 rows
    walked = []
    real = search_module._page
    monkeypatch.setattr(search_module, "_page", lambda *args: walked.append(1) or real(*args))
    page = search_versions(workspace.db, "tags.kind = 'rare'", order_by="metrics.auc desc", limit=2)
    assert walked and names(page) == ["rare@1.0.2.0.0", "rare@1.0.1.0.0"]
    walked.clear()  # naming the model, the walk keeps to its rows and finds them at once
    page = search_versions(workspace.db, "name = 'rare'", order_by="metrics.auc desc", limit=2)
    assert not walked and names(page) == ["rare@1.0.2.0.0", "rare@1.0.1.0.0"]


@pytest.mark.parametrize(("text", "model"), [
    ("name = 'fraud'", "fraud"), ("tags.team = 'risk' and name == \"fraud\"", "fraud"),
    ("name = 'fraud' and (tags.a = 'x' or tags.b = 'y')", "fraud"), ("name = 'fraud' or name = 'churn'", None),
    ("not name = 'fraud'", None), ("(name = 'fraud' or tags.a = 'x')", None), ("name like 'fr%'", None),
    ("name = 'fraud' and name = 'churn'", None), ("", None)])
def test_a_filter_pins_one_model_only_when_every_match_must_be_of_it(text: str, model: str | None) -> None:
    from modelkeep.meta.search_language import parse_tree, pinned_model

    assert pinned_model(parse_tree(text)) == model


def test_a_filters_counts_are_kept_a_while_and_never_change_an_answer(populated: Workspace) -> None:
    """The capped counts that pick EXISTS or IN (and walk or sort) are kept in ``db.hints`` for a
    minute: a search repeated within it runs two statements fewer, and answers the same."""
    from sqlalchemy import event

    from modelkeep.meta.db import PlanHints

    now = [0.0]
    db = populated.db
    db.hints = PlanHints(ttl=60.0, clock=lambda: now[0])
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        text = "metrics.auc > 0.85 and tags.team = 'risk'"
        runs = []
        for at in (0.0, 30.0, 61.0):
            now[0] = at
            statements.clear()
            runs.append((names(search_versions(db, text, order_by="params.depth desc")), len(statements),
                         sum("count(*)" in s for s in statements)))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    (first, n_first, counted_first), (kept, n_kept, counted_kept), (expired, n_expired, counted_expired) = runs
    assert first == kept == expired and first
    assert counted_first == 3 and counted_kept == 0 and counted_expired == 3  # two conditions and the match count
    assert n_kept == n_first - 3 and n_expired == n_first


def test_a_personal_registrys_search_reads_it_with_sqlite3_and_answers_the_same(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mk model search`` on a personal registry translates the filter to SQLite's text
    (``meta.sqlite_search``): every filter and order below answers, page by page and cursor by
    cursor, as ``search_versions`` does; a bad one is refused with the same words."""
    from modelkeep.services.models.fast_reads import search as fast_search

    reg = workspace.registry
    (tmp_path / "rows.csv").write_text("a\n1\n")
    workspace.datasets.add(tmp_path / "rows.csv", "rows")
    for i in range(14):
        reg.register("fraud" if i % 3 else "churn", params={"depth": i % 5, "optimizer": ("adam", "sgd")[i % 2]},
                     metrics={"auc": round(0.5 + (i * 7 % 13) / 40, 3), "loss[rows:test]": 1 - i / 20},
                     tags={"team": ("risk", "ops", "growth")[i % 3]} if i % 4 else {},
                     description=f"the {i}" if i % 5 else "", data=["rows@1"] if i % 6 == 0 else None)
    reg.register("pair", components=["fraud@latest", "churn@1.0.0"])
    reg.set_alias("fraud@latest", "production")
    reg.set_alias("churn@1.0.1", "staging")
    monkeypatch.chdir(workspace.config.root)
    filters = ["", "metrics.auc > 0.7 and tags.team = 'risk'", "name = 'fraud'", "not tags.team = 'ops'",
               "params.depth >= 2 or alias = 'staging'", "params.optimizer like 's%'", "version < 1.0.3",
               "tags.team in ('risk', 'ops')", "created_at > 2000-01-01T00:00:00Z and created_by = 'tester'",
               "description != '' and not (name = 'churn' or metrics.loss < 0.6)", "params.depth = '3'",
               "metrics.`auc` >= 0.6 and bump = 'patch'", "alias like 'prod%'", "digest like 'zz%'"]
    orders = [None, "version", "-version", "name desc", "metrics.auc desc", "metrics.auc", "params.depth desc",
              "tags.team", "-created", "description"]
    compared = 0
    for text in filters:
        for order in orders:
            cursor = None
            while True:
                fast = fast_search(text, order_by=order, limit=4, cursor=cursor)
                assert fast is not None, (text, order)
                expected = reg.search(text, order_by=order, limit=4, cursor=cursor)
                assert fast.to_dict() == expected.to_dict(), (text, order, cursor)
                compared += len(expected.results)
                cursor = expected.next_cursor
                if cursor is None:
                    break
    assert compared > 500
    for bad in ("metrics.auc >", "colour = 'red'", "created_at > yesterday", "version like '1%'"):
        with pytest.raises(InvalidInput) as normal:
            reg.search(bad)
        with pytest.raises(InvalidInput) as local:
            fast_search(bad)
        assert str(local.value) == str(normal.value)
    with pytest.raises(InvalidInput, match="different filter"):
        fast_search("name = 'x'", order_by="version", cursor=reg.search("", order_by="version", limit=2).next_cursor)
    assert fast_search("", limit=0) is None  # the normal path says what is valid
    workspace.access.create_user("admin", role="admin")
    assert fast_search("") is None  # with users, reads are checked: the normal path
