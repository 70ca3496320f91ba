"""A fake payments upstream on 127.0.0.1 that counts charges, and the charge tools.

``POST /charge`` with the order id as the body books one charge and answers
``{"order": ..., "charge_id": n}`` (``n`` counts every charge the upstream ever made);
orders starting with ``slow-`` hang for a minute after booking, as an upstream that
stops answering mid-request. ``GET /charges/<order>`` says how many charges an order
has (what a ``reconcile`` asks).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import toolsafe


class Payments:
    def __init__(self, latency: float = 0.01) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.charges: Counter[str] = Counter()
        self.ids: dict[str, int] = {}
        self.total = 0
        payments = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                order = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with payments.lock:
                    payments.total += 1
                    payments.charges[order] += 1
                    payments.ids.setdefault(order, payments.total)
                    charge_id = payments.total
                time.sleep(60 if order.startswith("slow-") else payments.latency)
                self._answer(json.dumps({"order": order, "charge_id": charge_id}).encode())

            def do_GET(self) -> None:
                order = self.path.rsplit("/", 1)[-1]
                with payments.lock:
                    count, charge_id = payments.charges[order], payments.ids.get(order)
                self._answer(json.dumps({"count": count, "charge_id": charge_id}).encode())

            def _answer(self, body: bytes) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # 64 concurrent callers: the default backlog (5) resets

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def charge_tools(base: str, timeout: float = 2.0) -> list[toolsafe.Tool]:
    """``charge`` (keyed by order id) and ``charge_r`` (the same, with a reconcile that
    asks the upstream), both with ``timeout`` seconds per attempt."""

    def post(order_id: str) -> dict[str, Any]:
        request = urllib.request.Request(base + "/charge", data=order_id.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def reconcile(arguments: dict[str, Any], ctx: toolsafe.CallContext) -> Any:
        with urllib.request.urlopen(f"{base}/charges/{arguments['order_id']}", timeout=5) as r:
            seen = json.loads(r.read())
        if not seen["count"]:
            return None
        return {"order": arguments["order_id"], "charge_id": seen["charge_id"]}

    @toolsafe.tool(idempotency_key=lambda a: a["order_id"], timeout=timeout)
    def charge(order_id: str, note: str = "") -> dict[str, Any]:
        """Charge an order (the note may differ between deliveries: models rewrite it)."""
        return post(order_id)

    @toolsafe.tool(idempotency_key=lambda a: a["order_id"], timeout=timeout, reconcile=reconcile)
    def charge_r(order_id: str, note: str = "") -> dict[str, Any]:
        """Charge an order; an unknown outcome is settled by asking the upstream."""
        return post(order_id)

    return [charge, charge_r]
