"""The validated-data directory: a data directory's valid rows and rejects, validated once.

``python -m pipeline.validate DATA_DIR --data-out DIR`` writes, after validating DATA_DIR:

* ``DIR/tables/<table>.parquet``: the valid rows of every table supplied, in the contract's
  dtypes (exactly the frames of :class:`features.contract.DataSet`);
* ``DIR/rejects.parquet``: the data set's rejects frame (every row set aside or value set to
  missing, personal data masked as in memory);
* ``DIR/truth/``: a simulator output's truth folder, copied unchanged (the policy and leads
  stages read the truth next to the data);
* ``DIR/validated.json``: the manifest (:data:`MANIFEST`): manifest version, the contract's
  fingerprint, the read settings used (encoding, column and code mappings,
  ``max_invalid_share``, ``as_of``), the day of the validation, the source directory and the
  sha256 of each of its files, and the sha256 and row count of every file written.

:func:`features.reading.read_data_dir` on such a directory returns the validated data set
without running the row rules again (:func:`read_validated`). A file whose sha256 differs
from the manifest, a manifest of another version or a contract that changed since are errors
naming the file (run the validate stage again). A request the stored result cannot answer
exactly is validated again from the source directory (its files checked against the
manifest first): other read settings, an ``as_of`` date later than the one validated, or an
earlier cut that would set rows aside (a row after the new cut, a date refused as after
tomorrow, a key clash in a dated entity table). An earlier cut that sets nothing aside, the
policy stage's cut at the simulator's last day, is answered from the stored result.

This module imports neither :mod:`features.contract` (which calls it) nor what imports that:
the contract's table specs and its rule for dates after tomorrow come in as arguments, and the
data set goes out as its constructor's keywords.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from features.files import atomic_write
from features.mapping import ReadSettings

logger = logging.getLogger(__name__)

#: The manifest's file name; its presence makes a directory a validated-data directory.
MANIFEST = "validated.json"
#: Version of the directory layout and manifest; a reader refuses any other.
MANIFEST_VERSION = 1
TABLES_DIR = "tables"
REJECTS_FILE = "rejects.parquet"
#: A simulator output's truth folder: not contract data, carried over unchanged.
TRUTH_DIR = "truth"
RULE_CHANGED = "file changed since validation"
RULE_MANIFEST = "unreadable validated-data manifest"


class ValidatedDataError(ValueError):
    """A validated-data directory cannot be trusted: a changed file or a foreign manifest.

    Attributes:
        file: The offending file.
        rule: What is wrong (:data:`RULE_CHANGED` or :data:`RULE_MANIFEST`).
        detail: A sentence saying what was found and what to do.
    """

    def __init__(self, file: Path | str, rule: str, detail: str):
        super().__init__(f"{file}: {rule} — {detail}")
        self.file, self.rule, self.detail = str(file), rule, detail


def is_validated_dir(path: str | Path) -> bool:
    """Whether ``path`` is a validated-data directory (holds :data:`MANIFEST`)."""
    return (Path(path) / MANIFEST).is_file()


def contract_fingerprint(specs: Mapping[str, Any]) -> str:
    """A sha256 of the contract's table specs: changes whenever a table, column or rule does."""
    return hashlib.sha256(repr(sorted(specs.items())).encode()).hexdigest()


def settings_record(
    reading: ReadSettings | None, max_invalid_share: float, as_of: pd.Timestamp | None
) -> dict[str, Any]:
    """The read settings of a validation as the manifest stores (and compares) them."""
    record = {
        **asdict(reading or ReadSettings()),
        "max_invalid_share": float(max_invalid_share),
        "as_of": _day(as_of),
    }
    return json.loads(json.dumps(record, sort_keys=True, default=str))


def write_validated(
    data: Any,
    out_dir: str | Path,
    reading: ReadSettings | None,
    max_invalid_share: float,
    specs: Mapping[str, Any],
) -> Path:
    """Write a validated data set as a validated-data directory (see the module docstring).

    The manifest is removed first and written last, so an interrupted write leaves a
    directory that no reader takes for validated data.

    Args:
        data: The :class:`features.contract.DataSet` read from its source directory.
        out_dir: Target directory, created if missing.
        reading: The read settings ``data`` was read with (None: the defaults).
        max_invalid_share: The ``max_invalid_share`` it was read with.
        specs: The contract's table specs (``features.contract.ALL_TABLES``).

    Returns:
        The manifest's path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    tables_dir = out / TABLES_DIR
    for stale in tables_dir.glob("*.parquet") if tables_dir.is_dir() else ():
        if stale.stem not in data.tables:
            stale.unlink()
    files: dict[str, dict[str, Any]] = {}
    tables: dict[str, dict[str, Any]] = {}
    for name, frame in data.tables.items():
        rel = f"{TABLES_DIR}/{name}.parquet"
        files[rel] = _write_frame(frame, out / rel)
        tables[name] = {
            "file": rel,
            "source_file": data.files[name].name,
            "rows_read": int(data.rows_read[name]),
            "columns_present": list(data.columns_present[name]),
            "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        }
    files[REJECTS_FILE] = _write_frame(data.rejects, out / REJECTS_FILE)
    source = Path(data.source)
    files.update(_copy_truth(source / TRUTH_DIR, out / TRUTH_DIR))
    manifest = {
        "version": MANIFEST_VERSION,
        "contract": contract_fingerprint(specs),
        "settings": settings_record(reading, max_invalid_share, data.as_of),
        "source": {
            "dir": os.path.relpath(source.resolve(), out.resolve()),
            "files": {p.name: _sha256(p) for p in sorted(set(data.files.values()))},
        },
        "tables": tables,
        "rejects": {"file": REJECTS_FILE, "rows": len(data.rejects)},
        "files": files,
    }
    path = out / MANIFEST
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    logger.info("wrote validated data of %s to %s (%d tables)", source, out, len(tables))
    return path


def read_validated(
    root: str | Path,
    as_of: str | pd.Timestamp | None,
    max_invalid_share: float,
    reading: ReadSettings | None,
    specs: Mapping[str, Any],
    future_rule: str,
) -> dict[str, Any] | Path:
    """Read a validated-data directory, or say which source directory to validate instead.

    Args:
        root: The directory holding :data:`MANIFEST`.
        as_of: The as-of date the reader asks for (None: no cut).
        max_invalid_share: The ``max_invalid_share`` the reader asks for.
        reading: The read settings the reader asks for (None: the defaults).
        specs: The contract's table specs (``features.contract.ALL_TABLES``).
        future_rule: The rule of an event dated after tomorrow, checked only without an
            as-of date (``features.checks.RULE_FUTURE``).

    Returns:
        The keywords of the :class:`features.contract.DataSet` that reading the source
        directory with these settings gives, or, when the stored result cannot give exactly
        that, the source directory to validate (its files match the manifest).

    Raises:
        ValidatedDataError: A file differs from its sha256 in the manifest, the manifest is
            unreadable or of another version, the contract changed since, or (when the source
            must be read) the source directory is gone or changed.
    """
    root = Path(root)
    manifest = _load_manifest(root, specs)
    for rel, record in manifest["files"].items():
        _check_file(root / rel, record["sha256"])
    cutoff = None if as_of is None else pd.Timestamp(as_of).normalize()
    stored = manifest["settings"]
    wanted = settings_record(reading, max_invalid_share, cutoff)
    source = Path(os.path.normpath(root / manifest["source"]["dir"]))
    if {k: v for k, v in stored.items() if k != "as_of"} != {
        k: v for k, v in wanted.items() if k != "as_of"
    }:
        return _fallback(root, manifest, source, "other read settings than the validation's")
    tables = {
        name: _read_frame(root / t["file"], t["dtypes"]) for name, t in manifest["tables"].items()
    }
    rejects = pd.read_parquet(root / manifest["rejects"]["file"])
    future = bool((rejects["rule"] == future_rule).any())
    why = _why_not_exact(manifest, tables, rejects, future, cutoff, specs)
    if why:
        return _fallback(root, manifest, source, why)
    logger.info("read validated data from %s", root)
    return {
        "source": source,
        "tables": tables,
        "rejects": rejects,
        "files": {n: source / t["source_file"] for n, t in manifest["tables"].items()},
        "as_of": cutoff,
        "columns_present": {n: tuple(t["columns_present"]) for n, t in manifest["tables"].items()},
        "rows_read": {n: int(t["rows_read"]) for n, t in manifest["tables"].items()},
    }


def _why_not_exact(
    manifest: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    rejects: pd.DataFrame,
    future: bool,
    cutoff: pd.Timestamp | None,
    specs: Mapping[str, Any],
) -> str | None:
    """Why the stored result differs from validating the source at ``cutoff``, or None.

    Validating at an earlier cut sets aside, as "after as-of date", the rows dated after it;
    a row refused as dated after tomorrow (checked only without a cut) would be judged by the
    cut instead; and a key clash in a dated entity table is decided on the rows before the
    cut (one side of the clash may survive). Where none of these can happen the two results
    are the same data set.
    """
    validated = manifest["settings"]["as_of"]
    validated = None if validated is None else pd.Timestamp(validated)
    today = pd.Timestamp.today().normalize()
    if cutoff is None and validated is None:
        # "After tomorrow" moves with the calendar; the manifest keeps no date (the same data
        # validates to the same bytes on any day), so a refusal of that kind is re-judged.
        if future:
            return "rows were refused as dated after tomorrow: judged again today"
        if _latest_event(tables, specs) > today + pd.Timedelta(days=1):
            return "rows are dated after tomorrow"
        return None
    if cutoff == validated:
        return None
    if cutoff is None or (validated is not None and cutoff > validated):
        return f"as-of {_day(cutoff)} is later than the validated as-of {_day(validated)}"
    if future:
        return "rows dated after tomorrow were refused without a cut"
    for name, frame in tables.items():
        spec = specs[name]
        if spec.date_column is None:
            continue
        if bool((frame[spec.date_column].dt.normalize() > cutoff).any()):
            return f"the as-of cut {_day(cutoff)} sets {name} rows aside"
        if spec.unique and bool(
            ((rejects["table"] == name) & (rejects["column"] == spec.key)).any()
        ):
            return f"{name} has rejects on {spec.key} that an earlier cut can change"
    return None


def _latest_event(tables: dict[str, pd.DataFrame], specs: Mapping[str, Any]) -> pd.Timestamp:
    dates = [
        frame[specs[name].date_column].max()
        for name, frame in tables.items()
        if specs[name].date_column is not None and len(frame)
    ]
    dates = [d for d in dates if pd.notna(d)]
    return pd.Timestamp(max(dates)).normalize() if dates else pd.Timestamp.min


def _fallback(root: Path, manifest: dict[str, Any], source: Path, why: str) -> Path:
    """The source directory to validate again, after checking it is the one validated."""
    if not source.is_dir():
        raise ValidatedDataError(
            root / MANIFEST,
            RULE_CHANGED,
            f"this request needs the source directory again ({why}), but {source} is gone",
        )
    for name, sha in manifest["source"]["files"].items():
        _check_file(source / name, sha, what="the source data")
    logger.warning("%s: %s; validating the source %s again", root, why, source)
    return source


def _load_manifest(root: Path, specs: Mapping[str, Any]) -> dict[str, Any]:
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidatedDataError(path, RULE_MANIFEST, str(exc)[:200]) from exc
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        found = manifest.get("version") if isinstance(manifest, dict) else None
        raise ValidatedDataError(
            path,
            RULE_MANIFEST,
            f"manifest version {found!r}, this reader reads version {MANIFEST_VERSION}; "
            "run the validate stage again (python -m pipeline.validate ... --data-out)",
        )
    if manifest.get("contract") != contract_fingerprint(specs):
        raise ValidatedDataError(
            path,
            RULE_MANIFEST,
            "validated under another version of the data contract; run the validate stage "
            "again (python -m pipeline.validate ... --data-out)",
        )
    return manifest


def _check_file(path: Path, sha256: str, what: str = "the validated data") -> None:
    if not path.is_file():
        raise ValidatedDataError(path, RULE_CHANGED, f"missing from {what}")
    if _sha256(path) != sha256:
        raise ValidatedDataError(
            path,
            RULE_CHANGED,
            f"its sha256 differs from the manifest's: {what} changed after validation; "
            "run the validate stage again",
        )


def _write_frame(frame: pd.DataFrame, path: Path) -> dict[str, Any]:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return {"sha256": _sha256(path), "rows": len(frame)}


def _read_frame(path: Path, dtypes: dict[str, str]) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    # Parquet has no type for an all-missing column of some dtypes: restore the stored one.
    wrong = {c: t for c, t in dtypes.items() if str(frame[c].dtype) != t}
    return frame.astype(wrong) if wrong else frame


def _copy_truth(source: Path, target: Path) -> dict[str, dict[str, Any]]:
    if target.exists():
        shutil.rmtree(target)
    if not source.is_dir():
        return {}
    files = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source.parent)
        (target.parent / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target.parent / rel)
        files[rel.as_posix()] = {"sha256": _sha256(path)}
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _day(value: object) -> str | None:
    return None if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"
