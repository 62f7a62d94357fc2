"""Bad-input tests for the data contract (features/contract.py, docs/data_contract.md).

Each bad-input case checks the exact rule and column named in the violation or reject, and
the file named in the message. Row numbers are 1-based data rows (the header is not
counted); the default tables from ``make_tables`` are described in conftest.py.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    PII_MASK,
    REJECT_COLUMNS,
    RULE_AFTER_AS_OF,
    RULE_ALLOWED,
    RULE_AMBIGUOUS_FILE,
    RULE_DUPLICATE_COLUMN,
    RULE_DUPLICATE_ID,
    RULE_DUPLICATE_ROW,
    RULE_EMPTY_TABLE,
    RULE_MAX,
    RULE_MIN,
    RULE_MISSING,
    RULE_MISSING_COLUMN,
    RULE_MISSING_FILE,
    RULE_NOT_DATE,
    RULE_NOT_INTEGER,
    RULE_NOT_NUMBER,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_CUSTOMER,
    RULE_UNREADABLE,
    TABLES,
    ContractError,
)
from features.files import write_data_dir
from features.reading import read_data_dir
from features.validation import validate_tables, write_rejects

# --- helpers ---------------------------------------------------------------------------------


def _refused(data_dir, **kwargs) -> ContractError:
    with pytest.raises(ContractError) as info:
        read_data_dir(data_dir, **kwargs)
    return info.value


def _only(exc: ContractError, rule: str, column: str | None = None):
    """The single violation with ``rule`` (and ``column``); fails if there is not exactly one."""
    found = [v for v in exc.violations if v.rule == rule and v.column == column]
    assert len(found) == 1, f"expected one {rule!r}/{column!r} violation in:\n{exc}"
    return found[0]


def _rejects(data, table: str) -> pd.DataFrame:
    return data.rejects[data.rejects["table"] == table].reset_index(drop=True)


def _assert_one_reject(data, table, row_number, column, rule, action, value, customer_id):
    rej = _rejects(data, table)
    assert len(rej) == 1, rej
    assert rej.loc[
        0, ["row_number", "column", "rule", "action", "value", "customer_id"]
    ].tolist() == [
        row_number,
        column,
        rule,
        action,
        value,
        customer_id,
    ]
    assert rej.loc[0, "file"] == f"{table}.csv"


# --- file-level breaches: one ContractError naming file, column and rule ------------------------


def test_missing_required_file(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=False, service_visits=None))
    exc = _refused(data_dir)
    v = _only(exc, RULE_MISSING_FILE)
    assert len(exc.violations) == 1
    assert v.column is None
    assert "service_visits.parquet or service_visits.csv" in str(exc)
    assert "service_visits" in v.file
    assert RULE_MISSING_FILE in str(exc)


def test_missing_data_directory(tmp_path):
    exc = _refused(tmp_path / "nope")
    assert "nope" in str(exc)
    assert "not found" in str(exc)


def test_missing_required_column(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"] = tables["service_visits"].drop(columns="visit_date")
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_MISSING_COLUMN, "visit_date")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "service_visits.csv, column 'visit_date': required column missing" in str(exc)


def test_contract_column_given_twice_after_header_normalisation(make_tables, write_dir):
    # Regression: "Amount" next to "amount" collapsed to two "amount" columns and crashed
    # with a TypeError instead of a ContractError.
    tables = make_tables(optional=False)
    tables["service_visits"]["Amount "] = tables["service_visits"]["amount"]
    tables["service_visits"]["Notes"] = "x"  # extra columns may repeat: they are not read
    tables["service_visits"]["notes"] = "y"
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_DUPLICATE_COLUMN, "amount")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "service_visits.csv, column 'amount': column given twice" in str(exc)


def test_missing_required_column_in_optional_table(make_tables, write_dir):
    tables = make_tables(optional=["surveys"])
    tables["surveys"] = tables["surveys"].drop(columns="score")
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_MISSING_COLUMN, "score")
    assert v.file.endswith("surveys.csv")


def test_text_in_amount_column_is_refused_as_not_a_number(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"]["amount"] = "about a thousand"
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_TOO_MANY_INVALID, "amount")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "rule 'not a number' fails in 10 of 10 rows" in v.detail
    assert len(v.examples) == 5  # up to five example rows
    assert v.examples["row_number"].tolist() == [1, 2, 3, 4, 5]
    assert "about a thousand" in str(exc)


def test_text_in_amount_column_parquet(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"]["amount"] = "n/a"  # to_typed leaves an unparseable column as text
    exc = _refused(write_dir(tables, fmt="parquet"))
    v = _only(exc, RULE_TOO_MANY_INVALID, "amount")
    assert v.file.endswith("service_visits.parquet")
    assert "'not a number'" in v.detail


def test_duplicate_customer_id(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"].loc[3, "customer_id"] = "00102"  # row 4 repeats row 2's id
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_DUPLICATE_ID, "customer_id")
    assert len(exc.violations) == 1
    assert v.file.endswith("customers.csv")
    assert "1 id(s) appear more than once, e.g. 00102" in v.detail
    assert v.examples["row_number"].tolist() == [2, 4]


def test_ids_differing_only_in_leading_zeros_are_distinct(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"].loc[4, "customer_id"] = "101"  # not a duplicate of "00101"
    tables["service_visits"] = tables["service_visits"].iloc[:8]  # drop 00105's visits
    data = read_data_dir(write_dir(tables))
    assert set(data.customers["customer_id"]) == {"00101", "00102", "00103", "00104", "101"}


def test_empty_customer_id(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"].loc[2, "customer_id"] = "   "  # blank after stripping: row 3
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_MISSING, "customer_id")
    assert len(exc.violations) == 1
    assert v.file.endswith("customers.csv")
    assert "1 customer row(s) without an id" in v.detail
    assert v.examples["row_number"].tolist() == [3]


def test_empty_customer_id_in_event_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[4, "customer_id"] = ""
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "service_visits", 5, "customer_id", RULE_MISSING, ACTION_SET_ASIDE, "", ""
    )
    assert len(data.service_visits) == 9


def test_empty_customers_table(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"] = tables["customers"].iloc[:0]
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_EMPTY_TABLE)
    assert v.file.endswith("customers.csv")
    assert "customers.csv: empty table" in str(exc)


def test_empty_required_table_parquet(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"] = tables["service_visits"].iloc[:0]
    exc = _refused(write_dir(tables, fmt="parquet"))
    v = _only(exc, RULE_EMPTY_TABLE)
    assert v.file.endswith("service_visits.parquet")


def test_empty_optional_table_is_present_not_missing(make_tables, write_dir):
    tables = make_tables(optional=["complaints"])
    tables["complaints"] = tables["complaints"].iloc[:0]
    data = read_data_dir(write_dir(tables))
    assert data.has("complaints")
    assert data.signals["complaints"] is True
    assert len(data.table("complaints")) == 0


def test_both_csv_and_parquet_of_one_table(make_tables, write_dir):
    tables = make_tables(optional=["surveys"])
    data_dir = write_dir(tables)
    write_dir({"surveys": tables["surveys"]}, fmt="parquet")  # same directory
    exc = _refused(data_dir)
    v = _only(exc, RULE_AMBIGUOUS_FILE)
    assert len(exc.violations) == 1
    assert v.file.endswith("surveys")
    assert "both surveys.parquet and surveys.csv exist" in str(exc)


def test_corrupt_parquet_is_unreadable(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=["appointments"]), fmt="parquet")
    (data_dir / "appointments.parquet").write_bytes(b"PAR1 this is not really parquet")
    exc = _refused(data_dir)
    v = _only(exc, RULE_UNREADABLE)
    assert v.file.endswith("appointments.parquet")
    assert "appointments.parquet: unreadable file" in str(exc)


def test_non_utf8_csv_is_unreadable(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=["complaints"]))
    (data_dir / "complaints.csv").write_bytes(b"customer_id,complaint_date\n\xff\xfe,2024\n")
    exc = _refused(data_dir)
    v = _only(exc, RULE_UNREADABLE)
    assert v.file.endswith("complaints.csv")


def test_empty_csv_file_is_unreadable(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=False))
    (data_dir / "customers.csv").write_bytes(b"")
    exc = _refused(data_dir)
    assert _only(exc, RULE_UNREADABLE).file.endswith("customers.csv")


def test_whole_date_column_in_day_first_format_is_refused(make_tables, write_dir):
    tables = make_tables(optional=False)
    visits = tables["service_visits"]
    visits["visit_date"] = pd.to_datetime(visits["visit_date"]).dt.strftime("%d/%m/%Y")
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_TOO_MANY_INVALID, "visit_date")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "rule 'not a date' fails in 10 of 10 rows" in v.detail
    assert "10/01/2023" in str(exc)  # an offending value is shown


def test_share_of_invalid_rows_at_threshold_is_set_aside_above_is_refused(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[[0, 1], "visit_date"] = "soon"  # 2 of 10 = 20%: not > 20%
    data = read_data_dir(write_dir(tables, name="two"))
    assert _rejects(data, "service_visits")["row_number"].tolist() == [1, 2]
    assert set(_rejects(data, "service_visits")["rule"]) == {RULE_NOT_DATE}
    tables["service_visits"].loc[2, "visit_date"] = "soon"  # 3 of 10 = 30%
    exc = _refused(write_dir(tables, name="three"))
    assert "fails in 3 of 10 rows" in _only(exc, RULE_TOO_MANY_INVALID, "visit_date").detail
    # a stricter threshold refuses the first directory too
    exc = _refused(write_dir(tables, name="two"), max_invalid_share=0.1)
    _only(exc, RULE_TOO_MANY_INVALID, "visit_date")


def test_single_invalid_row_never_escalates(make_tables, write_dir):
    tables = make_tables(
        optional=False, service_visits=make_tables(optional=False)["service_visits"].iloc[:2]
    )
    tables["service_visits"].loc[0, "amount"] = "lots"  # 1 of 2 rows = 50%, but only one row
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "service_visits", 1, "amount", RULE_NOT_NUMBER, ACTION_SET_ASIDE, "lots", "00101"
    )


def test_multiple_violations_reported_together(make_tables, write_dir):
    tables = make_tables(outreach=None)
    tables["customers"].loc[1, "customer_id"] = "00101"  # duplicate id
    tables["service_visits"]["amount"] = "x"  # whole column not a number
    tables["surveys"] = tables["surveys"].drop(columns="survey_date")  # missing column
    tables.pop("service_visits")  # ... and a missing required file
    data_dir = write_dir(tables)
    exc = _refused(data_dir)
    # the first pass (files and columns) stops before values are read
    assert {(v.rule, v.column) for v in exc.violations} == {
        (RULE_MISSING_FILE, None),
        (RULE_MISSING_COLUMN, "survey_date"),
    }
    assert str(exc).startswith("data contract violated (2 problem(s)):")

    tables = make_tables()
    tables["customers"].loc[1, "customer_id"] = "00101"
    tables["service_visits"]["amount"] = "x"
    tables["appointments"]["status"] = "done"
    exc = _refused(write_dir(tables, name="values"))
    assert [(v.rule, v.column, v.file.rsplit("/", 1)[-1]) for v in exc.violations] == [
        (RULE_DUPLICATE_ID, "customer_id", "customers.csv"),
        (RULE_TOO_MANY_INVALID, "amount", "service_visits.csv"),
        (RULE_TOO_MANY_INVALID, "status", "appointments.csv"),
    ]
    assert "data contract violated (3 problem(s))" in str(exc)
    assert "rule 'not in allowed values' fails in 3 of 3 rows" in str(exc)


# --- row-level problems: set aside (required column) or blanked (optional column) -------------


def test_unparseable_date_in_one_row_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[6, "visit_date"] = "2023-13-45"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data,
        "service_visits",
        7,
        "visit_date",
        RULE_NOT_DATE,
        ACTION_SET_ASIDE,
        "2023-13-45",
        "00104",
    )
    assert len(data.service_visits) == 9
    assert data.rows_read["service_visits"] == 10


def test_row_breaking_two_rules_is_one_row_set_aside(make_tables, write_dir):
    # Regression: summary() counted rejects, not rows (rows 10, valid 9, set_aside 2).
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "amount"] = "-1"
    tables["service_visits"].loc[0, "visit_date"] = "x"
    data = read_data_dir(write_dir(tables))
    rej = _rejects(data, "service_visits")
    assert rej[["row_number", "column", "rule", "action"]].values.tolist() == [
        [1, "amount", RULE_MIN, ACTION_SET_ASIDE],
        [1, "visit_date", RULE_NOT_DATE, ACTION_SET_ASIDE],
    ]
    row = data.summary().set_index("table").loc["service_visits"]
    assert (row["rows"], row["valid"], row["set_aside"]) == (10, 9, 1)


def test_out_of_range_survey_score(make_tables, write_dir):
    tables = make_tables(optional=["surveys"])
    tables["surveys"].loc[1, "score"] = "11"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(data, "surveys", 2, "score", RULE_MAX, ACTION_SET_ASIDE, "11", "00102")
    assert data.table("surveys")["customer_id"].tolist() == ["00101", "00103", "00105"]


def test_negative_survey_score(make_tables, write_dir):
    tables = make_tables(optional=["surveys"])
    tables["surveys"].loc[0, "score"] = "-1"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(data, "surveys", 1, "score", RULE_MIN, ACTION_SET_ASIDE, "-1", "00101")


def test_bad_appointment_status(make_tables, write_dir):
    tables = make_tables(optional=["appointments"])
    tables["appointments"].loc[2, "status"] = "Maybe"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "appointments", 3, "status", RULE_ALLOWED, ACTION_SET_ASIDE, "Maybe", "00104"
    )
    assert len(data.table("appointments")) == 2


def test_bad_outreach_group(make_tables, write_dir):
    tables = make_tables(optional=["outreach"])
    tables["outreach"].loc[3, "group"] = "holdout"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "outreach", 4, "group", RULE_ALLOWED, ACTION_SET_ASIDE, "holdout", "00105"
    )
    assert data.table("outreach")["group"].tolist() == ["treatment", "control", "treatment"]


def test_negative_amount(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[1, "amount"] = "-1200.50"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "service_visits", 2, "amount", RULE_MIN, ACTION_SET_ASIDE, "-1200.50", "00101"
    )
    assert (data.service_visits["amount"] >= 0).all()


def test_missing_required_value_in_event(make_tables, write_dir):
    tables = make_tables(optional=["outreach"])
    tables["outreach"].loc[0, "cost"] = None
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(data, "outreach", 1, "cost", RULE_MISSING, ACTION_SET_ASIDE, "", "00102")


def test_fractional_sessions_blanked_then_defaulted(make_tables, write_dir):
    tables = make_tables(optional=["app_sessions"])
    tables["app_sessions"].loc[1, "sessions"] = "2.5"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "app_sessions", 2, "sessions", RULE_NOT_INTEGER, ACTION_SET_MISSING, "2.5", "00101"
    )
    assert data.table("app_sessions")["sessions"].tolist() == [1, 1, 2, 1]


def test_unknown_customer_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=["complaints"])
    tables["complaints"].loc[0, "customer_id"] = "99999"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data,
        "complaints",
        1,
        "customer_id",
        RULE_UNKNOWN_CUSTOMER,
        ACTION_SET_ASIDE,
        "99999",
        "99999",
    )
    assert len(data.table("complaints")) == 0


def test_unknown_customers_never_escalate(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[:7, "customer_id"] = "OTHER-STORE"  # 8 of 10 rows
    data = read_data_dir(write_dir(tables))
    rej = _rejects(data, "service_visits")
    assert rej["row_number"].tolist() == list(range(1, 9))
    assert set(rej["rule"]) == {RULE_UNKNOWN_CUSTOMER}
    assert set(rej["column"]) == {"customer_id"}
    assert data.service_visits["customer_id"].tolist() == ["00105", "00105"]
    assert len(data.customers) == 5  # customers without visits are not lost


def test_event_after_as_of_is_set_aside(make_tables, write_dir, as_of):
    tables = make_tables(optional=["surveys"])
    tables["surveys"].loc[3, "survey_date"] = "2024-07-01"
    tables["service_visits"].loc[9, "visit_date"] = "2024-06-30T18:45:00"  # on the day: kept
    data = read_data_dir(write_dir(tables), as_of=as_of)
    _assert_one_reject(
        data, "surveys", 4, "survey_date", RULE_AFTER_AS_OF, ACTION_SET_ASIDE, "2024-07-01", "00105"
    )
    assert len(data.rejects) == 1
    assert data.as_of == pd.Timestamp(as_of)
    # without an as-of date nothing is checked
    assert len(read_data_dir(write_dir(tables)).rejects) == 0


def test_many_events_after_as_of_never_escalate(make_tables, write_dir):
    data = read_data_dir(write_dir(make_tables()), as_of="2023-06-30")
    rej = _rejects(data, "service_visits")
    # visits after 2023-06-30: rows 2, 4, 6, 8, 9, 10
    assert rej["row_number"].tolist() == [2, 4, 6, 8, 9, 10]
    assert set(rej["rule"]) == {RULE_AFTER_AS_OF}
    assert set(rej["column"]) == {"visit_date"}
    assert len(data.service_visits) == 4
    assert len(data.table("outreach")) == 0


def test_exact_duplicate_event_row_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    visits = tables["service_visits"]
    tables["service_visits"] = pd.concat([visits, visits.iloc[[3]]], ignore_index=True)
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "service_visits", 11, "", RULE_DUPLICATE_ROW, ACTION_SET_ASIDE, "", "00102"
    )
    assert len(data.service_visits) == 10


def test_near_duplicate_rows_are_kept(make_tables, write_dir):
    tables = make_tables(optional=False)
    visits = tables["service_visits"]
    twin = visits.iloc[[3]].assign(amount="1")
    tables["service_visits"] = pd.concat([visits, twin], ignore_index=True)
    data = read_data_dir(write_dir(tables))
    assert len(data.rejects) == 0
    assert len(data.service_visits) == 11


def test_many_duplicate_rows_never_escalate(make_tables, write_dir):
    tables = make_tables(optional=False)
    visits = tables["service_visits"]
    tables["service_visits"] = pd.concat([visits, visits], ignore_index=True)
    data = read_data_dir(write_dir(tables))
    rej = _rejects(data, "service_visits")
    assert rej["row_number"].tolist() == list(range(11, 21))
    assert set(rej["rule"]) == {RULE_DUPLICATE_ROW}


def test_negative_optional_wait_minutes_is_blanked_row_kept(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[2, "wait_minutes"] = "-30"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data, "service_visits", 3, "wait_minutes", RULE_MIN, ACTION_SET_MISSING, "-30", "00102"
    )
    visits = data.service_visits
    assert len(visits) == 10
    assert pd.isna(visits.loc[2, "wait_minutes"])
    assert visits.loc[2, "amount"] == 650.0


def test_bad_visit_type_is_blanked_row_kept(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "visit_type"] = "tyre swap"
    data = read_data_dir(write_dir(tables))
    _assert_one_reject(
        data,
        "service_visits",
        1,
        "visit_type",
        RULE_ALLOWED,
        ACTION_SET_MISSING,
        "tyre swap",
        "00101",
    )
    assert len(data.service_visits) == 10
    assert pd.isna(data.service_visits.loc[0, "visit_type"])


def test_invalid_optional_customer_cells_are_blanked_customer_kept(make_tables, write_dir):
    tables = make_tables(optional=False)
    customers = tables["customers"]
    customers.loc[0, "acquisition_cost"] = "-100"
    customers.loc[1, "referrals"] = "two"
    customers.loc[2, "vehicle_purchase_date"] = "last spring"
    data = read_data_dir(write_dir(tables))
    rej = _rejects(data, "customers")
    assert rej[
        ["row_number", "column", "rule", "action", "value", "customer_id"]
    ].values.tolist() == [
        [1, "acquisition_cost", RULE_MIN, ACTION_SET_MISSING, "-100", "00101"],
        [2, "referrals", RULE_NOT_INTEGER, ACTION_SET_MISSING, "two", "00102"],
        [3, "vehicle_purchase_date", RULE_NOT_DATE, ACTION_SET_MISSING, "last spring", "00103"],
    ]
    assert data.customers["customer_id"].tolist() == ["00101", "00102", "00103", "00104", "00105"]
    assert pd.isna(data.customers.loc[0, "acquisition_cost"])
    assert pd.isna(data.customers.loc[1, "referrals"])
    assert pd.isna(data.customers.loc[2, "vehicle_purchase_date"])
    assert data.customers.loc[3, "acquisition_cost"] == 5000.0


def test_systematic_problem_in_optional_customer_column_is_refused(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"]["referrals"] = ["1.5", "2.5", "0", "1", "3"]  # 2 of 5 = 40%
    exc = _refused(write_dir(tables))
    v = _only(exc, RULE_TOO_MANY_INVALID, "referrals")
    assert v.file.endswith("customers.csv")
    assert "rule 'not an integer' fails in 2 of 5 rows" in v.detail


def test_every_customer_survives_row_level_problems(make_tables, write_dir, customer_ids, as_of):
    tables = make_tables(optional=False)
    tables["customers"].loc[0, "acquisition_cost"] = "free"
    tables["customers"].loc[4, "vehicle_purchase_date"] = "2099-01-01T00:00:00Z"
    tables["service_visits"].loc[[8, 9], "customer_id"] = "nobody"  # 00105 loses all visits
    tables["service_visits"].loc[0, "amount"] = "-1"
    data = read_data_dir(write_dir(tables), as_of=as_of)
    assert data.customers["customer_id"].tolist() == list(customer_ids)
    assert "00105" not in set(data.service_visits["customer_id"])
    assert len(data.service_visits) == 7


# --- valid inputs --------------------------------------------------------------------------


def test_valid_directory_csv_and_parquet_give_identical_tables(make_tables, write_dir, as_of):
    tables = make_tables()
    from_csv = read_data_dir(write_dir(tables, fmt="csv", name="csv"), as_of=as_of)
    from_parquet = read_data_dir(write_dir(tables, fmt="parquet", name="parquet"), as_of=as_of)
    assert set(from_csv.tables) == set(TABLES)
    assert set(from_parquet.tables) == set(TABLES)
    for name in TABLES:
        pd.testing.assert_frame_equal(from_csv.tables[name], from_parquet.tables[name])
    assert len(from_csv.rejects) == 0
    assert len(from_parquet.rejects) == 0
    visits = from_csv.service_visits
    assert visits["visit_date"].dtype == "datetime64[ns]"
    assert visits["amount"].dtype == "float64"
    assert visits["amount"].sum() == pytest.approx(9200.5)
    assert from_csv.rows_read == {
        "customers": 5,
        "service_visits": 10,
        "app_sessions": 4,
        "appointments": 3,
        "surveys": 4,
        "consultations": 2,
        "complaints": 1,
        "outreach": 4,
    }
    assert list(from_csv.rejects.columns) == REJECT_COLUMNS


def test_validate_tables_in_memory_matches_csv(make_tables, write_dir):
    tables = make_tables()
    in_memory = validate_tables(tables)
    from_csv = read_data_dir(write_dir(tables))
    for name in TABLES:
        pd.testing.assert_frame_equal(in_memory.tables[name], from_csv.tables[name])


def test_write_data_dir_round_trip_never_leaves_both_formats(make_tables, write_dir, tmp_path):
    tables = read_data_dir(write_dir(make_tables())).tables
    out = tmp_path / "out"
    write_data_dir(tables, out, fmt="csv")
    write_data_dir(tables, out, fmt="parquet")  # replaces the CSV twins
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in TABLES)
    again = read_data_dir(out)
    for name in TABLES:
        pd.testing.assert_frame_equal(again.tables[name], tables[name])


def test_headers_with_spaces_and_capitals_are_accepted(make_tables, write_dir):
    tables = make_tables()
    for name, df in tables.items():
        tables[name] = df.rename(columns=lambda c: f"  {c.upper()} ")
    data = read_data_dir(write_dir(tables))
    expected = read_data_dir(write_dir(make_tables(), name="plain"))
    for name in TABLES:
        pd.testing.assert_frame_equal(data.tables[name], expected.tables[name])


def test_values_with_surrounding_spaces_are_stripped(make_tables, write_dir):
    tables = make_tables(optional=["appointments"])
    tables["service_visits"].loc[0, "customer_id"] = " 00101 "
    tables["appointments"].loc[0, "status"] = " kept"
    data = read_data_dir(write_dir(tables))
    assert len(data.rejects) == 0
    assert data.service_visits.loc[0, "customer_id"] == "00101"


def test_ids_with_leading_zeros_survive_csv(make_tables, write_dir, customer_ids):
    data = read_data_dir(write_dir(make_tables(optional=False)))
    assert data.customers["customer_id"].tolist() == list(customer_ids)
    assert set(data.service_visits["customer_id"]) == set(customer_ids)
    assert len(data.rejects) == 0  # no event lost its customer


def test_missing_optional_table_is_not_collected(make_tables, write_dir):
    data = read_data_dir(write_dir(make_tables(surveys=None, complaints=None)))
    assert not data.has("surveys")
    assert data.table("surveys") is None
    assert "surveys" not in data.tables
    assert data.signals == {
        "app_sessions": True,
        "appointments": True,
        "surveys": False,
        "consultations": True,
        "complaints": False,
        "outreach": True,
    }
    summary = data.summary().set_index("table")
    assert summary.loc["surveys", "status"] == "not collected"
    assert summary.loc["complaints", "status"] == "not collected"
    assert summary.loc["app_sessions", "status"] == "ok"


def test_absent_optional_column_gets_default(make_tables, write_dir):
    tables = make_tables(optional=["app_sessions"])
    tables["app_sessions"] = tables["app_sessions"].drop(columns="sessions")
    tables["customers"] = tables["customers"].drop(columns=["dealer_id", "region", "name"])
    data = read_data_dir(write_dir(tables))
    assert data.table("app_sessions")["sessions"].tolist() == [1, 1, 1, 1]
    assert data.customers["dealer_id"].tolist() == ["default"] * 5
    assert data.customers["region"].isna().all()
    assert data.columns_present["app_sessions"] == ("customer_id", "session_date")
    assert "dealer_id" not in data.columns_present["customers"]


def test_empty_optional_cell_gets_default(make_tables, write_dir):
    tables = make_tables(optional=["app_sessions"])
    tables["app_sessions"].loc[2, "sessions"] = None
    data = read_data_dir(write_dir(tables))
    assert data.table("app_sessions")["sessions"].tolist() == [1, 3, 1, 1]
    assert len(data.rejects) == 0


def test_extra_columns_pass_through(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"]["advisor"] = [f"adv{i}" for i in range(10)]
    tables["customers"]["loyalty_tier"] = ["gold", "", "silver", "gold", "bronze"]
    data = read_data_dir(write_dir(tables))
    visits = data.service_visits
    assert list(visits.columns) == [*TABLES["service_visits"].column_names, "advisor"]
    assert visits["advisor"].tolist() == [f"adv{i}" for i in range(10)]
    assert data.customers.columns[-1] == "loyalty_tier"
    assert len(data.rejects) == 0


def test_unknown_table_files_are_ignored(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["warranty_claims"] = pd.DataFrame({"x": ["1"]})
    data = read_data_dir(write_dir(tables))
    assert "warranty_claims" not in data.tables


# --- personal data never leaks -----------------------------------------------------------


def test_pii_never_in_error_message(make_tables, write_dir, pii_values):
    tables = make_tables(optional=False)
    customers = tables["customers"]
    customers.loc[1, "customer_id"] = "00101"  # duplicate id: examples are customer rows
    customers.loc[3, "customer_id"] = None  # empty id
    customers["referrals"] = ["x", "y", "z", "0", "1"]  # examples from the customers table
    exc = _refused(write_dir(tables))
    text = str(exc)
    assert {v.rule for v in exc.violations} == {
        RULE_DUPLICATE_ID,
        RULE_MISSING,
        RULE_TOO_MANY_INVALID,
    }
    for value in pii_values:
        assert value not in text
    for v in exc.violations:
        for value in pii_values:
            assert value not in v.examples.to_string()


def test_pii_columns_are_masked_in_examples(make_tables, write_dir, pii_values):
    from features.validation import _examples

    raw = make_tables(optional=False)["customers"]
    ex = _examples(raw, [0, 1], ["name", "phone", "region"])
    assert ex["name"].tolist() == [PII_MASK, PII_MASK]
    assert ex["phone"].tolist() == [PII_MASK, PII_MASK]
    assert ex["region"].tolist() == ["Shanghai", "Shanghai"]


def test_pii_never_in_rejects_file(make_tables, write_dir, pii_values, tmp_path, as_of):
    tables = make_tables(optional=["consultations"])
    tables["customers"].loc[0, "referrals"] = "-3"
    tables["service_visits"].loc[0, "customer_id"] = "X-1"  # unknown customer
    tables["service_visits"].loc[1, "amount"] = "-5"
    # personal data also copied into an event table by a careless export
    tables["consultations"]["phone"] = [pii_values[6], pii_values[7]]
    tables["consultations"] = pd.concat(
        [tables["consultations"], tables["consultations"].iloc[[0]]], ignore_index=True
    )
    data = read_data_dir(write_dir(tables), as_of=as_of)
    assert len(data.rejects) == 4
    for fmt in ("csv", "parquet"):
        path = write_rejects(data.rejects, tmp_path / "out" / f"rejects.{fmt}")
        content = path.read_bytes()
        for value in pii_values:
            assert value.encode() not in content, value
        assert b"referrals" in content
    assert data.rejects["rule"].tolist() == [
        RULE_DUPLICATE_ROW,
        RULE_MIN,
        RULE_UNKNOWN_CUSTOMER,
        RULE_MIN,
    ]


def test_dates_with_mixed_utc_offsets_keep_wall_time(make_tables, write_dir):
    # Regression: a column mixing offsets (a DST change, or "Z" next to plain dates) made
    # pandas raise "Mixed timezones detected" instead of parsing or rejecting.
    tables = make_tables(optional=False)
    visits = tables["service_visits"]
    visits.loc[0, "visit_date"] = "2023-01-10T09:30:00+01:00"
    visits.loc[1, "visit_date"] = "2023-07-12T09:30:00+02:00"
    visits.loc[2, "visit_date"] = "2023-02-03T23:15:00Z"
    data = read_data_dir(write_dir(tables))
    assert len(data.rejects) == 0
    assert data.service_visits["visit_date"].iloc[:3].tolist() == [
        pd.Timestamp("2023-01-10 09:30"),
        pd.Timestamp("2023-07-12 09:30"),
        pd.Timestamp("2023-02-03 23:15"),
    ]


def test_enumerated_values_are_case_insensitive(make_tables):
    tables = make_tables(optional=["appointments"])
    appts = tables["appointments"].copy()
    appts["status"] = appts["status"].str.upper()
    tables["appointments"] = appts
    data = validate_tables(tables)
    assert set(data.table("appointments")["status"]) <= {"kept", "cancelled", "no_show"}
    assert len(data.table("appointments")) == len(appts)
