"""``JsonlRecorder``: one JSON line per call (and optionally per attempt), safe under load.

Pass it as a listener: ``Runtime(tools, listeners=[toolsafe.JsonlRecorder("calls.jsonl")])``.

Each line is written with a single ``os.write`` to a file opened with
``O_APPEND``, so concurrent writers (threads, event loops, processes) never
interleave or lose lines: the kernel appends each write whole. Lines longer than
``PIPE_BUF`` (and the rare short write) are written under a thread lock plus an
exclusive ``fcntl.flock`` on the file. Redaction applies to arguments, results and
errors (the runtime's rules unless the recorder was given its own).

Recordings hold real data: the file is created 0600, an existing file that others
may read is narrowed to 0600 (a warning says so; if it cannot be, the warning says
that instead), and a symbolic link as the path is refused (``O_NOFOLLOW``), so a
planted link cannot send the recording elsewhere.

A call line (``"kind": "call"``)::

    {"v": 1, "kind": "call", "ts": "2026-01-02T03:04:05.678Z", "started": 1767323045.66,
     "call_id": "call_1a2b_7", "tool": "search", "arguments": {"query": "x"},
     "ok": true, "result": "...", "result_chars": 1234, "result_sha256": "...",
     "trimmed": false, "error": null, "attempts": 1, "elapsed_ms": 12.5,
     "in_flight": 3, "pid": 4242, "versions": {"toolsafe": "0.1.0", "python": "3.11.9"}}

``result`` is the full (untrimmed) result, redacted and cut to ``max_value_chars``
(``result_truncated: true`` then); ``result_sha256`` hashes the whole redacted
result so replay can compare results of any size. ``error`` is the structured
error dict (``ToolError.to_dict()``), redacted. An attempt line (``"kind":
"attempt"``, with ``attempts=True``) has call_id, tool, attempt, ok, error,
elapsed_ms.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import select
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolsafe._log import logger
from toolsafe._text import json_safe
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.observe.redact import Redactor

if TYPE_CHECKING:
    from toolsafe._call import Outcome

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock only
    fcntl = None  # type: ignore[assignment]

__all__ = ["FORMAT_VERSION", "JsonlRecorder", "result_digest"]

FORMAT_VERSION = 1
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)


def result_digest(text: str) -> str:
    """The SHA-256 of a (redacted) result text, as recorded in ``result_sha256``."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class JsonlRecorder:
    """A listener that appends one JSON line per finished call to ``path``.

    ``attempts``: also one line per attempt. ``redact``: a ``Redactor`` (default: the
    runtime's, else the default rules). ``max_value_chars``: cap on the recorded
    result text. The file is created with mode 0600 (recordings hold real data).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        attempts: bool = False,
        redact: Redactor | None = None,
        max_value_chars: int = 65_536,
    ) -> None:
        self.path = Path(path)
        self.attempts = attempts
        self.max_value_chars = max_value_chars
        self._own_redactor = redact
        self.redactor = redact or Redactor()
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._started: dict[str, int] = {}
        self._versions = {"toolsafe": _version(), "python": platform.python_version()}
        self._pid = os.getpid()
        self._fd: int | None = _open_private(self.path)

    def bind_redactor(self, redactor: Redactor) -> None:
        """Called by the runtime that adds this listener: adopt its redaction rules."""
        if self._own_redactor is None:
            self.redactor = redactor

    # ------------------------------------------------------------------ events

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            with self._count_lock:
                self._in_flight += 1
                self._started[event.call_id] = self._in_flight
        elif isinstance(event, (ev.CallFinished, ev.CallFailed)):
            if event.outcome is None:
                return
            with self._count_lock:
                in_flight = self._started.pop(event.call_id, None)
                if in_flight is not None:
                    self._in_flight -= 1
            self.write(self.call_record(event.outcome, event.arguments, in_flight or 1))
        elif self.attempts and isinstance(event, ev.AttemptFinished):
            error = self.redactor.error(event.error).to_dict() if event.error else None
            self.write(
                {
                    "v": FORMAT_VERSION,
                    "kind": "attempt",
                    "ts": _iso(time.time()),
                    "call_id": event.call_id,
                    "tool": event.tool,
                    "attempt": event.attempt,
                    "ok": event.ok,
                    "error": error,
                    "elapsed_ms": round(event.elapsed_ms, 3),
                    "pid": self._pid,
                }
            )

    def call_record(self, outcome: Outcome, arguments: Any, in_flight: int = 1) -> dict[str, Any]:
        """The call line for ``outcome`` (redacted), as a dict."""
        now = time.time()
        redact = self.redactor
        record: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "kind": "call",
            "ts": _iso(now),
            "started": round(now - outcome.elapsed_ms / 1000.0, 6),
            "call_id": outcome.call_id,
            "tool": outcome.tool,
            "arguments": redact.value(arguments),
            "ok": outcome.ok,
        }
        if outcome.ok:
            full = outcome.full_text if outcome.full_text is not None else outcome.text
            clean = redact.text(full)
            record["result"] = clean[: self.max_value_chars]
            if len(clean) > self.max_value_chars:
                record["result_truncated"] = True
            record["result_chars"] = len(full)
            record["result_sha256"] = result_digest(clean)
            record["trimmed"] = outcome.trimmed
            record["error"] = None
        else:
            assert outcome.error is not None
            record["error"] = redact.error(outcome.error).to_dict()
        record.update(
            attempts=outcome.attempts,
            elapsed_ms=round(outcome.elapsed_ms, 3),
            in_flight=in_flight,
            pid=self._pid,
            versions=self._versions,
        )
        return record

    # ------------------------------------------------------------------ writing

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one line, atomically with respect to other writers."""
        try:
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=repr)
        except Exception:  # a 4,301-digit int, a raising __repr__, too deep: write it bounded
            safe = json_safe(record, max_items=1_000_000, max_chars=1_000_000, max_depth=100)
            line = json.dumps(safe, ensure_ascii=False, separators=(",", ":"))
        data = (line + "\n").encode("utf-8", "backslashreplace")
        fd = self._fd
        if fd is None:
            raise ValueError(f"recorder for {self.path} is closed")
        if len(data) <= _PIPE_BUF:
            written = os.write(fd, data)
            if written == len(data):
                return
            data = data[written:]  # pragma: no cover - disk full or similar
        with self._lock:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> JsonlRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"JsonlRecorder({str(self.path)!r})"


def _open_private(path: Path) -> int:
    """Open ``path`` for appending: created 0600, an existing file kept to 0600, no link followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise ConfigurationError(
                [
                    f"recording path {str(path)!r} is a symbolic link; recordings are not "
                    "written through links (give the real file's path)"
                ],
                subject="JsonlRecorder",
            ) from exc
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
            old = stat.S_IMODE(info.st_mode)
            try:
                os.fchmod(fd, 0o600)
            except OSError as exc:
                logger.warning(
                    "toolsafe: recording %s is readable by others (mode %03o) and could not "
                    "be narrowed to 0600 (%s); recordings hold arguments and results",
                    path,
                    old,
                    exc,
                )
            else:
                logger.warning(
                    "toolsafe: recording %s was mode %03o; narrowed to 0600 "
                    "(recordings hold arguments and results)",
                    path,
                    old,
                )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _iso(epoch: float) -> str:
    moment = _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _version() -> str:
    from toolsafe._version import VERSION

    return VERSION
