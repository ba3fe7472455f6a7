"""A real Chromium (Debian's package, driven by Playwright) for the web UI's tests; screenshots of
every open page go to ``ui-screenshots/`` when a test fails (and always with MODELKEEP_UI_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHOTS = Path(__file__).resolve().parents[2] / "ui-screenshots"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:  # make test-deps installs it: a missing browser is a broken setup, never a skip
        pytest.fail("Debian's chromium is not installed: run make test-deps (scripts/ensure-chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call":
        item.failed_call = report.failed  # type: ignore[attr-defined]
    return report


@pytest.fixture
def pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[list[Any]]:
    """The test's open pages (append each one): photographed if the test fails."""
    opened: list[Any] = []
    yield opened
    if getattr(request.node, "failed_call", False) or os.environ.get("MODELKEEP_UI_SCREENSHOTS"):
        SHOTS.mkdir(exist_ok=True)
        for i, page in enumerate(opened):
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{request.node.name}-{i}")
            try:
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            except Exception:  # a closed page has nothing to show
                pass
    for page in opened:
        page.context.close()
