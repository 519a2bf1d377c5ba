"""py-gevent, Example 8-4: a greenlet per URL, a gevent Semaphore of
`concurrency`, gevent.iwait over them; the socket module is patched so
http.client's blocking calls yield to gevent's hub. Connections are kept
alive in a pool of `concurrency` (8-4's urllib opens one a request); a
greenlet takes one once the semaphore lets it in, so one is always free."""
from gevent import monkey

monkey.patch_socket()  # before http.client makes a socket: patched at import, as the book

import http.client  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402


def crawl(urls, concurrency, rec, timeout_s, loop):
    semaphore = Semaphore(concurrency)
    idle = []  # the pool: kept-alive connections nobody is using

    def download(i, url):
        with semaphore:
            parts = urlsplit(url)
            conn = idle.pop() if idle else http.client.HTTPConnection(parts.netloc, timeout=timeout_s)
            rec.started(i)
            try:
                conn.request("GET", f"{parts.path}?{parts.query}")
                r = conn.getresponse()
                body = r.read()
                rec.answered(i, r.status, len(body), r.getheader("X-Delay-Us"))
                if r.will_close:
                    conn.close()
                idle.append(conn)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                idle.append(conn)  # http.client reconnects a closed connection on its next request
                rec.failed(i, f"{type(e).__name__}: {e}")

    greenlets = [gevent.spawn(download, i, u) for i, u in enumerate(urls)]
    for g in gevent.iwait(greenlets):
        g.get()  # a greenlet that raised raises here
