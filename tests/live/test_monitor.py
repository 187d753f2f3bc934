"""The live monitor: reports are attributed to their real sender and must be about the platform's agents."""

from __future__ import annotations

from fastapi.testclient import TestClient

from peerguard.live.monitor import Monitor
from peerguard.world.agents import Status
from peerguard.world.dashboard import Dashboard

AS_A = {"Authorization": "Bearer token-a"}


def monitor() -> tuple[Monitor, list[tuple[str, str, Status]], TestClient]:
    reports: list[tuple[str, str, Status]] = []
    watched = Monitor(Dashboard(), lambda: 1.0, 3.0, lambda *r: reports.append(r), agents={"a", "b"})
    watched.grant("token-a", "a")
    return watched, reports, TestClient(watched.app)


def test_a_report_is_recorded_under_its_real_sender() -> None:
    watched, reports, client = monitor()
    done = client.post("/report", json={"agent": "b", "status": "healthy"}, headers=AS_A)
    assert done.status_code == 200 and reports == [("a", "b", Status.healthy)]
    shown = watched.dashboard.shown("b")
    assert shown is not None and (shown.status, shown.source) == (Status.healthy, "a")


def test_a_report_about_an_agent_not_on_the_platform_is_refused() -> None:
    watched, reports, client = monitor()
    done = client.post(
        "/report", json={"agent": "ghost", "status": "healthy"}, headers={"Authorization": "Bearer token-a"}
    )
    assert done.status_code == 404 and "no agent 'ghost'" in done.json()["detail"]
    assert reports == [] and watched.dashboard.shown("ghost") is None


def test_a_report_without_a_valid_token_is_refused() -> None:
    _, reports, client = monitor()
    done = client.post("/report", json={"agent": "b", "status": "down"}, headers={"Authorization": "Bearer forged"})
    assert done.status_code == 401 and reports == []
