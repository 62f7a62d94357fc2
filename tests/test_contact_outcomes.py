"""Outreach contact outcomes: contract column, simulator stream, contactability features."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.contract import ACTION_SET_MISSING, OUTREACH_OUTCOMES, RULE_ALLOWED, ContractError
from features.dictionary import FEATURES
from features.files import write_data_dir
from features.labels import recovery_table
from features.reading import read_data_dir
from features.validation import validate_tables
from models.recovery import no_effect
from models.training import TrainConfig
from pipeline.simulator import SimulationConfig, simulate
from pipeline.uplift_windows import CONTACTABILITY, window_ends

CONTACT = list(CONTACTABILITY)

# --- contract ------------------------------------------------------------------------------


def test_outcome_codes_are_read_ignoring_capitals_blank_allowed(make_tables, write_dir):
    tables = make_tables()
    tables["outreach"]["outcome"] = ["Reached", "", " WRONG_NUMBER ", ""]
    data = read_data_dir(write_dir(tables))
    assert len(data.rejects) == 0
    got = data.tables["outreach"]["outcome"].tolist()
    assert got[0] == "reached" and got[2] == "wrong_number"
    assert pd.isna(got[1]) and pd.isna(got[3])
    assert "outcome" in data.columns_present["outreach"]


def test_unknown_outcome_is_blanked_row_kept(make_tables, write_dir):
    tables = make_tables()
    tables["outreach"]["outcome"] = ["voicemail", "", "delivered", ""]
    data = read_data_dir(write_dir(tables), max_invalid_share=0.3)  # 1 of 4 rows is 25%
    rej = data.rejects[data.rejects["table"] == "outreach"].reset_index(drop=True)
    assert len(rej) == 1
    assert rej.loc[0, ["row_number", "column", "rule", "action", "value", "customer_id"]].tolist() == [
        1,
        "outcome",
        RULE_ALLOWED,
        ACTION_SET_MISSING,
        "voicemail",
        "00102",
    ]  # fmt: skip
    out = data.tables["outreach"]
    assert len(out) == 4 and pd.isna(out.loc[0, "outcome"]) and out.loc[2, "outcome"] == "delivered"


def test_mostly_unknown_outcomes_refuse_the_file(make_tables, write_dir):
    tables = make_tables()
    tables["outreach"]["outcome"] = ["answered", "busy", "answered", ""]
    with pytest.raises(ContractError) as err:
        read_data_dir(write_dir(tables))
    text = str(err.value)
    assert "outreach" in text and "'outcome'" in text and RULE_ALLOWED in text


# --- features --------------------------------------------------------------------------------

T = "2024-04-01"


def _tables(outcome: list[str | None] | None) -> dict[str, pd.DataFrame]:
    """c1: reached (Jan), control (Feb), no_answer (Mar), car_sold on T; c2 one declined
    contact 400 days before T; c3 no contact at all."""
    out = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c1", "c1", "c2"],
            "contact_date": ["2024-01-10", "2024-02-01", "2024-03-01", T, "2023-02-26"],
            "action": ["advisor_call", "none", "sms_coupon", "manager_call", "advisor_call"],
            "cost": [20, 0, 12, 80, 20],
            "group": ["treatment", "control", "treatment", "treatment", "treatment"],
        }
    )
    if outcome is not None:
        out["outcome"] = outcome
    return {
        "customers": pd.DataFrame({"customer_id": ["c1", "c2", "c3"]}),
        "service_visits": pd.DataFrame(
            {"customer_id": ["c1", "c2", "c3"], "visit_date": ["2023-06-01"] * 3, "amount": 100}
        ),
        "outreach": out,
    }


OUTCOMES = ["reached", None, "wrong_number", "car_sold", "declined"]


def _feats(when: str, outcome: list[str | None] | None = OUTCOMES) -> pd.DataFrame:
    return build_features(validate_tables(_tables(outcome)), when).set_index("customer_id")


def test_contactability_by_hand():
    f = _feats(T)
    # c1 before T: reached (Jan 10), wrong_number (Mar 1); the car_sold on T is not before T
    assert f.loc["c1", CONTACT].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    # c2: one declined contact 400 days ago: outside the 365-day window, still the last one
    assert f.loc["c2", CONTACT].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]
    c3 = f.loc["c3", CONTACT]  # no contacts: zero counts and flags, no last contact
    assert c3.iloc[:4].tolist() == [0.0] * 4 and np.isnan(c3["last_contact_reached"])
    f = _feats("2024-04-02")  # the day after: the car_sold report is known
    assert f.loc["c1", "reported_gone"] == 1.0 and f.loc["c1", "last_contact_reached"] == 0.0
    f = _feats("2024-03-01")  # before the wrong number: the last contact reached the owner
    assert f.loc["c1", CONTACT].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    f = _feats("2024-03-01", ["declined", None, None, None, "declined"])
    assert f.loc["c1", "declined_contacts_365d"] == 1.0
    assert f.loc["c2", "declined_contacts_365d"] == 0.0  # 369 days before: outside the window


def test_declined_window_edges_by_hand():
    # 2023-02-26 -> 2024-02-26 is 365 days: inside [T - 365, T); one day later it is not
    outcome = [None, None, None, None, "declined"]
    assert _feats("2024-02-26", outcome).loc["c2", "declined_contacts_365d"] == 1.0
    assert _feats("2024-02-27", outcome).loc["c2", "declined_contacts_365d"] == 0.0


def test_outcome_not_collected_gives_nan():
    no_column = _feats(T, None)
    assert no_column[CONTACT].isna().all().all()
    assert no_column.loc["c1", "contacts_365d"] == 2  # the outreach table itself is read
    raw = _tables(OUTCOMES)
    del raw["outreach"]
    no_table = build_features(validate_tables(raw), T)
    assert no_table[CONTACT].isna().all().all()
    assert {f.name for f in FEATURES if f.family == "contactability"} == set(CONTACT)


def test_outcomes_on_or_after_t_change_nothing():
    base = _feats(T)
    for later in (["reached", None, "wrong_number", "moved", "declined"],
                  ["reached", None, "wrong_number", None, "declined"],
                  ["reached", None, "wrong_number", "no_answer", "declined"]):  # fmt: skip
        pd.testing.assert_frame_equal(_feats(T, later), base)
    raw = _tables(OUTCOMES)
    extra = pd.DataFrame(
        {
            "customer_id": ["c2", "c3"],
            "contact_date": [T, "2024-05-01"],
            "action": "advisor_call",
            "cost": 20,
            "group": "treatment",
            "outcome": ["moved", "car_sold"],
        }
    )
    raw["outreach"] = pd.concat([raw["outreach"], extra], ignore_index=True)
    got = build_features(validate_tables(raw), T).set_index("customer_id")
    pd.testing.assert_frame_equal(got, base)


def test_a_contacts_own_outcome_is_not_in_its_recovery_row():
    def rec(outcome):
        table = recovery_table(validate_tables(_tables(outcome)))
        return table.set_index(["customer_id", "contact_date"])[CONTACT]

    a = rec(OUTCOMES)
    # the last contacts of c1 (on T) and c2 report a move instead: no row may change
    pd.testing.assert_frame_equal(rec(["reached", None, "wrong_number", "moved", "moved"]), a)
    assert a.loc[("c1", pd.Timestamp(T))].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    # earlier outcomes do reach the later rows
    b = rec(["moved", None, "car_sold", "car_sold", "declined"])
    assert b.loc[("c1", pd.Timestamp(T))].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    first = ("c1", pd.Timestamp("2024-01-10"))
    assert a.loc[first].iloc[:4].tolist() == [0.0] * 4 and np.isnan(a.loc[first].iloc[4])


# --- simulator ---------------------------------------------------------------------------------


def _digests(tables: dict[str, pd.DataFrame], tmp_path, name: str) -> dict[str, str]:
    paths = write_data_dir(tables, tmp_path / name)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def sims():
    on = simulate(SimulationConfig(customers=1200, years=2, seed=5, leads=False))
    off = simulate(
        SimulationConfig(customers=1200, years=2, seed=5, leads=False, outreach_outcomes=False)
    )
    return on, off


def test_outcomes_leave_every_other_table_byte_identical(sims, tmp_path):
    (on, truth_on), (off, truth_off) = sims
    assert "outcome" in on["outreach"] and "outcome" not in off["outreach"]
    d_on = _digests(on, tmp_path, "on")
    d_off = _digests(off, tmp_path, "off")
    others = set(d_on) - {"outreach.parquet"}
    assert others and all(d_on[k] == d_off[k] for k in others)
    pd.testing.assert_frame_equal(on["outreach"].drop(columns="outcome"), off["outreach"])
    for name in truth_on:
        pd.testing.assert_frame_equal(truth_on[name], truth_off[name])


def test_simulated_outcomes_follow_the_hidden_state(sims):
    (on, truth), _ = sims
    out = on["outreach"]["outcome"]
    state = truth["outreach"]["state"]
    action = on["outreach"]["action"]
    control = on["outreach"]["group"] == "control"
    assert out[control].isna().all() and out[~control].notna().all()
    assert set(out.dropna()) <= set(OUTREACH_OUTCOMES)
    # sold / moved reports only from owners truly sold / moved on the contact day
    assert (state[out == "car_sold"] == "sold").all() and (out == "car_sold").any()
    assert (state[out == "moved"] == "moved").all() and (out == "moved").any()
    # an SMS only shows delivered / wrong_number
    assert set(out[action == "sms_coupon"]) <= {"delivered", "wrong_number"}
    # dead numbers mostly after a move; defected owners decline more than attached ones
    calls = action.isin(["advisor_call", "manager_call", "home_visit"])
    dead = (out == "wrong_number").groupby(state).mean()
    assert dead["moved"] > 5 * dead["attached"]
    declined = (out[calls] == "declined").groupby(state[calls]).mean()
    assert declined["defected"] > declined["attached"]


def test_window_ends_step_back_from_the_test_month():
    months = pd.date_range("2023-10-01", "2026-07-01", freq="MS")
    ends = window_ends(months, pd.Timestamp("2026-02-17"), 3, 4, 2)
    assert [e.strftime("%Y-%m") for e in ends] == ["2025-03", "2025-07", "2025-11"]
    with pytest.raises(ValueError, match="too late"):
        window_ends(months, pd.Timestamp("2024-06-17"), 3, 4, 2)


def test_no_effect_sets_uplift_to_zero_only_for_flagged_rows():
    probs = pd.DataFrame({"p_none": [0.1, 0.2, 0.3], "p_sms": [0.3, 0.25, 0.5]}, index=[7, 8, 9])
    frame = pd.DataFrame({"reported_gone": [1.0, np.nan, 0.0]}, index=[7, 8, 9])
    out = no_effect(probs, frame, ["reported_gone"], ["sms"])
    assert out["p_sms"].tolist() == [0.1, 0.25, 0.5]
    assert probs["p_sms"].tolist() == [0.3, 0.25, 0.5]  # input untouched
    # a flag column the data do not have never triggers the rule
    assert (
        no_effect(probs, frame.drop(columns="reported_gone"), ["reported_gone"], ["sms"]) is probs
    )


def test_no_effect_flags_come_from_the_recovery_block():
    block = {"recovery": {"learner": "tp", "no_effect_flags": ["reported_gone"]}}
    assert TrainConfig.from_params(block).no_effect_flags == ("reported_gone",)
    assert TrainConfig.from_params({"recovery": {"learner": "tp"}}).no_effect_flags == ()
