"""Benchmarks: ``python -m bench [name ...]`` (or ``make bench``) writes BENCHMARKS.md."""
