"""Broken: an HTTP call with no timeout, against an upstream that sometimes stalls.

``urllib.request.urlopen`` (like ``requests.get``) waits forever by default. The
local price service below stalls on every fourth request, as real upstreams do
under load: the call never returns and its worker is lost with it.

    toolsafe doctor examples/broken/http_no_timeout.py
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


class _Listener(ThreadingHTTPServer):
    # The default backlog (5) drops connects when many calls overlap, and a dropped SYN
    # is retried after 1 s: the doctor would rightly report that as tail latency.
    request_queue_size = 128
    daemon_threads = True

_requests = itertools.count(1)
_stalled: set[str] = set()


class _Prices(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        sku = parse_qs(urlsplit(self.path).query).get("sku", [""])[0]
        if next(_requests) % 4 == 0 and sku not in _stalled:
            _stalled.add(sku)  # a transient stall: the same request asked again goes through
            time.sleep(30)
        body = f'{{"sku": "{sku}", "price": {sum(map(ord, sku)) % 100 + 0.99}}}'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


_server: ThreadingHTTPServer | None = None
_server_lock = threading.Lock()


def _upstream() -> str:
    """Start the local price service once (127.0.0.1, a free port)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = _Listener(("127.0.0.1", 0), _Prices)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, daemon=True).start()
        return f"127.0.0.1:{_server.server_address[1]}"


def get_price(sku: str) -> str:
    """Look up the current price of a product by its SKU."""
    url = f"http://{_upstream()}/price?" + urlencode({"sku": sku})
    with urllib.request.urlopen(url) as response:  # no timeout: waits forever
        return response.read().decode()
