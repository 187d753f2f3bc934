"""Where a study's episodes run: this process, or a pool of local worker processes (all cores by default).

Simulator episodes are pure functions of their parameters, so the pool returns the same results (digests
included) as one process; they are handed back as they finish and put in plan order by the caller.
Live episodes own the process's signal handlers and children and are timed in real seconds, so they
always run here, in the main thread, one at a time, and never beside a busy pool.

The pool's workers are fresh interpreters (`python -m peerguard.experiments.worker`) fed through pipes,
not forks: a fork of a process whose other threads hold locks (a model client's event loop, a progress
display) can deadlock, and multiprocessing's spawn leaves a resource tracker process running beside
the caller.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import selectors
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import peerguard
from peerguard.experiments.episodes import Episode, run
from peerguard.world.errors import PeerguardError

Result = dict[str, Any]


class EpisodeFailed(RuntimeError):
    """An episode raised in a pool worker; the message holds the worker's traceback."""


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _worker_env() -> dict[str, str]:
    """This process's environment, with the folder this peerguard was imported from first on the path, so a
    worker runs the very same code (a checkout, an installed wheel or a test's copy)."""
    source = str(Path(peerguard.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": source + (os.pathsep + path if path else "")}


class _Worker:
    """One worker process: episodes go down its stdin, framed replies come back on its stdout, several
    in flight, so it never waits on a busy study to hand it the next one."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "peerguard.experiments.worker", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(),
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests: IO[bytes] = self.process.stdin
        self.replies: IO[bytes] = self.process.stdout
        self.running: deque[Episode] = deque()  # sent, in the order the worker answers them
        self.buffer = bytearray()

    def send(self, episode: Episode) -> None:
        self.running.append(episode)
        pickle.dump(episode, self.requests, protocol=pickle.HIGHEST_PROTOCOL)
        self.requests.flush()

    def receive(self) -> list[tuple[Episode, Result]]:
        """The replies that have arrived (read without blocking: the caller saw the pipe readable)."""
        chunk = os.read(self.replies.fileno(), 1 << 20)
        if not chunk:
            episode = self.running[0]
            raise EpisodeFailed(
                f"a study worker (pid {self.process.pid}) exited with {self.process.wait()} while running"
                f" {episode.kind} {episode.params}"
            )
        self.buffer += chunk
        finished = []
        while len(self.buffer) >= 8 and len(self.buffer) >= 8 + (size := int.from_bytes(self.buffer[:8], "big")):
            status, value = pickle.loads(self.buffer[8 : 8 + size])
            del self.buffer[: 8 + size]
            episode = self.running.popleft()
            if status != "ok":
                raise EpisodeFailed(f"episode {episode.kind} {episode.params} failed in a worker:\n{value}")
            finished.append((episode, value))
        return finished

    def close(self) -> None:
        """End the worker: its stdin closes and it exits; one that does not is killed (it is ours)."""
        with contextlib.suppress(OSError):  # a worker that died has a broken pipe
            self.requests.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # busy with a long episode: nothing more is wanted from it
            self.process.kill()
            self.process.wait()
        self.replies.close()


IN_FLIGHT = 4  # episodes queued at each worker


class LocalExecutor:
    """Runs episodes in this process (`workers=1`) or in a pool of `workers` worker processes."""

    def __init__(self, workers: int | None = None) -> None:
        workers = default_workers() if workers is None else workers
        if workers < 1:
            raise PeerguardError(f"--workers {workers}: give at least 1")
        self.workers = workers
        self._pool: list[_Worker] = []

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pool, self._pool = self._pool, []
        for worker in pool:
            worker.close()

    def run(self, episodes: list[Episode]) -> Iterator[tuple[Episode, Result]]:
        """Each episode with its result, as they finish; live episodes after the rest, here, one at a time."""
        simulated = [e for e in episodes if not e.live]
        if self.workers == 1 or len(simulated) <= 1:
            for episode in simulated:
                yield episode, run(episode)
        else:
            yield from self._pooled(simulated)
        for episode in (e for e in episodes if e.live):
            yield episode, run(episode)

    def _pooled(self, episodes: list[Episode]) -> Iterator[tuple[Episode, Result]]:
        while len(self._pool) < min(self.workers, len(episodes)):
            self._pool.append(_Worker())  # started once, kept for the next section
        queue = iter(episodes)
        with selectors.DefaultSelector() as ready:
            for worker in self._pool:
                for episode in itertools.islice(queue, IN_FLIGHT):
                    worker.send(episode)
                if worker.running:
                    ready.register(worker.replies, selectors.EVENT_READ, worker)
            try:
                while ready.get_map():
                    for key, _ in ready.select():
                        worker = key.data
                        for episode, result in worker.receive():
                            yield episode, result
                            following = next(queue, None)
                            if following is not None:
                                worker.send(following)
                        if not worker.running:
                            ready.unregister(worker.replies)
            except BaseException:
                self.close()  # a worker mid-episode holds replies nobody will read: end them all
                raise


def run_in_plan_order(episodes: list[Episode], executor: LocalExecutor) -> list[Result]:
    """Every episode's result in the order planned, however the executor finished them."""
    results = {episode.key: result for episode, result in executor.run(episodes)}
    return [results[episode.key] for episode in episodes]
