"""The uplift model recovers a planted heterogeneous effect; save/load and seeds are exact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models.churn import ModelConfig
from models.learners import (
    arm_propensity,
    customer_folds,
    dr_pseudo_outcome,
    transformed_outcome,
)
from models.metrics import qini_coefficient
from models.recovery import (
    UpliftModel,
    train_recovery,
    treatment_indicator,
)
from models.split import SplitConfig

LGBM = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}


def outreach(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Contacts over 2 years; action ``a`` raises return only for x > 0, ``b`` never helps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    action = rng.choice(["none", "a", "b"], n, p=[0.3, 0.35, 0.35])
    p = 0.2 + 0.05 * (x > 1) + np.where((action == "a") & (x > 0), 0.4, 0.0)
    days = pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i:05d}" for i in range(n)], dtype="str"),
            "as_of": days,
            "contact_date": days,
            "action": pd.Series(action, dtype="str"),
            "cost": 1.0,
            "group": np.where(action == "none", "control", "treatment"),
            "days_since_last_visit": x,
            "visits_365d": rng.poisson(2, n).astype("float64"),
            "labelled": True,
            "recovered": (rng.uniform(size=n) < p).astype("float64"),
        }
    )


def config(learner: str = "s") -> ModelConfig:
    # The transformed outcome is too noisy for early stopping on a small valid slice: fixed rounds.
    fixed = learner in ("to", "dr")
    return ModelConfig(
        lgbm=dict(LGBM),
        num_boost_round=100 if fixed else 300,
        early_stopping_rounds=0 if fixed else 30,
        calibrate=False,
        split=SplitConfig(
            test_periods=4,
            holdout_periods=3,
            gap_days=61,
            freq="M",
            holdout_share=0.3,
            exclude_holdout_customers=False,
        ),
    )


@pytest.mark.parametrize("learner", ["s", "t", "tb", "tp", "to", "dr"])
def test_planted_uplift_is_recovered(learner):
    df = outreach()
    model, info = train_recovery(df, config(learner), learner=learner)
    assert model.actions == ["a", "b"]
    test = df.loc[df["contact_date"] >= info["split"]["test_start"]]
    pred = model.predict(test)
    pos = test["days_since_last_visit"].to_numpy() > 0
    up_a = pred["uplift_a"].to_numpy()
    assert up_a[pos].mean() > up_a[~pos].mean() + 0.2
    assert abs(pred["uplift_b"].mean()) < 0.1
    assert (pred.loc[pos, "best_action"] == "a").mean() > 0.8
    score = model.received_uplift(test, pred)
    # a clearly positive Qini (random targeting scores 0)
    assert qini_coefficient(test["recovered"], treatment_indicator(test), score) > 0.01


@pytest.mark.parametrize("learner", ["s", "t", "tb", "tp", "to"])
def test_save_load_and_seed_are_exact(tmp_path, learner):
    df = outreach(n=3000)
    a, _ = train_recovery(df, config(learner), learner=learner)
    b, _ = train_recovery(df, config(learner), learner=learner)
    pd.testing.assert_frame_equal(a.predict(df), b.predict(df))
    loaded = UpliftModel.load(a.save(tmp_path / "recovery"))
    pd.testing.assert_frame_equal(loaded.predict(df), a.predict(df))
    assert loaded.action_shares == a.action_shares
    assert loaded.learner == learner
    assert loaded.features == ["days_since_last_visit", "visits_365d"]


def test_transformed_outcome_is_unbiased_for_the_uplift():
    df = outreach(n=20000, seed=3)
    e = arm_propensity(df, "a")
    rows = df.loc[df["action"].isin(["a", "none"])]
    z = transformed_outcome(rows, "a", e)
    pos = rows["days_since_last_visit"].to_numpy() > 0
    assert abs(z[pos].mean() - 0.4) < 0.05
    assert abs(z[~pos].mean()) < 0.05


def test_dr_pseudo_outcome_by_hand():
    # one tier (no spend_365d column): e = 0.5 for every row
    rows = pd.DataFrame({"action": ["a", "a", "none", "none"], "recovered": [1.0, 0.0, 1.0, 0.0]})
    mu_a = np.array([0.6, 0.6, 0.6, 0.6])
    mu_0 = np.array([0.2, 0.2, 0.2, 0.2])
    phi = dr_pseudo_outcome(rows, "a", {0: 0.5, 1: 0.5, 2: 0.5}, mu_a, mu_0)
    # treated: 0.4 + (y - 0.6) / 0.5; control: 0.4 - (y - 0.2) / 0.5
    np.testing.assert_allclose(phi, [0.4 + 0.8, 0.4 - 1.2, 0.4 - 1.6, 0.4 + 0.4])
    # with right outcome models the correction averages to 0 over y; with mu = 0 it is the
    # transformed outcome Z = Y (T/e - (1 - T)/(1 - e))
    zero = np.zeros(4)
    np.testing.assert_allclose(
        dr_pseudo_outcome(rows, "a", {0: 0.5, 1: 0.5, 2: 0.5}, zero, zero),
        transformed_outcome(rows, "a", {0: 0.5, 1: 0.5, 2: 0.5}),
    )


def test_customer_folds_keep_a_customer_together_and_are_stable():
    rows = pd.DataFrame({"customer_id": ["C1", "C2", "C1", "C3", "C2", "C4"] * 50})
    fold = customer_folds(rows)
    assert set(fold) == {0, 1}
    by = pd.Series(fold).groupby(rows["customer_id"]).nunique()
    assert (by == 1).all()
    np.testing.assert_array_equal(fold, customer_folds(rows.iloc[::-1])[::-1])


def test_needs_control_rows():
    df = outreach(n=500)
    df = df.loc[df["action"] != "none"]
    with pytest.raises(ValueError, match="control"):
        train_recovery(df, config())


def test_no_effect_flags_zero_the_uplift_and_survive_save_load(tmp_path):
    df = outreach(n=3000)
    df["reported_gone"] = (np.arange(len(df)) % 10 == 0).astype("float64")
    cfg = replace(config("t"), num_boost_round=60, exclude=("reported_gone",))
    plain, _ = train_recovery(df, cfg, learner="t")
    model, info = train_recovery(df, cfg, learner="t", no_effect_flags=["reported_gone"])
    assert info["no_effect_flags"] == ["reported_gone"]
    assert model.features == ["days_since_last_visit", "visits_365d", "reported_gone"]
    gone = df["reported_gone"].to_numpy() == 1
    pred, ref = model.predict(df), plain.predict(df)
    assert (pred.loc[gone, ["uplift_a", "uplift_b"]] == 0).all().all()
    assert (pred.loc[gone, "best_action"] == "none").all()
    pd.testing.assert_frame_equal(pred.loc[~gone], ref.loc[~gone])
    loaded = UpliftModel.load(model.save(tmp_path / "recovery"))
    pd.testing.assert_frame_equal(loaded.predict(df), pred)
    with pytest.raises(ValueError, match="no_effect_flags"):
        train_recovery(df, cfg, learner="t", no_effect_flags=["moved_away"])
