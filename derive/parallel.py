"""Worker processes for ``lossproof verify -j N`` that never outlive the run.

:class:`WorkerPool` wraps a fork-based :class:`~concurrent.futures.ProcessPoolExecutor`
(forked, so every worker shares the imports done before) with two guarantees:

* leaving the ``with`` block by an exception — ``KeyboardInterrupt`` from Ctrl-C, the
  exception a SIGTERM handler raises, an error in a progress callback — terminates every
  worker (SIGTERM, then SIGKILL after a grace period) and reaps it before re-raising;
* a worker whose parent disappears without that chance (killed with SIGKILL) notices
  within half a second and exits.

Workers ignore SIGINT, so a Ctrl-C sent to the whole process group (as a terminal does)
interrupts only the parent, which then stops the workers: no traceback from every worker.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

__all__ = ["WorkerPool"]

T = TypeVar("T")

_GRACE = 2.0  # seconds a terminated worker gets before SIGKILL
_WATCH = 0.5  # seconds between a worker's checks that its parent is alive


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:  # re-parented: the run is gone
            os._exit(1)
        time.sleep(_WATCH)


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler inherited by the fork
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="lossproof-parent-watch").start()


class WorkerPool:
    """``jobs`` forked worker processes; use as a context manager.

    Examples
    --------
    >>> with WorkerPool(2) as pool:
    ...     sorted(r for _, r in pool.map_unordered(abs, [-2, 1]))
    [1, 2]
    """

    def __init__(self, jobs: int) -> None:
        if type(jobs) is not int or jobs < 1:
            raise ValueError(f"jobs: must be an int >= 1, got {jobs!r}")
        self.jobs = jobs
        self._executor: ProcessPoolExecutor | None = None
        self._before: set[Any] = set()

    def __enter__(self) -> WorkerPool:
        self._before = set(multiprocessing.active_children())
        self._executor = ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker, initargs=(os.getpid(),))
        return self

    def map_unordered(self, fn: Callable[[T], Any],
                      tasks: Sequence[T]) -> Iterator[tuple[T, Any]]:
        """Yield ``(task, fn(task))`` as each finishes, the tasks started in the given order.

        A task whose worker died or raised yields the exception instead of a result.
        """
        if self._executor is None:
            raise RuntimeError("WorkerPool: use it in a with block")
        futures: dict[Future, T] = {self._executor.submit(fn, t): t for t in tasks}
        for fut in as_completed(futures):
            exc = fut.exception()
            yield futures[fut], (exc if exc is not None else fut.result())

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if exc_type is None:
            executor.shutdown(wait=True)
            return
        workers = set(multiprocessing.active_children()) - self._before
        executor.shutdown(wait=False, cancel_futures=True)
        for p in workers:
            p.terminate()
        for p in workers:
            p.join(_GRACE)
            if p.is_alive():
                p.kill()
                p.join()
