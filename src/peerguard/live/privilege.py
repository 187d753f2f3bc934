"""Least privilege for live agents: each agent process runs as a user of its own, never as the platform's root.

When the platform runs as root, every agent of a run gets a numeric uid of its own from a high range (no /etc/passwd
entry is needed) and the run's group, which owns the sandbox folder. Another uid cannot read an agent's
/proc/<pid>/environ or memory, write the ledger (root's), read a signing key (0600, root's) or write any cgroup's
`cgroup.procs` (root's, 0644); the sandbox, shared through the group, is the only place it can write.

Whether the host lets such a uid run this interpreter and import peerguard is not guessed from permission bits
(`os.access` answers for the caller, not for another uid): it is tried once per platform process, by running
`python -c 'import peerguard.live.agent'` as an unprivileged uid, and the answer is cached. Where privileges cannot
be dropped (the platform is not root, or the interpreter is out of reach), the run says why in its header and extras.
"""

from __future__ import annotations

import functools
import itertools
import os
import resource
import subprocess
from dataclasses import dataclass

FIRST_ID = 1_000_000_000  # uids and gids from here up are far from any a distribution hands out
BLOCK = 65_536  # ids per run: the first is the run's group, the rest its agents' users (a larger fleet reuses them)
BLOCKS = 16_384  # FIRST_ID + BLOCKS * BLOCK stays below 2**31; two runs at once share a block 1 time in BLOCKS
NO_HOME = "/nonexistent"  # agents' HOME: tools that write there fail instead of writing elsewhere unseen
AGENT_UMASK = 0o007  # files an agent makes are its group's (the run's) to change, nobody else's
DEFAULT_MEMORY_BYTES = 4 * 1024**3  # address space per agent process (RLIMIT_AS); a language-model client fits
_serial = itertools.count()


@dataclass(frozen=True)
class Credentials:
    """Who an agent process becomes before it runs anything: set in the child between fork and exec."""

    uid: int | None  # None: keep the platform's
    gid: int | None
    memory_bytes: int | None  # RLIMIT_AS; None: no bound
    umask: int | None = None


def become(credentials: Credentials) -> None:
    """Called in the forked child before exec: bound memory, then drop supplementary groups, the group, the user.

    The user goes last (after it no call below could succeed). The parent death signal is cleared by the kernel
    when credentials change, so the agent program sets it itself after exec.
    """
    if credentials.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (credentials.memory_bytes, credentials.memory_bytes))
    if credentials.umask is not None:
        os.umask(credentials.umask)
    if credentials.gid is not None:
        os.setgroups([])
        os.setgid(credentials.gid)
    if credentials.uid is not None:
        os.setuid(credentials.uid)


@dataclass(frozen=True)
class Privilege:
    """What a run's agents run as."""

    dropped: bool
    reason: str
    gid: int | None = None  # the run's group: owns the sandbox
    first_uid: int | None = None
    memory_bytes: int | None = None

    def credentials(self, index: int) -> Credentials:
        """The credentials of the run's agent number `index` (a uid of its own, while the block lasts)."""
        if not self.dropped or self.first_uid is None:
            return Credentials(None, None, self.memory_bytes)
        return Credentials(self.first_uid + index % (BLOCK - 1), self.gid, self.memory_bytes, AGENT_UMASK)

    def describe(self) -> str:
        return f"{'dropped' if self.dropped else 'not-dropped'} ({self.reason})"

    def extras(self) -> dict[str, object]:
        return {
            "dropped": self.dropped, "reason": self.reason, "gid": self.gid, "first_uid": self.first_uid,
            "memory_bytes": self.memory_bytes,
        }  # fmt: skip


def plan(python: str, *, drop: bool = True, memory_bytes: int | None = DEFAULT_MEMORY_BYTES) -> Privilege:
    """The privilege of a new run's agents: their own uids when the host allows it, else why not."""
    if not drop:
        return Privilege(False, "kept on request (LiveOptions.drop_privileges=False)", memory_bytes=memory_bytes)
    if os.geteuid() != 0:
        return Privilege(False, f"the platform runs as uid {os.geteuid()}, not root", memory_bytes=memory_bytes)
    block = (os.getpid() * 16 + next(_serial)) % BLOCKS
    gid = FIRST_ID + block * BLOCK
    problem = interpreter_problem(python)
    if problem is not None:
        return Privilege(False, problem, memory_bytes=memory_bytes)
    return Privilege(
        True, f"each agent its own uid from {gid + 1}, group {gid}", gid=gid, first_uid=gid + 1,
        memory_bytes=memory_bytes,
    )  # fmt: skip


@functools.cache
def interpreter_problem(python: str) -> str | None:
    """Why an unprivileged uid cannot run `python` and import the agent program here; None when it can.

    Tried for real, once per platform process: file modes alone do not say what another uid may reach.
    """
    probe = Credentials(FIRST_ID, FIRST_ID, None)
    try:
        done = subprocess.run(
            [python, "-c", "import peerguard.live.agent"],
            preexec_fn=lambda: become(probe), cwd="/", env={**os.environ, "HOME": NO_HOME},
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
        )  # fmt: skip
    except OSError as error:
        return (
            f"uid {FIRST_ID} cannot run {python} ({error.strerror}): make the folders on its path traversable "
            "(chmod o+x, see the README)"
        )
    except subprocess.SubprocessError as error:
        return f"uid {FIRST_ID} could not be set or did not finish importing peerguard: {error}"
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return f"uid {FIRST_ID} cannot import peerguard with {python} ({last}): make the package readable to others"
    return None
