"""Wait for an observable outcome in tests, with a bound."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0, interval_s: float = 0.05
) -> None:
    """Poll `predicate` (sync or async) until it is true; raise TimeoutError after `timeout_s`."""

    async def poll() -> None:
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(interval_s)  # noqa: ASYNC110 - polling another component's state

    await asyncio.wait_for(poll(), timeout_s)
