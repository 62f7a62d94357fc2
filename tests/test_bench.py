"""The benchmark: goal checks and report on hand-made figures, and one tiny run end to end."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from features.build import build_features
from features.reading import read_data_dir
from models.lgbm import CalibratedBooster
from models.reporting.bench import plot_scaling
from pipeline.bench import _sizes, goals, markdown
from pipeline.cli import app
from pipeline.simulator import SimulationConfig, simulate


def _row(stage, customers, seconds, events=None, peak=1.0, **extra):
    return {
        "stage": stage,
        "customers": customers,
        "seconds": seconds,
        "events": events,
        "peak_rss_gib": peak,
        **extra,
    }


def test_goals_check_the_score_goal_only_at_a_million():
    rows = [
        _row("score", 100_000, 300.0, peak=9.0),  # too small to judge
        _row("score", 1_000_000, 119.0, peak=7.9),
    ]
    (g,) = goals(rows)
    assert g["met"] and "1,000,000" in g["text"]
    (g,) = goals([_row("score", 1_000_000, 121.0, peak=7.9)])
    assert not g["met"]
    (g,) = goals([_row("score", 1_000_000, 100.0, peak=8.5)])
    assert not g["met"]


def test_goals_compare_feature_time_growth_with_event_growth():
    rows = [
        _row("features", 100, 10.0, events=1000, build_seconds=1.0),
        _row("features", 200, 19.0, events=2000, build_seconds=1.0),  # x1.9 for x2 events
        _row("features", 400, 60.0, events=4000, build_seconds=1.0),  # x3.2 for x2 events
    ]
    first, second = goals(rows)
    assert first["met"] and "x2.00" in first["text"] and "x1.90" in first["text"]
    assert not second["met"] and "x3.16" in second["text"]


def test_markdown_has_machine_table_goals_and_shap(tmp_path):
    report = {
        "machine": {
            "cpus": 2,
            "memory_gib": 23.5,
            "platform": "Linux",
            "python": "3.11",
            "load_average": [1.0, 2.0, 3.0],
        },
        "load_average_end": [1.5, 2.0, 3.0],
        "rows": [
            _row("features", 1000, 2.0, events=40_000, read_validate_seconds=1.5),
            _row("score", 1000, 4.0, events=40_000),
        ],
        "goals": [{"text": "something", "met": False}],
        "shap": {
            "rows": 50,
            "native_seconds": 0.1,
            "fast_seconds": 0.01,
            "treeexplainer_seconds": 0.2,
            "max_abs_diff": 0.0,
            "fast_max_abs_diff": 2e-15,
        },
        "command": "winback bench",
    }
    text = markdown(report)
    assert "| 1,000 | 40,000 | features | 2.0 | 500 | 1.00 | read_validate 1.5 s |" in text
    assert "| 1,000 | 40,000 | score | 4.0 | 250 |" in text
    assert "NOT met: something" in text
    assert "[1.0, 2.0, 3.0]" in text and "2 CPUs" in text
    assert "On the same 50 rows" in text
    assert "TreeSHAP used for scoring (`models.treeshap`): 0.01 s" in text and "2.00e-15" in text
    png = plot_scaling(report["rows"], tmp_path / "s.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_sizes_parse_and_refuse_bad_input():
    assert _sizes("200, 100,100") == [100, 200]
    with pytest.raises(typer.BadParameter, match="integers"):
        _sizes("100,lots")
    with pytest.raises(typer.BadParameter, match="positive"):
        _sizes("0")


@pytest.mark.slow
def test_bench_runs_end_to_end_on_a_tiny_size(tmp_path):
    # A small churn model on the simulator's own features (no uplift model: churn-only
    # scoring), so the run measures the stages instead of training.
    train_dir = tmp_path / "train_sim"
    from features.files import write_data_dir

    tables, _ = simulate(SimulationConfig(customers=300, years=2, seed=1))
    write_data_dir(tables, train_dir)
    X = build_features(read_data_dir(train_dir), "2026-06-01")
    features = ["days_since_last_visit", "visits_365d", "spend_365d"]
    y = (X["days_since_last_visit"].fillna(999) > 120).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 4, "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X[features].astype("float64"), label=y),
        10,
    )
    model_dir = tmp_path / "model"
    CalibratedBooster(booster=booster, features=features).save(model_dir / "churn")

    out, work = tmp_path / "bench", tmp_path / "work"
    args = ["bench", "--work", str(work), "--out", str(out), "--sizes", "150", "--curve", ""]
    args += ["--years", "2", "--shap-rows", "50", "--model", str(model_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bench.json").read_text())
    assert [(r["stage"], r["customers"]) for r in report["rows"]] == [
        ("simulate", 150),
        ("features", 150),
        ("score", 150),
    ]
    for r in report["rows"]:
        assert r["seconds"] > 0 and r["peak_rss_gib"] > 0
    assert report["rows"][1]["read_validate_seconds"] <= report["rows"][1]["seconds"]
    assert report["shap"]["rows"] == 50
    assert np.isfinite(report["shap"]["max_abs_diff"])
    assert report["shap"]["fast_max_abs_diff"] <= 1e-9  # the scoring engine is exact
    md = (out / "bench.md").read_text()
    assert md.startswith("# winback benchmark") and "| 150 |" in md
    assert (out / "scaling.png").stat().st_size > 0
    # the simulation is cached for the next run
    assert (work / "sim-150-y2-s42" / "bench_simulate.json").is_file()
