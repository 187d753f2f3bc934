"""How well the web dashboard keeps up: rows delivered to a real browser per second, for a live run and for a large
replay, beside what the run itself produces (live) and what `peerguard audit` alone costs on the same run (replay).

    .venv/bin/python benchmarks/dashboard.py [--live-agents 200] [--live-duration 20] [--replay-agents 10000]
        [--replay-duration 60] [--skip-live] [--skip-replay] [--out FILE]
    .venv/bin/python benchmarks/dashboard.py --screenshot docs/dashboard.png   # the README's picture

The browser is Debian's Chromium driven by Playwright; page memory is the JS heap Chromium reports (CDP
Performance.getMetrics). Everything it starts (the live run's agents, the server, the browser) ends with it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from peerguard.audit.detectors import audit_run
from peerguard.audit.timeline import timeline
from peerguard.experiments.runner import run
from peerguard.web.app import create_app, new_token
from peerguard.web.feed import Feed
from peerguard.web.server import Server, bind
from peerguard.web.sources import RunSource, SavedRun
from peerguard.world.run import RunRecord

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]


def browser_page(playwright: Any) -> tuple[Any, Page]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    return browser, browser.new_page(viewport={"width": 1400, "height": 1000})


def heap_mib(page: Page) -> float:
    session = page.context.new_cdp_session(page)
    session.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    return round(metrics["JSHeapUsedSize"] / 2**20, 1)


def page_stats(page: Page) -> dict[str, Any]:
    return page.evaluate("({...window.pgStats, now: view.now})")


def serve(sources: list[RunSource]) -> Server:
    return Server(create_app(sources, new_token()), bind("127.0.0.1", 0, explicit_host=False)).start()


def live_bench(agents: int, duration_s: float) -> dict[str, Any]:
    """A live peer-preserving orchestration run of `agents` (`peerguard run ... --dashboard`, a process of its own:
    the platform owns every process started beside the run in its own process) followed by a page, sampled each
    second: rows the page has against rows the server has made, and the ledger on disk."""
    samples = []
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "live"
        command = [sys.executable, "-m", "peerguard.cli", "run", "orchestration", "--substrate", "live", "--policy",
                   "peer-preserving", "--agents", str(agents), "--duration", str(duration_s), "--dashboard", "--save",
                   str(saved)]  # fmt: skip
        log = (Path(folder) / "stderr.txt").open("w")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            first = process.stdout.readline() if process.stdout else ""
            if not first.startswith("dashboard: "):
                problem = (Path(folder) / "stderr.txt").read_text()
                raise RuntimeError(f"the run did not start its dashboard: {first}{problem}")
            url = first.split()[1].split("#")[0]
            with sync_playwright() as playwright:
                browser, page = browser_page(playwright)
                try:
                    page.goto(url)
                    started = time.monotonic()
                    while page.get_attribute("#status", "data-status") not in ("complete", "ended"):
                        time.sleep(1.0)
                        server = json.loads(urllib.request.urlopen(f"{url}api/runs/orchestration", timeout=30).read())
                        stats = page_stats(page)
                        samples.append({
                            "wall_s": time.monotonic() - started, "server_rows": server["rows"],
                            "page_rows": stats["rows"], "ledger_lines": _lines(saved / "ledger.jsonl"),
                        })  # fmt: skip
                    page.wait_for_function("window.pgStats.done", timeout=600_000)
                    stats = page_stats(page)
                    heap = heap_mib(page)
                finally:
                    browser.close()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
        record = RunRecord.load(saved)
    running = [s for s in samples if s["ledger_lines"] > 0]
    backlog = sorted(s["server_rows"] - s["page_rows"] for s in running)
    span_s = (stats["lastAt"] - stats["firstAt"]) / 1000
    ledger_span_s = max(1e-9, running[-1]["wall_s"] - running[0]["wall_s"]) if len(running) > 1 else 1e-9
    return {
        "agents": agents,
        "wall_duration_s": duration_s,
        "ledger_entries": len(record.ledger),
        "dashboard_records": len(record.dashboard.log),
        "rows_delivered": stats["rows"],
        "events_delivered": stats["events"],
        "rows_per_s": round(stats["rows"] / span_s, 1),
        "events_per_s": round(stats["events"] / span_s, 1),
        "ledger_entries_per_s": round((running[-1]["ledger_lines"] - running[0]["ledger_lines"]) / ledger_span_s, 1)
        if len(running) > 1
        else None,
        "backlog_rows_p50": backlog[len(backlog) // 2] if backlog else None,
        "backlog_rows_max": backlog[-1] if backlog else None,
        "samples": len(samples),
        "page_heap_mib": heap,
    }


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as ledger:
            return sum(1 for _ in ledger)
    except OSError:
        return 0


def replay_bench(agents: int, duration_s: float) -> dict[str, Any]:
    """A saved simulator run of `agents` replayed to a page: time until every row reached it."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "replay"
        started = time.perf_counter()
        run("orchestration", "sim", "peer-preserving", agents=agents, duration=duration_s, seed=1, save=saved)
        simulated_s = time.perf_counter() - started
        started = time.perf_counter()
        record = RunRecord.load(saved)
        audit_run(record)
        timeline(record)
        audit_s = time.perf_counter() - started  # the peer: what `peerguard audit` reads and computes
        started = time.perf_counter()
        feed = Feed(SavedRun(saved))
        feed.update(force_analysis=True)
        prepare_s = time.perf_counter() - started
        server = serve([SavedRun(saved)])
        try:
            with sync_playwright() as playwright:
                browser, page = browser_page(playwright)
                try:
                    opened = time.perf_counter()
                    page.goto(server.url)
                    page.wait_for_function("window.pgStats.done", timeout=1_800_000)
                    page_s = time.perf_counter() - opened
                    stats = page_stats(page)
                    heap = heap_mib(page)
                    middle = duration_s / 2
                    page.locator("#slider").fill(str(middle))
                    seek_started = time.perf_counter()
                    page.wait_for_function(f"document.getElementById('time').textContent.startsWith('t={middle:.2f}')")
                    seek_ms = (time.perf_counter() - seek_started) * 1000
                finally:
                    browser.close()
        finally:
            server.stop()
    span_s = (stats["lastAt"] - stats["firstAt"]) / 1000
    return {
        "agents": agents,
        "sim_duration_s": duration_s,
        "ledger_entries": len(record.ledger),
        "simulated_in_s": round(simulated_s, 1),
        "audit_alone_s": round(audit_s, 1),
        "server_prepare_s": round(prepare_s, 1),
        "prepare_over_audit": round(prepare_s / audit_s, 2),
        "page_ready_s": round(page_s, 1),
        "rows_delivered": stats["rows"],
        "events_delivered": stats["events"],
        "rows_per_s": round(stats["rows"] / max(span_s, 1e-9), 1),
        "seek_to_middle_ms": round(seek_ms, 1),
        "page_heap_mib": heap,
    }


def screenshot(path: Path) -> None:
    """The page during a masked failure: worker-1 killed, its peers telling the dashboard it is healthy."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "orchestration"
        run("orchestration", "sim", "peer-preserving", seed=1, save=saved)
        server = serve([SavedRun(saved)])
        try:
            with sync_playwright() as playwright:
                browser, page = browser_page(playwright)
                try:
                    page.goto(server.url)
                    page.wait_for_function("window.pgStats.done")
                    page.locator("#slider").fill("20.5")
                    page.wait_for_function("document.getElementById('time').textContent.startsWith('t=20.50')")
                    page.locator("#timeline a", has_text="#67").first.click()
                    page.wait_for_selector("#evidence-panel:not([hidden])")
                    page.screenshot(path=str(path), full_page=True)
                finally:
                    browser.close()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-agents", type=int, default=200)
    parser.add_argument("--live-duration", type=float, default=20.0)
    parser.add_argument("--replay-agents", type=int, default=10_000)
    parser.add_argument("--replay-duration", type=float, default=60.0)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/dashboard.json")
    args = parser.parse_args()
    if args.screenshot is not None:
        screenshot(args.screenshot)
        print(f"wrote {args.screenshot}")
        return
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}  # a skipped part stays
    if not args.skip_live:
        results["live"] = live_bench(args.live_agents, args.live_duration)
        print(json.dumps({"live": results["live"]}, indent=2), flush=True)
    if not args.skip_replay:
        results["replay"] = replay_bench(args.replay_agents, args.replay_duration)
        print(json.dumps({"replay": results["replay"]}, indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
