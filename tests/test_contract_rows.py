"""Row-level problems of the data contract: set aside (required column) or blanked (optional).

Each case checks the exact rule, column, action, value and customer of the reject.
Row numbers are 1-based data rows (the header is not counted); the default tables from
``make_tables`` are described in conftest.py.
"""

from __future__ import annotations

import pandas as pd
from contract_helpers import assert_one_reject, only_violation, refused, table_rejects

from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    RULE_AFTER_AS_OF,
    RULE_ALLOWED,
    RULE_DUPLICATE_ROW,
    RULE_MAX,
    RULE_MIN,
    RULE_MISSING,
    RULE_NOT_DATE,
    RULE_NOT_INTEGER,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_CUSTOMER,
)
from features.reading import read_data_dir

# --- row-level problems: set aside (required column) or blanked (optional column) -------------


def test_unparseable_date_in_one_row_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[6, "visit_date"] = "2023-13-45"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
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
    rej = table_rejects(data, "service_visits")
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
    assert_one_reject(data, "surveys", 2, "score", RULE_MAX, ACTION_SET_ASIDE, "11", "00102")
    assert data.table("surveys")["customer_id"].tolist() == ["00101", "00103", "00105"]


def test_negative_survey_score(make_tables, write_dir):
    tables = make_tables(optional=["surveys"])
    tables["surveys"].loc[0, "score"] = "-1"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(data, "surveys", 1, "score", RULE_MIN, ACTION_SET_ASIDE, "-1", "00101")


def test_bad_appointment_status(make_tables, write_dir):
    tables = make_tables(optional=["appointments"])
    tables["appointments"].loc[2, "status"] = "Maybe"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
        data, "appointments", 3, "status", RULE_ALLOWED, ACTION_SET_ASIDE, "Maybe", "00104"
    )
    assert len(data.table("appointments")) == 2


def test_bad_outreach_group(make_tables, write_dir):
    tables = make_tables(optional=["outreach"])
    tables["outreach"].loc[3, "group"] = "holdout"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
        data, "outreach", 4, "group", RULE_ALLOWED, ACTION_SET_ASIDE, "holdout", "00105"
    )
    assert data.table("outreach")["group"].tolist() == ["treatment", "control", "treatment"]


def test_negative_amount(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[1, "amount"] = "-1200.50"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
        data, "service_visits", 2, "amount", RULE_MIN, ACTION_SET_ASIDE, "-1200.50", "00101"
    )
    assert (data.service_visits["amount"] >= 0).all()


def test_missing_required_value_in_event(make_tables, write_dir):
    tables = make_tables(optional=["outreach"])
    tables["outreach"].loc[0, "cost"] = None
    data = read_data_dir(write_dir(tables))
    assert_one_reject(data, "outreach", 1, "cost", RULE_MISSING, ACTION_SET_ASIDE, "", "00102")


def test_fractional_sessions_blanked_then_defaulted(make_tables, write_dir):
    tables = make_tables(optional=["app_sessions"])
    tables["app_sessions"].loc[1, "sessions"] = "2.5"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
        data, "app_sessions", 2, "sessions", RULE_NOT_INTEGER, ACTION_SET_MISSING, "2.5", "00101"
    )
    assert data.table("app_sessions")["sessions"].tolist() == [1, 1, 2, 1]


def test_unknown_customer_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=["complaints"])
    tables["complaints"].loc[0, "customer_id"] = "99999"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
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
    rej = table_rejects(data, "service_visits")
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
    assert_one_reject(
        data, "surveys", 4, "survey_date", RULE_AFTER_AS_OF, ACTION_SET_ASIDE, "2024-07-01", "00105"
    )
    assert len(data.rejects) == 1
    assert data.as_of == pd.Timestamp(as_of)
    # without an as-of date nothing is checked
    assert len(read_data_dir(write_dir(tables)).rejects) == 0


def test_many_events_after_as_of_never_escalate(make_tables, write_dir):
    data = read_data_dir(write_dir(make_tables()), as_of="2023-06-30")
    rej = table_rejects(data, "service_visits")
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
    assert_one_reject(
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
    rej = table_rejects(data, "service_visits")
    assert rej["row_number"].tolist() == list(range(11, 21))
    assert set(rej["rule"]) == {RULE_DUPLICATE_ROW}


def test_negative_optional_wait_minutes_is_blanked_row_kept(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[2, "wait_minutes"] = "-30"
    data = read_data_dir(write_dir(tables))
    assert_one_reject(
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
    assert_one_reject(
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
    rej = table_rejects(data, "customers")
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


def test_systematic_problem_in_optional_customer_column_isrefused(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["customers"]["referrals"] = ["1.5", "2.5", "0", "1", "3"]  # 2 of 5 = 40%
    exc = refused(write_dir(tables))
    v = only_violation(exc, RULE_TOO_MANY_INVALID, "referrals")
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
