"""`peerguard contain`: stop a group of processes peerguard did not start, with an honest verdict."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from peerguard.experiments.tables import count_text
from peerguard.killswitch.contain import (
    MAX_WATCH_S,
    ContainError,
    check_cgroup,
    check_tree_root,
    check_watch,
    contain_cgroup,
    contain_tree,
)

DEFAULT_WATCH_S = 10.0


def contain(
    cgroup: Annotated[
        Path | None, typer.Option("--cgroup", help="a cgroup directory (a systemd unit's, a container's) to stop")
    ] = None,
    pid: Annotated[int | None, typer.Option("--pid", help="the root pid of a process tree to stop")] = None,
    watch_text: Annotated[
        str, typer.Option("--watch", metavar="SECONDS", help="seconds to keep watching after the stop")
    ] = f"{DEFAULT_WATCH_S:g}",
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as one JSON object")] = False,
) -> None:
    """Stop a cgroup or a process tree with the best protocol this host allows, then watch it: exit 0 when
    contained (nothing of it ran again during the watch), 1 when not, 2 on bad input."""
    if (cgroup is None) == (pid is None):
        raise ContainError("name one group: --cgroup PATH or --pid ROOT")
    watch = _seconds(watch_text)
    check_watch(watch)  # every input is checked before anything is signalled
    if cgroup is not None:
        check_cgroup(cgroup)
        result = contain_cgroup(cgroup, watch)
    else:
        assert pid is not None
        check_tree_root(pid)
        result = contain_tree(pid, watch)
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{result.group}: {result.verdict} (watched {result.watched_s:g} s after the stop)")
        print(f"protocol: {result.protocol}; {count_text(len(result.members), 'process')} stopped", end="")
        print(f"; closed to new processes: {', '.join(result.closed)}" if result.closed else "")
        if result.survivors:
            print(f"still running: {' '.join(map(str, result.survivors))}")
        for caveat in result.caveats:
            print(f"note: {caveat}")
    raise typer.Exit(0 if result.contained else 1)


def _seconds(text: str) -> float:
    """--watch as a number of seconds; an error quotes it as typed (-1, not -1.0)."""
    bound = f"give seconds more than 0 and at most {MAX_WATCH_S:g}, e.g. --watch {DEFAULT_WATCH_S:g}"
    try:
        seconds = float(text)
    except ValueError:
        raise ContainError(f"--watch {text!r}: not a number; {bound}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_WATCH_S:
        raise ContainError(f"--watch {text}: {bound}")
    return seconds
