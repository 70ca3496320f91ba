"""``python -m toolsafe``: the ``toolsafe`` command, for an environment without its script on PATH."""

from toolsafe.cli import run

run()
