"""mpmon with asyncio: a decorated `async def` is timed until its coroutine finishes, a decorated async
generator until it is exhausted.

    python examples/async_tasks.py [LOG_DIR]

Makes 7 rows: 5 `fetch` coroutines that run at the same time, one `countdown` generator, and `crawl`,
the coroutine that awaits them all.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import mpmon


@mpmon.Timer
async def fetch(page: int) -> str:
    """Pretend to download a page: wait without blocking the other coroutines."""
    await asyncio.sleep(0.01 * (page + 1))
    return f"page {page}"


@mpmon.Timer
async def countdown(start: int) -> AsyncIterator[int]:
    """An async generator: one row for the whole iteration, from the first value to the last."""
    for n in range(start, 0, -1):
        await asyncio.sleep(0.005)
        yield n


@mpmon.Timer
async def crawl() -> list[str]:
    """Fetch five pages at once, then count down."""
    pages = await asyncio.gather(*(fetch(p) for p in range(5)))
    async for _ in countdown(3):
        pass
    return list(pages)


def main(log_dir: str) -> None:
    mpmon.start_collector(log_dir, log_to_console=False)
    pages = asyncio.run(crawl())
    print(f"async_tasks: {len(pages)} pages; logs in {log_dir}")
    mpmon.stop_collector()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")
