"""A seeded secret, written every way issue 12 found leaking, reaches none of the four
sinks: the model-facing error, the ``toolsafe`` log, the JSONL recording, OTel spans.

Each case turns a random secret into what a tool, an exception or a caller would
write (a URL, a header, a dict, a header list, a validation mistake, JSON escapes,
deep nesting) and names the needles that must not appear. ``check`` runs the case
through a real Runtime with every sink on (the SDK's in-memory span exporter) and
returns, per sink, the needles it found. With ``redact=False`` every sink shows
them, so the property test below can fail.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import toolsafe
from toolsafe import JsonlRecorder, OTel, Runtime

SINKS = ("model", "log", "recording", "spans")
ALNUM = string.ascii_letters + string.digits
NOTHING: dict[str, list[str]] = {sink: [] for sink in SINKS}


@dataclass(frozen=True)
class Case:
    """``make(secret)`` -> (how it is sent, needles). ``how``: ``text`` (a string the
    tool raises, returns and is given), ``value`` (a structure it is given and returns,
    and whose repr it raises) or ``call`` (a (tool, arguments) call that fails validation)."""

    name: str
    how: str
    make: Callable[[str], tuple[Any, list[str]]]


def _deep(secret: str) -> dict[str, Any]:
    value: dict[str, Any] = {"password": secret}
    for _ in range(60):
        value = {"a": value}
    return value


def _aws_secret(secret: str) -> str:
    return (secret * 4)[:38] + "/+"


CASES = [
    Case("empty-user-url", "text", lambda s: (f"redis://:{s}@cache.internal:6379/0", [s])),
    Case(
        "at-in-url-password",
        "text",
        lambda s: (f"GET https://bob:{s[:6]}@{s[6:]}@api.example.com/x failed", [s[:6], s[6:]]),
    ),
    Case(
        "x-amz-signature",
        "text",
        lambda s: (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Signature={s}&X-Amz-Date=20260101T000000Z",
            [s],
        ),
    ),
    Case("cookie-header", "text", lambda s: (f"Cookie: theme=dark; sid={s}; lang=en", [s])),
    Case(
        "set-cookie-header",
        "text",
        lambda s: (f"HTTP/1.1 200 OK\r\nSet-Cookie: id={s}; Path=/; HttpOnly\r\n", [s]),
    ),
    Case("cookie-dict", "value", lambda s: ({"Cookie": f"sid={s}; theme=dark"}, [s])),
    Case("query-key", "text", lambda s: (f"https://maps.example.com/api?key={s}&q=x", [s])),
    Case(
        "aws-key-pair",
        "text",
        lambda s: (f"creds AKIAIOSFODNN7EXAMPLE {_aws_secret(s)} in use", [_aws_secret(s)]),
    ),
    Case("authorization-token", "text", lambda s: (f'Authorization: Token token="{s}"', [s])),
    Case(
        "password-with-semicolons",
        "text",
        lambda s: (f"Server=db;User Id=app;Password={s[:6]};{s[6:]};", [s[:6], s[6:]]),
    ),
    Case("header-tuples", "value", lambda s: ([("Cookie", f"sid={s}"), ("Accept", "*/*")], [s])),
    Case("x-auth-key", "value", lambda s: ({"X-Auth": s, "user": "bob"}, [s])),
    Case("bearer-key", "value", lambda s: ({"bearer": s}, [s])),
    Case("pass-key", "value", lambda s: ({"user": "bob", "pass": s}, [s])),
    Case(
        "unknown-password-key", "call", lambda s: (("login", {"user": "bob", "password": s}), [s])
    ),
    Case("wrong-typed-api-key", "call", lambda s: (("connect", {"api_key": s}), [s])),
    Case(
        "escaped-key-name",
        "text",
        lambda s: ('{"\\u0070assword": "' + s + '", "user": "bob"}', [s]),
    ),
    Case(
        "escaped-token-shape",
        "text",
        lambda s: ('{"note": "\\u0073k-proj-' + s * 2 + '"}', [s * 2]),
    ),
    Case("escaped-header-key", "text", lambda s: ('{"\\u0043ookie": "sid=' + s + '"}', [s])),
    Case("deep-nesting", "value", lambda s: (_deep(s), [s])),
]


@toolsafe.tool(timeout=5)
def fails(text: str = "", data: Any = None) -> str:
    """Fails with ``text`` as its message."""
    raise RuntimeError(text)


@toolsafe.tool(timeout=5)
def echoes(text: str = "", data: Any = None) -> dict[str, Any]:
    """Returns what it was given."""
    return {"text": text, "data": data}


@toolsafe.tool
def login(user: str) -> str:
    """Takes no password."""
    return user


@toolsafe.tool
def connect(api_key: int) -> str:
    """Wants a numeric key."""
    return "ok"


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(getattr(record, "toolsafe", None)))


class Harness:
    """One Runtime with all four sinks, reset between examples."""

    def __init__(self, path: Path, *, redact: bool) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.path = path
        self.recorder = JsonlRecorder(path, attempts=True)
        self.log = _Captured()
        self.logger = logging.getLogger("toolsafe")
        self._level = self.logger.level
        self.logger.addHandler(self.log)
        self.logger.setLevel(logging.DEBUG)
        self.runtime = Runtime(
            [fails, echoes, login, connect],
            listeners=[self.recorder],
            redact=redact,
            include_traceback=True,
            otel=OTel(self.provider, capture_content=True),
        )

    def close(self) -> None:
        self.runtime.close()
        self.recorder.close()
        self.provider.shutdown()
        self.logger.removeHandler(self.log)
        self.logger.setLevel(self._level)

    def check(self, case: Case, secret: str) -> dict[str, list[str]]:
        """Run ``case`` with ``secret``; the needles each sink shows."""
        self.exporter.clear()
        self.log.lines.clear()
        offset = self.path.stat().st_size
        sent, needles = case.make(secret)
        errors: list[str] = []
        if case.how == "call":
            name, arguments = sent
            errors.append(self.runtime.call(name, arguments).text)
            errors.append(self.runtime.call(name, json.dumps(arguments)).text)
        else:
            text = sent if case.how == "text" else f"request failed: headers={sent!r}"
            data = None if case.how == "text" else sent
            failed = self.runtime.call("fails", {"text": text, "data": data})
            assert failed.error is not None
            errors.append(failed.text)
            assert self.runtime.call("echoes", {"text": text, "data": data}).ok
        with self.path.open() as f:
            f.seek(offset)
            recording = f.read()
        seen = {
            "model": "\n".join(errors),
            "log": "\n".join(self.log.lines),
            "recording": recording,
            "spans": "\n".join(span.to_json() for span in self.exporter.get_finished_spans()),
        }
        return {sink: [n for n in needles if n in text] for sink, text in seen.items()}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "calls.jsonl", redact=True)
    yield h
    h.close()


@pytest.fixture
def unredacted(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "raw.jsonl", redact=False)
    yield h
    h.close()


SECRET = "Zq8vR2mK7xW4pL9n"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_reaches_no_sink(harness: Harness, case: Case) -> None:
    assert harness.check(case, SECRET) == NOTHING


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_without_redaction_each_case_reaches_every_sink(unredacted: Harness, case: Case) -> None:
    found = unredacted.check(case, SECRET)
    assert all(found[sink] for sink in SINKS), found  # the check can fail


secrets_ = st.text(alphabet=ALNUM, min_size=12, max_size=32).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), secret=secrets_)
def test_a_seeded_secret_reaches_no_sink(tmp_path_factory: Any, case: Case, secret: str) -> None:
    harness = _shared(tmp_path_factory)
    assert harness.check(case, secret) == NOTHING, case.name


_HARNESS: list[Harness] = []


def _shared(factory: Any) -> Harness:
    if not _HARNESS:
        _HARNESS.append(Harness(factory.mktemp("sinks") / "calls.jsonl", redact=True))
    return _HARNESS[0]


def teardown_module() -> None:
    for h in _HARNESS:
        h.close()
    _HARNESS.clear()
