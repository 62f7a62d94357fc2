"""Evaluation: hand-computed metrics on tiny frames, same-rows guarantee, plot data, Qini."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_RECOVERY_MIN_ROWS_YAML, SMALL_STORE_RECOVERY_YAML

from features import vocabulary
from features.baseline import FORMULA_COLUMNS, SCORECARD_COLUMNS
from models import evaluate as ev
from models import evaluate_recovery as evr
from models.metrics import qini_coefficient
from models.reporting import evaluation as evaluation_report


def _features(days: list[float], spend: list[float] | None = None) -> pd.DataFrame:
    """Rows whose formula score is ``(days - 90) * 0.3`` (every other term missing → 0)."""
    n = len(days)
    out = pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n)],
            "as_of": pd.Timestamp("2026-01-01"),
        }
    )
    for col in {*FORMULA_COLUMNS, *SCORECARD_COLUMNS}:
        out[col] = np.nan
    out["days_since_last_visit"] = np.asarray(days, dtype="float64")
    out["spend_365d"] = spend if spend is not None else 1000.0
    out["dealer_id"] = pd.Categorical(["D1", "D2"] * (n // 2) + ["D1"] * (n % 2))
    return out


# 8 rows, scores in descending order for the model.
Y8 = [1, 1, 0, 1, 0, 0, 1, 0]
P8 = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
DAYS8 = [100, 50, 200, 10, 300, 20, 30, 40]


def _tiny(extra_never_visited: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    days = list(DAYS8) + ([np.nan] if extra_never_visited else [])
    test = _features(days)
    test["churn"] = Y8 + ([1] if extra_never_visited else [])
    proba = np.array(P8 + ([0.5] if extra_never_visited else []))
    return test, proba


def test_hand_computed_churn_metrics() -> None:
    test, proba = _tiny()
    frame = ev.churn_frame(test, proba)
    result = ev.evaluate_churn(frame)
    # model: positive-over-negative pairs 4 + 4 + 3 + 1 = 12 of 16
    assert result["model"]["roc_auc"] == pytest.approx(12 / 16)
    # formula ranks by days: 100 > {20, 40}, 50 > {20, 40}, 10 > none, 30 > {20} → 5 of 16
    assert result["formula"]["roc_auc"] == pytest.approx(5 / 16)
    assert result["roc_auc_gain"] == pytest.approx(12 / 16 - 5 / 16)
    # top decile of 8 rows = ceil(0.8) = 1 row; model's top row churns: lift 1 / 0.5, capture 1/4
    assert result["model"]["top_decile_lift"] == pytest.approx(2.0)
    assert result["model"]["top_decile_capture"] == pytest.approx(0.25)
    # formula's top row (300 days) does not churn
    assert result["formula"]["top_decile_lift"] == pytest.approx(0.0)
    # Brier: mean squared error by hand
    brier = np.mean((np.array(P8) - np.array(Y8)) ** 2)
    assert result["model"]["brier"] == pytest.approx(brier)
    assert result["n"] == 8 and result["positive_rate"] == pytest.approx(0.5)


def test_formula_is_ranked_not_calibrated() -> None:
    test, proba = _tiny()
    result = ev.evaluate_churn(ev.churn_frame(test, proba))
    assert {"log_loss", "brier", "ece"} <= set(result["model"])
    assert not {"log_loss", "brier", "ece"} & set(result["formula"])
    assert "not a probability" in result["formula"]["note"]


def test_model_and_formula_on_identical_rows() -> None:
    test, proba = _tiny(extra_never_visited=True)
    frame = ev.churn_frame(test, proba)
    # the never-visited row has no formula score, so it is dropped for both scorers
    assert frame.attrs["dropped"] == 1
    assert frame[["model", "formula"]].notna().all().all()
    expected = test.loc[test["days_since_last_visit"].notna(), ["customer_id", "as_of"]]
    pd.testing.assert_frame_equal(
        frame[["customer_id", "as_of"]].reset_index(drop=True), expected.reset_index(drop=True)
    )
    # and the metrics are those of the 8 shared rows
    assert ev.evaluate_churn(frame)["model"]["roc_auc"] == pytest.approx(12 / 16)
    assert ev.evaluate_churn(frame)["rows_set_aside"] == 1


def test_churn_frame_rejects_misaligned_probabilities() -> None:
    test, proba = _tiny()
    with pytest.raises(ValueError, match="expected 8"):
        ev.churn_frame(test, proba[:-1])


def test_value_tier_is_the_one_rule_with_missing_spend_unknown() -> None:
    # The scoring rule: a value above a bound moves up a tier; missing spend is its own row.
    spend = pd.Series([0.0, 1999.99, 2000.0, 5000.0, 5000.01, np.nan])
    tiers = vocabulary.value_tier(spend, (2000.0, 5000.0), missing="unknown")
    assert tiers.tolist() == ["low", "low", "low", "mid", "high", "unknown"]
    assert vocabulary.value_tier_index(spend.to_numpy()).tolist() == [0, 0, 0, 1, 2, 0]


def test_segments_split_rows_by_tier_and_dealer() -> None:
    rng = np.random.default_rng(0)
    n = 600
    test = _features(list(rng.uniform(0, 400, n)), list(rng.choice([500.0, 3000.0, 9000.0], n)))
    test["churn"] = rng.integers(0, 2, n)
    proba = rng.uniform(0, 1, n)
    cfg = ev.EvaluateConfig(min_segment_rows=10)
    frame = ev.churn_frame(test, proba, cfg)
    seg = ev.churn_segments(frame, cfg)
    tiers = seg[seg["segment"] == "value_tier"]
    assert tiers["value"].tolist() == ["low", "mid", "high"]
    assert tiers["n"].sum() == n
    expected_n = test["spend_365d"].map({500.0: "low", 3000.0: "mid", 9000.0: "high"})
    assert tiers.set_index("value")["n"].to_dict() == expected_n.value_counts().to_dict()
    dealers = seg[seg["segment"] == "dealer_id"]
    assert dealers["value"].tolist() == ["D1", "D2"] and dealers["n"].sum() == n
    # a segment's metrics are those of its rows evaluated alone
    high = frame[frame["value_tier"] == "high"]
    alone = ev.evaluate_churn(high, cfg)
    row = tiers.set_index("value").loc["high"]
    assert row["model_roc_auc"] == pytest.approx(alone["model"]["roc_auc"])
    assert row["formula_pr_auc"] == pytest.approx(alone["formula"]["pr_auc"])
    assert row["model_ece"] == pytest.approx(alone["model"]["ece"])
    overall = seg[seg["segment"] == "all"].iloc[0]
    assert overall["n"] == n


def test_small_segments_report_size_only() -> None:
    test, proba = _tiny()
    seg = ev.churn_segments(ev.churn_frame(test, proba), ev.EvaluateConfig(min_segment_rows=5))
    d1 = seg[(seg["segment"] == "dealer_id") & (seg["value"] == "D1")].iloc[0]
    assert d1["n"] == 4 and np.isnan(d1["model_roc_auc"])


def test_churn_plot_data_shapes() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    test = _features(list(rng.uniform(0, 400, n)))
    test["churn"] = rng.integers(0, 2, n)
    frame = ev.churn_frame(test, rng.uniform(0, 1, n))
    curves = ev.churn_curves(frame)
    assert set(curves) == {"roc", "pr", "lift", "calibration"}
    assert list(curves["roc"].columns) == ["model", "fpr", "tpr", "threshold"]
    assert list(curves["pr"].columns) == ["model", "recall", "precision", "threshold"]
    assert list(curves["lift"].columns) == ["model", "fraction", "capture", "lift"]
    assert curves["calibration"].columns[0] == "model"
    assert set(curves["calibration"]["model"]) == {"model"}
    for name in ("roc", "pr", "lift"):
        sizes = curves[name].groupby("model").size()
        assert {"model", "formula"} <= set(sizes.index)
        assert (sizes <= 200).all()
    roc = curves["roc"][curves["roc"]["model"] == "model"]
    assert roc["fpr"].iloc[0] == 0 and roc["tpr"].iloc[-1] == 1  # end points kept
    assert roc["fpr"].is_monotonic_increasing
    gains = curves["lift"][curves["lift"]["model"] == "model"]
    assert gains["capture"].iloc[-1] == pytest.approx(1.0)


def test_downsample_keeps_small_curves_whole() -> None:
    df = pd.DataFrame({"x": range(5)})
    assert ev.downsample(df, 200)["x"].tolist() == [0, 1, 2, 3, 4]
    big = ev.downsample(pd.DataFrame({"x": range(1000)}), 200)
    assert len(big) <= 200 and big["x"].iloc[0] == 0 and big["x"].iloc[-1] == 999


def _planted(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    t = rng.integers(0, 2, n)
    y = (rng.uniform(0, 1, n) < 0.2 + 0.5 * x * t).astype("int64")
    return x, t, y


def test_compare_rankings_prefers_planted_uplift() -> None:
    x, t, y = _planted()
    rng = np.random.default_rng(99)
    result = evr.compare_rankings(y, t, {"planted": x, "random": rng.uniform(0, 1, len(x))})
    assert result["planted"]["qini"] > result["random"]["qini"] + 0.01
    assert result["planted"]["qini"] > 0
    assert result["planted"]["uplift_at_30"] > result["random"]["uplift_at_30"]
    assert result["planted"]["auuc"] > result["random"]["auuc"]


def test_qini_difference_interval_planted_vs_random() -> None:
    x, t, y = _planted()
    noise = np.random.default_rng(99).uniform(0, 1, len(x))
    got = evr.qini_difference_interval(y, t, x, noise, rounds=300, seed=1)
    expected = evr.compare_rankings(y, t, {"a": x, "b": noise})
    assert got["difference"] == pytest.approx(expected["a"]["qini"] - expected["b"]["qini"])
    assert 0 < got["low"] < got["difference"] < got["high"]
    assert got["share_above_zero"] > 0.975 and got["rounds"] == 300
    # same seed, same interval; a ranking against itself differs by exactly 0
    assert evr.qini_difference_interval(y, t, x, noise, rounds=300, seed=1) == got
    same = evr.qini_difference_interval(y, t, x, x, rounds=50)
    assert same["difference"] == same["low"] == same["high"] == 0.0


def test_weighted_sorted_qini_equals_qini_on_repeated_rows() -> None:
    # A resample that takes row i w_i times is the Qini of the rows repeated w_i times.
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype="float64")
    t = np.array([1, 1, 0, 1, 0, 1, 0, 0], dtype="float64")
    s = np.array([0.9, 0.9, 0.8, 0.5, 0.5, 0.3, 0.2, 0.1])  # two runs of tied scores
    w = np.array([2, 0, 1, 3, 1, 1, 0, 2], dtype="float64")
    last = np.r_[s[1:] != s[:-1], True]
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    assert evr._sorted_qini(y, t, last, w) == pytest.approx(
        qini_coefficient(y[rep], t[rep], s[rep])
    )
    assert evr._sorted_qini(y, t, last, np.ones(8)) == pytest.approx(qini_coefficient(y, t, s))


def test_qini_difference_interval_needs_both_groups() -> None:
    with pytest.raises(ValueError, match="treated and control"):
        evr.qini_difference_interval(np.array([1, 0]), np.array([1, 1]), np.ones(2), np.ones(2))


def test_compare_rankings_without_control_is_nan() -> None:
    result = evr.compare_rankings(np.array([1, 0]), np.array([1, 1]), {"s": np.array([0.1, 0.2])})
    assert np.isnan(result["s"]["qini"])


def _recovery_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    test = _features([30, 100, 200, 400, 60, 10])
    test["action"] = ["sms_coupon", "home_visit", "none", "sms_coupon", "none", "home_visit"]
    test["group"] = ["treatment", "treatment", "control", "treatment", "control", "treatment"]
    test["recovered"] = [1.0, 0.0, 0.0, np.nan, 1.0, 1.0]
    pred = pd.DataFrame(
        {
            "p_none": 0.2,
            "uplift_sms_coupon": [0.10, 0.20, 0.30, 0.40, 0.50, 0.60],
            "uplift_home_visit": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
        }
    )
    return test, pred


def test_recovery_frame_scores_control_rows_with_weighted_uplift() -> None:
    test, pred = _recovery_rows()
    weights = {"sms_coupon": 0.75, "home_visit": 0.25}
    churn = np.linspace(0.9, 0.4, 6)
    frame = evr.recovery_frame(test, pred, churn, weights)
    # the unlabelled row (index 3) is set aside
    assert frame.attrs["dropped"] == 1
    assert frame["customer_id"].tolist() == ["C000", "C001", "C002", "C004", "C005"]
    assert frame["treatment"].tolist() == [1, 1, 0, 0, 1]
    expected = [
        0.10,  # treated with sms_coupon → its sms uplift
        0.02,  # treated with home_visit → its home-visit uplift
        0.75 * 0.30 + 0.25 * 0.03,  # control → action-mix weighted uplift
        0.75 * 0.50 + 0.25 * 0.05,
        0.06,
    ]
    assert frame["uplift_model"].to_numpy() == pytest.approx(expected)
    assert frame["churn_risk"].to_numpy() == pytest.approx(churn[[0, 1, 2, 4, 5]])
    assert frame["scorecard"].notna().all()
    assert frame["recovered"].dtype == "int64"


def test_scorecard_exclusion_ranks_reported_gone_last_when_recorded() -> None:
    test, pred = _recovery_rows()
    weights = {"sms_coupon": 0.75, "home_visit": 0.25}
    plain = evr.recovery_frame(test, pred, np.zeros(6), weights)
    assert evr.SCORECARD_EXCLUSION not in plain.columns  # outcomes not recorded: no column
    assert evr.SCORECARD_EXCLUSION not in evr.evaluate_recovery(plain)
    test["reported_gone"] = [0.0, 1.0, np.nan, 0.0, 0.0, 1.0]
    frame = evr.recovery_frame(test, pred, np.zeros(6), weights)
    excl = frame[evr.SCORECARD_EXCLUSION]
    gone = frame.index.isin([1, 5])
    assert (excl[~gone] == frame.loc[~gone, "scorecard"]).all()
    assert excl[gone].max() < frame["scorecard"].min() - 1000
    result = evr.evaluate_recovery(frame, ev.EvaluateConfig(bootstrap_rounds=20))
    assert set(result[evr.SCORECARD_EXCLUSION]) == {"qini", "auuc", "uplift_at_30"}
    assert set(result["qini_difference"]) == {"scorecard", "churn_risk", "scorecard_exclusion"}


def test_recovery_frame_needs_every_action_column() -> None:
    test, pred = _recovery_rows()
    with pytest.raises(ValueError, match="manager_call"):
        evr.recovery_frame(test, pred, np.zeros(6), {"sms_coupon": 0.5, "manager_call": 0.5})


def test_action_weights_are_treated_shares() -> None:
    train = pd.DataFrame(
        {
            "action": ["sms_coupon", "sms_coupon", "home_visit", "none", "none"],
            "group": ["treatment", "treatment", "treatment", "control", "control"],
        }
    )
    assert evr.action_weights(train) == pytest.approx({"home_visit": 1 / 3, "sms_coupon": 2 / 3})


def _synthetic_recovery(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    action = rng.choice(["none", "sms_coupon", "home_visit"], n, p=[0.3, 0.4, 0.3])
    lift = np.where(action == "sms_coupon", 0.4 * x, np.where(action == "home_visit", 0.2, 0))
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "as_of": pd.Timestamp("2026-01-01"),
            "action": action,
            "treatment": (action != "none").astype("int64"),
            "recovered": (rng.uniform(0, 1, n) < 0.15 + lift).astype("int64"),
            "uplift_sms_coupon": 0.4 * x,
            "uplift_home_visit": 0.2 + rng.normal(0, 0.01, n),
        }
    )
    frame["uplift_model"] = np.where(
        action == "home_visit", frame["uplift_home_visit"], frame["uplift_sms_coupon"]
    )
    frame["scorecard"] = rng.uniform(0, 5, n)
    frame["churn_risk"] = rng.uniform(0, 1, n)
    frame.attrs["actions"] = ["sms_coupon", "home_visit"]
    return frame


def test_evaluate_recovery_overall_and_per_action() -> None:
    frame = _synthetic_recovery()
    result = evr.evaluate_recovery(frame)
    assert result["n"] == len(frame)
    assert result["n_control"] == int((frame["action"] == "none").sum())
    for scorer in ("uplift_model", "scorecard", "churn_risk"):
        assert set(result[scorer]) == {"qini", "auuc", "uplift_at_30"}
    assert result["uplift_model"]["qini"] > result["scorecard"]["qini"]
    sms = result["by_action"]["sms_coupon"]
    assert sms["n"] == int(frame["action"].isin(["none", "sms_coupon"]).sum())
    assert sms["uplift_model"]["qini"] > sms["churn_risk"]["qini"]
    assert result["observed_uplift"] > 0
    diff = result["qini_difference"]
    assert set(diff) == {"scorecard", "churn_risk"}
    qini = {k: result[k]["qini"] for k in ("uplift_model", "scorecard")}
    assert diff["scorecard"]["difference"] == pytest.approx(
        qini["uplift_model"] - qini["scorecard"]
    )
    assert diff["scorecard"]["low"] <= diff["scorecard"]["difference"] <= diff["scorecard"]["high"]
    off = evr.evaluate_recovery(frame, ev.EvaluateConfig(bootstrap_rounds=0))
    assert "qini_difference" not in off


def test_recovery_plot_data() -> None:
    frame = _synthetic_recovery()
    curves = evr.recovery_curves(frame)
    qini = curves["qini"]
    assert qini.columns[0] == "model" and {"fraction", "qini", "n"} <= set(qini.columns)
    assert set(qini["model"]) == {"uplift_model", "scorecard", "churn_risk", "random"}
    assert (qini.groupby("model").size() <= 200).all()
    assert {"action", "fraction", "qini"} <= set(curves["qini_by_action"].columns)
    assert set(curves["qini_by_action"]["action"]) == {"sms_coupon", "home_visit"}


def test_figures_are_written(tmp_path) -> None:
    rng = np.random.default_rng(2)
    n = 500
    test = _features(list(rng.uniform(0, 400, n)))
    test["churn"] = rng.integers(0, 2, n)
    curves = ev.churn_curves(ev.churn_frame(test, rng.uniform(0, 1, n)))
    curves.update(evr.recovery_curves(_synthetic_recovery(800)))
    written = evaluation_report.curve_figures(curves, tmp_path / "fig")
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["roc.png", "pr.png", "lift.png", "calibration.png", "qini.png", "qini_by_action.png"]
    )
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_table_and_json() -> None:
    test, proba = _tiny()
    churn = ev.evaluate_churn(ev.churn_frame(test, proba))
    recovery = evr.evaluate_recovery(_synthetic_recovery(600))
    table = evaluation_report.comparison_table(churn, recovery)
    assert table.loc[table["metric"] == "roc_auc", "model"].item() == pytest.approx(0.75)
    assert set(table["task"]) == {"churn", "recovery"}
    assert set(evaluation_report.comparison_table(churn, None)["task"]) == {"churn"}
    text = json.dumps(ev.jsonable({"a": float("nan"), "b": np.float64(1.5), "c": [np.int64(2)]}))
    assert json.loads(text) == {"a": None, "b": 1.5, "c": [2]}


def test_config_from_params() -> None:
    cfg = ev.EvaluateConfig.from_params({"tier_bounds": [1000, 3000], "segment_by": ["dealer_id"]})
    assert cfg.tier_bounds == (1000, 3000) and cfg.segment_by == ("dealer_id",)
    with pytest.raises(ValueError, match="unknown evaluate params: tier_bound"):
        ev.EvaluateConfig.from_params({"tier_bound": [1, 2]})
    with pytest.raises(ValueError, match="tier_bounds"):
        ev.EvaluateConfig(tier_bounds=(5000.0, 2000.0))


# --------------------------------------------------------------------------------------------
# champion/challenger decisions (no MLflow: the promote function is injected)


class _Decision:
    def __init__(self, promoted: bool, reason: str) -> None:
        self.promoted, self.reason = promoted, reason


def _promote(name, version, candidate, champion):
    if champion is None:
        return _Decision(True, "no champion yet")
    return _Decision(candidate > champion, f"{candidate:.3f} vs {champion:.3f}")


def test_challenge_promotes_better_and_refuses_worse() -> None:
    from models.tracking import challenge

    scores = {"old": 0.70}
    better = challenge("m", "2", 0.75, "old", "1", scores.get, _promote, "roc_auc")
    assert better["promoted"] and better["champion"] == 0.70 and better["champion_version"] == "1"
    worse = challenge("m", "3", 0.65, "old", "1", scores.get, _promote, "roc_auc")
    assert not worse["promoted"] and worse["reason"] == "0.650 vs 0.700"
    first = challenge("m", "1", 0.60, None, None, scores.get, _promote, "roc_auc")
    assert first["promoted"] and first["champion"] is None


def test_challenge_champion_that_cannot_score() -> None:
    from models.lgbm import FeatureMismatchError
    from models.tracking import challenge

    def score(model):
        raise FeatureMismatchError("model expects 3 features; 1 missing")

    d = challenge("m", "2", 0.7, "old", "1", score, _promote, "roc_auc")
    assert d["promoted"] and "could not score" in d["reason"]
    unregistered = challenge("m", None, 0.7, None, None, score, _promote, "roc_auc")
    assert not unregistered["promoted"]


# --------------------------------------------------------------------------------------------
# the stage end to end on a small simulation (train → evaluate → champion/challenger)

SMALL_PARAMS = """
train:
  churn: {{num_boost_round: {rounds}, early_stopping_rounds: 10}}
  recovery: {{num_boost_round: {rounds}, early_stopping_rounds: 10, min_rows: {min_rows},
             {small_store}}}
evaluate:
  min_segment_rows: 50
  bootstrap_rounds: 200
"""


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A 1,000-customer simulation, featurized, with its customers table (for the PII scan)."""
    from pipeline import featurize, simulate

    root = tmp_path_factory.mktemp("e2e")
    params = root / "params.yaml"
    params.write_text(
        SMALL_PARAMS.format(
            rounds=30, min_rows=SMALL_RECOVERY_MIN_ROWS_YAML, small_store=SMALL_STORE_RECOVERY_YAML
        )
    )
    simulate.main(customers=1000, years=3, seed=3, out=root / "sim", params=params)
    featurize.main(data_dir=root / "sim", out=root / "feat", params=params)
    return root


def _train(root, name: str, rounds: int):
    from pipeline import train

    params = root / f"params_{name}.yaml"
    params.write_text(
        SMALL_PARAMS.format(
            rounds=rounds,
            min_rows=SMALL_RECOVERY_MIN_ROWS_YAML,
            small_store=SMALL_STORE_RECOVERY_YAML,
        )
    )
    train.main(root / "feat", out=root / name, params=params)
    return params


@pytest.mark.slow
def test_stage_end_to_end_with_champion_challenger(small_run, tmp_path, monkeypatch) -> None:
    from pipeline import evaluate as stage

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    root = small_run
    weak = _train(root, "weak", 2)
    strong = _train(root, "strong", 30)
    out1, out2, out3 = tmp_path / "ev1", tmp_path / "ev2", tmp_path / "ev3"
    # v1 (weak) → champion: there is none yet
    stage.main(root / "feat", root / "weak", out=out1, params=weak)
    first = json.loads((out1 / "promotion.json").read_text())
    assert first["winback-churn"]["promoted"] and first["winback-churn"]["champion"] is None
    # v2 (strong) beats v1 on the same test rows → promoted
    stage.main(root / "feat", root / "strong", out=out2, params=strong)
    second = json.loads((out2 / "promotion.json").read_text())["winback-churn"]
    assert second["version"] == "2" and second["champion_version"] == "1"
    assert second["candidate"] > second["champion"] and second["promoted"]
    # the weak v1 challenges again and does not beat v2 → refused, and says why
    stage.main(root / "feat", root / "weak", out=out3, params=weak)
    third = json.loads((out3 / "promotion.json").read_text())["winback-churn"]
    assert third["version"] == "1" and third["champion_version"] == "2"
    assert not third["promoted"]
    assert "does not beat" in third["reason"]
    assert "winback-recovery" in json.loads((out3 / "promotion.json").read_text())
    # the champion's own configuration trained again (v3): the refit on the same or newer
    # data replaces it, for both models
    again = _train(root, "again", 30)
    stage.main(root / "feat", root / "again", out=tmp_path / "ev4", params=again)
    fourth = json.loads((tmp_path / "ev4" / "promotion.json").read_text())
    for name, champion in (("winback-churn", "2"), ("winback-recovery", "2")):
        assert fourth[name]["version"] == "3" and fourth[name]["promoted"], fourth[name]
        assert f"same configuration as the champion v{champion}" in fourth[name]["reason"]

    # outputs: DVC metrics, segments, plot data per curve, figures
    metrics = json.loads((out2 / "metrics.json").read_text())
    assert metrics["churn"]["model"]["roc_auc"] > metrics["churn"]["formula"]["roc_auc"]
    assert metrics["recovery"]["available"] is True
    assert {"uplift_model", "scorecard", "churn_risk", "by_action"} <= set(metrics["recovery"])
    assert metrics["promotion"]["winback-churn"]["promoted"] is True
    segments = pd.read_csv(out2 / "segments.csv")
    assert {"all", "value_tier", "dealer_id"} == set(segments["segment"])
    for kind, models in {
        "roc": {"model", "formula"},
        "pr": {"model", "formula"},
        "lift": {"model", "formula", "random"},
        "calibration": {"model"},
        "qini": {"uplift_model", "scorecard", "churn_risk", "random"},
    }.items():
        long = pd.read_csv(out2 / "plots" / f"{kind}.csv")
        assert set(long["model"]) == models
        assert {p.stem for p in (out2 / "plots" / kind).glob("*.csv")} == models
    assert {p.name for p in (out2 / "figures").glob("*.png")} >= {"roc.png", "qini.png"}

    # the evaluation was logged into the training run
    import mlflow

    run_id = json.loads((root / "strong" / "run.json").read_text())["run_id"]
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.data.metrics["test.churn.model.roc_auc"] == pytest.approx(
        metrics["churn"]["model"]["roc_auc"]
    )
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "evaluate")}
    assert "evaluate/metrics.json" in artifacts

    # no name, phone or plate of the input reaches any output
    customers = pd.read_parquet(root / "sim" / "customers.parquet")
    pii = set(customers["name"].dropna()) | set(customers["phone"].dropna().astype("str"))
    pii |= set(customers["plate"].dropna())  # the care data's plate goes nowhere either
    for out in (out1, out2, out3):
        for path in out.rglob("*"):
            if path.suffix in {".json", ".csv"}:
                text = path.read_text(encoding="utf-8")
                assert not [v for v in pii if v in text], path


@pytest.mark.slow
def test_stage_without_outreach_evaluates_churn_only(small_run) -> None:
    from models.evaluation import evaluate_models
    from models.lgbm import CalibratedBooster

    root = small_run
    if not (root / "strong" / "churn").is_dir():
        _train(root, "strong", 30)
    training = pd.read_parquet(root / "feat" / "training.parquet")
    churn = CalibratedBooster.load(root / "strong" / "churn")
    result = evaluate_models(training, None, churn, None)
    assert result.metrics["recovery"]["available"] is False
    assert "churn evaluated alone" in result.metrics["recovery"]["note"]
    assert "qini" not in result.curves and result.recovery_rows is None
    # identical rows for model and formula
    keys = result.churn_rows[["customer_id", "as_of"]]
    pd.testing.assert_frame_equal(keys, result.churn_test[["customer_id", "as_of"]])
