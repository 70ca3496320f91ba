"""Tools for the process-backend tests, in a small module that worker processes import."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from typing import Any

import toolsafe


def _note_pid(path: str) -> None:
    with open(path, "w") as f:
        f.write(str(os.getpid()))


@toolsafe.tool
def add(a: int, b: int) -> int:
    return a + b


@toolsafe.tool
async def async_double(a: int) -> int:
    await asyncio.sleep(0.001)
    return a * 2


@toolsafe.tool
def worker_pid() -> int:
    return os.getpid()


@toolsafe.tool
def hang(pid_file: str) -> str:
    _note_pid(pid_file)
    while True:
        time.sleep(1)


@toolsafe.tool
async def async_hang(pid_file: str) -> str:
    _note_pid(pid_file)
    await asyncio.Event().wait()
    return "never"


@toolsafe.tool
def busy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@toolsafe.tool
def exits(code: int) -> str:
    os._exit(code)


@toolsafe.tool
def segfault() -> str:
    ctypes.string_at(0)
    return "unreachable"


@toolsafe.tool
def killed() -> str:
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


class HTTPError(Exception):
    """Looks like an HTTP client's error: a status and headers, classified by the caller."""

    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers

    def __reduce__(self) -> Any:
        return HTTPError, (self.status_code, self.headers)


class Unrebuildable(Exception):
    """Pickles, but cannot be rebuilt (its __init__ needs two arguments)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


@toolsafe.tool
def fails(kind: str) -> str:
    if kind == "value":
        raise ValueError("bad value 3")
    if kind == "http":
        raise HTTPError(503, {"Retry-After": "7"})
    if kind == "failure":
        raise toolsafe.ToolFailure("quota", retryable=True, retry_after_s=2, type="QuotaExceeded")
    if kind == "unrebuildable":
        raise Unrebuildable("x", "y")
    if kind == "exit":
        raise SystemExit(4)
    return "ok"


class Notebook:
    """A class-based tool that writes on ``self`` (each call must get its own copy)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _run(self, line: str) -> Any:
        self.lines.append(line)
        return list(self.lines)


@toolsafe.tool
def unpicklable_result() -> Any:
    return lambda: None


@toolsafe.tool(max_output_chars=100)
def endless_lines() -> Any:
    """An endless generator: consumed in the worker until it passes the budget."""
    i = 0
    while True:
        yield f"line {i}"
        i += 1


@toolsafe.tool
def endless_numbers() -> Any:
    """An endless generator with no budget of its own (a runtime-wide one bounds it)."""
    i = 0
    while True:
        yield i
        i += 1
