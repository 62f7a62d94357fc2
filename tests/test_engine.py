"""The Dask engine: partitioning by customer and equality with the single-machine engine."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import simulator_action_facts
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeaturizeConfig
from features.contract import ContractError
from features.files import write_data_dir
from features.reading import read_data_dir
from models.engine import (
    MANIFEST,
    build_features_dask,
    combine,
    customer_partition,
    dask_client,
    partition_data_dir,
    partition_dirs,
)
from pipeline.cli import app
from pipeline.simulator import SimulationConfig, simulate


@pytest.fixture(scope="module")
def client():
    # Threads, not processes: starts in about a second, and the tasks still run in parallel
    # on the scheduler; the code path per partition is the same.
    with dask_client(processes=False, n_workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    tables, _ = simulate(SimulationConfig(customers=250, years=1, seed=3))
    out = tmp_path_factory.mktemp("sim")
    write_data_dir(tables, out)
    return out


def test_customer_partition_is_stable_and_reads_ids_like_the_contract():
    ids = pd.Series(["C1", " C1 ", "C2", None])
    p = customer_partition(ids, 7)
    assert p[0] == p[1]  # stripped like the contract strips ids
    assert ((p >= 0) & (p < 7)).all()
    np.testing.assert_array_equal(p, customer_partition(ids, 7))  # no per-run salt
    # ids stored as floats in Parquet: 12.0 is customer "12"
    floats = customer_partition(pd.Series([12.0, 13.0]), 5)
    np.testing.assert_array_equal(floats, customer_partition(pd.Series(["12", "13"]), 5))
    assert (customer_partition(ids, 1) == 0).all()
    with pytest.raises(ValueError, match="n_partitions"):
        customer_partition(ids, 0)


def test_partition_keeps_every_row_of_a_customer_together(make_tables, write_dir, tmp_path):
    tables = make_tables()
    # an event of an unknown customer and an exact duplicate row travel too
    visits = tables["service_visits"]
    extra = visits.iloc[[0, 0]].copy()
    extra.iloc[0, 0] = "99999"
    tables["service_visits"] = pd.concat([visits, extra], ignore_index=True)
    src = write_dir(tables, fmt="csv")
    parts = partition_data_dir(src, tmp_path / "parts", 3)
    dirs = partition_dirs(parts)
    assert len(dirs) == 3
    manifest = json.loads((parts / MANIFEST).read_text())
    assert manifest["rows"]["service_visits"] == len(visits) + 2
    home = {}
    total = 0
    for d in dirs:
        cust = pd.read_parquet(d / "customers.parquet")
        for cid in cust["customer_id"]:
            home[cid] = d
        total += len(pd.read_parquet(d / "service_visits.parquet"))
    assert total == len(visits) + 2
    assert sorted(home) == sorted(tables["customers"]["customer_id"])
    for d in dirs:
        v = pd.read_parquet(d / "service_visits.parquet")
        for cid in v["customer_id"]:
            assert cid == "99999" or home[cid] == d
    # the duplicate stays in its customer's partition, in file order (first kept)
    d0 = home[visits.iloc[0, 0]]
    data = read_data_dir(d0, require_rows=False)
    assert (data.rejects["rule"] == "duplicate row").sum() == 1


def test_partitioning_refuses_a_directory_without_customers(make_tables, write_dir, tmp_path):
    src = write_dir(make_tables(customers=None), fmt="csv")
    with pytest.raises(ContractError, match="customers"):
        partition_data_dir(src, tmp_path / "parts", 2)


def test_an_empty_required_table_is_refused_on_the_whole_set(make_tables, write_dir, tmp_path):
    tables = make_tables()
    tables["service_visits"] = tables["service_visits"].iloc[:0]
    parts = partition_data_dir(write_dir(tables, fmt="csv"), tmp_path / "parts", 2)
    with pytest.raises(ContractError, match="empty table"):
        partition_dirs(parts)


def test_combine_restores_global_categories_and_order():
    a = pd.DataFrame({"customer_id": ["b", "d"], "dealer_id": pd.Categorical(["D2", "D2"], ["D2"])})
    b = pd.DataFrame(
        {"customer_id": ["a", "c"], "dealer_id": pd.Categorical(["D1", "D3"], ["D1", "D3"])}
    )
    out = combine([a, None, b])
    assert out["customer_id"].tolist() == ["a", "b", "c", "d"]
    assert out["dealer_id"].cat.categories.tolist() == ["D1", "D2", "D3"]
    assert out["dealer_id"].tolist() == ["D1", "D2", "D3", "D2"]
    with pytest.raises(ValueError, match="no partition"):
        combine([None])


@pytest.mark.slow
def test_dask_engine_equals_pandas_engine_on_a_simulation(sim_dir, client):
    cfg = FeaturizeConfig()
    as_of = "2026-07-01"
    expected = build_features(read_data_dir(sim_dir), as_of, cfg)
    got = build_features_dask(sim_dir, as_of, cfg, client, n_partitions=3)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_dask_engine_equals_pandas_engine_with_rejects_and_csv(make_tables, write_dir, client):
    tables = make_tables(surveys=None)  # a signal not collected
    tables["service_visits"].loc[1, "amount"] = "-5"  # set aside
    src = write_dir(tables, fmt="csv")
    cfg = FeaturizeConfig()
    expected = build_features(read_data_dir(src), "2024-07-01", cfg)
    got = build_features_dask(src, "2024-07-01", cfg, client, n_partitions=4)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.slow
def test_features_cli_dask_engine_writes_the_same_file(sim_dir, client, tmp_path):
    runner = CliRunner()
    out_p, out_d = tmp_path / "pandas.csv", tmp_path / "dask.csv"
    common = [str(sim_dir), "--as-of", "2026-06-15"]
    r1 = runner.invoke(app, ["features", *common, "--out", str(out_p)])
    assert r1.exit_code == 0, r1.output
    parts = tmp_path / "parts"
    r2 = runner.invoke(app, ["partition", str(sim_dir), "--out", str(parts), "--partitions", "3"])
    assert r2.exit_code == 0, r2.output
    r3 = runner.invoke(
        app,
        [
            "features",
            str(parts),
            "--as-of",
            "2026-06-15",
            "--out",
            str(out_d),
            "--engine",
            "dask",
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert r3.exit_code == 0, r3.output
    assert out_p.read_bytes() == out_d.read_bytes()


def test_features_cli_refuses_an_unknown_engine(sim_dir, tmp_path):
    r = CliRunner().invoke(
        app,
        ["features", str(sim_dir), "--as-of", "2026-06-15", "--out", str(tmp_path / "f.csv")]
        + ["--engine", "spark"],
    )
    assert r.exit_code != 0
    assert "engine" in r.output


def _tiny_models(data_dir, root):
    """A small churn model and T-learner uplift model on the simulation's own features."""
    import lightgbm as lgb

    from models.lgbm import CalibratedBooster
    from models.recovery import UpliftModel

    X = build_features(read_data_dir(data_dir), "2026-03-01")
    feats = ["days_since_last_visit", "spend_365d", "visits_365d", "spend_lifetime"]
    Xf = X[feats].astype("float64")
    rng = np.random.default_rng(0)

    def booster(y, seed):
        params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5}
        params |= {"verbosity": -1, "num_threads": 1, "deterministic": True, "seed": seed}
        return CalibratedBooster(lgb.train(params, lgb.Dataset(Xf, label=y), 15), feats)

    churn = booster((Xf["days_since_last_visit"].fillna(999) > 150).astype(int), 0)
    churn.save(root / "churn")
    arms = {}
    for i, (arm, rate) in enumerate(
        {"none": 0.1, "sms_coupon": 0.3, "advisor_call": 0.4, "manager_call": 0.45}.items()
    ):
        arms[arm] = booster((rng.uniform(size=len(Xf)) < rate).astype(int), i + 1)
    arms["home_visit"] = booster((rng.uniform(size=len(Xf)) < 0.5).astype(int), 9)
    actions = ["advisor_call", "home_visit", "manager_call", "sms_coupon"]
    meta = {"action_facts": simulator_action_facts()}  # what training records
    UpliftModel(learner="t", actions=actions, boosters=arms, meta=meta).save(root / "recovery")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("budget", [None, 2000.0, "same_coupon"])
def test_dask_scoring_equals_pandas_scoring(sim_dir, client, tmp_path_factory, budget):
    from models.engine import score_customers_dask
    from models.scoring import load_models, score_customers
    from models.segments import ScoreConfig

    model = _tiny_models(sim_dir, tmp_path_factory.mktemp("models"))
    cfg, score_cfg = FeaturizeConfig(), ScoreConfig()
    expected = score_customers(
        read_data_dir(sim_dir), "2026-09-30", load_models(model), cfg, score_cfg, budget
    )
    got = score_customers_dask(
        sim_dir, "2026-09-30", str(model), cfg, score_cfg, client, budget, n_partitions=3
    )
    assert (expected.scores["status"] == "scored").sum() > 100
    assert expected.scores["priority_rank"].notna().any()
    pd.testing.assert_frame_equal(got.scores, expected.scores, check_exact=True)
    assert got.budget_used == expected.budget_used


@pytest.mark.slow
def test_score_cli_dask_engine_writes_the_same_file(sim_dir, client, tmp_path):
    model = _tiny_models(sim_dir, tmp_path / "models")
    runner = CliRunner()
    common = ["score", str(sim_dir), "--as-of", "2026-09-30", "--model", str(model)]
    common += ["--budget", "1500"]
    r1 = runner.invoke(app, [*common, "--out", str(tmp_path / "pandas.csv")])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(
        app,
        [*common, "--out", str(tmp_path / "dask.csv"), "--engine", "dask"]
        + ["--scheduler", client.scheduler.address, "--partitions", "4"],
    )
    assert r2.exit_code == 0, r2.output
    assert (tmp_path / "pandas.csv").read_bytes() == (tmp_path / "dask.csv").read_bytes()
