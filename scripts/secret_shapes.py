"""Regenerate ``src/toolsafe/observe/_shapes.py`` from the installed detect-secrets.

    .venv/bin/python scripts/secret_shapes.py > src/toolsafe/observe/_shapes.py
    .venv/bin/ruff format src/toolsafe/observe/_shapes.py

The token shapes of the detect-secrets plugins listed in ``ADOPTED`` are copied as
data (pattern text and flags, unchanged), with the triggers toolsafe uses to skip
a pattern cheaply. ``tests/observe/test_secret_shapes.py`` fails when the data and
the installed detect-secrets (the version pinned in the ``test`` extra) differ.
"""

from __future__ import annotations

import sys

#: plugin class -> (patterns to take (indexes into its denylist; None: all), triggers).
ADOPTED: dict[str, tuple[tuple[int, ...] | None, tuple[str, ...]]] = {
    "AWSKeyDetector": (None, ("a3t", "abia", "acca", "akia", "asia", "aws")),
    "AzureStorageKeyDetector": (None, ("accountkey=",)),
    "GitLabTokenDetector": (
        None,
        (
            "glpat-",
            "gldt-",
            "glft-",
            "glsoat-",
            "glrt-",
            "gr1348941",
            "glcbt-",
            "glimt-",
            "glptt-",
            "glagent-",
            "gloas-",
        ),
    ),
    "JwtTokenDetector": (None, ("eyj",)),
    "MailchimpDetector": (None, ("-us",)),
    "NpmDetector": (None, ("_authtoken",)),
    "OpenAIDetector": (None, ("t3blbkfj",)),
    "PypiTokenDetector": (None, ("pypi-ag",)),
    "SendGridDetector": (None, ("sg.",)),
    "SlackDetector": (None, ("xox", "hooks.slack.com")),
    "SquareOAuthDetector": (None, ("sq0csp-",)),
    "StripeDetector": (None, ("k_live_",)),
}


def shapes() -> list[tuple[str, tuple[str, ...], tuple[tuple[str, int], ...]]]:
    """``(plugin, triggers, ((pattern, flags), ...))`` per adopted plugin, in a stable order."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    by_name = {cls.__name__: cls for cls in get_mapping_from_secret_type_to_class().values()}
    out = []
    for name, (indexes, triggers) in sorted(ADOPTED.items()):
        denylist = list(by_name[name].denylist)
        chosen = indexes if indexes is not None else range(len(denylist))
        patterns = tuple((denylist[i].pattern, int(denylist[i].flags)) for i in chosen)
        out.append((name, triggers, patterns))
    return out


def render() -> str:
    from importlib.metadata import version

    lines = [
        '"""Token shapes adopted as data from detect-secrets (generated: do not edit).',
        "",
        f"Source: detect-secrets {version('detect-secrets')} (Yelp Inc., Apache License 2.0; the",
        "license text is in LICENSES/detect-secrets-Apache-2.0.txt). The patterns are its",
        "plugins' ``denylist`` expressions, unchanged; the triggers are toolsafe's.",
        "Regenerate with ``scripts/secret_shapes.py`` (see its docstring).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "#: (detect-secrets plugin, lower-case triggers, ((pattern, re flags), ...))",
        "SHAPES: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, int], ...]], ...] = (",
    ]
    for name, triggers, patterns in shapes():
        lines.append(f"    ({name!r}, {triggers!r}, {patterns!r}),")
    lines.append(")")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
