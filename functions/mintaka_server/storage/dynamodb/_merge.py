"""Reading write-sharded indexes: one Query per shard, sent in parallel, merged by sort key.

A sharded index (`_keys.SHARDS` partitions of one logical key) is read with a bounded set of
Queries: each shard's first page is requested at once on a small shared thread pool, later pages
only when the merge reaches the end of a shard's page. The botocore client is thread-safe and
shared; pynamodb builds no client per thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from mintaka import _aws

T = TypeVar("T")
_END = object()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
# As many as the botocore client keeps connections (more would open and drop connections).
WORKERS = _aws.MAX_POOL_CONNECTIONS


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mintaka-dynamodb")
        return _pool


def parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Each call's result, in order; the calls run concurrently (the first error is raised)."""
    if len(calls) <= 1:
        return [call() for call in calls]
    futures = [_executor().submit(call) for call in calls]
    return [future.result() for future in futures]


def merged(streams: Sequence[Iterable[T]], key: Callable[[T], Any], reverse: bool = False) -> Iterator[T]:
    """The items of sorted streams (each a lazy Query) in one sorted order. The streams' first
    items are fetched concurrently; the rest as the merge needs them."""
    iterators = [iter(stream) for stream in streams]
    firsts = parallel([lambda it=it: next(it, _END) for it in iterators])
    primed = [itertools.chain([first], it) for first, it in zip(firsts, iterators, strict=True) if first is not _END]
    if len(primed) == 1:
        return primed[0]
    return heapq.merge(*primed, key=key, reverse=reverse)


def all_pages(source, partitions: Sequence[str], sort_condition=None, **options) -> list[list]:
    """Every item of each partition (all pages), one list per partition, read concurrently."""
    return parallel([lambda p=p: list(source.query(p, sort_condition, **options)) for p in partitions])
