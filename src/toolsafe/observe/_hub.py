"""The runtime's observability wiring: redaction, token counting, metrics, call log, tracing.

Kept out of the runtime so it only calls ``finished()`` once per call and opens a
span when tracing is on. Nothing here calls back into the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolsafe._tokens import LazyTokenCounter
from toolsafe.observe.calllog import CallLog
from toolsafe.observe.metrics import Metrics
from toolsafe.observe.otel import Tracing, resolve_otel
from toolsafe.observe.redact import resolve_redactor

if TYPE_CHECKING:
    from toolsafe._call import Outcome
    from toolsafe.observe.redact import Redactor

__all__ = ["Observability", "bind_listener"]


class Observability:
    """Built from ``Runtime(redact=..., otel=..., token_counter=...)``."""

    def __init__(self, *, redact: Any = True, otel: Any = None, token_counter: Any = None) -> None:
        self.redactor = resolve_redactor(redact)
        self.token_counter = LazyTokenCounter(token_counter)
        self.metrics = Metrics()
        self.tracing: Tracing | None = None
        config = resolve_otel(otel)
        if config is not None:
            if config.traces:
                self.tracing = Tracing(config, self.redactor)
            if config.metrics:
                self.metrics.export_to(config.meter_provider)
        self.call_log = CallLog(self.redactor, self.token_counter)

    def finished(self, outcome: Outcome, arguments: Any, *, count: bool = True) -> None:
        """Every call ends here: metrics (unless ``count`` is False) and the call log."""
        if count:
            self.metrics.record(outcome)
        self.call_log.log(outcome, arguments)


def bind_listener(listener: Any, redactor: Redactor) -> None:
    """Hand a listener that wants them (``bind_redactor``) the redaction rules of the
    runtime it was added to (a recorder writes what it records redacted alike)."""
    bind = getattr(listener, "bind_redactor", None)
    if callable(bind):
        bind(redactor)
