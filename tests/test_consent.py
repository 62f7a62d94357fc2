"""Consent: the optional do_not_contact column of customers and leads (docs/data_contract.md)."""

from __future__ import annotations

import logging

import pandas as pd
from typer.testing import CliRunner

from features.contract import ACTION_SET_MISSING, RULE_ALLOWED, do_not_contact
from features.reading import read_data_dir
from features.validation import validate_tables
from models.leads.config import LeadRules
from models.leads.features import lost_leads
from models.leads.rules import concerned_leads
from pipeline.cli import app


def test_accepted_spellings_are_read_as_yes_or_no(make_tables) -> None:
    tables = make_tables(optional=False)
    tables["customers"]["do_not_contact"] = ["YES", " no ", "True", "0", None]
    data = validate_tables(tables)
    assert data.customers["do_not_contact"].tolist()[:4] == ["yes", "no", "yes", "no"]
    assert pd.isna(data.customers["do_not_contact"].iloc[4])  # missing = may contact
    assert do_not_contact(data.customers).tolist() == [True, False, True, False, False]
    assert data.rejects.empty


def test_a_parquet_boolean_column_is_accepted(make_tables, write_dir) -> None:
    tables = make_tables(optional=False)
    tables["customers"]["do_not_contact"] = pd.array([True, False, None, False, True], "boolean")
    data = read_data_dir(write_dir(tables, fmt="parquet"))
    assert do_not_contact(data.customers).tolist() == [True, False, False, False, True]


def test_without_the_column_everyone_may_be_contacted(make_tables) -> None:
    data = validate_tables(make_tables(optional=False))
    assert data.customers["do_not_contact"].isna().all()
    assert not do_not_contact(data.customers).any()


def test_a_bad_value_is_set_to_missing_and_the_allowed_values_are_named(
    make_tables, caplog
) -> None:
    tables = make_tables(optional=False)
    tables["customers"]["do_not_contact"] = ["yes", "opt-out", None, None, None]
    with caplog.at_level(logging.WARNING, logger="features.contract"):
        data = validate_tables(tables)
    assert len(data.customers) == 5  # the customer row is kept
    assert pd.isna(data.customers.loc[1, "do_not_contact"])
    rej = data.rejects
    assert rej[["table", "row_number", "column", "rule", "action", "value"]].values.tolist() == [
        ["customers", 2, "do_not_contact", RULE_ALLOWED, ACTION_SET_MISSING, "opt-out"]
    ]
    assert "'opt-out' (1); allowed: yes, no, true, 1, false, 0" in caplog.text


def test_concerned_leads_leave_out_a_do_not_contact_lead(make_tables, make_lead_tables, write_dir):
    leads = make_lead_tables()["leads"]
    leads["do_not_contact"] = ["yes", *[None] * (len(leads) - 1)]  # L1
    data = read_data_dir(write_dir({**make_tables(optional=False), "leads": leads}))
    event = {"event_date": "2024-03-01", "event_type": "finance_offer", "model": "RAV4"}
    out = concerned_leads(event, lost_leads(data.tables["leads"]), LeadRules())
    assert out["lead_id"].tolist() == ["L5"] and out["priority"].tolist() == [1]
    assert out.attrs["do_not_contact"] == 1


def test_trigger_task_file_excludes_the_flagged_lead_and_says_so(
    make_tables, make_lead_tables, write_dir, tmp_path, lead_pii
) -> None:
    tables = make_lead_tables()
    tables["leads"]["do_not_contact"] = ["TRUE", *[None] * (len(tables["leads"]) - 1)]  # L1
    d = write_dir({**make_tables(optional=False), **tables})
    out = tmp_path / "tasks.csv"
    res = CliRunner().invoke(app, ["leads", "trigger", "E1", str(d), "--out", str(out)])
    assert res.exit_code == 0, res.output
    tasks = pd.read_csv(out, dtype=str)
    assert tasks["lead_id"].tolist() == ["L5"] and tasks["priority"].tolist() == ["1"]
    assert "1 lost lead(s) concerned" in res.output
    assert "1 concerned lead(s) left out: do not contact (leads.do_not_contact)" in res.output
    assert not any(p in res.output for p in lead_pii)
    # no flag: the same event lists both leads and says nothing about consent
    plain = write_dir({**make_tables(optional=False), **make_lead_tables()}, name="plain")
    res = CliRunner().invoke(app, ["leads", "trigger", "E1", str(plain), "--out", str(out)])
    assert pd.read_csv(out, dtype=str)["lead_id"].tolist() == ["L1", "L5"]
    assert "do not contact" not in res.output
