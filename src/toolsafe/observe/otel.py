"""OpenTelemetry tracing (and metrics export) following the GenAI semantic conventions.

When ``opentelemetry-api`` is importable, every call runs inside one span:

- name ``execute_tool <tool name>``, kind INTERNAL;
- ``gen_ai.operation.name="execute_tool"``, ``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
  ``gen_ai.tool.type="function"``, ``gen_ai.tool.description``;
- on failure ``error.type`` (the ToolError's type), status ERROR with the redacted
  message, and an ``exception`` event (type, redacted message and stack trace);
- one ``toolsafe.attempt`` event per attempt (number, ok, duration, error type);
- ``toolsafe.attempts``, ``toolsafe.outcome``, ``toolsafe.trimmed``;
- with content capture on (``OTel(capture_content=True)`` or
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``), the redacted, capped
  ``gen_ai.tool.call.arguments`` and ``gen_ai.tool.call.result``.

The span is current while the tool runs, so spans a tool body opens (HTTP
clients, databases) nest under it. Without an SDK configured the API's no-op
tracer makes all of this nearly free.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolsafe._version import VERSION
from toolsafe.errors import ConfigurationError
from toolsafe.observe import events as ev
from toolsafe.observe.calllog import bounded_name, render
from toolsafe.observe.redact import Redactor

if TYPE_CHECKING:
    from toolsafe._call import Outcome

__all__ = ["CAPTURE_ENV", "OTel", "Tracing", "otel_installed", "resolve_otel"]

#: The GenAI instrumentations' switch for recording content.
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def otel_installed() -> bool:
    """True when ``opentelemetry-api`` can be imported."""
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class OTel:
    """OpenTelemetry settings for ``Runtime(otel=OTel(...))``.

    Providers default to the global ones. ``capture_content`` (arguments and
    results on spans) is off unless set here or by ``CAPTURE_ENV``.
    """

    tracer_provider: Any = None
    meter_provider: Any = None
    traces: bool = True
    metrics: bool = True
    capture_content: bool | None = None
    max_content_chars: int = 4096

    @property
    def captures_content(self) -> bool:
        if self.capture_content is not None:
            return self.capture_content
        return os.environ.get(CAPTURE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class SdkGate:
    """Is a real (SDK) provider in place, so that recording is worth its cost?

    A provider given explicitly: always. Otherwise the global one, which starts as
    the API's proxy and may be replaced by an SDK provider at any time: checked at
    most once per ``recheck_s`` while it is the proxy (the check itself costs
    microseconds), and never again once it is real.
    """

    def __init__(
        self,
        explicit: bool,
        current: Callable[[], Any],
        proxy: type | None,
        recheck_s: float = 1.0,
    ) -> None:
        self._open = explicit or proxy is None
        self._current = current
        self._proxy = proxy
        self._recheck_s = recheck_s
        self._next_check = 0.0

    def open(self) -> bool:
        if self._open:
            return True
        now = time.monotonic()
        if now < self._next_check:
            return False
        assert self._proxy is not None
        self._open = not isinstance(self._current(), self._proxy)
        self._next_check = now + self._recheck_s
        return self._open


def resolve_otel(spec: Any) -> OTel | None:
    """``None``: on when installed; ``False``: off; ``True`` or an ``OTel``: on (must be installed)."""
    if spec is False:
        return None
    if spec is None:
        return OTel() if otel_installed() else None
    config = OTel() if spec is True else spec
    if not isinstance(config, OTel):
        raise ConfigurationError([f"otel= takes a bool or toolsafe.OTel, not {spec!r}"])
    if not otel_installed():
        raise ConfigurationError(
            ["otel= needs OpenTelemetry: pip install 'toolsafe[otel]' (opentelemetry-api)"]
        )
    return config


class Tracing:
    """Opens the call span (``span``), closes it with the outcome (``finish``), and, as a
    listener, adds one event per attempt to the span of the attempt's call."""

    def __init__(self, config: OTel, redactor: Redactor) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode

        self._tracer = trace.get_tracer("toolsafe", VERSION, tracer_provider=config.tracer_provider)
        self._gate = SdkGate(
            config.tracer_provider is not None, trace.get_tracer_provider, ProxyTracerProvider
        )
        self._listening = False
        self._kind = SpanKind.INTERNAL
        self._status = Status
        self._error_code = StatusCode.ERROR
        self._spans: dict[str, Any] = {}
        self.redactor = redactor
        self.capture = config.captures_content
        self.max_chars = config.max_content_chars

    def ready(self, listeners: list[ev.Listener]) -> bool:
        """True when spans would be recorded: a provider was given, or an SDK set globally.

        Until then calls skip tracing entirely (no span, no listener, no task). The
        first traced call adds this object to ``listeners`` for the attempt events.
        """
        if not self._gate.open():
            return False
        if not self._listening:
            self._listening = True
            listeners.append(self)
        return True

    async def run_call(
        self,
        call: Coroutine[Any, Any, Outcome],
        tool: str,
        call_id: str,
        arguments: Any,
        description: str | None = None,
    ) -> Outcome:
        """Await ``call`` (the call without its span) inside the span of ``tool``'s call
        (current while the tool runs)."""
        traced = self._traced(call, tool, call_id, arguments, description)
        if asyncio.current_task() is None:
            # A sync caller drives the first step by hand, outside any Task: if the call
            # then suspends, it resumes in a Task with another context, where the span's
            # context could not be detached. Give the call its own Task from the start.
            return await asyncio.get_running_loop().create_task(traced)
        return await traced

    async def _traced(
        self,
        call: Coroutine[Any, Any, Outcome],
        tool: str,
        call_id: str,
        arguments: Any,
        description: str | None,
    ) -> Outcome:
        with self.span(tool, call_id, arguments, description) as span:
            outcome = await call
            self.finish(span, outcome)
        return outcome

    @contextmanager
    def span(
        self, tool: str, call_id: str, arguments: Any, description: str | None = None
    ) -> Iterator[Any]:
        tool = bounded_name(tool)  # a model's unknown name may be megabytes
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": bounded_name(call_id),
            "gen_ai.tool.type": "function",
        }
        if description:
            attributes["gen_ai.tool.description"] = description[:1024]
        if self.capture and arguments is not None:
            attributes["gen_ai.tool.call.arguments"] = self.redactor.capped(
                render(self.redactor.value(arguments)), self.max_chars
            )
        with self._tracer.start_as_current_span(
            f"execute_tool {tool}",
            kind=self._kind,
            attributes=attributes,
            record_exception=False,  # the exception event is written redacted, below
        ) as span:
            self._spans[call_id] = span
            try:
                yield span
            finally:
                if self._spans.get(call_id) is span:
                    del self._spans[call_id]

    def finish(self, span: Any, outcome: Outcome) -> None:
        span.set_attribute("toolsafe.attempts", outcome.attempts)
        span.set_attribute("toolsafe.outcome", "ok" if outcome.ok else "error")
        if outcome.trimmed:
            span.set_attribute("toolsafe.trimmed", True)
        if outcome.ok:
            if self.capture:
                span.set_attribute(
                    "gen_ai.tool.call.result", self.redactor.capped(outcome.text, self.max_chars)
                )
            return
        error = outcome.error
        assert error is not None
        message = self.redactor.capped(error.message, 512)
        span.set_attribute("error.type", error.type)
        span.set_attribute("toolsafe.error.retryable", error.retryable)
        span.set_status(self._status(self._error_code, f"{error.type}: {message}"))
        event: dict[str, Any] = {"exception.type": error.type, "exception.message": message}
        tb = self.redactor.traceback(error, limit=8192)
        if tb:
            event["exception.stacktrace"] = tb
        span.add_event("exception", event)
        if self.capture:
            span.set_attribute(
                "gen_ai.tool.call.result", self.redactor.capped(outcome.text, self.max_chars)
            )

    def __call__(self, event: ev.Event) -> None:
        if not isinstance(event, ev.AttemptFinished):
            return
        span = self._spans.get(event.call_id)
        if span is None:
            return
        attributes: dict[str, Any] = {
            "toolsafe.attempt": event.attempt,
            "toolsafe.attempt.ok": event.ok,
            "toolsafe.attempt.duration_ms": round(event.elapsed_ms, 3),
        }
        if event.error is not None:
            attributes["error.type"] = event.error.type
            attributes["toolsafe.attempt.retryable"] = event.error.retryable
        span.add_event("toolsafe.attempt", attributes, timestamp=time.time_ns())

    def __repr__(self) -> str:
        return f"<toolsafe.Tracing capture_content={self.capture}>"
