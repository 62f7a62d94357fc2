"""SHAP explanations: native contributions vs shap, top reasons, figures, report, no PII."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.dictionary import feature_dictionary
from models.explain import (
    check_against_shap,
    format_values,
    has_categorical_splits,
    mean_abs_shap,
    reasons_long,
    shap_consistency,
    top_reasons,
)
from models.lgbm import CalibratedBooster, fit_isotonic
from models.reporting.explanation import (
    ReportInputs,
    build_report,
    global_figures,
    plot_waterfall,
)

PARAMS = {
    "objective": "binary",
    "verbose": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "min_data_in_leaf": 10,
    "min_data_per_group": 10,
    "cat_smooth": 1.0,
}

NAMES = ("Zebulon Quixwood", "Ottoline Brackenfirth")
PHONES = ("+86-139-7771-0001", "+86-139-7771-0002")


def _fit(X: pd.DataFrame, y: np.ndarray, rounds: int = 40) -> CalibratedBooster:
    cats = {c: [str(v) for v in X[c].cat.categories] for c in X.columns if X[c].dtype == "category"}
    model = CalibratedBooster(booster=None, features=list(X.columns), categories=cats)  # type: ignore[arg-type]
    frame = model.frame(X)
    model.booster = lgb.train(PARAMS, lgb.Dataset(frame, y), rounds)
    model.calibrator = fit_isotonic(model.predict_raw(X), y)
    return model


@pytest.fixture(scope="module")
def mixed(make_churn_rows) -> tuple[CalibratedBooster, pd.DataFrame]:
    """A model on real dictionary features: numeric with NaN, a flag and a categorical."""
    X, y = make_churn_rows(seed=0, spend=True)
    return _fit(X, y), X


def test_pred_contrib_equals_shap_with_categorical_and_missing(mixed):
    model, X = mixed
    assert has_categorical_splits(model)
    assert X["survey_score_last"].isna().any() and X["vehicle_model"].isna().any()
    assert check_against_shap(model, X.iloc[:300]) <= 1e-6
    report = shap_consistency(model, X.iloc[:300])
    assert report["rows"] == 300
    assert report["max_abs_diff_treeexplainer"] <= 1e-6
    assert report["max_additivity_error"] <= 1e-6
    # shap's own tree parser does not implement LightGBM's categorical splits
    assert report["max_abs_diff_shap_algorithm"] is None


def test_pred_contrib_equals_shaps_own_treeshap_on_numeric_model(mixed):
    _, X = mixed
    Xn = X.drop(columns="vehicle_model")
    y = (Xn["days_since_last_visit"] > 200).to_numpy().astype(int)
    y[:50] = 1 - y[:50]
    model = _fit(Xn, y, rounds=20)
    report = shap_consistency(model, Xn.iloc[:300])
    assert report["max_abs_diff_shap_algorithm"] is not None
    assert report["max_abs_diff_shap_algorithm"] <= 1e-6
    assert report["max_abs_diff_treeexplainer"] <= 1e-6


def test_top_reasons_picks_the_dominant_feature():
    rng = np.random.default_rng(1)
    n = 2000
    X = pd.DataFrame(
        {
            "days_since_last_visit": rng.uniform(0, 400, n),
            "visits_365d": rng.integers(0, 6, n).astype("float64"),
        }
    )
    # Churn is driven almost entirely by recency; visits hardly matter.
    y = (X["days_since_last_visit"] > 200).to_numpy().astype(int)
    model = _fit(X, y)
    rows = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "as_of": pd.to_datetime(["2026-01-01", "2026-01-01"]),
            "days_since_last_visit": [350.0, 20.0],
            "visits_365d": [1.0, 4.0],
            "name": list(NAMES),
            "phone": list(PHONES),
        }
    )
    reasons = top_reasons(model, rows, feature_dictionary(), k=2)
    assert list(reasons.index) == list(rows.index)
    assert reasons["customer_id"].tolist() == ["C1", "C2"]
    first = reasons.iloc[0]
    assert first["reason_1"] == "days_since_last_visit"
    assert first["reason_1_en"] == "Time since last service visit: 11.5 months"
    assert first["reason_1_zh"] == "距上次到店保养时长：11.5个月"
    assert first["reason_1_value"] == "350"
    assert first["reason_1_contribution"] > 0
    # the recent visitor has no positive recency reason
    assert reasons.iloc[1]["reason_1"] != "days_since_last_visit"
    contrib = model.contributions(rows)
    for i in range(2):
        positive = contrib.iloc[i][model.features]
        positive = positive[positive > 0].sort_values(ascending=False)
        got = [reasons.iloc[i][f"reason_{j}"] for j in (1, 2)]
        want = list(positive.index[:2]) + [None] * (2 - min(2, len(positive)))
        assert [g if isinstance(g, str) else None for g in got] == want
    assert not any(v in str(cell) for v in NAMES + PHONES for cell in reasons.to_numpy().ravel())
    long = reasons_long(reasons)
    assert set(long.columns) >= {"customer_id", "rank", "feature", "text_en", "text_zh"}
    assert long.loc[long["customer_id"] == "C1", "rank"].iloc[0] == 1


def test_top_reasons_matches_a_full_sort(mixed):
    model, X = mixed
    reasons = top_reasons(model, X, k=3)
    C = model.contributions(X)[model.features]
    for i in [0, 5, 17, 200, 999]:
        row = C.iloc[i]
        want = list(row[row > 0].sort_values(ascending=False).index[:3])
        got = [reasons.iloc[i][f"reason_{j}"] for j in (1, 2, 3)]
        assert [g for g in got if isinstance(g, str)] == want
        for j, feat in enumerate(want, start=1):
            assert reasons.iloc[i][f"reason_{j}_contribution"] == pytest.approx(row[feat])


def test_texts_with_units_missing_and_categorical(mixed):
    model, X = mixed
    rows = X.iloc[:4].copy()
    rows["survey_score_last"] = [np.nan, 3.0, 1.0, 0.0]
    rows["app_inactive"] = 1.0
    rows["vehicle_model"] = pd.Categorical(["Q3", "Q3", None, "Q3"])
    long = reasons_long(top_reasons(model, rows, k=5))
    texts = dict(zip(long["text_en"], long["text_zh"], strict=True))
    assert "App inactive (0-1 sessions last month): yes" in texts
    assert (
        texts["App inactive (0-1 sessions last month): yes"] == "App不活跃（近一月登录0-1次）：是"
    )
    assert "Vehicle model: Q3" in texts
    assert any(t.startswith("Last satisfaction score: ") for t in texts)


def test_format_values_units():
    en, zh = format_values(np.array([1.0, 2.0, np.nan]), "visits")
    assert en.tolist() == ["1 visit", "2 visits", "not recorded"]
    assert zh.tolist() == ["1次", "2次", "无记录"]
    en, zh = format_values(np.array([12345.4, -800.0]), "CNY")
    assert en.tolist() == ["¥12,345", "-¥800"] and zh.tolist() == ["12,345元", "-800元"]
    en, _ = format_values(np.array([0.256, 1.0]), "share 0-1")
    assert en.tolist() == ["26%", "100%"]
    en, zh = format_values(np.array([-2.0, 0.5]), "score points")
    assert en.tolist() == ["-2 points", "+0.5 points"] and zh.tolist() == ["-2分", "+0.5分"]
    en, zh = format_values(np.array([2.25]), "ratio")
    assert en.tolist() == ["2.2×"] or en.tolist() == ["2.3×"]
    en, zh = format_values(np.array(["A4", None], dtype=object), "category")
    assert en.tolist() == ["A4", "not recorded"]


def test_figures_and_report_without_pii(mixed, tmp_path: Path):
    model, X = mixed
    X = X.copy()
    X["customer_id"] = [f"C{i:05d}" for i in range(len(X))]
    X["as_of"] = pd.Timestamp("2026-03-01")
    X["name"] = np.resize(np.array(NAMES, dtype=object), len(X))
    X["phone"] = np.resize(np.array(PHONES, dtype=object), len(X))
    sample = X.iloc[:400]
    contrib = model.contributions(sample)
    importance = mean_abs_shap(model, contrib)
    figures = global_figures(model, sample, contrib, importance, tmp_path / "figures", top_n=3)
    assert set(figures) >= {"beeswarm", "importance"}
    assert sum(k.startswith("dependence_") for k in figures) == 3
    for path in figures.values():
        assert path.is_file() and path.stat().st_size > 1000
    assert importance["mean_abs_shap"].is_monotonic_decreasing
    assert importance.iloc[0]["label_en"] != importance.iloc[0]["feature"]
    plot_waterfall(model, sample.iloc[[0]], tmp_path / "figures" / "waterfall.png")
    assert (tmp_path / "figures" / "waterfall.png").is_file()

    examples = top_reasons(model, sample.iloc[:5], k=3)
    examples["risk"] = model.predict_proba(sample.iloc[:5])
    evaluation = {
        "churn": {
            "n": 400,
            "model": {"roc_auc": 0.81, "pr_auc": 0.7, "ece": 0.01},
            "formula": {"roc_auc": 0.65, "pr_auc": 0.58, "note": "ranking only"},
        },
        "recovery": {
            "uplift_model": {"qini": 0.05, "auuc": 0.1},
            "scorecard": {"qini": 0.01, "auuc": 0.02},
            "churn_risk": {"qini": 0.0, "auuc": 0.01},
        },
    }
    md = build_report(
        ReportInputs(
            importance=importance,
            figures={"Beeswarm": "figures/shap_beeswarm.png"},
            examples=examples,
            shap_check=shap_consistency(model, sample.iloc[:100]),
            evaluation=evaluation,
            evaluation_figures={"ROC": "figures/roc.png"},
            sample_rows=len(sample),
        )
    )
    assert "| roc_auc | 0.8100 | 0.6500 | +0.1600 |" in md
    assert "| qini | 0.0500 | 0.0100 | 0.0000 |" in md
    assert "C00000" in md and "距上次到店保养时长" in md and "![ROC](figures/roc.png)" in md
    for value in NAMES + PHONES:
        assert value not in md
    missing = build_report(
        ReportInputs(importance=importance, figures={}, examples=examples, shap_check={"rows": 0})
    )
    assert "Evaluation is missing" in missing
    # every written artifact is free of personal data
    for path in (tmp_path / "figures").iterdir():
        blob = path.read_bytes()
        for value in NAMES + PHONES:
            assert value.encode() not in blob
    json.dumps(shap_consistency(model, sample.iloc[:50]))


def _stage_inputs(mixed, tmp_path: Path) -> tuple[Path, Path, Path]:
    model, X = mixed
    table = X.copy()
    table.insert(0, "customer_id", [f"C{i % 500:05d}" for i in range(len(table))])
    table.insert(
        1, "as_of", pd.to_datetime(np.repeat(["2026-01-01", "2026-02-01", "2026-03-01"], 500))
    )
    table["churn"] = 0
    # personal data in the input must not reach any output
    table["name"] = np.resize(np.array(NAMES, dtype=object), len(table))
    table["phone"] = np.resize(np.array(PHONES, dtype=object), len(table))
    feat = tmp_path / "featurize"
    feat.mkdir()
    table.to_parquet(feat / "training.parquet", index=False)
    feature_dictionary().to_parquet(feat / "feature_dictionary.parquet", index=False)
    train = tmp_path / "train"
    model.meta = {"split": {"date_col": "as_of", "test_start": "2026-02-01", "gap_days": 180}}
    model.save(train / "churn")
    evaluation = tmp_path / "evaluate"
    (evaluation / "figures").mkdir(parents=True)
    (evaluation / "metrics.json").write_text(
        json.dumps({"churn": {"model": {"roc_auc": 0.8}, "formula": {"roc_auc": 0.6}}})
    )
    from models.reporting.figures import Figure

    Figure().savefig(evaluation / "figures" / "roc.png")
    return feat, train, evaluation


@pytest.mark.slow
def test_stage_writes_report_reasons_and_check(mixed, tmp_path: Path):
    from typer.testing import CliRunner

    import pipeline.explain as stage

    feat, train, evaluation = _stage_inputs(mixed, tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(
        "explain:\n  sample_size: 300\n  check_size: 100\n  reasons_rows: 200\n"
        "  top_n: 2\n  k: 3\n  examples: 4\n  seed: 1\n"
    )
    out = tmp_path / "explain"
    app = typer_app(stage.main)
    args = [str(feat), str(train), "--evaluation", str(evaluation), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--params", str(params), "--no-mlflow"])
    assert result.exit_code == 0, result.output
    check = json.loads((out / "shap_check.json").read_text())
    assert check["rows"] == 100 and check["passed"] and check["max_abs_diff_treeexplainer"] <= 1e-6
    reasons = pd.read_parquet(out / "reasons_sample.parquet")
    assert len(reasons) == 200
    assert (pd.to_datetime(reasons["as_of"]) >= "2026-02-01").all()  # test rows only
    assert {"customer_id", "risk", "reason_1_en", "reason_3_zh"} <= set(reasons.columns)
    report = (out / "report.md").read_text()
    assert "![roc](figures/evaluation_roc.png)" in report
    assert "| roc_auc | 0.8000 | 0.6000 | +0.2000 |" in report
    assert "out-of-time test snapshots 2026-02-01..2026-03-01" in report
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert "shap_beeswarm.png" in pngs and "evaluation_roc.png" in pngs
    assert sum(p.startswith("shap_dependence_") for p in pngs) == 2
    for path in out.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for value in NAMES + PHONES:
                assert value.encode() not in blob, (path, value)
    # same data + params + seed = same outputs
    again = tmp_path / "again"
    result = CliRunner().invoke(
        app, [*args[:-1], str(again), "--params", str(params), "--no-mlflow"]
    )
    assert result.exit_code == 0, result.output
    assert (again / "report.md").read_text() == report
    assert pd.read_parquet(again / "reasons_sample.parquet").equals(reasons)


def typer_app(func):
    import typer

    app = typer.Typer()
    app.command()(func)
    return app


@pytest.mark.slow
def test_report_is_logged_into_the_training_run(tmp_path: Path, monkeypatch):
    import mlflow

    import pipeline.explain as stage
    from models import artifacts, tracking

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    exp_id = tracking.setup(uri)
    with mlflow.start_run() as run:
        pass
    train = tmp_path / "train"
    artifacts.RunRecord(run.info.run_id, tracking.EXPERIMENT, exp_id, uri, {}).save(train)
    out = tmp_path / "explain"
    (out / "figures").mkdir(parents=True)
    (out / "report.md").write_text("# report")
    (out / "figures" / "a.png").write_bytes(b"png")
    assert (
        stage._log_to_run(train, out, {"max_abs_diff_treeexplainer": 0.0, "passed": True})
        == run.info.run_id
    )
    client = mlflow.MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(run.info.run_id, "explain")}
    assert {"explain/report.md", "explain/figures"} <= names
    assert client.get_run(run.info.run_id).data.metrics["explain.shap_check_max_abs_diff"] == 0.0
    assert stage._log_to_run(tmp_path / "nowhere", out, {}) is None


def test_the_beeswarm_is_the_same_figure_every_time(mixed, tmp_path):
    """shap jitters the swarm with numpy's global generator; the figure is seeded."""
    from models.reporting.explanation import plot_beeswarm

    model, X = mixed
    rows = X.iloc[:200]
    contributions = model.contributions(rows)
    np.random.seed(123)  # noqa: NPY002 - the caller's global state must survive the call
    before = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    a = plot_beeswarm(model, rows, contributions, tmp_path / "a.png", max_display=5)
    assert np.random.random() == before  # noqa: NPY002
    b = plot_beeswarm(model, rows, contributions, tmp_path / "b.png", max_display=5)
    assert a.read_bytes() == b.read_bytes()


def test_dependence_shows_not_recorded_apart_from_real_values(mixed, tmp_path, monkeypatch):
    from models.reporting import explanation

    model, X = mixed
    sample = X.iloc[:400]
    contrib = model.contributions(sample)
    kept = []
    real = explanation.save_figure

    def save(fig, path, **kw):
        kept.append(fig)
        return real(fig, path, **kw)

    monkeypatch.setattr(explanation, "save_figure", save)
    explanation.plot_dependence(model, sample, contrib, "survey_score_last", tmp_path / "s.png")
    main, side = kept[0].axes
    recorded = sample["survey_score_last"].dropna()
    x = main.collections[0].get_offsets()[:, 0]
    # only real values on the feature's axis: no made-up x for the missing rows
    assert len(x) == len(recorded) and x.min() == recorded.min()
    n_missing = int(sample["survey_score_last"].isna().sum())
    assert len(side.collections[0].get_offsets()) == n_missing > 0
    assert [t.get_text() for t in side.get_xticklabels()] == [f"无记录\n（{n_missing} 行）"]
    # a duration in days over a span of a year reads in months
    explanation.plot_dependence(
        model, sample, contrib, "days_since_last_visit", tmp_path / "d.png", lang="en"
    )
    (ax,) = kept[1].axes
    assert ax.get_xlabel() == "Time since last service visit (months)"
    days = sample["days_since_last_visit"].to_numpy()
    assert ax.collections[0].get_offsets()[:, 0].max() == pytest.approx(days.max() / (365.25 / 12))
