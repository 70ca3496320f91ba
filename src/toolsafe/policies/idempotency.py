"""Exactly once: calls with the same idempotency key run the tool's body at most once.

Agents repeat themselves (a ReAct loop re-runs a raising tool, a crashed step is
retried, a model re-sends a call, two crews ask for the same refund). A call with a
key records its intent in the store before the body runs and its end after; a
second call with the same key (from this process or, on a shared store, any
other) then gets:

====================================  ==================================================
the first succeeded                   its recorded result; the body does not run
                                      (``Outcome.replayed``)
the first is still running            it waits for it, within its own deadline
                                      (``DuplicateInFlight``, retryable, if it cannot)
the first certainly did not run its   it runs (a rejection: open breaker, rate limit,
body                                  no slot, a timeout before it started)
the first ran and failed              the same error, replayed (a declined charge stays
                                      declined; the body does not run again)
nobody knows                          ``OutcomeUnknown``, not retryable: timed out after
                                      it started, its worker crashed, it raised a
                                      transient error mid-way, or its holder died (the
                                      lease ran out). A tool's ``reconcile(arguments,
                                      ctx)`` may ask the upstream instead: its result is
                                      recorded and replayed; ``None`` ("it did not
                                      happen") lets the call run
====================================  ==================================================

Where the key comes from: the caller (``runtime.acall(..., key=)``,
``ToolCall(key=)``), else the tool's ``idempotency_key`` option: a function of the
validated arguments, or ``"call_id"`` (the framework's id of the call, when the
call came with one). The key reaches the body as ``ctx.idempotency_key``; a tool
declared ``idempotent="keyed"`` forwards it to an upstream that deduplicates, so
its records only say what happened (the upstream guarantees the rest): an unknown
or failed end frees the key, and the retry policy may retry after the body started.

Records live ``idempotency_ttl`` seconds (one day by default) in the runtime's store:
the memory store for one process, a ``RedisStore`` for a fleet. The store failing
fails the call closed (``StoreUnavailable``) before the body runs; a holder that
cannot record its end leaves the record pending until its lease runs out, and the
key goes unknown: never a second run.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import to_jsonable_python

from toolsafe._pipeline import GIVEN_ID, REPLAYED, Handler, PipelineEnv, Result
from toolsafe.errors import ConfigurationError, ToolError
from toolsafe.observe import events as ev
from toolsafe.policies._joint import JOINED, Joined, Joint, joins
from toolsafe.policies.rejections import is_rejection

if TYPE_CHECKING:
    from toolsafe._call import CallContext
    from toolsafe._tool import Tool, ToolOptions
    from toolsafe.stores._once import FinalStatus

__all__ = [
    "DUPLICATE_IN_FLIGHT",
    "OUTCOME_UNKNOWN",
    "Idempotency",
    "IdempotencyPolicy",
    "IdempotentReplay",
    "as_idempotency",
]

OUTCOME_UNKNOWN = "OutcomeUnknown"
DUPLICATE_IN_FLIGHT = "DuplicateInFlight"
DEFAULT_TTL_S = 86_400.0
#: A shared store's pending claim lasts this long unless renewed (every third of it).
SHARED_LEASE_S = 10.0
#: Errors that say the body started and then stopped answering: the effect is unknown.
_LOST_TYPES = frozenset({"TimeoutError", "WorkerCrashed", "CancelledError"})

_owners = itertools.count(1)
_OWNER_PREFIX = f"{os.getpid():x}-{id(object()):x}-"


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A tool's exactly-once settings (read from its options by ``as_idempotency``)."""

    #: A function of the validated arguments giving the key, ``"call_id"``, or None
    #: (only a key the caller passes counts).
    key: Callable[[dict[str, Any]], Any] | Literal["call_id"] | None = None
    ttl: float = DEFAULT_TTL_S
    #: The upstream deduplicates by the key (``idempotent="keyed"``).
    keyed: bool = False
    reconcile: Callable[..., Any] | None = None
    #: How long a duplicate waits for the call in flight when it has no deadline of its
    #: own (the tool's deadline, else its attempt timeout).
    wait_s: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        if self.key is not None and self.key != "call_id" and not callable(self.key):
            problems.append(
                f"idempotency_key={self.key!r}: expected a function of the arguments or 'call_id'"
            )
        if isinstance(self.ttl, bool) or not isinstance(self.ttl, (int, float)) or self.ttl <= 0:
            problems.append(f"idempotency_ttl={self.ttl!r}: expected seconds > 0")
        if self.reconcile is not None and not callable(self.reconcile):
            problems.append(f"reconcile={self.reconcile!r}: expected a callable (arguments, ctx)")
        if problems:
            raise ConfigurationError(problems)


def as_idempotency(
    options: ToolOptions, tool: Tool | None = None, *, wait_s: float = 30.0
) -> Idempotency:
    """Read ``idempotency_key``, ``idempotency_ttl``, ``idempotent="keyed"`` and
    ``reconcile`` (the option, else a class-based tool's ``reconcile`` method)."""
    idempotent = options.idempotent
    problems = []
    if idempotent not in (None, True, False, "keyed"):
        problems.append(f"idempotent={idempotent!r}: expected True, False or 'keyed'")
    reconcile = options.reconcile
    instance = getattr(tool, "instance", None)
    if reconcile is None and instance is not None:
        method = getattr(instance, "reconcile", None)
        reconcile = method if callable(method) else None
    ttl = DEFAULT_TTL_S if options.idempotency_ttl is None else options.idempotency_ttl
    try:
        made = Idempotency(options.idempotency_key, ttl, idempotent == "keyed", reconcile, wait_s)
    except ConfigurationError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigurationError(problems)
    return made


@dataclass(frozen=True, slots=True)
class IdempotentReplay(ev.Event):
    """A keyed call was answered from the record of an earlier call with its key."""

    key: str = ""
    #: ``done`` (a result), ``failed`` (its error), ``unknown`` (OutcomeUnknown) or
    #: ``reconciled`` (the tool's reconcile said it happened).
    status: str = ""


@dataclass(frozen=True, slots=True)
class IdempotentWait(ev.Event):
    """A keyed call waits for the call that holds its key (``waited_ms`` when done)."""

    key: str = ""
    waited_ms: float = 0.0


class IdempotencyPolicy:
    name = "idempotency"
    level: Literal["call"] = "call"

    def __init__(self, options: Idempotency, joint: Joint | None = None) -> None:
        self.options = options
        #: The tool's joint, when this step comes right before it: the claim goes with
        #: the call's joined admission and the record with its settle (``_joint``).
        self.joint = joint

    def wrap(self, inner: Handler, *, tool: Tool, env: PipelineEnv) -> Handler:
        opts = self.options
        store = env.store
        clock = env.clock
        listeners = env.listeners
        name = tool.name
        ttl = float(opts.ttl)
        key_of = opts.key
        keyed = opts.keyed
        reconcile = opts.reconcile
        shared = store.shared
        begin_now = store.once_begin_now
        finish_now = store.once_finish_now
        fallback_wait = float(opts.wait_s)
        joint = self.joint if self.joint is not None and joins(store) else None

        def resolve(ctx: CallContext) -> str | None:
            """The key the tool's own source gives (the caller passed none)."""
            if key_of == "call_id":
                return ctx.call.id if ctx.state.get(GIVEN_ID) else None
            assert key_of is not None
            made = key_of(ctx.arguments)
            return None if made is None else str(made)

        async def finish(record: str, owner: str, status: FinalStatus, payload: Any) -> None:
            if not finish_now(record, owner, status, payload, ttl):
                await store.once_finish(record, owner, status, payload, ttl)

        async def once(ctx: CallContext) -> Result:
            key = ctx.call.key
            if key is None and key_of is not None:
                try:
                    key = resolve(ctx)
                except Exception as exc:  # the tool's key function failed on these arguments
                    return Result(error=_key_failed(exc, name, ctx.call_id))
            if key is None:
                return await inner(ctx)
            ctx.idempotency_key = key
            record = f"{name}:{key}"
            owner = f"{_OWNER_PREFIX}{next(_owners)}"
            # One process's store: the claim lasts as long as the call may; a shared
            # store: a short lease, renewed while the body runs, so a dead holder's
            # claim runs out soon (and the key then reads "unknown", never "free").
            lease = SHARED_LEASE_S if shared else ttl
            waited_since: float | None = None
            delay = 0.005
            joined: Joined | None = None
            while True:
                try:
                    if joint is not None:
                        joined, admitted = await joint.open(
                            store, ctx, clock.now(), (record, owner, lease, ttl)
                        )
                        answer = admitted.once
                    else:
                        answer = begin_now(record, owner, lease, ttl)  # no await when it can
                    if answer is None:
                        answer = await store.once_begin(record, owner, lease, ttl)
                except Exception as exc:
                    return Result(error=_store_failed(exc, name, ctx.call_id))
                status = answer.status
                if status == "run":
                    break
                if joined is not None:  # nothing else was taken: the joint closes empty
                    ctx.state.pop(JOINED, None)
                    joined = None
                if status == "in_flight":
                    now = clock.now()
                    if waited_since is None:
                        waited_since = now
                    remaining = ctx.remaining(now)
                    if remaining is None:
                        remaining = fallback_wait - (now - waited_since)
                    if remaining <= 0:
                        return Result(error=_in_flight(name, ctx.call_id, key))
                    await asyncio.sleep(min(delay, remaining))
                    delay = min(delay * 2, 0.2)
                    continue
                if waited_since is not None and listeners:
                    now = clock.now()
                    ev.emit(
                        listeners,
                        IdempotentWait(ctx.call_id, name, now, key, (now - waited_since) * 1000.0),
                    )
                if status == "unknown" and reconcile is not None and not keyed:
                    settled = await _reconcile(reconcile, ctx, name, clock.now())
                    if isinstance(settled, ToolError):
                        return Result(error=settled)
                    if settled is None:  # it did not happen: free the key, claim it again
                        try:
                            await finish(record, owner, "clear", None)
                        except Exception as exc:
                            return Result(error=_store_failed(exc, name, ctx.call_id))
                        continue
                    value = _jsonable(settled)
                    try:
                        await finish(record, owner, "done", value)
                    except Exception as exc:
                        return Result(error=_store_failed(exc, name, ctx.call_id))
                    return _replay(ctx, listeners, clock, name, key, "reconciled", value)
                if status == "unknown" and keyed:
                    # The upstream deduplicates by the key: running again is safe.
                    try:
                        await finish(record, owner, "clear", None)
                    except Exception as exc:
                        return Result(error=_store_failed(exc, name, ctx.call_id))
                    continue
                return _replay(ctx, listeners, clock, name, key, status, answer.payload)

            renewal = None
            if shared:
                renewal = asyncio.ensure_future(_renew(store, record, owner, lease))
            try:
                result = await inner(ctx)
            except BaseException:  # cancelled while the body may run: nobody knows
                if renewal is not None:
                    renewal.cancel()
                if joined is not None:
                    lost: tuple[str, str, FinalStatus, Any, float] = (
                        record,
                        owner,
                        "unknown",
                        _lost(),
                        ttl,
                    )
                    await asyncio.shield(_quietly(joined.close(store, ctx, lost)))
                else:
                    await asyncio.shield(_finish_quietly(finish, record, owner, "unknown", _lost()))
                raise
            if renewal is not None:
                renewal.cancel()
            ended, payload = _end_of(result, keyed)
            try:
                if joined is not None:
                    await joined.close(store, ctx, (record, owner, ended, payload, ttl))
                elif not finish_now(record, owner, ended, payload, ttl):
                    await store.once_finish(record, owner, ended, payload, ttl)
            except Exception:
                # The body ran; its end could not be recorded. The claim runs out and the
                # key reads "unknown": duplicates are refused, never run a second time.
                pass
            return result

        return once


async def _renew(store: Any, record: str, owner: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        try:
            if not await store.once_renew(record, owner, lease):
                return
        except Exception:
            continue  # a store hiccup: try again next time, the lease still runs


async def _quietly(step: Awaitable[None]) -> None:
    try:
        await step
    except Exception:
        pass


async def _finish_quietly(finish: Any, record: str, owner: str, status: Any, payload: Any) -> None:
    try:
        await finish(record, owner, status, payload)
    except Exception:
        pass


def _end_of(result: Result, keyed: bool) -> tuple[FinalStatus, Any]:
    """How a finished call is recorded."""
    error = result.error
    if error is None:
        return "done", _jsonable(result.value)
    if is_rejection(error):
        return "clear", None  # the body certainly did not run
    if keyed:
        return "clear", None  # the upstream deduplicates: another run is safe
    if error.type in _LOST_TYPES or error.retryable:
        # Timed out after it started, crashed, or a transient error mid-way: the effect
        # may or may not have happened.
        return "unknown", _unknown_payload(error)
    return "failed", _error_payload(error)


def _replay(
    ctx: CallContext, listeners: Any, clock: Any, name: str, key: str, status: str, payload: Any
) -> Result:
    ctx.state[REPLAYED] = True
    if listeners:
        ev.emit(listeners, IdempotentReplay(ctx.call_id, name, clock.now(), key, status))
    if status in ("done", "reconciled"):
        return Result(copy.deepcopy(payload))
    data = dict(payload or {})
    if status == "unknown":
        return Result(error=_outcome_unknown(name, ctx.call_id, key, data))
    return Result(error=ToolError.from_dict(data))


_PLAIN = (str, int, bool, type(None))


def _jsonable(value: Any) -> Any:
    """``value`` in its JSON form (what a replay returns, from any process's record)."""
    if type(value) in _PLAIN:
        return value
    try:
        out = to_jsonable_python(value)
    except Exception:
        return str(value)
    return out if _finite(out) else str(value)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _error_payload(error: ToolError) -> dict[str, Any]:
    data = error.to_dict()
    data.pop("traceback", None)
    return data


def _unknown_payload(error: ToolError) -> dict[str, Any]:
    return {"type": error.type, "message": error.message}


def _lost() -> dict[str, Any]:
    return {"type": "CancelledError", "message": "the call was cancelled while its body ran"}


def _outcome_unknown(tool: str, call_id: str, key: str, cause: dict[str, Any]) -> ToolError:
    cause_text = f"{cause.get('type', 'an error')}: {cause.get('message', '')}".rstrip(": ")
    return ToolError(
        type=OUTCOME_UNKNOWN,
        message=(
            f"an earlier call of tool '{tool}' with idempotency key '{key}' ended without a "
            f"known outcome ({cause_text}); it may or may not have taken effect, so this "
            "call does not run it again"
        ),
        retryable=False,
        tool=tool,
        call_id=call_id,
        details={"idempotency_key": key, "cause": cause},
        hint=(
            "Check with the upstream whether the earlier call took effect before trying "
            "again with a new key; give the tool reconcile= to let toolsafe ask."
        ),
    )


def _in_flight(tool: str, call_id: str, key: str) -> ToolError:
    return ToolError(
        type=DUPLICATE_IN_FLIGHT,
        message=(
            f"another call of tool '{tool}' with idempotency key '{key}' is still running; "
            "this call waited for it until its own deadline"
        ),
        retryable=True,
        tool=tool,
        call_id=call_id,
        details={"idempotency_key": key},
        hint="Try again later with the same key: it returns the first call's result.",
    )


def _key_failed(exc: Exception, tool: str, call_id: str) -> ToolError:
    return ToolError.from_exception(exc, tool=tool, call_id=call_id).with_(
        retryable=False,
        message=f"tool '{tool}': its idempotency_key function failed: {exc!s}"[:2000],
    )


def _store_failed(exc: Exception, tool: str, call_id: str) -> ToolError:
    error = ToolError.from_exception(exc, tool=tool, call_id=call_id)
    if error.type in ("ConfigurationError",):
        return error.with_(retryable=False)
    # The body has not run: refusing is safe to retry.
    return error.with_(retryable=True)


async def _reconcile(reconcile: Callable[..., Any], ctx: CallContext, tool: str, now: float) -> Any:
    """The tool's verdict on an unknown outcome: its result, None (it did not happen),
    or a ToolError (reconcile itself failed: the outcome stays unknown)."""
    try:
        if inspect.iscoroutinefunction(reconcile):
            return await reconcile(dict(ctx.arguments), ctx)
        timeout = ctx.remaining(now)
        return await asyncio.wait_for(
            asyncio.to_thread(reconcile, dict(ctx.arguments), ctx), timeout=timeout
        )
    except Exception as exc:
        cause = ToolError.from_exception(exc, tool=tool, call_id=ctx.call_id)
        return _outcome_unknown(
            tool,
            ctx.call_id,
            ctx.idempotency_key or "",
            {"type": "ReconcileFailed", "message": f"{cause.type}: {cause.message}"},
        )
