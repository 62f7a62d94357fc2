"""MLflow: registered models load back exactly, champion/challenger, no personal data logged."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_LGBM as LGBM
from mlflow.tracking import MlflowClient

from models import artifacts, tracking
from models.churn import ModelConfig, train_churn
from models.split import SplitConfig


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A private SQLite tracking store under tmp_path (never the repository's)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.setup()
    yield tmp_path
    mlflow.end_run()


@pytest.fixture(scope="module")
def tiny_churn():
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=16, freq="MS")
    df = pd.DataFrame(
        [(f"C{i:03d}", d) for i in range(50) for d in dates], columns=["customer_id", "as_of"]
    ).astype({"customer_id": "str", "as_of": "datetime64[ns]"})
    df["days_since_last_visit"] = rng.uniform(0, 400, len(df))
    df["visits_365d"] = rng.poisson(2, len(df)).astype("float64")
    df["dealer_id"] = pd.Categorical(rng.choice(["D1", "D2"], len(df)))
    df["churn"] = (rng.uniform(size=len(df)) < df["days_since_last_visit"] / 400).astype("int64")
    cfg = ModelConfig(
        lgbm=LGBM,
        num_boost_round=30,
        early_stopping_rounds=5,
        split=SplitConfig(test_periods=2, holdout_periods=2, gap_days=180),
    )
    model, _ = train_churn(df, cfg)
    return model, df


def _log(model, frame, out: Path, name: str | None = artifacts.CHURN_NAME) -> str | None:
    model.save(out)
    with mlflow.start_run():
        return tracking.log_model(model, out, frame, name, "churn")


def test_registered_model_predicts_like_memory(store, tiny_churn):
    model, df = tiny_churn
    assert _log(model, df, store / "m") == "1"
    expected = model.predict_proba(df)
    pyfunc = mlflow.pyfunc.load_model("models:/winback-churn/1")
    got = pyfunc.predict(tracking.input_example(df, model.features, n=None))
    np.testing.assert_array_equal(got["churn_probability"].to_numpy(), expected)
    native = tracking.load_registered(artifacts.CHURN_NAME, "1")
    np.testing.assert_array_equal(native.predict_proba(df), expected)
    mv = MlflowClient().get_model_version(artifacts.CHURN_NAME, "1")
    run = MlflowClient().get_run(mv.run_id)
    assert run.info.experiment_id == MlflowClient().get_experiment_by_name("winback").experiment_id


def test_champion_challenger(store, tiny_churn):
    model, df = tiny_churn
    for i in range(3):
        _log(model, df, store / f"m{i}")
    assert tracking.load_champion(artifacts.CHURN_NAME) is None
    first = tracking.promote_if_better(artifacts.CHURN_NAME, "1", 0.70, None, metric="roc_auc")
    assert first.promoted and first.reason == "no champion yet"
    better = tracking.promote_if_better(artifacts.CHURN_NAME, "2", 0.75, 0.70, metric="roc_auc")
    assert better.promoted and "beats champion v1" in better.reason
    worse = tracking.promote_if_better(artifacts.CHURN_NAME, "3", 0.72, 0.75, metric="roc_auc")
    assert not worse.promoted and "does not beat champion v2" in worse.reason
    # lower-is-better metrics and a required margin
    ece = tracking.promote_if_better(
        artifacts.CHURN_NAME, "3", 0.02, 0.021, higher_is_better=False, min_delta=0.005
    )
    assert not ece.promoted
    version, champion = tracking.load_champion(artifacts.CHURN_NAME)
    assert version == "2"
    np.testing.assert_array_equal(champion.predict_proba(df), model.predict_proba(df))
    client = MlflowClient()
    v3 = client.get_model_version(artifacts.CHURN_NAME, "3")
    assert v3.tags["promotion_decision"] == "False"
    assert v3.tags["promotion_reason"] == ece.reason
    v2 = client.get_model_version(artifacts.CHURN_NAME, "2")
    assert client.get_run(v2.run_id).data.tags["promotion.winback-churn.reason"] == better.reason


def test_run_record_round_trip(store, tmp_path):
    rec = artifacts.RunRecord("abc", "winback", "1", "sqlite:///x.db", {"winback-churn": "1"})
    assert artifacts.RunRecord.load(rec.save(tmp_path / "out")) == rec
    assert tracking.flatten({"a": {"b": 1, "c": [1, 2]}}) == {"a.b": "1", "a.c": "[1, 2]"}


def _text_of(path: Path) -> str:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype("str").to_csv()
    return path.read_bytes().decode("utf-8", errors="ignore")


@pytest.mark.slow
def test_train_stage_logs_no_personal_data(shared_models):
    # the shared run: the train stage on the simulated data directory itself, names and
    # phones included, with the win-back model's slice minimums lowered so that it is trained
    data, out, store = shared_models.data, shared_models.train, shared_models.tracking
    customers = pd.read_parquet(data / "customers.parquet")
    secrets = set(customers["name"].dropna()) | set(customers["phone"].dropna())
    assert len(secrets) > 1000
    record = artifacts.RunRecord.load(out)
    assert set(record.versions) == {artifacts.CHURN_NAME, artifacts.RECOVERY_NAME}
    info = json.loads((out / "train_info.json").read_text())
    assert info["recovery"]["actions"] and info["churn"]["best_iteration"] >= 1
    logged = [p for p in (store / "mlartifacts").rglob("*") if p.is_file()]
    assert any(p.name == "input_example.json" for p in logged)
    files = logged + [p for p in out.rglob("*") if p.is_file()] + [store / "mlflow.db"]
    for path in files:
        text = _text_of(path)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} holds personal data"


def test_without_outreach_trains_churn_alone(tiny_churn, caplog):
    from models.training import TrainConfig
    from pipeline.train import train_models

    _, df = tiny_churn
    cfg = TrainConfig.from_params(
        {
            "churn": {
                "lgbm": LGBM,
                "num_boost_round": 20,
                "early_stopping_rounds": 5,
                "split": {"test_periods": 2, "holdout_periods": 2},
                "min_rows": dict.fromkeys(
                    ["train_rows", "train_positives", "valid_rows", "valid_positives"], 0
                )
                | {"test_rows": 0, "test_positives": 0},
            }
        }
    )
    assert cfg.churn.split.gap_days == 180  # follows featurize.horizon_days
    assert cfg.recovery.split.gap_days == 61  # response window + 1
    result = train_models(df, None, cfg)
    assert result.recovery is None and result.recovery_info is None
    assert "no outreach log" in result.notes[0]
    assert "no outreach log" in caplog.text
    with pytest.raises(ValueError, match="unknown train params"):
        TrainConfig.from_params({"chrun": {}})
