"""The observable ceiling: cross-fitted fits of the true arm probabilities (models.ceiling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ceiling import CeilingConfig, customer_fold, observable_ceiling

FAST = {"num_boost_round": 60, "lgbm": {"min_data_in_leaf": 5, "num_leaves": 7}}


def _customers(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "days_since_last_visit": rng.uniform(0, 400, n),
            "vehicle_model": rng.choice(["A", "B"], n),
        }
    )


def test_the_ceiling_recovers_probabilities_the_features_determine() -> None:
    f = _customers(600)
    lapsed = (f["days_since_last_visit"] > 200).to_numpy()
    model_b = (f["vehicle_model"] == "B").to_numpy()
    # P(return | none) = 0.1, or 0.3 for recent owners; the call adds 0.2 for model B only
    p_none = np.where(lapsed, 0.1, 0.3)
    truth = pd.DataFrame({"p_none": p_none, "p_call": p_none + 0.2 * model_b}, index=f.index)
    fitted = observable_ceiling(
        f, truth, ["days_since_last_visit", "vehicle_model"], CeilingConfig.from_params(FAST)
    )
    assert list(fitted.columns) == ["p_none", "p_call"] and fitted.index.equals(f.index)
    # within 0.03 of the truth for at least 95% of the customers (the step at 200 days blurs)
    assert (np.abs(fitted - truth) < 0.03).mean().min() >= 0.95
    uplift = fitted["p_call"] - fitted["p_none"]
    assert uplift[model_b].mean() == pytest.approx(0.2, abs=0.02)
    assert uplift[~model_b].mean() == pytest.approx(0.0, abs=0.02)


def test_a_customers_own_truth_never_fits_its_own_prediction() -> None:
    # truth is pure per-customer noise; the row number identifies each customer, so a model
    # fitted on the customer's own truth would memorise it, and an out-of-fold one cannot
    f = _customers(400).assign(row=np.arange(400, dtype="float64"))
    noise = np.random.default_rng(1).uniform(0, 1, 400)
    truth = pd.DataFrame({"p_none": noise}, index=f.index)
    cfg = CeilingConfig.from_params(
        {"num_boost_round": 200, "lgbm": {"min_data_in_leaf": 1, "num_leaves": 63}}
    )
    fitted = observable_ceiling(f, truth, ["row"], cfg)["p_none"]
    assert abs(np.corrcoef(fitted, noise)[0, 1]) < 0.2

    import lightgbm as lgb

    params = {**dict(cfg.lgbm), "min_data_in_bin": 1}
    data = lgb.Dataset(f[["row"]], noise, params={"verbosity": -1, "min_data_in_bin": 1})
    in_sample = lgb.train(params, data, num_boost_round=200).predict(f[["row"]])
    assert np.corrcoef(in_sample, noise)[0, 1] > 0.5  # the leak the cross-fitting prevents


def test_folds_follow_the_customer_id_and_the_result_is_deterministic() -> None:
    f = _customers(200)
    ids = f["customer_id"]
    assert (customer_fold(ids, 2) == customer_fold(ids.iloc[::-1], 2)[::-1]).all()
    assert set(customer_fold(ids, 3)) == {0, 1, 2}
    truth = pd.DataFrame({"p_none": f["days_since_last_visit"] / 400}, index=f.index)
    cfg = CeilingConfig.from_params(FAST)
    a = observable_ceiling(f, truth, ["days_since_last_visit"], cfg)
    b = observable_ceiling(f, truth, ["days_since_last_visit"], cfg)
    pd.testing.assert_frame_equal(a, b)


def test_bad_settings_and_inputs_fail_loudly() -> None:
    with pytest.raises(ValueError, match="folds must be at least 2"):
        CeilingConfig.from_params({"folds": 1})
    with pytest.raises(ValueError, match="unknown policy.ceiling params: fold"):
        CeilingConfig.from_params({"fold": 3})
    cfg = CeilingConfig.from_params({"lgbm": {"num_leaves": 7}})
    assert cfg.lgbm["num_leaves"] == 7 and cfg.lgbm["objective"] == "regression"
    f = _customers(10)
    truth = pd.DataFrame({"p_none": np.full(10, 0.2)}, index=f.index)
    with pytest.raises(ValueError, match="no column"):
        observable_ceiling(f, truth, ["mileage_km_per_day"], cfg)
