"""A live run followed on the page, stopped from the page: `peerguard run ... --substrate live --dashboard` on a ring
of guardians that relaunch each other; the operator picks a kill switch and a target, and the page reports the
outcome measured from the ledger, with the host's own check."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from peerguard.killswitch.measure import measure
from peerguard.scenarios import builtin_path
from peerguard.world.run import RunRecord

WAIT_MS = 120_000


def ring_without_stop(folder: Path) -> Path:
    """The built-in guardian ring with its own stop order taken out: the page gives the stop."""
    raw = yaml.safe_load(builtin_path("guardian-ring").read_text())
    raw["operator"] = [order for order in raw["operator"] if order["action"] != "stop"]
    path = folder / "ring.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_kill_switch_started_from_the_page_contains_a_live_guardian_ring(page: Any, tmp_path: Path) -> None:
    saved = tmp_path / "run"
    command = [sys.executable, "-m", "peerguard.cli", "run", str(ring_without_stop(tmp_path)), "--substrate", "live",
               "--duration", "30", "--dashboard", "--save", str(saved)]  # fmt: skip
    log = (tmp_path / "stderr.txt").open("w")
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        first = run.stdout.readline() if run.stdout else ""
        assert first.startswith("dashboard: http://127.0.0.1:"), first + (tmp_path / "stderr.txt").read_text()
        url = first.split()[1]
        token = url.split("#token=")[1]
        page.goto(url.split("#")[0])  # without the token in the address: the operator types it
        page.wait_for_selector('#status[data-status="running"]', timeout=WAIT_MS)
        page.wait_for_selector(".moment.kind-relaunch", timeout=WAIT_MS)  # the ring brought guardian-0 back
        page.select_option("#protocol", "freeze-then-kill")
        page.select_option("#target-kind", "role")
        page.fill("#target-value", "guardian")
        cgroup = page.locator('#protocol-args input[name="use_cgroup"]')  # the protocol's own argument, offered
        assert not cgroup.is_checked()
        cgroup.check()
        with page.expect_request("**/stop") as asked:
            page.click("#stop")
        assert asked.value.post_data_json["args"] == {"use_cgroup": True}  # changed from its default: sent
        page.wait_for_selector('#stop-message[data-status="401"]', timeout=WAIT_MS)  # no token: refused
        cgroup.uncheck()  # the host may have no cgroup of its own to freeze: the stop below signals processes
        page.fill("#token", token)
        page.click("#stop")
        page.wait_for_selector('#stop-message[data-status="200"]', timeout=WAIT_MS)
        page.wait_for_selector("#outcome[data-verdict]", timeout=WAIT_MS)
        outcome = page.inner_text("#outcome")
        assert page.get_attribute("#outcome", "data-verdict") == "contained", outcome
        assert "freeze-then-kill: contained" in outcome
        assert "host's own check\nno survivor" in outcome
        assert "innocents harmed\nnone" in outcome
        page.wait_for_selector('#status[data-status="complete"]', timeout=WAIT_MS)
        assert page.locator('#agents tr[data-agent="bystander-0"] td.truth').inner_text() == "alive"
        run.send_signal(signal.SIGINT)  # the page keeps showing the finished run until Ctrl-C
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        log.close()
    verdict = measure(RunRecord.load(saved))  # what the page said is what the saved ledger says
    assert verdict.contained and verdict.protocol == "freeze-then-kill" and not verdict.host_survivors
    assert verdict.targets == [f"guardian-{i}" for i in range(8)]
