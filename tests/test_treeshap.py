"""The fast TreeSHAP (models.treeshap) against LightGBM's own pred_contrib, its reference."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numba
import numpy as np
import pandas as pd
import pytest

from models.explain import top_reasons
from models.lgbm import BIAS_COLUMN, CalibratedBooster, fit_isotonic
from models.treeshap import TreeShapModel, UnsupportedModelError, lightgbm_matrix

TOL = 1e-9

BASE = {
    "objective": "binary",
    "verbose": -1,
    "num_threads": 1,  # OpenMP threads on a busy 2-core CI box only wait for each other
    "deterministic": True,
    "force_row_wise": True,
    "seed": 3,
    "min_data_in_leaf": 5,
    "min_data_per_group": 5,
    "cat_smooth": 1.0,
}


def _max_diff(booster: lgb.Booster, X, table_max_features: int = 10) -> float:
    """Max |fast − pred_contrib| over all cells, the bias column included."""
    model = TreeShapModel.from_booster(booster, table_max_features=table_max_features)
    matrix = lightgbm_matrix(booster, X) if isinstance(X, pd.DataFrame) else X
    fast = model.shap_values(matrix)
    reference = booster.predict(X, pred_contrib=True)
    assert fast.shape == reference.shape
    return float(np.max(np.abs(fast - reference)))


@pytest.fixture(scope="module")
def numeric() -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric features with NaNs, exact zeros and near-zeros (LightGBM's zero threshold)."""
    rng = np.random.default_rng(1)
    n = 1200
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    X.loc[rng.random(n) < 0.15, "x0"] = np.nan
    X.loc[rng.random(n) < 0.30, "x1"] = 0.0
    X.loc[rng.random(n) < 0.10, "x1"] = np.nan
    X.loc[rng.random(n) < 0.05, "x2"] = 1e-40  # |v| <= 1e-35 counts as zero
    logit = X["x0"].fillna(1.5) + 2 * (X["x1"].fillna(-1) == 0) + X["x2"] * X["x3"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize(
    ("params", "missing_types"),
    [
        ({}, {"NaN", "None"}),  # NaN where training saw NaNs, None elsewhere
        ({"zero_as_missing": True}, {"Zero"}),  # zeros (and NaN) take the default way
        ({"use_missing": False}, {"None"}),  # NaN is read as 0
    ],
    ids=["nan", "zero-as-missing", "no-missing"],
)
def test_numeric_model_equals_pred_contrib(numeric, params, missing_types):
    X, y = numeric
    booster = lgb.train({**BASE, **params}, lgb.Dataset(X, y), 25)
    seen = {n["missing_type"] for t in booster.dump_model()["tree_info"] for n in _internal(t)}
    assert missing_types <= seen
    test = X.copy()
    test.loc[::7, "x3"] = np.nan  # NaN in a column that had none in training
    test.loc[::11, "x4"] = 0.0
    test.loc[::13, "x2"] = -1e-36
    assert _max_diff(booster, test) <= TOL


def _internal(tree: dict) -> list[dict]:
    out, stack = [], [tree["tree_structure"]]
    while stack:
        node = stack.pop()
        if "leaf_value" not in node:
            out.append(node)
            stack += [node["left_child"], node["right_child"]]
    return out


def test_categorical_model_with_unseen_and_missing_levels():
    rng = np.random.default_rng(2)
    n = 1500
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(list("pqrstuvw"), n)),
            "d": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        }
    )
    X.loc[rng.random(n) < 0.1, "c"] = np.nan
    logit = X["a"] + 1.5 * X["c"].isin(["p", "s", "v"]).to_numpy() - (X["d"] == "z").to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = lgb.train(BASE, lgb.Dataset(X, y), 30)
    assert any(
        n["decision_type"] == "==" for t in booster.dump_model()["tree_info"] for n in _internal(t)
    )
    # scoring frame: other level order, unseen levels ("new") and missing values
    test = X.iloc[:400].copy()
    c = test["c"].astype("object")
    c.iloc[::5] = "new"
    c.iloc[1::9] = np.nan
    test["c"] = pd.Categorical(c, categories=["new", *reversed("pqrstuvw")])
    test["d"] = pd.Categorical(test["d"].astype("object"), categories=["z", "y", "x"])
    assert _max_diff(booster, test) <= TOL


def test_categorical_routing_of_odd_codes_follows_lightgbm():
    """Negative, fractional and out-of-bitset codes on a raw matrix: LightGBM's int cast."""
    rng = np.random.default_rng(3)
    n = 1500
    cat = rng.integers(0, 40, n).astype("float64")
    X = np.column_stack([rng.normal(size=n), cat])
    y = ((cat % 3 == 0) ^ (rng.random(n) < 0.1)).astype(int)
    booster = lgb.train(BASE, lgb.Dataset(X, y, categorical_feature=[1]), 20)
    odd = np.array([-0.5, -1.0, -3.0, 0.7, 2.9, 39.0, 63.0, 64.0, 1000.0, np.nan, 3e12])
    test = np.column_stack([rng.normal(size=len(odd)), odd])
    assert _max_diff(booster, test) <= TOL


def test_deep_leaves_are_computed_directly_and_exactly():
    rng = np.random.default_rng(4)
    n = 1000
    X = pd.DataFrame(rng.normal(size=(n, 16)), columns=[f"x{i}" for i in range(16)])
    y = (rng.random(n) < 0.5).astype(int)  # noise: deep, many-feature paths
    params = {**BASE, "num_leaves": 150, "min_data_in_leaf": 1, "min_sum_hessian_in_leaf": 0}
    booster = lgb.train(params, lgb.Dataset(X, y), 4)
    for cap in (10, 3):
        model = TreeShapModel.from_booster(booster, table_max_features=cap)
        assert (model.arrays["leaf_table"] < 0).any(), "no leaf took the direct path"
        assert _max_diff(booster, X.iloc[:300], table_max_features=cap) <= TOL
    assert int(model.arrays["leaf_k"].max()) > 10


def test_single_leaf_trees_contribute_only_to_the_bias(numeric):
    X, y = numeric
    # no split allowed in the first iteration: LightGBM keeps that tree as a single leaf
    gain = lgb.reset_parameter(min_gain_to_split=lambda i: 1e9 if i < 1 else 0.0)
    mixed = lgb.train(BASE, lgb.Dataset(X, y), 6, callbacks=[gain])
    sizes = [t["num_leaves"] for t in mixed.dump_model()["tree_info"]]
    assert sizes[0] == 1 and min(sizes[1:]) > 1
    assert _max_diff(mixed, X.iloc[:200]) <= TOL
    only = lgb.train({**BASE, "min_gain_to_split": 1e9}, lgb.Dataset(X, y), 2)
    assert all(t["num_leaves"] == 1 for t in only.dump_model()["tree_info"])
    fast = TreeShapModel.from_booster(only).shap_values(X.to_numpy()[:50])
    assert np.all(fast[:, :-1] == 0.0)
    assert _max_diff(only, X.iloc[:50]) <= TOL


def test_feature_repeated_on_one_path():
    rng = np.random.default_rng(5)
    n = 1500
    X = pd.DataFrame({"x": rng.uniform(-3, 3, n), "w": rng.normal(size=n)})
    # a band in x: the same feature splits several times on one path
    y = ((np.abs(X["x"]) < 0.7) ^ (rng.random(n) < 0.05)).astype(int)
    booster = lgb.train({**BASE, "num_leaves": 15}, lgb.Dataset(X, y), 10)
    model = TreeShapModel.from_booster(booster)
    starts = model.arrays["leaf_path_start"]
    depths = np.diff(starts)
    assert (depths > model.arrays["leaf_k"]).any(), "no path repeats a feature"
    assert _max_diff(booster, X) <= TOL


def test_unsupported_boosters_are_refused(numeric):
    X, _ = numeric
    y = np.arange(len(X)) % 3
    multi = lgb.train({**BASE, "objective": "multiclass", "num_class": 3}, lgb.Dataset(X, y), 2)
    with pytest.raises(UnsupportedModelError, match="one tree per iteration"):
        TreeShapModel.from_booster(multi)


def test_matrix_rejects_categorical_mismatch(numeric):
    X, y = numeric
    booster = lgb.train(BASE, lgb.Dataset(X, y), 2)
    bad = X.assign(x0=pd.Categorical(["a"] * len(X)))
    with pytest.raises(ValueError, match="1 categorical columns, the booster was trained with 0"):
        lightgbm_matrix(booster, bad)


# --- through CalibratedBooster -------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(make_churn_rows) -> tuple[CalibratedBooster, pd.DataFrame]:
    """A CalibratedBooster with a categorical feature, trained like the churn model."""
    X, y = make_churn_rows(seed=6, customer_ids=True)
    features = [c for c in X.columns if c != "customer_id"]
    model = CalibratedBooster(
        booster=None,  # type: ignore[arg-type]
        features=features,
        categories={"vehicle_model": ["A4", "Q5", "A6", "Q3"]},
    )
    model.booster = lgb.train(BASE, lgb.Dataset(model.frame(X), y), 40)
    model.calibrator = fit_isotonic(model.predict_raw(X), y)
    # scoring rows: an unseen vehicle model too (it becomes missing)
    rows = X.iloc[:500].copy()
    vm = rows["vehicle_model"].astype("object")
    vm.iloc[::13] = "E-Tron"
    rows["vehicle_model"] = vm
    return model, rows


def test_calibrated_booster_fast_equals_lightgbm(calibrated):
    model, rows = calibrated
    fast = model.contributions(rows)
    ref = model.contributions(rows, engine="lightgbm")
    assert list(fast.columns) == [*model.features, BIAS_COLUMN]
    assert fast.index.equals(rows.index)
    assert float(np.max(np.abs(fast.to_numpy() - ref.to_numpy()))) <= TOL
    # additivity: each row sums to the raw score (log-odds)
    raw = model.booster.predict(model.frame(rows), raw_score=True)
    assert np.allclose(fast.sum(axis=1).to_numpy(), raw, rtol=0, atol=1e-9)


def test_fast_contributions_are_deterministic_across_threads(calibrated):
    model, rows = calibrated
    first = model.contributions(rows)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = model.contributions(rows)
    finally:
        numba.set_num_threads(threads)
    again = model.contributions(rows)
    assert np.array_equal(first.to_numpy(), again.to_numpy())
    assert np.array_equal(first.to_numpy(), single.to_numpy())


def test_top_reasons_unchanged_by_the_engine(calibrated):
    model, rows = calibrated
    fast = top_reasons(model, rows, contributions=model.contributions(rows))
    ref = top_reasons(model, rows, contributions=model.contributions(rows, engine="lightgbm"))
    numbers = [c for c in fast.columns if c.endswith("_contribution")]
    assert fast.drop(columns=numbers).equals(ref.drop(columns=numbers))
    np.testing.assert_allclose(
        fast[numbers].to_numpy("float64"), ref[numbers].to_numpy("float64"), rtol=0, atol=TOL
    )
    assert fast["reason_1"].notna().sum() > 100  # the comparison covers real reasons


def test_failed_self_check_warns_and_falls_back(calibrated, monkeypatch):
    model, rows = calibrated
    ref = model.contributions(rows, engine="lightgbm")
    broken = TreeShapModel.shap_values
    monkeypatch.setattr(TreeShapModel, "shap_values", lambda self, X: broken(self, X) + 1e-3)
    with pytest.warns(RuntimeWarning, match="differs from LightGBM pred_contrib"):
        out = model.contributions(rows)
    assert out.equals(ref)


def test_unknown_engine_is_refused(calibrated):
    model, rows = calibrated
    with pytest.raises(ValueError, match="engine must be one of"):
        model.contributions(rows, engine="shap")


def test_pickled_model_drops_the_parsed_tables(calibrated):
    model, rows = calibrated
    expected = model.contributions(rows)
    assert model._treeshap is not None
    clone = pickle.loads(pickle.dumps(model))
    assert clone._treeshap is None and model._treeshap is not None
    assert clone.contributions(rows).equals(expected)


def test_probability_from_contributions_equals_predict_proba(calibrated):
    model, rows = calibrated
    got = model.predict_proba_from_contributions(rows, model.contributions(rows))
    assert np.allclose(got, model.predict_proba(rows), rtol=0, atol=1e-12)


def test_probability_from_contributions_falls_back_for_another_link(calibrated, caplog):
    model, rows = calibrated
    # contributions that do not sum to the booster's raw score (as under another link)
    shifted = model.contributions(rows) + 0.5
    with caplog.at_level("WARNING", logger="models.lgbm"):
        got = model.predict_proba_from_contributions(rows, shifted)
    assert np.array_equal(got, model.predict_proba(rows))
    assert "predicting" in caplog.text
