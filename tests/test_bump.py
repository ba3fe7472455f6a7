from __future__ import annotations

from modelkeep.services.models.bump import Snapshot, propose
from modelkeep.version import Part

SIG = {"inputs": [{"name": "amount", "type": "double"}], "outputs": [{"name": "p", "type": "double"}]}


def base(**changes: object) -> Snapshot:
    snap = Snapshot(params={"depth": "3"}, signature=SIG, data=["train@1"], digest="a" * 64)
    for key, value in changes.items():
        setattr(snap, key, value)
    return snap


def test_param_change_is_patch_with_reason() -> None:
    part, reasons = propose(base(), base(params={"depth": "5"}, digest="b" * 64))
    assert part is Part.PATCH
    assert reasons == ["hyperparameters changed: depth 3 → 5"]


def test_only_data_versions_changed_is_data() -> None:
    part, reasons = propose(base(), base(data=["train@2"], digest="b" * 64))
    assert part is Part.DATA
    assert reasons == ["training data changed: train@1 → train@2"]


def test_new_data_source_and_new_feature_are_minor() -> None:
    sig = {"inputs": [*SIG["inputs"], {"name": "country", "type": "string"}], "outputs": SIG["outputs"]}
    part, reasons = propose(base(), base(data=["train@1", "geo@1"], signature=sig))
    assert part is Part.MINOR
    assert "new data sources: geo" in reasons
    assert "new input features: country" in reasons


def test_output_schema_task_or_architecture_change_is_major() -> None:
    sig = {"inputs": SIG["inputs"], "outputs": [{"name": "label", "type": "string"}]}
    assert propose(base(), base(signature=sig))[0] is Part.MAJOR
    part, reasons = propose(base(tags={"architecture": "gbm"}), base(tags={"architecture": "transformer"}))
    assert part is Part.MAJOR and reasons == ["architecture family changed: gbm → transformer"]
    part, _ = propose(base(metadata={"task": "classification"}), base(metadata={"task": "regression"}))
    assert part is Part.MAJOR


def test_experiment_flag_wins_and_keeps_reasons() -> None:
    part, reasons = propose(base(), base(params={"depth": "4"}), experiment=True)
    assert part is Part.EXPERIMENT
    assert reasons[0] == "marked as an experiment" and "hyperparameters" in reasons[1]


def test_no_change_defaults_to_patch_and_says_so() -> None:
    part, reasons = propose(base(), base())
    assert part is Part.PATCH and "no difference" in reasons[0]


def test_params_and_data_changed_is_patch_listing_both() -> None:
    part, reasons = propose(base(), base(params={"depth": "4"}, data=["train@2"]))
    assert part is Part.PATCH
    assert any("training data changed" in r for r in reasons)


def test_composite_component_and_config_changes() -> None:
    old = Snapshot(components=["a@1.0.0.0.0", "b@1.0.0.0.0"], composite_config={"strategy": "average"})
    new = Snapshot(components=["a@1.0.1.0.0", "b@1.0.0.0.0"], composite_config={"strategy": "average"})
    assert propose(old, new) == (Part.PATCH, ["component a 1.0.0.0.0 → 1.0.1.0.0"])
    weighted = Snapshot(components=old.components, composite_config={"strategy": "weighted", "weights": [1, 2]})
    assert propose(old, weighted)[0] is Part.MINOR
    added = Snapshot(components=[*old.components, "c@1.0.0.0.0"], composite_config={"strategy": "average"})
    assert propose(old, added)[0] is Part.MINOR
