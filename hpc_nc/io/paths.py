"""Where the CLI may write: output paths that never replace a device, FIFO or directory.

Every file the CLI writes (CSV, XYZ, PNG, merged HDF5) goes through ``check_output_path``
first and, where it is written to a temporary name and renamed, through ``atomic_write``.
A symlink is written through to its target; an existing target must be a regular file.
"""

from __future__ import annotations

import contextlib
import os
import stat

from hpc_nc.errors import HpcNcError


def check_output_path(path: str) -> str:
    """The real path to write ``path`` to, or HpcNcError naming why it cannot be written.

    Symlinks resolve to their target; an existing target must be a regular file (never a
    device such as /dev/full, a FIFO or a directory); the folder must exist and be writable.
    """
    try:
        text = os.fsdecode(path)
        text.encode("utf-8")
    except (UnicodeError, TypeError) as exc:
        raise HpcNcError(f"output path {path!r} is not a valid file name") from exc
    real = os.path.realpath(text)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise HpcNcError(f"cannot write {text}: {exc.strerror}") from exc
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise HpcNcError(f"cannot write {text}: it is {kind}; give a regular file path")
    folder = os.path.dirname(real) or "."
    if not os.path.isdir(folder):
        raise HpcNcError(f"cannot write {text}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise HpcNcError(f"cannot write {text}: folder {folder} is not writable")
    return real


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", **kwargs):
    """Open a temporary file next to ``path`` and rename it over ``path`` on success only.

    The target is checked first (``check_output_path``), so the rename can only ever replace
    a regular file; on any error the temporary file is removed and the target is untouched.
    """
    real = check_output_path(path)
    tmp = f"{real}.partial.{os.getpid()}"
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
        os.replace(tmp, real)
    except OSError as exc:
        raise HpcNcError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
