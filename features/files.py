"""Atomic file writes: the one place that knows how to replace a file without a torn state.

Every writer of the project (contract tables, rejects, the CRM export, lead task files) goes
through :func:`atomic_write`, so a failing or interrupted write leaves the previous file intact
and never leaves a temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Write ``path`` by calling ``write(tmp)`` on a temporary file, then renaming it over.

    The temporary file sits in the target's own directory (so :func:`os.replace` is atomic on
    POSIX and Windows) and gets the mode a plain ``open()`` would give (mkstemp makes it
    private). On any exception the temporary file is removed and the target is untouched.

    Args:
        path: Target file; its directory is created if missing.
        write: Writes the content to the file name it is given (e.g. ``frame.to_parquet``).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
