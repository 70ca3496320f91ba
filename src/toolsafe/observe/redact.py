"""Secret redaction for everything toolsafe writes: logs, recordings, spans, model-facing errors.

On by default. Two kinds of rule:

- **text rules** (regular expressions) find secrets inside any string: bearer and
  basic credentials, ``Authorization:`` headers (with their auth-params),
  ``Cookie:``/``Set-Cookie:`` headers, ``password=`` / ``"api_key": "..."`` /
  ``("Cookie", "...")`` pairs, ``?key=``/``?sig=`` query parameters, passwords in
  URLs (``redis://:pw@host``, a password holding ``@``), private key blocks, an
  AWS secret key beside its key id, and token shapes: ours (``sk-...``, GitHub,
  Slack, Google, Stripe, Hugging Face, JWTs) and those adopted from detect-secrets
  (``_shapes.py``: GitLab, PyPI, SendGrid, Square, Azure, npm, ...). Text holding
  ``\\uXXXX`` escapes is read decoded too;
- **key rules** replace the whole value of a mapping key that names a secret
  (``password``, ``api_key``, ``X-Auth``, ``sessionToken``, ``cookie``...; but not
  ``max_tokens``), the value of a ``(name, value)`` header pair, and the
  ``received`` value of a validation problem about such a field. Every name the
  text rules hide in ``"name": "value"`` the key rules hide too, so a recording
  (structure kept) hides at least what a log line (text) does.

Only the secret part is replaced (``Authorization: Bearer [REDACTED]``) so the
text still says what was there. Configure with ``Runtime(redact=...)``: ``False``
turns it off, a ``Redactor`` replaces the rules, a list of patterns or literal
secrets adds to the defaults (see ``resolve_redactor``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolsafe.errors import format_traceback
from toolsafe.observe._shapes import SHAPES

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


# Why these context rules are our own: pattern catalogues such as detect-secrets find
# *that* a line of source holds a secret; redaction must also say *where* it ends (a
# header value, a quoted string, a URL's password) so that only the secret goes and
# the rest of the text stays readable. Token *shapes* are adopted from detect-secrets
# as data (``_shapes.py``, Apache-2.0) and run after these.

#: Names that make ``name=value`` / ``"name": "value"`` a secret wherever they end a
#: longer name (``db_password``, ``X-Api-Key``, ``aws_secret_access_key``). The key
#: rule (``is_secret_key``) uses the same list on the name with ``_-. `` removed.
_LONG_NAMES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "clientsecret",
    "credential",
    "credentials",
    "sessionid",
    "authorization",
    "cookie",
    "signature",
)
#: Short names that count only as a whole word (``X-Auth``, ``--pass``, ``bearer``; not
#: ``bypass``, ``oauth``, ``author``).
_SHORT_NAMES = ("pwd", "pass", "auth", "sig", "bearer")


_COMPOUND = re.compile(r"^(api|access|private|secret|client|session)(key|secret|id)$")


def _name_regex(name: str) -> str:
    """``apikey`` -> ``api[_\\-. ]?key`` (the separators a name may be written with)."""
    return _COMPOUND.sub(r"\1[_\\-. ]?\2", name)


#: (``authorization`` has its own rule, which keeps the scheme: ``Bearer [REDACTED]``.)
_SECRET_NAME = "(?:" + "|".join(_name_regex(n) for n in _LONG_NAMES if n != "authorization") + ")"
_SHORT_NAME = r"(?<![a-z0-9])(?:" + "|".join(_SHORT_NAMES) + ")"
#: What follows a name: ``=``, ``:``, ``=>``, or, in a quoted pair (``("Cookie", "v")``), a comma.
_SEP = r"(?:\\?[\"']?\s*(?:=>|[:=])\s*|\\?[\"']\s*,\s*(?=\\?[\"']))"
#: A value: quoted three ways, or bare up to a delimiter (``;`` and ``,`` end it only
#: before a space or the next ``name=``, so ``Password=a;b;`` is one value).
_VALUE = (
    r"(?:\\\"(?P<secret1>(?:[^\"\\]|\\[^\"])*)\\\""  # \"value\" (JSON inside a JSON string)
    r"|\"(?P<secret2>(?:[^\"\\]|\\.)*)\""  # "value"
    r"|'(?P<secret3>(?:[^'\\]|\\.)*)'"  # 'value'
    r"|(?P<secret4>(?:[^\s\"'&,;}\]\\)]|[,;](?![\s,;]|[a-z0-9_\-.]+\s*=))+))"
)


def _shape_rules() -> list[Rule]:
    """One rule per detect-secrets plugin (and flags): its patterns as one alternation,
    so text is scanned once per plugin, not once per pattern."""
    rules = []
    for plugin, triggers, patterns in SHAPES:
        for flags in sorted({f for _, f in patterns}):
            joined = "|".join(f"(?:{p})" for p, f in patterns if f == flags)
            rules.append(Rule(f"detect-secrets:{plugin}", re.compile(joined, flags), triggers))
    return rules


_AWS_ID = r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"
_AWS_TRIGGERS = ["a3t", "akia", "asia", "abia", "acca", "agpa", "aida", "aroa", "anpa", "anva"]

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule.of(
        "private-key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)",
        triggers=["PRIVATE KEY-----"],
    ),
    Rule.of(
        "authorization-header",
        r"\b(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate|apikey|hmac|ntlm|aws4-hmac-sha256)\s+)?"
        # auth-params (``token="..."``, Digest's list) or one token68
        r"(?P<secret>(?:[a-z0-9_\-]+=(?:\\\"[^\"\\]*\\\"|\"[^\"\r\n]*\"|[^\s,\"'\\]+)(?:\s*,\s*)?)+"
        r"|[^\s\"'\\,;]+)",
        triggers=["authorization"],
        fold=True,
    ),
    Rule.of(
        "cookie-header",
        r"\b(?:set-)?cookie\s*:\s*(?P<secret>[^\s\"'\\][^\r\n\"'\\]*)",
        triggers=["cookie"],
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
        # The user may be empty (``redis://:pw@host``); the password may hold ``@``.
        "url-password",
        # (Anchored on ``://``, not the scheme: scanning for a literal is many times faster.)
        r"://[^/\s:@\"'\\]{0,256}:(?P<secret>[^\s/\"'\\]{1,256})@",
        triggers=["://"],
        fold=True,
    ),
    Rule.of(
        "query-key",
        r"[?&;](?:key|sig|code)=(?P<secret>[^&#\s\"'\\]+)",
        triggers=["key=", "sig=", "code="],
        fold=True,
    ),
    Rule.of(
        "secret-pair",
        r"(?:" + _SECRET_NAME + "|" + _SHORT_NAME + ")" + _SEP + _VALUE,
        triggers=[
            "pass",
            "secret",
            "token",
            "key",
            "credential",
            "session",
            "pwd",
            "auth",
            "sig",
            "cookie",
            "bearer",
        ],
        fold=True,
    ),
    Rule.of(
        # A secret access key written next to its key id (``AKIA... wJalr...``).
        "aws-key-pair",
        r"(?P<secret1>\b" + _AWS_ID + r")\b[^A-Za-z0-9/+]{1,20}"
        r"(?P<secret2>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        triggers=_AWS_TRIGGERS,
    ),
    Rule.of("aws-access-key-id", r"\b" + _AWS_ID + r"\b", triggers=_AWS_TRIGGERS),
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
    *(_shape_rules()),
)

#: Mapping keys whose values are secrets, compared lower-cased with ``_``, ``-``, ``.``
#: and spaces removed. Keys that end with one of ``_LONG_NAMES``, or whose last word is
#: one of ``_SHORT_NAMES``, are secret too (``db_password``, ``X-Auth``, ``sessionToken``).
DEFAULT_KEY_NAMES: frozenset[str] = frozenset(
    {
        *_LONG_NAMES,
        *_SHORT_NAMES,
        "setcookie",
        "proxyauthorization",
    }
)
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def _default_secret_key(key: str) -> bool:
    """The default key rule (the same names as the ``secret-pair`` text rule, and more)."""
    if _norm_key(key).endswith(_LONG_NAMES):
        return True
    words = _WORD.findall(_CAMEL.sub("_", key).lower())
    return bool(words) and words[-1] in _SHORT_NAMES


#: Containers nested deeper than this are redacted as their JSON text (no key rules
#: there, but every text rule), so depth never hides a secret.
MAX_DEPTH = 50
#: ``\\uXXXX`` escapes of plain characters, which would hide a name or a token's shape.
_ESCAPE = re.compile(r"\\+[uU]00([2-7][0-9a-fA-F])")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:=/+@ ")


def _plain_char(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _PLAIN else match.group(0)


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
        #: ``is_secret_key`` verdicts by key (a few thousand at most), for ``_verdicts_for``.
        self._key_verdicts: dict[str, bool] = {}
        self._verdicts_for = self.keys
        self._compile()

    def _compile(self) -> None:
        """What the text rules need per text, from ``rules`` (again if it is replaced)."""
        rules = self.rules
        self._compiled_for = rules
        self._triggers = _Triggers(t for rule in rules for t in rule.triggers)
        #: Every rule has a trigger: text in which none occurs needs no rule run.
        self._gated = all(rule.triggers for rule in rules)
        #: Text shorter than this holds no trigger (nor a secret, when ``_gated``).
        self._shortest = min((len(t) for rule in rules for t in rule.triggers), default=0)

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
        """``text`` with every secret replaced.

        Text holding ``\\uXXXX`` escapes of plain characters (``\\u0070assword``) is
        also read with them decoded; when that finds a secret, the decoded text, redacted,
        is what comes back.
        """
        if not self.enabled or not text:
            return text
        if "\\" in text and ("\\u" in text or "\\U" in text):
            plain = _ESCAPE.sub(_plain_char, text)
            if plain != text:
                clean = self._text(plain)
                if clean != plain:
                    return clean
        return self._text(text)

    def _text(self, text: str) -> str:
        if self.rules is not self._compiled_for:
            self._compile()
        for literal in self.literals:
            if literal in text:
                text = text.replace(literal, self.replacement)
        if self._gated and len(text) < self._shortest:
            return text
        lowered: str | None = text.lower()
        assert lowered is not None
        present = self._triggers.found(lowered)
        if not present and self._gated:
            return text  # the common case: one scan, no rule runs
        for rule in self.rules:
            if rule.triggers or rule.fold:
                if lowered is None:
                    lowered = text.lower()
                    present = self._triggers.found(lowered)
                if rule.triggers and present.isdisjoint(rule.triggers):
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
                lowered = None  # the text changed: look for the triggers again
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
        """Does a mapping key (or the name in a ``(name, value)`` pair) name a secret?"""
        if not isinstance(key, str) or not self.enabled:
            return False
        if self.keys is not self._verdicts_for:  # the key names were replaced
            self._key_verdicts, self._verdicts_for = {}, self.keys
        known = self._key_verdicts.get(key)
        if known is None:
            known = _norm_key(key) in self.keys or _default_secret_key(key)
            if len(self._key_verdicts) >= 4096:  # bounded: keys may come from anywhere
                self._key_verdicts.clear()
            self._key_verdicts[key] = known
        return known

    def value(self, value: Any, _depth: int = 0) -> Any:
        """A copy of ``value`` (dicts, lists, tuples, strings) with secrets replaced.

        A value under a secret key is replaced whole, as is the second item of a
        ``(name, value)`` pair naming a secret (header lists); containers deeper than
        ``MAX_DEPTH`` become their redacted JSON text.
        """
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.text(value)
        if not isinstance(value, (Mapping, list, tuple)):
            return value
        if _depth >= MAX_DEPTH:
            return self._too_deep(value)
        if isinstance(value, Mapping):
            return {
                k: (
                    self.replacement
                    if self.is_secret_key(k) and _hideable(v)
                    else self.value(v, _depth + 1)
                )
                for k, v in value.items()
            }
        return self._sequence(value, _depth, False)

    def _sequence(self, value: Sequence[Any], depth: int, in_pairs: bool) -> Any:
        """A list or tuple: a ``(name, value)`` pair naming a secret (a tuple, an item of
        a list of pairs, or a name then a string, as the text rules read it) hides its
        value; anything else is redacted item by item."""
        if depth >= MAX_DEPTH:
            return self._too_deep(value)
        if (
            len(value) == 2
            and (in_pairs or isinstance(value, tuple) or isinstance(value[1], str))
            and self.is_secret_key(value[0])
            and _hideable(value[1])
        ):
            return [value[0], self.replacement]
        pairwise = _pairs(value)
        return [
            self._sequence(v, depth + 1, pairwise)
            if isinstance(v, (list, tuple))
            else self.value(v, depth + 1)
            for v in value
        ]

    def _too_deep(self, value: Any) -> str:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (RecursionError, ValueError, TypeError):
            return f"{self.replacement} (nested deeper than {MAX_DEPTH} levels)"
        return self.text(text)

    def error(self, error: ToolError) -> ToolError:
        """The ToolError with its message, hint, details and traceback redacted.

        A validation problem about a secret field (an unknown ``password`` key, a
        wrong-typed ``api_key``) echoes the value it received: that value is
        replaced in the problem and wherever the message or hint repeat it.
        """
        if not self.enabled or self._clean_error(error):
            return error
        return self._error(error)

    def _error(self, error: ToolError) -> ToolError:
        message, hint, details = error.message, error.hint, error.details
        if isinstance(details, list):
            message, hint, details = self._echoes(message, hint, details)
        message = self.text(message)
        hint = self.text(hint) if hint else hint
        tb = self.text(error.traceback) if error.traceback else error.traceback
        details = self.value(details) if details is not None else None
        if (
            message == error.message
            and hint == error.hint
            and tb == error.traceback
            and details == error.details
        ):
            return error
        return error.with_(message=message, hint=hint, traceback=tb, details=details)

    def _clean_error(self, error: ToolError) -> bool:
        """True when no rule can change ``error`` (most errors): no secret key or
        ``(name, value)`` pair in its details and none of the text rules' triggers,
        literals or escapes in any of its text, looked for in one scan of all of it.
        False means only "maybe": ``error`` then takes the full path."""
        if self.rules is not self._compiled_for:
            self._compile()
        if not self._gated or type(self) is not Redactor:  # a subclass may redact more
            return False
        texts = [error.message]
        if error.hint:
            texts.append(error.hint)
        if error.traceback:
            texts.append(error.traceback)
        if error.details is not None and not self._plain_value(error.details, texts, 0):
            return False
        # Joined by a character no trigger holds: a trigger found across two texts
        # only sends the error the full way.
        joined = "\x00".join(texts)
        if "\\" in joined and ("\\u" in joined or "\\U" in joined):
            return False
        if any(literal in joined for literal in self.literals):
            return False
        return not self._triggers.found(joined.lower())

    def _plain_value(self, value: Any, texts: list[str], depth: int) -> bool:
        """Collect the strings of ``value`` into ``texts``; False if a key rule may apply
        (a secret key, a pair naming a secret, a problem about a secret field) or it
        is nested deeper than ``MAX_DEPTH``."""
        kind = type(value)
        if kind is str:
            texts.append(value)
            return True
        if kind is not dict and kind is not list:  # (exact types first: no ABC check)
            if isinstance(value, str):
                texts.append(value)
                return True
            if not isinstance(value, (Mapping, list, tuple)):
                return True
        if depth >= MAX_DEPTH:
            return False
        secret = self.is_secret_key
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            field = value.get("field")
            if isinstance(field, str):
                for part in field.split("."):
                    if secret(part):
                        return False
            # ``is_secret_key``'s remembered verdicts, read here: a problem's keys
            # (field, expected, ...) are the same few every time.
            verdicts = self._key_verdicts if self.keys is self._verdicts_for else {}
            for key, item in value.items():
                if (type(key) is not str or verdicts.get(key) is not False) and secret(key):
                    return False
                if type(item) is str:
                    texts.append(item)
                elif not self._plain_value(item, texts, depth + 1):
                    return False
            return True
        if len(value) == 2 and secret(value[0]):
            return False
        for item in value:
            if type(item) is str:
                texts.append(item)
            elif not self._plain_value(item, texts, depth + 1):
                return False
        return True

    def _echoes(
        self, message: str, hint: str | None, details: list[Any]
    ) -> tuple[str, str | None, list[Any]]:
        out = []
        for entry in details:
            received = self._echoed_entry(entry)
            if received is None:
                out.append(entry)
                continue
            shown, kind = received, ""
            match = _RECEIVED.match(received)
            if match:
                shown, kind = match.group(1), f" ({match.group(2)})"
            hidden = self.replacement + kind
            message = message.replace(received, hidden)
            if hint:
                hint = hint.replace(received, hidden)
            entry = dict(entry, received=hidden)
            note = entry.get("message")
            if isinstance(note, str):
                for form in (shown, shown[1:-1] if shown[:1] == shown[-1:] == '"' else ""):
                    if len(form) > 2:
                        note = note.replace(form, self.replacement)
                entry["message"] = note
            out.append(entry)
        return message, hint, out

    def _echoed_entry(self, entry: Any) -> str | None:
        """The ``received`` text of a validation problem about a secret field, if any."""
        if not isinstance(entry, Mapping):
            return None
        field, received = entry.get("field"), entry.get("received")
        if (
            not isinstance(field, str)
            or not isinstance(received, str)
            or received.startswith(self.replacement)
            or not any(self.is_secret_key(part) for part in field.split("."))
        ):
            return None
        return received

    def traceback(self, error: ToolError, *, frames: int = 8, limit: int = 8192) -> str | None:
        """The traceback a log line or span shows for ``error``, redacted and capped.

        The error's own, else its exception's (formatted here): the exception's message
        is then the raw one, so values a validation problem echoed are taken out too.
        """
        tb = error.traceback
        exc = error.exception
        if tb is None and exc is not None and exc.__traceback__ is not None:
            tb = format_traceback(exc, frames)
            if self.enabled:
                for entry in getattr(exc, "details", None) or ():
                    received = self._echoed_entry(entry)
                    if received is not None:
                        tb = tb.replace(received, self.replacement)
        return self.capped(tb, limit) if tb else None

    def __repr__(self) -> str:
        if not self.enabled:
            return "Redactor.disabled()"
        return f"<Redactor rules={len(self.rules)} keys={len(self.keys)}>"


_NONE: frozenset[str] = frozenset()


class _Triggers:
    """Which of the rules' triggers occur in a lower-cased text, in one regular-expression
    pass over it (the triggers as a trie) rather than one substring search per trigger:
    the rules run only on text holding one of theirs, and most text holds none.

    The engine stops at each character a trigger starts with; triggers starting with
    the commonest characters of English and JSON text (``e``, ``t``, ``:``) would stop it
    every few characters, so those few are looked for by substring search instead.
    """

    __slots__ = ("closure", "empty", "plain", "search")

    def __init__(self, triggers: Iterable[str]) -> None:
        unique = set(triggers)
        #: An empty trigger is in every text.
        self.empty = "" in unique
        unique.discard("")
        self.plain = tuple(sorted(t for t in unique if t[0] in _COMMON))
        trie = sorted(t for t in unique if t[0] not in _COMMON)
        self.search = re.compile(_trie(trie)).search if trie else None
        #: A match is the longest trigger starting there; those it starts with are there too.
        self.closure = {t: frozenset(p for p in trie if t.startswith(p)) for t in trie}

    def found(self, lowered: str) -> frozenset[str] | set[str]:
        out: set[str] | None = None
        search = self.search
        if search is not None:
            match = search(lowered)
            if match is not None:
                closure = self.closure
                out = set()
                while match is not None:
                    out |= closure[match.group()]
                    match = search(lowered, match.start() + 1)
        for trigger in self.plain:
            if trigger in lowered:
                if out is None:
                    out = set()
                out.add(trigger)
        if self.empty:
            return {""} if out is None else out | {""}
        return _NONE if out is None else out


#: The commonest characters of English and JSON text a trigger starts with (``_Triggers``).
_COMMON = frozenset("et:")


def _trie(words: Sequence[str]) -> str:
    """A regular expression matching any of ``words``, as a trie (each branch starts with a
    distinct character, so the engine tries one per position), longest match first."""
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = None

    def emit(node: dict[str, Any]) -> str:
        branches = []
        for char in sorted(k for k in node if k):
            run, child = [char], node[char]
            while len(child) == 1 and "" not in child:  # a chain of single children
                (next_char,) = child
                run.append(next_char)
                child = child[next_char]
            branches.append(re.escape("".join(run)) + emit(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return emit(tree)


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


@functools.lru_cache(maxsize=4096)
def _norm_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "").replace(".", "").replace(" ", "")


#: ``describe_received``'s form: ``"value" (type)``.
_RECEIVED = re.compile(r"^(.*) \(([a-z]+)\)$", re.DOTALL)


def _hideable(value: Any) -> bool:
    """Values a secret key's value is replaced by the marker for (``None``, flags are kept)."""
    return value is not None and not isinstance(value, bool)


def _pairs(items: Sequence[Any]) -> bool:
    """A list of ``[name, value]`` pairs (a header list written as JSON)?"""
    return bool(items) and all(
        isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
        for item in items
    )


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
