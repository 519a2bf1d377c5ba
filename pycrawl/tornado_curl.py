"""py-tornado, Example 8-6: tornado's AsyncHTTPClient on libcurl
(CurlAsyncHTTPClient, max_clients=concurrency); every fetch is started at
once and tornado queues those past max_clients, as the later editions do. A
request's clock starts when curl takes it from that queue (the response's
start_time), as the C++ curl model's starts when a transfer is added."""
import asyncio

from tornado.httpclient import AsyncHTTPClient


def record(rec, i, response):
    """One fetch's answer (or its error: code 599) into the recorder."""
    start = int(response.start_time * 1e6) if response.start_time else None
    if start is not None:
        rec.start[i] = start
    end = start + int(response.request_time * 1e6) if start is not None else None
    if response.code == 599:
        rec.failed(i, f"{type(response.error).__name__}: {response.error}")
    else:
        rec.answered(i, response.code, len(response.body or b""), response.headers.get("X-Delay-Us"), end)


def configure(concurrency):
    AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=concurrency)
    return AsyncHTTPClient(force_instance=True)


def crawl(urls, concurrency, rec, timeout_s, loop):
    async def run():
        client = configure(concurrency)
        fetches = [client.fetch(u, raise_error=False, request_timeout=timeout_s) for u in urls]
        for i, response in enumerate(await asyncio.gather(*fetches)):
            record(rec, i, response)
        client.close()

    asyncio.run(run())
