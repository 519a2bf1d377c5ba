"""py-taskgroup, the later editions' pattern on Python 3.11: every URL's task
spawned at once in an asyncio.TaskGroup, bounded by nothing but aiohttp's
connection pool (TCPConnector(limit=concurrency)). A request's clock starts
with its task, so the time it waits for a pooled connection is in its
latency (crawl --model coroutine --spawn-all does the same in C++)."""
import asyncio

import aiohttp


async def run(urls, concurrency, rec, timeout_s):
    async def fetch(i, url, session):
        rec.started(i)
        try:
            async with session.get(url) as response:
                body = await response.read()
                rec.answered(i, response.status, len(body), response.headers.get("X-Delay-Us"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            rec.failed(i, f"{type(e).__name__}: {e}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    # The total timeout runs from the task's start, its wait for a connection
    # included: allow for the queue ahead of it.
    waits = len(urls) // concurrency + 1
    timeout = aiohttp.ClientTimeout(total=timeout_s * waits)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with asyncio.TaskGroup() as group:
            for i, url in enumerate(urls):
                group.create_task(fetch(i, url, session))


def crawl(urls, concurrency, rec, timeout_s, loop):
    asyncio.run(run(urls, concurrency, rec, timeout_s))
