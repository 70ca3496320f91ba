"""Dump the outcome text and ``error.to_dict()`` of ~1,000 invalid and hostile calls.

The wire format is a compatibility contract: a change to how refusals are made
(validation, the express lane, ToolError, redaction) must not change a byte of
it. Dump before and after the change and compare::

    git archive main src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src .venv/bin/python scripts/refusal_dump.py > /tmp/before.json
    PYTHONPATH=src .venv/bin/python scripts/refusal_dump.py > /tmp/after.json
    cmp /tmp/before.json /tmp/after.json

A fake clock makes elapsed_ms 0.0 and every call has its own id, so the dump is
deterministic. Set-ups: bare, full pipeline, lax, repair, a sync tool, an
exported alias (name with a dot), extra redaction literals, redaction off, and a
listener (the chain step by step). Run it in both venvs (pydantic versions differ).
"""

import asyncio
import datetime
import enum
import json
import sys
import uuid
import warnings
from typing import Any, Literal, Optional

import pydantic

import toolsafe
from toolsafe import Breaker, FakeClock, Rate, Retry, Runtime

FULL = dict(
    timeout=5,
    retry=Retry(attempts=3, initial=0.0, jitter="none"),
    breaker=Breaker(failures=2, cooldown=60),
    concurrency=4,
    rate=Rate(per_second=1000, burst=1000),
    max_output_chars=10000,
    idempotent=True,
)


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class Inner(pydantic.BaseModel):
    n: int
    tags: list[str] = []


async def anoop(x: int) -> int:
    return x


def snoop(x: int) -> int:
    return x


async def rich(
    name: str,
    count: int,
    ratio: float = 1.0,
    flag: bool = False,
    color: Color = Color.red,
    mode: Literal["a", "b"] = "a",
    when: Optional[datetime.date] = None,
    ids: list[int] = [],  # noqa: B006
    inner: Optional[Inner] = None,
    password: Optional[str] = None,
    api_key: Optional[int] = None,
    uid: Optional[uuid.UUID] = None,
) -> str:
    return "ok"


def srich(
    name: str, count: int, password: Optional[str] = None, inner: Optional[Inner] = None
) -> str:
    return "ok"


INPUTS: list[Any] = [
    {"x": "one"},
    {"x": 1.5},
    {"x": 4.0},
    {},
    {"x": 1, "y": 2},
    {"x": None},
    {"x": [1]},
    {"x": "9" * 5000},
    {"x": "\udcff"},
    {"x": float("nan")},
    {"x": float("inf")},
    {"x": True},
    {"x": "3"},
    {"x": {"a": 1}},
    {"x": "Bearer abcdefghijklmnop123"},
    {"x": "sk-abcdefghijklmnopqrstuvwx1234"},
    {"x": "é" * 100},
    {"password": "hunter2", "x": "one"},
    {"api_key": "sk-live-123"},
    {"token": "abc", "x": 1},
    {**{f"k{i}": i for i in range(300)}, "x": "one"},
    {f"k{i}": i for i in range(3000)},
    {"x": "[1, 2, 3]"},
    {"x": "{'a': 1}"},
    {"é" * 400: 1},
    {"x" * 1000: 1, "x": 1},
    {"name": 1, "count": "two"},
    {"name": "n", "count": 1, "color": "green"},
    {"name": "n", "count": 1, "mode": "c"},
    {"name": "n", "count": 1, "when": "yesterday"},
    {"name": "n", "count": 1, "ids": "[1,2]"},
    {"name": "n", "count": 1, "ids": [1, "x", 2.5, None]},
    {"name": "n", "count": 1, "inner": {"n": "x", "tags": [1]}},
    {"name": "n", "count": 1, "inner": "{'n': 1}"},
    {"name": "n", "count": 1, "password": 123},
    {"name": "n", "count": 1, "api_key": "hunter2secret"},
    {"name": "n", "count": 1, "uid": "not-a-uuid"},
    {"name": "n", "count": 1, "inner": {"n": 1, "password": "p4ss", "extra": 2}},
    {"name": "n", "count": 1, "ratio": "1.5"},
    {"name": "n", "count": 4.0},
    {"name": "n", "count": 1, "color": "red"},
    {"name": "n", "count": 1, "when": "2020-01-01"},
    {"name": "n", "count": 1, "inner": {"n": 1}},
    {"name": "n" * 3000, "count": "c" * 3000},
    {"name": "x", "count": 1, **{f"e{i}": "v" for i in range(30)}},
    {"x": [[[[[[1]]]]]]},
    {"x": "authorization: Bearer xyzxyzxyzxyz"},
    {"x": "https://u:pw@host/x"},
    {"name": "\\u0070assword=abc", "count": "x"},
    {"x": -(10**30)},
]
TEXTS: list[Any] = [
    '{"x": "one"}',
    "not json",
    '{"x": 1,}',
    "null",
    "[1]",
    '"{\\"x\\": 1}"',
    "",
    '{"x": NaN}',
    b'{"x": "one"}',
    b"\xff",
    None,
    42,
    ("x", 1),
    '{"x": ' + "[" * 200 + "]" * 200 + "}",
    "{'x': 'one'}",
    '{"x": 1} trailing',
    '{"x": "one"',
    "1" * 5000,
]


def setups():
    yield "bare", [toolsafe.tool(anoop, name="noop"), toolsafe.tool(rich)], {}
    yield "full", [toolsafe.tool(anoop, name="noop", **FULL), toolsafe.tool(rich, **FULL)], {}
    yield (
        "lax",
        [
            toolsafe.tool(anoop, name="noop", strict=False, **FULL),
            toolsafe.tool(rich, strict=False),
        ],
        {},
    )
    yield (
        "repair",
        [toolsafe.tool(anoop, name="noop", repair=True, **FULL), toolsafe.tool(rich, repair=True)],
        {},
    )
    yield "sync", [toolsafe.tool(snoop, name="noop", **FULL), toolsafe.tool(srich, name="rich")], {}
    yield (
        "alias",
        [toolsafe.tool(anoop, name="my.noop", **FULL), toolsafe.tool(rich, name="my.rich")],
        {},
    )
    yield (
        "redact",
        [toolsafe.tool(anoop, name="noop", **FULL), toolsafe.tool(rich)],
        {"redact": ["one", "hunter2"]},
    )
    yield (
        "noredact",
        [toolsafe.tool(anoop, name="noop", **FULL), toolsafe.tool(rich)],
        {"redact": False},
    )
    yield (
        "watched",
        [toolsafe.tool(anoop, name="noop", **FULL), toolsafe.tool(rich, **FULL)],
        {"watch": True},
    )


async def _dump(label: str, rt: Runtime, names: list[str], out: list[Any]) -> None:
    used = {"my.noop": "my_noop", "my.rich": "my_rich"}
    n = 0
    for name in names:
        for args in INPUTS + (TEXTS if name in ("noop", "my.noop") else []):
            n += 1
            o = await rt.acall(used.get(name, name), args, call_id=f"c{n}")
            error = None if o.error is None else o.error.to_dict()
            out.append([label, name, repr(args)[:80], o.ok, o.text, error, o.attempts])


def main() -> None:
    warnings.simplefilter("ignore")
    out: list[Any] = []
    for label, tools, opts in setups():
        watch = opts.pop("watch", False)
        rt = Runtime(tools, clock=FakeClock(), **opts)
        if watch:
            rt.add_listener(lambda e: None)
        asyncio.run(_dump(label, rt, [t.name for t in tools], out))
        rt.close()
    json.dump(out, sys.stdout, indent=0, ensure_ascii=True)
    print(f"\n{len(out)} calls, {sum(1 for r in out if not r[3])} errors", file=sys.stderr)


if __name__ == "__main__":
    main()
