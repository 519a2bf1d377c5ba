#!/usr/bin/env python3
"""The Python models: the one table of them, which every script asks (as
`crawl --list-models` is for the C++ ones). Each row is one file of this
folder, the C++ model it mirrors (with the flags that make the pair do the
same thing) and the example of chapter 8 it follows.

  models.py          the names, one a line
  models.py --json   the table as one JSON array
  models.py --versions  the interpreter's and each library's version, as JSON

Standard library only: this file must load where the models' libraries are
missing, to say which Debian package to install.
"""
import json
import sys
from collections import namedtuple

# name: as in the timelines and the report; module: this folder's file;
# cpp: the C++ model it mirrors, cpp_flags: what crawl needs to do the same;
# example: the book's; bounded_by: what limits the requests in flight;
# packages: Debian package -> the module it provides; one_in_flight: the
# serial one (its concurrency is 1, whatever is asked); max_num: at most this
# many URLs a run (the serial model, which takes delay x N: the table says so
# where the report shows it); loop: the event loop the asyncio models use.
Model = namedtuple("Model", "name module cpp cpp_flags example bounded_by packages one_in_flight max_num loop note")

MODELS = (
    Model("py-serial", "serial_requests", "serial", [], "8-3",
          "one request at a time", {"python3-requests": "requests"}, True, 50, None,
          "requests.Session: one connection kept alive, as the C++ serial does (8-3's bare requests.get "
          "opens one a request)"),
    Model("py-threads", "threads_requests", "threads", [], "the many-threads baseline",
          "a ThreadPoolExecutor of C workers", {"python3-requests": "requests"}, False, None, None,
          "concurrent.futures with a requests.Session a thread"),
    Model("py-gevent", "gevent_greenlets", "greenlet", [], "8-4",
          "a gevent Semaphore(C), a greenlet per URL", {"python3-gevent": "gevent"}, False, None, None,
          "monkey.patch_socket(), iwait over the greenlets; http.client connections kept alive in a "
          "pool of C (8-4's urllib opens one a request)"),
    Model("py-tornado", "tornado_curl", "curl", [], "8-6",
          "CurlAsyncHTTPClient(max_clients=C)", {"python3-tornado": "tornado", "python3-pycurl": "pycurl"},
          False, None, None, "every fetch at once, asyncio.as_completed, as the later editions"),
    Model("py-tornado-callback", "tornado_callbacks", "callback", [], "8-7",
          "CurlAsyncHTTPClient(max_clients=C), chained callbacks",
          {"python3-tornado": "tornado", "python3-pycurl": "pycurl"}, False, None, None,
          "Tornado 6 removed fetch(callback=...): the closest form that still runs is "
          "IOLoop.add_future(fetch(url), callback), no coroutine anywhere"),
    Model("py-aiohttp", "aiohttp_semaphore", "coroutine", [], "8-8",
          "an asyncio.Semaphore(C)", {"python3-aiohttp": "aiohttp"}, False, None, "asyncio",
          "aiohttp.ClientSession over TCPConnector(limit=C), as_completed"),
    Model("py-uvloop", "aiohttp_semaphore", "coroutine", [], "8-8 on uvloop",
          "an asyncio.Semaphore(C)", {"python3-aiohttp": "aiohttp", "python3-uvloop": "uvloop"}, False,
          None, "uvloop", "the same code on uvloop's event loop (libuv)"),
    Model("py-taskgroup", "aiohttp_taskgroup", "coroutine", ["--spawn-all"], "the later editions' pattern",
          "aiohttp's TCPConnector(limit=C) only", {"python3-aiohttp": "aiohttp"}, False, None, "asyncio",
          "every task spawned at once in an asyncio.TaskGroup; a request's clock starts with its task, "
          "so its wait for a pooled connection is in its latency (crawl --spawn-all does the same)"),
)
NAMES = tuple(m.name for m in MODELS)


def find(name):
    for m in MODELS:
        if m.name == name:
            return m
    raise KeyError(name)


def versions():
    """The interpreter and each library's version (for the manifest): the
    module's own, and its Debian package's; None where it is missing."""
    import importlib.metadata
    import platform
    import subprocess
    libs = {}
    for pkg, mod in sorted({p: m for m in MODELS for p, m in m.packages.items()}.items()):
        try:
            version = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            version = None
        q = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        libs[mod] = {"version": version, "debian_package": pkg,
                     "debian_version": q.stdout.strip() if q.returncode == 0 else None}
    return {"python": platform.python_version(), "executable": sys.executable, "libraries": libs}


def table_json():
    return [dict(m._asdict()) for m in MODELS]


if __name__ == "__main__":
    if sys.argv[1:] == ["--json"]:
        print(json.dumps(table_json()))
    elif sys.argv[1:] == ["--versions"]:
        print(json.dumps(versions()))
    elif sys.argv[1:]:
        sys.exit("usage: models.py [--json]")
    else:
        print("\n".join(NAMES))
