"""The ``toolsafe`` command's exit codes: decided here and nowhere else.

The CLI shell (``toolsafe.cli``), its commands (``toolsafe._cli.*``) and the doctor's
report (``DoctorReport.exit_code``) all read these names; none writes a literal.
This module imports nothing, so any layer may use it.

    0    clean / success
    1    problems found, or something could not be examined (doctor, lint, stress),
         or replayed calls changed
    2    usage error (bad path, bad option, unknown module or tool)
    3    internal error (a bug in toolsafe: please report it)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "for_findings",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def for_findings(*, problems: bool, unexamined: bool = False) -> int:
    """The exit code of a check: 1 when it found problems or could not examine everything.

    "Could not examine" counts as a failure on purpose: a CI gate that passes because a
    file failed to import, or because no call of a tool ever succeeded, proves nothing.
    """
    return EXIT_PROBLEMS if problems or unexamined else EXIT_OK
