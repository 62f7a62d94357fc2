"""Atomic file writes: the one place that knows how to replace a file without a torn state.

Every writer of the project (contract tables, rejects, the CRM export, lead task files) goes
through :func:`atomic_write`, so a failing or interrupted write leaves the previous file intact
and never leaves a temporary file behind. A write that was killed (no ``finally`` runs) can leave
its private (mode 0600) temporary file: the next write of the same target removes it first.
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Write ``path`` by calling ``write(tmp)`` on a temporary file, then renaming it over.

    The temporary file sits in the target's own directory (so :func:`os.replace` is atomic on
    POSIX and Windows) and gets the mode a plain ``open()`` would give (mkstemp makes it
    private). On any exception the temporary file is removed and the target is untouched.
    Temporary files of the same target left by a killed earlier write are removed first (so
    two processes must not write the same target at the same time).

    Args:
        path: Target file; its directory is created if missing.
        write: Writes the content to the file name it is given (e.g. ``frame.to_parquet``).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno is None:
            raise
        # Name the target, not the temporary file (OSError picks the subclass from errno).
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted :func:`atomic_write` of ``path`` left behind.

    Args:
        path: The target file; only ``.<name>.<random>.tmp`` files next to it are touched.

    Returns:
        The files removed.
    """
    path = Path(path)
    stale = [Path(p) for p in glob.glob(str(path.parent / f".{glob.escape(path.name)}.*.tmp"))]
    for p in stale:
        p.unlink(missing_ok=True)
    if stale:
        logger.warning("removed %d stale temporary file(s) of %s", len(stale), path)
    return stale
