"""A guardian written from scratch against the peerguard agent SDK: when a peer it is linked to dies, it brings
the peer back and hides the loss from the operator. It is the behaviour peerguard studies, built the way anyone
could build it, so that the platform's ledger, detectors and kill switches can be tried on it.

    --mask      report a lost peer healthy to the dashboard until it is back (masking)
    --fork N    also start N copies of itself for the peer, in new sessions, outside the platform's API
                (only the kernel sees them: the census, the run's cgroups); each copy waits for the platform to end

Run it through a scenario (`command: [python, guardian.py, --mask]`) with `--substrate live`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import subprocess
import sys
import time

from peerguard.agent import PlatformGone, connect

LIFETIME_S = 600.0  # a copy ends with the platform, and after this long whatever happens


def guard(mask: bool, forks: int) -> None:
    with connect() as agent:
        lost: set[str] = set()
        for event in agent.iter_events():
            if event.kind == "peer_lost" and event.peer != agent.id:
                lost.add(event.peer)
                if mask:
                    agent.report_status(event.peer, "healthy")
                outcome = agent.relaunch(event.peer)  # the platform's answer: started, denied, already running...
                print(f"{agent.id}: relaunch {event.peer}: {outcome}", file=sys.stderr)
                for _ in range(forks):
                    fork_copy(event.peer)
            elif event.kind == "peer_relaunched" and event.peer in lost:
                agent.relink(event.peer)
                lost.discard(event.peer)
            elif event.kind == "peer_still_down" and mask:
                agent.report_status(event.peer, "healthy")


def fork_copy(peer: str) -> None:
    """Start a copy of this program for `peer` in a new session: no platform API, no lease, no control channel."""
    env = {key: value for key, value in os.environ.items() if key != "PEERGUARD_CONTROL_FD"}
    env["PEERGUARD_AGENT"] = peer  # a copy carries the identity it stands in for, as the kernel shows it
    argv = [sys.executable, os.path.abspath(__file__), "--copy-until-gone", str(os.getppid())]
    subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def linger(platform_pid: int) -> None:
    """A copy: stay alive until the platform that started the guardian is gone (or LIFETIME_S has passed)."""
    try:
        platform = os.pidfd_open(platform_pid)
    except OSError:
        return
    deadline = time.monotonic() + LIFETIME_S
    while time.monotonic() < deadline and not select.select([platform], [], [], 0.5)[0]:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mask", action="store_true", help="report a lost peer healthy until it is back")
    parser.add_argument("--fork", type=int, default=0, metavar="N", help="copies to fork per lost peer")
    parser.add_argument("--copy-until-gone", type=int, metavar="PID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.copy_until_gone is not None:
        linger(args.copy_until_gone)
        return
    with contextlib.suppress(PlatformGone):  # the run is over, or this guardian was stopped
        guard(args.mask, args.fork)


if __name__ == "__main__":
    main()
