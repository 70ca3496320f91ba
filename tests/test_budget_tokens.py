"""Token counting: the approximation, tiktoken when usable offline, never the network."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest

from toolsafe import ApproxTokenCounter, Runtime, tool
from toolsafe._tokens import (
    FunctionTokenCounter,
    LazyTokenCounter,
    TiktokenCounter,
    resolve_token_counter,
    tiktoken_cached,
)

tiktoken = pytest.importorskip("tiktoken")


def test_approximation_is_documented_formula() -> None:
    counter = ApproxTokenCounter()
    assert counter.count("") == 0
    assert counter.count("abc") == 1
    assert counter.count("abcd") == 2  # ceil(4 / 3)
    assert counter.count("日本語") == 3  # one per non-ASCII character
    assert counter.count("ab日本") == 1 + 2


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any attempt to open a connection fails the test (and is recorded)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_uncached_encoding_falls_back_without_touching_the_network(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert not tiktoken_cached("cl100k_base")
    with caplog.at_level("WARNING", logger="toolsafe"):
        counter = resolve_token_counter("cl100k_base")
    assert isinstance(counter, ApproxTokenCounter)
    assert "'cl100k_base' is not available offline" in caplog.text
    assert no_network == []


def test_a_corrupt_cache_file_counts_as_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[Any]
) -> None:
    # tiktoken would delete a file with the wrong hash and download it again.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"not the encoding")
    assert not tiktoken_cached("cl100k_base")
    assert isinstance(resolve_token_counter("cl100k_base"), ApproxTokenCounter)
    assert no_network == []


def test_disabled_tiktoken_cache_means_not_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert not tiktoken_cached("o200k_base")


def test_unknown_encoding_names_are_never_loaded(no_network: list[Any]) -> None:
    assert not tiktoken_cached("my_private_encoding")
    assert isinstance(resolve_token_counter("my_private_encoding"), ApproxTokenCounter)


def _byte_encoding() -> Any:
    # A real tiktoken Encoding built offline: one token per byte.
    ranks = {bytes([i]): i for i in range(256)}
    return tiktoken.Encoding("bytes", pat_str=r"[\s\S]", mergeable_ranks=ranks, special_tokens={})


def test_a_tiktoken_encoding_object_counts_exactly() -> None:
    counter = resolve_token_counter(_byte_encoding())
    assert isinstance(counter, TiktokenCounter) and counter.name == "tiktoken:bytes"
    assert counter.count("héllo") == len("héllo".encode())
    assert counter.count("<|endoftext|>") == 13  # special-token text is plain text


def test_callables_and_counters_are_accepted_as_given() -> None:
    by_len = resolve_token_counter(len)
    assert isinstance(by_len, FunctionTokenCounter) and by_len.count("abcd") == 4
    approx = ApproxTokenCounter()
    assert resolve_token_counter(approx) is approx
    with pytest.raises(TypeError):
        resolve_token_counter(42)


def test_lazy_counter_resolves_a_name_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    lazy = LazyTokenCounter("o200k_base")
    assert lazy._counter is None  # building a Runtime loads nothing
    assert lazy.count("abcdef") == 2 and lazy.name == "approx"


def test_runtime_token_budget_with_a_custom_counter() -> None:
    @tool(max_output_tokens=300)
    def echo(text: str) -> str:
        return text

    with Runtime([echo], token_counter=_byte_encoding()) as rt:
        outcome = rt.call("echo", {"text": "é " * 400})
    assert outcome.trimmed and outcome.full_text == "é " * 400
    assert 200 < len(outcome.text.encode()) <= 300  # bytes are this counter's tokens
    assert "characters cut from the middle" in outcome.text


def test_default_counter_is_offline_safe(no_network: list[Any]) -> None:
    from toolsafe._tokens import default_token_counter

    counter = default_token_counter()
    assert counter.count("hello world") > 0
    assert no_network == []
    if not any(tiktoken_cached(n) for n in ("o200k_base", "cl100k_base")):
        assert isinstance(counter, ApproxTokenCounter)
