"""Wait for an observable outcome in tests, with a bound."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(predicate: Callable[[], Awaitable[T]], timeout_s: float = ..., interval_s: float = ...) -> T: ...
@overload
async def eventually(predicate: Callable[[], T], timeout_s: float = ..., interval_s: float = ...) -> T: ...


async def eventually(predicate: Callable[[], Any], timeout_s: float = 5.0, interval_s: float = 0.05) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy, and return that; raise TimeoutError
    after `timeout_s`."""

    async def poll() -> Any:
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(interval_s)  # noqa: ASYNC110 - polling another component's state

    return await asyncio.wait_for(poll(), timeout_s)
