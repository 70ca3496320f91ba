"""Secret redaction for everything toolsafe writes: logs, recordings, spans, model-facing errors.

On by default. Two kinds of rule:

- **text rules** (regular expressions) find secrets inside any string: bearer and
  basic credentials, ``Authorization:`` headers, ``password=`` / ``"api_key": "..."``
  / ``?token=...`` pairs, passwords in URLs (``https://user:pw@host``), private key
  blocks, and well-known key shapes (AWS access key ids, ``sk-...`` model-provider
  keys, GitHub, Slack, Google, Stripe, Hugging Face tokens, JWTs);
- **key rules** replace the whole value of a mapping key that names a secret
  (``password``, ``api_key``, ``apiKey``, ``access_token``, ``client_secret``,
  ``authorization``, ``cookie``...; but not ``max_tokens``).

Only the secret part is replaced (``Authorization: Bearer [REDACTED]``) so the
text still says what was there. Configure with ``Runtime(redact=...)``: ``False``
turns it off, a ``Redactor`` replaces the rules, a list of patterns or literal
secrets adds to the defaults (see ``resolve_redactor``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolsafe.errors import ToolError

__all__ = [
    "DEFAULT_KEY_NAMES",
    "DEFAULT_RULES",
    "REDACTED",
    "Redactor",
    "Rule",
    "resolve_redactor",
]

REDACTED = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Rule:
    """A named pattern. Groups named ``secret...`` are replaced; without one, the whole match.

    ``triggers``: lower-case substrings one of which must occur for the rule to run
    (a cheap pre-check; empty: always run). ``fold``: the pattern is written in lower
    case and runs on the lower-cased text, which is several times faster than
    ``re.IGNORECASE``.
    """

    name: str
    pattern: re.Pattern[str]
    triggers: tuple[str, ...] = ()
    fold: bool = False

    @classmethod
    def of(
        cls, name: str, pattern: str, *, triggers: Sequence[str] = (), fold: bool = False
    ) -> Rule:
        return cls(name, re.compile(pattern), tuple(t.lower() for t in triggers), fold)


_SECRET_NAME = (
    r"(?:password|passwd|passphrase|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|client[_\-]?secret|credentials?|session[_\-]?id)"
)
_SHORT_NAME = r"(?:pwd|pass|auth|sig|signature)"

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule.of(
        "private-key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)",
        triggers=["PRIVATE KEY-----"],
    ),
    Rule.of(
        "authorization-header",
        r"\b(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?(?P<secret>[^\s\"'\\,;]+)",
        triggers=["authorization"],
        fold=True,
    ),
    Rule.of(
        "bearer",
        r"\bbearer\s+(?P<secret>[a-z0-9\-._~+/]+=*)",
        triggers=["bearer"],
        fold=True,
    ),
    Rule.of("basic", r"\bbasic\s+(?P<secret>[a-z0-9+/]{8,}=*)", triggers=["basic"], fold=True),
    Rule.of(
        "url-password",
        r"\b[a-z][a-z0-9+.\-]{0,30}://[^/\s:@]{1,256}:(?P<secret>[^@\s/]{1,256})@",
        triggers=["://"],
        fold=True,
    ),
    Rule.of(
        "secret-pair",
        r"(?:" + _SECRET_NAME + r"|(?<![\w\-])" + _SHORT_NAME + r")"
        r"\\?[\"']?\s*[:=]\s*(?:"
        r"\\\"(?P<secret1>(?:[^\"\\]|\\[^\"])*)\\\""  # \"value\" (JSON inside a JSON string)
        r"|\"(?P<secret2>(?:[^\"\\]|\\.)*)\""  # "value"
        r"|'(?P<secret3>[^']*)'"  # 'value'
        r"|(?P<secret4>[^\s\"'&,;}\]\\)]+))",  # bare: up to a delimiter
        triggers=["pass", "secret", "token", "key", "credential", "session", "pwd", "auth", "sig"],
        fold=True,
    ),
    Rule.of(
        "aws-access-key-id",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
        triggers=["akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"],
    ),
    Rule.of("provider-key", r"\bsk-(?:[a-z]+-)?[A-Za-z0-9_\-]{16,}", triggers=["sk-"]),
    Rule.of(
        "stripe-key",
        r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
        triggers=["_live_", "_test_"],
    ),
    Rule.of(
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        triggers=["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    ),
    Rule.of("slack-token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", triggers=["xox"]),
    Rule.of("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}", triggers=["aiza"]),
    Rule.of("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}", triggers=["hf_"]),
    Rule.of(
        "jwt",
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        triggers=["eyj"],
    ),
)

#: Mapping keys whose values are secrets, compared lower-cased with ``_``, ``-``, ``.`` removed.
DEFAULT_KEY_NAMES: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "clientsecret",
        "secretkey",
        "authorization",
        "proxyauthorization",
        "auth",
        "credential",
        "credentials",
        "cookie",
        "setcookie",
        "sessionid",
        "signature",
    }
)
#: Keys that end with one of these name a secret too (``access_token``, ``db_password``).
_KEY_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "credentials",
)


class Redactor:
    """Replaces secrets in text, nested values and ToolErrors.

    ``rules``: text rules; ``keys``: normalized mapping-key names whose values are
    secret; ``literals``: exact strings to always hide (say, a token read from the
    environment at start-up); ``replacement``: what a secret becomes.
    """

    def __init__(
        self,
        rules: Iterable[Rule] = DEFAULT_RULES,
        *,
        keys: Iterable[str] = DEFAULT_KEY_NAMES,
        literals: Iterable[str] = (),
        replacement: str = REDACTED,
        enabled: bool = True,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.keys: frozenset[str] = frozenset(_norm_key(k) for k in keys)
        self.literals: tuple[str, ...] = tuple(sorted({s for s in literals if s}, key=len)[::-1])
        self.replacement = replacement
        self.enabled = enabled

    @classmethod
    def disabled(cls) -> Redactor:
        """A redactor that changes nothing (``Runtime(redact=False)``)."""
        return cls((), keys=(), enabled=False)

    def extended(
        self,
        *,
        rules: Iterable[Rule | str | re.Pattern[str]] = (),
        keys: Iterable[str] = (),
        literals: Iterable[str] = (),
    ) -> Redactor:
        """A copy with more rules, key names or literal secrets."""
        extra = tuple(_as_rule(r, i) for i, r in enumerate(rules))
        return Redactor(
            self.rules + extra,
            keys=self.keys | {_norm_key(k) for k in keys},
            literals=self.literals + tuple(literals),
            replacement=self.replacement,
            enabled=True,
        )

    # ------------------------------------------------------------------ text

    def text(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if not self.enabled or not text:
            return text
        for literal in self.literals:
            if literal in text:
                text = text.replace(literal, self.replacement)
        lowered: str | None = None
        for rule in self.rules:
            if rule.triggers or rule.fold:
                if lowered is None:
                    lowered = text.lower()
                if rule.triggers and not any(t in lowered for t in rule.triggers):
                    continue
            pattern, target = rule.pattern, text
            if rule.fold:
                assert lowered is not None
                if len(lowered) == len(text):
                    target = lowered
                else:  # a few characters change length when lower-cased
                    pattern = re.compile(rule.pattern.pattern, re.IGNORECASE)
            spans = _secret_spans(pattern, target)
            if spans:
                text = self._splice(text, spans)
                lowered = None
        return text

    def _splice(self, text: str, spans: list[tuple[int, int]]) -> str:
        out, pos = [], 0
        for start, end in spans:
            found = text[start:end]
            if start < pos or (found and self.replacement.startswith(found)):
                continue  # overlapping, or already redacted (redaction is idempotent)
            out.append(text[pos:start])
            out.append(self.replacement)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def capped(self, text: str, limit: int) -> str:
        """Redacted and cut to ``limit`` characters, saying how much was cut.

        Redacts a little past the cut so a secret straddling it is still found.
        """
        if len(text) <= limit:
            return self.text(text)
        redacted = self.text(text[: limit + 512])
        return f"{redacted[:limit]}… [+{len(text) - limit:,} chars]"

    # ------------------------------------------------------------------ values

    def is_secret_key(self, key: Any) -> bool:
        if not isinstance(key, str) or not self.enabled:
            return False
        norm = _norm_key(key)
        return norm in self.keys or norm.endswith(_KEY_SUFFIXES)

    def value(self, value: Any, _depth: int = 0) -> Any:
        """A copy of ``value`` (dicts, lists, tuples, strings) with secrets replaced."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.text(value)
        if _depth > 50:
            return value
        if isinstance(value, Mapping):
            return {
                k: (
                    self.replacement
                    if self.is_secret_key(k) and v is not None and not isinstance(v, bool)
                    else self.value(v, _depth + 1)
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(v, _depth + 1) for v in value]
        return value

    def error(self, error: ToolError) -> ToolError:
        """The ToolError with its message, hint, details and traceback redacted."""
        if not self.enabled:
            return error
        message = self.text(error.message)
        hint = self.text(error.hint) if error.hint else error.hint
        tb = self.text(error.traceback) if error.traceback else error.traceback
        details = self.value(error.details) if error.details is not None else None
        if (
            message == error.message
            and hint == error.hint
            and tb == error.traceback
            and details == error.details
        ):
            return error
        return error.with_(message=message, hint=hint, traceback=tb, details=details)

    def __repr__(self) -> str:
        if not self.enabled:
            return "Redactor.disabled()"
        return f"<Redactor rules={len(self.rules)} keys={len(self.keys)}>"


def _secret_spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        groups = [
            match.span(name)
            for name, value in match.groupdict().items()
            if name.startswith("secret") and value is not None
        ]
        spans.extend(sorted(groups) if groups else [match.span()])
    return spans


def _norm_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "").replace(".", "")


def _as_rule(obj: Rule | str | re.Pattern[str], index: int) -> Rule:
    if isinstance(obj, Rule):
        return obj
    if isinstance(obj, re.Pattern):
        return Rule(f"custom-{index}", obj)
    return Rule(f"custom-{index}", re.compile(obj))


def resolve_redactor(spec: Any = True) -> Redactor:
    """Turn ``Runtime(redact=...)`` into a Redactor.

    ``True``/``None``: the defaults; ``False``: off; a ``Redactor``: as given; a
    callable ``str -> str``: applied after the defaults; a sequence of regular
    expressions (str or compiled) or ``Rule``s: added to the defaults.
    """
    if spec is None or spec is True:
        return Redactor()
    if spec is False:
        return Redactor.disabled()
    if isinstance(spec, Redactor):
        return spec
    if isinstance(spec, (str, re.Pattern, Rule)):
        return Redactor().extended(rules=[spec])
    if isinstance(spec, Sequence):
        return Redactor().extended(rules=list(spec))
    if callable(spec):
        return _CallableRedactor(spec)
    raise TypeError(f"redact= takes a bool, a Redactor, patterns or a callable, not {spec!r}")


class _CallableRedactor(Redactor):
    def __init__(self, fn: Callable[[str], str]) -> None:
        super().__init__()
        self.fn = fn

    def text(self, text: str) -> str:
        return self.fn(super().text(text)) if text else text
