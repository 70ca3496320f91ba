"""``toolsafe serve --http`` against slow, idle and foreign clients: real sockets on 127.0.0.x.

The server is a real ``toolsafe serve`` process; the hostile clients are plain
sockets, the real ones the SDK's client.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("mcp")

from _mcp_support import over_http, serve_http_process, text_of

from toolsafe.cli import main
from toolsafe.integrations.mcp import HTTPLimits, is_loopback

pytestmark = pytest.mark.mcp

TOOLS = '''
import toolsafe


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b
'''

#: How long a test waits for the server to close a connection it should close
#: (far above the 1 s timeouts used here: a bound on the test, not a measurement).
PATIENCE_S = 20.0


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "tools.py"
    path.write_text(TOOLS)
    return path


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture
def connections() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _connect(
    address: tuple[str, int], opened: list[socket.socket], head: bytes = b""
) -> socket.socket:
    sock = socket.create_connection(address, timeout=PATIENCE_S)
    opened.append(sock)
    if head:
        sock.sendall(head)
    return sock


def _closed_by_server(sock: socket.socket, trickle: bytes = b"") -> bool:
    """Wait (at most PATIENCE_S) for the server to close ``sock``; keep sending ``trickle``."""
    deadline = time.monotonic() + PATIENCE_S
    sock.settimeout(0.3)
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            if trickle:
                try:
                    sock.sendall(trickle)
                except OSError:
                    return True
        except OSError:  # reset: the server aborted it
            return True
    return False


def _guard_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "toolsafe serve:" in line]


async def _served(url: str) -> None:
    async with over_http(url) as session:
        assert text_of(await session.call_tool("add", {"a": 2, "b": 3})) == "5"


async def test_slow_request_heads_are_cut_and_real_clients_still_served(
    tools_file: Path, tmp_path: Path, connections: list[socket.socket]
) -> None:
    log = tmp_path / "server.log"
    with serve_http_process(tools_file, log, "--header-timeout", "1") as url:
        address = _address(url)
        head = f"POST /mcp HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n".encode()
        slow = [_connect(address, connections, head) for _ in range(30)]
        await _served(url)  # while 30 heads are pending
        # One keeps sending a header line every 0.3 s: the head's deadline still holds.
        assert _closed_by_server(slow[0], trickle=b"X-Slow: 1\r\n")
        assert all(_closed_by_server(sock) for sock in slow[1:])
        await _served(url)
    lines = _guard_lines(log)
    assert len(lines) == 1, lines  # a flood is logged once, not per connection
    assert "took over 1s to send a request head" in lines[0]


async def test_a_connection_that_never_sends_is_closed(
    tools_file: Path, tmp_path: Path, connections: list[socket.socket]
) -> None:
    with serve_http_process(tools_file, tmp_path / "server.log", "--header-timeout", "1") as url:
        assert _closed_by_server(_connect(_address(url), connections))


async def test_a_slow_request_body_is_cut(
    tools_file: Path, tmp_path: Path, connections: list[socket.socket]
) -> None:
    log = tmp_path / "server.log"
    with serve_http_process(tools_file, log, "--body-timeout", "1") as url:
        host, port = _address(url)
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n"
            '{"jsonrpc": "2.0",'
        ).encode()
        sock = _connect((host, port), connections, head)
        assert _closed_by_server(sock, trickle=b" ")
        await _served(url)
    assert "took over 1s to send a request body" in "\n".join(_guard_lines(log))


async def test_at_the_cap_the_oldest_waiting_connection_makes_room(
    tools_file: Path, tmp_path: Path, connections: list[socket.socket]
) -> None:
    log = tmp_path / "server.log"
    extra = ("--max-connections", "4", "--header-timeout", "600")
    with serve_http_process(tools_file, log, *extra) as url:
        address = _address(url)
        idle = [_connect(address, connections) for _ in range(4)]
        await _served(url)  # its connections evict idle ones instead of waiting 600 s
        assert _closed_by_server(idle[0])
    assert "connection cap reached (4 open)" in "\n".join(_guard_lines(log))


@pytest.mark.parametrize("host", ["127.0.0.2", "127.5.6.7"])
async def test_every_loopback_bind_has_dns_rebinding_protection(
    tools_file: Path, tmp_path: Path, host: str
) -> None:
    import httpx

    with serve_http_process(tools_file, tmp_path / "server.log", "--host", host) as url:
        assert url.startswith(f"http://{host}:")
        async with httpx.AsyncClient() as client:
            foreign = await client.post(
                url,
                headers={
                    "Host": "evil.example:80",
                    "Accept": "application/json, text/event-stream",
                },
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
        assert foreign.status_code == 421
        await _served(url)  # the bound address itself is an allowed Host


def test_a_non_loopback_host_needs_allow_remote(
    tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tools_file), "--http", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "--allow-remote" in err


def test_allow_remote_warns_there_is_no_authentication(
    tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the bind fails, nothing listens.
    code = main(["serve", str(tools_file), "--http", "--host", "192.0.2.1", "--allow-remote"])
    err = capsys.readouterr().err
    assert code == 2
    assert "WARNING" in err and "no authentication" in err
    assert "cannot listen on 192.0.2.1:8000" in err


def test_limits_are_checked(tools_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tools_file), "--http", "--header-timeout", "0"]) == 2
    assert "header_timeout must be a positive number of seconds" in capsys.readouterr().err
    with pytest.raises(ValueError, match="max_connections"):
        HTTPLimits(max_connections=0)


@pytest.mark.parametrize(
    "host,loopback",
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_default_cap_leaves_room_below_the_descriptor_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = HTTPLimits()
    cap = limits.connection_cap()
    assert 8 <= cap <= 1024
    if soft != resource.RLIM_INFINITY:
        assert cap + limits.accept_burst() * 2 < soft
    assert HTTPLimits(max_connections=7).connection_cap() == 7
