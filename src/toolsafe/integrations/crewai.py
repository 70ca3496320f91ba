"""CrewAI: hardened tools whose every call runs through a toolsafe Runtime.

Adopt it where the agent gets its tools::

    from toolsafe.integrations.crewai import harden

    tools = harden([SearchTool(), lookup], timeout=10, retry=Retry(3), idempotent=True)
    agent = Agent(..., tools=tools)

``harden`` returns CrewAI ``BaseTool`` objects with the same name, description
and ``args_schema``. What CrewAI 1.15 does with a tool, and what a hardened one
changes (checked in CrewAI's source; see docs/crewai.md):

- Both tool paths call the public tool API: the native function-calling path
  calls ``tool.run(**args)``, the ReAct text path calls
  ``tool.to_structured_tool().invoke(args)``. A hardened tool overrides exactly
  these (and their async twins), so validation, isolation, timeouts, retries,
  limits, output budgets and recording happen in toolsafe, once per model call.
- CrewAI re-executes a tool that raises (on the ReAct path: once more with the
  unfiltered arguments, and up to three rounds, so six runs for one action). A
  hardened tool never raises: a failure comes back as CrewAI's ``ToolFailure``
  (message = the structured error line, ``retryable`` set), which CrewAI shows
  the model as is, records in ``tool_failures`` and never caches. CrewAI
  versions without ``ToolFailure`` get the structured error line as a string.
- One usage is counted per model call (``max_usage_count``), whatever the
  retries inside.

This module is translation only: every policy lives in the toolsafe runtime.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

try:
    from crewai.tools import BaseTool
    from crewai.tools.base_tool import Tool as CrewAIFunctionTool
    from crewai.tools.structured_tool import CrewStructuredTool
except ImportError as exc:  # pragma: no cover - exercised in a test with crewai hidden
    raise ImportError(
        "toolsafe.integrations.crewai needs CrewAI: pip install 'toolsafe[crewai]'",
        name=exc.name,
    ) from exc

from pydantic import BaseModel, PrivateAttr

import toolsafe
from toolsafe import CallContext, ConfigurationError, Outcome, Runtime, Tool, ToolError, ToolOptions
from toolsafe import ToolFailure as _ToolsafeFailure
from toolsafe.errors import parse_tool_error
from toolsafe.integrations.support import (
    USAGE_LIMIT_EXCEEDED,
    contract_findings,
    is_stub,
    register,
    runtime_for,
    runtime_problems,
    split_policy,
    strict_model,
)

try:  # CrewAI >= 1.15.9
    from crewai.tools.tool_failure import ToolFailure as _CrewAIToolFailure
    from crewai.tools.tool_failure import ToolFailureReason as _Reason
except ImportError:  # pragma: no cover - older CrewAI: failures travel as strings
    _CrewAIToolFailure = None  # type: ignore[assignment,misc]
    _Reason = None  # type: ignore[assignment,misc]

__all__ = ["HardenedTool", "harden", "to_crewai"]

#: BaseTool's private usage lock: thread-safe by definition, so shared, not copied per call.
_CREWAI_SHARED = ("_usage_lock",)


# --------------------------------------------------------------------------- public API


@overload
def harden(
    tool_or_tools: list[Any] | tuple[Any, ...], runtime: Runtime | None = None, **policy: Any
) -> list[HardenedTool]: ...


@overload
def harden(tool_or_tools: Any, runtime: Runtime | None = None, **policy: Any) -> HardenedTool: ...


def harden(
    tool_or_tools: Any, runtime: Runtime | None = None, **policy: Any
) -> HardenedTool | list[HardenedTool]:
    """CrewAI tools (same name, description, args schema) that run through a toolsafe Runtime.

    Takes one tool or a list: CrewAI ``BaseTool`` subclasses, ``@tool`` functions,
    toolsafe ``Tool``s and plain functions. ``policy`` holds tool options
    (``timeout=``, ``retry=``, ``breaker=``, ``max_output_chars=``, ...); without a
    ``runtime`` one is made for these tools, and runtime options (``listeners=``,
    ``backend=``, ...) may go in ``policy`` too. Every problem with every tool is
    reported together in one ``ConfigurationError``; an ``args_schema`` that
    disagrees harmlessly with ``_run`` is a warning (``tool.warnings``), and
    ``contract="warn"`` wraps third-party tools whose disagreement is not harmless.
    ``to_crewai`` is another name for this function.
    """
    if isinstance(tool_or_tools, (list, tuple)):
        return _harden_all(list(tool_or_tools), runtime, policy)
    return _harden_all([tool_or_tools], runtime, policy)[0]


#: An alias of ``harden`` (a toolsafe ``Tool`` to CrewAI reads well with this name).
to_crewai = harden


def _harden_all(
    items: list[Any], runtime: Runtime | None, policy: Mapping[str, Any]
) -> list[HardenedTool]:
    tool_opts, runtime_opts = split_policy(policy)
    problems = runtime_problems(runtime, runtime_opts)
    bodies: list[tuple[Tool, BaseTool | None]] = []
    for item in items:
        try:
            bodies.append(_toolsafe_body(item, tool_opts))
        except ConfigurationError as exc:
            label = exc.subject or _label(item)
            problems.extend(f"{label}: {p}" for p in exc.problems)
    if problems:
        raise ConfigurationError(problems)
    runtime = runtime_for(runtime, runtime_opts)
    registered = register(runtime, [body for body, _ in bodies])
    return [
        _wrap(runtime, tool, original)
        for tool, (_, original) in zip(registered, bodies, strict=True)
    ]


# --------------------------------------------------------------------------- the CrewAI tool


class HardenedTool(BaseTool):
    """A CrewAI tool that hands every call to a toolsafe Runtime and never raises.

    Overrides the public entry points CrewAI uses (``run``/``arun`` on the native
    path, ``to_structured_tool().invoke/ainvoke`` on the ReAct path) so CrewAI's
    lax validation and its re-execution on error never see the tool body.
    """

    _runtime: Runtime = PrivateAttr()
    _target: str = PrivateAttr(default="")
    _original: Any = PrivateAttr(default=None)

    # ---------------------------------------------------------------- toolsafe side

    @property
    def runtime(self) -> Runtime:
        """The runtime this tool's calls go through (shared by tools hardened together)."""
        return self._runtime

    @property
    def toolsafe_tool(self) -> Tool:
        """The toolsafe Tool behind this CrewAI tool (its options, isolation reports)."""
        return self._runtime.get(self._target)

    @property
    def original(self) -> Any:
        """What was hardened: the CrewAI tool, toolsafe Tool or function."""
        return self._original

    def call(self, arguments: Any) -> Outcome:
        """Run one call (arguments as a dict or JSON text) and return its Outcome."""
        return self._runtime.call(self._target, arguments)

    async def acall(self, arguments: Any) -> Outcome:
        """Async twin of ``call``."""
        return await self._runtime.acall(self._target, arguments)

    def _answer(self, outcome: Outcome) -> Any:
        """The result CrewAI shows the model: the text, or a ToolFailure carrying the error line."""
        if outcome.ok or outcome.error is None:
            return outcome.text
        return _failure(outcome.error)

    def _execute(self, arguments: Any) -> Any:
        # The runtime always returns an Outcome (its contract), so nothing raises here
        # and CrewAI never re-runs the call.
        return self._answer(self.call(arguments))

    async def _aexecute(self, arguments: Any) -> Any:
        return self._answer(await self.acall(arguments))

    # ---------------------------------------------------------------- CrewAI side

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        return self._execute(self._arguments(args, kwargs))

    async def _arun(self, *args: Any, **kwargs: Any) -> Any:
        return await self._aexecute(self._arguments(args, kwargs))

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """CrewAI's native path: the runtime validates, counts one usage and runs the call."""
        return self._counted(self.call(self._arguments(args, kwargs)))

    async def arun(self, *args: Any, **kwargs: Any) -> Any:
        """Async twin of ``run``."""
        return self._counted(await self.acall(self._arguments(args, kwargs)))

    def _counted(self, outcome: Outcome) -> Any:
        # The limit is the runtime's (max_calls=, from max_usage_count); CrewAI's own
        # counter is kept in step so what CrewAI shows and checks agrees with it.
        error = outcome.error
        if error is None or error.type not in (USAGE_LIMIT_EXCEEDED, "InvalidArguments"):
            self.current_usage_count += 1
        return self._answer(outcome)

    def to_structured_tool(self) -> CrewStructuredTool:
        """CrewAI's ReAct path: a structured tool whose ``invoke`` hands raw arguments to us."""
        structured = _HardenedStructuredTool(
            name=self.name,
            description=self.description,
            args_schema=self.args_schema,
            result_schema=self.result_schema,
            func=self._run,
            result_as_answer=self.result_as_answer,
            max_usage_count=self.max_usage_count,
            current_usage_count=self.current_usage_count,
            cache_function=self.cache_function,
            tool_failure_policy=self.tool_failure_policy,
        )
        structured._original_tool = self
        return structured

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if not args:
            return kwargs
        names = list(self.args_schema.model_fields)
        if len(args) > len(names):
            # Too many to name: hand them over so validation reports the problem.
            return {**kwargs, "__positional__": list(args)}
        return {**dict(zip(names, args, strict=False)), **kwargs}

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> HardenedTool:
        # The runtime (locks, threads) is shared by design; fields are copied as usual.
        clone = self.model_copy(deep=False)
        object.__setattr__(clone, "__dict__", copy.deepcopy(self.__dict__, memo))
        return clone


class _HardenedStructuredTool(CrewStructuredTool):
    """The ReAct path's view of a HardenedTool: no CrewAI validation, no double counting.

    CrewAI's ToolUsage checks and counts usage around ``invoke`` itself, so this
    one does neither; it never raises, so ToolUsage never re-runs it.
    """

    def invoke(
        self, input: str | dict[str, Any], config: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        hardened: HardenedTool = self._original_tool
        return hardened._execute(_merge(input, kwargs))

    async def ainvoke(
        self, input: str | dict[str, Any], config: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        hardened: HardenedTool = self._original_tool
        return await hardened._aexecute(_merge(input, kwargs))


def _merge(raw: Any, kwargs: Mapping[str, Any]) -> Any:
    if not kwargs:
        return raw
    if isinstance(raw, dict):
        return {**raw, **kwargs}
    return raw


class _CrewAIBody(Tool):
    """A CrewAI tool body as a toolsafe Tool, called the way CrewAI calls it.

    CrewAI passes ``args_schema(...).model_dump()`` values (nested models as dicts)
    and runs a coroutine returned by a sync ``_run`` to completion; so does this.
    """

    def bind(self, arguments: Mapping[str, Any], ctx: CallContext | None) -> Callable[[], Any]:
        inner = super().bind({k: _plain(v) for k, v in arguments.items()}, ctx)
        if self.is_async:

            async def arun() -> Any:
                return _declared(await inner())

            return arun

        def run() -> Any:
            result = inner()
            if inspect.iscoroutine(result):
                result = asyncio.run(result)  # a worker thread: no loop is running here
            return _declared(result)

        return run


def _declared(result: Any) -> Any:
    """A ``ToolFailure`` a CrewAI tool returned becomes toolsafe's: classified, maybe retried."""
    if _CrewAIToolFailure is None or not isinstance(result, _CrewAIToolFailure):
        return result
    details = {"reason": str(result.reason.value), **({"code": result.code} if result.code else {})}
    raise _ToolsafeFailure(
        result.message,
        retryable=result.retryable,
        details={**details, **result.details} if result.details else details,
    )


def _failure(error: ToolError) -> Any:
    """CrewAI's ``ToolFailure`` carrying the structured error line (the line itself without it)."""
    if _CrewAIToolFailure is None:
        return error.to_text()
    if error.type == USAGE_LIMIT_EXCEEDED:
        reason = _Reason.USAGE_LIMIT
    elif error.type == "InvalidArguments":
        reason = _Reason.INVALID_INPUT
    else:
        reason = _Reason.TOOL_REPORTED
    return _CrewAIToolFailure(
        message=error.to_text(),
        reason=reason,
        retryable=error.retryable,
        details=json.loads(json.dumps(error.to_dict(), default=repr)),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- translation


def _label(item: Any) -> str:
    name = getattr(item, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(item, "__name__", type(item).__name__)


def _toolsafe_body(item: Any, options: Mapping[str, Any]) -> tuple[Tool, BaseTool | None]:
    """The toolsafe Tool that runs ``item``'s body, and the CrewAI tool it came from."""
    if isinstance(item, HardenedTool):
        raise ConfigurationError(["already hardened: pass the original tool"], subject=item.name)
    if isinstance(item, BaseTool) and item.max_usage_count is not None:
        options = {"max_calls": item.max_usage_count, **options}  # the runtime counts uses
    if isinstance(item, CrewAIFunctionTool):
        return _from_function_tool(item, options), item
    if isinstance(item, BaseTool):
        return _from_base_tool(item, options), item
    if isinstance(item, CrewStructuredTool):
        raise ConfigurationError(
            ["a CrewStructuredTool is CrewAI's internal view of a tool: harden the BaseTool"],
            subject=item.name,
        )
    tool = toolsafe.tool(item)
    return (tool.with_options(**options) if options else tool), None


def _options(options: Mapping[str, Any], *, shared: Iterable[str] = ()) -> ToolOptions:
    base = ToolOptions().merged(**options)
    keep = tuple(dict.fromkeys((*shared, *base.shared)))
    return base.merged(shared=keep) if keep != base.shared else base


def _from_function_tool(item: Any, options: Mapping[str, Any]) -> Tool:
    """A CrewAI ``@tool`` function: a stateless function, validated by its args_schema."""
    opts = _options(options)
    fn = item.func
    body = _CrewAIBody(
        fn,
        name=item.name,
        description=item.description,
        model=strict_model(item.args_schema, strict=opts.strict),
        options=opts,
        is_async=inspect.iscoroutinefunction(fn),
    )
    body.origin = item
    return body


def _from_base_tool(item: BaseTool, options: Mapping[str, Any]) -> Tool:
    """A ``BaseTool`` subclass: an instance copied per call, validated by its args_schema."""
    opts = _options(options, shared=_CREWAI_SHARED)
    method_name = _body_method(item)
    method = getattr(item, method_name)
    problems, harmless = contract_findings(item.args_schema, method)
    if opts.contract not in ("enforce", "warn"):
        raise ConfigurationError(
            [f"contract={opts.contract!r}: expected 'enforce' or 'warn'"], subject=item.name
        )
    if problems and opts.contract == "enforce":
        raise ConfigurationError(
            [*problems, "the tool's code cannot be edited? pass contract='warn' to wrap it anyway"],
            subject=item.name,
        )
    body = _CrewAIBody(
        None,
        name=item.name,
        description=item.description,
        model=strict_model(item.args_schema, strict=opts.strict),
        options=opts,
        instance=item,
        method_name=method_name,
        is_async=inspect.iscoroutinefunction(method),
    )
    body.warn([*problems, *harmless])
    return body


def _body_method(item: BaseTool) -> str:
    """``_run``, unless it is a stub and ``_arun`` is the real body (an async-only tool)."""
    cls = type(item)
    if not is_stub(cls._run):
        return "_run"
    if cls._arun is not BaseTool._arun and not is_stub(cls._arun):
        return "_arun"
    raise ConfigurationError(["defines neither _run nor _arun"], subject=item.name)


def _wrap(runtime: Runtime, registered: Tool, original: BaseTool | None) -> HardenedTool:
    if original is not None:
        hardened = HardenedTool(
            name=original.name,
            description=original.description,
            args_schema=original.args_schema,
            env_vars=original.env_vars,
            result_as_answer=original.result_as_answer,
            max_usage_count=original.max_usage_count,
            tool_failure_policy=original.tool_failure_policy,
            cache_function=_cache_policy(original.cache_function),
        )
    else:
        hardened = HardenedTool(
            name=registered.name,
            description=registered.description,
            args_schema=registered.model,
            cache_function=_cache_policy(None),
        )
    hardened._runtime = runtime
    hardened._target = registered.name
    hardened._original = original if original is not None else registered
    return hardened


def _cache_policy(inner: Callable[..., Any] | None) -> Callable[..., Any]:
    """CrewAI's cache must never replay a failure.

    CrewAI never caches a ``ToolFailure``; without it (older CrewAI) a failure is a
    string, so the tool's own cache function is wrapped to refuse error lines.
    """
    if _CrewAIToolFailure is not None:
        return inner if inner is not None else _cache_unless_error
    if inner is None:
        return _cache_unless_error

    def cache_function(arguments: Any = None, result: Any = None) -> bool:
        return _cache_unless_error(arguments, result) and bool(inner(arguments, result))

    return cache_function


def _cache_unless_error(arguments: Any = None, result: Any = None) -> bool:
    """Cache a result unless it is a structured error line."""
    return not (isinstance(result, str) and parse_tool_error(result) is not None)
