"""py-aiohttp and py-uvloop, Example 8-8: asyncio with aiohttp, every URL a
coroutine, an asyncio.Semaphore of `concurrency` letting that many send at
once, as_completed to gather them; aiohttp's connector keeps up to
`concurrency` connections alive. py-uvloop runs the same on uvloop's loop."""
import asyncio

import aiohttp


async def get(session, i, url, rec):
    """Request i on an aiohttp session, recorded (py-taskgroup uses it too)."""
    rec.started(i)
    try:
        async with session.get(url) as response:
            body = await response.read()
            rec.answered(i, response.status, len(body), response.headers.get("X-Delay-Us"))
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        rec.failed(i, f"{type(e).__name__}: {e}")


async def run(urls, concurrency, rec, timeout_s):
    semaphore = asyncio.Semaphore(concurrency)

    async def fetch(i, url, session):
        async with semaphore:
            await get(session, i, url, rec)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for task in asyncio.as_completed([fetch(i, u, session) for i, u in enumerate(urls)]):
            await task


def crawl(urls, concurrency, rec, timeout_s, loop):
    factory = None
    if loop == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run(urls, concurrency, rec, timeout_s))
