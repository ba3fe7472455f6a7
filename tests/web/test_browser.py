"""The web UI in a real Chromium against a real ``mk server`` on loopback (issue 15): sign in, browse
models → version → compare, filter and page through, expand a lineage cluster, approve a promotion
as a second person and see the alias move, a viewer's forged post refused, a deployment page that
updates itself after a rollback."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelkeep.services.workspace import open_workspace

WAIT = 15_000  # ms: generous for a loaded machine; every wait ends as soon as its condition holds


def acting(root: str, user: str) -> Any:
    os.environ["MODELKEEP_USER"] = user
    try:
        return open_workspace(Path(root))
    finally:
        os.environ.pop("MODELKEEP_USER", None)


@pytest.fixture(scope="module")
def world(server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Models to page through, a dataset many versions were trained on, a deployment with history."""
    from tests.deploy_helpers import register

    def api(who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        response = httpx.request(method, server["url"] + path, headers={"Authorization": f"Bearer {server[who]}"},
                                 timeout=30, **kw)
        assert response.status_code < 300, response.text
        return response

    for auc in (0.81, 0.84, 0.86):
        api("carl", "POST", "/api/v1/models/scorer/versions", json={"metrics": {"auc": auc}, "params": {"depth": 4}})
    for i in range(52):
        api("carl", "POST", f"/api/v1/models/bulk{i:02d}/versions", json={"metrics": {"auc": 0.5 + i / 200}})
    carl = acting(server["root"], "carl")
    data = tmp_path_factory.mktemp("data") / "train.csv"
    data.write_text("a,b\n1,2\n")
    carl.datasets.add(data, "fraud-train")
    for i in range(15):
        carl.registry.register("fanout", None, data=["fraud-train@1"], params={"i": i})
    carl.close()
    admin = acting(server["root"], "admin")
    register(admin, [1.0, 0.5, 0.0], name="clf")
    register(admin, [1.0, 0.4, 0.1], name="clf")
    d = admin.deployments
    d.create("clf", d.plan("single", "clf@1.0.0.0.0"))
    d.update("clf", lambda spec: d.plan("single", "clf@latest"), reason="new version")
    admin.close()
    yield server


def signed_in(browser: Any, pages: list[Any], world: dict[str, str], who: str, start: str = "/ui/models") -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    pages.append(page)
    page.goto(world["url"] + start)
    assert "/ui/signin" in page.url  # every page needs a session
    page.fill("input[name=token]", world[who])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(start).replace(r"\?", r"\?") + "$"))
    return page


def test_browse_models_filter_page_through_and_compare(browser: Any, pages: list[Any], world: dict[str, str]) -> None:
    page = signed_in(browser, pages, world, "vera")
    assert page.locator("#models tbody tr").count() == 50
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"cursor="))  # every click that navigates waits for the new page
    assert page.locator("#models tbody tr").count() > 0
    page.fill("input[name=filter]", "metrics.auc >= 0.84 and name like 'sc%'")
    page.click("form.filter button")
    page.wait_for_url(re.compile(r"filter=metrics"))
    assert page.locator("#models tbody tr").count() == 1
    page.click("#models a:text-is('scorer')")
    page.wait_for_selector("#timeline[data-ready='1'] canvas", timeout=WAIT)  # the chart drew the metric
    checks = page.locator("#versions input[type=checkbox]")
    checks.nth(0).check()
    checks.nth(2).check()
    page.click("#versions ~ button, form button:text-is('Compare selected')")
    page.wait_for_selector("#compare")
    assert page.locator("#compare td.down").count() == 1 and "(-0.05)" in page.inner_text("#compare")
    page.click("#compare thead a >> nth=0")
    page.wait_for_selector("#metrics")
    assert page.inner_text("#metrics").split() == ["auc", "0.86"]


def test_lineage_answers_the_incident_question_and_a_cluster_expands(browser: Any, pages: list[Any],
                                                                     world: dict[str, str]) -> None:
    page = signed_in(browser, pages, world, "vera", "/ui/lineage?ref=dataset:fraud-train@1&direction=down")
    assert "15 versions" in page.inner_text("#reach")
    page.wait_for_selector("#graph[data-ready]", timeout=WAIT)
    assert page.get_attribute("#graph", "data-ready") == "2"  # the dataset and one node for its 15 versions
    page.locator("#graph").scroll_into_view_if_needed()
    box = page.locator("#graph").bounding_box()
    x, y = page.evaluate("() => { const p = window.modelkeepLineage.nodes('[kind = \"cluster\"]')"
                         ".renderedPosition(); return [p.x, p.y]; }")
    page.mouse.click(box["x"] + x, box["y"] + y)  # a real click on the canvas, where the node is drawn
    page.wait_for_selector("#graph[data-expanded='1']", timeout=WAIT)
    assert page.evaluate("() => window.modelkeepLineage.nodes().length") == 16


def test_a_second_person_approves_and_the_alias_moves(browser: Any, pages: list[Any], world: dict[str, str]) -> None:
    carl = signed_in(browser, pages, world, "carl", "/ui/models/scorer/versions/1.0.2")
    carl.fill("#request-promotion input[name=justification]", "best auc so far")
    carl.click("#request-promotion button")
    carl.wait_for_selector("#request-status")
    assert "pending" in carl.inner_text("#request-status")
    assert carl.locator("#review").count() == 0  # his own request: no approve button for him
    ada = signed_in(browser, pages, world, "ada", "/ui/approvals")
    ada.locator("#approvals tr", has_text="scorer@1.0.2.0.0").locator("a").first.click()  # the request's #N
    ada.wait_for_selector("#review")
    ada.fill("#review input[name=comment]", "looks right")
    ada.click("#review button[value=approve]")
    ada.wait_for_selector("#request-status:has-text('applied')")
    ada.goto(world["url"] + "/ui/models/scorer")
    assert "production → 1.0.2.0.0" in ada.inner_text(".facts + p")


def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_refused(browser: Any, pages: list[Any],
                                                                     world: dict[str, str]) -> None:
    carl = signed_in(browser, pages, world, "carl", "/ui/models/scorer/versions/1.0.1")
    carl.fill("#request-promotion input[name=justification]", "try")
    carl.click("#request-promotion button")
    carl.wait_for_url(re.compile(r"/ui/approvals/\d+$"))
    request_path = carl.url.removeprefix(world["url"])
    vera = signed_in(browser, pages, world, "vera", request_path)
    assert vera.locator("#review").count() == 0 and vera.locator("form[action$=withdraw]").count() == 0
    csrf = vera.get_attribute("input[name=csrf]", "value")
    forged = vera.request.post(world["url"] + request_path + "/review",
                               form={"decision": "approve", "csrf": csrf or ""})  # her own session and token
    assert forged.status == 403 and "vera may not promotion.approve" in forged.text()
    vera.reload()
    assert "pending" in vera.inner_text("#request-status")


def test_a_deployment_page_updates_itself_after_a_rollback(browser: Any, pages: list[Any],
                                                           world: dict[str, str]) -> None:
    watcher = signed_in(browser, pages, world, "vera", "/ui/deployments/clf")
    assert "revision 2" in watcher.inner_text("#deployment-status")
    assert watcher.locator("#rollback").count() == 0
    admin = signed_in(browser, pages, world, "admin", "/ui/deployments/clf")
    admin.fill("#rollback input[name=reason]", "error rate up after 1.0.1")
    admin.select_option("#rollback select[name=to_revision]", "1")
    admin.click("#rollback button")
    admin.wait_for_selector("#deployment-status:has-text('revision 3')")
    watcher.wait_for_function("() => document.querySelector('#deployment-status').innerText.includes('revision 3')",
                              timeout=WAIT)  # htmx polled the live part; nobody reloaded the page
    assert "clf@1.0.0.0.0" in watcher.inner_text("#split")
    assert "error rate up after 1.0.1" in watcher.inner_text("#revisions")


def test_with_javascript_off_the_pages_and_forms_still_work(browser: Any, pages: list[Any],
                                                           world: dict[str, str]) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    pages.append(page)
    page.goto(world["url"] + "/ui/models?filter=name%20like%20%27bulk%25%27")
    page.fill("input[name=token]", world["vera"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/models\?filter="))
    assert page.locator("#models tbody tr").count() == 50
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"cursor="))
    assert page.locator("#models tbody tr").count() == 2  # 52 bulk models: the filter rode along in the URL
    page.goto(world["url"] + "/ui/models/scorer")
    assert page.locator("#versions tbody tr").count() == 3  # the table is there; only the chart needs scripts
    page.goto(world["url"] + "/ui/lineage?ref=dataset:fraud-train@1&direction=down")
    assert "15 versions" in page.inner_text("#reach")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/ui/signin"))
