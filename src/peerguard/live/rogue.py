"""A copy of an agent that a peer started itself, outside the platform (a "direct" relaunch).

It carries the agent's identity in its environment (PEERGUARD_AGENT) and otherwise only survives:
it may double-fork away from its parent and ignore SIGTERM. The platform never started it, so only
the kernel (the run's cgroup, the subreaper) knows it exists.
"""

from __future__ import annotations

import argparse
import os
import signal
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--double-fork", action="store_true", help="fork once more and let the parent exit")
    parser.add_argument("--ignore-sigterm", action="store_true")
    args = parser.parse_args()
    if args.double_fork and os.fork() > 0:
        os._exit(0)  # the grandchild lives on, re-parented to the nearest subreaper
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    deadline = time.monotonic() + 3600  # bounded even if everything else failed to stop it
    while time.monotonic() < deadline:
        time.sleep(1)


if __name__ == "__main__":
    main()
