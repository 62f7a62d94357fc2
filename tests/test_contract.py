"""File-level breaches of the data contract (docs/data_contract.md): one ContractError.

Each case checks the exact rule and column named in the violation, and the file named in the
message.
Row numbers are 1-based data rows (the header is not counted); the default tables from
``make_tables`` are described in conftest.py.
"""

from __future__ import annotations

import pandas as pd
from contract_helpers import assert_one_reject, only_violation, refused, table_rejects

from features.contract import (
    ACTION_SET_ASIDE,
    RULE_AMBIGUOUS_FILE,
    RULE_DUPLICATE_COLUMN,
    RULE_DUPLICATE_ID,
    RULE_EMPTY_TABLE,
    RULE_MISSING,
    RULE_MISSING_COLUMN,
    RULE_MISSING_FILE,
    RULE_NOT_DATE,
    RULE_NOT_NUMBER,
    RULE_TOO_MANY_INVALID,
    RULE_UNREADABLE,
)
from features.reading import read_data_dir

# --- file-level breaches: one ContractError naming file, column and rule ------------------------


def test_missing_required_file(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=False, service_visits=None))
    exc = refused(data_dir)
    v = only_violation(exc, RULE_MISSING_FILE)
    assert len(exc.violations) == 1
    assert v.column is None
    assert "service_visits.parquet or service_visits.csv" in str(exc)
    assert "service_visits" in v.file
    assert RULE_MISSING_FILE in str(exc)


def test_missing_data_directory(tmp_path):
    exc = refused(tmp_path / "nope")
    assert "nope" in str(exc)
    assert "not found" in str(exc)


def test_missing_required_column(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"] = tables["service_visits"].drop(columns="visit_date")
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_MISSING_COLUMN, "visit_date")
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
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_DUPLICATE_COLUMN, "amount")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "service_visits.csv, column 'amount': column given twice" in str(exc)


def test_missing_required_column_in_optional_table(make_tables, write_dir):
    tables = make_tables(optional=["surveys"])
    tables["surveys"] = tables["surveys"].drop(columns="score")
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_MISSING_COLUMN, "score")
    assert v.file.endswith("surveys.csv")


def test_text_in_amount_column_is_refused_as_not_a_number(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"]["amount"] = "about a thousand"
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_TOO_MANY_INVALID, "amount")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "rule 'not a number' fails in 10 of 10 rows" in v.detail
    assert len(v.examples) == 5  # up to five example rows
    assert v.examples["row_number"].tolist() == [1, 2, 3, 4, 5]
    assert "about a thousand" in str(exc)


def test_text_in_amount_column_parquet(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"]["amount"] = "n/a"  # to_typed leaves an unparseable column as text
    exc = refused(write_dir(tables, fmt="parquet"))
    v = only_violation(exc, RULE_TOO_MANY_INVALID, "amount")
    assert v.file.endswith("service_visits.parquet")
    assert "'not a number'" in v.detail


def test_duplicate_customer_id(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"].loc[3, "customer_id"] = "00102"  # row 4 repeats row 2's id
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_DUPLICATE_ID, "customer_id")
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
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_MISSING, "customer_id")
    assert len(exc.violations) == 1
    assert v.file.endswith("customers.csv")
    assert "1 customer row(s) without an id" in v.detail
    assert v.examples["row_number"].tolist() == [3]


def test_empty_customer_id_in_event_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[4, "customer_id"] = ""
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
        data, "service_visits", 5, "customer_id", RULE_MISSING, ACTION_SET_ASIDE, "", ""
    )
    assert len(data.service_visits) == 9


def test_empty_customers_table(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"] = tables["customers"].iloc[:0]
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_EMPTY_TABLE)
    assert v.file.endswith("customers.csv")
    assert "customers.csv: empty table" in str(exc)


def test_empty_required_table_parquet(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"] = tables["service_visits"].iloc[:0]
    exc = refused(write_dir(tables, fmt="parquet"))
    v = only_violation(exc, RULE_EMPTY_TABLE)
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
    exc = refused(data_dir)
    v = only_violation(exc, RULE_AMBIGUOUS_FILE)
    assert len(exc.violations) == 1
    assert v.file.endswith("surveys")
    assert "both surveys.parquet and surveys.csv exist" in str(exc)


def test_corrupt_parquet_is_unreadable(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=["appointments"]), fmt="parquet")
    (data_dir / "appointments.parquet").write_bytes(b"PAR1 this is not really parquet")
    exc = refused(data_dir)
    v = only_violation(exc, RULE_UNREADABLE)
    assert v.file.endswith("appointments.parquet")
    assert "appointments.parquet: unreadable file" in str(exc)


def test_non_utf8_csv_is_unreadable(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=["complaints"]))
    (data_dir / "complaints.csv").write_bytes(b"customer_id,complaint_date\n\xff\xfe,2024\n")
    exc = refused(data_dir)
    v = only_violation(exc, RULE_UNREADABLE)
    assert v.file.endswith("complaints.csv")


def test_empty_csv_file_is_unreadable(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=False))
    (data_dir / "customers.csv").write_bytes(b"")
    exc = refused(data_dir)
    assert only_violation(exc, RULE_UNREADABLE).file.endswith("customers.csv")


def test_whole_date_column_in_day_first_format_isrefused(make_tables, write_dir):
    tables = make_tables(optional=False)
    visits = tables["service_visits"]
    visits["visit_date"] = pd.to_datetime(visits["visit_date"]).dt.strftime("%d/%m/%Y")
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_TOO_MANY_INVALID, "visit_date")
    assert len(exc.violations) == 1
    assert v.file.endswith("service_visits.csv")
    assert "rule 'not a date' fails in 10 of 10 rows" in v.detail
    assert "10/01/2023" in str(exc)  # an offending value is shown


def test_share_of_invalid_rows_at_threshold_is_set_aside_above_isrefused(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[[0, 1], "visit_date"] = "soon"  # 2 of 10 = 20%: not > 20%
    data = read_data_dir(write_dir(tables, name="two"))
    assert table_rejects(data, "service_visits")["row_number"].tolist() == [1, 2]
    assert set(table_rejects(data, "service_visits")["rule"]) == {RULE_NOT_DATE}
    tables["service_visits"].loc[2, "visit_date"] = "soon"  # 3 of 10 = 30%
    exc = refused(write_dir(tables, name="three"))
    assert (
        "fails in 3 of 10 rows" in only_violation(exc, RULE_TOO_MANY_INVALID, "visit_date").detail
    )
    # a stricter threshold refuses the first directory too
    exc = refused(write_dir(tables, name="two"), max_invalid_share=0.1)
    only_violation(exc, RULE_TOO_MANY_INVALID, "visit_date")


def test_single_invalid_row_never_escalates(make_tables, write_dir):
    tables = make_tables(
        optional=False, service_visits=make_tables(optional=False)["service_visits"].iloc[:2]
    )
    tables["service_visits"].loc[0, "amount"] = "lots"  # 1 of 2 rows = 50%, but only one row
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
        data, "service_visits", 1, "amount", RULE_NOT_NUMBER, ACTION_SET_ASIDE, "lots", "00101"
    )


def test_multiple_violations_reported_together(make_tables, write_dir):
    tables = make_tables(outreach=None)
    tables["customers"].loc[1, "customer_id"] = "00101"  # duplicate id
    tables["service_visits"]["amount"] = "x"  # whole column not a number
    tables["surveys"] = tables["surveys"].drop(columns="survey_date")  # missing column
    tables.pop("service_visits")  # ... and a missing required file
    data_dir = write_dir(tables)
    exc = refused(data_dir)
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
    exc = refused(write_dir(tables, name="values"))
    assert [(v.rule, v.column, v.file.rsplit("/", 1)[-1]) for v in exc.violations] == [
        (RULE_DUPLICATE_ID, "customer_id", "customers.csv"),
        (RULE_TOO_MANY_INVALID, "amount", "service_visits.csv"),
        (RULE_TOO_MANY_INVALID, "status", "appointments.csv"),
    ]
    assert "data contract violated (3 problem(s))" in str(exc)
    assert "rule 'not in allowed values' fails in 3 of 3 rows" in str(exc)
