"""Tools shared by the OpenAI Agents SDK and Pydantic AI adapter tests.

Each scenario the issue names has one tool here: a plain one, one that always
fails, one that hangs past its timeout (released at the end of the test so no
thread outlives it), one that fails twice with a transient error then succeeds,
and one whose output is 10 MB.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import toolsafe
from toolsafe import Retry
from toolsafe.observe.events import Event
from toolsafe.policies.retry import RetryScheduled


@dataclass
class AgentTools:
    release: threading.Event = field(default_factory=threading.Event)
    hung_finished: threading.Event = field(default_factory=threading.Event)
    flaky_calls: int = 0
    retry_delays: list[float] = field(default_factory=list)

    def listener(self, event: Event) -> None:
        if isinstance(event, RetryScheduled):
            self.retry_delays.append(event.delay)

    def tools(self) -> list[toolsafe.Tool]:
        @toolsafe.tool
        def add(a: int, b: int = 0) -> int:
            """Add two integers.

            Args:
                a: The first number.
                b: The second number.
            """
            return a + b

        @toolsafe.tool
        def explode(reason: str) -> str:
            """Always fails, with a programming error (not retryable)."""
            raise ValueError(f"cannot handle {reason}")

        @toolsafe.tool(timeout=0.3)
        def hang(query: str) -> str:
            """An upstream that hangs and ignores every timeout."""
            self.release.wait(30)
            self.hung_finished.set()
            return query

        @toolsafe.tool(retry=Retry(3, initial=0.01, jitter="none"), idempotent=True)
        def flaky(n: int) -> int:
            """Fails twice with a dropped connection, then answers."""
            self.flaky_calls += 1
            if self.flaky_calls < 3:
                raise ConnectionResetError("connection reset by peer")
            return n * 10

        @toolsafe.tool(max_output_chars=4000)
        def dump(size: int) -> str:
            """Returns ``size`` characters (the model should never see 10 MB)."""
            return "x" * size

        return [add, explode, hang, flaky, dump]


def fresh() -> Iterator[AgentTools]:
    """Fixture body: a fresh set of tools; the hung body is released afterwards."""
    state = AgentTools()
    yield state
    state.release.set()
