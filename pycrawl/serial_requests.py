"""py-serial, Example 8-3: one request after another with requests. A
Session keeps its one connection alive, as the C++ serial model does (the
book's bare requests.get opens a connection for every request)."""
import requests


def fetch(session, i, url, rec, timeout_s):
    """Request i with a requests.Session, recorded (py-threads uses it too)."""
    rec.started(i)
    try:
        r = session.get(url, timeout=timeout_s)
        rec.answered(i, r.status_code, len(r.content), r.headers.get("X-Delay-Us"))
    except requests.RequestException as e:
        rec.failed(i, f"{type(e).__name__}: {e}")


def crawl(urls, concurrency, rec, timeout_s, loop):
    with requests.Session() as session:
        for i, url in enumerate(urls):
            fetch(session, i, url, rec, timeout_s)
