"""A seeded secret in arguments, output, an exception message and a traceback never
appears in logs, recordings, spans or the model-facing error."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import toolsafe
from toolsafe import JsonlRecorder, OTel, Runtime

ARG_SECRET = "sk-live-ARGSECRET0123456789abcdef"
OUTPUT_SECRET = "tok_OUTPUTSECRET_5f4e3d2c1b"
MESSAGE_SECRET = "MSGSECRET9z8y7x6w"
TRACEBACK_SECRET = "hunter2-TBSECRET-0000"
SECRETS = (ARG_SECRET, OUTPUT_SECRET, MESSAGE_SECRET, TRACEBACK_SECRET)


def _connect() -> None:
    # The literal is on the raising line, so it shows in the traceback's source too.
    raise RuntimeError("db login refused: password=hunter2-TBSECRET-0000 for user app")


@toolsafe.tool
def leaky(query: str, api_key: str) -> dict[str, Any]:
    """Calls an upstream with a key; fails on 'fail'."""
    if query == "fail":
        try:
            _connect()
        except RuntimeError as exc:
            raise ConnectionError(
                f"GET https://api.example.com/v1/search?q={query}&api_key={MESSAGE_SECRET} "
                f"failed (Authorization: Bearer {OUTPUT_SECRET})"
            ) from exc
    return {"items": [query], "session": {"token": OUTPUT_SECRET}, "echo": api_key}


def _dump_spans(otel: Any) -> str:
    return "\n".join(span.to_json() for span in otel.spans())


@pytest.mark.parametrize("include_traceback", [False, True])
def test_seeded_secrets_never_leave_the_process(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    otel: Any,
    include_traceback: bool,
) -> None:
    path = tmp_path / "calls.jsonl"
    recorder = JsonlRecorder(path, attempts=True)
    caplog.set_level(logging.DEBUG, logger="toolsafe")
    with Runtime(
        [leaky],
        listeners=[recorder],
        include_traceback=include_traceback,
        otel=OTel(otel.provider, otel.meter_provider, capture_content=True),
    ) as rt:
        ok = rt.call("leaky", {"query": "cats", "api_key": ARG_SECRET})
        failed = rt.call("leaky", json.dumps({"query": "fail", "api_key": ARG_SECRET}))
    recorder.close()

    assert ok.ok and failed.error is not None and failed.error.type == "ConnectionError"
    model_error = failed.text
    recording = path.read_text()
    spans = _dump_spans(otel)
    records = [repr(r.__dict__) for r in caplog.records] + [caplog.text]
    for secret in SECRETS:
        assert secret not in model_error
        assert secret not in recording
        assert secret not in spans
        assert all(secret not in r for r in records), secret

    # ... while the rest of what happened is all there.
    assert "https://api.example.com/v1/search?q=fail&api_key=[REDACTED]" in model_error
    assert "Authorization: Bearer [REDACTED]" in model_error
    assert (failed.error.traceback is not None) == include_traceback
    if include_traceback:
        assert "password=[REDACTED]" in model_error and "_connect()" in model_error
    assert "db login refused: password=[REDACTED]" in caplog.text  # the cause, in the log
    assert '"query":"cats"' in recording and "api.example.com" in recording
    assert "gen_ai.tool.call.arguments" in spans and "cats" in spans
    assert "exception.stacktrace" in spans and "_connect" in spans
    lines = [json.loads(line) for line in recording.splitlines()]
    assert [line["kind"] for line in lines] == ["attempt", "call", "attempt", "call"]
    # The program still holds the real value and the original exception.
    assert ok.value["echo"] == ARG_SECRET
    assert failed.error.exception is not None and MESSAGE_SECRET in str(failed.error.exception)


async def test_validation_errors_echoing_secrets_are_redacted() -> None:
    @toolsafe.tool
    def login(user: str, retries: int) -> str:
        return user

    async with Runtime([login]) as rt:
        outcome = await rt.acall("login", {"user": "bob", "retries": "password=hunter2"})
    assert outcome.error is not None and outcome.error.type == "InvalidArguments"
    assert "hunter2" not in outcome.text
