"""``toolsafe proxy`` in front of real MCP servers nobody here wrote: ``mcp-server-git``
from PyPI (``.venv-mcp-servers``, made by ``make test-mcp2``) on a temporary repository, and
npm's ``@modelcontextprotocol/server-filesystem`` (``npx -y``) on a temporary directory.

Each: list, call, invalid arguments (never sent), the upstream's own error, a large
output trimmed to valid text, 100 concurrent calls, the upstream killed mid-burst and
relaunched. The proxy is served over stdio and over ``--http``. Skipped when the
server cannot be had (no venv, no npx or registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from _mcp_support import (
    ROOT,
    cli_http_process,
    npx_server,
    over_http,
    over_stdio,
    server_env,
    text_of,
    wire,
)
from mcp import StdioServerParameters

pytestmark = [pytest.mark.mcp, pytest.mark.mcp_servers]

GIT_SERVER = ROOT / ".venv-mcp-servers" / "bin" / "mcp-server-git"


def _pids_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (the upstream, not the proxy)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv and b"proxy" not in argv:
            found.append(int(entry.name))
    return found


def _kill_upstream(marker: str) -> int:
    pids = _pids_with(marker)
    assert pids, f"no upstream process with {marker!r} in its command line"
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    return pids[0]


def _proxy(upstream: list[str], *flags: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "toolsafe.cli", "proxy", *flags, "--", *upstream],
        env=server_env(),
    )


def _answered(result: Any) -> dict[str, Any]:
    """A result, or a structured error that says it may be retried."""
    got = wire(result)
    if got.get("isError"):
        error = got["structuredContent"]
        assert error["retryable"] is True, error
        assert error["type"] in {"UpstreamClosed", "UpstreamUnavailable", "CircuitOpen"}, error
    return got


async def _burst_through_a_kill(session: Any, call: Any, marker: str) -> None:
    """100 concurrent calls with the upstream killed while they run; then it is back."""
    before = _pids_with(marker)
    burst = asyncio.ensure_future(asyncio.gather(*(call(i) for i in range(100))))
    await asyncio.sleep(0.02)
    _kill_upstream(marker)
    results = [_answered(r) for r in await asyncio.wait_for(burst, 120)]
    assert len(results) == 100
    deadline = time.monotonic() + 60
    while True:  # relaunched with backoff
        again = _answered(await call(0))
        if not again.get("isError"):
            break
        assert time.monotonic() < deadline, again
        await asyncio.sleep(0.1)
    assert _pids_with(marker) and _pids_with(marker) != before


# --------------------------------------------------------------------------- mcp-server-git


def _repository(path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=path,
            check=True,
            capture_output=True,
        )

    path.mkdir()
    git("init", "-q")
    (path / "small.txt").write_text("hello\n")
    (path / "big.txt").write_text("".join(f"line {i} of a large file\n" for i in range(5000)))
    git("add", ".")
    git("commit", "-qm", "first commit")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not GIT_SERVER.exists():
        pytest.skip("make test-mcp2 installs mcp-server-git into .venv-mcp-servers")
    return _repository(tmp_path / "repo")


async def _exercise_git(session: Any, repo: Path) -> None:
    tools = {wire(t)["name"]: wire(t) for t in (await session.list_tools()).tools}
    assert {"git_status", "git_log", "git_show", "git_commit"} <= set(tools)
    assert tools["git_status"]["annotations"]["readOnlyHint"] is True
    status = text_of(await session.call_tool("git_status", {"repo_path": str(repo)}))
    assert "nothing to commit" in status
    log = text_of(await session.call_tool("git_log", {"repo_path": str(repo)}))
    assert "first commit" in log

    invalid = wire(await session.call_tool("git_log", {"repo_path": str(repo), "max_count": "x"}))
    assert invalid["structuredContent"]["type"] == "InvalidArguments"
    assert invalid["structuredContent"]["details"][0]["field"] == "max_count"
    missing = wire(await session.call_tool("git_log", {}))
    assert missing["structuredContent"]["type"] == "InvalidArguments"

    failed = wire(await session.call_tool("git_show", {"repo_path": str(repo), "revision": "nope"}))
    assert failed["isError"] is True  # the upstream's own failure: not retryable
    assert failed["structuredContent"]["type"] == "UpstreamToolError"
    assert failed["structuredContent"]["retryable"] is False

    big = text_of(await session.call_tool("git_show", {"repo_path": str(repo), "revision": "HEAD"}))
    assert len(big) <= 3000 and "line 0 of a large file" in big  # trimmed, head kept

    async def status_call(i: int) -> Any:
        return await session.call_tool("git_status", {"repo_path": str(repo)})

    results = await asyncio.gather(*(status_call(i) for i in range(100)))
    assert all("nothing to commit" in text_of(r) for r in results)
    await _burst_through_a_kill(session, status_call, str(repo))


async def test_proxy_in_front_of_mcp_server_git(repo: Path) -> None:
    upstream = [str(GIT_SERVER), "--repository", str(repo)]
    flags = ["--timeout", "30", "--max-output-chars", "3000", "--retry", "3", "--breaker", "0"]
    async with over_stdio(_proxy(upstream, *flags)) as session:
        await _exercise_git(session, repo)


async def test_proxy_served_over_http_in_front_of_mcp_server_git(
    repo: Path, tmp_path: Path
) -> None:
    upstream = [str(GIT_SERVER), "--repository", str(repo)]
    argv = ["proxy", "--http", "--port", "0", "--timeout", "30", "--max-output-chars", "3000"]
    argv += ["--retry", "3", "--breaker", "0", "--", *upstream]
    with cli_http_process(argv, tmp_path / "proxy.log") as (url, _):
        async with over_http(url) as session:
            await _exercise_git(session, repo)


# --------------------------------------------------------------------------- server-filesystem


async def test_proxy_in_front_of_npm_server_filesystem(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "big.txt").write_text("x" * 200_000)
    command = npx_server("@modelcontextprotocol/server-filesystem", str(root))
    if command is None:
        pytest.skip("npx or the npm registry is unavailable")
    flags = ["--timeout", "30", "--max-output-chars", "4000", "--retry", "3", "--breaker", "0"]
    async with over_stdio(_proxy(command, *flags)) as session:
        tools = {wire(t)["name"]: wire(t) for t in (await session.list_tools()).tools}
        assert {"read_text_file", "list_directory", "write_file"} <= set(tools)
        listing = text_of(await session.call_tool("list_directory", {"path": str(root)}))
        assert "a.txt" in listing and "big.txt" in listing
        read = await session.call_tool("read_text_file", {"path": str(root / "a.txt")})
        assert text_of(read) == "alpha\n"

        invalid = wire(await session.call_tool("read_text_file", {"path": 5}))
        assert invalid["structuredContent"]["type"] == "InvalidArguments"
        assert invalid["structuredContent"]["details"][0]["field"] == "path"

        denied = wire(await session.call_tool("read_text_file", {"path": "/etc/hostname"}))
        assert denied["structuredContent"]["type"] == "UpstreamToolError"
        assert denied["structuredContent"]["retryable"] is False
        assert "outside allowed directories" in denied["structuredContent"]["message"]

        big = text_of(await session.call_tool("read_text_file", {"path": str(root / "big.txt")}))
        assert len(big) <= 4000 and big.startswith("xxx")

        async def read_call(i: int) -> Any:
            return await session.call_tool("read_text_file", {"path": str(root / "a.txt")})

        results = await asyncio.gather(*(read_call(i) for i in range(100)))
        assert all(text_of(r) == "alpha\n" for r in results)
        await _burst_through_a_kill(session, read_call, str(root))
