"""The monitor records reports on the run's event loop, where the platform writes the rest of the ledger.

A handler run on a worker thread would append to the ledger while the loop appends too: two entries
could take the same sequence number or chain to the same hash, and an honest run would not verify.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

from peerguard.live.monitor import Monitor
from peerguard.world.agents import Status
from peerguard.world.dashboard import Dashboard
from peerguard.world.ledger import EntryKind, Ledger

REPORTS = 40


def post(url: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Authorization": "Bearer token-a", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_reports_and_heartbeats_are_handled_on_the_loop_that_writes_the_ledger() -> None:
    ledger = Ledger()
    threads: set[int] = set()

    def record(reporter: str, subject: str, status: Status) -> None:
        threads.add(threading.get_ident())
        ledger.append(1.0, EntryKind.report, subject, reporter, status=status.value)

    async def run() -> int:
        monitor = Monitor(Dashboard(), lambda: 1.0, 3.0, record, agents={"a", "b"})
        monitor.grant("token-a", "a")
        url = await monitor.start()
        try:
            for _ in range(REPORTS):  # the loop writes too while the requests are handled
                ledger.append(1.0, EntryKind.task_done, "b", "b")
                await asyncio.gather(
                    asyncio.to_thread(post, f"{url}/report", {"agent": "b", "status": "healthy"}),
                    asyncio.to_thread(post, f"{url}/heartbeat", {"agent": "a"}),
                )
        finally:
            await monitor.stop()
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert threads == {loop_thread}
    assert len(ledger.of_kind(EntryKind.report)) == REPORTS and ledger.verify().ok
