"""Time split (gap, no overlap, refusal of short data) and the churn model on a tiny frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_LGBM

from models.churn import ModelConfig, select_features, train_churn
from models.lgbm import CalibratedBooster
from models.split import SplitConfig, SplitError, apply_boundaries, time_split


def snapshots(n_customers: int = 60, n_snapshots: int = 20, seed: int = 0) -> pd.DataFrame:
    """Monthly snapshots of synthetic customers whose churn depends on two features."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_snapshots, freq="MS")
    ids = [f"C{i:04d}" for i in range(n_customers)]
    df = pd.DataFrame(
        [(c, d) for c in ids for d in dates], columns=["customer_id", "as_of"]
    ).astype({"customer_id": "str", "as_of": "datetime64[ns]"})
    n = len(df)
    df["days_since_last_visit"] = rng.uniform(0, 400, n)
    df["visits_365d"] = rng.poisson(2, n).astype("float64")
    df["referrals"] = rng.poisson(1, n).astype("float64")
    df["dealer_id"] = pd.Categorical(rng.choice(["D1", "D2", "D3"], n))
    logit = (df["days_since_last_visit"] - 200) / 60 - 0.5 * df["visits_365d"] + 1
    df["churn"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return df


def config(**split) -> ModelConfig:
    return ModelConfig(
        lgbm=dict(SMALL_LGBM),
        num_boost_round=60,
        early_stopping_rounds=10,
        split=SplitConfig(**{"test_periods": 3, "holdout_periods": 2, "gap_days": 180, **split}),
    )


def test_split_respects_gap_and_has_no_overlap():
    df = snapshots()
    split = time_split(df, "as_of", SplitConfig(test_periods=3, holdout_periods=2, gap_days=180))
    test_start = split.test["as_of"].min()
    assert test_start == pd.Timestamp("2025-06-01")  # the last 3 of 20 monthly snapshots
    for name in ("train", "valid", "calib"):
        part = split[name]
        assert not part.empty
        # every fitted label window [T, T + 180 days) ends before the test period
        assert (part["as_of"] + pd.Timedelta(days=180) <= test_start).all()
    # no row in two slices; held-out customers never in train
    idx = [set(split[k].index) for k in ("train", "valid", "calib", "test")]
    assert sum(len(i) for i in idx) == len(set().union(*idx))
    held = set(split.valid["customer_id"]) | set(split.calib["customer_id"])
    assert held.isdisjoint(split.train["customer_id"])
    assert set(split.valid["customer_id"]).isdisjoint(split.calib["customer_id"])
    # holdout = the latest pre-gap snapshots
    assert split.valid["as_of"].min() >= pd.Timestamp("2024-10-01")
    assert split.boundaries["fit_end"] == "2024-12-03"
    assert split.boundaries["test_start"] == "2025-06-01"
    again = apply_boundaries(df, split.boundaries)
    for name in ("train", "valid", "calib", "test"):
        assert again[name].index.equals(split[name].index)


def test_split_by_month_for_contact_dates():
    rng = np.random.default_rng(1)
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 540, 400), unit="D")
    df = pd.DataFrame({"customer_id": [f"C{i}" for i in range(400)], "contact_date": days})
    cfg = SplitConfig(test_periods=3, holdout_periods=2, gap_days=61, freq="M")
    split = time_split(df, "contact_date", cfg)
    start = split.test["contact_date"].min()
    months = df["contact_date"].dt.to_period("M")
    assert set(months[split.test.index]) == set(sorted(months.unique())[-3:])
    for name in ("train", "valid", "calib"):
        assert (split[name]["contact_date"] + pd.Timedelta(days=61) <= start).all()


def test_split_refuses_short_data_with_counts():
    df = snapshots(n_snapshots=9)
    with pytest.raises(SplitError, match=r"9 snapshot dates .* needs 1[0-9] on this calendar"):
        time_split(df, "as_of", SplitConfig(test_periods=3, holdout_periods=2, gap_days=180))


def test_features_all_minus_exclude():
    df = snapshots(n_customers=5, n_snapshots=2)
    assert select_features(df, ModelConfig()) == [
        "days_since_last_visit",
        "visits_365d",
        "dealer_id",
    ]
    with pytest.raises(ValueError, match="missing"):
        select_features(df, ModelConfig(features=["nope"]))


def test_tiny_churn_training_is_calibrated_and_round_trips(tmp_path):
    df = snapshots()
    model, info = train_churn(df, config())
    assert model.calibrator is not None
    assert info["rows"]["test"] == 180 and info["best_iteration"] >= 1
    assert "referrals" not in model.features
    assert model.categories["dealer_id"] == ["D1", "D2", "D3"]
    test = df.loc[df["as_of"] >= info["split"]["test_start"]]
    p = model.predict_proba(test)
    assert ((p >= 0) & (p <= 1)).all()
    loaded = CalibratedBooster.load(model.save(tmp_path / "churn"))
    np.testing.assert_array_equal(loaded.predict_proba(test), p)


def test_same_seed_same_predictions():
    df = snapshots()
    a, _ = train_churn(df, config())
    b, _ = train_churn(df, config())
    np.testing.assert_array_equal(a.predict_proba(df), b.predict_proba(df))
