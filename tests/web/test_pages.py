"""The web UI in-process (issue 15): sign-in, what each role sees, forged and cross-session posts
refused by the server, cursor pages in the URL, the approval flow in forms, a rollback button."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import pytest
from starlette.testclient import TestClient

from modelkeep.api.web.data_pages import cluster
from modelkeep.errors import InvalidInput
from modelkeep.services.governance.audit import query
from modelkeep.services.workspace import Workspace
from tests.test_governance import team  # noqa: F401  (fixture)


@pytest.fixture
def ui(team: Callable[[str], Workspace], workspace: Workspace) -> Callable[[str], TestClient]:  # noqa: F811
    """A signed-in browser (cookie jar) per user, on one in-process server."""
    from modelkeep.api.app import create_app

    admin = team("admin")
    app = create_app(workspace, dispatch_webhooks=False)

    def signed_in(who: str) -> TestClient:
        client = TestClient(app)
        token = admin.access.create_token(who)["token"]
        response = client.post("/ui/signin", data={"token": token, "next": "/ui/models"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/models"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        return client

    return signed_in


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_pages_need_a_session_and_a_bad_token_says_why(ui: Callable[[str], TestClient], workspace: Workspace) -> None:
    from modelkeep.api.app import create_app

    anonymous = TestClient(create_app(workspace, dispatch_webhooks=False))
    away = anonymous.get("/ui/models/fraud?metric=auc", follow_redirects=False)
    assert away.status_code == 303
    assert parse_qs(urlparse(away.headers["location"]).query)["next"] == ["/ui/models/fraud?metric=auc"]
    refused = anonymous.post("/ui/signin", data={"token": "mk_00000000_nope", "next": "https://evil.example/"})
    assert refused.status_code == 401 and "unknown API token" in refused.text
    assert 'value="/ui/models"' in refused.text  # the next page is only ever one of this UI's own
    denied = query(workspace.db, action="access.login")[0]
    assert denied["outcome"] == "denied" and denied["target"] == "http:POST /ui/signin"
    assert anonymous.get("/ui/models/fraud/timeline.json").status_code == 401  # data endpoints answer JSON
    assert ui("vera").get("/ui/models").status_code == 200


def test_models_page_filters_sorts_and_pages_with_the_cursor_in_the_url(
        ui: Callable[[str], TestClient], team: Callable[[str], Workspace], tmp_path) -> None:  # noqa: F811
    art, carl = tmp_path / "x.bin", team("carl")
    for i in range(60):
        art.write_text(str(i))
        carl.registry.register(f"m{i:03d}", art, metrics={"auc": i / 100})
    vera = ui("vera")
    first = vera.get("/ui/models")
    names = re.findall(r'<a href="/ui/models/([^"/]+)">', first.text)
    assert names[:3] == ["fraud", "m000", "m001"] and len(names) == 50
    following = re.search(r'href="(/ui/models\?[^"]*cursor=[^"]+)" rel="next"', first.text)
    assert following, "no next-page link"
    second = vera.get(following.group(1).replace("&amp;", "&"))
    rest = re.findall(r'<a href="/ui/models/([^"/]+)">', second.text)
    assert rest[0] == "m049" and rest[-1] == "m059" and 'rel="next"' not in second.text
    assert 'rel="first"' in second.text
    matching = vera.get("/ui/models", params={"filter": "metrics.auc >= 0.58 and metrics.auc < 0.8", "sort": "-name"})
    assert re.findall(r'<a href="/ui/models/([^"/]+)">', matching.text) == ["m059", "m058"]
    bad = vera.get("/ui/models", params={"filter": "metrics.auc >"})
    assert bad.status_code == 422 and "expected a value" in bad.text
    other = vera.get(following.group(1).replace("&amp;", "&").replace("sort=name", "sort=-name"))
    assert other.status_code == 422 and "another filter or sort" in other.text


def test_a_viewer_sees_no_write_controls_and_forged_posts_are_refused(ui: Callable[[str], TestClient],
                                                                     workspace: Workspace) -> None:
    carl = ui("carl")
    page = carl.get("/ui/models/fraud/versions/1.0.1")
    assert 'id="request-promotion"' in page.text
    made = carl.post("/ui/models/fraud/versions/1.0.1/promotions", follow_redirects=False,
                     data={"alias": "production", "justification": "better auc", "csrf": csrf_of(page.text)})
    assert made.status_code == 303
    request_path = made.headers["location"]
    vera = ui("vera")
    seen = vera.get(request_path)
    assert seen.status_code == 200 and 'id="review"' not in seen.text and "request-promotion" not in \
        vera.get("/ui/models/fraud/versions/1.0.1").text
    # a forged approval by the viewer, with her own valid CSRF token: the service refuses it (and audits it)
    forged = vera.post(f"{request_path}/review", data={"decision": "approve", "csrf": csrf_of(seen.text)})
    assert forged.status_code == 403 and "vera may not promotion.approve" in forged.text
    assert query(workspace.db, actor="vera", action="access.check")[0]["outcome"] == "denied"
    # an approver's post without the session's CSRF token (another site's form) is refused before anything
    ada = ui("ada")
    no_csrf = ada.post(f"{request_path}/review", data={"decision": "approve"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    other_session = ada.post(f"{request_path}/review", data={"decision": "approve", "csrf": csrf_of(seen.text)})
    assert other_session.status_code == 403
    # carl may not approve his own request: four-eyes is the service's rule, not the page's
    own = carl.post(f"{request_path}/review", data={"decision": "approve", "csrf": csrf_of(page.text)})
    assert own.status_code == 403
    assert workspace.registry.get("fraud@production").version == "1.0.0.0.0"


def test_an_approver_approves_in_the_page_and_the_alias_moves(ui: Callable[[str], TestClient],
                                                             workspace: Workspace) -> None:
    carl, ada = ui("carl"), ui("ada")
    page = carl.get("/ui/models/fraud/versions/1.0.1")
    made = carl.post("/ui/models/fraud/versions/1.0.1/promotions", data={
        "alias": "production", "justification": "better auc", "ticket": "RISK-7", "csrf": csrf_of(page.text)})
    assert "status <b>pending</b>" in made.text and "compare_with_current.auc" in made.text
    listed = ada.get("/ui/approvals")
    assert "fraud@1.0.1.0.0" in listed.text
    request_path = urlparse(str(made.url)).path
    review = ada.get(request_path)
    done = ada.post(f"{request_path}/review", data={"decision": "approve", "comment": "ok", "csrf": csrf_of(review.text)})
    assert done.status_code == 200 and "status <b>applied</b>" in done.text and "ok" in done.text
    assert workspace.registry.get("fraud@production").version == "1.0.1.0.0"
    model = ada.get("/ui/models/fraud")
    assert "production → <a" in model.text and 'class="via-promotion"' in model.text
    timeline = ada.get("/ui/models/fraud/timeline.json", params={"metric": "auc"}).json()
    assert timeline["values"] == [0.90, 0.93] and timeline["events"][0]["via"] == "promotion"
    assert ada.get("/ui/approvals").text.count("fraud@1.0.1.0.0") == 0  # no longer pending


def test_version_compare_audit_and_artifact_pages(ui: Callable[[str], TestClient], workspace: Workspace) -> None:
    vera = ui("vera")
    version = vera.get("/ui/models/fraud/versions/1.0.1")
    assert "depth" in version.text and "0.93" in version.text and "Content-Security-Policy" in version.headers
    assert 'href="/ui/compare?v=fraud%401.0.0.0.0&v=fraud%401.0.1.0.0" id="compare-parent"' in version.text, \
        re.findall(r"<p class=\"actions\">.*?</p>", version.text, re.S)
    compare = vera.get("/ui/compare", params=[("v", "fraud@1.0.0"), ("v", "fraud@1.0.1")])
    assert 'class="n up"' in compare.text and "(+0.03)" in compare.text
    one = vera.get("/ui/compare", params={"v": "fraud@1.0.0"})
    assert one.status_code == 422 and "two to six versions" in one.text
    download = vera.get("/ui/models/fraud/versions/1.0.1/artifact")
    assert download.status_code == 200 and download.content == b"b"
    assert query(workspace.db, actor="vera", action="artifact.read")[0]["target"] == "model:fraud@1.0.1.0.0"
    audit = vera.get("/ui/audit", params={"action": "artifact.*"})
    assert "artifact.read" in audit.text
    assert "The chain holds" in vera.get("/ui/audit/verify").text
    assert vera.get("/ui/vendor/..%2F..%2Fsession.py").status_code == 404  # an allow-list, not a path
    assert vera.get("/ui/static/..%2F__init__.py").status_code == 404


def test_large_sibling_sets_collapse_into_a_node_that_carries_its_members() -> None:
    nodes = [{"id": "dataset:d@1", "kind": "dataset", "label": "d@1"}]
    nodes += [{"id": f"model_version:{i}", "kind": "model_version", "label": f"m@{i}"} for i in range(30)]
    nodes += [{"id": "run:1", "kind": "run", "label": "1"}, {"id": "model_version:99", "kind": "model_version",
                                                               "label": "n@1"}]
    edges = [{"src": "dataset:d@1", "dst": f"model_version:{i}", "kind": "trained_on"} for i in range(30)]
    edges += [{"src": "dataset:d@1", "dst": "run:1", "kind": "trained_on"},
              {"src": "run:1", "dst": "model_version:99", "kind": "produced_by"}]
    graph = cluster({"root": "dataset:d@1", "nodes": nodes, "edges": edges})
    clusters = [n for n in graph["nodes"] if n["kind"] == "cluster"]
    assert len(clusters) == 1 and clusters[0]["label"] == "30 model versions" and len(clusters[0]["members"]) == 30
    assert len(graph["nodes"]) == 4 and len(graph["edges"]) == 3  # d, the cluster, the run and what it made


def test_a_deployer_rolls_back_in_the_page_and_a_viewer_cannot(
        ui: Callable[[str], TestClient], team: Callable[[str], Workspace]) -> None:  # noqa: F811
    from tests.deploy_helpers import register

    owner = team("admin")
    register(owner, [1.0, 0.5, 0.0], name="clf")
    register(owner, [1.0, 0.4, 0.1], name="clf")
    d = owner.deployments
    d.create("clf", d.plan("single", "clf@1.0.0.0.0"))
    d.update("clf", lambda spec: d.plan("single", "clf@latest"), reason="new version")
    admin = ui("admin")  # deployment.write: the admin here (the deployer role reads approved versions only)
    page = admin.get("/ui/deployments/clf")
    assert 'id="rollback"' in page.text and "clf@1.0.1.0.0" in page.text and "revision 2" in page.text
    vera = ui("vera")
    seen = vera.get("/ui/deployments/clf")
    assert seen.status_code == 200 and 'id="rollback"' not in seen.text
    refused = vera.post("/ui/deployments/clf/rollback", data={"reason": "forged", "csrf": csrf_of(seen.text)})
    assert refused.status_code == 403 and d.status("clf")["revision"] == 2
    done = admin.post("/ui/deployments/clf/rollback",
                      data={"reason": "errors up", "to_revision": "1", "csrf": csrf_of(page.text)})
    assert done.status_code == 200, re.findall(r"class=\"problem\"[^>]*>([^<]*)", done.text)
    assert "revision 3" in done.text and "errors up" in done.text
    assert d.status("clf")["arms"][0]["model"] == "clf@1.0.0.0.0"
    live = vera.get("/ui/deployments/clf/live")  # what htmx polls: the fragment alone
    assert "<html" not in live.text and "revision 3" in live.text
    assert "clf" in vera.get("/ui/models", params={"filter": "name = 'clf'"}).text.split('href="/ui/deployments/')[1]


def test_runs_and_datasets_pages_list_a_page_at_a_time(ui: Callable[[str], TestClient],
                                                        team: Callable[[str], Workspace], tmp_path) -> None:  # noqa: F811
    from modelkeep.services.interface import RunCreate
    from modelkeep.services.models import browse

    carl = team("carl")
    for i in range(3):
        carl.runs.create(RunCreate(name=f"train-{i}", project="fraud"))
        (tmp_path / f"d{i}.csv").write_text(f"a\n{i}\n")
        carl.datasets.add(tmp_path / f"d{i}.csv", f"data-{i}")
    first = browse.runs_page(carl.db, "fraud", limit=2)
    assert [r.name for r in first.rows] == ["train-2", "train-1"] and first.next_cursor
    assert [r.name for r in browse.runs_page(carl.db, "fraud", first.next_cursor, limit=2).rows] == ["train-0"]
    with pytest.raises(InvalidInput, match="another filter"):
        browse.runs_page(carl.db, "other", first.next_cursor, limit=2)
    names = browse.datasets_page(carl.db, limit=2)
    assert [d.name for d in names.rows] == ["data-0", "data-1"]
    assert [d.name for d in browse.datasets_page(carl.db, names.next_cursor, limit=2).rows] == ["data-2"]
    vera = ui("vera")
    runs = vera.get("/ui/runs", params={"project": "fraud"})
    assert runs.status_code == 200 and runs.text.count('<a href="/ui/runs/') == 3
    datasets = vera.get("/ui/datasets")
    assert datasets.status_code == 200 and "data-2" in datasets.text
    assert "d2.csv" in vera.get("/ui/datasets/data-2", params={"files": "1"}).text


def test_a_version_links_its_commit_diff_when_the_remote_is_a_web_url(
        ui: Callable[[str], TestClient], team: Callable[[str], Workspace]) -> None:  # noqa: F811
    team("carl").registry.register("coded", None, code={"commit": "0123abcd", "remote": "https://git.example/org/repo.git",
                                                         "branch": "main", "dirty": False})
    page = ui("vera").get("/ui/models/coded/versions/latest")
    assert 'href="https://git.example/org/repo/commit/0123abcd"' in page.text
    team("carl").registry.register("coded", None, code={"commit": "4567", "remote": "javascript:alert(1)"})
    assert 'id="commit-link"' not in ui("vera").get("/ui/models/coded/versions/latest").text
