"""py-threads, the many-threads baseline: a concurrent.futures thread pool of
`concurrency` workers, each with a requests.Session of its own (a Session is
not thread-safe; one a thread keeps each worker's connection alive)."""
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import requests


def crawl(urls, concurrency, rec, timeout_s, loop):
    local = threading.local()

    def fetch(i, url):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        rec.started(i)
        try:
            r = session.get(url, timeout=timeout_s)
            rec.answered(i, r.status_code, len(r.content), r.headers.get("X-Delay-Us"))
        except requests.RequestException as e:
            rec.failed(i, f"{type(e).__name__}: {e}")

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in as_completed([pool.submit(fetch, i, u) for i, u in enumerate(urls)]):
            future.result()
