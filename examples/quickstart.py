"""A minute with toolsafe: validation, structured errors, timeouts, isolation, batches."""

from __future__ import annotations

import time

import toolsafe


@toolsafe.tool
def add(a: int, b: int = 0) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@toolsafe.tool(timeout=0.2)
def slow_lookup(query: str) -> str:
    """A lookup whose upstream hangs (it ignores every timeout)."""
    time.sleep(2)
    return query


class SearchTool:
    """Search with a per-instance 'last query' (shared state, the classic bug)."""

    def __init__(self) -> None:
        self.last_query = ""

    def _run(self, query: str) -> str:
        self.last_query = query
        time.sleep(0.01)
        return f"results for {self.last_query}"


def main() -> None:
    with toolsafe.Runtime([add, slow_lookup, SearchTool()]) as runtime:
        print("OpenAI schema:", add.to_openai()["function"]["parameters"])
        print("ok:         ", runtime.call("add", {"a": 2, "b": 3}).text)
        print("bad args:   ", runtime.call("add", '{"a": "2", "c": 1}').text)
        print("timeout:    ", runtime.call("slow_lookup", {"query": "x"}).text)
        print("unknown:    ", runtime.call("ad", {"a": 1}).text)
        outcomes = runtime.call_many([("search_tool", {"query": f"q{i}"}) for i in range(5)])
        print("isolated:   ", [o.text for o in outcomes])


if __name__ == "__main__":
    main()
