"""Chaos at full size (issue 12): 100,000 calls mixing hostile arguments with hangs,
crashes, huge and unserializable outputs and stuck sync threads (``make chaos``).

The engine is ``tests/chaos/_chaos.py`` (its small run is in ``make test``).
"""

from __future__ import annotations

import json
import sys

from bench._report import ROOT, Report, run_json

CALLS = 100_000


def run() -> Report:
    report = Report("10_chaos", "Chaos: 100,000 hostile calls (issue 12)")
    figures = run_json(["-c", _CASE.format(calls=CALLS)], timeout=1800)
    problems = figures["problems"]
    idle = figures["idle_late_max_ms"]
    report.text(
        "One runtime (`timeout=0.2`, `max_output_chars=4000`), calls in batches of 1,000 "
        "concurrent `acall`s: 30% plain, 22% hostile arguments (100,000-deep JSON, "
        "5,000-digit integers, NaN, lone surrogates, 5,000 unknown keys, malformed JSON, "
        "500-deep dicts), 12% crashes (raising `__str__`, raising `headers`, 1 MB "
        "messages), 12% hostile outputs (2 MB text, unserializable, 3,000-deep, "
        "surrogates, NaN, 5,000-digit ints), 10% short sync sleeps, 8% async hangs, "
        "4% sync bodies stuck 0.6 s past their timeout, 2% unknown (up to 100 kB) names. "
        "Then timeouts one at a time on an idle loop. Lateness: a timed-out call's "
        "`elapsed_ms` minus its 200 ms timeout."
    )
    report.table(
        ["figure", "value", "target"],
        [
            ["calls", f"{figures['calls']:,}", "≥ 100,000"],
            [
                "ended in a result or a parseable structured error",
                f"{figures['structured']:,}",
                "100%",
            ],
            ["problems (raised, unparseable, not UTF-8, NaN text, > 20k chars)", problems, "0"],
            ["results / errors", f"{figures['ok']:,} / {figures['calls'] - figures['ok']:,}", ""],
            ["timeouts", f"{figures['timeouts']:,}", ""],
            [
                "lateness under saturation p50 / p99 / max ms",
                f"{figures['late_p50_ms']} / {figures['late_p99_ms']} / {figures['late_max_ms']}",
                "reported",
            ],
            [
                "lateness on an idle loop p50 / max ms",
                f"{figures['idle_late_p50_ms']} / {idle}",
                "max ≤ 50 ms",
            ],
            ["longest model-facing text, chars", f"{figures['max_text_chars']:,}", "bounded"],
            [
                "RSS after warm-up / at end / max, MB",
                " / ".join(map(str, figures["rss_mb_first_last_max"])),
                "bounded",
            ],
            [
                "open fds after warm-up / at end / max",
                " / ".join(map(str, figures["fds_first_last_max"])),
                "bounded",
            ],
            ["threads counted stuck after the run", figures["stuck_after"], "0"],
            ["wall seconds", figures["seconds"], ""],
        ],
    )
    report.text(
        "Errors by type: " + ", ".join(f"{k} {v:,}" for k, v in figures["errors"].items()) + "."
    )
    ok = (
        problems == 0
        and figures["structured"] == figures["calls"]
        and idle is not None
        and idle <= 50
    )
    report.text(f"Verdict: {'PASS' if ok else 'FAIL'}.")
    if not ok:
        report.save()
        print(json.dumps(figures), file=sys.stderr)
        raise SystemExit(1)
    return report


_CASE = (
    "import json, sys; sys.path.insert(0, 'tests/chaos'); import _chaos; "
    "print(json.dumps(_chaos.summary(_chaos.run_chaos({calls}, batch=1000, concurrency=1000, "
    "idle_calls=40))))"
)

assert ROOT.joinpath("tests", "chaos", "_chaos.py").exists()
