"""Output budgets: the step that makes a tool's result fit the model's context.

``max_output_chars=`` / ``max_output_tokens=`` bound the text the model sees. The
step serializes the result and, when it is over budget, replaces it with a
summary (``summarizer=``, sync or async, called as ``fn(text)`` or
``fn(text, budget)``; a summary still over budget is trimmed, a summarizer that
fails falls back to trimming) or trims it (``toolsafe._budget``: structure-aware,
``trim_hint=`` says how to ask for more). The untrimmed text stays on
``Outcome.full_text``.

It sits outside the cache, so a cached result is fitted like a fresh one. A
result that has no text form ends the call with ``ResultNotSerializable``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from toolsafe._budget import OutputBudget, trim_to
from toolsafe._log import logger
from toolsafe._pipeline import Handler, PipelineEnv, Result, TextResult, serialize
from toolsafe.errors import ConfigurationError

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool, ToolOptions

__all__ = ["Budget", "BudgetPolicy", "as_budget"]

#: Results above this many characters are trimmed off the event loop.
_OFFLOAD_CHARS = 256_000


def _positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``max_chars`` characters / ``max_tokens`` tokens for the model (None: no
    limit of that kind); ``summarizer`` replaces trimming; ``hint`` ends the marker."""

    max_chars: int | None = None
    max_tokens: int | None = None
    summarizer: Callable[..., Any] | None = None
    hint: str | None = None

    def __post_init__(self) -> None:
        problems = []
        for option, value in (
            ("max_output_chars", self.max_chars),
            ("max_output_tokens", self.max_tokens),
        ):
            if value is not None and not _positive_int(value):
                problems.append(f"{option}={value!r}: expected a positive int")
        if self.summarizer is not None and not callable(self.summarizer):
            problems.append(
                f"summarizer={self.summarizer!r}: expected a callable (text[, budget]) -> str"
            )
        if self.hint is not None and not isinstance(self.hint, str):
            problems.append(f"trim_hint={self.hint!r}: expected a string")
        if problems:
            raise ConfigurationError(problems)


def as_budget(options: ToolOptions) -> Budget | None:
    """Read ``max_output_chars=``, ``max_output_tokens=``, ``summarizer=`` and ``trim_hint=``
    (resolved options); None when no limit is set (a summarizer alone does nothing)."""
    hint = options.trim_hint
    if hint is None and options.extra:  # the option's former place, still read
        old = options.extra.get("trim_hint")
        hint = old if isinstance(old, str) else None
    budget = Budget(options.max_output_chars, options.max_output_tokens, options.summarizer, hint)
    if budget.max_chars is None and budget.max_tokens is None:
        return None
    return budget


class BudgetPolicy:
    name = "budget"
    level: Literal["call"] = "call"

    def __init__(self, options: Budget) -> None:
        self.options = options

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        budget, fit = self.fitter(tool=tool, env=env)

        async def budgeted(ctx: CallContext) -> Result:
            result = await inner(ctx)
            if result.error is not None:
                return result
            text = serialize(result, tool.name, ctx.call_id)
            if text is None:  # no text form: result is now the error
                return result
            if budget.fits(text):
                return TextResult(result.value, text, None, False)
            return await fit(ctx, result, text)

        return budgeted

    def fitter(
        self, *, tool: Tool, env: PipelineEnv
    ) -> tuple[OutputBudget, Callable[[CallContext, Result, str], Awaitable[Result]]]:
        """The budget and the step after serialization: ``fit(ctx, result, text)`` makes
        the TextResult of a value whose text is ``text``, summarized or trimmed when it
        does not fit (the express lane uses both)."""
        options = self.options
        budget = OutputBudget(options.max_chars, options.max_tokens, env.token_counter)
        name = tool.name

        async def fit(ctx: CallContext, result: Result, text: str) -> Result:
            if budget.fits(text):
                return TextResult(result.value, text, None, False)
            summarizer = options.summarizer
            if summarizer is not None:
                summary = await _summarize(summarizer, text, budget, name)
                if summary is not None:
                    if not budget.fits(summary):
                        summary = trim_to(summary, budget, options.hint).text
                    return TextResult(result.value, summary, text, True)
            if len(text) > _OFFLOAD_CHARS:
                fitted = await asyncio.to_thread(trim_to, text, budget, options.hint)
            else:
                fitted = trim_to(text, budget, options.hint)
            return TextResult(result.value, fitted.text, text, fitted.trimmed)

        return budget, fit


async def _summarize(
    fn: Callable[..., Any], text: str, budget: OutputBudget, tool_name: str
) -> str | None:
    args: tuple[Any, ...] = (text, budget) if _takes_two(fn) else (text,)
    try:
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        ):
            result = await fn(*args)
        else:
            result = await asyncio.to_thread(fn, *args)  # it may call a model: off the loop
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:
        logger.warning(
            "toolsafe: summarizer of tool %s failed (%s: %s); trimming instead",
            tool_name,
            type(exc).__name__,
            exc,
        )
        return None
    return result if isinstance(result, str) else str(result)


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.default is inspect.Parameter.empty
    ]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)
