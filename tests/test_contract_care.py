"""The care extension of the contract: birthday (month-day), plate, insurance, advisor, care_contacts.

The default tables from ``make_tables`` are described in conftest.py; they carry none of the
care data, which is what an older export looks like.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from contract_helpers import only_violation, refused, table_rejects

from features.checks import parse_month_day
from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    ALL_TABLES,
    OPTIONAL_TABLES,
    PII_COLUMNS,
    PII_MASK,
    RULE_NOT_MONTH_DAY,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_CUSTOMER,
)
from features.reading import read_data_dir
from features.validated import write_validated
from features.validation import write_rejects

PLATES = ("粤B·3K7Q2", "粤B12345", "沪A88L21", "苏E0C9K7", "浙A7Q123")


def test_month_day_spellings():
    raw = pd.Series(
        ["03-07", "--03-07", "1985-03-07", "02-29", " 12-31 ", "1990-01-05T08:00:00"]
        + ["13-01", "02-30", "00-10", "3/7", "3-7", "March 7", "1985-02-29", None],
        dtype="object",
    )
    assert parse_month_day(raw).tolist()[:6] == ["03-07", "03-07", "03-07", "02-29"] + [
        "12-31",
        "01-05",
    ]
    assert parse_month_day(raw).iloc[6:].isna().all()


def test_month_day_from_typed_dates_drops_the_year():
    stamps = pd.Series(pd.to_datetime(["1985-03-07", None, "2001-11-30"]))
    assert parse_month_day(stamps).tolist()[::2] == ["03-07", "11-30"]
    assert parse_month_day(stamps).isna().tolist() == [False, True, False]
    dates = pd.Series([dt.date(1979, 2, 1), None], dtype="object")  # a Parquet date32 column
    assert parse_month_day(dates).tolist()[0] == "02-01"


def _care_customers(tables: dict[str, pd.DataFrame], birthdays: list[str | None]):
    cust = tables["customers"]
    cust["birthday"] = birthdays
    cust["plate"] = list(PLATES)
    cust["insurance_expiry_date"] = ["2024-07-15", "2025-01-31", None, "2024-06-01", "bad"]
    return tables


def test_care_columns_are_read_and_bad_birthdays_set_to_missing(make_tables, write_dir, as_of):
    tables = _care_customers(
        make_tables(optional=False), ["03-07", "--11-02", "1985-02-29", "02-29", "13-01"]
    )
    tables["service_visits"]["advisor_id"] = ["D1-A01", "D1-A02", None, *["D1-A01"] * 7]
    data = read_data_dir(write_dir(tables), as_of=as_of, max_invalid_share=0.5)
    cust = data.customers
    assert cust["birthday"].tolist()[:2] == ["03-07", "11-02"]
    assert cust["birthday"].iloc[3] == "02-29"
    assert cust["birthday"].isna().tolist() == [False, False, True, False, True]
    assert cust["plate"].tolist() == list(PLATES)
    assert cust["insurance_expiry_date"].dt.strftime("%Y-%m-%d").tolist()[:2] == [
        "2024-07-15",
        "2025-01-31",  # a policy ending after the as-of date is normal, not a future event
    ]
    advisors = data.service_visits["advisor_id"]
    assert advisors.tolist()[:2] == ["D1-A01", "D1-A02"] and pd.isna(advisors.iloc[2])
    rej = table_rejects(data, "customers")
    bad = rej[rej["column"] == "birthday"]
    assert bad["rule"].tolist() == [RULE_NOT_MONTH_DAY] * 2
    assert bad["action"].tolist() == [ACTION_SET_MISSING] * 2
    assert bad["row_number"].tolist() == [3, 5]
    assert bad["value"].tolist() == [PII_MASK, PII_MASK]  # personal data, masked
    assert rej.loc[rej["column"] == "insurance_expiry_date", "row_number"].tolist() == [5]
    assert len(data.customers) == 5  # no customer lost


def test_plate_and_birthday_never_leak_into_rejects_or_messages(
    make_tables, write_dir, tmp_path, as_of
):
    assert {"plate", "birthday"} <= set(PII_COLUMNS)
    tables = _care_customers(
        make_tables(optional=["consultations"]), ["03-07", "1999-13-40", "xx", "02-30", "04-01"]
    )
    # a careless export copies the plate into an event table, next to a row to set aside
    tables["consultations"]["note"] = [PLATES[0], PLATES[1]]
    tables["consultations"].loc[1, "customer_id"] = "X-9"
    data = read_data_dir(write_dir(tables), as_of=as_of, max_invalid_share=1.0)
    assert (table_rejects(data, "customers")["rule"] == RULE_NOT_MONTH_DAY).sum() == 3
    content = write_rejects(data.rejects, tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    for value in (*PLATES, "1999-13-40", "02-30"):
        assert value not in content
    # too many bad birthdays refuse the column: the examples mask it
    exc = refused(write_dir(tables, name="strict"), as_of=as_of, max_invalid_share=0.2)
    violation = only_violation(exc, RULE_TOO_MANY_INVALID, "birthday")
    assert set(violation.examples["birthday"]) == {PII_MASK}
    assert "02-30" not in str(exc) and "1999-13-40" not in str(exc)


def _care_contacts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00101", "00103", "X-404", "00105", "00105"],
            "contact_date": ["2024-01-10", "2024-02-01", "2024-02-02", "2024-03-03", "2024-03-03"],
            "trigger": ["maintenance_due", "birthday", "birthday", "insurance_expiry"] * 1
            + ["insurance_expiry"],
            "channel": ["sms", "wechat", "sms", "phone", "phone"],
        }
    )


def test_care_contacts_unknown_customers_and_duplicates_are_set_aside(
    make_tables, write_dir, as_of
):
    data = read_data_dir(
        write_dir(make_tables(optional=False) | {"care_contacts": _care_contacts()}), as_of=as_of
    )
    care = data.table("care_contacts")
    assert care["customer_id"].tolist() == ["00101", "00103", "00105"]
    assert care["contact_date"].dt.strftime("%Y-%m-%d").tolist()[0] == "2024-01-10"
    rej = table_rejects(data, "care_contacts")
    assert rej["row_number"].tolist() == [3, 5]
    assert rej["rule"].tolist()[0] == RULE_UNKNOWN_CUSTOMER
    assert set(rej["action"]) == {ACTION_SET_ASIDE}
    summary = data.summary().set_index("table")
    assert summary.loc["care_contacts", ["rows", "valid", "set_aside"]].tolist() == [5, 3, 2]
    assert "care_contacts" not in data.signals  # read by the care stage, not a model signal


def test_a_directory_without_care_data_reads_as_before(make_tables, write_dir, as_of):
    data = read_data_dir(write_dir(make_tables()), as_of=as_of)
    assert "care_contacts" not in data.tables and "care_contacts" not in OPTIONAL_TABLES
    assert "care_contacts" not in data.summary()["table"].tolist()
    for col in ("insurance_expiry_date", "birthday", "plate"):
        assert data.customers[col].isna().all()
    assert data.service_visits["advisor_id"].isna().all()
    assert len(data.rejects) == 0
    assert list(data.signals) == [
        "app_sessions",
        "appointments",
        "surveys",
        "consultations",
        "complaints",
        "outreach",
    ]


def test_validated_directory_keeps_the_care_data(make_tables, write_dir, tmp_path, as_of):
    tables = _care_customers(make_tables(optional=False), ["03-07", None, "02-29", "12-01", "x"])
    tables["care_contacts"] = _care_contacts()
    data = read_data_dir(write_dir(tables, fmt="parquet"), as_of=as_of, max_invalid_share=0.5)
    write_validated(data, tmp_path / "validated", None, 0.5, ALL_TABLES)
    again = read_data_dir(tmp_path / "validated", as_of=as_of, max_invalid_share=0.5)
    for name in ("customers", "care_contacts"):
        pd.testing.assert_frame_equal(again.tables[name], data.tables[name])
    assert again.customers["birthday"].tolist()[2] == "02-29"


def test_plate_and_birthday_go_nowhere_new():
    import pytest

    from models.scoring import _personal
    from models.tracking import input_example

    cust = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "name": ["X Y", None],
            "phone": ["1", "2"],
            "plate": list(PLATES[:2]),
            "birthday": ["03-07", "02-29"],
        }
    )
    out = _personal(cust, pd.Series(["b", "a"]))
    # the CRM file's personal columns: name and phone, never the plate or the birthday
    assert list(out.columns) == ["dealer_id", "name", "phone", "do_not_contact"]
    assert out["phone"].tolist() == ["2", "1"]
    for col in ("plate", "birthday"):
        with pytest.raises(ValueError, match="personal"):
            input_example(cust, [col])
