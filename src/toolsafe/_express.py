"""The express lane: a tool's common call through its whole chain in one step.

Compiled once per tool at registration (``compile_express``) when every step of
the chain has an immediate form: the in-memory store (one ``admit_all_now`` takes
the breaker's verdict, the rate token and the concurrency slots under one lock),
the thread backend, a plain function as the body, and steps among validation,
budget, breaker, rate limit, retry, concurrency and timeout. The runtime takes
the lane when nobody watches the call step by step: no listeners, no tracing
span, no idempotency key, the runtime open. A sync body runs on a pool worker:
``acall``'s lane awaits it on the loop, ``call``'s (``Entry.sync_express``)
waits for it in the caller's thread, with no event loop at all.

A call that stays on the common path (valid arguments, breaker closed, a token
and a slot free, the body returns) pays for one frame and its body's: no
CallContext, no Result, no per-step coroutine. Arguments the fast validator
refuses are refused here too, from its error (``Tool.validate_after_fast``: not
validated again) and with the chain's very error (``end_refused``: the
validation step's ToolError and ``_end``'s built as one). Whenever a step would
answer otherwise, the lane has taken nothing yet and hands the call to the chain
(``fallback``), which does it step by step. A body that fails goes on through
the chain's own later steps (retry, breaker record, output budget) with a
CallContext made then. Semantics are the chain's; ``tests/test_express.py``
runs the same calls both ways.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from toolsafe._call import CallContext, Outcome, ToolCall
from toolsafe._pipeline import LINGERING, Handler, PipelineEnv, Policy, Result, serialize
from toolsafe._serialize import serialize_result
from toolsafe.backends._drain import deadline_in, drain_returned, draining, is_lazy
from toolsafe.backends.thread import ThreadBackend, resume_with_timeout, share_of
from toolsafe.errors import InvalidArguments
from toolsafe.policies._joint import JointPolicy
from toolsafe.policies.budget import BudgetPolicy
from toolsafe.policies.circuit_breaker import BreakerPolicy, breaker_outcome
from toolsafe.policies.concurrency import LEASE_GRACE, ConcurrencyPolicy
from toolsafe.policies.rate_limit import RateLimitPolicy
from toolsafe.policies.retry import RetryPolicy
from toolsafe.policies.timeout import TimeoutPolicy, attempt_limit
from toolsafe.policies.validation import ValidationPolicy
from toolsafe.stores._base import RECORD_CLOSED
from toolsafe.stores.memory import MemoryStore

if TYPE_CHECKING:
    from toolsafe._tool import Tool, ToolOptions

__all__ = ["Express", "Lanes", "compile_express"]

#: ``express(name, arguments, call_id)``: the call's Outcome, or an awaitable of it.
Express = Callable[[str, Any, str], "Outcome | Awaitable[Outcome]"]
#: The runtime's end of a call: ``end(call_id, tool, result, started, attempts, arguments)``.
End = Callable[[str, "Tool", Result, float, int, Any], Outcome]
#: Its end of a first attempt's fitting text: ``end_text(call_id, name, value, text,
#: started, arguments)``.
EndText = Callable[[str, str, Any, str, float, Any], Outcome]
#: Its end of arguments the lane refused (called by the tool's own name):
#: ``end_refused(call_id, tool, exc, started, arguments)``.
EndRefused = Callable[[str, "Tool", InvalidArguments, float, Any], Outcome]
#: The chain's way in for a call the lane hands over: ``fallback(name, arguments, call_id)``.
Fallback = Callable[[str, Any, str], Awaitable[Outcome]]
#: Turns what a body raised into a Result (or re-raises the caller's cancellation).
Failed = Callable[[BaseException, str, str], Result]
#: A sync tool's call let in: its validated arguments and the slots it holds.
Admitted = tuple[dict[str, Any], "list[tuple[str, str]] | None"]
#: A tool's lanes: ``acall``'s, and for a sync tool ``call``'s (None for an async tool).
Lanes = tuple[Express, "Express | None"]

_STEPS = (ValidationPolicy, BudgetPolicy, BreakerPolicy, RateLimitPolicy, RetryPolicy)


def compile_express(
    tool: Tool,
    call_policies: list[Policy],
    attempt_policies: list[Policy],
    *,
    attempts: Handler,
    env: PipelineEnv,
    backend: Any,
    deadline: float | None,
    failed: Failed,
    end: End,
    end_text: EndText,
    end_refused: EndRefused,
    fallback: Fallback,
    key: str = "",
    drain: ToolOptions | None = None,
) -> Lanes | None:
    """The tool's express lanes, or None when some step has no immediate form.

    ``attempts``: the chain's attempt-level handler (what retries go through).
    ``key``: the tool's upstream key (its share of the sync workers is counted on it).
    ``drain``: the options whose output budget bounds a returned iterator (the
    resolved ones; the tool's own when None).
    A sync tool has two: ``acall``'s awaits its worker on the loop, ``call``'s waits
    for it in the caller's thread (no loop at all).
    """
    store = env.store
    if (
        type(store) is not MemoryStore
        or type(backend) is not ThreadBackend
        or tool.fn is None
        or not tool._plain_kwargs
        or (deadline is not None and deadline <= 0)
    ):
        return None
    validation = budget = breaker = rate = retry = None
    for policy in call_policies:
        if isinstance(policy, JointPolicy):
            continue  # not in the chain on a store that does not join (the memory store)
        if not isinstance(policy, _STEPS):
            return None
        if isinstance(policy, ValidationPolicy):
            opts = policy.options
            if opts.strict != tool.options.strict or opts.repair != tool.options.repair:
                return None  # not the tool's own settings: not its fast validator
            validation = policy
        elif isinstance(policy, BudgetPolicy):
            budget = policy
        elif isinstance(policy, BreakerPolicy):
            breaker = policy
        elif isinstance(policy, RateLimitPolicy):
            rate = policy
        else:
            retry = policy
    if validation is None:
        return None
    slots: tuple[tuple[str, int], ...] = ()
    lease_s = 0.0
    seconds: float | None = None
    for policy in attempt_policies:
        if isinstance(policy, ConcurrencyPolicy):
            if policy.timeout is None or policy.timeout == float("inf"):
                return None  # leases renewed while the attempt runs: the chain's job
            slots = tuple(policy.limits)
            lease_s = attempt_limit(policy.timeout, deadline) + LEASE_GRACE  # type: ignore[operator]
        elif isinstance(policy, TimeoutPolicy):
            seconds = policy.options.attempt
        else:
            return None
    timeout = attempt_limit(seconds, deadline)
    return _lane(
        tool,
        env=env,
        backend=backend,
        key=key or tool.name,
        store=store,
        timeout=timeout,
        slots=slots,
        lease_s=lease_s,
        budget=budget,
        breaker=breaker,
        rate=rate,
        again=None if retry is None else retry.again(attempts, tool=tool, env=env),
        deadline=deadline,
        failed=failed,
        end=end,
        end_text=end_text,
        end_refused=end_refused,
        fallback=fallback,
        drain=drain or tool.options,
    )


def _lane(
    tool: Tool,
    *,
    env: PipelineEnv,
    backend: ThreadBackend,
    key: str,
    store: MemoryStore,
    timeout: float | None,
    slots: tuple[tuple[str, int], ...],
    lease_s: float,
    budget: BudgetPolicy | None,
    breaker: BreakerPolicy | None,
    rate: RateLimitPolicy | None,
    again: Callable[[CallContext, Result], Awaitable[Result]] | None,
    deadline: float | None,
    failed: Failed,
    end: End,
    end_text: EndText,
    end_refused: EndRefused,
    fallback: Fallback,
    drain: ToolOptions,
) -> Lanes:
    fn = tool.fn
    assert fn is not None
    name = tool.name
    options = drain  # (only a returned iterator's bound reads them)
    now = env.clock.now
    fast_or_error = tool.fast_or_error
    validate_after_fast = tool.validate_after_fast
    admit = store.admit_all_now
    release = store.release_all_now
    circuit = None if breaker is None else breaker.key
    bucket = (
        None if rate is None else (rate.key, float(rate.options.per_second), rate.options.capacity)
    )
    gated = circuit is not None or bucket is not None or bool(slots)
    if breaker is not None:
        breaker_key, breaker_options = breaker.key, breaker.options
        record_now = store.record_now
        record = breaker.recorder(tool=tool, env=env)[1]
    if budget is not None:
        fits, fit = budget.fitter(tool=tool, env=env)
        fits_now = fits.fits

    def context(
        name_used: str, arguments: Any, call_id: str, args: dict[str, Any], started: float
    ) -> CallContext:
        ctx = CallContext(
            ToolCall(call_id, name_used, arguments),
            tool,
            args,
            started,
            None if deadline is None else started + deadline,
        )
        ctx.attempt = 1
        ctx.attempt_timeout = timeout
        return ctx

    async def after_failure(
        name_used: str,
        arguments: Any,
        call_id: str,
        args: dict[str, Any],
        started: float,
        result: Result,
    ) -> Outcome:
        """The first attempt failed: the chain's later steps take the result from here."""
        ctx = context(name_used, arguments, call_id, args, started)
        if again is not None:
            result = await again(ctx, result)
        if breaker is not None:
            rec = record_now(breaker_key, breaker_options, breaker_outcome(result), False)
            if rec is not RECORD_CLOSED:
                result = await record(ctx, result, False, rec)
        if budget is not None and result.error is None:
            text = serialize(result, name, call_id)
            if text is not None:
                result = await fit(ctx, result, text)
        return end(call_id, tool, result, started, ctx.attempt, arguments)

    def succeeded(
        name_used: str,
        arguments: Any,
        call_id: str,
        args: dict[str, Any],
        started: float,
        value: Any,
    ) -> Outcome | Awaitable[Outcome]:
        if breaker is not None:
            rec = record_now(breaker_key, breaker_options, "success", False)
            if rec is not RECORD_CLOSED:  # a state change to announce
                ctx = context(name_used, arguments, call_id, args, started)
                return _then_end(
                    record(ctx, Result(value), False, rec), end, call_id, tool, started, arguments
                )
        try:
            text = serialize_result(value)
        except Exception:
            result = Result(value)
            serialize(result, name, call_id)  # the ResultNotSerializable error
            return end(call_id, tool, result, started, 1, arguments)
        if budget is None or fits_now(text):
            return end_text(call_id, name, value, text, started, arguments)
        ctx = context(name_used, arguments, call_id, args, started)
        return _then_end(fit(ctx, Result(value), text), end, call_id, tool, started, arguments)

    async def rest(
        coro: Any,
        first: Any,
        leases: list[tuple[str, str]] | None,
        name_used: str,
        arguments: Any,
        call_id: str,
        args: dict[str, Any],
        started: float,
    ) -> Outcome:
        """The body suspended: await the rest of it within its timeout."""
        body = resume_with_timeout(coro, first, timeout, name, options)
        return await awaited(body, None, leases, name_used, arguments, call_id, args, started)

    async def awaited(
        body: Awaitable[Any],
        state: dict[str, Any] | None,
        leases: list[tuple[str, str]] | None,
        name_used: str,
        arguments: Any,
        call_id: str,
        args: dict[str, Any],
        started: float,
    ) -> Outcome:
        """Both async lanes' end once the body is awaited: the slots given back (a sync
        body's ``state`` says whether it runs on past its timeout), then the chain's
        later steps on a failure, or the Outcome."""
        try:
            value = await body
        except BaseException as exc:
            if leases:
                if state is None:
                    release(leases)
                else:
                    let_go(leases, state)
            result = failed(exc, name, call_id)
            return await after_failure(name_used, arguments, call_id, args, started, result)
        if leases:
            release(leases)
        out = succeeded(name_used, arguments, call_id, args, started, value)
        if type(out) is Outcome:
            return out
        return await cast("Awaitable[Outcome]", out)

    def refuse(
        name_used: str,
        arguments: Any,
        call_id: str,
        started: float,
        refused: tuple[ValidationError, dict[str, Any]],
    ) -> Outcome | Awaitable[Outcome]:
        """The fast validator refused the arguments: the validation step's answer, from
        its error (not validated again), when the slower checks refuse them too."""
        try:
            validate_after_fast(refused[1], refused[0])
        except InvalidArguments as exc:
            if name_used == name:  # (the runtime takes the lane by the tool's own name)
                return end_refused(call_id, tool, exc, started, arguments)
        # Valid after all (JSON-mode strictness, an integral float, a repair): the chain
        # takes the call from its start, and logs or announces what it repaired.
        return fallback(name_used, arguments, call_id)

    def express(name_used: str, arguments: Any, call_id: str) -> Outcome | Awaitable[Outcome]:
        started = now()
        args = fast_or_error(arguments)
        if not isinstance(args, dict):
            if args is None:  # not the fast validator's kind: the chain's parser
                return fallback(name_used, arguments, call_id)
            return refuse(name_used, arguments, call_id, started, args)
        leases = None
        if gated:
            leases = admit(circuit, bucket, slots, lease_s)
            if leases is None:  # a breaker not closed, no token or no slot now
                return fallback(name_used, arguments, call_id)
        try:
            coro = fn(**args)
            first = coro.send(None)
        except StopIteration as stop:
            value = stop.value
            if is_lazy(value):  # an iterator returned: consumed within its bounds
                try:
                    value = drain_returned(value, options, deadline_in(timeout))
                except BaseException as exc:
                    if leases:
                        release(leases)
                    result = failed(exc, name, call_id)
                    return after_failure(name_used, arguments, call_id, args, started, result)
            if leases:
                release(leases)
            return succeeded(name_used, arguments, call_id, args, started, value)
        except BaseException as exc:
            if leases:
                release(leases)
            result = failed(exc, name, call_id)
            return after_failure(name_used, arguments, call_id, args, started, result)
        return rest(coro, first, leases, name_used, arguments, call_id, args, started)

    if tool.is_async:
        return express, None
    where: dict[str, Any] = {
        "timeout": timeout,
        "key": key,
        "tool_name": name,
        "share": share_of(tool),
    }
    call_blocking: Callable[..., Any] = functools.partial(backend.call_blocking, **where)
    run_sync: Callable[..., Awaitable[Any]] = functools.partial(backend.run_sync, **where)

    def job(args: dict[str, Any]) -> Callable[[], Any]:
        """The body with its arguments, a returned iterator consumed on the worker."""
        return draining(functools.partial(fn, **args), options, timeout)

    def enter(
        name_used: str, arguments: Any, call_id: str, started: float
    ) -> Admitted | Outcome | Awaitable[Outcome]:
        """A sync tool's call admitted now: its validated arguments and the slots it
        holds; else the call's answer (refused arguments) or the chain's (nothing taken)."""
        args = fast_or_error(arguments)
        if not isinstance(args, dict):
            if args is None:  # not the fast validator's kind: the chain's parser
                return fallback(name_used, arguments, call_id)
            return refuse(name_used, arguments, call_id, started, args)
        if not gated:
            return args, None
        leases = admit(circuit, bucket, slots, lease_s)
        if leases is None:  # a breaker not closed, no token or no slot now
            return fallback(name_used, arguments, call_id)
        return args, leases

    def let_go(leases: list[tuple[str, str]], state: dict[str, Any]) -> None:
        """Give the slots back; if the body runs on (a timeout), once it returns."""
        linger = state.pop(LINGERING, None)
        if linger is not None:
            linger(functools.partial(release, leases))
        else:
            release(leases)

    def express_sync(name_used: str, arguments: Any, call_id: str) -> Outcome | Awaitable[Outcome]:
        """``call``'s lane: the body on a worker thread, waited for in the caller's
        thread (``ThreadBackend.call_blocking``: no event loop, no coroutine)."""
        started = now()
        entered = enter(name_used, arguments, call_id, started)
        if type(entered) is not tuple:
            return cast("Outcome | Awaitable[Outcome]", entered)
        args, leases = cast("Admitted", entered)
        state: dict[str, Any] = {}
        try:
            value = call_blocking(job(args), state=state)
        except BaseException as exc:
            if leases:
                let_go(leases, state)
            result = failed(exc, name, call_id)
            return after_failure(name_used, arguments, call_id, args, started, result)
        if leases:
            release(leases)
        return succeeded(name_used, arguments, call_id, args, started, value)

    async def pooled(
        args: dict[str, Any],
        leases: list[tuple[str, str]] | None,
        name_used: str,
        arguments: Any,
        call_id: str,
        started: float,
    ) -> Outcome:
        state: dict[str, Any] = {}
        body = run_sync(job(args), state=state)
        return await awaited(body, state, leases, name_used, arguments, call_id, args, started)

    def express_pooled(
        name_used: str, arguments: Any, call_id: str
    ) -> Outcome | Awaitable[Outcome]:
        """``acall``'s lane for a sync tool: the body on a worker, awaited on the loop."""
        started = now()
        entered = enter(name_used, arguments, call_id, started)
        if type(entered) is not tuple:
            return cast("Outcome | Awaitable[Outcome]", entered)
        args, leases = cast("Admitted", entered)
        return pooled(args, leases, name_used, arguments, call_id, started)

    return express_pooled, express_sync


async def _then_end(
    step: Awaitable[Result], end: End, call_id: str, tool: Tool, started: float, arguments: Any
) -> Outcome:
    return end(call_id, tool, await step, started, 1, arguments)
