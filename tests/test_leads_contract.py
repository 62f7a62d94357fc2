"""The lost-leads extension of the data contract: leads, lead_contacts, market_events."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    LOST_REASONS,
    RULE_ALLOWED,
    RULE_DUPLICATE_KEY,
    RULE_MISSING_COLUMN,
    RULE_MISSING_PARENT,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_LEAD,
    TABLES,
    ContractError,
    split_codes,
)
from features.reading import read_data_dir


@pytest.fixture
def lead_dir(make_tables, make_lead_tables, write_dir):
    """Write required after-sales tables plus (possibly modified) lead tables."""

    def _write(fmt: str = "csv", name: str = "data", **lead_overrides):
        tables = {**make_tables(optional=False), **make_lead_tables(**lead_overrides)}
        return write_dir(tables, fmt=fmt, name=name)

    return _write


def test_valid_lead_tables_csv_and_parquet_give_identical_tables(lead_dir):
    from_csv = read_data_dir(lead_dir("csv", "csv"))
    from_parquet = read_data_dir(lead_dir("parquet", "parquet"))
    assert len(from_csv.rejects) == 0 and len(from_parquet.rejects) == 0
    for name in ("leads", "lead_contacts", "market_events"):
        pd.testing.assert_frame_equal(from_csv.tables[name], from_parquet.tables[name])
    leads = from_csv.tables["leads"].set_index("lead_id")
    assert leads.loc["L1", "lost_reasons"] == "price;finance_or_tradein"
    # a lead still lost was lost on its status date; a won lead keeps its own lost_date
    assert leads.loc["L1", "lost_date"] == pd.Timestamp("2024-02-01")
    assert leads.loc["L5", "lost_date"] == pd.Timestamp("2024-02-20")
    assert pd.isna(leads.loc["L4", "lost_date"]) and pd.isna(leads.loc["L6", "lost_date"])
    assert pd.isna(leads.loc["L7", "lost_reasons"])  # blank = incomplete record, kept


def test_multi_reason_cells_parse_the_same_from_csv_text_and_parquet_lists(
    make_tables, make_lead_tables, write_dir
):
    leads = make_lead_tables()["leads"]
    leads.loc[0, "lost_reasons"] = " Price ; finance_or_tradein;price "  # case, spaces, repeat
    csv = read_data_dir(write_dir({**make_tables(optional=False), "leads": leads}, name="c"))
    typed = leads.copy()
    typed["lost_reasons"] = [
        None if pd.isna(v) else [p.strip() for p in v.split(";")] for v in leads["lost_reasons"]
    ]
    d = write_dir(make_tables(optional=False), fmt="parquet", name="p")
    from conftest import to_typed

    to_typed(typed).to_parquet(d / "leads.parquet", index=False)
    pq = read_data_dir(d)
    assert csv.tables["leads"].loc[0, "lost_reasons"] == "price;finance_or_tradein"
    pd.testing.assert_series_equal(
        csv.tables["leads"]["lost_reasons"], pq.tables["leads"]["lost_reasons"]
    )
    assert split_codes("price;;competitor") == ["price", "competitor"]
    assert split_codes(None) == []


def test_unknown_reason_code_sets_the_row_aside_and_names_the_code(
    make_lead_tables, lead_dir, caplog
):
    leads = make_lead_tables()["leads"]
    leads.loc[1, "lost_reasons"] = "configuration_mismatch;too_expensive"
    with caplog.at_level(logging.WARNING, logger="features.contract"):
        data = read_data_dir(lead_dir(leads=leads))
    assert "L2" not in set(data.tables["leads"]["lead_id"])
    r = data.rejects[data.rejects["table"] == "leads"]
    assert r[["row_number", "column", "rule", "action"]].values.tolist() == [
        [2, "lost_reasons", RULE_ALLOWED, ACTION_SET_ASIDE]
    ]
    assert r["value"].iloc[0] == "configuration_mismatch;too_expensive"
    assert "'too_expensive'" in caplog.text and "allowed: " + ", ".join(LOST_REASONS) in caplog.text
    # its contacts now refer to an unknown lead and are set aside too, not silently dropped
    rc = data.rejects[data.rejects["table"] == "lead_contacts"]
    assert rc["rule"].tolist() == [RULE_UNKNOWN_LEAD]


def test_mostly_unknown_codes_refuse_the_file_with_file_column_codes_and_examples(
    make_lead_tables, lead_dir, lead_pii
):
    leads = make_lead_tables()["leads"]
    leads.loc[[0, 1, 2], "lost_reasons"] = ["cheap", "price;colour", "cheap"]
    with pytest.raises(ContractError) as exc:
        read_data_dir(lead_dir(leads=leads))
    msg = str(exc.value)
    assert "leads.csv, column 'lost_reasons': " + RULE_TOO_MANY_INVALID in msg
    assert "unknown code(s): 'cheap', 'colour'" in msg
    assert "allowed: " + ", ".join(LOST_REASONS) in msg
    assert "L1" in msg and "L2" in msg and "price;colour" in msg  # example rows
    assert not any(p in msg for p in lead_pii)


def test_missing_lost_reasons_column_is_a_file_level_error(make_lead_tables, lead_dir):
    leads = make_lead_tables()["leads"].drop(columns=["lost_reasons"])
    with pytest.raises(ContractError) as exc:
        read_data_dir(lead_dir(leads=leads))
    v = exc.value.violations
    assert [(x.rule, x.column) for x in v] == [(RULE_MISSING_COLUMN, "lost_reasons")]
    assert v[0].file.endswith("leads.csv")


def test_bad_status_sets_the_lead_aside_bad_intent_is_set_to_missing(make_lead_tables, lead_dir):
    leads = make_lead_tables()["leads"]
    leads.loc[0, "status"] = "defeated"
    leads.loc[1, "intent"] = "very high"
    data = read_data_dir(lead_dir(leads=leads))
    kept = data.tables["leads"].set_index("lead_id")
    assert "L1" not in kept.index
    assert pd.isna(kept.loc["L2", "intent"])
    r = data.rejects[data.rejects["table"] == "leads"]
    assert r[["row_number", "column", "action"]].values.tolist() == [
        [1, "status", ACTION_SET_ASIDE],
        [2, "intent", ACTION_SET_MISSING],
    ]


def test_duplicate_lead_ids_are_all_set_aside(make_lead_tables, lead_dir):
    leads = make_lead_tables()["leads"]
    leads.loc[1, "lead_id"] = "L1"  # two different rows claim L1
    data = read_data_dir(lead_dir(leads=leads, lead_contacts=None))
    assert "L1" not in set(data.tables["leads"]["lead_id"])
    r = data.rejects[data.rejects["table"] == "leads"]
    assert r["rule"].tolist() == [RULE_DUPLICATE_KEY, RULE_DUPLICATE_KEY]


def test_contacts_without_leads_table_are_refused(make_tables, make_lead_tables, write_dir):
    tables = {**make_tables(optional=False), **make_lead_tables(leads=None)}
    with pytest.raises(ContractError) as exc:
        read_data_dir(write_dir(tables))
    assert [v.rule for v in exc.value.violations] == [RULE_MISSING_PARENT]


def test_bad_event_type_is_set_aside(make_lead_tables, lead_dir):
    events = make_lead_tables()["market_events"]
    events.loc[2, "event_type"] = "rumour"
    data = read_data_dir(lead_dir(market_events=events))
    assert data.tables["market_events"]["event_id"].tolist() == ["E1", "E2"]


def test_directory_without_leads_reads_exactly_as_before(make_tables, write_dir):
    data = read_data_dir(write_dir(make_tables()))
    assert set(data.tables) == set(TABLES)
    assert data.summary()["table"].tolist() == list(TABLES)
    assert "leads" not in data.signals  # lead tables are not after-sales signals


def test_lead_tables_are_listed_in_the_summary_when_present(lead_dir, lead_pii):
    data = read_data_dir(lead_dir())
    s = data.summary().set_index("table")
    assert s.loc["leads", "valid"] == 7 and s.loc["lead_contacts", "valid"] == 4
    assert pd.isna(s.loc["leads", "customers"])
    assert not any(p in data.summary().to_string() for p in lead_pii)
