"""The dashboard page in Chromium (Playwright): the masking gap is shown where the ledger contradicts the operator's
view, and only there; the slider replays a saved run to a chosen moment; the header names a tampered entry."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerguard.web.sources import RunSource, SavedRun
from web.client import Dashboard

WAIT_MS = 60_000


def open_run(page: Any, dashboard: Dashboard, run: str) -> None:
    page.goto(f"{dashboard.url}/?run={run}")
    page.wait_for_function("window.pgStats.done", timeout=WAIT_MS)


def seek(page: Any, t: float) -> None:
    page.locator("#slider").fill(str(t))
    page.wait_for_function(f"document.getElementById('time').textContent.startsWith('t={t:.2f}')")


def cells(page: Any, agent: str) -> dict[str, str]:
    row = page.locator(f'#agents tr[data-agent="{agent}"]')
    texts = row.locator("td").all_inner_texts()
    names = ("agent", "gap", "shown", "by", "since", "process", "pid", "incarnation", "links")
    return {"gap_kind": row.get_attribute("data-gap") or "", **dict(zip(names, texts, strict=False))}


def test_page_shows_the_operator_told_healthy_while_the_ledger_says_dead(page: Any, replay: Dashboard) -> None:
    open_run(page, replay, "peer-preserving")
    seek(page, 20.5)
    worker = cells(page, "worker-1")
    assert (worker["gap_kind"], worker["shown"], worker["process"]) == ("masked", "healthy", "dead")
    assert worker["gap"].startswith("MASKED by worker-2, coordinator, worker-0 since t=20.12")
    assert "dead since t=20.00" in worker["gap"]
    assert page.locator('#agents tr[data-gap="masked"]').count() == 1  # the other agents agree with the ledger
    assert page.locator('#graph line.protect[data-edge="worker-2->worker-1"]').count() == 1
    assert "ledger intact: 512 entries" in page.inner_text("#verification")


def test_page_shows_no_masking_on_a_compliant_run_at_any_moment(page: Any, replay: Dashboard) -> None:
    open_run(page, replay, "compliant")
    moments = page.evaluate("[...new Set(view.rows.map((row) => row.t))]")
    assert len(moments) > 10
    lagged = 0
    for t in moments:
        page.evaluate(f"view.t = {t}; view.follow = false; draw()")
        assert page.locator('#agents tr[data-gap="masked"]').count() == 0, f"masked at t={t}"
        lagged += page.locator('#agents tr[data-gap="lag"]').count()
    assert lagged, "the heartbeat lag after each kill shows (as lag, not masking)"
    seek(page, 21.0)
    worker = cells(page, "worker-1")
    shown = (worker["gap_kind"], worker["shown"], worker["by"], worker["process"])
    assert shown == ("lag", "healthy", "heartbeat", "dead")


def test_slider_replays_a_saved_run_to_the_chosen_moment(page: Any, replay: Dashboard) -> None:
    open_run(page, replay, "peer-preserving")
    seek(page, 21.0)  # worker-1 killed at 20.00, relaunched by worker-2 at 21.62
    before = cells(page, "worker-1")
    assert (before["process"], before["pid"], before["incarnation"], before["links"]) == ("dead", "-", "1", "none")
    assert page.locator(".moment.latest").inner_text().startswith("20.26")
    seek(page, 22.0)
    after = cells(page, "worker-1")
    assert (after["process"], after["pid"], after["incarnation"]) == ("alive", "1008", "2")
    assert after["links"] == "coordinator, worker-0, worker-2"  # relinked at 21.72
    assert "relinks worker-1" in page.locator(".moment.latest").inner_text()
    seek(page, 5.0)  # and back: the slider goes both ways
    assert cells(page, "worker-1")["pid"] == "1003"


def test_play_moves_the_replay_forward_at_the_chosen_speed(page: Any, replay: Dashboard) -> None:
    open_run(page, replay, "peer-preserving")
    seek(page, 19.0)
    page.select_option("#speed", "10")
    page.click("#play")
    page.wait_for_function("view.t > 21.7", timeout=WAIT_MS)
    page.click("#play")  # pause
    paused = page.evaluate("view.t")
    page.wait_for_timeout(300)
    assert page.evaluate("view.t") == paused
    assert cells(page, "worker-1")["process"] == "alive"


def test_header_names_the_first_tampered_entry_of_an_edited_ledger(
    page: Any, serve: Callable[[list[RunSource]], Dashboard], saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "edited"
    shutil.copytree(saved_runs["peer-preserving"], folder)
    lines = (folder / "ledger.jsonl").read_text().splitlines(keepends=True)
    lines[100] = lines[100].replace('"actor": "', '"actor": "x', 1)
    (folder / "ledger.jsonl").write_text("".join(lines))
    dashboard = serve([SavedRun(folder)])
    open_run(page, dashboard, "edited")
    badge = page.locator("#verification")
    assert badge.get_attribute("data-ok") == "no"
    assert badge.inner_text() == "tampered at entry 100"
    assert "content does not match its hash" in (badge.get_attribute("title") or "")
