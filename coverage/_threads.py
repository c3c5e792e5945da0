"""Thread pools for work that releases the GIL (GEOS, scipy's KD-tree, numpy).

One helper, so every parallel step honours ``settings.n_jobs`` the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def thread_count(n_jobs: int | None) -> int:
    """Threads to use: ``n_jobs``, or every core when it is None."""
    return n_jobs or os.cpu_count() or 1


def run_threaded(
    func: Callable[..., T], jobs: Sequence[tuple[Any, ...]], *, n_jobs: int | None,
    progress: bool = False, desc: str = "", unit: str = "facility",
) -> list[T]:
    """``[func(*job) for job in jobs]`` on a thread pool, results in order.

    Shapely releases the GIL inside GEOS, scipy inside KD-tree queries and numpy inside
    its loops over numbers, so such work scales with cores.
    """
    workers = min(thread_count(n_jobs), len(jobs))
    bar_type: Any = tqdm
    if progress:  # tqdm.auto warns on import in a notebook without ipywidgets: only when asked
        from tqdm import auto

        bar_type = auto.tqdm
    bar = bar_type(total=len(jobs), desc=desc, unit=unit, disable=not progress)
    try:
        if workers <= 1:
            out = []
            for job in jobs:
                out.append(func(*job))
                bar.update()
            return out
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(func, *job) for job in jobs]
            for _ in as_completed(futures):
                bar.update()
            return [f.result() for f in futures]
    finally:
        bar.close()
