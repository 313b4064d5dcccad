"""Chunks of a run scored in worker processes, handed back in order: the same bytes as one process, more cores.

Workers are started fresh (spawn): a runner may hold an engine, threads or a run folder's lock in this process. Only
a pool made before anything of the kind exists (``fork=True``: scoring an outputs file, before it is read) forks them,
and then only while this process runs a single thread: copies start at once, without importing onkobench again (on a
small machine that import was a sixth of the CPU of scoring 500,000 samples). Each builds the task's scorer once, so
that a scorer that cannot be built fails like any chunk, with its own error. A chunk's error (an unreadable response
line, naming the file and byte) reaches the caller as raised, and the workers stop; the caller's atomic writes then
keep the files of the previous scoring.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Any, TypeVar

from harness.gc_pacing import BULK_THRESHOLD
from harness.config.tasks import Task, Variant
from harness.errors import OnkobenchError
from harness.jsonl import ColumnEncoder
from harness.scoring import SampleScorer
from harness.scoring import chunks as chunking
from harness.scoring.chunks import Chunk, ScoredChunk, score_chunk
from harness.scoring.stages import StageTimes
from harness.store import ResponseReader

Item = TypeVar("Item")
Done = TypeVar("Done")

AUTO_MIN_SAMPLES = 50_000
"""Below this many samples one process scores (starting workers costs about a second); at or above it, every core."""
AUTO_MAX_WORKERS = 8
"""The most workers chosen without being asked: past this the serial work around them (reading the data set and the
outputs, writing the files) bounds the gain."""
IN_FLIGHT_PER_WORKER = 2
"""Chunks handed to each worker ahead of the one awaited: enough to keep it busy, few enough to bound memory."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def scoring_workers(requested: int | None, n_samples: int) -> int:
    """Worker processes for a run of ``n_samples``: as requested (1: this process alone), else 1 for a small run and
    one per core (at most ``AUTO_MAX_WORKERS``) for a large one; never more than the run has chunks."""
    if requested is not None:
        if requested < 1:
            raise OnkobenchError(f"workers: must be at least 1, not {requested}")
        wanted = requested
    elif n_samples < AUTO_MIN_SAMPLES:
        wanted = 1
    else:
        wanted = min(available_cores(), AUTO_MAX_WORKERS)
    n_chunks = max(1, -(-n_samples // chunking.CHUNK_SAMPLES))
    return min(wanted, n_chunks)


def start_method(fork: bool) -> str:
    """"fork" where it is allowed and safe: Linux, where this process has one thread (no engine's, library's or
    executor's thread could be copied holding a lock); else "spawn"."""
    if not fork or "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    try:
        threads = len(os.listdir("/proc/self/task"))  # every thread, native ones (an OpenMP pool, CUDA's) too
    except OSError:
        return "spawn"  # not Linux: threads cannot be counted
    return "fork" if threads == 1 else "spawn"


class ScoringPool:
    """The processes that score one run's chunks: none (``workers`` 1: this process scores), or ``workers`` started at
    once, so that they load the task's scorer (a catalogue) while this process still reads."""

    def __init__(self, task: Task, variant: Variant | None, workers: int, fork: bool = False) -> None:
        """``fork``: the caller holds no engine, open run folder or lock that a copy of this process must not have;
        the workers are then forked where this process runs a single thread (``start_method``)."""
        self.task, self.variant, self.workers = task, variant, workers
        self._pool: ProcessPoolExecutor | None = None
        self._local: tuple[SampleScorer, ColumnEncoder] | None = None
        self._stopping: threading.Thread | None = None
        self._released = False
        self.start_method: str | None = None
        """How the workers were started: "fork", "spawn", or None (no workers)."""
        if workers > 1:
            self.start_method = start_method(fork)
            # a forking executor starts all its workers at the first submission, before its own threads
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(self.start_method),
                                             initializer=_start_worker,
                                             initargs=(task, variant, _scorer_modules(task, variant)))
            for _ in range(workers):  # each submission finds no idle worker yet, so each starts one
                self._pool.submit(_warm_up)

    def scored(self, chunks: Iterable[Chunk], responses_path: Path, times: StageTimes | None = None) -> Iterator[ScoredChunk]:
        """Each chunk scored from the responses file at ``responses_path``, in order: here, or by the workers a few
        chunks ahead. A chunk's responses must be in the file (flushed) when the chunk comes."""
        if self._released:
            raise RuntimeError("this scoring pool's workers were let go: it scores nothing more")
        if self._pool is None:
            scorer, encoder = self._scorer()
            with ResponseReader(responses_path) as reader:  # one reader for the run: it reads on without seeking
                for chunk in chunks:
                    yield score_chunk(scorer, encoder, reader, chunk)
            return
        yield from self.in_order(partial(score_from_file, responses_path), chunks, times)

    def in_order(self, work: Callable[[SampleScorer, ColumnEncoder, Item], Done], items: Iterable[Item],
                 times: StageTimes | None = None) -> Iterator[Done]:
        """``work(scorer, encoder, item)`` of each item, in order: here, or by the workers a few items ahead (``work``
        a module-level function, or a partial of one, so that a worker can import it). Items not yet started when
        the caller stops are dropped."""
        times = times if times is not None else StageTimes()
        if self._released:
            raise RuntimeError("this scoring pool's workers were let go: it scores nothing more")
        if self._pool is None:
            scorer, encoder = self._scorer()
            for item in items:
                yield work(scorer, encoder, item)
            return
        pending: deque[Future[Done]] = deque()
        try:
            for item in items:
                pending.append(self._pool.submit(_in_worker, work, item))
                if len(pending) >= IN_FLIGHT_PER_WORKER * self.workers:
                    with times.timed("wait for workers"):
                        done = pending.popleft().result()
                    yield done
            while pending:
                with times.timed("wait for workers"):
                    done = pending.popleft().result()
                yield done
        finally:
            for future in pending:
                future.cancel()

    def _scorer(self) -> tuple[SampleScorer, ColumnEncoder]:
        """This process's scorer and encoder (with no workers), built once for the run."""
        if self._local is None:
            self._local = (SampleScorer(self.task, self.variant), ColumnEncoder())
        return self._local

    def close(self) -> None:
        """Stop the workers: chunks not yet started are dropped (after an error, nothing waits for them)."""
        self.release()
        if self._stopping is not None:
            self._stopping.join()
            self._stopping = None
        self._pool = None

    def release(self) -> None:
        """Let the workers exit while this process goes on (the run's chunks are all scored; the pool scores nothing
        more); ``close`` waits for them."""
        if self._released:
            return
        self._released = True
        if self._pool is not None:
            self._stopping = threading.Thread(target=self._pool.shutdown, kwargs={"wait": True, "cancel_futures": True},
                                              name="scoring-pool-shutdown", daemon=True)
            self._stopping.start()

    def __enter__(self) -> "ScoringPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scorer_modules(task: Task, variant: Variant | None) -> tuple[str, ...]:
    """The modules that define the task's parser, aggregator and scorer: a worker imports them before building its
    scorer, so components a family registered in this process (not only by entry point) are known there too."""
    from harness.scoring.aggregators import AGGREGATORS
    from harness.scoring.parsers import PARSERS
    from harness.scoring.scorers import SCORERS

    parser = variant.parser if variant is not None and variant.parser is not None else task.parser
    factories = [PARSERS.get(parser.name), SCORERS.get(task.scorer.name)]
    if variant is not None and variant.aggregate is not None:
        factories.append(AGGREGATORS.get(variant.aggregate.name))
    names = {getattr(factory, "__module__", None) for factory in factories}
    return tuple(sorted(name for name in names if name and name not in ("__main__", "__mp_main__")))


_job: dict[str, Any] = {}
"""In a worker: what its chunks are scored with (set by ``_start_worker``; the scorer built by its first task)."""


def _start_worker(task: Task, variant: Variant | None, modules: tuple[str, ...]) -> None:
    # a forked copy keeps its parent's handlers (an event loop's SIGTERM handler would keep it from being terminated,
    # and write its signals to the parent loop's wake-up socket): a worker runs none of them
    signal.set_wakeup_fd(-1)
    for number in signal.valid_signals():
        if callable(signal.getsignal(number)):
            signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops the pool
    gc.set_threshold(BULK_THRESHOLD, *gc.get_threshold()[1:])  # a worker only ever scores chunks (gc_pacing)
    _job.update(task=task, variant=variant, modules=modules)


def _scorer_of_worker() -> tuple[SampleScorer, ColumnEncoder]:
    if "scorer" not in _job:
        for module in _job["modules"]:
            import_module(module)
        _job["scorer"] = SampleScorer(_job["task"], _job["variant"])
        _job["encoder"] = ColumnEncoder()
    return _job["scorer"], _job["encoder"]


def _warm_up() -> None:
    _scorer_of_worker()


def _in_worker(work: Callable[[SampleScorer, ColumnEncoder, Item], Done], item: Item) -> Done:
    scorer, encoder = _scorer_of_worker()
    return work(scorer, encoder, item)


def score_from_file(responses_path: Path, scorer: SampleScorer, encoder: ColumnEncoder, chunk: Chunk) -> ScoredChunk:
    """``score_chunk`` reading the chunk's responses from the file at ``responses_path``."""
    with ResponseReader(responses_path) as reader:
        return score_chunk(scorer, encoder, reader, chunk)
