"""Fixed with toolsafe: the same six tools, wrapped so the runtime adds what code alone cannot.

- ``web_search`` still writes ``self.last_query``: toolsafe gives every call its own
  copy of the instance, so nothing leaks between concurrent calls.
- ``get_price`` times out each request and lets toolsafe retry the transient stalls
  (with backoff), under a hard timeout for the whole attempt.
- ``export_orders`` is paged, with an output budget as a safety net.
- ``render_report`` builds its text locally (a module global cannot be isolated).
- ``customer_balance`` raises ``ToolFailure``: a structured, non-retryable error.
- ``translate``: toolsafe checks args_schema against ``_run`` when the tool is made.

    toolsafe doctor examples/fixed/with_toolsafe.py
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import urllib.request
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import BaseModel, Field

import toolsafe


class _Listener(ThreadingHTTPServer):
    # The default backlog (5) drops connects when many calls overlap, and a dropped SYN
    # is retried after 1 s: the doctor would rightly report that as tail latency.
    request_queue_size = 128
    daemon_threads = True

_requests = itertools.count(1)
_stalled: set[str] = set()


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query)
        if url.path == "/price":
            sku = params.get("sku", [""])[0]
            if next(_requests) % 4 == 0 and sku not in _stalled:
                _stalled.add(sku)
                time.sleep(30)  # a transient stall
            data: Any = {"sku": sku, "price": sum(map(ord, sku)) % 100 + 0.99}
        else:
            query = params.get("q", [""])[0]
            time.sleep(0.005)
            data = {"hits": [f"{query} #{n}" for n in range(1, 4)]}
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


_server: ThreadingHTTPServer | None = None
_server_lock = threading.Lock()


def _upstream() -> tuple[str, int]:
    """Start the local search and price service once (127.0.0.1, a free port)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = _Listener(("127.0.0.1", 0), _Upstream)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, daemon=True).start()
        return "127.0.0.1", _server.server_address[1]


class WebSearchTool:
    """Search the web and return the top hits."""

    name = "web_search"

    def __init__(self) -> None:
        self.last_query = ""

    def _run(self, query: str) -> str:
        self.last_query = query  # safe here: toolsafe copies the instance per call
        host, port = _upstream()
        with closing(http.client.HTTPConnection(host, port, timeout=5)) as conn:
            conn.request("GET", "/search?" + urlencode({"q": self.last_query}))
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"search failed: HTTP {response.status}")
            hits = json.loads(response.read())["hits"]
        return f"Results for {self.last_query!r}: " + "; ".join(hits)


web_search = toolsafe.tool(WebSearchTool(), timeout=10)


@toolsafe.tool(timeout=3, retry=toolsafe.Retry(attempts=3, initial=0.05), idempotent=True)
def get_price(sku: str) -> str:
    """Look up the current price of a product by its SKU."""
    host, port = _upstream()
    url = f"http://{host}:{port}/price?" + urlencode({"sku": sku})
    with urllib.request.urlopen(url, timeout=1.0) as response:  # TimeoutError: retried
        return response.read().decode()


@toolsafe.tool(max_output_chars=20_000)
def export_orders(customer_id: int, limit: int = 20, offset: int = 0) -> str:
    """Export one page of a customer's orders as JSON (at most 50 per page).

    Args:
        customer_id: The customer.
        limit: Orders per page (1 to 50).
        offset: Index of the first order to return.
    """
    limit = max(1, min(limit, 50))
    offset = max(0, offset)
    page = [
        {"order": n, "status": "delivered", "item": "water bottle 750 ml"}
        for n in range(offset, min(offset + limit, 10_000))
    ]
    return json.dumps({"customer": customer_id, "total": 10_000, "orders": page})


@toolsafe.tool
def render_report(title: str, rows: int) -> str:
    """Render a plain-text report: a title line and up to 20 numbered rows."""
    time.sleep(0.002)  # a database round trip
    lines = [f"# {title}"]
    lines.extend(f"{n}. {title} item {n}" for n in range(1, min(rows, 20) + 1))
    return "\n".join(lines)


_CUSTOMERS = {
    1: {"name": "Ada Lovelace", "balance": 1200.0},
    2: {"name": "Alan Turing", "balance": -35.5},
    3: {"name": "Grace Hopper", "balance": 0.0},
}


@toolsafe.tool
def customer_balance(
    customer_id: Annotated[int, Field(ge=1, le=3, description="A customer id (1-3 here).")],
) -> str:
    """Return the account balance of a customer, by customer id."""
    customer = _CUSTOMERS.get(customer_id)
    if customer is None:
        raise toolsafe.ToolFailure(
            f"no customer with id {customer_id}", retryable=False, hint="Known ids: 1, 2, 3."
        )
    return f"{customer['name']}: {customer['balance']:.2f} EUR"


class TranslateInput(BaseModel):
    text: str = Field(..., description="The text to translate.")
    target: str = Field("fr", description="Target language code.")


class TranslateTool:
    """Translate text into another language."""

    name = "translate"
    args_schema = TranslateInput

    def _run(self, text: str, target: str = "fr") -> str:
        return f"[{target}] {text}"


translate = toolsafe.tool(TranslateTool())
