"""Checks the contract applies on top of its format rules: types, plausibility, masking.

:mod:`features.validation` parses every cell and applies each column's format rules. This
module holds what it adds for input that is well-formed but wrong:

* **Column types of Parquet files**: a numeric contract column stored as booleans would be
  read as 0/1 without a word; it is refused as a file-level error (:func:`parquet_type_problems`).
* **Plausible dates**: event dates before :data:`EARLIEST_DATE` (1990-01-01), and, when no
  as-of date is given, dates after tomorrow, are refused per row (:func:`date_problems`).
  The plausible range of each numeric column is part of its
  :class:`features.contract.ColumnSpec` (``min``/``max``), see docs/data_contract.md.
* **Personal data by value**: message examples and rejects never show a value shaped like a
  phone number, or equal to a name or phone of the same table, even when a store's export has
  its columns swapped (:func:`mask_personal`).
* **A day of the year** (a birthday, kind ``month-day``): ``MM-DD``, ``--MM-DD`` or a full
  date, read as ``MM-DD`` with the year dropped; any other value is missing
  (:func:`parse_month_day`).
* **A stale as-of date**: an as-of date far after the last event is almost always a typo or
  an old export (:func:`stale_as_of_warning`).
"""

from __future__ import annotations

import logging

import pandas as pd

from features.contract import TABLES

logger = logging.getLogger(__name__)

#: No dealership export in scope holds a genuine event before this day.
EARLIEST_DATE = pd.Timestamp("1990-01-01")
RULE_TOO_EARLY = "date before 1990-01-01"
RULE_FUTURE = "date after tomorrow"
RULE_WRONG_TYPE = "wrong column type"
#: An as-of date more than this many days after the last event is warned about.
STALE_AS_OF_DAYS = 365

#: Digits, spaces, dashes and brackets, optionally after a ``+``: what a phone number looks
#: like in an export; at least :data:`PHONE_DIGITS` digits make it one.
_PHONE_RE = r"\s*\+?[0-9 ()\-]+\s*"
_DATE_RE = r"\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\s*"
PHONE_DIGITS = 7
#: Two or more words of letters (``Zebulon Quixwood``), or two to four CJK characters (``郭子``):
#: what a name looks like. Only id columns are checked for it (a code or a model name may
#: look the same).
_NAME_RE = r"\s*(?:[^\W\d_]+(?:[ .'\-]+[^\W\d_]+)+|[\u3400-\u9fff]{2,4})\s*"


def parquet_type_problems(frame: pd.DataFrame, numeric_columns: list[str]) -> list[tuple[str, str]]:
    """The numeric contract columns of a Parquet table stored with a non-numeric type.

    Args:
        frame: The table as read from the Parquet file (headers already mapped).
        numeric_columns: The contract's number and integer columns of the table.

    Returns:
        ``(column, detail)`` for every such column stored as booleans (which pandas would
        read as 0/1); text columns are parsed cell by cell like a CSV file.
    """
    problems = []
    for raw_name in frame.columns:
        name = str(raw_name).strip().lower()
        if name not in numeric_columns:
            continue
        dtype = frame[raw_name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            problems.append(
                (name, f"stored as {dtype} (true/false), expected numbers; not read as 0/1")
            )
    return problems


def date_problems(
    parsed: pd.Series, is_event_date: bool, cutoff: pd.Timestamp | None, today: pd.Timestamp
) -> list[tuple[pd.Series, str]]:
    """Dates outside the plausible window, as (mask, rule) pairs.

    Args:
        parsed: A parsed date column (``datetime64``; missing values are NaT).
        is_event_date: Whether this is the table's event date (the one cut at the as-of date).
        cutoff: The as-of date, if any: then later events are the as-of rule's business.
        today: Today's date; without an as-of date events after tomorrow are implausible.

    Returns:
        ``[(mask, rule), ...]`` for dates before 1990-01-01 and, for the event date without
        an as-of date, dates after tomorrow.
    """
    found = [(parsed < EARLIEST_DATE, RULE_TOO_EARLY)]
    if is_event_date and cutoff is None:
        found.append((parsed.dt.normalize() > today + pd.Timedelta(days=1), RULE_FUTURE))
    return [(mask.fillna(False).astype(bool), rule) for mask, rule in found if mask.any()]


def looks_like_phone(values: pd.Series) -> pd.Series:
    """Whether each value is shaped like a phone number (7+ digits, ``+``, spaces, dashes).

    ISO dates (``2024-01-05``) are not phone numbers.
    """
    s = values.astype("str").where(values.notna(), "")
    shaped = s.str.fullmatch(_PHONE_RE) & ~s.str.fullmatch(_DATE_RE)
    digits = s.str.count(r"[0-9]") >= PHONE_DIGITS
    return (shaped & digits).fillna(False).astype(bool)


def looks_like_name(values: pd.Series) -> pd.Series:
    """Whether each value is shaped like a person's name (two words of letters, 2-4 CJK)."""
    s = values.astype("str").where(values.notna(), "")
    return s.str.fullmatch(_NAME_RE).fillna(False).astype(bool)


def mask_personal(
    values: pd.Series,
    raw: pd.DataFrame,
    pii_columns: tuple[str, ...],
    mask: str,
    is_id: bool = False,
) -> pd.Series:
    """Mask values shaped like phone numbers or equal to a name or phone of ``raw``.

    Args:
        values: Values about to be shown in a message or written to a rejects file.
        raw: The table they come from; its personal-data columns (if any) are the values that
            must never be shown, whichever column they sit in.
        pii_columns: The contract's personal-data column names.
        mask: The replacement text.
        is_id: The values are ids (``customer_id``, ...): name-shaped ones are masked too
            (an export with the id and name columns swapped).

    Returns:
        ``values`` as text (missing values kept) with personal values replaced by ``mask``.
    """
    text = values.astype("str").where(values.notna())
    hidden = looks_like_phone(text)
    if is_id:
        hidden |= looks_like_name(text)
    for col in pii_columns:
        if col in raw.columns:
            known = raw[col].dropna().astype("str").str.strip()
            hidden |= text.str.strip().isin(known[known != ""]).fillna(False).astype(bool)
    return text.where(~hidden, mask)


def stale_as_of_warning(as_of: pd.Timestamp, last_event: pd.Timestamp | None) -> str | None:
    """A warning when ``as_of`` lies more than a year after the last event, else None."""
    if last_event is None or pd.isna(last_event):
        return None
    gap = (pd.Timestamp(as_of).normalize() - pd.Timestamp(last_event).normalize()).days
    if gap <= STALE_AS_OF_DAYS:
        return None
    text = (
        f"warning: --as-of {as_of:%Y-%m-%d} is {gap} days after the last event "
        f"({last_event:%Y-%m-%d}); every customer will look lapsed — is the date or the "
        "export out of date?"
    )
    logger.warning(text.removeprefix("warning: "))
    return text


def last_event(data: object) -> pd.Timestamp | None:
    """The latest event date over the after-sales event tables of a validated data set."""
    last = None
    for name, spec in TABLES.items():
        frame = data.table(name)  # type: ignore[attr-defined]
        if spec.date_column is None or frame is None or frame.empty:
            continue
        latest = frame[spec.date_column].max()
        if pd.notna(latest) and (last is None or latest > last):
            last = pd.Timestamp(latest)
    return last


#: ``MM-DD`` or the ISO 8601 ``--MM-DD`` (two digits each), and a full ``YYYY-MM-DD`` date
#: (a time after it is allowed): the only spellings a day of the year is read from.
_MONTH_DAY_RE = r"^(?:--)?(?P<md>\d{2}-\d{2})$"
_FULL_DATE_RE = r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$"


def parse_month_day(values: pd.Series) -> pd.Series:
    """A day of the year as text ``MM-DD``, missing where the value is not one.

    ``03-07`` and ``--03-07`` read as ``03-07``; a full date (``1985-03-07``, or a Parquet
    date / datetime column) reads as its month and day, so the year never reaches the
    validated data. ``02-29`` is a valid day (of a leap year); ``13-01``, ``02-30``, ``3/7``
    and free text are not.

    Args:
        values: The raw column (text, dates or datetimes).

    Returns:
        Text ``MM-DD`` per row (``str`` dtype), missing for a missing or unreadable value.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%m-%d").astype("str").where(values.notna())
    dates = values.map(lambda v: v if hasattr(v, "month") and hasattr(v, "day") else None)
    text = values.astype("str").where(values.notna() & dates.isna()).str.strip()
    short = text.str.extract(_MONTH_DAY_RE)["md"]
    full = pd.to_datetime(
        text.where(text.str.match(_FULL_DATE_RE, na=False)), errors="coerce", format="ISO8601"
    )
    from_dates = pd.to_datetime(dates, errors="coerce")
    # A leap year, so that 02-29 is a day and 02-30 is not.
    check = pd.to_datetime("2000-" + short, errors="coerce", format="%Y-%m-%d")
    out = short.where(check.notna())
    out = out.fillna(full.dt.strftime("%m-%d")).fillna(from_dates.dt.strftime("%m-%d"))
    return out.astype("str").where(out.notna())
