"""py-taskgroup, the later editions' pattern on Python 3.11: every URL's task
spawned at once in an asyncio.TaskGroup, bounded by nothing but aiohttp's
connection pool (TCPConnector(limit=concurrency)). A request's clock starts
with its task, so the time it waits for a pooled connection is in its
latency (crawl --model coroutine --spawn-all does the same in C++)."""
import asyncio

import aiohttp

from aiohttp_semaphore import get


async def run(urls, concurrency, rec, timeout_s):
    connector = aiohttp.TCPConnector(limit=concurrency)
    # The total timeout runs from the task's start, its wait for a connection
    # included: allow for the queue ahead of it.
    waits = len(urls) // concurrency + 1
    timeout = aiohttp.ClientTimeout(total=timeout_s * waits)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with asyncio.TaskGroup() as group:
            for i, url in enumerate(urls):
                group.create_task(get(session, i, url, rec))  # its clock starts with the task


def crawl(urls, concurrency, rec, timeout_s, loop):
    asyncio.run(run(urls, concurrency, rec, timeout_s))
