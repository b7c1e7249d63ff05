"""Exceptions that carry a one-line message for the user.

Everything the code raises on purpose derives from :class:`HpcNcError`; the CLI turns it
into ``hpc-nc: error: <message>`` and exit status 2 on every rank, never a traceback.
"""


class HpcNcError(Exception):
    """Base class: an error whose message alone tells the user what is wrong."""


class JobFileError(HpcNcError):
    """A job file that is missing, malformed or physically impossible."""


class BuildError(HpcNcError):
    """The PETSc/SLEPc build is missing or has the wrong scalar type."""


class ConvergenceError(HpcNcError):
    """A solver (SLEPc, TAO) did not deliver what was asked for."""


class StructureMissingError(HpcNcError):
    """A relaxed structure needed by the electronic stage is not in the structures file."""
