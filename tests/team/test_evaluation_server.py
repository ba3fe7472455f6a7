"""Evaluations, the gate, notes and cards through `mk server` (issue 14): scoring runs on the
client (the server never loads a model on someone's behalf); records, notes and the audit are the
server's, on the same service interface as locally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelkeep.client.connect import connect
from modelkeep.services.evaluation.card import card
from modelkeep.services.evaluation.compare import ComparePolicy, MetricRule
from modelkeep.services.evaluation.gate import gate
from modelkeep.services.evaluation.records import NoteRequest
from modelkeep.services.evaluation.scoring import evaluate
from tests.live_server import server  # noqa: F401  (the fixture)

pytest.importorskip("sklearn")


@pytest.fixture
def conn(server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:  # noqa: F811
    monkeypatch.setenv("MODELKEEP_URL", server["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", server["carl"])
    monkeypatch.chdir(tmp_path)
    connection = connect()
    yield connection
    connection.close()


def test_evaluate_gate_note_and_card_through_the_server(conn: object, tmp_path: Path,
                                                        server: dict[str, str]) -> None:  # noqa: F811
    from sklearn.linear_model import LogisticRegression

    from modelkeep.flavors import save_model

    rng = np.random.default_rng(5)
    x = rng.normal(size=(1500, 3))
    y = (x[:, 0] - x[:, 1] > 0).astype(int)
    lines = ["a,b,c,label"] + [f"{r[0]:.5f},{r[1]:.5f},{r[2]:.5f},{t}" for r, t in zip(x, y, strict=True)]
    (tmp_path / "eval.csv").write_text("\n".join(lines) + "\n")
    data = conn.datasets.add(tmp_path / "eval.csv", "remote-holdout").ref  # type: ignore[attr-defined]
    refs = []
    for i, cols in enumerate(([0], [0, 1])):
        model = LogisticRegression().fit(np.where(np.isin(np.arange(3), cols), x, 0.0), y)
        save_model(model, tmp_path / f"m{i}", "sklearn")
        refs.append(conn.registry.register("remote-eval", tmp_path / f"m{i}").ref)  # type: ignore[attr-defined]
    weak, strong = refs
    first = evaluate(conn, strong, data)
    assert evaluate(conn, strong, data).id == first.id  # found on the server: reused
    verdict = gate(conn, strong, weak, ComparePolicy(data=data, resamples=200, rules=[MetricRule(metric="accuracy")]))
    assert verdict.verdict == "pass" and set(verdict.evaluations) == {strong, weak}
    conn.evaluations.note(NoteRequest(ref=strong, kind="decision", text="two features beat one"))  # type: ignore[attr-defined]
    assert [n.text for n in conn.evaluations.notes(strong)] == ["two features beat one"]  # type: ignore[attr-defined]
    text = card(conn, strong)
    assert "two features beat one" in text and first.dataset_digest in text and "model-index" in text
    store = Path(server["root"]) / ".modelkeep" / "objects"
    assert not list((store / "leases").glob("*"))  # every write's lease ended with it (client's and server's)
    assert list((store / "journal").glob("*"))  # and named what it stored


def test_a_lease_is_its_takers(server: dict[str, str]) -> None:  # noqa: F811
    import json

    import httpx

    lease = "leases/1700000000000-0123456789ab"
    url = f"{server['url']}/api/v1/store/objects/{lease}"

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {server[who]}"}

    taken = httpx.put(url, content=b'{"purpose": "ingest", "expires": 1}', headers=auth("carl"), timeout=10)
    assert taken.status_code == 201, taken.text
    stored = Path(server["root"]) / ".modelkeep" / "objects" / lease
    assert json.loads(stored.read_text())["owner"] == "carl"
    stored.write_text(json.dumps({"purpose": "ingest", "expires": 1, "owner": "someone-else"}))
    refused = httpx.delete(url, headers=auth("carl"), timeout=10)
    assert refused.status_code == 403 and "someone-else's lease" in refused.text
    assert httpx.put(url, content=b"{}", headers=auth("carl"), timeout=10).status_code == 403
    assert httpx.put(url, content=b"not json", headers=auth("carl"), timeout=10).status_code in (422, 403)
    assert httpx.delete(url, headers=auth("admin"), timeout=10).status_code == 204 and not stored.exists()
    journal = httpx.put(f"{server['url']}/api/v1/store/objects/journal/1700000000000-0123456789ab", content=b"[1]",
                        headers=auth("carl"), timeout=10)
    assert journal.status_code == 422  # a JSON object, or nothing
