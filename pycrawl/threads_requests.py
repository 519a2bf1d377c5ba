"""py-threads, the many-threads baseline: a concurrent.futures thread pool of
`concurrency` workers, each with a requests.Session of its own (a Session is
not thread-safe; one a thread keeps each worker's connection alive)."""
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import requests

from serial_requests import fetch


def crawl(urls, concurrency, rec, timeout_s, loop):
    local = threading.local()

    def work(i, url):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        fetch(session, i, url, rec, timeout_s)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in as_completed([pool.submit(work, i, u) for i, u in enumerate(urls)]):
            future.result()
