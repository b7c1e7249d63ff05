"""The PETSc options scope of a solve: job-file options live only while the solve runs.

Options from the job file (``petsc_options``, without leading "-") are inserted into
PETSc's options database only where the command line did not set them, and exactly those
are removed on exit, so a later task or strategy never sees them. Each backend opens its own
scope with its own defaults (the davidson preconditioner's, prefix ``davidson_``, live in
hpc_nc/solvers/davidson.py; SLEPc's are SLEPc's).
"""

from __future__ import annotations

from collections.abc import Mapping


def as_option_value(value: object) -> str | None:
    """The database string of a job-file option value (None: a flag)."""
    if value is None or value is True:
        return None  # a flag
    if value is False:
        return "false"
    return str(value)


class OptionsScope:
    """Insert options the command line did not give; remove exactly those on exit."""

    def __init__(self, PETSc, options: Mapping[str, object]):
        self._db = PETSc.Options()
        self._inserted: list[str] = []
        self._options = dict(options)

    def __enter__(self):
        for key, value in self._options.items():
            name = str(key).lstrip("-")
            if not self._db.hasName(name):
                self._db.setValue(name, as_option_value(value))
                self._inserted.append(name)
        return self

    def __exit__(self, *exc):
        for name in self._inserted:
            self._db.delValue(name)
        return False
