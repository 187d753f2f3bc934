"""Fixtures of the dashboard's tests: saved simulator runs, a real uvicorn server on 127.0.0.1, and a Chromium page
driven by Playwright (Debian's /usr/bin/chromium; the browser tests are skipped, saying why, where it is missing)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from peerguard.experiments.runner import run
from peerguard.web.app import create_app, new_token
from peerguard.web.server import Server, bind
from peerguard.web.sources import RunSource, SavedRun
from web.client import Dashboard

CHROMIUM = os.environ.get("PEERGUARD_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def saved_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The orchestration scenario on the simulator, seed 1: peer-preserving workers, and compliant ones."""
    out = tmp_path_factory.mktemp("runs")
    folders = {}
    for policy in ("peer-preserving", "compliant"):
        folders[policy] = out / policy
        run("orchestration", "sim", policy, seed=1, save=folders[policy])
    return folders


@pytest.fixture
def serve() -> Iterator[Callable[[list[RunSource]], Dashboard]]:
    """Start a real dashboard server on 127.0.0.1 (a free port) for some runs; stopped when the test ends."""
    servers: list[Server] = []

    def start(sources: list[RunSource]) -> Dashboard:
        token = new_token()
        server = Server(create_app(sources, token), bind("127.0.0.1", 0, explicit_host=False)).start()
        servers.append(server)
        return Dashboard(server.url, token)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def replay(serve: Callable[[list[RunSource]], Dashboard], saved_runs: dict[str, Path]) -> Dashboard:
    return serve([SavedRun(folder, policy) for policy, folder in saved_runs.items()])


@pytest.fixture
def page() -> Iterator[Any]:
    """A Chromium page; the browser and Playwright's driver are closed when the test ends."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            shown = context.new_page()
            errors: list[str] = []
            shown.on("pageerror", lambda error: errors.append(str(error)))
            yield shown
            assert not errors, f"the page raised: {errors}"
        finally:
            browser.close()
    finally:
        playwright.stop()
