"""toolsafe: reliable LLM-agent tool calls at scale.

Validate, isolate, limit, time out, retry what is retryable, trim, record, and
always answer with a result or a structured error.
"""

from toolsafe import testing
from toolsafe._budget import TRIM_MARKER, OutputBudget, trim_output
from toolsafe._call import CallContext, Outcome, ToolCall
from toolsafe._clock import Clock, FakeClock, SystemClock
from toolsafe._runtime import Runtime
from toolsafe._tokens import ApproxTokenCounter, TokenCounter
from toolsafe._tool import Tool, ToolOptions, tool
from toolsafe._version import VERSION as __version__
from toolsafe.errors import (
    ERROR_PREFIX,
    Classification,
    ConfigurationError,
    InvalidArguments,
    ToolCallError,
    ToolError,
    ToolFailure,
    ToolsafeError,
    UnknownTool,
    classify,
    format_tool_error,
    is_rejection,
    parse_tool_error,
    register_classifier,
    unregister_classifier,
)
from toolsafe.observe.metrics import Metrics
from toolsafe.observe.otel import OTel
from toolsafe.observe.recorder import JsonlRecorder
from toolsafe.observe.redact import Redactor
from toolsafe.policies import Breaker, Cache, Rate, Retry
from toolsafe.stores import MemoryStore, Store

__all__ = [
    "ERROR_PREFIX",
    "TRIM_MARKER",
    "ApproxTokenCounter",
    "Breaker",
    "Cache",
    "CallContext",
    "Classification",
    "Clock",
    "ConfigurationError",
    "FakeClock",
    "InvalidArguments",
    "JsonlRecorder",
    "MemoryStore",
    "Metrics",
    "OTel",
    "Outcome",
    "OutputBudget",
    "Rate",
    "Redactor",
    "RedisStore",
    "Retry",
    "Runtime",
    "Store",
    "SystemClock",
    "TokenCounter",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolError",
    "ToolFailure",
    "ToolOptions",
    "ToolsafeError",
    "UnknownTool",
    "__version__",
    "classify",
    "format_tool_error",
    "is_rejection",
    "parse_tool_error",
    "register_classifier",
    "testing",
    "tool",
    "trim_output",
    "unregister_classifier",
]


def __getattr__(name: str) -> object:
    # Imported on first use: ``import toolsafe`` must not import redis.
    if name == "RedisStore":
        from toolsafe.stores.redis import RedisStore

        return RedisStore
    raise AttributeError(f"module 'toolsafe' has no attribute {name!r}")
