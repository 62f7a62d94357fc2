"""Segments, CLV, cost caps, the strategy matrix and the deep-churn rules, hand-computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import FeaturizeConfig
from models.segments import (
    EconomicsConfig,
    ScoreConfig,
    SegmentsConfig,
    deep_churn_rules,
    lifetime_years,
    segment,
    stage_of,
    tier_of,
)
from models.value import annual_value
from pipeline.common import load_params


def feats(**cols) -> pd.DataFrame:
    """A tiny feature frame; unspecified columns get harmless defaults."""
    n = len(next(iter(cols.values())))
    base = {
        "customer_id": [f"c{i}" for i in range(n)],
        "days_since_last_visit": [30.0] * n,
        "tenure_days": [730.0] * n,
        "spend_lifetime": [0.0] * n,
        "spend_365d": [0.0] * n,
        "referrals": [0.0] * n,
        "reason_points": [0.0] * n,
    }
    base.update(cols)
    # four visits, no one-off spend: the recurring annual value equals the active-span one
    base.setdefault("visits_lifetime", [4.0] * n)
    base.setdefault("spend_recurring_lifetime", base["spend_lifetime"])
    return pd.DataFrame(base)


def test_annual_value_active_span_and_trailing() -> None:
    f = feats(
        tenure_days=[730.0, 200.0, np.nan, 1000.0],
        days_since_last_visit=[30.0, 100.0, np.nan, 500.0],
        spend_lifetime=[7000.0, 1000.0, np.nan, 5000.0],
        spend_365d=[4000.0, 1000.0, np.nan, 0.0],
        referrals=[0.0, 2.0, 0.0, 1.0],
    )
    # 7000 * 365 / 700; 1000 over a 100-day span counts as one year; no history -> 0;
    # lost 500 days: 5000 over 500 active days -> 3650 (the trailing year would say 0)
    got = annual_value(f, "active_span")
    np.testing.assert_allclose(got, [3650.0, 1000.0, 0.0, 3650.0])
    # no one-off spend here: the recurring basis agrees
    np.testing.assert_allclose(annual_value(f), [3650.0, 1000.0, 0.0, 3650.0])
    trailing = annual_value(f, "trailing_365d")
    np.testing.assert_allclose(trailing, [4000.0, 1000.0, 0.0, 0.0])
    with_refs = annual_value(f, "active_span", referral_value=100.0)
    np.testing.assert_allclose(with_refs, [3650.0, 1200.0, 0.0, 3750.0])


def test_value_tier_edges_above_a_bound_moves_up() -> None:
    v = pd.Series([0.0, 1999.99, 2000.0, 2000.01, 5000.0, 5000.01])
    assert tier_of(v).tolist() == ["low", "low", "low", "mid", "mid", "high"]
    five = SegmentsConfig(
        tier_bounds=(1000.0, 2000.0, 5000.0, 10000.0),
        tier_names=("t1", "t2", "t3", "t4", "t5"),
    )
    v = pd.Series([1000.0, 1000.5, 9999.0, 10000.0, 10001.0])
    assert tier_of(v, five).tolist() == ["t1", "t2", "t4", "t4", "t5"]


def test_stage_edges_pre_churn_and_no_history() -> None:
    days = pd.Series([0.0, 89.0, 89.0, 90.0, 179.0, 180.0, 364.0, 365.0, np.nan])
    risk = pd.Series([0.5, 0.49, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9])
    got = stage_of(days, risk, SegmentsConfig(pre_churn_risk=0.5)).tolist()
    assert got == [
        "pre_churn",
        "active",
        "pre_churn",
        "early",
        "early",
        "deep",
        "deep",
        "lost",
        "no_history",
    ]


def test_clv_and_cap_by_hand_with_missing_acquisition_cost() -> None:
    f = feats(
        tenure_days=[730.0, 730.0, 730.0],
        days_since_last_visit=[0.0, 0.0, 0.0],
        spend_lifetime=[10000.0, 10000.0, 2000.0],
    )  # annual value 5000, 5000, 1000 (730-day span)
    out = segment(f, [0.1, 0.1, 0.1], ScoreConfig(), acquisition_cost=[np.nan, 1000.0, 500.0])
    np.testing.assert_allclose(out["annual_value"], [5000.0, 5000.0, 1000.0])
    # CLV = 5000 * 0.4 * 3 - 3000 (default for the missing cost) = 3000; cap = 3000 * .3 / 3
    np.testing.assert_allclose(out["acquisition_cost"], [3000.0, 1000.0, 500.0])
    np.testing.assert_allclose(out["clv"], [3000.0, 5000.0, 700.0])
    np.testing.assert_allclose(out["cost_cap"], [300.0, 500.0, 70.0])
    no_column = segment(f, [0.1, 0.1, 0.1], ScoreConfig())
    np.testing.assert_allclose(no_column["clv"], [3000.0, 3000.0, -1800.0])
    assert no_column["cost_cap"].iloc[2] == 0.0  # a negative CLV allows no win-back spend


def test_lifetime_from_risk() -> None:
    eco = EconomicsConfig(lifetime_years="from_risk", risk_horizon_days=365, max_lifetime_years=6)
    got = lifetime_years(pd.Series([0.2, 0.5, 0.0, 1.0, 0.05]), eco)
    # (1 - r) / r further one-year horizons, capped at 6
    np.testing.assert_allclose(got, [4.0, 1.0, 6.0, 0.0, 6.0])
    f = feats(tenure_days=[730.0], days_since_last_visit=[0.0], spend_lifetime=[10000.0])
    cfg = ScoreConfig(economics=eco)
    out = segment(f, [1.0], cfg, acquisition_cost=[0.0])
    assert out["lifetime_years"].iloc[0] == 0.0 and out["cost_cap"].iloc[0] == 0.0
    fixed = lifetime_years(pd.Series([0.9]), EconomicsConfig(lifetime_years=2.5))
    assert fixed.iloc[0] == 2.5


def test_lifetime_horizon_follows_featurize() -> None:
    # no score.economics.risk_horizon_days: the horizon the churn risk was trained for
    eco = EconomicsConfig(lifetime_years="from_risk", max_lifetime_years=6)
    r = pd.Series([0.2, 0.5])
    np.testing.assert_allclose(lifetime_years(r, eco, horizon_days=365), [4.0, 1.0])
    np.testing.assert_allclose(lifetime_years(r, eco), 180 / 365 * np.array([4.0, 1.0]))
    f = feats(tenure_days=[730.0], days_since_last_visit=[0.0], spend_lifetime=[10000.0])
    cfg = ScoreConfig(economics=eco)
    year = segment(f, [0.5], cfg, featurize_config=FeaturizeConfig(horizon_days=365))
    assert year["lifetime_years"].iloc[0] == 1.0
    assert segment(f, [0.5], cfg)["lifetime_years"].iloc[0] == 180 / 365
    given = ScoreConfig(economics=EconomicsConfig(lifetime_years="from_risk", risk_horizon_days=90))
    assert (
        segment(f, [0.5], given, featurize_config=FeaturizeConfig(horizon_days=365))[
            "lifetime_years"
        ].iloc[0]
        == 90 / 365
    )


def test_segment_columns_matrix_cell_and_no_history() -> None:
    f = feats(
        customer_id=["a", "b", "c"],
        days_since_last_visit=[200.0, 400.0, np.nan],
        tenure_days=[930.0, 1130.0, np.nan],
        spend_lifetime=[14600.0, 1000.0, np.nan],
    )  # annual: 14600*365/730 = 7300 (high), 1000 (low), 0
    out = segment(f, [0.9, 0.9, np.nan])
    assert out["segment"].tolist() == ["high|deep", "low|lost", "low|no_history"]
    assert out.loc[0, "owner"] == "store_manager" and out.loc[0, "matrix_action"] == "home_visit"
    assert out.loc[1, "matrix_actions"] == "none" and not out.loc[1, "worth_winning_back"]
    assert out.loc[2, "stage"] == "no_history" and out.loc[2, "annual_value"] == 0.0
    assert out.index.equals(f.index)


def test_deep_churn_rules_decide_and_explain() -> None:
    worth, text = deep_churn_rules(
        pd.Series([6000.0, 3000.0, 3000.0, 3000.0, 3000.0]),
        pd.Series([0.0, 5.0, 5.0, 3.0, 0.0]),
        pd.Series([0, 0, 2, 0, 5]),
        pd.Series([0.1, 0.25, 0.1, 0.1, 0.9]),
    )
    # high value; solvable + likely; solvable + influential; solvable only; unsolvable
    assert worth.tolist() == [True, True, True, False, False]
    assert "value 6,000 > 5,000: yes" in text.iloc[0] and "(high value)" in text.iloc[0]
    assert "influential (2 referrals >= 2): yes" in text.iloc[2]
    assert text.iloc[3].endswith("not worth winning back (success unlikely and not influential)")
    assert "no solvable reason" in text.iloc[4]


def test_rules_apply_only_to_their_stages() -> None:
    # mid|deep is a worth cell, but the rules say no (not solvable); mid|early keeps the cell
    f = feats(
        days_since_last_visit=[200.0, 100.0],
        tenure_days=[930.0, 830.0],
        spend_lifetime=[6000.0, 6000.0],  # 3000 a year: mid
        reason_points=[0.0, 0.0],
    )
    out = segment(f, [0.5, 0.5])
    assert out["segment"].tolist() == ["mid|deep", "mid|early"]
    assert out["worth_winning_back"].tolist() == [False, True]
    assert out.loc[0, "rule_explanation"].startswith("value 3,000 > 5,000: no")
    assert out.loc[1, "rule_explanation"] == ""


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"segments": {"tier_bounds": [5000, 2000]}}, "strictly increasing"),
        ({"segments": {"tier_names": ["a", "b"]}}, "needs 3 names"),
        (
            {
                "segments": {
                    "tier_bounds": [1, 2, 3, 4, 5],
                    "tier_names": ["a", "b", "c", "d", "e", "f"],
                }
            },
            "at most 5",
        ),
        ({"segments": {"stage_bounds": [180, 90, 365]}}, "stage_bounds"),
        ({"segments": {"annual_value": "median"}}, "annual_value"),
        (
            {"matrix": {"cells": {"vip": {"deep": {"actions": ["sms_coupon"]}}}}},
            "unknown value tier",
        ),
        ({"matrix": {"cells": {"high": {"later": {}}}}}, "unknown stage"),
        ({"matrix": {"cells": {"high": {"deep": {"cost_range": [5]}}}}}, "cost_range"),
        ({"matrix": {"cells": {"high": {"deep": {"colour": "red"}}}}}, "unknown"),
        ({"economics": {"margin": 1.5}}, "margin"),
        ({"economics": {"lifetime_years": "forever"}}, "from_risk"),
        ({"segmnts": {}}, "unknown score params"),
        ({"policy": {"allowed_actions": []}}, "allowed_actions is empty"),
        ({"economics": {"action_costs": {"sms_coupon": "cheap"}}}, "must be a number"),
        ({"actions": {"sms_coupon": {"colour": "red"}}}, "score.actions.sms_coupon"),
    ],
)
def test_bad_config_is_a_clear_value_error(block, message) -> None:
    with pytest.raises(ValueError, match=message):
        ScoreConfig.from_params(block)


def test_params_yaml_score_block_is_the_code_default() -> None:
    # the repository's params.yaml spells out the defaults; both must stay in step
    cfg = ScoreConfig.from_params(load_params("score", "params.yaml"))
    assert cfg == ScoreConfig()
    assert cfg.cells["low"]["lost"].actions == ()
    # action names and costs come from the outreach log (tests/test_actions.py)
    assert cfg.economics.action_costs == {}
    assert cfg.policy.allowed_actions is None and cfg.economics.coupon_actions is None


def test_segment_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="spend_recurring_lifetime"):
        segment(feats(spend_lifetime=[1.0]).drop(columns="spend_recurring_lifetime"), [0.1])
