"""Redaction rules: what is hidden, what is kept, configuration."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolsafe import Redactor, ToolError
from toolsafe.observe.redact import REDACTED, resolve_redactor

R = Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET https://api.x.com/v1?q=cats&api_key=abc123XYZ&page=2 failed",
            "GET https://api.x.com/v1?q=cats&api_key=[REDACTED]&page=2 failed",
        ),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9", "Authorization: Bearer [REDACTED]"),
        ("{'Authorization': 'Basic dXNlcjpwYXNz'}", "{'Authorization': 'Basic [REDACTED]'}"),
        ("sent bearer abc.def-ghi to the proxy", "sent bearer [REDACTED] to the proxy"),
        (
            '{"password": "correct horse battery", "user": "bob"}',
            '{"password": "[REDACTED]", "user": "bob"}',
        ),
        ('{\\"token\\": \\"t 1\\"}', '{\\"token\\": \\"[REDACTED]\\"}'),
        ("postgres://admin:hunter2@db:5432/app", "postgres://admin:[REDACTED]@db:5432/app"),
        ("key id AKIAIOSFODNN7EXAMPLE in use", "key id [REDACTED] in use"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key = [REDACTED]"),
        ("OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234", "OPENAI_API_KEY=[REDACTED]"),
        ("using sk-ant-api03-abcdefghijklmnopqrstu", "using [REDACTED]"),
        ("X-Api-Key: 12345", "X-Api-Key: [REDACTED]"),
        ("PASSWORD=HuNter2; user=x", "PASSWORD=[REDACTED]; user=x"),
        ("token ghp_" + "a" * 36 + " leaked", "token [REDACTED] leaked"),
        ("slack xoxb-1234567890-abcdef", "slack [REDACTED]"),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2Q", "jwt [REDACTED]"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----\nafter",
            "[REDACTED]\nafter",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEow (cut off", "[REDACTED]"),
        # issue 12's leaks
        ("redis://:pw123@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
        ("https://bob:p@ss@host/x", "https://bob:[REDACTED]@host/x"),
        (
            "?X-Amz-Credential=x&X-Amz-Signature=ab12&X-Amz-Date=1",
            "?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Date=1",
        ),
        ("Cookie: a=b; sid=c9", "Cookie: [REDACTED]"),
        ("Set-Cookie: id=a3; Path=/; HttpOnly\r\nVary: *", "Set-Cookie: [REDACTED]\r\nVary: *"),
        ("{'Cookie': 'sid=c9; x=y'}", "{'Cookie': '[REDACTED]'}"),
        ("GET /api?key=abc123&q=1", "GET /api?key=[REDACTED]&q=1"),
        ("AKIAIOSFODNN7EXAMPLE " + "a" * 38 + "/+", "[REDACTED] [REDACTED]"),
        ('Authorization: Token token="abc"', "Authorization: Token [REDACTED]"),
        (
            'Authorization: Digest username="u", response="6629f"',
            "Authorization: Digest [REDACTED]",
        ),
        ("Server=db;Password=a;b;", "Server=db;Password=[REDACTED]"),
        (
            "[('Cookie', 'sid=c9'), ('Accept', '*/*')]",
            "[('Cookie', '[REDACTED]'), ('Accept', '*/*')]",
        ),
        ("X-Auth: abc", "X-Auth: [REDACTED]"),
        ("--pass=abc", "--pass=[REDACTED]"),
        ("secret_key=abc", "secret_key=[REDACTED]"),
        ('{"\\u0070assword": "x"}', '{"password": "[REDACTED]"}'),
        ('{"note": "\\u0073k-proj-abcdefghijklmnop1234"}', '{"note": "[REDACTED]"}'),
        # a token shape adopted from detect-secrets
        ("push with glpat-abcdefghij0123456789", "push with [REDACTED]"),
    ],
)
def test_secrets_are_replaced_and_context_kept(text: str, expected: str) -> None:
    assert R.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=100 and tokens: 5",
        "author: Ada Lovelace",
        "the key to success",
        "see https://example.com/path?q=1&page=2",
        "value = compute(key=key)",
        "bypass=true",
        "the author: Ada; the oauth flow",
        "see \\u00e9t\\u00e9 and http://host:8080/path",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert R.text(text) == text


def test_structured_values_by_key_name() -> None:
    value = {
        "apiKey": "zzz",
        "max_tokens": 5,
        "nested": [{"access_token": "q", "auth": None, "client-secret": 7}],
        "query": "Bearer abcdef",
        "credentials": {"user": "u", "pass": "p"},
        "enabled": True,
    }
    assert R.value(value) == {
        "apiKey": REDACTED,
        "max_tokens": 5,
        "nested": [{"access_token": REDACTED, "auth": None, "client-secret": REDACTED}],
        "query": "Bearer [REDACTED]",
        "credentials": REDACTED,
        "enabled": True,
    }


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_redaction_is_idempotent(text: str) -> None:
    once = R.text(text)
    assert R.text(once) == once


def test_redacting_an_error_covers_message_hint_details_and_traceback() -> None:
    error = ToolError(
        type="HTTPError",
        message="401 for https://x.io/?token=abc123",
        retryable=False,
        hint="check password=hunter2",
        details={"api_key": "k", "url": "https://u:pw@x.io"},
        traceback='File "x.py", line 1\n    auth = "Bearer abcdefgh"',
    )
    clean = R.error(error)
    text = clean.to_text()
    for secret in ("abc123", "hunter2", '"k"', ":pw@", "abcdefgh"):
        assert secret not in text
    assert clean.type == "HTTPError" and clean.message.startswith("401 for https://x.io/")
    assert R.error(clean) is clean  # nothing left to change: the same object


def test_configuration() -> None:
    assert resolve_redactor(False).text("password=x") == "password=x"
    assert resolve_redactor(None).text("password=x") == "password=[REDACTED]"
    custom = resolve_redactor([r"ACME-\d{6}"])
    assert custom.text("id ACME-123456 password=x") == "id [REDACTED] password=[REDACTED]"
    upper = resolve_redactor(lambda s: s.upper())
    assert upper.text("password=x ok") == "PASSWORD=[REDACTED] OK"
    literal = Redactor().extended(literals=["correct-horse"], keys=["pin"])
    assert literal.text("pw is correct-horse!") == "pw is [REDACTED]!"
    assert literal.value({"PIN": 1234}) == {"PIN": REDACTED}
    rule = Redactor([], keys=()).extended(rules=[re.compile(r"(?P<secret>\d{4})-\d{4}")])
    assert rule.text("card 1234-5678") == "card [REDACTED]-5678"
    with pytest.raises(TypeError):
        resolve_redactor(3.5)


def test_capped_redacts_across_the_cut() -> None:
    text = "x" * 95 + " password=hunter2 " + "y" * 100
    out = R.capped(text, 100)
    assert "hunter" not in out and out.endswith("chars]")


def test_key_rules_cover_headers_short_names_pairs_and_depth() -> None:
    value = {
        "X-Auth": "a",
        "bearer": "b",
        "pass": "c",
        "sessionToken": "d",
        "bypass": "e",
        "author": "f",
        "oauth_provider": "g",
        "headers": [["Cookie", "sid=1"], ["Accept", "*/*"]],
        "tuples": [("Set-Cookie", "id=2")],
        "fields": ["password", "email", "user"],  # names, not a (name, value) pair
    }
    assert R.value(value) == {
        "X-Auth": REDACTED,
        "bearer": REDACTED,
        "pass": REDACTED,
        "sessionToken": REDACTED,
        "bypass": "e",
        "author": "f",
        "oauth_provider": "g",
        "headers": [["Cookie", REDACTED], ["Accept", "*/*"]],
        "tuples": [["Set-Cookie", REDACTED]],
        "fields": ["password", "email", "user"],
    }
    deep: object = {"password": "hunter2"}
    for _ in range(80):
        deep = [deep]
    assert "hunter2" not in json.dumps(R.value(deep))
    very_deep: object = {"password": "hunter2"}
    for _ in range(5000):
        very_deep = [very_deep]
    assert "hunter2" not in json.dumps(R.value(very_deep))  # no RecursionError either


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *("db", "x", "api", "key", "pass", "word", "auth", "token", "session", "id"),
                *("secret", "access", "cookie", "set", "pwd", "sig", "bearer", "user", "s", "o"),
            ]
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(["_", "-", ".", ""]),
)
def test_a_key_the_log_redacts_in_text_the_recorder_redacts_by_key(
    words: list[str], sep: str
) -> None:
    """The recorder keeps structure (key rules); the log redacts the JSON text (text
    rules): the key rule must cover every name the text rule hides."""
    name = sep.join(words)
    text = json.dumps({name: "v4lue"})
    if "v4lue" not in R.text(text):
        assert R.is_secret_key(name), name


def test_validation_errors_do_not_echo_secret_values() -> None:
    received = '"hunter2-XYZ" (string)'
    error = ToolError(
        type="InvalidArguments",
        message=f"Invalid arguments for tool 'login' (1 problem): password: expected no such "
        f"field, got {received}",
        retryable=False,
        hint=f"fix: password: expected no such field, got {received}",
        details=[
            {
                "field": "password",
                "expected": "no such field",
                "received": received,
                "message": "Extra inputs are not permitted: hunter2-XYZ",
            },
            {"field": "user", "expected": "string", "received": "3 (integer)", "message": "x"},
        ],
    )
    clean = R.error(error)
    assert "hunter2" not in clean.to_text()
    assert clean.details[0]["received"] == "[REDACTED] (string)"
    assert clean.details[1]["received"] == "3 (integer)"
    assert "got [REDACTED] (string)" in clean.message


_SEED = "Zq8vR2mK7xW4pL9n"
_NAMES = st.sampled_from(
    [
        *("password", "Cookie", "X-Auth", "token", "api_key", "Authorization", "bearer", "pass"),
        *("user", "q", "data", "headers", "sig", "key", "secret_key", "note", "value", "name"),
    ]
)
_LEAVES = st.sampled_from(
    [_SEED, f"Bearer {_SEED}", f"sid={_SEED}", f"password={_SEED}", f"https://u:{_SEED}@h/", "x"]
)
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_NAMES, inner, max_size=3),
        st.tuples(_NAMES, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(_TREES)
def test_the_recorder_hides_at_least_what_the_log_hides(value: object) -> None:
    """The log redacts the JSON text of the redacted value; the recorder writes the
    redacted value as it is: nothing the first hides may show in the second."""
    from toolsafe.observe.calllog import render

    log = R.capped(render(R.value(value)), 10**9)
    recording = json.dumps(R.value(value), ensure_ascii=False)
    if _SEED not in log:
        assert _SEED not in recording


# ------------------------------------------------------------------ the trigger scan

_ALL_TRIGGERS = sorted({t for rule in R.rules for t in rule.triggers})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(_ALL_TRIGGERS), st.text(max_size=6)), max_size=12).map(
        "".join
    )
)
def test_trigger_scan_finds_exactly_the_triggers_a_substring_search_finds(text: str) -> None:
    # One pass over the text (a trie of the triggers) decides which rules run: it must
    # find every trigger, overlapping ones and prefixes of longer ones included.
    lowered = text.lower()
    assert R._triggers.found(lowered) == {t for t in _ALL_TRIGGERS if t in lowered}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sk_live_abc", {"k_live_", "_live_"}),  # overlapping: k_live_ contains _live_
        ("authorization: x", {"auth", "authorization"}),  # a prefix of a longer one
        ("accountkey=", {"accountkey=", "key", "key="}),
        ("eyj.token://", {"eyj", "token", "://"}),  # looked for by substring search
        ("plain words only", set()),
    ],
)
def test_trigger_scan_cases(text: str, expected: set[str]) -> None:
    assert R._triggers.found(text) == expected


def test_rules_without_triggers_or_with_an_empty_one_always_run() -> None:
    always = Redactor([re_rule("custom", r"zz\d+")])
    assert always.text("a zz12 b") == f"a {REDACTED} b"
    empty = Redactor([re_rule("empty", r"zz\d+", triggers=("",))])
    assert empty.text("a zz12 b") == f"a {REDACTED} b"
    short = Redactor([re_rule("short", r"zz\d+", triggers=("zz",))])
    assert short.text("z") == "z"  # shorter than any trigger: nothing to run
    assert short.text("zz9") == REDACTED


def re_rule(name: str, pattern: str, triggers: tuple[str, ...] = ()) -> Any:
    from toolsafe.observe.redact import Rule

    return Rule(name, re.compile(pattern), triggers)


_FRAGMENTS = st.one_of(
    st.sampled_from([*_ALL_TRIGGERS, "password", "api_key", "\\u0070", "hunter2", "a.b"]),
    st.text(max_size=5),
)
_TEXT = st.lists(_FRAGMENTS, max_size=6).map("".join)
_DETAILS = st.recursive(
    st.one_of(st.none(), st.integers(), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(_TEXT, st.one_of(st.none(), _TEXT), _DETAILS)
def test_an_error_let_through_untouched_is_one_the_full_path_leaves_alone(
    message: str, hint: str | None, details: Any
) -> None:
    # The fast check (one scan of all the error's text) may only skip errors that the
    # full redaction would return unchanged.
    error = ToolError("ValueError", message or "m", False, details=details, hint=hint)
    assert R.error(error) == R._error(error)
    literal = Redactor().extended(literals=["hunter2"])
    assert literal.error(error) == literal._error(error)


def test_rules_and_keys_replaced_on_a_redactor_take_effect() -> None:
    # ``rules`` and ``keys`` are plain attributes: what the redactor derives from them
    # (the trigger scan, the key verdicts) follows when they are replaced.
    redactor = Redactor()
    assert redactor.text("zz12") == "zz12"
    assert not redactor.is_secret_key("flavour")
    redactor.rules = (*redactor.rules, re_rule("custom", r"zz\d+"))
    redactor.keys = redactor.keys | {"flavour"}
    assert redactor.text("zz12") == REDACTED
    assert redactor.is_secret_key("flavour")
    error = ToolError("E", "got zz12", False, details={"flavour": "x"})
    assert "zz12" not in redactor.error(error).to_text()
    assert redactor.error(error).details == {"flavour": REDACTED}
