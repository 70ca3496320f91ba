"""Pipeline assembly: a tool's resolved options become its chain of steps, once, at registration.

The chain is the policies of ``toolsafe.policies.build_policies`` (outermost
first) around the innermost step made here, which runs one attempt of the body
on the backend and turns whatever it raised into a ``Result``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from toolsafe._call import CallContext
from toolsafe._express import End, EndRefused, EndText, Express, Fallback, compile_express
from toolsafe._pipeline import Handler, PipelineEnv, Policy, Result
from toolsafe._tool import Tool, ToolOptions
from toolsafe.backends._base import Backend, EscapedBaseException
from toolsafe.backends._drain import DRAIN_OPTIONS, drain_bound
from toolsafe.errors import ToolError
from toolsafe.observe import events as ev
from toolsafe.policies import build_policies, with_keyed_step

__all__ = ["Entry", "Lane", "assemble", "attempt_step", "failure_of"]

#: What the runtime lends a tool's express lane: ``(end, end_text, end_refused, fallback)``.
Lane = tuple[End, EndText, EndRefused, Fallback]


@dataclass(slots=True)
class Entry:
    """A registered tool and its assembled pipeline."""

    tool: Tool
    #: The tool's options with the runtime's defaults filled in.
    options: ToolOptions
    handler: Handler
    #: The chain for calls that bring an idempotency key (``handler`` itself when the
    #: tool has a key source of its own, so every chain has the idempotency step).
    keyed_handler: Handler
    #: The tool's upstream (its own name when it names none): the key of shared state.
    key: str
    call_policies: list[Policy]
    attempt_policies: list[Policy]
    #: Seconds for the whole call (None: only per-attempt timeouts bound it).
    deadline: float | None
    #: The tool's express lane for ``acall`` (``toolsafe._express``), None when it has none.
    express: Express | None = None
    #: A sync tool's express lane for sync callers (``Runtime.call``) only: it blocks
    #: the caller's thread on the worker.
    sync_express: Express | None = None


def assemble(
    tool: Tool,
    options: ToolOptions,
    *,
    env: PipelineEnv,
    backend: Backend,
    max_in_flight: int | None = None,
    lane: Lane | None = None,
) -> Entry:
    """Build ``tool``'s pipeline (``options``: resolved; raises ConfigurationError).

    ``lane``: the runtime's ``(end, end_text, end_refused, fallback)`` for the tool's
    express lane."""
    call_policies, attempt_policies = build_policies(tool, options, max_in_flight=max_in_flight)
    key = options.upstream or tool.name
    attempt = attempt_step(tool, key, backend, env, options)
    for policy in reversed(attempt_policies):
        attempt = policy.wrap(attempt, tool=tool, env=env)
    attempts = attempt
    handler = attempt
    for policy in reversed(call_policies):
        handler = policy.wrap(handler, tool=tool, env=env)
    keyed_handler = handler
    keyed_policies = with_keyed_step(tool, options, call_policies)
    if keyed_policies is not None:
        keyed_handler = attempt
        for policy in reversed(keyed_policies):
            keyed_handler = policy.wrap(keyed_handler, tool=tool, env=env)
    deadline = None if options.deadline is None else float(options.deadline)
    express = sync_express = None
    if lane is not None:
        end, end_text, end_refused, fallback = lane
        lanes = compile_express(
            tool,
            call_policies,
            attempt_policies,
            attempts=attempts,
            env=env,
            backend=backend,
            deadline=deadline,
            failed=failure_of(env),
            end=end,
            end_text=end_text,
            end_refused=end_refused,
            fallback=fallback,
            key=key,
            drain=_drain_options(tool, options),
        )
        if lanes is not None:
            express, sync_express = lanes
    return Entry(
        tool,
        options,
        handler,
        keyed_handler,
        key,
        call_policies,
        attempt_policies,
        deadline,
        express,
        sync_express,
    )


def _drain_options(tool: Tool, options: ToolOptions) -> ToolOptions | None:
    """``options`` (resolved) when their output budget is not the tool's own (a runtime
    default), else None: what bounds a returned iterator (``_drain.DRAIN_OPTIONS``)."""
    if drain_bound(options) == drain_bound(tool.options):
        return None
    return options


def attempt_step(
    tool: Tool,
    key: str,
    backend: Backend,
    env: PipelineEnv,
    options: ToolOptions,
) -> Handler:
    """The innermost step: one attempt of the body on ``backend``, within
    ``ctx.attempt_timeout`` (set by the timeout step), with its attempt events.
    ``options``: the tool's resolved options (a runtime-wide output budget then bounds
    a returned iterator too)."""
    clock = env.clock
    listeners = env.listeners
    failed = failure_of(env)
    name = tool.name
    run = backend.run
    drain = _drain_options(tool, options)

    async def attempt(ctx: CallContext) -> Result:
        ctx.attempt += 1
        if drain is not None:
            ctx.state[DRAIN_OPTIONS] = drain
        if listeners:
            ev.emit(listeners, ev.AttemptStarted(ctx.call_id, name, clock.now(), ctx.attempt))
            began = clock.now()
        try:
            value = await run(tool, ctx.arguments, ctx, timeout=ctx.attempt_timeout, key=key)
            result = Result(value)
        except BaseException as exc:
            result = failed(exc, name, ctx.call_id)
        if listeners:
            ev.emit(
                listeners,
                ev.AttemptFinished(
                    ctx.call_id,
                    name,
                    clock.now(),
                    ctx.attempt,
                    result.ok,
                    result.error,
                    (clock.now() - began) * 1000.0,
                ),
            )
        return result

    return attempt


def failure_of(env: PipelineEnv) -> Callable[[BaseException, str, str], Result]:
    """``failed(exc, tool_name, call_id)``: what an attempt whose body raised ``exc``
    returns. Re-raises the caller's own cancellation and a KeyboardInterrupt (call it
    in an ``except`` block); any other cancellation is the attempt's (a timeout)."""
    include_tb = env.include_traceback

    def failed(exc: BaseException, name: str, call_id: str) -> Result:
        if isinstance(exc, asyncio.CancelledError):
            if _caller_cancelled():
                raise exc
            return Result(error=ToolError.from_exception(exc, tool=name, call_id=call_id))
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        if isinstance(exc, EscapedBaseException):
            exc = exc.original
        return Result(
            error=ToolError.from_exception(
                exc, tool=name, call_id=call_id, include_traceback=include_tb
            )
        )

    return failed


def _caller_cancelled() -> bool:
    """Was the caller's task cancelled (propagate), or only the attempt (an error)?"""
    task = asyncio.current_task()
    if task is None:
        return True
    cancelling = getattr(task, "cancelling", None)
    if cancelling is None:  # Python 3.10: cannot tell; assume the caller
        return True
    return bool(cancelling())
