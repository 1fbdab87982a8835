"""A dask.distributed client for the commands that spread work over processes or machines.

    with connect(workers=4) as client:                # an embedded LocalCluster, 4 processes
        ...
    with connect(scheduler="tcp://host:8786") as client:   # a running cluster
        ...

dask is an optional dependency (``pip install 'compute-exchange[dist]'``): it is
imported here, lazily, and nowhere else at import time, so every single-machine path
works without it; ``DaskMissing`` says how to install it.

The local cluster runs one single-threaded worker per process: the simulation and
the order-file parsing hold the GIL in their Python parts, so threads would not run
them side by side. Starting one costs a few seconds (process spawn and imports);
each worker then loads the compiled kernels once.
"""
from __future__ import annotations

import contextlib
import logging
import os

INSTALL_HINT = "install compute-exchange[dist] (pip install 'compute-exchange[dist]') to use dask.distributed"


# dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536. Setting it at all turns
# off glibc's adaptive mmap threshold, so every numpy array over 128 KiB is a fresh
# mmap, zeroed page by page: the simulation then ran 1.5-2x slower in a worker than in a
# plain process (15x the page faults). The local cluster starts its workers without it;
# README shows the same setting for `dask worker`.
LOCAL_SETTINGS = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class DaskMissing(ImportError):
    """dask.distributed is not installed."""

    def __init__(self):
        super().__init__(INSTALL_HINT)


class ClusterError(ValueError):
    """The scheduler cannot be reached, or the cluster options are unusable; one line."""


def require_dask():
    """Import and return ``distributed``; DaskMissing if it is not installed."""
    try:
        import distributed
    except ImportError:
        raise DaskMissing() from None
    return distributed


def default_workers() -> int:
    """The local cluster's size when none is given: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None, *, timeout: float = 30.0):
    """A Client on a new LocalCluster of ``workers`` processes (default: the CPU count)
    or, with ``scheduler`` (``tcp://HOST:PORT``), on that running cluster. Closed (and the
    local cluster stopped) on exit. ClusterError if the scheduler does not answer."""
    distributed = require_dask()
    if scheduler is not None and workers is not None:
        raise ClusterError("give --workers (a local cluster) or --scheduler (a running one), not both")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the scheduler at {scheduler}: {error}") from None
        except ValueError as error:
            raise ClusterError(f"--scheduler {scheduler!r}: {error}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = default_workers() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ClusterError(f"--workers must be a positive number of processes, got {workers!r}")
    import dask

    with dask.config.set(LOCAL_SETTINGS):
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def failures() -> tuple:
    """Exceptions that mean the cluster failed, not the job: a task whose workers kept dying,
    a lost connection, a cancelled task, a timeout. Callers turn them into ClusterError."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError

    return (KilledWorker, CommClosedError, FutureCancelledError, TimeoutError)


def failure_message(error: BaseException) -> str:
    return f"the dask cluster failed: {type(error).__name__}: {error}".splitlines()[0]


def worker_count(client) -> int:
    """Workers the scheduler knows of now."""
    return len(client.scheduler_info().get("workers", {}))
