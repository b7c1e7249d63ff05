"""Collective error agreement: every rank of a communicator takes the same branch."""

from __future__ import annotations


def agree_on_error(comm, error: str | None) -> str | None:
    """Collective: the first non-None error message over the ranks of ``comm``, or None.

    Every rank gets the same answer, so all ranks of a group take the same branch afterwards.
    """
    messages = comm.allgather(error)
    return next((m for m in messages if m is not None), None)
