"""Running independent NumPy work on the cores this process may use, with results as if run in turn.

NumPy releases the interpreter lock inside its array loops, so threads running array code (a calibration
fit, a block of bootstrap replicates, a score file's parse) share the cores. Every job computes exactly
what it would alone: only the order in which jobs *run* changes, never their arithmetic, and
:func:`thread_map` returns results in the jobs' order.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["cores", "thread_map", "one_blas_thread"]

# threads at most (None: one per core this process may use)
THREADS = None


def cores() -> int:
    """The cores this process may run on (at most :data:`THREADS`, when set)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, THREADS or n))


def thread_map(function, items: list, workers: int | None = None) -> list:
    """``[function(item) for item in items]``, on up to ``workers`` (default :func:`cores`) threads; the
    first item's exception, in order, is raised."""
    workers = min(workers or cores(), len(items))
    if workers <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def one_blas_thread():
    """BLAS limited to one thread (threads of ours each run their own small products; BLAS's threads on
    top of them, or of other work on the machine, wait on each other), where threadpoolctl is installed
    (scikit-learn brings it); else nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
