"""Contract refusals added by features/checks.py: types, plausible ranges, masking by value."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import AS_OF, NAMES, PHONES

from features import checks
from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    PII_MASK,
    RULE_DUPLICATE_COLUMN,
    RULE_DUPLICATE_ID,
    RULE_MAX,
    RULE_MISSING,
    RULE_NOT_NUMBER,
    ContractError,
)
from features.reading import read_data_dir
from features.validation import write_rejects


def _refused(data_dir, **kwargs) -> ContractError:
    with pytest.raises(ContractError) as info:
        read_data_dir(data_dir, **kwargs)
    return info.value


def _visits_rejects(data) -> pd.DataFrame:
    return data.rejects[data.rejects["table"] == "service_visits"]


def test_exactly_duplicated_csv_header_is_refused(make_tables, write_dir):
    data_dir = write_dir(make_tables(optional=False))
    path = data_dir / "service_visits.csv"
    lines = path.read_text().splitlines()
    lines = [lines[0] + ",amount"] + [line + ",1" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    exc = _refused(data_dir)
    (v,) = [v for v in exc.violations if v.rule == RULE_DUPLICATE_COLUMN]
    assert v.column == "amount" and v.file.endswith("service_visits.csv")
    assert "amount.1" not in str(exc)


def test_parquet_numeric_column_stored_as_bool_is_refused(make_tables, write_dir, tmp_path):
    data_dir = write_dir(make_tables(optional=False), fmt="parquet")
    visits = pd.read_parquet(data_dir / "service_visits.parquet")
    visits["wait_minutes"] = visits["wait_minutes"] > 50
    visits.to_parquet(data_dir / "service_visits.parquet", index=False)
    exc = _refused(data_dir)
    (v,) = exc.violations
    assert v.rule == checks.RULE_WRONG_TYPE and v.column == "wait_minutes"
    assert "service_visits.parquet" in v.file and "0/1" in str(exc)


@pytest.mark.parametrize(
    ("column", "value", "rule", "action"),
    [
        ("amount", "1e308", RULE_MAX, ACTION_SET_ASIDE),
        ("amount", "inf", RULE_NOT_NUMBER, ACTION_SET_ASIDE),
        ("amount", "-inf", RULE_NOT_NUMBER, ACTION_SET_ASIDE),
        ("amount", "nan", RULE_MISSING, ACTION_SET_ASIDE),
        ("amount", "1000001", RULE_MAX, ACTION_SET_ASIDE),
        ("wait_minutes", "1441", RULE_MAX, ACTION_SET_MISSING),
        ("wait_minutes", "inf", RULE_NOT_NUMBER, ACTION_SET_MISSING),
        ("mileage_km", "2000001", RULE_MAX, ACTION_SET_MISSING),
    ],
)
def test_absurd_numbers_are_set_aside_or_missing(
    make_tables, write_dir, column, value, rule, action
):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, column] = value
    data = read_data_dir(write_dir(tables), AS_OF)
    rej = _visits_rejects(data)
    assert rej[["row_number", "column", "rule", "action"]].values.tolist() == [
        [1, column, rule, action]
    ]


def test_plausible_large_amount_is_kept(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "amount"] = "99000"  # an accident repair
    data = read_data_dir(write_dir(tables), AS_OF)
    assert _visits_rejects(data).empty
    assert data.service_visits["amount"].max() == 99000


def test_event_before_1990_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "visit_date"] = "1970-01-01"
    data = read_data_dir(write_dir(tables), AS_OF)
    rej = _visits_rejects(data)
    assert rej[["row_number", "rule", "action"]].values.tolist() == [
        [1, checks.RULE_TOO_EARLY, ACTION_SET_ASIDE]
    ]


def test_future_event_without_as_of_is_set_aside(make_tables, write_dir):
    tables = make_tables(optional=False)
    future = pd.Timestamp.today().normalize() + pd.Timedelta(days=3)
    tables["service_visits"].loc[0, "visit_date"] = f"{future:%Y-%m-%d}"
    tomorrow = pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
    tables["service_visits"].loc[1, "visit_date"] = f"{tomorrow:%Y-%m-%d}"
    data = read_data_dir(write_dir(tables))
    rej = _visits_rejects(data)
    assert rej[["row_number", "rule"]].values.tolist() == [[1, checks.RULE_FUTURE]]


def test_stale_as_of_warning():
    last = pd.Timestamp("2024-01-01")
    assert checks.stale_as_of_warning(pd.Timestamp("2024-12-01"), last) is None
    text = checks.stale_as_of_warning(pd.Timestamp("2026-01-01"), last)
    assert "731 days after the last event" in text
    assert checks.stale_as_of_warning(pd.Timestamp("2026-01-01"), None) is None


def test_looks_like_phone():
    values = pd.Series(
        ["+86-139-7771-0001", "13912345678", "021 5555 1234", "00101", "C000001", "2024-01-05"]
    )
    assert checks.looks_like_phone(values).tolist() == [True, True, True, False, False, False]


def test_swapped_id_and_name_columns_never_show_names(make_tables, write_dir):
    tables = make_tables(optional=False)
    cust = tables["customers"]
    cust["customer_id"], cust["name"] = cust["name"].copy(), cust["customer_id"].copy()
    cust.loc[1, "customer_id"] = cust.loc[0, "customer_id"]  # a duplicate "id" (a name)
    text = str(_refused(write_dir(tables)))
    assert RULE_DUPLICATE_ID in text
    assert not any(n in text for n in NAMES), text
    assert PII_MASK in text


def test_phones_as_ids_never_show(make_tables, write_dir):
    tables = make_tables(optional=False)
    cust = tables["customers"]
    cust["customer_id"], cust["phone"] = cust["phone"].copy(), cust["customer_id"].copy()
    cust.loc[2, "customer_id"] = cust.loc[3, "customer_id"]
    text = str(_refused(write_dir(tables)))
    assert not any(p in text for p in PHONES), text


def test_rejects_never_show_phone_shaped_values(make_tables, write_dir, tmp_path):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "customer_id"] = PHONES[0]  # unknown customer: a phone
    tables["service_visits"].loc[1, "visit_type"] = "13912345678"  # a phone in a code column
    tables["service_visits"].loc[2, "customer_id"] = NAMES[0]  # unknown customer: a name
    data = read_data_dir(write_dir(tables), AS_OF)
    path = write_rejects(data.rejects, tmp_path / "rejects.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert PHONES[0] not in text and "13912345678" not in text and NAMES[0] not in text
    rej = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert (rej["customer_id"] == PII_MASK).sum() == 2 and (rej["value"] == PII_MASK).sum() == 3


def test_looks_like_name():
    values = pd.Series(["Zebulon Quixwood", "郭子", "唐洋", "C000001", "00101", "L1", "kept"])
    assert checks.looks_like_name(values).tolist() == [True, True, True] + [False] * 4
