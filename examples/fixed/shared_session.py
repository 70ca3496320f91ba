"""Fixed: the CrewAI search tool with nothing per-call on the shared instance.

Each call opens its own connection (with a timeout), checks the status, and
keeps the query in a local variable. CrewAI can share this instance between
every agent and thread: there is nothing on it to share.

    toolsafe doctor examples/fixed/shared_session.py
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from crewai.tools import BaseTool
from pydantic import BaseModel, Field


class _Listener(ThreadingHTTPServer):
    # The default backlog (5) drops connects when many calls overlap, and a dropped SYN
    # is retried after 1 s: the doctor would rightly report that as tail latency.
    request_queue_size = 128
    daemon_threads = True


class _Search(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
        time.sleep(0.005)
        body = json.dumps({"hits": [f"{query} #{n}" for n in range(1, 4)]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


_server: ThreadingHTTPServer | None = None
_server_lock = threading.Lock()


def _upstream() -> tuple[str, int]:
    """Start the local search service once (127.0.0.1, a free port)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = _Listener(("127.0.0.1", 0), _Search)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, daemon=True).start()
        return "127.0.0.1", _server.server_address[1]


class SearchInput(BaseModel):
    query: str = Field(..., description="What to search for.")


class WebSearchTool(BaseTool):
    name: str = "web_search"
    description: str = "Search the web and return the top hits."
    args_schema: type[BaseModel] = SearchInput

    def _run(self, query: str) -> str:
        host, port = _upstream()
        with closing(http.client.HTTPConnection(host, port, timeout=5)) as conn:  # per call
            conn.request("GET", "/search?" + urlencode({"q": query}))
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"search failed: HTTP {response.status}")
            hits = json.loads(response.read())["hits"]
        return f"Results for {query!r}: " + "; ".join(hits)


web_search = WebSearchTool()
