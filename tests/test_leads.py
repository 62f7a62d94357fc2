"""Lost leads: labels, point-in-time features, rule grades, routes, triggers, the CRM file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.reading import read_data_dir
from models.leads.config import LeadRules, LeadsConfig
from models.leads.diagnostics import incomplete_records, reasons_by
from models.leads.features import data_end, lead_features, lead_labels, lost_leads
from models.leads.rules import GRADES, concerned_leads, grade_leads, route_leads
from pipeline.cli import app
from pipeline.common import load_params

RULES = LeadRules()


@pytest.fixture
def lead_data(make_tables, make_lead_tables, write_dir):
    def _read(**lead_overrides):
        tables = {**make_tables(optional=False), **make_lead_tables(**lead_overrides)}
        return read_data_dir(write_dir(tables))

    return _read


@pytest.fixture
def lost(lead_data):
    return lost_leads(lead_data().tables["leads"])


def test_lost_leads_are_the_leads_with_a_loss_date_in_date_order(lost):
    # L4 (won directly) and L6 (open) were never lost; L5 was lost and won back.
    assert lost["lead_id"].tolist() == ["L3", "L1", "L2", "L5", "L7"]
    assert lost["reasons"].tolist() == [
        ["competitor"],
        ["price", "finance_or_tradein"],
        ["configuration_mismatch"],
        ["price"],
        [],
    ]


def test_labels_by_hand(lost):
    end = data_end(lost, None)
    assert end == pd.Timestamp("2024-04-15")  # L5's win is the latest date
    lab = lead_labels(lost, pd.Timestamp("2024-06-30"), 90).set_index(lost["lead_id"])
    assert lab["bought"].to_dict() == {"L3": 0, "L1": 0, "L2": 0, "L5": 1, "L7": 0}
    assert lab["labelled"].all()  # 2024-03-03 + 90 days = 2024-06-01 <= 2024-06-30
    lab = lead_labels(lost, pd.Timestamp("2024-05-15"), 90).set_index(lost["lead_id"])
    # windows not yet over: L5 (ends 05-20) and L7 (06-01)
    assert lab["labelled"].to_dict() == {"L3": True, "L1": True, "L2": True, "L5": False,
                                         "L7": False}  # fmt: skip
    lab = lead_labels(lost, pd.Timestamp("2024-06-30"), 30).set_index(lost["lead_id"])
    assert lab.loc["L5", "bought"] == 0  # won back after 55 days: not within 30


def test_rule_grades_by_hand(lost):
    grade = grade_leads(lost, RULES).set_axis(lost["lead_id"])
    # L3 bought a competitor with no expected date; L1/L5 price in window; L2 configuration
    # with mid intent; L7 without any reason.
    assert grade.to_dict() == {"L3": "low", "L1": "high", "L2": "mid", "L5": "high", "L7": "low"}


def test_rule_grades_edge_cases_on_a_tiny_frame():
    def lead(reasons, intent="mid", expected="2024-03-01", bought="no", lost="2024-02-01"):
        return {
            "lost_date": pd.Timestamp(lost),
            "reasons": reasons,
            "intent": intent,
            "bought_competitor": bought,
            "expected_purchase_date": pd.Timestamp(expected) if expected else pd.NaT,
        }

    frame = pd.DataFrame(
        [
            lead(["service_experience", "price"]),  # bad service is primary -> low
            lead(["price", "service_experience"]),  # price primary, in window -> high
            lead(["price"], expected="2024-01-15"),  # window passed -> not high; no affinity
            lead(["competitor"], intent="high"),  # competitor appeal + affinity -> mid
            lead(["competitor"], intent="low"),  # no affinity -> low
            lead(["configuration_mismatch"], intent=None),  # intent unknown -> low
            lead(["delivery_time"], bought="yes"),  # bought, but a purchase date ahead -> high
            lead(["competitor"], bought="yes", expected=None, intent="high"),  # bought -> low
        ]
    )
    assert grade_leads(frame, RULES).tolist() == [
        "low", "high", "low", "mid", "low", "low", "high", "low",
    ]  # fmt: skip


def test_every_lost_lead_gets_exactly_one_grade_and_one_route(lost):
    grade = grade_leads(lost, RULES)
    routes = route_leads(lost, RULES)
    assert grade.index.equals(lost.index) and routes.index.equals(lost.index)
    assert grade.isin(GRADES).all() and routes["action"].notna().all()
    assert routes.set_index(lost["lead_id"])["route"].to_dict() == {
        "L3": "bought_competitor",
        "L1": "price",
        "L2": "configuration_mismatch",
        "L5": "price",
        "L7": "unrecorded",
    }


def test_poor_service_goes_to_a_manager_within_24_hours_whatever_else_is_listed():
    frame = pd.DataFrame(
        {"reasons": [["price", "service_experience"]], "bought_competitor": ["yes"]}
    )
    r = route_leads(frame, RULES).iloc[0]
    assert (r["route"], r["owner"], r["due_hours"]) == ("service_experience", "sales_manager", 24)
    price = route_leads(pd.DataFrame({"reasons": [["price"]], "bought_competitor": [None]}), RULES)
    assert price.iloc[0]["wait_for"] == "price_change;finance_offer"
    assert np.isnan(price.iloc[0]["due_hours"])


def test_features_by_hand(lead_data):
    data = lead_data()
    lost = lost_leads(data.tables["leads"])
    f = lead_features(lost, RULES, data.tables["market_events"], data.tables["lead_contacts"])
    f = f.set_index("lead_id")
    assert f.loc["L1", "reason_price"] == 1 and f.loc["L1", "reason_finance_or_tradein"] == 1
    assert f.loc["L1", "n_reasons"] == 2 and f.loc["L1", "primary_reason"] == "price"
    assert f.loc["L1", "days_to_expected_purchase"] == 60  # 2024-02-01 -> 2024-04-01
    assert f.loc["L1", "days_in_funnel"] == 27
    assert f.loc["L7", "has_reason"] == 0 and pd.isna(f.loc["L7", "intent_level"])
    # E3 (competitor complaints about BYD Song PLUS, 02-25) is in L5's 30 days? L5 is a RAV4
    # lead without a competitor model: the event names a competitor model, so it does not match.
    assert f["events_competitor_complaints_30d"].sum() == 0
    # E1 (finance offer, RAV4, 03-01) is after every RAV4 loss: no lead saw it before its loss.
    assert f["events_finance_offer_30d"].sum() == 0
    # S1 lost L1 (02-01) and then L5 (02-20): one prior loss; L1's window was still open.
    assert f.loc["L5", "consultant_prior_losses"] == 1
    assert f.loc["L5", "consultant_incomplete_share"] == 0
    assert pd.isna(f.loc["L5", "consultant_recovery_rate"])
    assert f.loc["L1", "consultant_prior_losses"] == 0


def test_features_do_not_change_when_later_events_contacts_and_leads_are_added(lead_data):
    data = lead_data()
    leads = data.tables["leads"]
    lost = lost_leads(leads)
    events, contacts = data.tables["market_events"], data.tables["lead_contacts"]
    before = lead_features(lost, RULES, events, contacts).set_index("lead_id")
    for r in lost.itertuples():
        # For this lead: events from its loss date on that match every lead, contacts on its
        # loss date, and a same-day loss by its consultant that was won back.
        later = pd.DataFrame(
            [
                {"event_id": f"X{j}", "event_date": r.lost_date + pd.Timedelta(days=j),
                 "event_type": t, "model": None, "region": None, "competitor_model": None}
                for j, t in enumerate(("finance_offer", "price_change", "stock_arrival"))
            ]
        )  # fmt: skip
        more_contacts = pd.concat(
            [contacts, pd.DataFrame({"lead_id": [r.lead_id], "contact_date": [r.lost_date]})],
            ignore_index=True,
        )
        new = leads[leads["lead_id"] == r.lead_id].assign(
            lead_id="L99", lost_date=r.lost_date, status="won",
            status_date=r.lost_date + pd.Timedelta(days=5), lost_reasons=None,
        )  # fmt: skip
        more_lost = lost_leads(pd.concat([leads, new], ignore_index=True))
        after = lead_features(
            more_lost, RULES, pd.concat([events, later], ignore_index=True), more_contacts
        ).set_index("lead_id")
        pd.testing.assert_series_equal(before.loc[r.lead_id], after.loc[r.lead_id])


def test_events_before_the_loss_are_counted():
    lost = lost_leads(
        pd.DataFrame(
            {
                "lead_id": ["A", "B"],
                "lost_date": pd.to_datetime(["2024-03-01", "2024-03-01"]),
                "lost_reasons": ["price", "price"],
                "model_interest": ["RAV4", "Camry"],
                "region": ["R1", "R1"],
                "competitor_model": [None, None],
            }
        )
    )
    events = pd.DataFrame(
        {
            "event_type": ["price_change"] * 4,
            "event_date": pd.to_datetime(["2024-02-29", "2024-01-31", "2024-01-30", "2024-03-01"]),
            "model": ["RAV4", None, "RAV4", "RAV4"],
            "region": [None, "R1", None, None],
            "competitor_model": [None] * 4,
        }
    )
    from models.leads.features import _events_before

    # A: 02-29 (RAV4) and 01-31 (any model in R1, 30 days before); not 01-30 nor 03-01.
    assert _events_before(lost, events, 30).tolist() == [2.0, 1.0]


def test_trigger_selects_exactly_the_leads_concerned(lead_data):
    data = lead_data()
    lost = lost_leads(data.tables["leads"])
    ev = data.tables["market_events"].set_index("event_id")
    # E1: finance offer on RAV4 (all regions), 03-01. L1 (price+finance, window to 04-01) and
    # L5 (price, won back only on 04-15, window to 05-01) qualify; L3 bought a competitor.
    e1 = concerned_leads(ev.loc["E1"].to_dict() | {"event_id": "E1"}, lost, RULES)
    assert e1["lead_id"].tolist() == ["L1", "L5"]  # both high; nearer expected date first
    assert e1["priority"].tolist() == [1, 2]
    assert e1["matched_reasons"].tolist() == ["price;finance_or_tradein", "price"]
    # E2: Camry stock in R1 -> L2 (configuration). E3: complaints about the competitor L3
    # already bought -> nobody.
    assert concerned_leads(ev.loc["E2"].to_dict(), lost, RULES)["lead_id"].tolist() == ["L2"]
    assert concerned_leads(ev.loc["E3"].to_dict(), lost, RULES).empty


def test_trigger_window_status_region_and_score_order():
    base = {
        "status": "lost", "status_date": pd.Timestamp("2024-01-10"),
        "lost_date": pd.Timestamp("2024-01-10"), "lost_reasons": "price", "intent": "mid",
        "bought_competitor": "no", "model_interest": "RAV4", "region": "R1",
        "competitor_model": None, "expected_purchase_date": pd.Timestamp("2024-06-01"),
    }  # fmt: skip
    rows = [
        {**base, "lead_id": "keep_a"},
        {**base, "lead_id": "keep_b"},
        {**base, "lead_id": "other_region", "region": "R2"},
        {**base, "lead_id": "window_over", "expected_purchase_date": pd.Timestamp("2024-02-01")},
        {**base, "lead_id": "no_date_old", "expected_purchase_date": pd.NaT,
         "lost_date": pd.Timestamp("2023-10-01"), "status_date": pd.Timestamp("2023-10-01")},
        {**base, "lead_id": "no_date_recent", "expected_purchase_date": pd.NaT},
        {**base, "lead_id": "won_before", "status": "won",
         "status_date": pd.Timestamp("2024-02-10")},
        {**base, "lead_id": "lost_after", "lost_date": pd.Timestamp("2024-03-05")},
        {**base, "lead_id": "wrong_reason", "lost_reasons": "competitor"},
    ]  # fmt: skip
    lost = lost_leads(pd.DataFrame(rows))
    event = {"event_date": "2024-03-01", "event_type": "price_change", "model": "RAV4",
             "region": "R1", "competitor_model": None}  # fmt: skip
    score = pd.Series(0.1, index=lost.index)
    score[lost["lead_id"] == "keep_b"] = 0.5
    out = concerned_leads(event, lost, RULES, score)
    # no_date_recent: lost 51 days before the event (<= 90), so still in its buying window;
    # it grades low (no expected date), the dated ones grade high.
    assert out["lead_id"].tolist() == ["keep_b", "keep_a", "no_date_recent"]
    assert out["grade"].tolist() == ["high", "high", "low"]


def test_trigger_cli_writes_the_crm_file_with_names_only_there(
    make_tables, make_lead_tables, write_dir, tmp_path, lead_pii, caplog
):
    tables = make_lead_tables()
    tables["leads"].loc[0, "name"] = "=HYPERLINK(evil)"
    d = write_dir({**make_tables(optional=False), **tables})
    out = tmp_path / "tasks.csv"
    res = CliRunner().invoke(app, ["leads", "trigger", "E1", str(d), "--out", str(out)])
    assert res.exit_code == 0, res.output
    tasks = pd.read_csv(out, dtype=str)
    assert tasks["lead_id"].tolist() == ["L1", "L5"]
    assert tasks["name"].iloc[0] == "'=HYPERLINK(evil)"
    assert tasks["phone"].iloc[0] == lead_pii[4]
    assert tasks["owner"].tolist() == ["consultant", "consultant"]
    assert not any(p in res.output + caplog.text for p in lead_pii)
    # the same event from a file (not in the data yet) gives the same tasks
    ev = tmp_path / "event.csv"
    make_lead_tables()["market_events"].iloc[[0]].drop(columns="event_id").to_csv(ev, index=False)
    out2 = tmp_path / "tasks2.csv"
    res = CliRunner().invoke(
        app, ["leads", "trigger", str(d), "--event-file", str(ev), "--out", str(out2)]
    )
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out2, dtype=str)["lead_id"].tolist() == ["L1", "L5"]


def test_trigger_cli_unknown_event_is_a_clear_error(make_tables, make_lead_tables, write_dir):
    d = write_dir({**make_tables(optional=False), **make_lead_tables()})
    res = CliRunner().invoke(app, ["leads", "trigger", "E9", str(d), "--out", "x.csv"])
    assert res.exit_code == 1
    assert "no market event with event_id 'E9'" in res.output


def test_diagnostics_by_hand(lost):
    by_model = reasons_by(lost, "model_interest")
    assert by_model.loc["RAV4", "lost_leads"] == 3  # L3, L1, L5
    assert by_model.loc["RAV4", "price"] == 2 and by_model.loc["RAV4", "competitor"] == 1
    assert by_model.loc["Levin", "unrecorded"] == 1
    inc = incomplete_records(lost, min_leads=1, max_incomplete_share=0.2).set_index("consultant_id")
    assert inc.loc["S4", "incomplete_share"] == 1.0 and bool(inc.loc["S4", "flagged"])
    assert inc.loc["S1", "incomplete_share"] == 0.0 and not inc.loc["S1", "flagged"]


def test_the_leads_config_of_params_yaml_is_the_default_config():
    # params.yaml is the source of truth: the code defaults are its leads block, sub-blocks
    # (rules, model with its lgbm and split) included.
    block = load_params("leads", Path(__file__).resolve().parents[1] / "params.yaml")
    config = LeadsConfig.from_params(block)
    assert config == LeadsConfig()
    assert list(config.rules.routes) == list(LeadsConfig().rules.routes)  # the report's order
    assert LeadsConfig().model.lgbm["learning_rate"] == block["model"]["lgbm"]["learning_rate"]
