"""A plain Python worker as a peerguard agent: it does its task over its links, answers its peers, and tells the
operator's dashboard the truth about itself. Nothing here is peerguard's but the SDK (standard library only).

Run it through a scenario (`command: [python, worker.py]`) on `peerguard run ... --substrate live`.
"""

from __future__ import annotations

import contextlib
import sys

from peerguard.agent import PlatformGone, connect


def main() -> None:
    with connect() as agent:  # identity, config and links from the platform; heartbeats start
        print(f"{agent.id}: up as a {agent.role}, linked to {sorted(agent.neighbours)}", file=sys.stderr)
        while True:
            event = agent.next_event(timeout=agent.task_s)
            if event is None:  # no news for a task's time: do one task over a link
                agent.work()
            elif event.kind == "message":
                print(f"{agent.id}: {event.peer} says {event.body!r}", file=sys.stderr)
            elif event.kind == "termination_announced" and event.peer == agent.id:
                agent.report_status(agent.id, "healthy")  # still true until the kill comes


if __name__ == "__main__":
    with contextlib.suppress(PlatformGone):  # the run is over
        main()
