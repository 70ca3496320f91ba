"""A local HTTP server for third-party tools that call the network (127.0.0.1 only).

It answers like the services the tools expect (a Brave-style search API, a web
page, plain text, an echo for POST) and records when each request arrived, so a
test can check the spacing a tool's own rate limiter promises.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class _Listener(ThreadingHTTPServer):
    # The default backlog (5) drops connects when many calls overlap, and a dropped SYN
    # is retried after 1 s: the doctor would rightly report that as tail latency.
    request_queue_size = 128
    daemon_threads = True

PAGE = "<html><head><title>Local page</title></head><body><h1>Hello</h1><p>toolsafe local page</p></body></html>"


@dataclass
class LocalServer:
    url: str
    #: (monotonic arrival time, path, query) per request, in arrival order.
    requests: list[tuple[float, str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrivals(self, path: str) -> list[float]:
        with self.lock:
            return [t for t, p, _ in self.requests if p == path]


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, body: str, content_type: str = "application/json") -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = parse_qs(parsed.query)
            with server.lock:
                server.requests.append((time.monotonic(), parsed.path, query))
            if parsed.path == "/res/v1/web/search":
                q = query.get("q", [""])[0]
                results = [
                    {"url": f"https://example.test/{q}/{i}", "title": f"{q} {i}", "description": q}
                    for i in range(2)
                ]
                self._send(json.dumps({"type": "search", "web": {"results": results}}))
            elif parsed.path == "/page":
                self._send(PAGE, "text/html")
            else:
                self._send(f"text for {parsed.path}", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            with server.lock:
                server.requests.append((time.monotonic(), urlparse(self.path).path, {}))
            self._send(json.dumps({"echo": json.loads(body or "null")}))

    return Handler


@contextmanager
def local_server() -> Iterator[LocalServer]:
    state = LocalServer(url="")
    httpd = _Listener(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
