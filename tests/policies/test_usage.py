"""Usage limit (``max_calls=``): one use per call, retries included; invalid or cached calls free."""

from __future__ import annotations

import pytest

import toolsafe
from toolsafe import ConfigurationError, Retry, Runtime, is_rejection


def test_calls_past_the_limit_are_refused_without_running() -> None:
    runs: list[int] = []

    @toolsafe.tool(max_calls=2)
    def fetch(n: int) -> int:
        """Fetch n."""
        runs.append(n)
        return n

    with Runtime([fetch]) as runtime:
        outcomes = [runtime.call("fetch", {"n": i}) for i in range(4)]
    assert [o.value for o in outcomes[:2]] == [0, 1] and runs == [0, 1]
    for refused in outcomes[2:]:
        assert refused.error is not None
        assert (refused.error.type, refused.error.retryable) == ("UsageLimitExceeded", False)
        assert is_rejection(refused.error)
        assert refused.error.hint == "Do not call 'fetch' again; answer with what you have."


def test_retries_invalid_arguments_and_cache_hits_use_nothing_more() -> None:
    attempts: list[str] = []

    @toolsafe.tool(max_calls=2, retry=Retry(attempts=3, initial=0), idempotent=True, cache=60)
    def flaky(q: str) -> str:
        """Fails twice, then answers."""
        attempts.append(q)
        if len(attempts) < 3:
            raise ConnectionError("reset")
        return q

    with Runtime([flaky]) as runtime:
        assert runtime.call("flaky", {"q": "a"}).value == "a"  # three attempts, one use
        assert runtime.call("flaky", {"q": 1}).error is not None  # invalid: not a use
        assert runtime.call("flaky", {"q": "a"}).value == "a"  # cached: not a use
        assert runtime.call("flaky", {"q": "b"}).value == "b"  # the second use
        last = runtime.call("flaky", {"q": "c"})
    assert last.error is not None and last.error.type == "UsageLimitExceeded"
    assert attempts == ["a", "a", "a", "b"]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_limits_are_configuration_errors(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_calls="):
        Runtime([toolsafe.tool(lambda: 1, name="f", max_calls=bad)])
