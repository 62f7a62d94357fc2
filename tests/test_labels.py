"""Snapshots, churn labels (future-only), recovery labels and the stacked training table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import FeaturizeConfig
from features.labels import (
    churn_labels,
    recovery_table,
    snapshot_dates,
    training_table,
)
from features.validation import validate_tables

T = pd.Timestamp("2024-07-01")
DATA_END = "2024-12-31"


def tables() -> dict[str, pd.DataFrame]:
    # window [T, T+180) = [2024-07-01, 2024-12-28)
    visits = [
        ("c1", "2024-03-01"),
        ("c1", "2024-07-01"),  # on T: in the window -> c1 not churned
        ("c2", "2024-08-01"),  # c2 not eligible (no visit in the year before T)
        ("c4", "2024-03-01"),
        ("c4", "2024-12-28"),  # T + 180: outside the window -> churned
        ("c5", "2024-02-01"),
        ("c5", "2024-12-27"),  # T + 179: inside -> not churned
    ]
    return {
        "customers": pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c5"]}),
        "service_visits": pd.DataFrame(
            {
                "customer_id": [v[0] for v in visits],
                "visit_date": [v[1] for v in visits],
                "amount": 100.0,
            }
        ),
        "outreach": pd.DataFrame(
            {
                "customer_id": ["c1", "c4", "c4", "c5"],
                # c1: 2024-01-01 + 60 = 2024-03-01 (31 + 29): the Mar 1 visit counts
                # c4: 2024-10-29 + 60 = 2024-12-28: the visit on the last day counts
                # c4: 2024-12-28 contact on the visit day: not a response; window passes end
                # c5: 2024-12-01 + 60 > data end -> unlabelled
                "contact_date": ["2024-01-01", "2024-10-29", "2024-12-28", "2024-12-01"],
                "action": ["sms_coupon", "advisor_call", "sms_coupon", "home_visit"],
                "cost": [5.0, 50.0, 5.0, 300.0],
                "group": ["treatment", "control", "treatment", "treatment"],
            }
        ),
    }


def data(raw=None):
    return validate_tables(raw or tables(), as_of=DATA_END)


def test_churn_labels_window_and_eligibility():
    lab = churn_labels(data(), T).set_index("customer_id")
    assert lab["eligible"].to_dict() == {
        "c1": True,
        "c2": False,
        "c3": False,
        "c4": True,
        "c5": True,
    }
    assert lab["labelled"].all()
    assert lab["churn"].to_dict() == {"c1": 0.0, "c2": 0.0, "c3": 1.0, "c4": 1.0, "c5": 0.0}
    # 2024-08-01 + 180 = 2025-01-28 > 2024-12-31 + 1 day: not labelled
    late = churn_labels(data(), "2024-08-01")
    assert not late["labelled"].any() and late["churn"].isna().all()


def test_labels_use_only_events_from_T_on():
    expected = churn_labels(data(), T)[["customer_id", "churn", "labelled"]]
    raw = tables()
    v = raw["service_visits"]
    future = v[pd.to_datetime(v["visit_date"]) >= T]
    # drop every past event and add different ones: labels must not move
    past_noise = pd.DataFrame(
        {"customer_id": ["c3", "c2"], "visit_date": ["2024-06-30", "2023-01-01"], "amount": 1.0}
    )
    raw["service_visits"] = pd.concat([future, past_noise], ignore_index=True)
    got = churn_labels(data(raw), T)[["customer_id", "churn", "labelled"]]
    pd.testing.assert_frame_equal(got, expected)


def test_snapshot_dates():
    cfg = FeaturizeConfig(snapshot_start="2024-01-01")
    # last labelled T: 2024-12-31 + 1 - 180 days = 2024-07-05 -> monthly Jan..Jul
    dates = snapshot_dates(data(), cfg)
    assert list(dates) == list(pd.date_range("2024-01-01", "2024-07-01", freq="MS"))
    assert dates.dtype == "datetime64[ns]"
    # default start: first visit 2024-02-01 + 90 days = 2024-05-01 -> May..Jul
    assert list(snapshot_dates(data())) == list(
        pd.date_range("2024-05-01", "2024-07-01", freq="MS")
    )
    # a full year of warm-up: 2024-02-01 + 365 days = 2025-01-31 > end: no snapshot
    assert len(snapshot_dates(data(), FeaturizeConfig(min_history_days=365))) == 0


def test_training_table_stacks_eligible_labelled_snapshots():
    cfg = FeaturizeConfig(snapshot_start="2024-06-01")
    tt = training_table(data(), cfg, progress=False)
    # Jun 1: eligible c1 (Mar 1), c4, c5; c1 next visit Jul 1 -> 0; c4 -> Dec 28 is in
    # [Jun 1, Nov 28)? no -> 1; c5 -> 1. Jul 1: c1 0, c4 1, c5 0.
    got = tt[["customer_id", "as_of", "churn"]].astype({"as_of": "str"}).values.tolist()
    assert got == [
        ["c1", "2024-06-01", 0],
        ["c1", "2024-07-01", 0],
        ["c4", "2024-06-01", 1],
        ["c4", "2024-07-01", 1],
        ["c5", "2024-06-01", 1],
        ["c5", "2024-07-01", 0],
    ]
    feats = build_features(data(), T)
    sub = tt[tt["as_of"] == T].drop(columns="churn").reset_index(drop=True)
    exp = feats[feats["customer_id"].isin(["c1", "c4", "c5"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub, exp)


def test_recovery_table():
    rec = recovery_table(data())
    assert rec["customer_id"].tolist() == ["c1", "c4", "c4", "c5"]
    assert rec["labelled"].tolist() == [True, True, False, False]
    assert rec["recovered"].tolist()[:2] == [1.0, 1.0]
    assert rec["recovered"].iloc[2:].isna().all()
    assert rec["group"].tolist() == ["treatment", "control", "treatment", "treatment"]
    # features are as of the contact day: c4 contacted 2024-10-29, last visit 2024-03-01
    assert rec["days_since_last_visit"].tolist()[1] == 242
    # ... and equal build_features at that date
    feats = build_features(data(), "2024-10-29").set_index("customer_id").loc[["c4"]]
    got = rec.iloc[[1]].set_index("customer_id")[feats.columns]
    pd.testing.assert_frame_equal(got, feats, check_names=False)


def test_minimum_contract_end_to_end():
    raw = {k: v for k, v in tables().items() if k != "outreach"}
    cfg = FeaturizeConfig(snapshot_start="2024-06-01")
    tt = training_table(data(raw), cfg, progress=False)
    assert len(tt) == 6 and tt["app_inactive"].isna().all()
    rec = recovery_table(data(raw))
    assert len(rec) == 0 and "recovered" in rec.columns


def test_config_from_params():
    cfg = FeaturizeConfig.from_params({"horizon_days": 90, "lapse_bounds_days": [30, 60, 90]})
    assert cfg.horizon_days == 90 and cfg.lapse_bounds_days == (30, 60, 90)
    with pytest.raises(ValueError, match="unknown featurize params: horizon"):
        FeaturizeConfig.from_params({"horizon": 90})
    assert np.isnan(churn_labels(data(), "2024-09-01")["churn"]).all()
