"""OpenTelemetry: GenAI execute_tool spans, attempt events, content opt-in, metrics export."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import toolsafe
from toolsafe import FakeClock, OTel, Retry, Runtime, ToolFailure
from toolsafe.observe.otel import CAPTURE_ENV, SdkGate, resolve_otel


@toolsafe.tool(description="Look things up.")
def lookup(query: str) -> str:
    return f"found {query}"


@toolsafe.tool
def denied(query: str) -> str:
    raise PermissionError(f"no access to {query}")


def test_one_span_per_call_with_genai_attributes(otel: Any) -> None:
    with Runtime([lookup], otel=OTel(otel.provider)) as rt:
        rt.call("lookup", {"query": "cats"}, call_id="call-1")
    (span,) = otel.spans()
    assert span.name == "execute_tool lookup"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "lookup"
    assert attrs["gen_ai.tool.call.id"] == "call-1"
    assert attrs["gen_ai.tool.type"] == "function"
    assert attrs["gen_ai.tool.description"] == "Look things up."
    assert attrs["toolsafe.outcome"] == "ok" and attrs["toolsafe.attempts"] == 1
    assert "gen_ai.tool.call.arguments" not in attrs  # content capture is opt-in
    assert "gen_ai.tool.call.result" not in attrs
    (attempt,) = [e for e in span.events if e.name == "toolsafe.attempt"]
    assert attempt.attributes["toolsafe.attempt"] == 1 and attempt.attributes["toolsafe.attempt.ok"]


def test_failure_sets_error_type_status_and_exception_event(otel: Any) -> None:
    with Runtime([denied], otel=OTel(otel.provider)) as rt:
        rt.call("denied", {"query": "vault"})
    (span,) = otel.spans()
    assert span.attributes["error.type"] == "PermissionError"
    assert span.attributes["toolsafe.error.retryable"] is False
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "PermissionError: no access to vault"
    (exc,) = [e for e in span.events if e.name == "exception"]
    assert exc.attributes["exception.type"] == "PermissionError"
    assert exc.attributes["exception.message"] == "no access to vault"
    assert (
        'raise PermissionError(f"no access to {query}")' in exc.attributes["exception.stacktrace"]
    )


def test_each_attempt_is_an_event_on_the_call_span(otel: Any) -> None:
    failures = iter([ToolFailure("busy", retryable=True), ToolFailure("busy", retryable=True)])

    @toolsafe.tool(retry=Retry(attempts=3, initial=0.5, jitter="none"), idempotent=True)
    def flaky(x: int) -> int:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return x

    with Runtime([flaky], clock=FakeClock(), otel=OTel(otel.provider)) as rt:
        assert rt.call("flaky", {"x": 1}).ok
    (span,) = otel.spans()
    attempts = [e.attributes for e in span.events if e.name == "toolsafe.attempt"]
    assert [a["toolsafe.attempt"] for a in attempts] == [1, 2, 3]
    assert [a["toolsafe.attempt.ok"] for a in attempts] == [False, False, True]
    assert attempts[0]["error.type"] == "ToolFailure" and attempts[0]["toolsafe.attempt.retryable"]
    assert span.attributes["toolsafe.attempts"] == 3


def test_content_capture_is_opt_in_by_option_or_environment(
    otel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Runtime([lookup], otel=OTel(otel.provider, capture_content=True)) as rt:
        rt.call("lookup", {"query": "cats"})
    monkeypatch.setenv(CAPTURE_ENV, "true")
    with Runtime([lookup], otel=OTel(otel.provider)) as rt:
        rt.call("lookup", {"query": "dogs"})
    first, second = otel.spans()
    assert first.attributes["gen_ai.tool.call.arguments"] == '{"query": "cats"}'
    assert first.attributes["gen_ai.tool.call.result"] == "found cats"
    assert second.attributes["gen_ai.tool.call.result"] == "found dogs"


def test_spans_opened_by_a_sync_tool_nest_under_the_call_and_nothing_leaks(
    otel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    inner = otel.provider.get_tracer("user-code")
    calls = 0

    # The first attempt fails and the retry's backoff suspends the call: a sync caller's
    # call then finishes on the event loop, in another context than it started in.
    @toolsafe.tool(retry=Retry(attempts=2, initial=0.001, jitter="none"), idempotent=True)
    def fetch(url: str) -> str:
        nonlocal calls
        calls += 1
        with inner.start_as_current_span("http GET"):
            if calls % 2:
                raise ToolFailure("busy", retryable=True)
            return url

    caplog.set_level(logging.ERROR)
    with Runtime([fetch], otel=OTel(otel.provider)) as rt:
        for _ in range(3):
            assert rt.call("fetch", {"url": "https://example.com"}).ok
    assert not trace.get_current_span().get_span_context().is_valid  # no span left current
    spans = otel.spans()
    call_spans = [s for s in spans if s.name == "execute_tool fetch"]
    children = [s for s in spans if s.name == "http GET"]
    assert len(call_spans) == 3 and len(children) == 6  # two attempts per call
    for child in children:
        assert child.parent is not None
        assert child.parent.span_id in {c.context.span_id for c in call_spans}
    assert len({c.context.trace_id for c in call_spans}) == 3  # each call its own trace here
    assert "Failed to detach context" not in caplog.text


async def test_async_calls_nest_under_the_callers_span(otel: Any) -> None:
    @toolsafe.tool
    async def slow(n: int) -> int:
        await asyncio.sleep(0)
        return n

    outer = otel.provider.get_tracer("agent")
    async with Runtime([slow], otel=OTel(otel.provider)) as rt:
        with outer.start_as_current_span("agent step") as step:
            outcomes = await rt.acall_many([("slow", {"n": i}) for i in range(4)])
    assert all(o.ok for o in outcomes)
    calls = [s for s in otel.spans() if s.name == "execute_tool slow"]
    assert len(calls) == 4
    assert {c.parent.span_id for c in calls} == {step.get_span_context().span_id}
    assert {c.attributes["gen_ai.tool.call.id"] for c in calls} == {o.call_id for o in outcomes}


def test_metrics_export_counts_and_durations(otel: Any) -> None:
    with Runtime([lookup, denied], otel=OTel(otel.provider, otel.meter_provider)) as rt:
        for _ in range(3):
            rt.call("lookup", {"query": "x"})
        rt.call("denied", {"query": "y"})
    calls = {
        (p.attributes["gen_ai.tool.name"], p.attributes["toolsafe.outcome"]): p.value
        for p in otel.metric_points("toolsafe.tool.calls")
    }
    assert calls == {("lookup", "ok"): 3, ("denied", "error"): 1}
    durations = {
        p.attributes["gen_ai.tool.name"]: p
        for p in otel.metric_points("gen_ai.execute_tool.duration")
    }
    assert durations["lookup"].count == 3
    assert durations["denied"].attributes["error.type"] == "PermissionError"
    assert durations["lookup"].attributes["gen_ai.operation.name"] == "execute_tool"
    snapshot = rt.metrics.snapshot()["tools"]["lookup"]["latency_ms"]["all"]
    assert durations["lookup"].sum == pytest.approx(snapshot["sum"] / 1000.0, rel=1e-3)


def test_otel_switches() -> None:
    assert resolve_otel(False) is None
    assert isinstance(resolve_otel(None), OTel)  # installed here: on by default
    with pytest.raises(toolsafe.ConfigurationError):
        resolve_otel("yes")
    with Runtime([lookup], otel=False) as rt:
        assert rt.call("lookup", {"query": "x"}).ok
        assert not any(type(listener).__name__ == "Tracing" for listener in rt.listeners)


def test_without_an_sdk_provider_tracing_stays_out_of_the_way() -> None:
    # With only the API's proxy provider (no SDK set globally): no spans, no listener.
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("another test set a global tracer provider")
    with Runtime([lookup]) as rt:
        assert rt.call("lookup", {"query": "x"}).ok
        assert rt.listeners == []


def test_sdk_gate_notices_a_provider_set_later_and_then_stops_checking(otel: Any) -> None:
    current: list[Any] = [trace.ProxyTracerProvider()]
    checks = 0

    def provider() -> Any:
        nonlocal checks
        checks += 1
        return current[0]

    gate = SdkGate(False, provider, trace.ProxyTracerProvider, recheck_s=0.0)
    assert not gate.open() and not gate.open()
    current[0] = otel.provider  # an SDK provider is installed
    assert gate.open()
    before = checks
    assert gate.open() and checks == before  # open for good: no more lookups
    slow = SdkGate(False, provider, trace.ProxyTracerProvider, recheck_s=3600)
    current[0] = trace.ProxyTracerProvider()
    assert not slow.open()
    before = checks
    assert not slow.open() and checks == before  # within the recheck interval: cached
    assert SdkGate(True, provider, trace.ProxyTracerProvider).open()


def test_content_capture_survives_hostile_arguments_and_results(otel: Any) -> None:
    def echo(x: dict[str, Any]) -> dict[str, Any]:
        """Echo."""
        return x

    class ReprRaises:
        def __repr__(self) -> str:
            raise RuntimeError("repr")

    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    hostile = [
        {"x": {"n": 10**5000}},
        {"x": {"s": "a\udcff"}},
        {"x": {"r": ReprRaises()}},
        {"x": deep},
    ]
    with Runtime([echo], otel=OTel(otel.provider, capture_content=True)) as rt:
        outcomes = [rt.call("echo", arguments) for arguments in hostile]
    assert [o.ok for o in outcomes] == [True, False, False, False]
    spans = otel.spans()
    assert len(spans) == 4
    for span in spans:
        captured = span.attributes["gen_ai.tool.call.arguments"]
        assert captured.encode("utf-8") and len(captured) < 5000
        assert span.attributes["gen_ai.tool.call.result"].encode("utf-8")
    assert "<integer of about 5,001 digits>" in spans[0].attributes["gen_ai.tool.call.arguments"]


def test_a_huge_unknown_name_and_call_id_are_cut_on_the_span(otel: Any) -> None:
    # Both come from outside (the model, the framework): 10 MB of name was 10 MB of span.
    with Runtime([lookup], otel=OTel(otel.provider)) as rt:
        outcome = rt.call("x" * 1_000_000, {}, call_id="c" * 1_000_000)
    assert outcome.error is not None and outcome.error.type == "UnknownTool"
    (span,) = otel.spans()
    attrs = dict(span.attributes)
    assert len(span.name) < 400 and len(attrs["gen_ai.tool.name"]) < 400
    assert len(attrs["gen_ai.tool.call.id"]) < 400
