"""py-tornado-callback, Example 8-7: no coroutine anywhere, a callback when
each fetch ends, the IOLoop stopped by the last one. Tornado 6 removed
fetch(callback=...); the closest form that still runs hands fetch's future to
IOLoop.add_future with the callback. On the same CurlAsyncHTTPClient
(max_clients=concurrency) as py-tornado, as the later editions' example."""
from functools import partial

from tornado.ioloop import IOLoop

from tornado_curl import configure, record


def crawl(urls, concurrency, rec, timeout_s, loop):
    ioloop = IOLoop(make_current=False)
    client = None
    left = len(urls)

    def on_fetched(i, future):
        nonlocal left
        record(rec, i, future.result())
        left -= 1
        if left == 0:
            ioloop.stop()

    def start():
        nonlocal client
        client = configure(concurrency)
        for i, url in enumerate(urls):
            ioloop.add_future(client.fetch(url, raise_error=False, request_timeout=timeout_s),
                              partial(on_fetched, i))

    if not urls:
        return
    ioloop.add_callback(start)
    ioloop.start()
    client.close()
    ioloop.close()
