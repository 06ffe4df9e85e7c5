"""The small thread pool that blocking API calls of the async paths run on, instead of the event loop's default.

A triggerer runs many providers' triggers in one asyncio loop; ``asyncio.to_thread`` would put this
provider's slow requests in the pool they all share (and grow its threads, each with its own HTTP
clients). Four threads bound both: the poller's batched refreshes and the odd cancel fit in them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_WORKERS = 4

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The process-wide pool (created on first use; ``trainjobs-`` threads)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="trainjobs")
        return _pool


async def in_executor(func: Callable[..., Any], *args: Any) -> Any:
    """Await ``func(*args)`` run on :func:`executor`, with the caller's context variables (as to_thread does)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args)
    return await asyncio.get_running_loop().run_in_executor(executor(), call)
