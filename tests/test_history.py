"""Any store's history: evaluation schemes, minimums, refits and promotion floors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_LGBM as LGBM
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeaturizeConfig
from features.events import prepare
from features.reading import read_data_dir
from models import artifacts, tracking
from models import challenger as evaluate_stage
from models.churn import ModelConfig, refit_churn, train_churn
from models.split import (
    MinRows,
    SplitConfig,
    SplitError,
    apply_boundaries,
    choose_split,
    customer_bucket,
)
from pipeline.history_check import PLAIN_TABLES, cut_history


def snapshot_table(n_customers: int, n_dates: int, seed: int = 0) -> pd.DataFrame:
    """Monthly snapshots of ``n_customers`` customers with a learnable churn label."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_dates, freq="MS")
    df = pd.DataFrame(
        [(f"C{i:04d}", d) for i in range(n_customers) for d in dates],
        columns=["customer_id", "as_of"],
    ).astype({"customer_id": "str", "as_of": "datetime64[ns]"})
    df["days_since_last_visit"] = rng.uniform(0, 400, len(df))
    df["visits_365d"] = rng.poisson(2, len(df)).astype("float64")
    df["churn"] = (rng.uniform(size=len(df)) < df["days_since_last_visit"] / 400).astype("int64")
    return df


CONFIG = SplitConfig(test_periods=3, holdout_periods=4, gap_days=180, holdout_share=0.25)


def test_long_history_keeps_the_configured_out_of_time_split():
    # 3 test + 6 gap months (180 days back from the first test date) + 4 holdout + >= 1 train
    split = choose_split(snapshot_table(40, 16), "as_of", CONFIG, "churn")
    b = split.boundaries
    assert b["scheme"] == "out_of_time"
    assert (b["test_start"], b["test_end"]) == ("2025-02-01", "2025-04-01")
    assert b["fit_end"] == "2024-08-05"  # 2025-02-01 - 180 days
    assert "out of time" in b["scheme_text"] and "180 days" in b["scheme_text"]


def test_shorter_history_takes_fewer_periods_then_held_out_customers():
    # 11 dates 2024-01..2024-11: with 3 test dates the fit window ends 2024-03-05 (3 dates),
    # too few for 4 holdout + 1 train; the largest test + holdout that fits is 3 + 2.
    short = choose_split(snapshot_table(40, 11), "as_of", CONFIG, "churn")
    b = short.boundaries
    assert b["scheme"] == "out_of_time_short"
    assert (b["periods"]["test"], b["periods"]["holdout"]) == (3, 2)
    assert "fewer periods than configured" in b["scheme_text"]
    # 6 dates: no gap fits at all -> a quarter of the customers tested at the latest dates
    held = choose_split(snapshot_table(40, 6), "as_of", CONFIG, "churn")
    b = held.boundaries
    assert b["scheme"] == "held_out_customers"
    assert "weaker than out of time" in b["scheme_text"]
    tested = set(held.test["customer_id"])
    fitted = set(pd.concat([held.train, held.valid, held.calib])["customer_id"])
    assert tested and not tested & fitted
    bucket = customer_bucket(pd.Series(sorted(tested)))
    assert (bucket >= 0.75).all()  # test_share 0.25 = the top quarter of the hash
    assert held.test["as_of"].min() == pd.Timestamp("2024-04-01")  # the latest 3 of 6 dates
    # the evaluate stage finds the same slices again from the boundaries alone
    again = apply_boundaries(snapshot_table(40, 6), b)
    for name in ("train", "valid", "calib", "test"):
        assert again[name].index.equals(held[name].index), name


def test_too_little_data_is_refused_naming_each_minimum():
    mins = MinRows(train_rows=1000, valid_rows=200, test_rows=200)
    with pytest.raises(SplitError) as err:
        choose_split(snapshot_table(30, 60), "as_of", CONFIG, "churn", mins, "train.churn.min_rows")
    text = str(err.value)
    assert "train.churn.min_rows.valid_rows" in text and "minimum 200" in text
    assert "held out customers" in text and "out of time" in text
    # without fallback only the configured split is tried
    with pytest.raises(SplitError, match="no evaluation scheme"):
        choose_split(
            snapshot_table(40, 6), "as_of", SplitConfig(fallback=False, gap_days=180), "churn"
        )


def test_observed_history_says_how_much_store_history_lies_before_t(make_tables):
    data = read_data_dir_from(make_tables)
    idx = prepare(data, FeaturizeConfig())
    first = pd.Timestamp(int(idx.events["visits"].days.min()), unit="D")
    at = {
        days: build_features(None, first + pd.Timedelta(days=days), index=idx)[
            "observed_history_days"
        ]
        for days in (0, 40, 500)
    }
    assert (at[0] == 0).all()  # nothing observed before the first visit of the data
    assert (at[40] == 40).all()  # the same for every customer: it is the store's history
    assert (at[500] == 365).all()  # capped at the longest window


def read_data_dir_from(make_tables):
    """The conftest tables as a validated data set (through a temporary directory)."""
    import tempfile
    from pathlib import Path

    from features.files import write_data_dir

    with tempfile.TemporaryDirectory() as tmp:
        write_data_dir(make_tables(), Path(tmp))
        return read_data_dir(Path(tmp))


def test_refit_learns_from_the_latest_labelled_snapshot():
    df = snapshot_table(60, 16, seed=1)
    cfg = ModelConfig(
        lgbm=LGBM,
        num_boost_round=40,
        early_stopping_rounds=5,
        split=CONFIG,
        refit_calib_share=0.5,
    )
    evaluated, info = train_churn(df, cfg)
    assert evaluated.meta["role"] == "evaluation"
    assert evaluated.meta["trained_through"] == info["split"]["fit_end"] < "2025-04-01"
    refit, rinfo = refit_churn(df, evaluated, cfg)
    assert refit.meta["role"] == "deployed"
    assert refit.meta["trained_through"] == "2025-04-01" == rinfo["trained_through"]
    assert refit.booster.current_iteration() == evaluated.meta["best_iteration"]
    assert rinfo["rows"] == len(df)
    assert 0 < rinfo["calibration_rows"] < len(df)  # whole customers: about half the rows
    # the calibrator was fitted to out-of-fold predictions, not to the refit's own
    p = refit.predict_proba(df)
    assert np.all((p >= 0) & (p <= 1)) and refit.calibrator is not None
    assert refit.calibrator is not evaluated.calibrator


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.setup()
    yield tmp_path


def _register_two(store):
    import mlflow

    df = snapshot_table(40, 16)
    model, _ = train_churn(
        df, ModelConfig(lgbm=LGBM, num_boost_round=20, early_stopping_rounds=5, split=CONFIG)
    )
    for i in range(2):
        model.save(store / f"m{i}")
        with mlflow.start_run():
            tracking.log_model(model, store / f"m{i}", df, artifacts.CHURN_NAME, "churn")


def test_a_model_that_does_not_beat_the_formula_is_never_champion(store):
    _register_two(store)
    metrics = {
        "churn": {
            "roc_auc_gain": 0.01,
            "roc_auc_gain_interval": {"difference": 0.01, "low": -0.004, "high": 0.024},
        }
    }
    floor = evaluate_stage.churn_floor(metrics, evaluate_stage.ev.EvaluateConfig())
    assert "does not beat the playbook formula" in floor and "[-0.0040, +0.0240]" in floor
    d = tracking.promote_if_better(artifacts.CHURN_NAME, "1", 0.8, None, blocked=floor)
    assert not d.promoted
    client = MlflowClient()
    with pytest.raises(Exception, match="alias"):
        client.get_model_version_by_alias(artifacts.CHURN_NAME, artifacts.CHAMPION)
    metrics["churn"]["roc_auc_gain_interval"]["low"] = 0.001
    assert evaluate_stage.churn_floor(metrics, evaluate_stage.ev.EvaluateConfig()) is None


def test_an_experiment_does_not_move_the_champion(store, monkeypatch):
    _register_two(store)
    assert tracking.promote_if_better(artifacts.CHURN_NAME, "1", 0.7, None).promoted
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    assert tracking.in_experiment()
    hold = "dvc exp run: not moved"
    d = tracking.promote_if_better(artifacts.CHURN_NAME, "2", 0.9, 0.7, hold=hold)
    assert not d.promoted and "would be promoted" in d.reason
    alias = MlflowClient().get_model_version_by_alias(artifacts.CHURN_NAME, artifacts.CHAMPION)
    assert str(alias.version) == "1"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from pipeline.simulator import SimulationConfig, simulate

    tables, _ = simulate(SimulationConfig(customers=2500, years=2, seed=7, leads=False))
    return tables


@pytest.mark.slow
@pytest.mark.parametrize("plain", [False, True], ids=["all tables", "customers + visits"])
def test_twelve_months_train_with_default_params_and_beat_the_formula(
    simulated, tmp_path, monkeypatch, plain
):
    from features.files import write_data_dir
    from pipeline.cli import train_chain

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    cut = cut_history(simulated, 12, PLAIN_TABLES if plain else None)
    data = tmp_path / "data"
    write_data_dir(cut, data)
    train_chain(data, tmp_path, None, explain_too=False)
    import json

    metrics = json.loads((tmp_path / "evaluate" / "metrics.json").read_text())
    churn = metrics["churn"]
    assert churn["scheme"] in ("out_of_time_short", "held_out_customers")
    assert churn["n"] >= 200 and churn["scheme_text"]
    assert churn["roc_auc_gain_interval"]["low"] > 0  # beats the formula beyond the noise
    training = pd.read_parquet(tmp_path / "featurize" / "training.parquet")
    deployed = json.loads((tmp_path / "train" / "churn" / "model.json").read_text())
    assert deployed["meta"]["trained_through"] == str(training["as_of"].max().date())
    assert metrics["promotion"]["winback-churn"]["promoted"]


@pytest.mark.slow
def test_thirty_customers_are_refused_and_nothing_is_registered(tmp_path, monkeypatch):
    from features.files import write_data_dir
    from pipeline.cli import app
    from pipeline.simulator import SimulationConfig, simulate

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tables, _ = simulate(SimulationConfig(customers=30, years=6, seed=3, leads=False))
    data = tmp_path / "data"
    write_data_dir(tables, data)
    result = CliRunner().invoke(app, ["train", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "minimum" in result.output and "train.churn.min_rows" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "train" / "churn").exists()
    assert (
        not (tmp_path / "mlflow.db").exists()
        or not MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_registered_models()
    )


def test_the_champions_own_recipe_is_replaced_by_its_refit_on_newer_data():
    from types import SimpleNamespace

    config = {"num_boost_round": 10, "lgbm": {"num_leaves": 7}}
    champion = SimpleNamespace(meta={"config": config, "role": "deployed"})
    assert evaluate_stage.same_recipe(champion, dict(config), "churn", None)
    other = {"num_boost_round": 10, "lgbm": {"num_leaves": 15}}
    assert not evaluate_stage.same_recipe(champion, other, "churn", None)
    # an evaluation model, or one without a recorded configuration, is compared by score
    assert not evaluate_stage.same_recipe(
        SimpleNamespace(meta={"config": config, "role": "evaluation"}), config, "churn", None
    )
    assert not evaluate_stage.same_recipe(SimpleNamespace(meta={}), config, "churn", None)
    # the win-back model's learner is part of its recipe
    uplift = SimpleNamespace(meta={"config": config, "role": "deployed", "learner": "tp"})
    assert evaluate_stage.same_recipe(uplift, config, "recovery", SimpleNamespace(learner="tp"))
    assert not evaluate_stage.same_recipe(uplift, config, "recovery", SimpleNamespace(learner="s"))
