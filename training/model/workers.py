"""Worker processes of a training run: its K-Means fits (the k sweep, the reference's trees)
and the report's plots.

Scikit-learn's Lloyd loop releases the GIL, but everything around each fit (validation,
k-means++ seeding, the bootstrap's 660 small fits) holds it: two fits in two threads of one
process ran the k = 2..12 sweep's fits in 2.4-3.5 s on 2 cores where the same fits in two worker
processes took 2.0-2.2 s (the serial sum is 4.2 s), and the tail's pandas work slowed whatever
ran beside it in a thread. :class:`FitWorkers` runs module-level functions in ``workers``
processes, one OpenMP and BLAS thread each, so every fit is the same fit wherever it runs
(results never depend on the count).

The processes come from a ``forkserver`` that imports scikit-learn once (a run starts it before
loading the table, on the core the load leaves idle); each worker is a fork of that clean server,
never of the run's own threaded process. Arguments and results travel by pickle: a fit sends its
distinct rows with it (30,535 x 3 for the default table's 153,443 learners) and gets the fitted
estimator back. Where the platform
has no ``forkserver`` (Windows) or ``workers`` is 1, :class:`FitWorkers` runs each function in
the calling process when it is submitted.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

__all__ = ["FitWorkers"]

logger = logging.getLogger(__name__)

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")

#: What the forkserver imports once (scikit-learn, matplotlib), so that a worker's first fit or
#: plot does not pay for it.
_PRELOAD = [
    "training.model.forkserver_signals",  # first: a Ctrl-C is the training process's to handle
    "training.model.compare",
    "training.model.sweep",
    "training.report.plots",
]
#: Kept alive in each worker: the thread limits hold while the object lives.
_LIMITS: list[Any] = []


def _start_worker(run: int) -> None:
    """Worker initializer: one OpenMP and one BLAS thread for the worker's whole life, and a
    watch on the training process (pid ``run``) that ends the worker when that process ends.

    A pool's workers wait on its queue and never learn that the process that made them died
    (killed, or stopped by a signal without cleaning up); each also holds the forkserver's
    life line open, so without the watch a killed run would leave its workers and forkserver
    behind (a test kills a run to check this).
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the training process stops the run
    _LIMITS.append(threadpool_limits(limits=1))
    threading.Thread(target=_end_with, args=(run,), name="watch-run", daemon=True).start()


def _end_with(pid: int) -> None:
    """Block until process ``pid`` has ended, then end this process at once."""
    try:
        handle = os.pidfd_open(pid)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
    else:
        while _alive(pid):
            time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready() -> bool:
    return True


def _can_start_workers() -> bool:
    """Whether worker processes can start: the platform has a forkserver, and the main module is
    safe to import in a worker. Python imports the main script of the training process in each
    worker it starts; a script that trains at its top level, without an
    ``if __name__ == "__main__":`` guard, would train again there and break the pool (every
    multiprocessing library has this rule), so such a script fits in its own process, slower,
    with a warning that says how to use the workers."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        return True  # python -m ..., an interactive session or a notebook: nothing to re-run
    try:
        guarded = "__main__" in Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        guarded = False
    if not guarded:
        logger.warning(
            '%s trains without an `if __name__ == "__main__":` guard: K-Means runs in this '
            "process only (slower); put the training call under such a guard to use the "
            "worker processes.",
            Path(path).name,
        )
    return guarded


class _Inline(Executor):
    """Runs each submitted function at once, in the calling thread (a completed future); its
    result comes back as a worker's would, through pickle, so that what a run writes (a pickled
    estimator's bytes included) is the same with one process as with workers."""

    def submit(
        self, fn: Callable[_Params, _Result], /, *args: _Params.args, **kwargs: _Params.kwargs
    ) -> Future[_Result]:
        future: Future[_Result] = Future()
        try:
            future.set_result(pickle.loads(pickle.dumps(fn(*args, **kwargs))))
        except BaseException as error:  # handed to whoever reads the result, as a pool would
            future.set_exception(error)
        return future


class FitWorkers:
    """``workers`` processes that run K-Means fits (and other module-level functions of arrays).

    Use as a context manager; :meth:`start` warms the processes up without waiting for them.

    Parameters
    ----------
    workers : int
        Processes; 1 (or a platform without ``forkserver``) runs every function inline.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(int(workers), 1)
        self._executor: Executor
        if self.workers > 1 and _can_start_workers():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        else:
            self._executor = _Inline()

    @property
    def in_processes(self) -> bool:
        """Whether functions run in worker processes (not inline)."""
        return isinstance(self._executor, ProcessPoolExecutor)

    def start(self) -> None:
        """Start the processes now, without waiting for them: the first start blocks until the
        forkserver has imported scikit-learn (~1.5 s), so a thread of its own asks for them."""
        if self.in_processes:
            threading.Thread(target=self._warm, name="fit-workers-start", daemon=True).start()

    def _warm(self) -> None:
        try:
            for _ in range(self.workers):
                self._executor.submit(_ready)
        except Exception:  # closed, broken or stopped before they started: the warm-up is
            return  # best effort, and the run's own submits report a real failure

    def submit(
        self, fn: Callable[_Params, _Result], /, *args: _Params.args, **kwargs: _Params.kwargs
    ) -> Future[_Result]:
        """``fn(*args, **kwargs)`` in a worker (``fn`` importable by module path, arguments and
        result picklable)."""
        return self._executor.submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Stop the workers once their queued work is done (cancel what has not started)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FitWorkers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
