"""The time budget of an automatic fusion fit and the workers that spend it.

:class:`TimeBudget` tells how many seconds are left of a ``time_limit`` and
whether an estimated cost fits them; :func:`run_tasks` runs independent fits in
joblib workers, each task with its BLAS and OpenMP thread pools limited to one
thread, reporting each finished task. The tasks are the fits of automatic
fusion's folds on encoded rows (heads, token and string encoders, block
scaling): their matrices are too small for threads to pay, the parallelism is
the workers', and on a busy 2-core machine (load average 5-6) the native
threads made such fits 4 to 20 times slower (``benchmarks/fold_fits.py``:
skrub's ``StringEncoder`` on 1,793 package names, 0.17 s on one thread and
1.9 s on two; the tree heads' search, 18-21x in that run).
"""

import time

from joblib import effective_n_jobs
from threadpoolctl import threadpool_limits

from .._parallel import Parallel, delayed

__all__ = ["TimeBudget", "run_tasks", "worker_count"]


class TimeBudget:
    """Seconds left of a time limit counted from construction.

    Parameters
    ----------
    time_limit : float or None
        Seconds allowed; None is no limit.
    """

    def __init__(self, time_limit):
        self.time_limit = time_limit
        self._start = time.perf_counter()

    def elapsed(self):
        """Seconds since the budget started."""
        return time.perf_counter() - self._start

    def left(self):
        """Seconds left (``inf`` without a limit)."""
        if self.time_limit is None:
            return float("inf")
        return self.time_limit - self.elapsed()

    def skip_reason(self, estimate):
        """Why a step estimated at ``estimate`` seconds is skipped, or None."""
        left = self.left()
        if estimate is None or estimate <= left:
            return None
        return (
            f"skipped: estimated {estimate:.1f} s, {max(left, 0.0):.1f} s left of "
            f"time_limit={self.time_limit!r}"
        )


def worker_count(n_jobs, n_tasks):
    """Workers for ``n_tasks`` tasks under joblib's ``n_jobs`` convention."""
    return max(1, min(effective_n_jobs(n_jobs), n_tasks))


def run_tasks(function, arguments, *, n_jobs, on_done=None):
    """``function(*args)`` for every ``args`` of ``arguments``, in order.

    Parameters
    ----------
    function : callable
        Returns the task's result; picklable for process workers.
    arguments : list of tuple
        One tuple of positional arguments per task.
    n_jobs : int or None
        joblib's convention (None: one worker, -1: every core).
    on_done : callable, default=None
        Called with no argument after each task finishes (a progress bar's
        update).

    Returns
    -------
    results : list
        The results, in the order of ``arguments``.
    """
    n_workers = worker_count(n_jobs, len(arguments))
    if n_workers == 1:
        outputs = (_on_one_thread(function, args) for args in arguments)
    else:
        outputs = Parallel(n_jobs=n_workers, return_as="generator")(
            delayed(_on_one_thread)(function, args) for args in arguments
        )
    results = []
    for result in outputs:
        results.append(result)
        if on_done is not None:
            on_done()
    return results


def _on_one_thread(function, args):
    """Run ``function(*args)`` with the native thread pools at one thread."""
    with threadpool_limits(limits=1):
        return function(*args)
