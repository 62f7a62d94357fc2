"""The CRM file writer: atomic, formula-injection-safe, deterministic CSV or Parquet.

Used by ``winback score`` (the only file that carries names and phone numbers) and by
``winback monitor``. Three guarantees:

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
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

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


def write_table(frame: pd.DataFrame, path: str | Path, neutralise_text: bool = True) -> Path:
    """Write ``frame`` to ``path`` (CSV or Parquet by suffix) atomically, text neutralised.

    Args:
        frame: The rows, in the order they should appear (written without the index).
        path: Target file, ``.csv`` or ``.parquet``; its directory is created if missing.
        neutralise_text: Apply :func:`neutralise` first (on by default; off only for files
            that are never opened in a spreadsheet).

    Returns:
        The path written.

    Raises:
        ValueError: The suffix is neither ``.csv`` nor ``.parquet``.
    """
    path = Path(path)
    _check_suffix(path)
    data = neutralise(frame) if neutralise_text else frame
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix == ".csv":
            data.to_csv(
                tmp,
                index=False,
                encoding=CSV_ENCODING,
                # RFC 4180 line ends: with them a cell holding a bare CR or LF is quoted, so
                # it cannot break a row apart (a "\n"-only terminator leaves CR unquoted).
                lineterminator="\r\n",
                date_format="%Y-%m-%d",
            )
        else:
            data.to_parquet(tmp, index=False, engine="pyarrow")
        # mkstemp creates the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
