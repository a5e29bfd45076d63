"""Map a function over tasks in this process, in a process pool, or on a dask.distributed cluster, in task order.

One home for the "``--workers N`` or ``--scheduler tcp://...``" choice of
commands whose work is independent per item (duplicate fingerprints, the X-ray
cache).  :class:`concurrent.futures.ProcessPoolExecutor` and
:class:`distributed.Client` do the work; this module only picks one and keeps
the memory bounded (a batch of results in flight at a time on a cluster,
chunks of tasks in a pool).  Ingest and pull have their own drivers: they
collect results as they complete, not in order.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence, TypeVar

__all__ = ["map_ordered", "sized"]

T = TypeVar("T")
R = TypeVar("R")


def map_ordered(fn: Callable[[T], R], tasks: Sequence[T], *, workers: int = 1, scheduler: str | None = None,
                batch: int = 256) -> Iterator[R]:
    """Yield ``fn(task)`` for each task, in task order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers); it should return
        a reason rather than raise for a bad item, so one item cannot end the run.
    tasks : sequence
    workers : int
        Processes (1: in this process).
    scheduler : str, optional
        Address of a dask.distributed scheduler (``tcp://host:8786``); overrides
        ``workers``.  Needs the ``dask`` extra.
    batch : int
        Tasks submitted to the cluster at a time (bounded memory).
    """
    if scheduler:
        from .optional import require

        distributed = require("distributed", purpose="--scheduler")
        with distributed.Client(scheduler) as client:
            for i0 in range(0, len(tasks), batch):
                yield from client.gather(client.map(fn, list(tasks[i0:i0 + batch]), pure=False))
    elif workers > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as ex:
            yield from ex.map(fn, tasks, chunksize=max(1, min(32, len(tasks) // (4 * workers))))
    else:
        for t in tasks:
            yield fn(t)


def sized(it: Iterable[R], n: int) -> Iterable[R]:
    """``it`` with a length (for progress bars over a generator)."""
    return _Sized(it, n)


class _Sized:
    """An iterator with a length (a progress bar's total) over results that arrive one by one."""

    def __init__(self, it: Iterable, n: int) -> None:
        self._it, self._n = it, n

    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        return iter(self._it)
