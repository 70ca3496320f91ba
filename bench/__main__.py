"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench core pipeline``.

Each ``bench/bench_<name>.py`` defines ``run() -> Report``; its fragment is saved
under ``bench/results/`` and BENCHMARKS.md is re-assembled from all fragments.
Benchmarks run in separate processes so one cannot skew another's memory figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench._report import ROOT, assemble


def _names() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = argv or _names()
    unknown = sorted(set(names) - set(_names()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(_names())}")
        return 2
    failed = []
    for name in names:
        print(f"== bench {name}", flush=True)
        code = subprocess.call(
            [sys.executable, "-c", f"from bench.bench_{name} import run; run().save()"],
            cwd=ROOT,
        )
        if code:
            failed.append(name)
    out = assemble()
    print(f"wrote {Path(out).relative_to(ROOT)}")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
