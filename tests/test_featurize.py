"""The featurize stage and the ``winback features`` command, on a tiny data directory."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from features.dictionary import feature_names
from features.files import write_data_dir
from pipeline.cli import app


def raw_tables() -> dict[str, pd.DataFrame]:
    ids = [f"{i:05d}" for i in range(1, 7)]
    days = pd.date_range("2022-01-01", "2024-12-31", freq="45D")
    rows = [(cid, d) for k, cid in enumerate(ids) for d in days[k % 3 :: 2 + k % 2]]
    return {
        "customers": pd.DataFrame(
            {"customer_id": ids, "name": ["Zebulon Quixwood"] * 6, "phone": ["13912345678"] * 6}
        ),
        "service_visits": pd.DataFrame(
            {
                "customer_id": [r[0] for r in rows],
                "visit_date": [r[1] for r in rows],
                "amount": 250.0,
            }
        ),
    }


def test_featurize_stage_writes_outputs(tmp_path):
    data_dir, out = tmp_path / "data", tmp_path / "out"
    write_data_dir(raw_tables(), data_dir)
    params = tmp_path / "params.yaml"
    params.write_text("featurize:\n  horizon_days: 90\n")
    res = CliRunner().invoke(
        app, ["featurize", str(data_dir), "--out", str(out), "--params", str(params)]
    )
    assert res.exit_code == 0, res.output
    training = pd.read_parquet(out / "training.parquet")
    assert {"customer_id", "as_of", "churn", *feature_names()} <= set(training.columns)
    assert len(training) > 0 and training["churn"].isin([0, 1]).all()
    assert pd.read_parquet(out / "feature_dictionary.parquet")["name"].tolist() == feature_names()
    assert len(pd.read_parquet(out / "recovery.parquet")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == len(training)
    assert summary["signals"]["app_sessions"] is False


def test_features_command_all_customers_no_pii(tmp_path):
    data_dir = tmp_path / "data"
    write_data_dir(raw_tables(), data_dir, fmt="csv")
    out = tmp_path / "f.csv"
    res = CliRunner().invoke(
        app, ["features", str(data_dir), "--as-of", "2023-06-01", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "Zebulon" not in text and "13912345678" not in text
    df = pd.read_csv(out, dtype={"customer_id": "str"})
    assert df["customer_id"].tolist() == [f"{i:05d}" for i in range(1, 7)]
    assert {"formula_risk", "winback_score"} <= set(df.columns)
    bad = CliRunner().invoke(
        app, ["features", str(data_dir), "--as-of", "2023-06-01", "--out", str(tmp_path / "x.txt")]
    )
    assert bad.exit_code != 0
