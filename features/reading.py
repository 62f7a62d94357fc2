"""Reading a data directory: locate each table's CSV or Parquet file, decode, map, validate.

:func:`read_data_dir` finds ``<table>.parquet`` or ``<table>.csv`` for every contract table,
reads it with the configured encoding, applies the store's header and code mappings
(:mod:`features.mapping`) and hands the frames to :func:`features.validation.validate_tables`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import checks, validated
from features.contract import (
    ALL_TABLES,
    CODE_SEPARATOR,
    INTEGER,
    NUMBER,
    RULE_AMBIGUOUS_FILE,
    RULE_BAD_SETTING,
    RULE_UNREADABLE,
    ContractError,
    DataSet,
    Violation,
)
from features.mapping import (
    EncodingProblem,
    ReadSettings,
    apply_mapping,
    read_csv,
    setting_problems,
)
from features.validation import validate_tables

_SUFFIXES = (".parquet", ".csv")


def read_data_dir(
    data_dir: str | Path,
    as_of: str | pd.Timestamp | None = None,
    max_invalid_share: float = 0.2,
    require_rows: bool = True,
    reading: ReadSettings | None = None,
) -> DataSet:
    """Read a data directory and validate it against the contract.

    Args:
        data_dir: Directory with ``<table>.parquet`` or ``<table>.csv`` files, or a
            validated-data directory (``validated.json``, :mod:`features.validated`): its
            stored result is returned when it is what validating its source gives.
        as_of: Cut-off date; events dated after it are set aside. None skips the check.
        max_invalid_share: See :func:`validate_tables`.
        require_rows: See :func:`validate_tables`.
        reading: The CSV encoding and the store header and code mappings (the
            ``validate:`` params block, :class:`features.mapping.ReadSettings`), applied
            after reading and before validation. None: UTF-8, no mapping.

    Returns:
        The validated :class:`DataSet`.

    Raises:
        ContractError: The directory breaks the contract (see :func:`validate_tables`).
    """
    reading = reading or ReadSettings()
    check_settings(reading)
    root = Path(data_dir)
    if validated.is_validated_dir(root):  # validated once (docs/data_contract.md): reuse it
        try:
            found = validated.read_validated(
                root, as_of, max_invalid_share, reading, ALL_TABLES, checks.RULE_FUTURE
            )
        except validated.ValidatedDataError as exc:
            raise ContractError([Violation(exc.file, exc.rule, detail=exc.detail)]) from exc
        if isinstance(found, dict):
            return DataSet(**found)
        root = found  # a request the stored result cannot answer exactly: the source
    if not root.is_dir():
        raise ContractError([Violation(str(root), "data directory not found")])
    files, violations = _locate_files(root)
    raw: dict[str, pd.DataFrame] = {}
    for name, path in files.items():
        try:
            raw[name] = _read_raw(path, reading.encoding)
        except EncodingProblem as exc:
            violations.append(Violation(str(path), RULE_UNREADABLE, detail=str(exc)))
        except Exception as exc:  # any reader failure is the file's fault, reported as such
            violations.append(Violation(str(path), RULE_UNREADABLE, detail=str(exc)[:200]))
    if violations:
        raise ContractError(violations)
    raw = apply_mapping(raw, reading, ALL_TABLES, CODE_SEPARATOR)
    for name, frame in raw.items():  # booleans in a numeric column would read as 0/1
        numeric = [c.name for c in ALL_TABLES[name].columns if c.kind in (NUMBER, INTEGER)]
        if files[name].suffix == ".parquet":
            violations += [
                Violation(str(files[name]), checks.RULE_WRONG_TYPE, col, detail)
                for col, detail in checks.parquet_type_problems(frame, numeric)
            ]
    if violations:
        raise ContractError(violations)
    return validate_tables(
        raw, as_of, max_invalid_share, files=files, source=root, require_rows=require_rows
    )


def _locate_files(root: Path) -> tuple[dict[str, Path], list[Violation]]:
    files: dict[str, Path] = {}
    violations = []
    for name in ALL_TABLES:
        found = [root / f"{name}{s}" for s in _SUFFIXES if (root / f"{name}{s}").is_file()]
        if len(found) > 1:
            violations.append(
                Violation(
                    str(root / name),
                    RULE_AMBIGUOUS_FILE,
                    detail=f"both {found[0].name} and {found[1].name} exist; keep one",
                )
            )
        elif found:
            files[name] = found[0]
    return files, violations


def check_settings(reading: ReadSettings) -> None:
    """Refuse reading settings that name what the contract does not have.

    Raises:
        ContractError: One violation per unknown table, column, code or encoding.
    """
    problems = setting_problems(reading, ALL_TABLES)
    if problems:
        raise ContractError([Violation(where, RULE_BAD_SETTING, detail=d) for where, d in problems])


def _read_raw(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    if path.suffix == ".csv":
        return read_csv(path, encoding)
    return pd.read_parquet(path)
