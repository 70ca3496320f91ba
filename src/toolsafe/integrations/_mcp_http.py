"""The HTTP side of ``toolsafe serve --http``: who may connect, and for how long.

uvicorn (the ASGI server the MCP SDK uses) has no timeout on reading a request:
its keep-alive timer starts only after a response and stops at the first byte
of the next request, and ``limit_concurrency`` answers 503 only once a request
head is complete. A client that opens connections and sends a header byte now
and then (slowloris) holds every one of them forever, until the process runs
out of file descriptors and real clients time out. So this module adds, around
uvicorn's own HTTP protocol (whichever it picked):

- a header timeout (connection open, or first byte of the next request, to a
  complete request head) and a body timeout (head to complete body);
- a connection cap below the file-descriptor limit: at the cap, the oldest
  connection still waiting for a request is closed to make room (a slow or idle
  client cannot starve a fast one), and when none is waiting, the new one is;
- one warning when such a flood starts and one summary a minute while it
  lasts, not a log line per connection. That includes asyncio's own
  "socket.accept() out of system resource" error, which CPython logs with a
  traceback for every failed accept of a burst (tens of megabytes a minute).

A request whose head and body arrived is never cut by these timers: tool calls
and SSE streams last as long as the runtime lets them.

Binding: loopback addresses (all of 127.0.0.0/8, ``::1``, ``localhost``) get the
SDK's DNS-rebinding protection with the bound host in the allowed ``Host``
values; any other address serves without authentication, so the caller must ask
for it explicitly (``allow_remote``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import resource
import socket
import time
from typing import Any

__all__ = [
    "LOOPBACK_HOSTS",
    "HTTPLimits",
    "is_loopback",
    "listen_socket",
    "security_settings",
    "serve_guarded",
]

#: A child of uvicorn's error log: it goes where the server's own messages go
#: (stderr for ``toolsafe serve``), at the server's log level.
log = logging.getLogger("uvicorn.error.toolsafe")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

#: File descriptors kept free for the tools and the runtime when the cap is
#: derived from the process limit.
_FD_RESERVE = 64


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_settings(host: str) -> Any:
    """DNS-rebinding protection for a loopback bind (``None`` for any other host).

    The SDK switches it on only for the three usual loopback names; a bind on
    127.0.0.2 would go unprotected. The allowed ``Host`` values are the usual
    names plus the bound address itself.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    if not is_loopback(host):
        return None
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    if shown not in hosts:
        hosts.append(shown)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:*" for h in hosts],
        allowed_origins=[f"http://{h}:*" for h in hosts],
    )


@dataclasses.dataclass(frozen=True)
class HTTPLimits:
    """How long a client may take to send a request, and how many may connect.

    ``max_connections=None`` takes half the process's file-descriptor limit left
    after a reserve for the tools (at most 1,024): connections accepted in one
    burst are counted only once accepted, so the cap needs headroom below the
    limit. ``idle_timeout`` is uvicorn's keep-alive: how long a connection may
    wait between requests.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 5.0
    max_connections: int | None = None

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "idle_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections!r}")

    def connection_cap(self) -> int:
        if self.max_connections is not None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return 1024
        return max(8, min(1024, (soft - _FD_RESERVE) // 2))

    def accept_burst(self) -> int:
        """Connections accepted per wake-up of the listening socket (and its listen queue).

        asyncio accepts up to this many before the guard sees any of them; uvicorn's
        default (2,048) would run a small descriptor limit out in one go.
        """
        return max(16, min(128, self.connection_cap() // 4))


_LISTEN_QUEUE = 1024


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(_LISTEN_QUEUE)
    except OSError:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------- the guard

_HEAD, _BODY, _BUSY = "head", "body", "busy"


class _Flood:
    """Counts dropped connections; logs when a flood starts, then once a minute."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.counts: dict[str, int] = {}
        self.total: dict[str, int] = {}
        self._last: float | None = None

    def note(self, reason: str, detail: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.total[reason] = self.total.get(reason, 0) + 1
        now = time.monotonic()
        if self._last is None:
            log.warning(
                "toolsafe serve: %s; closing such connections (counted, summarized every %.0fs)",
                detail,
                self.interval,
            )
            self._last = now
            self.counts.clear()
        elif now - self._last >= self.interval:
            summary = ", ".join(f"{n} {r}" for r, n in sorted(self.counts.items()))
            log.warning("toolsafe serve: in the last %.0fs closed %s", now - self._last, summary)
            self._last = now
            self.counts.clear()


class ConnectionGuard:
    """Per-connection phase timers and the connection cap (one per server)."""

    def __init__(self, limits: HTTPLimits) -> None:
        self.limits = limits
        self.cap = limits.connection_cap()
        self.flood = _Flood()
        #: open connections -> (phase, timer); insertion order = oldest first.
        self._open: dict[Any, tuple[str, asyncio.TimerHandle | None]] = {}
        #: connections waiting for a request head, oldest first (eviction order).
        self._waiting: dict[Any, None] = {}

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def opened(self, conn: Any) -> bool:
        """Register a new connection; False when it was refused (already closed)."""
        if len(self._open) >= self.cap:
            victim = next(iter(self._waiting), None)
            if victim is None:  # an idle keep-alive connection is waiting too
                victim = next((c for c in self._open if _phase(c) == _HEAD), None)
            if victim is None:
                self.flood.note("refused", f"connection cap reached ({self.cap} open, all busy)")
                _close(conn)
                return False
            self.flood.note(
                "evicted", f"connection cap reached ({self.cap} open): oldest waiting one closed"
            )
            self._drop(victim)
            _close(victim)
        self._open[conn] = ("", None)
        self._enter(conn, _HEAD)
        return True

    def received(self, conn: Any) -> None:
        """After the protocol consumed bytes: move the connection to its new phase."""
        if conn not in self._open:
            return
        phase = _phase(conn)
        current = self._open[conn][0]
        if phase == _HEAD and current == _HEAD:
            return  # a head still arriving keeps its first deadline (the slowloris case)
        if phase != current:
            self._enter(conn, phase)

    def closed(self, conn: Any) -> None:
        self._drop(conn)

    def _enter(self, conn: Any, phase: str) -> None:
        _, timer = self._open[conn]
        if timer is not None:
            timer.cancel()
        timer = None
        self._waiting.pop(conn, None)
        if phase == _HEAD:
            self._waiting[conn] = None
            timer = _loop(conn).call_later(self.limits.header_timeout, self._expire, conn, phase)
        elif phase == _BODY:
            timer = _loop(conn).call_later(self.limits.body_timeout, self._expire, conn, phase)
        self._open[conn] = (phase, timer)

    def _expire(self, conn: Any, phase: str) -> None:
        if conn not in self._open or self._open[conn][0] != phase or _phase(conn) != phase:
            return
        what = "request head" if phase == _HEAD else "request body"
        limit = self.limits.header_timeout if phase == _HEAD else self.limits.body_timeout
        self.flood.note(f"slow {what}", f"a client took over {limit:g}s to send a {what}")
        self._drop(conn)
        _close(conn)

    def _drop(self, conn: Any) -> None:
        self._waiting.pop(conn, None)
        entry = self._open.pop(conn, None)
        if entry is not None and entry[1] is not None:
            entry[1].cancel()


def _phase(conn: Any) -> str:
    """Where uvicorn's protocol is: waiting for a head, reading a body, or serving.

    Both of uvicorn's HTTP/1.1 protocols keep the current request in ``cycle``
    with ``more_body`` (body still arriving) and ``response_complete``.
    """
    cycle = getattr(conn, "cycle", None)
    if cycle is None or getattr(cycle, "response_complete", False):
        return _HEAD
    if getattr(cycle, "more_body", False):
        return _BODY
    return _BUSY


def _loop(conn: Any) -> asyncio.AbstractEventLoop:
    return getattr(conn, "loop", None) or asyncio.get_running_loop()


def _close(conn: Any) -> None:
    transport = getattr(conn, "transport", None)
    if transport is not None and not transport.is_closing():
        # abort, not close: nothing is owed to this client, and the fd is freed now.
        transport.abort()


def guarded_protocol(base: type[asyncio.Protocol], guard: ConnectionGuard) -> type[Any]:
    """``base`` (uvicorn's HTTP protocol class) with the guard's hooks around it."""

    class Guarded(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            guard.opened(self)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            guard.received(self)

        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(self)
            super().connection_lost(exc)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


async def serve_guarded(
    app: Any,
    sock: socket.socket,
    *,
    limits: HTTPLimits,
    log_level: str = "warning",
) -> None:
    """Run ``app`` with uvicorn on ``sock`` under ``limits`` until interrupted."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]  # int in its hints
    )
    config.backlog = limits.accept_burst()
    config.load()
    guard = ConnectionGuard(limits)
    config.http_protocol_class = guarded_protocol(config.http_protocol_class, guard)
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(_AcceptErrors(guard.flood, previous))
    deepen = loop.create_task(_deepen_listen_queue(server, sock))
    try:
        await server.serve(sockets=[sock])
    finally:
        deepen.cancel()
        loop.set_exception_handler(previous)
        with contextlib.suppress(OSError):
            sock.close()


async def _deepen_listen_queue(server: Any, sock: socket.socket) -> None:
    """Once serving, give the kernel's accept queue its full length again.

    asyncio uses one number for the accept burst and the listen queue; a short
    queue drops a real client's SYN during a flood (it retries a second later).
    """
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    with contextlib.suppress(OSError):
        sock.listen(_LISTEN_QUEUE)


class _AcceptErrors:
    """The loop's exception handler: accept failures for lack of descriptors are counted.

    asyncio pauses accepting for a second after such a failure, which is the right
    back-off; only its logging (one traceback per failed accept) is replaced.
    """

    def __init__(self, flood: _Flood, previous: Any) -> None:
        self.flood = flood
        self.previous = previous

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            self.flood.note(
                "accept failures",
                f"out of file descriptors accepting connections ({context.get('exception')})",
            )
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)
