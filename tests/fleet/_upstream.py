"""A local HTTP upstream that records when each request arrived and how many were in flight."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Listener(ThreadingHTTPServer):
    # The default backlog (5) drops connects when many calls overlap, and a dropped SYN
    # is retried after 1 s: the doctor would rightly report that as tail latency.
    request_queue_size = 128
    daemon_threads = True


class Upstream:
    """``/ok`` answers 200 after ``latency`` seconds; ``/fail`` answers 503 at once;
    ``/warm`` answers 200 at once and is not recorded.

    ``arrivals``: monotonic arrival times of ``/ok`` requests. ``peak``: the most
    ``/ok`` requests in flight at once (counted before the response is written,
    so a client can only start its next request after the count went down).
    """

    def __init__(self, latency: float = 0.05) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.failures = 0
        self.in_flight = 0
        self.peak = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                if self.path == "/warm":
                    self._answer(200, b"warm")
                    return
                if self.path == "/fail":
                    with upstream.lock:
                        upstream.failures += 1
                    self._answer(503, b"unavailable")
                    return
                with upstream.lock:
                    upstream.arrivals.append(time.monotonic())
                    upstream.in_flight += 1
                    upstream.peak = max(upstream.peak, upstream.in_flight)
                time.sleep(upstream.latency)
                with upstream.lock:
                    upstream.in_flight -= 1
                self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Listener(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def max_in_window(times: list[float], window: float) -> int:
    """The most arrivals within any span of ``window`` seconds."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best
