"""Token counting for output budgets and log sizes: pluggable, and never on the network.

``tiktoken`` fetches its encodings from the internet the first time they are used
and caches them. An offline machine (or a locked-down container) would then fail
or hang inside a tool call, so toolsafe only loads an encoding that is already in
tiktoken's local cache (checked by path and SHA-256, exactly as tiktoken checks
it) and otherwise falls back to ``ApproxTokenCounter``:

    tokens = ceil(ASCII characters / 3) + non-ASCII characters

English prose averages about 4 characters per token and JSON or code about 3, so
the approximation errs on the side of more tokens: a budget it enforces is met by
the real tokenizer too. Non-ASCII characters count one token each (CJK text is
close to that; accented Latin text is overcounted).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from toolsafe._log import logger

__all__ = [
    "DEFAULT_ENCODINGS",
    "ApproxTokenCounter",
    "FunctionTokenCounter",
    "LazyTokenCounter",
    "TiktokenCounter",
    "TokenCounter",
    "default_token_counter",
    "resolve_token_counter",
    "tiktoken_cached",
]

#: Encodings tried, in order, for the default counter (GPT-4o family first).
DEFAULT_ENCODINGS = ("o200k_base", "cl100k_base")

# Where tiktoken downloads each encoding from, and the SHA-256 it expects. Used only to
# find the file in tiktoken's cache; an unknown name is never loaded implicitly.
_BLOBS = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "p50k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    ),
    "r50k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
}


@runtime_checkable
class TokenCounter(Protocol):
    """Counts the tokens a model would see for ``text``."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


class ApproxTokenCounter:
    """``ceil(ascii / 3) + non_ascii``: no dependency, no data file, slightly pessimistic."""

    name = "approx"

    def count(self, text: str) -> int:
        if text.isascii():
            return -(-len(text) // 3)
        ascii_chars = len(text.encode("ascii", "ignore"))
        return -(-ascii_chars // 3) + (len(text) - ascii_chars)

    def __repr__(self) -> str:
        return "ApproxTokenCounter()"


class TiktokenCounter:
    """Counts with a loaded ``tiktoken.Encoding`` (special-token text counts as plain text)."""

    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding
        self.name = f"tiktoken:{getattr(encoding, 'name', 'custom')}"

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.name!r})"


class FunctionTokenCounter:
    """Wraps any ``Callable[[str], int]`` (a model SDK's counter, ``len``...)."""

    def __init__(self, fn: Callable[[str], int], name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "custom"))

    def count(self, text: str) -> int:
        return int(self.fn(text))

    def __repr__(self) -> str:
        return f"FunctionTokenCounter({self.name!r})"


def _cache_dir() -> str | None:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        path = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        path = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        path = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return path or None  # "" disables tiktoken's cache: every load would download


def tiktoken_cached(name: str) -> bool:
    """True when loading encoding ``name`` cannot reach the network.

    Either tiktoken already loaded it in this process, or its file is in the local
    cache with the expected hash (a mismatching file would make tiktoken re-download).
    """
    try:
        from tiktoken import registry
    except ImportError:
        return False
    if name in getattr(registry, "ENCODINGS", {}):
        return True
    blob = _BLOBS.get(name)
    cache = _cache_dir()
    if blob is None or cache is None:
        return False
    url, expected = blob
    path = os.path.join(cache, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected


def _load_tiktoken(name: str) -> TokenCounter | None:
    if not tiktoken_cached(name):
        return None
    try:
        import tiktoken

        return TiktokenCounter(tiktoken.get_encoding(name))
    except Exception as exc:  # a broken cache or install: fall back, never fail a call
        logger.warning("toolsafe: cannot load tiktoken encoding %s (%s); approximating", name, exc)
        return None


_default: TokenCounter | None = None
_default_lock = threading.Lock()


def default_token_counter() -> TokenCounter:
    """The first cached tiktoken encoding of ``DEFAULT_ENCODINGS``, else the approximation.

    Resolved once per process, on first use (never at import).
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                found: TokenCounter | None = None
                for name in DEFAULT_ENCODINGS:
                    found = _load_tiktoken(name)
                    if found is not None:
                        break
                if found is None:
                    logger.debug(
                        "toolsafe: no tiktoken encoding available offline; approximating tokens"
                    )
                _default = found or ApproxTokenCounter()
    return _default


def resolve_token_counter(spec: Any = None) -> TokenCounter:
    """Turn ``Runtime(token_counter=...)`` into a counter.

    ``None``: the default; ``"approx"``; a tiktoken encoding name (used when cached
    offline, else the approximation, with a warning); a ``tiktoken.Encoding``; a
    ``TokenCounter``; or any ``Callable[[str], int]``.
    """
    if spec is None:
        return default_token_counter()
    if isinstance(spec, str):
        if spec == "approx":
            return ApproxTokenCounter()
        found = _load_tiktoken(spec)
        if found is None:
            logger.warning(
                "toolsafe: tiktoken encoding %r is not available offline; approximating tokens",
                spec,
            )
            return ApproxTokenCounter()
        return found
    if hasattr(spec, "encode_ordinary"):
        return TiktokenCounter(spec)
    if isinstance(spec, TokenCounter):
        return spec
    if callable(spec):
        return FunctionTokenCounter(spec)
    raise TypeError(f"cannot count tokens with {type(spec).__name__}")


class LazyTokenCounter:
    """Resolves its spec on first use, so building a Runtime never loads a tokenizer."""

    def __init__(self, spec: Any = None) -> None:
        self._spec = spec
        self._counter: TokenCounter | None = None
        if spec is not None and not isinstance(spec, str):
            self._counter = resolve_token_counter(spec)  # objects: check now, fail early

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = resolve_token_counter(self._spec)
        return self._counter

    @property
    def name(self) -> str:
        return self.counter.name

    def count(self, text: str) -> int:
        return self.counter.count(text)

    def __repr__(self) -> str:
        return f"LazyTokenCounter({self._spec!r})"
