"""The input data contract (docs/data_contract.md) in code: tables, columns, codes, errors.

The table and column specs, the rule and action vocabulary named in messages and in the
rejects file, :class:`ContractError` and the validated :class:`DataSet`. Reading a data
directory is :mod:`features.reading`; the row rules are :mod:`features.validation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# --- the contract --------------------------------------------------------------------------

ID, STRING, DATE, NUMBER, INTEGER = "id", "string", "date", "number", "integer"
#: One or more codes from ``allowed`` in one cell, ``;``-separated (a Parquet list also works).
CODES = "codes"
CODE_SEPARATOR = ";"
#: A day of the year without a year (a birthday): validated to text ``MM-DD``; ``--MM-DD``
#: (ISO 8601) and a full date (its year dropped at reading) are read too.
MONTH_DAY = "month-day"

#: Rules named in messages and in the rejects file. One vocabulary everywhere.
RULE_MISSING = "missing value"
RULE_NOT_DATE = "not a date"
RULE_NOT_MONTH_DAY = "not a month-day"
RULE_NOT_NUMBER = "not a number"
RULE_NOT_INTEGER = "not an integer"
RULE_MIN = "below minimum"
RULE_MAX = "above maximum"
RULE_ALLOWED = "not in allowed values"
RULE_UNKNOWN_CUSTOMER = "unknown customer"
RULE_AFTER_AS_OF = "after as-of date"
RULE_DUPLICATE_ROW = "duplicate row"
RULE_DUPLICATE_ID = "duplicate customer_id"
RULE_MISSING_FILE = "required table missing"
RULE_AMBIGUOUS_FILE = "table given twice"
RULE_UNREADABLE = "unreadable file"
RULE_MISSING_COLUMN = "required column missing"
RULE_DUPLICATE_COLUMN = "column given twice"
RULE_EMPTY_TABLE = "empty table"
RULE_TOO_MANY_INVALID = "too many invalid values"
RULE_UNKNOWN_LEAD = "unknown lead"
RULE_DUPLICATE_KEY = "duplicate id"
RULE_MISSING_PARENT = "parent table missing"
RULE_BAD_SETTING = "invalid setting"

ACTION_SET_ASIDE = "row set aside"
ACTION_SET_MISSING = "value set to missing"

#: Rules about data scope rather than format: never escalate to a file-level error however
#: many rows they hit (a CRM export filtered by store legitimately has visits of others).
_SCOPE_RULES = {RULE_UNKNOWN_CUSTOMER, RULE_UNKNOWN_LEAD, RULE_AFTER_AS_OF, RULE_DUPLICATE_ROW}

REJECT_COLUMNS = ["table", "file", "row_number", "column", "rule", "action", "value", "customer_id"]
PII_MASK = "***"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table.

    Attributes:
        name: Column name (headers are matched after stripping and lower-casing).
        kind: One of ``id``, ``string``, ``date``, ``number``, ``integer``, ``codes``,
            ``month-day``.
        required: Whether the column must be present in the file.
        min: Lower bound for numbers, inclusive unless ``min_exclusive``.
        max: Inclusive upper bound for numbers.
        allowed: Allowed values for strings, if enumerated.
        pii: Personal data: masked in every message and rejects file.
        default: Value used where an optional column is absent or empty.
        nullable: Whether a present column may hold missing values; None = not ``required``.
        synonyms: ``(found, code)`` pairs: a (lower-cased) value read as one of ``allowed``.
        min_exclusive: ``min`` itself is below the minimum (a probability in ``(0, 1]``).
    """

    name: str
    kind: str
    required: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    pii: bool = False
    default: object = None
    nullable: bool | None = None
    synonyms: tuple[tuple[str, str], ...] = ()
    min_exclusive: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One contract table.

    Attributes:
        name: Table name, also the file stem.
        required: Whether the directory must contain it.
        columns: Column specs in contract order.
        date_column: The event date checked against the as-of date (None for customers).
        key: The id column that names a row's subject (``customer_id``, ``lead_id``, ...).
        unique: Whether ``key`` is unique (an entity table, e.g. leads).
        parent: The table ``key`` must exist in (``leads`` for lead_contacts), if any.
    """

    name: str
    required: bool
    columns: tuple[ColumnSpec, ...]
    date_column: str | None = None
    key: str = "customer_id"
    unique: bool = False
    parent: str | None = None

    @property
    def column_names(self) -> list[str]:
        """Names of all contract columns, in order."""
        return [c.name for c in self.columns]


VISIT_TYPES = ("maintenance", "repair", "warranty", "insurance", "accident", "other")
APPOINTMENT_STATUSES = ("kept", "cancelled", "no_show")
OUTREACH_GROUPS = ("treatment", "control")
#: What an outreach contact found (docs/data_contract.md, outreach): the person was
#: reached, did not answer, the number is dead, the person declined to talk, said the car was
#: sold, said they moved away; an SMS can only be delivered or bounce (wrong_number).
OUTREACH_OUTCOMES = (
    "reached",
    "no_answer",
    "wrong_number",
    "declined",
    "car_sold",
    "moved",
    "delivered",
)

_CID = ColumnSpec("customer_id", ID)
YES_NO = ("yes", "no")
#: Other spellings of yes/no a consent flag is read with (after lower-casing): true/false, 1/0.
YES_NO_SYNONYMS = (("true", "yes"), ("1", "yes"), ("false", "no"), ("0", "no"))
#: Consent (docs/data_contract.md): ``yes`` = never propose a contact; missing = may contact.
#: Never a model feature.
DO_NOT_CONTACT = ColumnSpec(
    "do_not_contact", STRING, required=False, allowed=YES_NO, synonyms=YES_NO_SYNONYMS
)

#: The outreach extension ``propensity``: P(the row's arm | the customer was picked for the
#: campaign), in ``(0, 1]``. A bad value is set to missing (then estimated, like an absent one).
PROPENSITY = ColumnSpec("propensity", NUMBER, required=False, min=0, max=1, min_exclusive=True)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "customers",
            True,
            (
                _CID,
                ColumnSpec("dealer_id", STRING, required=False, default="default"),
                ColumnSpec("region", STRING, required=False),
                ColumnSpec("vehicle_model", STRING, required=False),
                ColumnSpec("vehicle_purchase_date", DATE, required=False),
                ColumnSpec("acquisition_cost", NUMBER, required=False, min=0),
                ColumnSpec("referrals", INTEGER, required=False, min=0),
                ColumnSpec("name", STRING, required=False, pii=True),
                ColumnSpec("phone", STRING, required=False, pii=True),
                DO_NOT_CONTACT,
                # The care extension (docs/data_contract.md, care data): what the care
                # stage's insurance, birthday and maintenance messages need. Never features.
                ColumnSpec("insurance_expiry_date", DATE, required=False),
                ColumnSpec("birthday", MONTH_DAY, required=False, pii=True),
                ColumnSpec("plate", STRING, required=False, pii=True),
            ),
        ),
        TableSpec(
            "service_visits",
            True,
            (
                _CID,
                ColumnSpec("visit_date", DATE),
                ColumnSpec("amount", NUMBER, min=0, max=1_000_000),
                ColumnSpec("visit_type", STRING, required=False, allowed=VISIT_TYPES),
                ColumnSpec("wait_minutes", NUMBER, required=False, min=0, max=1440),
                ColumnSpec("mileage_km", NUMBER, required=False, min=0, max=2_000_000),
                # Care extension: the service advisor who took the repair order.
                ColumnSpec("advisor_id", STRING, required=False),
            ),
            date_column="visit_date",
        ),
        TableSpec(
            "app_sessions",
            False,
            (
                _CID,
                ColumnSpec("session_date", DATE),
                ColumnSpec("sessions", INTEGER, required=False, min=1, default=1),
            ),
            date_column="session_date",
        ),
        TableSpec(
            "appointments",
            False,
            (
                _CID,
                ColumnSpec("booked_date", DATE),
                ColumnSpec("scheduled_date", DATE),
                ColumnSpec("status", STRING, allowed=APPOINTMENT_STATUSES),
                ColumnSpec("channel", STRING, required=False),
            ),
            date_column="booked_date",
        ),
        TableSpec(
            "surveys",
            False,
            (_CID, ColumnSpec("survey_date", DATE), ColumnSpec("score", NUMBER, min=0, max=10)),
            date_column="survey_date",
        ),
        TableSpec(
            "consultations",
            False,
            (_CID, ColumnSpec("contact_date", DATE), ColumnSpec("channel", STRING, required=False)),
            date_column="contact_date",
        ),
        TableSpec(
            "complaints",
            False,
            (
                _CID,
                ColumnSpec("complaint_date", DATE),
                ColumnSpec("category", STRING, required=False),
            ),
            date_column="complaint_date",
        ),
        TableSpec(
            "outreach",
            False,
            (
                _CID,
                ColumnSpec("contact_date", DATE),
                ColumnSpec("action", STRING),
                ColumnSpec("cost", NUMBER, min=0),
                ColumnSpec("group", STRING, allowed=OUTREACH_GROUPS),
                ColumnSpec("channel", STRING, required=False),
                # Extension (docs/data_contract.md, outreach): blank for control rows
                # and contacts whose outcome was not recorded.
                ColumnSpec("outcome", STRING, required=False, allowed=OUTREACH_OUTCOMES),
                # Extension: P(this arm | picked for the campaign), as a randomizing campaign
                # tool knows it; where missing, featurize estimates it (features.propensity).
                PROPENSITY,
            ),
            date_column="contact_date",
        ),
    )
}

# --- the care extension (docs/data_contract.md, care data) ----------------------------------
# The care messages the store already sent, for the care stage's suppression rules. Checked
# against customers like any event table, but not a model signal: featurize never reads it,
# and a directory without it reads exactly as before.

CARE_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "care_contacts",
            False,
            (
                _CID,
                ColumnSpec("contact_date", DATE),
                ColumnSpec("trigger", STRING, required=False),
                ColumnSpec("channel", STRING, required=False),
            ),
            date_column="contact_date",
        ),
    )
}

# --- the lost-leads extension (docs/data_contract.md, lost sales leads) ----------------------
# Optional tables of the showroom (sales) side. They name leads, not customers: the after-sales
# pipeline never reads them and a directory without them is exactly as valid as before.

LEAD_STATUSES = ("won", "lost", "open")
LEAD_INTENTS = ("high", "mid", "low")
#: The standard loss reasons, in the playbook's order.
LOST_REASONS = (
    "price",
    "configuration_mismatch",
    "delivery_time",
    "competitor",
    "service_experience",
    "finance_or_tradein",
    "influenced_by_others",
    "brand_or_aftersales_concern",
    "other",
)
CONTACT_ROLES = ("consultant", "manager", "other")
CONTACT_OUTCOMES = ("no_answer", "reached", "visit")
MARKET_EVENT_TYPES = ("finance_offer", "price_change", "stock_arrival", "competitor_complaints")

LEAD_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "leads",
            False,
            (
                ColumnSpec("lead_id", ID),
                ColumnSpec("dealer_id", STRING, required=False, default="default"),
                ColumnSpec("region", STRING, required=False),
                ColumnSpec("consultant_id", STRING, required=False),
                ColumnSpec("model_interest", STRING),
                ColumnSpec("first_visit_date", DATE),
                ColumnSpec("follow_ups", INTEGER, required=False, min=0),
                ColumnSpec("status", STRING, allowed=LEAD_STATUSES),
                ColumnSpec("status_date", DATE),
                ColumnSpec("lost_date", DATE, required=False),
                # Required column, blank allowed: a lost lead without a reason is an incomplete
                # loss record (reported by the leads diagnostics), not a broken file.
                ColumnSpec("lost_reasons", CODES, allowed=LOST_REASONS, nullable=True),
                ColumnSpec("reason_note", STRING, required=False),
                ColumnSpec("competitor_model", STRING, required=False),
                ColumnSpec("competitor_price", NUMBER, required=False, min=0),
                ColumnSpec("bought_competitor", STRING, required=False, allowed=YES_NO),
                ColumnSpec("expected_purchase_date", DATE, required=False),
                ColumnSpec("intent", STRING, required=False, allowed=LEAD_INTENTS),
                ColumnSpec("name", STRING, required=False, pii=True),
                ColumnSpec("phone", STRING, required=False, pii=True),
                DO_NOT_CONTACT,
            ),
            date_column="status_date",
            key="lead_id",
            unique=True,
        ),
        TableSpec(
            "lead_contacts",
            False,
            (
                ColumnSpec("lead_id", ID),
                ColumnSpec("contact_date", DATE),
                ColumnSpec("channel", STRING, required=False),
                ColumnSpec("role", STRING, required=False, allowed=CONTACT_ROLES),
                ColumnSpec("outcome", STRING, required=False, allowed=CONTACT_OUTCOMES),
            ),
            date_column="contact_date",
            key="lead_id",
            parent="leads",
        ),
        TableSpec(
            "market_events",
            False,
            (
                ColumnSpec("event_id", ID),
                ColumnSpec("event_date", DATE),
                ColumnSpec("event_type", STRING, allowed=MARKET_EVENT_TYPES),
                ColumnSpec("model", STRING, required=False),
                ColumnSpec("region", STRING, required=False),
                ColumnSpec("competitor_model", STRING, required=False),
                ColumnSpec("end_date", DATE, required=False),
                ColumnSpec("value", NUMBER, required=False),
                ColumnSpec("note", STRING, required=False),
            ),
            date_column="event_date",
            key="event_id",
            unique=True,
        ),
    )
}

#: Every table the contract knows, after-sales first (customers before the events checked
#: against it), then care, then leads (before lead_contacts, checked against it).
ALL_TABLES: dict[str, TableSpec] = {**TABLES, **CARE_TABLES, **LEAD_TABLES}

OPTIONAL_TABLES = tuple(name for name, spec in TABLES.items() if not spec.required)
PII_COLUMNS = tuple(dict.fromkeys(c.name for t in ALL_TABLES.values() for c in t.columns if c.pii))


# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A file-level breach of the contract.

    Attributes:
        file: The offending file (or the expected path of a missing one).
        rule: What was broken, from the ``RULE_*`` vocabulary.
        column: The column concerned, if any.
        detail: A sentence saying what was found.
        examples: Up to five offending rows, personal data masked.
    """

    file: str
    rule: str
    column: str | None = None
    detail: str = ""
    examples: pd.DataFrame | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column else "")
        text = f"{where}: {self.rule}" + (f" — {self.detail}" if self.detail else "")
        if self.examples is not None and len(self.examples):
            rows = self.examples.to_string(index=False, max_colwidth=40)
            text += "\n    " + rows.replace("\n", "\n    ")
        return text


class ContractError(ValueError):
    """A data directory breaks the contract; carries every file-level violation found."""

    def __init__(self, violations: list[Violation]):
        self.violations = list(violations)
        lines = [f"data contract violated ({len(self.violations)} problem(s)):"]
        lines += [f"  - {v}" for v in self.violations]
        super().__init__("\n".join(lines))


# --- the validated data set ---------------------------------------------------------------


@dataclass
class DataSet:
    """A validated data directory.

    Attributes:
        source: The directory read.
        tables: Valid rows per table, typed; optional tables that were absent are missing.
        rejects: Every row-level problem, one row each (see ``REJECT_COLUMNS``).
        files: The file read for each table.
        as_of: The cut-off date used, if any.
        columns_present: For each table, the contract columns the file actually had.
        rows_read: Rows in each file before anything was set aside.
    """

    source: Path
    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    files: dict[str, Path]
    as_of: pd.Timestamp | None
    columns_present: dict[str, tuple[str, ...]]
    rows_read: dict[str, int]

    def has(self, table: str) -> bool:
        """Whether ``table`` was supplied (an empty but present file counts as supplied)."""
        return table in self.tables

    def table(self, table: str) -> pd.DataFrame | None:
        """The valid rows of ``table``, or None when the signal is not collected."""
        return self.tables.get(table)

    @property
    def customers(self) -> pd.DataFrame:
        """The customers table."""
        return self.tables["customers"]

    @property
    def service_visits(self) -> pd.DataFrame:
        """The service_visits table."""
        return self.tables["service_visits"]

    @property
    def signals(self) -> dict[str, bool]:
        """Which optional tables (signals) are present."""
        return {name: name in self.tables for name in OPTIONAL_TABLES}

    def summary(self) -> pd.DataFrame:
        """One row per contract table: file, rows read, valid, rejected, customers, dates."""
        rows = []
        # Rows, not rejects: a row breaking two rules has two rejects but is set aside once.
        aside = self.rejects.loc[
            self.rejects["action"] == ACTION_SET_ASIDE, ["table", "row_number"]
        ]
        reject_counts = (
            aside.drop_duplicates()["table"].value_counts()
            if len(self.rejects)
            else pd.Series(dtype="int64")
        )
        # Care and lead tables are listed only when supplied: a directory without them reads
        # as before.
        extra = {**CARE_TABLES, **LEAD_TABLES}
        specs = {**TABLES, **{n: s for n, s in extra.items() if n in self.tables}}
        for name, spec in specs.items():
            df = self.tables.get(name)
            if df is None:
                rows.append({"table": name, "file": "-", "status": "not collected"})
                continue
            dates = df[spec.date_column] if spec.date_column else None
            rows.append(
                {
                    "table": name,
                    "file": self.files[name].name,
                    "status": "ok",
                    "rows": self.rows_read[name],
                    "valid": len(df),
                    "set_aside": int(reject_counts.get(name, 0)),
                    "customers": int(df["customer_id"].nunique())
                    if "customer_id" in df.columns
                    else pd.NA,
                    "first_date": _fmt_date(dates.min()) if dates is not None else "",
                    "last_date": _fmt_date(dates.max()) if dates is not None else "",
                }
            )
        out = pd.DataFrame(rows)
        for col in ("rows", "valid", "set_aside", "customers"):
            out[col] = out[col].astype("Int64")
        return out.fillna({"first_date": "", "last_date": ""})


def _fmt_date(value: object) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def split_codes(value: object) -> list[str]:
    """The codes of one multi-code cell: ``"price; Competitor"`` -> ``["price", "competitor"]``.

    Text is split on ``;``; a list or array (a Parquet ``list<string>`` column) is taken as
    is. Codes are stripped and lower-cased; blanks and repeats are dropped, order is kept (the
    first code is the primary one). A missing cell gives ``[]``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        parts = [str(v) for v in value if v is not None]
    else:
        parts = str(value).split(CODE_SEPARATOR)
    return list(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))


def unknown_codes(s: pd.Series, allowed: tuple[str, ...]) -> list[str]:
    """The distinct codes in a multi-code column that are not in ``allowed`` (sorted)."""
    return sorted({c for v in s for c in split_codes(v) if c not in set(allowed)})


def do_not_contact(frame: pd.DataFrame) -> pd.Series:
    """Which rows of ``frame`` must not be contacted: ``do_not_contact`` is ``yes``.

    Args:
        frame: Rows with an optional, validated ``do_not_contact`` column (``yes`` / ``no`` /
            missing, :data:`DO_NOT_CONTACT`).

    Returns:
        A bool series, index as ``frame``; all False without the column (missing = may contact).
    """
    if "do_not_contact" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["do_not_contact"].astype("object").eq("yes").astype(bool)


def spec_required(spec: TableSpec, column: str) -> bool:
    """Whether ``column`` is a required column of ``spec`` (a bad value sets its row aside)."""
    return any(c.name == column and c.required for c in spec.columns)
