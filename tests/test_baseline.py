"""Playbook baselines: hand-computed formula and scorecard values, missing signals, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.baseline import baseline_scores, formula_risk, risk_band, scorecard
from features.build import build_features
from features.config import FeaturizeConfig
from features.validation import validate_tables

nan = np.nan


def formula_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2024-07-01"] * 5),
            "days_since_last_visit": [200.0, 190.0, 100.0, nan, 150.0],
            "app_inactive": [1.0, 1.0, nan, 0.0, 0.0],
            "cancellation_rate_365d": [0.5, 0.0, nan, 0.0, 0.0],
            "survey_score_last": [4.0, 8.0, nan, 9.0, 10.0],
            "no_consultation_quarter": [1.0, 1.0, nan, 1.0, 1.0],
        }
    )


def test_formula_hand_computed():
    risk = formula_risk(formula_frame())
    # (200-90)*0.3 + 1*15 + 50*0.2 + (10-4)*2.5 + 1*10 = 33 + 15 + 10 + 15 + 10 = 83
    assert risk[0] == pytest.approx(83)
    # (190-90)*0.3 + 15 + 0 + (10-8)*2.5 + 10 = 30 + 15 + 5 + 10 = 60 (pre-churn boundary)
    assert risk[1] == pytest.approx(60)
    # missing app/cancel/survey/consult add 0 under "zero": (100-90)*0.3 = 3
    assert risk[2] == pytest.approx(3)
    assert np.isnan(risk[3])  # never visited: no recency term
    # (150-90)*0.3 + 0 + 0 + 0 + 10 = 28
    assert risk[4] == pytest.approx(28)
    bands = risk_band(risk)
    assert list(bands.astype("object").fillna("-")) == [
        "high",
        "pre_churn",
        "normal",
        "-",
        "normal",
    ]


def test_formula_mean_policy_fills_with_population_mean():
    risk = formula_risk(formula_frame(), FeaturizeConfig(baseline_missing="mean"))
    # means over rows that have the term: app (15+15+0+0)/4 = 7.5; cancellation
    # (10+0+0+0)/4 = 2.5; satisfaction (15+5+2.5+0)/4 = 5.625; consultation 10
    assert risk[2] == pytest.approx(3 + 7.5 + 2.5 + 5.625 + 10)
    assert risk[0] == pytest.approx(83)


def scorecard_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "days_since_last_visit": [30.0, 120.0, 400.0, 200.0],
            "complaints_365d": [1.0, 1.0, 0.0, nan],
            "price_complaints_365d": [0.0, 1.0, 0.0, nan],
            "survey_score_last": [5.0, 9.0, 10.0, nan],
            "survey_score_mean": [9.0, 7.0, 5.0, nan],
            "wait_minutes_last": [10.0, 10.0, 10.0, 45.0],
            "cancellation_rate_365d": [nan, 0.0, 0.0, nan],
            "no_show_rate_365d": [nan, 0.0, 0.0, nan],
            "app_inactive": [0.0, 1.0, 1.0, nan],
            "no_consultation_quarter": [0.0, 0.0, 1.0, nan],
        }
    )


def test_scorecard_hand_computed():
    sc = scorecard(scorecard_frame())
    # row 0: lapse 30d -> 5; non-price complaint -> service-hurt 5; mean 9 > 8 -> 5;
    #        app active and consulted -> high 5: 0.3*5 + 0.4*5 + 0.2*5 + 0.1*5 = 5.0
    # row 1: 120d -> 3; price complaint -> 3; mean 7 -> 3; one of two active -> mid 3:
    #        0.9 + 1.2 + 0.6 + 0.3 = 3.0
    # row 2: 400d -> 0; no reason -> 0; mean 5 < 6 -> 1; inactive, no consult -> low 1:
    #        0 + 0 + 0.2 + 0.1 = 0.3
    # row 3: 200d -> 1; wait 45 >= 60/2 is a weak signal -> 3; no survey -> 3; no
    #        activity signal collected -> mid 3: 0.3 + 1.2 + 0.6 + 0.3 = 2.4
    assert list(sc["lapse_points"]) == [5, 3, 0, 1]
    assert list(sc["reason_points"]) == [5, 3, 0, 3]
    assert list(sc["satisfaction_points"]) == [5, 3, 1, 3]
    assert list(sc["engagement_points"]) == [5, 3, 1, 3]
    assert list(sc["winback_score"]) == pytest.approx([5.0, 3.0, 0.3, 2.4])
    assert list(sc["winback_band"].astype("str")) == ["high", "medium", "very_low", "low"]


def test_missing_feature_column_is_refused():
    with pytest.raises(ValueError, match="survey_score_last"):
        formula_risk(formula_frame().drop(columns="survey_score_last"))
    with pytest.raises(ValueError, match="price_complaints_365d"):
        scorecard(scorecard_frame().drop(columns="price_complaints_365d"))
    with pytest.raises(ValueError, match="baseline_missing"):
        FeaturizeConfig(baseline_missing="median")


def test_baselines_on_minimum_contract():
    data = validate_tables(
        {
            "customers": pd.DataFrame({"customer_id": ["a", "b"]}),
            "service_visits": pd.DataFrame(
                {"customer_id": ["a"], "visit_date": ["2024-05-02"], "amount": [100]}
            ),
        }
    )
    scores = baseline_scores(build_features(data, "2024-07-01"))
    # a: (60-90)*0.3 = -9, every other signal missing -> 0 points
    assert scores["formula_risk"].tolist()[0] == pytest.approx(-9)
    assert np.isnan(scores["formula_risk"].tolist()[1])
    # a: 60d -> 5, no reason -> 0, no survey -> 3, no activity signal -> 3: 1.5+0+0.6+0.3
    assert scores["winback_score"].tolist() == pytest.approx([2.4, 0.2 * 3 + 0.1 * 3])
