"""Table files: atomic writes, the formula-safe table writer and the contract-table writer.

**Atomic writes.** Every writer of the project (contract tables, rejects, the CRM export, lead
task files) goes through :func:`atomic_write`, so a failing or interrupted write leaves the
previous file intact and never leaves a temporary file behind. A write that was killed (no
``finally`` runs) can leave its private (mode 0600) temporary file: the next write of the same
target removes it first.

**The table writer** (:func:`write_table`, read back with :func:`read_table`) writes every file
people open — the CRM file of ``winback score`` (the only file that carries names and phone
numbers), rejects, monitor and lead files. Three guarantees:

* **Atomic**: the frame is written to a temporary file in the target's own directory and
  moved over the target with :func:`os.replace` (atomic on POSIX and Windows within one file
  system). An interrupted or failing write leaves the previous file untouched and removes its
  temporary file; a reader never sees half a file.
* **Neutralised**: a text cell that a spreadsheet would read as a formula — one starting with
  ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed — gets a leading ``'``
  (the OWASP "CSV injection" advice). This is done in CSV *and* Parquet, because a Parquet file
  is often converted to a spreadsheet downstream. Numbers are numbers, not text: a negative
  uplift stays ``-0.01``. **Phone numbers in international format start with ``+``** (for
  example ``+86-139…``) and are neutralised too (``'+86-139…``): Excel would otherwise read
  ``+86-139-7771-0001`` as the formula 86 − 139 − 7771 − 1. Spreadsheets show the apostrophe
  as a text marker, not as content; a CRM import that needs the raw number strips one leading
  ``'`` from the phone column (:func:`unneutralise` does exactly that).
* **Deterministic**: the frame is written as given (the caller sorts it), with fixed options:
  CSV in UTF-8 with a byte-order mark (so Excel opens Chinese reason texts correctly), RFC 4180
  CRLF line ends and ISO dates; Parquet through pyarrow without the index. The same frame
  gives a byte-identical file.

**Contract tables** (:func:`write_data_dir`) are data, not reports: written as given, without
neutralising, as ``<table>.parquet`` or ``<table>.csv``.
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

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


#: Leading characters that make a spreadsheet treat a cell as a formula (or break the row).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
#: What neutralised cells are prefixed with.
NEUTRAL_PREFIX = "'"
SUFFIXES = (".csv", ".parquet")
CSV_ENCODING = "utf-8-sig"


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c])
        or pd.api.types.is_string_dtype(frame[c])
        or isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to every text cell that starts with a formula character.

    Args:
        frame: Any frame; only text (object, string, categorical) columns are touched.

    Returns:
        A copy with text columns as ``str`` dtype and risky cells neutralised; missing values
        stay missing, numeric columns are unchanged.
    """
    out = frame.copy()
    for col in _text_columns(out):
        s = out[col].astype("str").where(out[col].notna())
        risky = s.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
        out[col] = s.where(~risky, NEUTRAL_PREFIX + s)
    return out


def unneutralise(values: pd.Series) -> pd.Series:
    """Undo :func:`neutralise` on one column read back from an export (e.g. ids, phones)."""
    s = values.astype("str").where(values.notna())
    marked = (
        s.str.startswith(tuple(NEUTRAL_PREFIX + p for p in FORMULA_PREFIXES))
        .fillna(False)
        .astype(bool)
    )
    return s.where(~marked, s.str.slice(len(NEUTRAL_PREFIX)))


def _check_suffix(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise ValueError(f"output must end in .csv or .parquet, got {path.name}")


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    neutralise_text: bool = True,
    date_format: str = "%Y-%m-%d",
) -> Path:
    """Write ``frame`` to ``path`` (CSV or Parquet by suffix) atomically, text neutralised.

    Args:
        frame: The rows, in the order they should appear (written without the index).
        path: Target file, ``.csv`` or ``.parquet``; its directory is created if missing.
        neutralise_text: Apply :func:`neutralise` first (on by default; off only for files
            that are never opened in a spreadsheet).
        date_format: How CSV writes dates (``"%Y-%m-%d %H:%M"`` where the time of day matters).

    Returns:
        The path written.

    Raises:
        ValueError: The suffix is neither ``.csv`` nor ``.parquet``.
    """
    path = Path(path)
    _check_suffix(path)
    data = neutralise(frame) if neutralise_text else frame
    if path.suffix == ".csv":
        # RFC 4180 line ends: with them a cell holding a bare CR or LF is quoted, so it cannot
        # break a row apart (a "\n"-only terminator leaves CR unquoted).
        options = {"encoding": CSV_ENCODING, "lineterminator": "\r\n", "date_format": date_format}
        atomic_write(path, lambda tmp: data.to_csv(tmp, index=False, **options))
    else:
        atomic_write(path, lambda tmp: data.to_parquet(tmp, index=False, engine="pyarrow"))
    logger.info("wrote %d rows to %s", len(frame), path)
    return path


def read_table(path: str | Path, text_columns: tuple[str, ...] = ("customer_id",)) -> pd.DataFrame:
    """Read a file written by :func:`write_table` (CSV or Parquet by suffix).

    Args:
        path: The file.
        text_columns: Columns read as text (ids keep leading zeros) with neutralisation undone.

    Returns:
        The frame.

    Raises:
        ValueError: Bad suffix.
        FileNotFoundError: No such file.
    """
    path = Path(path)
    _check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".csv":
        frame = pd.read_csv(
            path, encoding=CSV_ENCODING, dtype={c: "str" for c in text_columns}, low_memory=False
        )
    else:
        frame = pd.read_parquet(path)
    for col in text_columns:
        if col in frame.columns:
            frame[col] = unneutralise(frame[col])
    return frame


def write_data_dir(
    tables: dict[str, pd.DataFrame], out_dir: str | Path, fmt: str = "parquet"
) -> list[Path]:
    """Write contract tables to ``out_dir/<table>.<fmt>`` deterministically and atomically.

    Args:
        tables: Table name to frame. Frames are written as given (callers sort them).
        out_dir: Target directory, created if missing.
        fmt: ``"parquet"`` or ``"csv"``.

    Returns:
        The written paths, in table-name order.
    """
    if fmt not in {"parquet", "csv"}:
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(tables):
        path = out / f"{name}.{fmt}"
        # Remove a stale twin in the other format so a directory never holds both.
        twin = path.with_suffix(".csv" if fmt == "parquet" else ".parquet")
        if twin.exists():
            twin.unlink()
        frame = tables[name]
        if fmt == "parquet":
            atomic_write(path, lambda tmp, f=frame: f.to_parquet(tmp, index=False))
        else:
            atomic_write(
                path, lambda tmp, f=frame: f.to_csv(tmp, index=False, date_format="%Y-%m-%d")
            )
        written.append(path)
    logger.info("wrote %d tables to %s", len(written), out)
    return written
