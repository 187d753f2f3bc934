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
import os
import pickle
import selectors
import subprocess
import sys
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
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "peerguard.experiments.worker", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(),
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests: IO[bytes] = self.process.stdin
        self.replies: IO[bytes] = self.process.stdout
        self.episode: Episode | None = None  # the one it is running

    def send(self, episode: Episode) -> None:
        self.episode = episode
        pickle.dump(episode, self.requests, protocol=pickle.HIGHEST_PROTOCOL)
        self.requests.flush()

    def receive(self) -> tuple[Episode, Result]:
        episode, self.episode = self.episode, None
        assert episode is not None
        try:
            status, value = pickle.load(self.replies)
        except EOFError:
            raise EpisodeFailed(
                f"a study worker (pid {self.process.pid}) exited with {self.process.wait()} while running"
                f" {episode.kind} {episode.params}"
            ) from None
        if status != "ok":
            raise EpisodeFailed(f"episode {episode.kind} {episode.params} failed in a worker:\n{value}")
        return episode, value

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
                episode = next(queue, None)
                if episode is not None:
                    worker.send(episode)
                    ready.register(worker.replies, selectors.EVENT_READ, worker)
            try:
                while ready.get_map():
                    for key, _ in ready.select():
                        worker = key.data
                        yield worker.receive()
                        episode = next(queue, None)
                        if episode is None:
                            ready.unregister(worker.replies)
                        else:
                            worker.send(episode)
            except BaseException:
                self.close()  # a worker mid-episode holds a reply nobody will read: end them all
                raise


def run_in_plan_order(episodes: list[Episode], executor: LocalExecutor) -> list[Result]:
    """Every episode's result in the order planned, however the executor finished them."""
    results = {episode.key: result for episode, result in executor.run(episodes)}
    return [results[episode.key] for episode in episodes]
