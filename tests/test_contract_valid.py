"""Valid inputs of the data contract: formats, headers, defaults, optional tables and columns.

Row numbers are 1-based data rows (the header is not counted); the default tables from
``make_tables`` are described in conftest.py.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import REJECT_COLUMNS, TABLES
from features.files import write_data_dir
from features.reading import read_data_dir
from features.validation import validate_tables

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
