"""Token shapes adopted as data from detect-secrets (generated: do not edit).

Source: detect-secrets 1.5.0 (Yelp Inc., Apache License 2.0; the
license text is in LICENSES/detect-secrets-Apache-2.0.txt). The patterns are its
plugins' ``denylist`` expressions, unchanged; the triggers are toolsafe's.
Regenerate with ``scripts/secret_shapes.py`` (see its docstring).
"""

from __future__ import annotations

#: (detect-secrets plugin, lower-case triggers, ((pattern, re flags), ...))
SHAPES: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, int], ...]], ...] = (
    (
        "AWSKeyDetector",
        ("a3t", "abia", "acca", "akia", "asia", "aws"),
        (
            ("(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}", 32),
            (
                "aws.{0,20}?(?:key|pwd|pw|password|pass|token).{0,20}?[\\'\\\"]([0-9a-zA-Z/+]{40})[\\'\\\"]",
                34,
            ),
        ),
    ),
    ("AzureStorageKeyDetector", ("accountkey=",), (("AccountKey=[a-zA-Z0-9+\\/=]{88}", 32),)),
    (
        "GitLabTokenDetector",
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
        (
            ("(glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_\\-]{20,50}(?!\\w)", 32),
            ("GR1348941[A-Za-z0-9_\\-]{20,50}(?!\\w)", 32),
            ("glcbt-([0-9a-fA-F]{2}_)?[A-Za-z0-9_\\-]{20,50}(?!\\w)", 32),
            ("glimt-[A-Za-z0-9_\\-]{25}(?!\\w)", 32),
            ("glptt-[A-Za-z0-9_\\-]{40}(?!\\w)", 32),
            ("glagent-[A-Za-z0-9_\\-]{50,1024}(?!\\w)", 32),
            ("gloas-[A-Za-z0-9_\\-]{64}(?!\\w)", 32),
        ),
    ),
    (
        "JwtTokenDetector",
        ("eyj",),
        (("eyJ[A-Za-z0-9-_=]+\\.[A-Za-z0-9-_=]+\\.?[A-Za-z0-9-_.+/=]*?", 32),),
    ),
    ("MailchimpDetector", ("-us",), (("[0-9a-z]{32}-us[0-9]{1,2}", 32),)),
    (
        "NpmDetector",
        ("_authtoken",),
        (("\\/\\/.+\\/:_authToken=\\s*((npm_.+)|([A-Fa-f0-9-]{36})).*", 32),),
    ),
    (
        "OpenAIDetector",
        ("t3blbkfj",),
        (("sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", 32),),
    ),
    (
        "PypiTokenDetector",
        ("pypi-ag",),
        (
            ("pypi-AgEIcHlwaS5vcmc[A-Za-z0-9-_]{70,}", 32),
            ("pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9-_]{70,}", 32),
        ),
    ),
    ("SendGridDetector", ("sg.",), (("SG\\.[a-zA-Z0-9_-]{22}\\.[a-zA-Z0-9_-]{43}", 32),)),
    (
        "SlackDetector",
        ("xox", "hooks.slack.com"),
        (
            ("xox(?:a|b|p|o|s|r)-(?:\\d+-)+[a-z0-9]+", 34),
            (
                "https://hooks\\.slack\\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+",
                98,
            ),
        ),
    ),
    ("SquareOAuthDetector", ("sq0csp-",), (("sq0csp-[0-9A-Za-z\\\\\\-_]{43}", 32),)),
    ("StripeDetector", ("k_live_",), (("(?:r|s)k_live_[0-9a-zA-Z]{24}", 32),)),
)
