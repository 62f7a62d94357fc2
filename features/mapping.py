"""Reading a dealer's own export: text encoding, store column names and store codes.

Dealer systems export CSV files in their own encoding (often GB18030/GBK, sometimes Big5 or
UTF-16), under their own headers (``客户编号``, ``进厂日期``, ``金额``) and with their own codes
(``保养``, ``钣喷``). The ``validate:`` block of params.yaml says how to read them
(docs/data_contract.md, "Reading a store's export")::

    validate:
      encoding: utf-8                  # any Python codec name, e.g. gb18030
      columns:                         # store header -> contract column, per table
        service_visits: {进厂日期: visit_date, 金额: amount}
      codes:                           # store code -> contract code, per table and column
        service_visits: {visit_type: {保养: maintenance, 钣喷: accident}}

The mapping is applied right after a file is read and before it is validated, so the
contract's rules (and its rejects) see contract names and codes. This module does not import
:mod:`features.contract` (:mod:`features.reading` calls it); the table specs are passed in.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_ENCODING = "utf-8"
#: Where the settings live, for messages.
PARAMS_BLOCK = "validate"
#: How many distinct unknown codes a message lists.
MAX_LISTED = 10
#: Bytes of a file looked at to guess its encoding.
_SNIFF_BYTES = 256_000
#: What dealer systems export besides UTF-8; the detector only weighs these (on a short file
#: an unrestricted guess is often a Korean or Japanese codepage).
_LIKELY_CODECS = ("utf_16", "utf_32", "gb18030", "big5", "cp1252")
#: Guesses of the detector that are better named by their superset.
_CODEC_NAMES = {"gb2312": "gb18030", "gbk": "gb18030", "hz": "gb18030", "cp936": "gb18030"}


class EncodingProblem(ValueError):
    """A CSV file is not valid text in the configured encoding; the message says what to do.

    Attributes:
        path: The file.
    """

    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ReadSettings:
    """How to read a data directory's files before they are validated.

    Attributes:
        encoding: Codec of every CSV file (any Python codec name). ``utf-8`` also reads a
            file that starts with a UTF-8 byte-order mark. Parquet files are always UTF-8.
        columns: Per table, store header -> contract column (headers are matched ignoring
            surrounding spaces and capitals).
        codes: Per table and contract column, store code -> contract code (codes are matched
            ignoring surrounding spaces and capitals).
    """

    encoding: str = DEFAULT_ENCODING
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    codes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_params(cls, block: Mapping[str, Any] | None) -> ReadSettings:
        """The settings of a ``validate:`` params block (absent keys take their defaults).

        Args:
            block: The block as loaded from params.yaml; other keys are ignored.

        Returns:
            The settings, not yet checked against the contract (see :func:`setting_problems`).
        """
        block = dict(block or {})
        encoding = block.get("encoding")
        return cls(
            encoding=DEFAULT_ENCODING if encoding in (None, "") else str(encoding),
            columns=block.get("columns") or {},
            codes=block.get("codes") or {},
        )

    def without_columns(self) -> ReadSettings:
        """The same settings with no header mapping (for files whose headers are mapped)."""
        return replace(self, columns={})


def _norm(value: object) -> str:
    return str(value).strip().lower()


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


# --- checking the settings -------------------------------------------------------------------


def setting_problems(settings: ReadSettings, specs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Everything wrong with ``settings`` against the contract, as (where, what) pairs.

    Args:
        settings: The settings to check.
        specs: Contract table name -> ``TableSpec`` (``columns`` with ``name`` and
            ``allowed``).

    Returns:
        One ``("validate.codes.service_visits.visit_type", "...")`` pair per problem; empty
        when the settings are usable.
    """
    problems: list[tuple[str, str]] = []
    try:
        codecs.lookup(settings.encoding)
    except LookupError:
        problems.append(
            (
                f"{PARAMS_BLOCK}.encoding",
                f"unknown encoding {settings.encoding!r}; use a Python codec name such as "
                "utf-8, gb18030, big5 or utf-16",
            )
        )
    tables = ", ".join(specs)
    for key, section in (("columns", settings.columns), ("codes", settings.codes)):
        if not isinstance(section, Mapping):
            problems.append((f"{PARAMS_BLOCK}.{key}", "expected a mapping of table names"))
            continue
        for table, body in section.items():
            where = f"{PARAMS_BLOCK}.{key}.{table}"
            if table not in specs:
                problems.append((where, f"not a contract table; tables: {tables}"))
            elif not isinstance(body, Mapping):
                problems.append((where, "expected a mapping"))
            elif key == "columns":
                problems += _column_problems(where, body, specs[table])
            else:
                problems += _code_problems(where, body, specs[table])
    return problems


def _column_problems(where: str, body: Mapping, spec: Any) -> list[tuple[str, str]]:
    names = [c.name for c in spec.columns]
    out = []
    for store, target in body.items():
        if not isinstance(target, str) or target.strip().lower() not in names:
            out.append(
                (
                    where,
                    f"{str(store)!r} maps to {target!r}, not a column of {spec.name}; "
                    f"its columns: {', '.join(names)}",
                )
            )
    return out


def _code_problems(where: str, body: Mapping, spec: Any) -> list[tuple[str, str]]:
    coded = {c.name: c for c in spec.columns if c.allowed is not None}
    out = []
    for column, codes in body.items():
        here = f"{where}.{column}"
        if column not in coded:
            out.append(
                (
                    here,
                    f"not a coded column of {spec.name}; its coded columns: "
                    f"{', '.join(coded) or 'none'}",
                )
            )
            continue
        if not isinstance(codes, Mapping):
            out.append((here, "expected a mapping of store code to contract code"))
            continue
        allowed = coded[column].allowed
        for store, target in codes.items():
            if isinstance(target, bool):
                out.append(
                    (
                        here,
                        f"{str(store)!r} maps to {target!r}: YAML reads yes/no/on/off unquoted "
                        "as true/false; quote the code, e.g. 'yes'",
                    )
                )
            elif not isinstance(target, str) or _norm(target) not in allowed:
                out.append(
                    (
                        here,
                        f"{str(store)!r} maps to {target!r}, not an allowed value; "
                        f"allowed: {', '.join(allowed)}",
                    )
                )
    return out


# --- reading and mapping ---------------------------------------------------------------------


def read_csv(path: str | Path, encoding: str = DEFAULT_ENCODING) -> pd.DataFrame:
    """Read a contract CSV file as text (every cell a string), in ``encoding``.

    Args:
        path: The file.
        encoding: Its codec; ``utf-8`` also accepts a UTF-8 byte-order mark.

    Returns:
        The raw frame, every value as text. A header naming a column twice keeps both names
        as written (pandas would rename the second ``amount.1``), so the contract can refuse it.

    Raises:
        EncodingProblem: The file is not valid text in ``encoding``; the message names the
            file, the encoding it looks like and how to convert or read it.
    """
    codec = "utf-8-sig" if _is_utf8(encoding) else encoding
    try:
        # Everything as text: ids keep leading zeros and each cell is parsed (and blamed) later.
        frame = pd.read_csv(path, dtype=str, encoding=codec, skipinitialspace=True)
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, encoding=codec)
        names = [str(n).strip() for n in first.iloc[0]] if len(first) else []
        if len(names) == len(frame.columns) and len(set(names)) < len(names):
            frame.columns = names
        return frame
    except UnicodeError as exc:
        raise EncodingProblem(Path(path), encoding_advice(Path(path), encoding, exc)) from exc


def guess_encoding(data: bytes) -> str | None:
    """The codec ``data`` most likely is in (``gb18030``, ``big5``, ``utf-16``, ...), or None.

    Byte-order marks first, then ``charset_normalizer`` weighing
    UTF-16, UTF-32, GB18030, Big5 and CP1252, else the first of UTF-16, GB18030 and Big5 that
    decodes the bytes. A guess is returned only if it decodes the sample.
    """
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return name
    sample = data[:_SNIFF_BYTES]
    candidates: list[str] = []
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=list(_LIKELY_CODECS)).best()
    if best is not None:
        candidates.append(best.encoding)
    if b"\x00" in sample[:1000]:
        candidates.append("utf-16")
    candidates += ["gb18030", "big5"]
    for name in candidates:
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue
        codec = _CODEC_NAMES.get(codec, codec)
        if codec == "utf-8":
            continue
        try:
            sample.decode(codec, errors="strict")
        except UnicodeDecodeError as exc:
            # The sample may end inside a multi-byte character; anything earlier is fatal.
            if exc.start < len(sample) - 4:
                continue
        return codec
    return None


def encoding_advice(path: Path, encoding: str, exc: UnicodeError | None = None) -> str:
    """The message for a CSV file that is not valid text in ``encoding``.

    Names the encoding expected, where decoding failed, the encoding the file looks like
    (with its decoded header row, which holds column names, never personal data) and how
    to convert the file or read it as it is.
    """
    data = path.read_bytes() if path.is_file() else b""
    expected = codecs.lookup(encoding).name if not _is_utf8(encoding) else "utf-8"
    where = ""
    if isinstance(exc, UnicodeDecodeError):
        where = f" (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    text = f"not valid {expected.upper()} text{where}"
    guess = guess_encoding(data)
    if guess is not None and guess != expected:
        header = data.split(b"\n", 1)[0] if not guess.startswith("utf-") else data[:400]
        first = header.decode(guess, errors="replace").lstrip("\ufeff").splitlines()
        shown = first[0].strip()[:80] if first else ""
        text += (
            f"; it looks like {guess.upper()}"
            + (f" (header: {shown})" if shown else "")
            + f". Convert it with `iconv -f {guess.upper()} -t UTF-8 {path.name} > "
            f"{path.stem}.utf8.csv` (then replace the file), or read it as it is with "
            f"`encoding: {guess}` in the {PARAMS_BLOCK} block of params.yaml"
        )
    else:
        text += (
            "; its encoding was not recognised. Export it as UTF-8, or set `encoding:` in the "
            f"{PARAMS_BLOCK} block of params.yaml to its codec name (e.g. gb18030, big5, "
            "utf-16)"
        )
    return text + " (the setting applies to every CSV file of the directory)"


def mapped_header(names: Iterable[object], table: str, settings: ReadSettings) -> list[str]:
    """The header with store column names replaced by contract names (others unchanged)."""
    mapping = {_norm(k): str(v).strip().lower() for k, v in settings.columns.get(table, {}).items()}
    names = [str(n) for n in names]
    if not mapping:
        return names
    return [mapping.get(_norm(n), n) for n in names]


def apply_mapping(
    raw: dict[str, pd.DataFrame], settings: ReadSettings, specs: Mapping[str, Any], sep: str
) -> dict[str, pd.DataFrame]:
    """Rename store headers and replace store codes, table by table.

    Args:
        raw: Table name -> frame as read.
        settings: Checked settings (:func:`setting_problems` found nothing).
        specs: Contract table specs (to tell multi-code columns: kind ``codes``).
        sep: The separator of several codes in one cell.

    Returns:
        New frames for the tables that have a mapping; the others as given. Codes not in
        the mapping are left exactly as they were (the contract's rules then apply).
    """
    out = dict(raw)
    for table, df in raw.items():
        cols = settings.columns.get(table)
        codes = settings.codes.get(table)
        if not cols and not codes:
            continue
        df = df.copy()
        if cols:
            df.columns = mapped_header(df.columns, table, settings)
            renamed = [n for n in df.columns if n not in raw[table].columns]
            logger.info("%s: store headers mapped to %s", table, ", ".join(renamed) or "none")
        normalised = {_norm(c): c for c in df.columns}
        spec_cols = {c.name: c for c in specs[table].columns}
        for column, mapping in (codes or {}).items():
            name = normalised.get(column)
            if name is None or not mapping:
                continue
            lookup = {_norm(k): _norm(v) for k, v in mapping.items()}
            multi = spec_cols[column].kind == "codes"
            df[name] = _map_codes(df[name], lookup, sep if multi else None)
        out[table] = df
    return out


def _map_codes(s: pd.Series, lookup: dict[str, str], sep: str | None) -> pd.Series:
    """Replace store codes; a value not in ``lookup`` keeps its original text."""

    def one(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return value
        if sep is None:
            return lookup.get(_norm(value), value)
        parts = list(value) if isinstance(value, list | tuple | np.ndarray) else None
        parts = parts if parts is not None else str(value).split(sep)
        return sep.join(lookup.get(_norm(p), str(p).strip()) for p in parts if str(p).strip())

    uniques = pd.unique(s.dropna()) if sep is None else None
    if uniques is not None:
        table = {u: one(u) for u in uniques}
        return s.map(table).where(s.notna(), s).astype("object")
    return s.map(one).astype("object")


# --- describing unknown codes ----------------------------------------------------------------


def unknown_summary(codes: Iterable[str], allowed: Iterable[str], where: str) -> str:
    """``unknown value(s): '保养' (12), 'x' (1); allowed: ...; map store codes with ...``.

    Args:
        codes: Every unknown code found (normalised), one entry per occurrence.
        allowed: The column's allowed values.
        where: ``table.column``, to name the params key of the mapping.

    Returns:
        The text, listing the ``MAX_LISTED`` most frequent codes with their counts.
    """
    counts = pd.Series(list(codes), dtype="object").value_counts(sort=True)
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    listed = ", ".join(f"{c!r} ({n})" for c, n in counts.head(MAX_LISTED).items())
    more = f" and {len(counts) - MAX_LISTED} more" if len(counts) > MAX_LISTED else ""
    return (
        f"unknown value(s): {listed}{more}; allowed: {', '.join(allowed)}; "
        f"map store codes under {PARAMS_BLOCK}.codes.{where} in params.yaml"
    )
