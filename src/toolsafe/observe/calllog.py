"""One structured log record per call, through the standard ``logging`` module.

Logger ``toolsafe.calls`` (a child of ``toolsafe``): successful calls at DEBUG,
failed ones at INFO. The message is logfmt (``tool=search call_id=... outcome=ok
duration_ms=12.3 ...``) and the same fields are on the record as a dict,
``record.toolsafe``, for JSON log formatters. Arguments, results, error messages
and tracebacks are redacted and capped before they reach the record. When the
logger is not enabled for the level, nothing is computed.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from toolsafe._text import clip, render_json
from toolsafe._tokens import ApproxTokenCounter, TokenCounter
from toolsafe.observe.redact import Redactor

if TYPE_CHECKING:
    from toolsafe._call import Outcome

__all__ = ["NAME_CHARS", "CallLog", "bounded_name", "call_logger", "render"]

call_logger = logging.getLogger("toolsafe.calls")

#: Above this many characters, token counts use the approximation (logging must stay cheap).
_EXACT_TOKENS_UP_TO = 1_000_000
_approx = ApproxTokenCounter()


def render(value: Any) -> str:
    """Arguments or a result as text: strings as they are, everything else as JSON.

    Never raises (deep nesting, huge integers, a raising ``__repr__``) and is always
    valid UTF-8: a log line or span attribute must not fail the call it describes.
    """
    return render_json(value)


class CallLog:
    """Writes the per-call record. ``max_chars`` caps each of arguments, result, traceback."""

    def __init__(
        self,
        redactor: Redactor,
        counter: TokenCounter,
        *,
        max_chars: int = 1000,
        logger: logging.Logger = call_logger,
    ) -> None:
        self.redactor = redactor
        self.counter = counter
        self.max_chars = max_chars
        self.logger = logger

    def log(self, outcome: Outcome, arguments: Any) -> None:
        level = logging.DEBUG if outcome.ok else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        fields = self.fields(outcome, arguments)
        self.logger.log(level, "%s", _Logfmt(fields), extra={"toolsafe": fields})

    def fields(self, outcome: Outcome, arguments: Any) -> dict[str, Any]:
        """The record's structured fields (also the logfmt message)."""
        redact = self.redactor
        args_text = render(redact.value(arguments)) if arguments is not None else ""
        raw_args = render(arguments) if arguments is not None else ""
        out: dict[str, Any] = {
            "tool": bounded_name(outcome.tool),
            "call_id": bounded_name(outcome.call_id),
            "attempts": outcome.attempts,
            "outcome": "ok" if outcome.ok else "error",
            "duration_ms": round(outcome.elapsed_ms, 3),
            "args_bytes": _bytes(raw_args),
            "args_tokens": self._tokens(raw_args),
        }
        if outcome.ok:
            full = outcome.full_text if outcome.full_text is not None else outcome.text
            out["result_bytes"] = _bytes(full)
            out["result_tokens"] = self._tokens(full)
            if outcome.trimmed or outcome.full_text is not None:
                out["trimmed"] = outcome.trimmed
                out["sent_bytes"] = _bytes(outcome.text)
            out["arguments"] = redact.capped(args_text, self.max_chars)
            out["result"] = redact.capped(full, self.max_chars)
            return out
        error = outcome.error
        assert error is not None
        out["error_type"] = error.type
        out["retryable"] = error.retryable
        out["arguments"] = redact.capped(args_text, self.max_chars)
        out["error"] = redact.capped(error.message, self.max_chars)
        tb = redact.traceback(error, limit=4 * self.max_chars)
        if tb:
            out["traceback"] = tb
        return out

    def _tokens(self, text: str) -> int:
        if not text:
            return 0
        counter = self.counter if len(text) <= _EXACT_TOKENS_UP_TO else _approx
        try:
            return counter.count(text)
        except Exception:
            return _approx.count(text)


#: Characters of a tool name or call id a log line or span carries: an unknown name
#: comes from the model (10 MB of it made a 10 MB log line) and an id from a framework.
NAME_CHARS = 256


def bounded_name(text: str) -> str:
    """A tool name or call id cut to ``NAME_CHARS`` with a marker (cheap when short)."""
    return text if len(text) <= NAME_CHARS else clip(text, NAME_CHARS)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


class _Logfmt:
    """Formats lazily: the logfmt string is built only if a handler formats the record."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        parts = []
        traceback = None
        for key, value in self.fields.items():
            if key == "traceback":
                traceback = value
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (int, float)):
                text = str(value)
            else:
                text = str(value)
                if not text or any(c in text for c in ' "=\n\t'):
                    text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        line = "toolsafe call " + " ".join(parts)
        return f"{line}\n{traceback}" if traceback else line
