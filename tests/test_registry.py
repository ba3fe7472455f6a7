from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.services.workspace import Workspace


def _artifact(tmp_path: Path, content: str, name: str = "model.bin") -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_register_proposes_patch_then_experiment(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    first = reg.register("fraud", _artifact(tmp_path, "v1"), params={"depth": 3}, metrics={"auc": 0.9})
    assert (first.version, first.bump) == ("1.0.0.0.0", "initial")
    second = reg.register("fraud", _artifact(tmp_path, "v2"), params={"depth": 5}, metrics={"auc": 0.92})
    assert (second.version, second.bump) == ("1.0.1.0.0", "patch")
    assert second.reasons == ["hyperparameters changed: depth 3 → 5"]
    assert second.parent == "1.0.0.0.0"
    third = reg.register("fraud", _artifact(tmp_path, "v3"), params={"depth": 5}, experiment=True)
    assert (third.version, third.bump) == ("1.0.1.0.1", "experiment")
    # A second experiment from the same parent takes the next free experiment number.
    fourth = reg.register("fraud", _artifact(tmp_path, "v4"), parent="1.0.1", experiment=True)
    assert fourth.version == "1.0.1.0.2"
    shown = reg.get("fraud@1.0.1")
    assert shown.bump == "patch" and shown.reasons == second.reasons
    assert shown.digest == second.digest and len(shown.digest or "") == 64


def test_data_bump_from_linked_datasets(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    first = any_workspace.datasets.add(data, "train")
    data.write_text("a,b\n1,2\n3,4\n")
    second = any_workspace.datasets.add(data, "train")
    reg.register("m", _artifact(tmp_path, "a"), data=["train@1"])
    v = reg.register("m", _artifact(tmp_path, "b"), data=[f"train@{second.digest[:10]}"])
    assert v.bump == "data" and v.version == "1.0.0.1.0"
    assert v.data == ["train@2"]  # stored canonically, whatever form was given
    assert v.reasons == ["training data changed: train@1 → train@2"]
    assert first.number == 1
    with pytest.raises(NotFound, match="no version 7"):
        reg.register("m", _artifact(tmp_path, "c"), data=["train@7"])


def test_specs_and_aliases_resolve(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    for version in ("1.0.0", "1.2.0", "1.2.3", "2.0.0", "2.1.0.1"):
        reg.register("m", _artifact(tmp_path, version), version=version)
    assert reg.get("m@latest").version == "2.1.0.1.0"
    assert reg.get("m").version == "2.1.0.1.0"
    assert reg.get("m@1.2.*").version == "1.2.3.0.0"
    assert reg.get("m@^1.0").version == "1.2.3.0.0"
    assert reg.get("m@~1.2.0").version == "1.2.3.0.0"
    assert reg.get("m@1.2.0").version == "1.2.0.0.0"
    reg.set_alias("m@1.2.0", "production")
    assert reg.get("m@production").version == "1.2.0.0.0"
    reg.set_alias("m@2.0.0", "production")  # moving an alias
    assert reg.get("m@production").version == "2.0.0.0.0"
    assert reg.get("m@2.0.0").aliases == ["production"]
    with pytest.raises(NotFound, match="no version of m matches"):
        reg.get("m@3.*")
    with pytest.raises(NotFound, match="alias 'staging'|'staging'"):
        reg.get("m@staging")
    reg.delete_alias("m", "production")
    with pytest.raises(NotFound):
        reg.get("m@production")


def test_explicit_version_conflict_and_bad_input(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    reg.register("m", _artifact(tmp_path, "a"), version="1.0.0")
    with pytest.raises(Conflict, match="already exists"):
        reg.register("m", _artifact(tmp_path, "b"), version="1.0.0.0.0")
    with pytest.raises(InvalidInput, match="MAJOR.MINOR"):
        reg.register("m", _artifact(tmp_path, "b"), version="1.2.x")
    with pytest.raises(InvalidInput, match="invalid model name"):
        reg.register("bad name", _artifact(tmp_path, "b"))
    with pytest.raises(InvalidInput, match="does not exist"):
        reg.register("m", tmp_path / "missing.bin")
    with pytest.raises(InvalidInput, match="dataset name"):
        reg.register("m", data=["no such/name@1"])
    with pytest.raises(InvalidInput, match="metadata"):
        reg.register("m", metadata={"business": {"risk_tier": "extreme"}})
    # Nothing half-written: still exactly one version.
    assert [v.version for v in reg.list_versions("m")] == ["1.0.0.0.0"]


def test_explicit_bump_part(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    reg.register("m", _artifact(tmp_path, "a"))
    v = reg.register("m", _artifact(tmp_path, "b"), bump="major")
    assert (v.version, v.bump) == ("2.0.0.0.0", "major")


def test_metadata_is_validated_and_stored(workspace: Workspace, tmp_path: Path) -> None:
    meta = {
        "compute": {"cpu_cores": 2, "memory_mb": 512, "latency_budget_ms": 20},
        "business": {"owner": "risk-team", "purpose": "card fraud", "risk_tier": "high"},
        "deployment": {"platforms": ["linux/amd64"], "max_batch_size": 64},
    }
    v = workspace.registry.register("m", _artifact(tmp_path, "a"), metadata=meta, tags={"team": "risk"})
    shown = workspace.registry.get("m@latest")
    assert shown.metadata == v.metadata
    assert shown.metadata is not None and shown.metadata["business"]["risk_tier"] == "high"
    assert shown.tags == {"team": "risk"}


def test_composite_pins_components(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    a = reg.register("a", _artifact(tmp_path, "a"))
    b = reg.register("b", _artifact(tmp_path, "b"))
    config = {"strategy": "weighted", "weights": [0.7, 0.3]}
    ens = reg.register("ens", components=[a.ref, b.ref], composite_config=config)
    assert ens.components == [a.ref, b.ref]
    assert ens.composite_config == config
    assert ens.artifact_kind == "composite"
    with pytest.raises(Conflict, match="pinned by composite ens@1.0.0.0.0"):
        reg.delete_version(a.ref)
    a2 = reg.register("a", _artifact(tmp_path, "a2"), params={"x": 1})
    ens2 = reg.register("ens", components=[a2.ref, b.ref], composite_config=config)
    assert ens2.bump == "patch" and ens2.reasons == [f"component a {a.version} → {a2.version}"]
    ens3 = reg.register("ens", components=[a2.ref, b.ref], composite_config={"strategy": "weighted", "weights": [0.5, 0.5]})
    assert ens3.reasons == ["combination config changed"]
    with pytest.raises(InvalidInput, match="weights for 2 components"):
        reg.register("ens", components=[a2.ref, b.ref], composite_config={"strategy": "weighted", "weights": [1.0]})
    with pytest.raises(InvalidInput, match="strategy"):
        reg.register("ens", components=[a2.ref], composite_config={"strategy": "magic"})
    pipeline = reg.register(
        "pipe", components=[a2.ref, b.ref], composite_config={"strategy": "pipeline", "order": [1, 0]}
    )
    assert pipeline.composite_config == {"strategy": "pipeline", "order": [1, 0]}


def test_delete_rules(any_workspace: Workspace, tmp_path: Path) -> None:
    reg = any_workspace.registry
    v1 = reg.register("m", _artifact(tmp_path, "a"))
    v2 = reg.register("m", _artifact(tmp_path, "b"), params={"k": 1})
    reg.set_alias(v2.ref, "production")
    with pytest.raises(Conflict, match="held by alias production"):
        reg.delete_version(v2.ref)
    reg.delete_version(v1.ref)
    assert [v.version for v in reg.list_versions("m")] == [v2.version]
    assert reg.get(v2.ref).parent is None  # the parent is gone; the child stays intact
    assert reg.delete_model("m") == 1
    with pytest.raises(NotFound):
        reg.get("m")


def test_list_models(workspace: Workspace, tmp_path: Path) -> None:
    reg = workspace.registry
    reg.register("a", _artifact(tmp_path, "a"))
    reg.register("b", _artifact(tmp_path, "b"))
    reg.set_alias("b@latest", "production")
    models = {m.name: m for m in reg.list_models()}
    assert models["a"].versions == 1 and models["a"].latest == "1.0.0.0.0"
    assert models["b"].aliases == {"production": "1.0.0.0.0"}


def test_folder_artifacts_dedupe_and_materialize(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "sub" / "config.json").write_text("{}")
    v = workspace.registry.register("m", folder)
    assert v.artifact_kind == "tree" and v.artifact_size == 1002
    out = workspace.store.materialize("tree", v.digest or "", tmp_path / "out")
    assert (out / "weights.bin").read_bytes() == b"w" * 1000
    assert (out / "sub" / "config.json").read_text() == "{}"


def test_registries_on_one_database_share_parent_snapshots_but_read_tags_afresh(any_workspace: Workspace,
                                                                                tmp_path: Path) -> None:
    """The server makes a Registry per request; what the bump proposal needs of a parent is kept across them,
    except its tags, which may change after registration (a task tag moved is not a major change any more)."""
    first = any_workspace.registry.register("fraud", _artifact(tmp_path, "v1"), tags={"task": "fraud"})
    request = any_workspace.as_user(any_workspace.access.actor)  # another Registry on the same database
    second = request.registry.register("fraud", _artifact(tmp_path, "v2"), tags={"task": "churn"})
    assert second.bump == "major" and "task changed: fraud → churn" in second.reasons
    any_workspace.model_records.update_version("fraud", second.seq, tags={"task": "fraud"})
    third = any_workspace.as_user(any_workspace.access.actor).registry.register(
        "fraud", _artifact(tmp_path, "v3"), tags={"task": "fraud"})
    assert third.parent == second.version and third.bump != "major", third.reasons
    assert first.seq == 1


def test_a_search_reads_versions_as_rows_that_agree_with_the_listing(any_workspace: Workspace, tmp_path: Path) -> None:
    """MLflow's version search reads rows straight from the driver (timestamps and reasons as SQLite
    hands back text and PostgreSQL decodes them): the same values as the registry's full views."""
    reg = any_workspace.registry
    reg.register("fraud", _artifact(tmp_path, "v1"), params={"depth": 3}, tags={"team": "risk"})
    reg.register("fraud", _artifact(tmp_path, "v2"), params={"depth": 5}, description="deeper")
    reg.set_alias("fraud@1.0.0", "production")
    reg.set_alias("fraud@1.0.0", "fallback")
    rows, views = any_workspace.model_records.rows("fraud"), any_workspace.registry.list_versions("fraud")
    assert [(r.seq, r.version, r.reasons, r.created_at, r.tags, r.aliases, r.description, r.digest) for r in rows] == [
        (v.seq, v.version, v.reasons, v.created_at, v.tags, v.aliases, v.description, v.digest) for v in views]
    assert rows[1].reasons == ["hyperparameters changed: depth 3 → 5"] and rows[0].aliases == ["fallback", "production"]
    assert rows[0].tags == {"team": "risk"} and rows[1].description == "deeper"
    with pytest.raises(NotFound):
        any_workspace.model_records.rows("nope")


def test_one_version_reads_with_its_own_tags_and_sorted_aliases(any_workspace: Workspace) -> None:
    """MLflow's get and get-by-alias (``ModelRecords.listed``, two statements) on SQLite and PostgreSQL:
    the version's own tags, its aliases in order, and a refusal naming what is missing."""
    records = any_workspace.model_records
    any_workspace.registry.register("pair", params={"a": 1}, tags={"t": "x", "u": "y"})
    any_workspace.registry.register("pair", params={"a": 2})
    for alias in ("zeta", "alpha"):
        any_workspace.registry.set_alias("pair@latest", alias)
    second = records.listed("pair", alias="zeta")
    assert (second.seq, second.aliases, second.tags) == (2, ["alpha", "zeta"], {})
    first = records.listed("pair", number=1)
    assert (first.seq, first.aliases, first.tags) == (1, [], {"t": "x", "u": "y"})
    assert [(r.seq, r.aliases) for r in records.rows("pair")] == [(1, []), (2, ["alpha", "zeta"])]
    for missing, said in ((lambda: records.listed("pair", number=9), "no version number 9"),
                          (lambda: records.listed("pair", alias="nope"), "no version or alias 'nope'"),
                          (lambda: records.listed("ghost", number=1), "model 'ghost' does not exist")):
        with pytest.raises(NotFound, match=said):
            missing()


def test_model_records_and_versions_read_in_bulk_match_those_read_one_by_one(any_workspace: Workspace) -> None:
    """What MLflow's searches read together (every record, every version, a page's latest versions by
    model and number) is what the reads of one model or version give, on either database."""
    ws = any_workspace
    for name, versions in (("alpha", 2), ("beta", 0), ("gamma", 3)):
        ws.model_records.create(name, tags={"team": name[0]})
        for i in range(versions):
            ws.registry.register(name, params={"i": i}, tags={"n": str(i)})
    ws.registry.set_alias("gamma@1.0.1", "champion")
    records = ws.model_records.every()
    assert records == [ws.model_records.get(name) for name in ("alpha", "beta", "gamma")]
    assert [r.latest for r in records] == [2, None, 3] and records[2].aliases == {"champion": 2}
    assert ws.model_records.every_row() == [*ws.model_records.rows("alpha"), *ws.model_records.rows("gamma")]
    wanted = [("gamma", 2), ("alpha", 1), ("beta", 1), ("gamma", 9)]  # beta has none, gamma no 9: left out
    found = ws.model_records.listed_many(wanted)
    assert set(found) == {("gamma", 2), ("alpha", 1)}
    for (name, number), view in found.items():
        assert view == ws.model_records.listed(name, number=number)
    assert found[("gamma", 2)].aliases == ["champion"] and found[("alpha", 1)].tags["n"] == "0"
