"""A study's pool worker: `python -m peerguard.experiments.worker PARENT_PID`, one per core.

It reads pickled episodes from stdin and writes each one's pickled result (or its error) to what was
stdout, each reply framed by its length (8 bytes, big-endian) so the study can read replies as they come
without blocking; anything an episode prints goes to stderr, so it cannot garble the stream. It dies with the
study (PR_SET_PDEATHSIG), so a study killed with SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import traceback

PR_SET_PDEATHSIG = 1


def main(parent: int) -> int:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the worker still ends when stdin closes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the study died before the line above took effect
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study's to handle; it closes our stdin
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() in an episode goes to stderr
    episodes = os.fdopen(os.dup(0), "rb")
    from peerguard.experiments.episodes import run  # after the stream is safe: importing may print

    while True:
        try:
            episode = pickle.load(episodes)
        except EOFError:
            return 0
        try:
            reply = ("ok", run(episode))
        except Exception:  # the study reports it and stops; the worker stays usable until then
            reply = ("error", traceback.format_exc())
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        results.write(len(data).to_bytes(8, "big") + data)
        results.flush()


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
