"""The row rules of the data contract: parse, check, set aside, and report every cell.

:func:`validate_tables` turns raw tables (as read from files, or built in memory) into a
validated :class:`features.contract.DataSet`, refusing file-level breaches with one
:class:`features.contract.ContractError` and setting row-level problems aside into rejects.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from features import checks
from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    ALL_TABLES,
    CODE_SEPARATOR,
    CODES,
    DATE,
    ID,
    INTEGER,
    LEAD_TABLES,
    MONTH_DAY,
    PII_COLUMNS,
    PII_MASK,
    REJECT_COLUMNS,
    RULE_AFTER_AS_OF,
    RULE_ALLOWED,
    RULE_DUPLICATE_COLUMN,
    RULE_DUPLICATE_ID,
    RULE_DUPLICATE_KEY,
    RULE_DUPLICATE_ROW,
    RULE_EMPTY_TABLE,
    RULE_MAX,
    RULE_MIN,
    RULE_MISSING,
    RULE_MISSING_COLUMN,
    RULE_MISSING_FILE,
    RULE_MISSING_PARENT,
    RULE_NOT_DATE,
    RULE_NOT_INTEGER,
    RULE_NOT_MONTH_DAY,
    RULE_NOT_NUMBER,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_CUSTOMER,
    RULE_UNKNOWN_LEAD,
    STRING,
    ColumnSpec,
    ContractError,
    DataSet,
    TableSpec,
    Violation,
    spec_required,
    split_codes,
    unknown_codes,
)
from features.files import write_table
from features.mapping import unknown_summary

logger = logging.getLogger(__name__)


def validate_tables(
    raw: dict[str, pd.DataFrame],
    as_of: str | pd.Timestamp | None = None,
    max_invalid_share: float = 0.2,
    files: dict[str, Path] | None = None,
    source: Path | None = None,
    require_rows: bool = True,
) -> DataSet:
    """Validate contract tables given as frames (as read from files, or built in memory).

    File-level breaches (a missing required table or column, an empty required table,
    duplicate or empty customer ids, a column whose values are mostly unparseable or out of
    range) raise one :class:`ContractError` listing every breach found. Row-level problems
    are set aside into ``DataSet.rejects`` and the valid rows go on: an event row breaking a
    rule on a required column is set aside; an invalid value in an optional column is set to
    missing and the row is kept. Customer rows are never set aside, so no customer is lost.

    Args:
        raw: Table name to frame. Values may be text (CSV) or typed (Parquet); names not in
            the contract are ignored.
        as_of: Cut-off date; events dated after it are set aside. None skips the check.
        max_invalid_share: Largest share of a table's rows that may break one format rule
            (parse, range, allowed values) before the column is refused as a whole — a
            systematic problem such as a wrong date format is an error, not a reject.
        files: The file each table came from, for messages; defaults to ``<table>``.
        source: The directory the tables came from, if any.
        require_rows: Refuse an empty required table. False for one partition of a larger
            data set (``pipeline.engine``), where emptiness is checked on the whole set.

    Returns:
        The validated :class:`DataSet`.

    Raises:
        ContractError: The tables break the contract.
    """
    cutoff = None if as_of is None else pd.Timestamp(as_of).normalize()
    files = dict(files or {})
    for name in ALL_TABLES:
        files.setdefault(name, Path(name))
    raw = {name: _normalise_raw(df) for name, df in raw.items() if name in ALL_TABLES}
    violations = _structure_violations(raw, files, source, require_rows)
    if violations:
        raise ContractError(violations)
    tables, problems, violations = _clean_tables(raw, files, max_invalid_share, cutoff)
    if violations:
        raise ContractError(violations)
    data = _data_set(raw, tables, problems, files, source, cutoff)
    n_aside = data.rejects.loc[data.rejects["action"] == ACTION_SET_ASIDE, ["table", "row_number"]]
    logger.info(
        "validated %s: %d tables, %d customers, %d rows set aside, %d values set to missing",
        source or "tables",
        len(tables),
        len(data.customers),
        len(n_aside.drop_duplicates()),
        int((data.rejects["action"] == ACTION_SET_MISSING).sum()),
    )
    return data


def _structure_violations(
    raw: dict[str, pd.DataFrame],
    files: dict[str, Path],
    source: Path | None,
    require_rows: bool,
) -> list[Violation]:
    """Missing tables and columns, repeated columns, empty tables and absent parent tables."""
    violations = []
    for name, spec in ALL_TABLES.items():
        path = files[name]
        if name not in raw:
            if spec.required:
                violations.append(
                    Violation(
                        str(source / f"{name}.parquet") if source else name,
                        RULE_MISSING_FILE,
                        detail=f"expected {name}.parquet or {name}.csv"
                        + (f" in {source}" if source else ""),
                    )
                )
            continue
        header = raw[name].columns
        for col in dict.fromkeys(header[header.duplicated() & header.isin(spec.column_names)]):
            violations.append(
                Violation(
                    str(path),
                    RULE_DUPLICATE_COLUMN,
                    col,
                    "the header names it more than once (ignoring spaces and capitals)",
                )
            )
        missing = [c.name for c in spec.columns if c.required and c.name not in raw[name]]
        for col in missing:
            violations.append(
                Violation(
                    str(path),
                    RULE_MISSING_COLUMN,
                    col,
                    f"found columns: {', '.join(map(str, raw[name].columns)) or 'none'}",
                )
            )
        if require_rows and spec.required and not missing and len(raw[name]) == 0:
            violations.append(Violation(str(path), RULE_EMPTY_TABLE, detail="no data rows"))
        if spec.parent is not None and spec.parent not in raw:
            violations.append(
                Violation(
                    str(path),
                    RULE_MISSING_PARENT,
                    spec.key,
                    f"{name} refers to {spec.parent} by {spec.key}, but no {spec.parent} "
                    "table was supplied",
                )
            )
    return violations


def _clean_tables(
    raw: dict[str, pd.DataFrame],
    files: dict[str, Path],
    max_invalid_share: float,
    cutoff: pd.Timestamp | None,
) -> tuple[dict[str, pd.DataFrame], list[pd.DataFrame], list[Violation]]:
    """Clean every supplied table, then apply its scope rules against the tables before it.

    Returns:
        The valid rows per table, the rejects found (one frame per table and rule kind) and
        the file-level violations.
    """
    violations: list[Violation] = []
    problems: list[pd.DataFrame] = []
    tables: dict[str, pd.DataFrame] = {}
    known_ids: pd.Index | None = None
    known_keys: dict[str, pd.Index] = {}
    for name, spec in ALL_TABLES.items():  # customers first: the others are checked against it
        if name not in raw:
            continue
        df, found, bad = _clean_table(spec, raw[name], files[name], max_invalid_share, cutoff)
        violations += bad
        if name in LEAD_TABLES:
            parent_keys = known_keys.get(spec.parent) if spec.parent else None
            df, scope = _apply_key_rules(spec, df, raw[name], files[name], parent_keys, cutoff)
            found.append(scope)
            if name == "leads":
                df = _fill_lost_date(df)
            known_keys[name] = pd.Index(df[spec.key].dropna().unique())
        elif name == "customers":
            violations += _check_customer_ids(df, raw[name], files[name])
            known_ids = pd.Index(df["customer_id"].dropna().unique())
        elif known_ids is not None:
            df, scope = _apply_scope_rules(spec, df, raw[name], files[name], known_ids, cutoff)
            found.append(scope)
        problems += found
        tables[name] = df
    return tables, problems, violations


def _data_set(
    raw: dict[str, pd.DataFrame],
    tables: dict[str, pd.DataFrame],
    problems: list[pd.DataFrame],
    files: dict[str, Path],
    source: Path | None,
    cutoff: pd.Timestamp | None,
) -> DataSet:
    """The :class:`DataSet` of the cleaned tables, columns in contract order, rejects sorted."""
    for name, df in tables.items():
        # Contract columns first, in contract order; extra columns follow untouched.
        order = ALL_TABLES[name].column_names + [
            c for c in df.columns if c not in ALL_TABLES[name].column_names
        ]
        tables[name] = df[order].reset_index(drop=True)
    rejects = pd.concat([p for p in problems if len(p)] or [_empty_rejects()], ignore_index=True)
    return DataSet(
        source=source if source is not None else Path("."),
        tables=tables,
        rejects=rejects.sort_values(["table", "row_number", "column"], kind="stable").reset_index(
            drop=True
        ),
        files={n: files[n] for n in tables},
        as_of=cutoff,
        columns_present={
            n: tuple(c for c in ALL_TABLES[n].column_names if c in raw[n]) for n in raw
        },
        rows_read={n: len(r) for n, r in raw.items()},
    )


def write_rejects(rejects: pd.DataFrame, path: str | Path) -> Path:
    """Write the rejects table (CSV or Parquet by suffix) with the export writer.

    Atomic and formula-neutralised (:func:`features.files.write_table`, the one writer of
    files people open): a rejected cell holding ``=HYPERLINK(...)`` must not become a link in
    a spreadsheet. Values are already masked; ids shaped like a phone number or a name are
    masked here (in memory they stay, to count a customer's set-aside rows).
    """
    rejects = rejects.assign(
        customer_id=checks.mask_personal(rejects["customer_id"], rejects[[]], (), PII_MASK, True)
    )
    return write_table(rejects, path)


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "row_number" else "str") for c in REJECT_COLUMNS}
    )


def _normalise_raw(df: pd.DataFrame) -> pd.DataFrame:
    # Headers from hand-made exports often carry stray spaces or capitals.
    df = df.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    df.index = pd.RangeIndex(1, len(df) + 1, name="row_number")
    return df


_TZ_SUFFIX = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _parse(col: ColumnSpec, s: pd.Series) -> tuple[pd.Series, str | None]:
    """Parse one raw column to its contract type; returns (values, rule for unparseable)."""
    if col.kind == CODES:
        return _parse_codes(s, col.allowed or ()), RULE_ALLOWED
    if col.kind == MONTH_DAY:
        return checks.parse_month_day(s), RULE_NOT_MONTH_DAY
    if col.kind in (ID, STRING):
        if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
            s = s.astype("Int64")  # ids stored as floats in Parquet: 12.0 means "12"
        text = s.astype("str").where(s.notna()).str.strip()
        if col.allowed is not None:
            # Enumerations are codes, not prose: "Kept" from a hand-made export means "kept".
            text = text.str.lower()
            if col.synonyms:
                text = text.replace(dict(col.synonyms))
        return text.mask(text == ""), None
    if col.kind == DATE:
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(s):
            return s.astype("datetime64[ns]"), RULE_NOT_DATE
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            # Keep the wall-clock time of "Z" / "+08:00" suffixes, as for tz-aware Parquet: a
            # column mixing offsets (or offsets and none) otherwise makes to_datetime raise.
            s = s.astype("str").where(s.notna()).str.replace(_TZ_SUFFIX, r"\1", regex=True)
        parsed = pd.to_datetime(s, errors="coerce", format="ISO8601")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        return parsed.astype("datetime64[ns]"), RULE_NOT_DATE
    values = pd.to_numeric(s, errors="coerce").astype("float64")
    values = values.mask(np.isinf(values))
    if col.kind == INTEGER:
        return values, RULE_NOT_INTEGER
    return values, RULE_NOT_NUMBER


def _parse_codes(s: pd.Series, allowed: tuple[str, ...]) -> pd.Series:
    # Canonical text "a;b" (same for CSV and Parquet, string or list); a cell with an unknown
    # code becomes missing, and the caller reports it as "not in allowed values".
    out = []
    for v in s:
        codes = split_codes(v)
        ok = codes and all(c in allowed for c in codes)
        out.append(CODE_SEPARATOR.join(codes) if ok else None)
    return pd.Series(out, index=s.index, dtype="str").where(lambda x: x.notna())


def _fill_lost_date(leads: pd.DataFrame) -> pd.DataFrame:
    # A lead still lost was lost on its status date; a won lead keeps its lost_date only if
    # it was lost first (a recovered lead).
    leads = leads.copy()
    lost_now = leads["status"].eq("lost") & leads["lost_date"].isna()
    leads.loc[lost_now, "lost_date"] = leads.loc[lost_now, "status_date"]
    return leads


def _value_schema(spec: TableSpec, present: list[ColumnSpec]) -> pa.DataFrameSchema:
    """The pandera schema for parsed values: missing, range and allowed-value rules."""
    columns = {}
    for col in present:
        checks = []
        if col.min is not None:
            bound = pa.Check.gt if col.min_exclusive else pa.Check.ge
            checks.append(bound(col.min, error=RULE_MIN))
        if col.max is not None:
            checks.append(pa.Check.le(col.max, error=RULE_MAX))
        if col.allowed is not None and col.kind != CODES:  # codes are checked while parsing
            checks.append(pa.Check.isin(list(col.allowed), error=RULE_ALLOWED))
        if col.kind == INTEGER:
            checks.append(
                pa.Check(lambda s: s % 1 == 0, element_wise=False, error=RULE_NOT_INTEGER)
            )
        nullable = not col.required if col.nullable is None else col.nullable
        columns[col.name] = pa.Column(checks=checks, nullable=nullable, coerce=False)
    return pa.DataFrameSchema(columns, name=spec.name)


def _clean_table(
    spec: TableSpec,
    raw: pd.DataFrame,
    path: Path,
    max_invalid_share: float,
    cutoff: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, list[pd.DataFrame], list[Violation]]:
    """Type every column, set aside or blank invalid cells, escalate systematic problems."""
    today = pd.Timestamp.today().normalize()
    df = raw.copy()
    present = [c for c in spec.columns if c.name in raw.columns]
    cells = []  # (row_number, column, rule) of every invalid cell
    for col in present:
        parsed, rule = _parse(col, raw[col.name])
        unparseable = parsed.isna() & raw[col.name].notna()
        if col.kind == CODES:  # a blank cell is missing, not a bad code
            unparseable &= raw[col.name].map(lambda v: len(split_codes(v)) > 0).astype(bool)
        if rule is not None and unparseable.any():
            cells.append(_cells(unparseable[unparseable].index, col.name, rule))
        if col.kind == DATE:
            event = col.name == spec.date_column
            for bad, why in checks.date_problems(parsed, event, cutoff, today):
                cells.append(_cells(bad[bad].index, col.name, why))
        df[col.name] = parsed
    try:
        _value_schema(spec, present).validate(df[[c.name for c in present]], lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna() & fc["column"].notna()]
        rule = fc["check"].astype(str).map(_pandera_rule)
        cells.append(
            pd.DataFrame(
                {"row_number": fc["index"].astype("int64"), "column": fc["column"], "rule": rule}
            )
        )
    cells_df = pd.concat(cells, ignore_index=True) if cells else _cells([], "", "")
    # A missing value that failed to parse is reported once, as unparseable.
    cells_df = cells_df.drop_duplicates(["row_number", "column"], keep="first")

    violations = []
    n = max(len(df), 1)
    codes = {c.name: c for c in present if c.kind == CODES}
    enums = {c.name: c for c in present if c.allowed is not None and c.kind != CODES}
    for (column, rule), grp in cells_df.groupby(["column", "rule"], sort=True):
        detail = ""
        values = raw.loc[grp["row_number"].to_numpy(), column] if column in raw else None
        if column in codes:
            bad = unknown_codes(values, codes[column].allowed)
            detail = (
                f"; unknown code(s): {', '.join(repr(c) for c in bad[:10])}"
                f"; allowed: {', '.join(codes[column].allowed)}"
                f" (several codes in one cell are separated by '{CODE_SEPARATOR}')"
                f"; map store codes under validate.codes.{spec.name}.{column} in params.yaml"
            )
        elif column in enums and rule == RULE_ALLOWED:
            found = values.dropna().astype("str").str.strip().str.lower()
            enum = enums[column]
            allowed = (*enum.allowed, *dict.fromkeys(f for f, _ in enum.synonyms))
            detail = "; " + unknown_summary(found, allowed, f"{spec.name}.{column}")
        if len(grp) / n > max_invalid_share and len(grp) > 1:
            violations.append(
                Violation(
                    str(path),
                    RULE_TOO_MANY_INVALID,
                    column,
                    f"rule '{rule}' fails in {len(grp)} of {len(df)} rows "
                    f"({len(grp) / n:.0%} > max_invalid_share {max_invalid_share:.0%})" + detail,
                    _examples(raw, grp["row_number"], [column]),
                )
            )
        elif detail:
            aside = spec.name != "customers" and spec_required(spec, column)
            logger.warning(
                "%s, column '%s': %d %s%s",
                path.name,
                column,
                len(grp),
                "row(s) set aside" if aside else "value(s) set to missing",
                detail,
            )

    required = {c.name for c in present if c.required}
    is_required = cells_df["column"].isin(required)
    if spec.name == "customers":
        # Customer rows are never set aside (no customer may be lost): an invalid id is a
        # file-level error raised by _check_customer_ids, any other invalid cell is blanked.
        is_required = cells_df["column"] == "customer_id"
    aside = cells_df[is_required]
    blank = cells_df[~is_required]
    for column, grp in blank.groupby("column", sort=True):
        df.loc[grp["row_number"].to_numpy(), column] = np.nan
    if spec.name != "customers":
        if len(aside):  # dropping nothing still copies every column
            df = df.drop(index=aside["row_number"].unique())
    for col in spec.columns:
        if col.name not in df.columns:
            df[col.name] = col.default if col.default is not None else np.nan
            if col.kind == DATE:
                df[col.name] = df[col.name].astype("datetime64[ns]")
            elif col.kind in (ID, STRING, MONTH_DAY):
                df[col.name] = df[col.name].astype("str").where(df[col.name].notna())
        elif col.default is not None:
            df[col.name] = df[col.name].fillna(col.default)
    found = [
        _rejects(spec, path, raw, aside, ACTION_SET_ASIDE),
        _rejects(spec, path, raw, blank, ACTION_SET_MISSING),
    ]
    if spec.name == "customers":
        found = found[1:]
    return df, found, violations


def _pandera_rule(check: str) -> str:
    if check == "not_nullable":
        return RULE_MISSING
    for rule in (RULE_MIN, RULE_MAX, RULE_ALLOWED, RULE_NOT_INTEGER):
        if rule in check:
            return rule
    return check


def _check_customer_ids(df: pd.DataFrame, raw: pd.DataFrame, path: Path) -> list[Violation]:
    violations = []
    empty = df.index[df["customer_id"].isna()]
    if len(empty):
        violations.append(
            Violation(
                str(path),
                RULE_MISSING,
                "customer_id",
                f"{len(empty)} customer row(s) without an id",
                _examples(raw, empty, ["customer_id"]),
            )
        )
    dup = df["customer_id"].notna() & df["customer_id"].duplicated(keep=False)
    if dup.any():
        ids = df.loc[dup, "customer_id"]
        violations.append(
            Violation(
                str(path),
                RULE_DUPLICATE_ID,
                "customer_id",
                f"{ids.nunique()} id(s) appear more than once, e.g. "
                + ", ".join(_masked(pd.Series(ids.unique()[:5]), raw, is_id=True)),
                _examples(raw, ids.index, ["customer_id"]),
            )
        )
    return violations


def _apply_scope_rules(
    spec: TableSpec,
    df: pd.DataFrame,
    raw: pd.DataFrame,
    path: Path,
    known_ids: pd.Index,
    cutoff: pd.Timestamp | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Set aside events of unknown customers, after the cut-off, and exact duplicates."""
    found = []
    codes = _customer_codes(df["customer_id"], known_ids)
    unknown = codes < 0
    found.append(_cells(df.index[unknown], "customer_id", RULE_UNKNOWN_CUSTOMER))
    if unknown.any():
        df, codes = df[~unknown], codes[~unknown]
    if cutoff is not None:
        late = (df[spec.date_column].dt.normalize() > cutoff).to_numpy()
        found.append(_cells(df.index[late], spec.date_column, RULE_AFTER_AS_OF))
        if late.any():
            df, codes = df[~late], codes[~late]
    dup = _duplicated_rows(df, spec.date_column, codes)
    found.append(_cells(df.index[dup], "", RULE_DUPLICATE_ROW))
    if dup.any():
        df = df[~dup]
    cells = pd.concat(found, ignore_index=True)
    return df, _rejects(spec, path, raw, cells, ACTION_SET_ASIDE)


def _apply_key_rules(
    spec: TableSpec,
    df: pd.DataFrame,
    raw: pd.DataFrame,
    path: Path,
    parent_keys: pd.Index | None,
    cutoff: pd.Timestamp | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scope rules of a lead table: unknown parent ids, the cut-off, duplicate rows and ids.

    Rows whose key repeats with different content are all set aside: which copy is right
    cannot be told, and the table's key must name one row.
    """
    found = []
    if parent_keys is not None:
        unknown = ~df[spec.key].isin(parent_keys)
        found.append(_cells(df.index[unknown], spec.key, RULE_UNKNOWN_LEAD))
        df = df[~unknown]
    if cutoff is not None and spec.date_column is not None:
        late = df[spec.date_column].dt.normalize() > cutoff
        found.append(_cells(df.index[late], spec.date_column, RULE_AFTER_AS_OF))
        df = df[~late]
    dup = df.duplicated(keep="first")
    found.append(_cells(df.index[dup], "", RULE_DUPLICATE_ROW))
    df = df[~dup]
    if spec.unique:
        clash = df[spec.key].duplicated(keep=False)
        found.append(_cells(df.index[clash], spec.key, RULE_DUPLICATE_KEY))
        df = df[~clash]
    cells = pd.concat(found, ignore_index=True)
    return df, _rejects(spec, path, raw, cells, ACTION_SET_ASIDE)


def _customer_codes(ids: pd.Series, known: pd.Index) -> np.ndarray:
    """Position of each id in ``known``, -1 for an unknown id (Arrow hashing).

    pandas' ``isin`` on Arrow-backed strings converts the lookup set element by element in
    Python, which dominated validation at a million customers.
    """
    codes = pc.index_in(
        pyarrow.array(ids.astype("str")), value_set=pyarrow.array(known.astype("str"))
    )
    return codes.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")


def _duplicated_rows(df: pd.DataFrame, date_column: str, codes: np.ndarray) -> np.ndarray:
    """``df.duplicated(keep="first")``, hashing whole rows only where it can matter.

    Exact duplicates share customer and date, so rows whose (customer, date) pair is unique
    are not hashed as whole rows: the pair is two integers (customer code, day).
    """
    day = df[date_column].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").view("int64")
    day = np.where(day == np.iinfo(np.int64).min, 0, day)  # NaT
    span = int(day.max() - day.min()) + 1 if len(day) else 1
    key = codes * span + (day - (day.min() if len(day) else 0))
    # Same customer and calendar day: a superset of the exact duplicates. A stable sort of
    # one integer key (near-linear on an export sorted by customer and date) and a look at
    # neighbours; hashing tens of millions of keys misses the CPU cache.
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    maybe = np.zeros(len(df), dtype=bool)
    maybe[order[1:][same]] = True
    maybe[order[:-1][same]] = True
    dup = np.zeros(len(df), dtype=bool)
    if maybe.any():
        dup[maybe] = df[maybe].duplicated(keep="first").to_numpy()
    return dup


def _cells(rows, column: str, rule: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_number": pd.Series(np.asarray(rows, dtype="int64")),
            "column": column,
            "rule": rule,
        }
    )


def _rejects(
    spec: TableSpec, path: Path, raw: pd.DataFrame, cells: pd.DataFrame, action: str
) -> pd.DataFrame:
    """Turn invalid cells into rejects rows, with the raw value (masked if personal)."""
    if not len(cells):
        return _empty_rejects()
    rows = cells["row_number"].to_numpy()
    values = pd.Series("", index=cells.index, dtype="str")
    for column, grp in cells.groupby("column", sort=False):
        if column in raw.columns:
            if column in PII_COLUMNS:
                values[grp.index] = PII_MASK
            else:
                vals = raw.loc[grp["row_number"].to_numpy(), column]
                vals = _masked(vals, raw, column in ("customer_id", "lead_id", "event_id"))
                values[grp.index] = vals.where(vals.notna(), "").to_numpy()
    cid = raw["customer_id"].reindex(rows) if "customer_id" in raw.columns else None
    return pd.DataFrame(
        {
            "table": spec.name,
            "file": path.name,
            "row_number": rows,
            "column": cells["column"].to_numpy(),
            "rule": cells["rule"].to_numpy(),
            "action": action,
            "value": values.to_numpy(),
            "customer_id": ""
            if cid is None
            else cid.astype("str").where(cid.notna(), "").to_numpy(),
        }
    )


def _examples(raw: pd.DataFrame, rows, columns: list[str]) -> pd.DataFrame:
    """Up to five offending raw rows: row number, the row's id and the named columns."""
    ids = ["customer_id", "lead_id", "event_id"]
    cols = [c for c in dict.fromkeys([*ids, *columns]) if c in raw.columns]
    ex = raw.loc[list(rows)[:5], cols].reset_index()
    for c in cols:
        ex[c] = PII_MASK if c in PII_COLUMNS else _masked(ex[c], raw, c in ids)
    return ex


def _masked(values: pd.Series, raw: pd.DataFrame, is_id: bool = False) -> pd.Series:
    """``values`` as text, phone-shaped values and the table's own names and phones masked."""
    return checks.mask_personal(values, raw, PII_COLUMNS, PII_MASK, is_id)
