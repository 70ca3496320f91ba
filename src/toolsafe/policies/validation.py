"""Validation: the model's arguments checked against the tool's schema before anything runs.

The outermost step. Raw arguments (a dict, or JSON text) are parsed and
validated; the validated dict becomes ``ctx.arguments`` for every step inside
(the cache keys on it, the backend passes it to the body). ``strict=True`` (the
default) is pydantic's strict mode, no type coercion; ``repair=True`` mends
malformed JSON first and logs what it changed. Arguments that do not fit end the
call with a non-retryable ``InvalidArguments`` error whose details name each
field: no policy inside ran, the tool did not run, and the attempt count is 0.

The error speaks of the tool by the name the model used (its exported name,
when it called it so).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from toolsafe._log import logger
from toolsafe._pipeline import Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError, InvalidArguments, ToolError
from toolsafe.observe import events as ev

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool, ToolOptions

__all__ = ["Validation", "ValidationPolicy", "as_validation"]


@dataclass(frozen=True, slots=True)
class Validation:
    """``strict``: no type coercion; ``repair``: mend malformed JSON arguments first."""

    strict: bool = True
    repair: bool = False

    def __post_init__(self) -> None:
        problems = [
            f"{name}={value!r}: expected True or False"
            for name, value in (("strict", self.strict), ("repair", self.repair))
            if not isinstance(value, bool)
        ]
        if problems:
            raise ConfigurationError(problems)


def as_validation(options: ToolOptions) -> Validation:
    """Read ``strict=`` and ``repair=`` (always set: validation is never off)."""
    return Validation(options.strict, options.repair)


async def _done(result: Result) -> Result:
    return result


class ValidationPolicy:
    name = "validation"
    level: Literal["call"] = "call"

    def __init__(self, options: Validation) -> None:
        self.options = options

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        name = tool.name
        validate = tool.validate_with_repairs
        # The tool's own settings take the tool's fast path (one pydantic-core call).
        strict = None if self.options.strict == tool.options.strict else self.options.strict
        repair = None if self.options.repair == tool.options.repair else self.options.repair
        clock = env.clock
        listeners = env.listeners

        def refused(ctx: CallContext, exc: InvalidArguments) -> Awaitable[Result]:
            error = ToolError.from_exception(exc, tool=name, call_id=ctx.call_id)
            used = ctx.call.name
            if used != name:  # speak of the tool by the name the model used
                quoted, alias = f"'{name}'", f"'{used}'"
                error = error.with_(
                    message=error.message.replace(quoted, alias),
                    hint=error.hint.replace(quoted, alias) if error.hint else None,
                )
            return _done(Result(error=error))

        def validated(ctx: CallContext) -> Awaitable[Result]:
            # A plain function: a valid call goes on to the next step with no coroutine.
            try:
                args, repairs = validate(ctx.call.arguments, strict=strict, repair=repair)
            except InvalidArguments as exc:
                return refused(ctx, exc)
            if repairs:
                logger.warning(
                    "tool %s: repaired malformed arguments: %s", name, "; ".join(repairs)
                )
            if listeners:
                ev.emit(
                    listeners,
                    ev.CallValidated(ctx.call_id, name, clock.now(), args, tuple(repairs)),
                )
            ctx.arguments = args
            return inner(ctx)

        return validated
