"""Personal data never leaks from the data contract: messages, examples and rejects files.

Row numbers are 1-based data rows (the header is not counted); the default tables from
``make_tables`` are described in conftest.py.
"""

from __future__ import annotations

import pandas as pd
from contract_helpers import refused

from features.contract import (
    PII_MASK,
    RULE_DUPLICATE_ID,
    RULE_DUPLICATE_ROW,
    RULE_MIN,
    RULE_MISSING,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_CUSTOMER,
)
from features.reading import read_data_dir
from features.validation import write_rejects

# --- personal data never leaks -----------------------------------------------------------


def test_pii_never_in_error_message(make_tables, write_dir, pii_values):
    tables = make_tables(optional=False)
    customers = tables["customers"]
    customers.loc[1, "customer_id"] = "00101"  # duplicate id: examples are customer rows
    customers.loc[3, "customer_id"] = None  # empty id
    customers["referrals"] = ["x", "y", "z", "0", "1"]  # examples from the customers table
    exc = refused(write_dir(tables))
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
