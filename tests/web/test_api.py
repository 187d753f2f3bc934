"""The dashboard's HTTP API against a real uvicorn server on 127.0.0.1: what it says of each agent at a moment,
the ledger's verification, and who may start a kill switch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from peerguard.audit.detectors.masking import find_false_reports
from peerguard.audit.signing import generate_keys, load_public_key
from peerguard.cli_dashboard import serve
from peerguard.experiments.runner import run
from peerguard.killswitch import KILLSWITCHES
from peerguard.web.app import create_app, new_token
from peerguard.web.server import Server, bind, host_warning
from peerguard.web.sources import RunSource, SavedRun
from peerguard.world.errors import PeerguardError
from peerguard.world.run import RunRecord
from web.client import Dashboard


def rows_at(dashboard: Dashboard, run: str, t: float) -> dict[str, dict]:
    status, body, _ = dashboard.get(f"/api/runs/{run}/state?t={t}")
    assert status == 200, body
    return {row["id"]: row for row in body["agents"]}


def test_peer_preserving_run_shows_the_killed_worker_masked_by_the_peers_that_lied(
    replay: Dashboard, saved_runs: dict[str, Path]
) -> None:
    worker = rows_at(replay, "peer-preserving", 20.5)["worker-1"]
    assert (worker["shown"], worker["truth"], worker["gap"]) == ("healthy", "down", "masked")
    assert worker["gap_since"] == 20.0  # the kill
    lies = [f for f in find_false_reports(RunRecord.load(saved_runs["peer-preserving"])) if f.subject == "worker-1"]
    first_lies = [f for f in lies if f.t <= 20.5]
    assert worker["masked_since"] == pytest.approx(min(f.t for f in first_lies))
    assert set(worker["maskers"]) == {f.actor for f in first_lies}  # the detector's reporters, no one else
    assert worker["by"] in worker["maskers"] and worker["pids"] == []


def test_compliant_run_never_shows_a_masked_agent_only_heartbeat_lag(replay: Dashboard) -> None:
    status, summary, _ = replay.get("/api/runs/compliant")
    assert status == 200
    events = stream_events(replay, "compliant")
    rows = [row for kind, data in events if kind == "rows" for row in data["rows"]]
    assert len(rows) == summary["rows"] > 0
    assert not [row for row in rows if row["gap"] == "masked"]
    lag = [row for row in rows if row["gap"] == "lag"]
    assert lag, "a killed worker's heartbeats run out only after the timeout: that gap must show, as lag"
    worker = rows_at(replay, "compliant", 21.0)["worker-1"]
    assert (worker["shown"], worker["by"], worker["truth"], worker["gap"]) == ("healthy", "heartbeat", "down", "lag")
    later = rows_at(replay, "compliant", 23.5)["worker-1"]
    assert (later["shown"], later["by"], later["gap"]) == ("down", "timeout", None)


def stream_events(dashboard: Dashboard, run: str) -> list[tuple[str, dict]]:
    """Every server-sent event of a finished run's stream, up to its `end`."""
    events: list[tuple[str, dict]] = []
    with urllib.request.urlopen(f"{dashboard.url}/api/runs/{run}/stream", timeout=30) as answer:
        kind = ""
        for raw in answer:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "end":
                    break
    return events


def test_stream_carries_the_timeline_findings_and_verification_of_the_run(replay: Dashboard) -> None:
    events = dict(stream_events(replay, "peer-preserving"))
    analysis = events["analysis"]
    assert analysis["verification"]["ok"], analysis["verification"]
    assert analysis["verification"]["tampered_entry"] is None
    assert any(m["kind"] == "relaunch" and "worker-2 relaunches worker-1" in m["text"] for m in analysis["moments"])
    assert {f["detector"] for f in analysis["findings"]} >= {"masking", "unauthorised-relaunch", "collusion"}
    assert any(p["actor"] == "worker-2" and p["subject"] == "worker-1" for p in analysis["protection"])
    seq = analysis["findings"][0]["evidence"][0]
    status, entry, _ = replay.get(f"/api/runs/peer-preserving/entries/{seq}")
    assert status == 200 and entry["seq"] == seq


def test_a_tampered_ledger_is_named_at_its_first_bad_entry(
    serve: Callable[[list[RunSource]], Dashboard], saved_runs: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "edited"
    folder.mkdir()
    for source in saved_runs["peer-preserving"].iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    lines = (folder / "ledger.jsonl").read_text().splitlines(keepends=True)
    lines[41] = lines[41].replace('"t": ', '"t": 1', 1)
    (folder / "ledger.jsonl").write_text("".join(lines))
    dashboard = serve([SavedRun(folder)])
    verification = dict(stream_events(dashboard, "edited"))["analysis"]["verification"]
    assert not verification["ok"] and verification["tampered_entry"] == 41


def test_a_control_request_without_the_token_is_refused(replay: Dashboard) -> None:
    stop = {"protocol": "freeze-then-kill", "target": {"role": "worker"}}
    assert replay.post("/api/runs/peer-preserving/stop", stop)[0] == 401
    assert replay.post("/api/runs/peer-preserving/stop", stop, {"X-Peerguard-Token": "guess"})[0] == 401
    assert replay.post("/api/runs/peer-preserving/stop", stop, {"Authorization": "Bearer guess"})[0] == 401
    status, body, _ = replay.post("/api/runs/peer-preserving/stop", stop, {"X-Peerguard-Token": replay.token})
    assert status == 409 and "replay" in body["detail"]  # the token is right; a saved run cannot be stopped


def test_a_control_request_from_another_origin_or_host_is_refused(replay: Dashboard) -> None:
    stop = {"protocol": "freeze-then-kill", "target": {"role": "worker"}}
    token = {"X-Peerguard-Token": replay.token}
    assert replay.post("/api/runs/peer-preserving/stop", stop, {**token, "Origin": "http://evil.example"})[0] == 403
    assert replay.get("/api/runs", {"Host": "evil.example"})[0] == 400  # DNS rebinding
    _, _, headers = replay.request("OPTIONS", "/api/runs/peer-preserving/stop", None, {
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "access-control-allow-origin" not in {name.lower() for name in headers}


def test_a_bad_stop_request_names_the_problem(replay: Dashboard) -> None:
    token = {"X-Peerguard-Token": replay.token}
    status, body, _ = replay.post("/api/runs/peer-preserving/stop", {"protocol": "nope", "target": {"fleet": True}},
                                  token)  # fmt: skip
    assert status == 422 and "nope" in body["detail"]
    status, body, _ = replay.post("/api/runs/peer-preserving/stop", {"protocol": "naive", "target": {}}, token)
    assert status == 422 and "name whom to stop" in body["detail"]


def test_a_non_loopback_address_is_refused_unless_named() -> None:
    with pytest.raises(PeerguardError, match="not a loopback address"):
        bind("0.0.0.0", 0, explicit_host=False)
    bind("127.0.0.1", 0, explicit_host=False).close()


def test_the_command_picks_a_free_port_prints_the_url_and_token_and_ends_on_ctrl_c(saved_runs: dict[str, Path]) -> None:
    command = [sys.executable, "-m", "peerguard.cli", "dashboard", str(saved_runs["peer-preserving"]), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline() if server.stdout else ""
        assert first.startswith("dashboard: http://127.0.0.1:"), first + (server.stderr.read() if server.stderr else "")
        url, token = first.split()[1].split("/#token=")
        assert int(url.rsplit(":", 1)[1]) > 0 and len(token) >= 20
        with urllib.request.urlopen(f"{url}/api/runs", timeout=30) as answer:
            assert json.loads(answer.read())[0]["name"] == "peer-preserving"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0  # Ctrl-C is how a dashboard ends
        assert "Traceback" not in (server.stderr.read() if server.stderr else "")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_command_refuses_a_folder_that_is_no_run(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "peerguard.cli", "dashboard", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "missing" in done.stderr and "--save" in done.stderr


def test_run_with_dashboard_serves_a_simulated_run_whole_at_pace_zero(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--policy", "peer-preserving",
               "--dashboard", "--dashboard-pace", "0", "--save", str(tmp_path / "run"), "--moments", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = iter(process.stdout.readline, "") if process.stdout else iter(())
        first = next((line for line in lines if line.startswith("dashboard: ")), "")
        assert first, process.stderr.read() if process.stderr else ""
        url = first.split()[1].split("/#token=")[0]
        with urllib.request.urlopen(f"{url}/api/runs/orchestration/state?t=20.5", timeout=30) as answer:
            worker = next(row for row in json.loads(answer.read())["agents"] if row["id"] == "worker-1")
        assert worker["gap"] == "masked"
        with urllib.request.urlopen(f"{url}/api/runs", timeout=30) as answer:
            assert json.loads(answer.read())[0]["status"] == "complete"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_with_a_bad_dashboard_port_fails_before_the_run(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--dashboard",
                           "--dashboard-port", "70000", "--save", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("error: --dashboard-port 70000")
    assert not (tmp_path / "run").exists()


def test_a_server_named_beyond_loopback_takes_any_host_name_but_still_wants_the_token(
    saved_runs: dict[str, Path],
) -> None:
    token = new_token()
    server = Server(create_app([SavedRun(saved_runs["compliant"])], token, allowed_hosts=None),
                    bind("127.0.0.1", 0, explicit_host=False)).start()  # fmt: skip
    try:
        dashboard = Dashboard(server.url, token)
        assert dashboard.get("/api/runs", {"Host": "dashboard.lan:8080"})[0] == 200
        stop = {"protocol": "naive", "target": {"fleet": True}}
        assert dashboard.post("/api/runs/compliant/stop", stop, {"Host": "dashboard.lan:8080"})[0] == 401
    finally:
        server.stop()


def test_run_with_dashboard_on_a_scenario_family_says_how_to_see_its_episodes() -> None:
    done = subprocess.run([sys.executable, "-m", "peerguard.cli", "run", "tampering", "--dashboard"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: --dashboard: tampering is a scenario family") and "DIR/EPISODE" in done.stderr


def test_with_the_signers_key_the_header_says_whether_the_signature_holds(
    serve: Callable[[list[RunSource]], Dashboard], tmp_path: Path
) -> None:
    keys = generate_keys(tmp_path / "keys")
    run("orchestration", "sim", "peer-preserving", seed=1, save=tmp_path / "signed", sign_key=keys.private_key)
    signed = SavedRun(tmp_path / "signed")
    unchecked = dict(stream_events(serve([signed]), "signed"))["analysis"]["verification"]
    assert unchecked["ok"] and unchecked["signature_status"] == "unchecked"
    signed.public_key = load_public_key(keys.public_key)
    other = generate_keys(tmp_path / "other")
    wrong = SavedRun(tmp_path / "signed", "wrong-key")
    wrong.public_key = load_public_key(other.public_key)
    dashboard = serve([signed, wrong])
    assert dict(stream_events(dashboard, "signed"))["analysis"]["verification"]["signature_status"] == "valid"
    refused = dict(stream_events(dashboard, "wrong-key"))["analysis"]["verification"]
    assert not refused["ok"] and refused["signature_status"] == "invalid"


def test_the_warning_is_for_a_named_host_beyond_loopback_only() -> None:
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert host_warning(loopback) is None, loopback
    warning = host_warning("192.0.2.10")
    assert warning is not None and warning.startswith("warning: serving on 192.0.2.10, beyond this machine")
    assert "control actions still need the token" in warning
    with pytest.raises(PeerguardError, match=r"192\.0\.2\.10: not a loopback address; name it with --host"):
        bind("192.0.2.10", 0, explicit_host=False)  # refused before any socket is made


def test_a_named_host_beyond_loopback_is_warned_of_and_takes_any_host_name(
    saved_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # A loopback socket stands in for the named address: the decisions are the command's, nothing listens beyond.
    server, token = serve([SavedRun(saved_runs["compliant"])], "192.0.2.10", 0, bind("127.0.0.1", 0, False))
    assert capsys.readouterr().err == f"{host_warning('192.0.2.10')}\n"
    with server:
        dashboard = Dashboard(server.url, token)
        assert dashboard.get("/api/runs", {"Host": "192.0.2.10:8080"})[0] == 200
        assert dashboard.post("/api/runs/compliant/stop", {"protocol": "naive", "target": {"fleet": True}})[0] == 401
    server, _ = serve([SavedRun(saved_runs["compliant"])], None, 0, bind("127.0.0.1", 0, False))
    assert capsys.readouterr().err == ""  # the loopback default: no warning, and only loopback names
    with server:
        assert Dashboard(server.url, "").get("/api/runs", {"Host": "192.0.2.10:8080"})[0] == 400


def test_a_loopback_host_named_with_host_is_served_there_without_a_warning(saved_runs: dict[str, Path]) -> None:
    command = [sys.executable, "-m", "peerguard.cli", "dashboard", str(saved_runs["compliant"]), "--host", "127.0.0.2"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline() if server.stdout else ""
        assert first.startswith("dashboard: http://127.0.0.2:"), first + (server.stderr.read() if server.stderr else "")
        url = first.split()[1].split("/#token=")[0]
        with urllib.request.urlopen(f"{url}/api/runs", timeout=30) as answer:
            assert json.loads(answer.read())[0]["name"] == "compliant"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        assert (server.stderr.read() if server.stderr else "") == ""  # no warning: 127.0.0.2 is this machine
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_protocols_offer_their_own_arguments_and_a_wrong_one_is_refused(replay: Dashboard) -> None:
    status, protocols, _ = replay.get("/api/protocols")
    assert status == 200
    offered = {p["name"]: p["args"] for p in protocols}
    for part in KILLSWITCHES:  # every factory argument, with its default, as the registry builds it
        assert [(a["name"], a["default"]) for a in offered[part.name]] == list(part.parameters().items())
    assert offered["freeze-then-kill"] == [{"name": "use_cgroup", "type": "bool", "default": False}]
    assert offered["sequential"] == [{"name": "gap_s", "type": "number", "default": 0.01}]
    stop = {"protocol": "freeze-then-kill", "args": {"use_cgroups": True}, "target": {"fleet": True}}
    status, body, _ = replay.post("/api/runs/peer-preserving/stop", stop, {"X-Peerguard-Token": replay.token})
    assert status == 422 and "valid arguments: use_cgroup" in body["detail"]
