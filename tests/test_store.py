"""Safe model loading: registry versions by hash-checked files, never a pickle; damaged files."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_SIMULATION, SMALL_RECOVERY_MIN_ROWS_YAML, simulator_action_facts
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from models import artifacts, store, tracking
from models.artifacts import ModelStoreError
from models.lgbm import CalibratedBooster, ModelFileError, check_booster_text, fit_isotonic
from models.recovery import UpliftModel
from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["days_since_last_visit", "spend_365d", "visits_365d", "spend_lifetime"]
ACTIONS = ["advisor_call", "home_visit", "manager_call", "sms_coupon"]
AS_OF = "2024-06-30"


def _frame(n=300, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "days_since_last_visit": rng.uniform(0, 500, n),
            "spend_365d": rng.uniform(0, 20000, n),
            "visits_365d": rng.integers(0, 6, n).astype("float64"),
            "spend_lifetime": rng.uniform(0, 60000, n),
        }
    )


def _booster(y, X, seed=0, calibrate=False) -> CalibratedBooster:
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbosity": -1}
    params |= {"num_threads": 1, "deterministic": True, "seed": seed}
    booster = lgb.train(params, lgb.Dataset(X[FEATURES], label=y), 10)
    model = CalibratedBooster(booster=booster, features=list(FEATURES))
    if calibrate:
        model.calibrator = fit_isotonic(model.predict_raw(X), y)
    return model


@pytest.fixture(scope="module")
def _store(tmp_path_factory):
    """A private store with winback-churn v1 and winback-recovery v1 as champions."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    X = _frame()
    rng = np.random.default_rng(1)
    churn = _booster((X["days_since_last_visit"] > 200).astype(int), X, calibrate=True)
    arms = {
        a: _booster((rng.uniform(size=len(X)) < 0.1 + 0.1 * i).astype(int), X, seed=i)
        for i, a in enumerate(["none", *ACTIONS])
    }
    meta = {"action_facts": simulator_action_facts()}  # what training records
    recovery = UpliftModel(learner="t", actions=ACTIONS, boosters=arms, meta=meta)
    train = root / "trained"
    churn.save(train / "churn")
    recovery.save(train / "recovery")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        tracking.setup(uri)
        with mlflow.start_run():
            tracking.log_model(churn, train / "churn", X, artifacts.CHURN_NAME, "churn")
            tracking.log_model(recovery, train / "recovery", X, artifacts.RECOVERY_NAME, "recovery")
        for name in (artifacts.CHURN_NAME, artifacts.RECOVERY_NAME):
            tracking.promote_if_better(name, "1", 0.7, None)
    shutil.copytree(root / "mlartifacts", root.with_name(root.name + "_artifacts"))
    return {"uri": uri, "root": root, "X": X, "churn": churn, "train": train}


@pytest.fixture
def registry(_store, monkeypatch):
    """The module's store; its artifacts are restored after each test (tests tamper with them)."""
    root = _store["root"]
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _store["uri"])
    tracking.setup(_store["uri"])
    yield _store
    mlflow.end_run()
    shutil.rmtree(root / "mlartifacts")
    shutil.copytree(root.with_name(root.name + "_artifacts"), root / "mlartifacts")
    for p in root.glob("*.csv"):
        p.unlink()


def _artifacts(root: Path, name: str) -> Path:
    """The stored MLflow model directory of ``name`` v1."""
    mv = MlflowClient().get_model_version(name, "1")
    location = MlflowClient().get_logged_model(mv.source.removeprefix("models:/"))
    return Path(location.artifact_location.removeprefix("file://"))


def test_registration_records_hash_and_loads_the_same_model(registry):
    mv = MlflowClient().get_model_version(artifacts.CHURN_NAME, "1")
    assert mv.tags[store.SHA256_TAG] == store.dir_sha256(registry["train"] / "churn")
    assert mv.tags[store.PATH_TAG] == "artifacts/churn"
    version, model = tracking.load_champion(artifacts.CHURN_NAME)
    assert version == "1"
    X = registry["X"]
    np.testing.assert_array_equal(model.predict_proba(X), registry["churn"].predict_proba(X))
    up = tracking.load_registered(artifacts.RECOVERY_NAME, "@champion")
    assert isinstance(up, UpliftModel) and up.actions == ACTIONS
    assert os.environ.get(store.PICKLE_ENV) is None  # restored after loading


def test_calibrator_is_json_and_round_trips_exactly(tmp_path):
    X = _frame(seed=3)
    model = _booster((X["spend_365d"] > 9000).astype(int), X, calibrate=True)
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["booster.txt", "model.json"]
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert isinstance(meta["calibrator"]["x"], list) and isinstance(meta["calibrator"]["y"], list)
    again = CalibratedBooster.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


class _Evil:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_planted_pickle_is_never_executed(registry, make_tables, write_dir):
    root, uri = registry["root"], registry["uri"]
    marker = root / "pwned.txt"
    for name in (artifacts.CHURN_NAME, artifacts.RECOVERY_NAME):
        (_artifacts(root, name) / "python_model.pkl").write_bytes(pickle.dumps(_Evil(marker)))
    # the planted file is live: MLflow's own pyfunc loader runs it (in another process)
    code = "import mlflow; mlflow.pyfunc.load_model('models:/winback-churn/1')"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert marker.read_text() == "pwned"
    marker.unlink()

    assert tracking.load_champion(artifacts.CHURN_NAME)[0] == "1"
    data = write_dir(make_tables())
    for extra in (["--model", "champion"], []):  # explicit, and the default
        out = root / f"scores{len(extra)}.csv"
        args = ["score", str(data), "--as-of", AS_OF, "--out", str(out), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "winback-churn v1 #" in result.output and "winback-recovery v1 #" in result.output
        assert "MLflow registry" in result.output
        assert not marker.exists()
    scores = pd.read_csv(root / "scores0.csv", encoding="utf-8-sig", dtype=str)
    digest = store.dir_sha256(registry["train"] / "churn")[:12]
    assert scores["model_version"].str.startswith(f"winback-churn v1 #{digest}").all()


@pytest.mark.parametrize("damage", ["edit", "extra file", "missing file"])
def test_tampered_files_are_refused(registry, make_tables, write_dir, damage):
    stored = _artifacts(registry["root"], artifacts.CHURN_NAME) / "artifacts" / "churn"
    if damage == "edit":
        text = (stored / "booster.txt").read_text()
        (stored / "booster.txt").write_text(text.replace("leaf_value=", "leaf_value=9", 1))
    elif damage == "extra file":
        (stored / "python_model.pkl").write_bytes(b"not ours")
    else:
        (stored / "model.json").unlink()
    with pytest.raises(ModelStoreError, match="do not match the hash"):
        tracking.load_champion(artifacts.CHURN_NAME)
    data = write_dir(make_tables())
    out = registry["root"] / "s.csv"
    args = ["score", str(data), "--as-of", AS_OF, "--out", str(out), "--model", "champion"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "error: the files of winback-churn v1 do not match the hash" in result.stderr
    assert isinstance(result.exception, SystemExit) and not out.exists()


def test_version_without_recorded_hash_is_refused(registry):
    client = MlflowClient()
    digest = client.get_model_version(artifacts.CHURN_NAME, "1").tags[store.SHA256_TAG]
    client.delete_model_version_tag(artifacts.CHURN_NAME, "1", store.SHA256_TAG)
    try:
        with pytest.raises(ModelStoreError, match="no recorded content hash"):
            tracking.load_registered(artifacts.CHURN_NAME, "1")
    finally:
        client.set_model_version_tag(artifacts.CHURN_NAME, "1", store.SHA256_TAG, digest)


def test_no_store_no_database(tmp_path, monkeypatch, make_tables, write_dir):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    data = write_dir(make_tables())
    base = ["score", str(data), "--as-of", AS_OF, "--out", str(tmp_path / "s.csv")]
    champion = CliRunner().invoke(app, [*base, "--model", "champion"])
    assert champion.exit_code == 1 and "no MLflow tracking store at" in champion.stderr
    default = CliRunner().invoke(app, base)
    assert default.exit_code == 1
    assert "no model to score with" in default.stderr and "out/train" in default.stderr
    assert not db.exists() and not (tmp_path / "mlflow.db").exists()
    # without a registry the default is out/train
    X = _frame()
    _booster((X["days_since_last_visit"] > 200).astype(int), X).save(tmp_path / "out/train/churn")
    fallback = CliRunner().invoke(app, base)
    assert fallback.exit_code == 0, fallback.output
    assert "(from out/train)" in fallback.output and not db.exists()


def test_booster_text_check_refuses_damage_and_accepts_whole_files(tmp_path):
    X = _frame()
    model = _booster((X["spend_365d"] > 9000).astype(int), X)
    model.save(tmp_path / "m")
    blob = (tmp_path / "m" / "booster.txt").read_bytes()
    assert check_booster_text(blob) == blob.decode()
    for bad in (b"", os.urandom(2000), blob[:-40], blob[: len(blob) // 2], blob[:100]):
        with pytest.raises(ModelFileError, match="not a complete LightGBM model"):
            check_booster_text(bad)


DAMAGE_SCRIPT = """
import os, shutil, sys
from pathlib import Path
from models.scoring import ModelLoadError, load_models
src, work = Path(sys.argv[1]), Path(sys.argv[2])
blob = (src / "churn" / "booster.txt").read_bytes()
forms = {"empty": b"", "random": os.urandom(4000)}
forms.update({f"cut{k}": blob[:k] for k in range(0, len(blob), max(1, len(blob) // 150))})
for form, data in forms.items():
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, work)
    (work / "churn" / "booster.txt").write_bytes(data)
    try:
        load_models(work)
        print(form, "LOADED")
    except ModelLoadError as exc:
        print(form, "refused", "not a complete LightGBM model" in str(exc))
print("survived")
"""


def test_damaged_booster_never_crashes_the_process(tmp_path, make_tables, write_dir):
    X = _frame()
    _booster((X["spend_365d"] > 9000).astype(int), X).save(tmp_path / "m" / "churn")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(DAMAGE_SCRIPT),
            str(tmp_path / "m"),
            str(tmp_path / "w"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[-1] == "survived" and len(lines) > 100
    assert all(line.endswith("refused True") for line in lines[:-1]), lines
    # and the command line: one message, exit status 1, no traceback, no abort
    (tmp_path / "m" / "churn" / "booster.txt").write_bytes(
        (tmp_path / "m" / "churn" / "booster.txt").read_bytes()[:700]
    )
    data = write_dir(make_tables())
    cli = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "score", str(data), "--as-of", AS_OF]
        + ["--model", str(tmp_path / "m"), "--out", str(tmp_path / "s.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/none.db"},
    )
    assert cli.returncode == 1, cli.stderr[-2000:]
    assert "error: " in cli.stderr and "is not a complete LightGBM model" in cli.stderr
    assert "Traceback" not in cli.stderr and "terminate" not in cli.stderr


@pytest.mark.slow
def test_train_then_score_by_default_with_the_champion(shared_features, tmp_path, monkeypatch):
    from pipeline import train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    params = tmp_path / "params.yaml"
    params.write_text(
        "train:\n  churn: {num_boost_round: 20, early_stopping_rounds: 5}\n"
        "  recovery: {num_boost_round: 20, early_stopping_rounds: 5,\n"
        f"             min_rows: {SMALL_RECOVERY_MIN_ROWS_YAML}}}\n"
    )
    # the shared store, featurized; trained here, into a store of its own (its artifacts are
    # tampered with below)
    sim = shared_features.data
    train.main(shared_features.featurize, out=tmp_path / "elsewhere", params=params)
    for name in (artifacts.CHURN_NAME, artifacts.RECOVERY_NAME):
        tracking.promote_if_better(name, "1", 0.7, None)
        mv = MlflowClient().get_model_version(name, "1")
        assert mv.tags[store.SHA256_TAG] and mv.tags[store.PATH_TAG].startswith("artifacts/")
    marker = tmp_path / "pwned.txt"
    for pkl in (tmp_path / "mlartifacts").rglob("python_model.pkl"):
        pkl.write_bytes(pickle.dumps(_Evil(marker)))
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        app, ["score", str(sim), "--out", str(out), "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    assert "scoring as of 2026-10-01 (the day after the last event, 2026-09-30)" in result.output
    assert "winback-churn v1 #" in result.output and "MLflow registry" in result.output
    assert not marker.exists()
    scores = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    assert (
        len(scores) == SHARED_SIMULATION["customers"]
        and (scores["as_of"].str[:10] == "2026-10-01").all()
    )
    same = tmp_path / "dir.csv"
    args = ["score", str(sim), "--through", "2026-09-30", "--model", str(tmp_path / "elsewhere")]
    assert (
        CliRunner().invoke(app, [*args, "--out", str(same), "--params", str(params)]).exit_code == 0
    )
    assert same.read_bytes() == out.read_bytes()  # the champion is the trained directory


def test_no_pickle_blocks_in_threads_restore_the_environment():
    import threading

    barrier = threading.Barrier(4)

    def load():
        with store.no_pickle():
            barrier.wait()  # every thread inside at once, then they leave in any order
            assert os.environ[store.PICKLE_ENV] == "false"

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert os.environ.get(store.PICKLE_ENV) is None


def test_model_json_whose_feature_order_is_not_the_boosters_is_refused(tmp_path):
    X = _frame()
    model = _booster((X["days_since_last_visit"] > 200).astype(int), X)
    model.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["features"] = list(reversed(meta["features"]))
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="do not belong together"):
        CalibratedBooster.load(tmp_path / "m")
