"""What a Python model reports to, and what its run costs: the same records
and the same kernel accounting as the C++ front end's (crawlers/cost_meter.hpp),
for the timed window only. Standard library only."""
import collections
import os
import resource
import threading
import time


def now_us():
    """Unix time in µs, the clock of every timeline (the server's and crawl's)."""
    return time.time_ns() // 1000


class Recorder:
    """Each request's life, by its index in the URL list. A model calls
    started(i) when it sends request i, then answered() or failed()."""

    def __init__(self, n):
        self.start = [0] * n
        self.end = [0] * n
        self.bytes = [0] * n
        self.status = [0] * n
        self.delay_us = [None] * n
        self.errors = collections.Counter()

    def started(self, i):
        self.start[i] = now_us()

    def answered(self, i, status, nbytes, delay_header, end=None):
        """An HTTP answer; `delay_header` is its X-Delay-Us (None if absent)."""
        self.end[i] = now_us() if end is None else end
        self.status[i] = status
        self.bytes[i] = nbytes
        if delay_header is not None:
            try:
                self.delay_us[i] = int(delay_header)
            except ValueError:
                pass
        if status != 200:
            self.errors[f"HTTP {status}"] += 1

    def failed(self, i, why):
        self.end[i] = now_us()
        if not self.start[i]:
            self.start[i] = self.end[i]
        self.status[i] = 0
        self.errors[why] += 1

    def unfinished(self):
        return [i for i in range(len(self.end)) if not self.end[i]]


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _threads():
    return len(os.listdir("/proc/self/task"))


class CostMeter:
    """CPU, context switches, peak memory and threads of the timed window. As
    crawl's meter, one thread samples the thread count every 5 ms (the kernel
    keeps no peak of it); its own CPU and switches are left out, and so are
    threads the process had before."""

    def __init__(self):
        self._stop = threading.Event()
        self._peak = 1
        self._own = None
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self):
        self._rss_before = _status_kib("VmRSS")
        self._others = _threads() - 1
        self._thread.start()
        self._r0 = resource.getrusage(resource.RUSAGE_SELF)

    def _sample(self):
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, _threads() - 1 - self._others)  # less this sampler
        self._own = resource.getrusage(resource.RUSAGE_THREAD)

    def stop(self, connections_opened):
        """The window's cost as crawl's --json states it; the connections
        opened are the caller's count (the server's, for a Python model)."""
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        self._stop.set()
        self._thread.join()
        own = self._own
        peak_rss = _status_kib("VmHWM")
        return {
            "cpu_user_seconds": max(0.0, r1.ru_utime - self._r0.ru_utime - own.ru_utime),
            "cpu_system_seconds": max(0.0, r1.ru_stime - self._r0.ru_stime - own.ru_stime),
            "peak_rss_kib": peak_rss,
            "rss_growth_kib": max(0, peak_rss - self._rss_before),
            "voluntary_switches": max(0, r1.ru_nvcsw - self._r0.ru_nvcsw - own.ru_nvcsw),
            "involuntary_switches": max(0, r1.ru_nivcsw - self._r0.ru_nivcsw - own.ru_nivcsw),
            "peak_threads": self._peak,
            "connections_opened": connections_opened,
        }
