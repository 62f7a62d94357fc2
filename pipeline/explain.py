"""Stage ``explain``: SHAP explanations of the churn model and the reviewer report.

Usage:
    ``python -m pipeline.explain out/featurize out/train --evaluation out/evaluate
    --out out/explain [--params params.yaml]``

Reads the churn model (``TRAIN_DIR/churn``), the training table and the feature dictionary
(``FEATURIZE_DIR``) and, when present, the evaluate stage's ``metrics.json`` and figures.
Explains a seeded sample of the model's out-of-time test rows and writes:

* ``OUT/report.md`` — evaluation vs the formula baseline, global SHAP plots, top features
  with English/Chinese labels, example customers (by id) with their top reasons;
* ``OUT/figures/*.png`` — beeswarm, mean |SHAP| bars, dependence plots (and the evaluation
  figures, copied so the report is self-contained);
* ``OUT/reasons_sample.parquet`` — top reasons (EN/ZH) and risk of sampled test rows;
* ``OUT/importance.parquet`` — mean |SHAP| per feature with labels;
* ``OUT/shap_check.json`` — native ``pred_contrib`` vs ``shap.TreeExplainer`` (max abs
  difference, sample size); the stage fails if it exceeds ``tolerance``.

The report and figures are also logged into the training's MLflow run (resumed from
``TRAIN_DIR/run.json``) when that file exists.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.config import config_from_params
from models.artifacts import CHURN_DIR, RUN_FILE, TRAINING_FILE
from pipeline.common import load_params, setup_logging

if TYPE_CHECKING:
    import pandas as pd

    from models.lgbm import CalibratedBooster

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainConfig:
    """Settings of the stage; the fields mirror the ``explain:`` block of params.yaml.

    Attributes:
        sample_size: Test rows the global explanation (beeswarm, importance, dependence) uses.
        check_size: Rows of the ``pred_contrib`` vs ``shap.TreeExplainer`` check.
        reasons_rows: Test rows written to ``reasons_sample.parquet``.
        top_n: Dependence plots for this many top features (by mean |SHAP|).
        k: Reasons per customer.
        examples: Example customers in the report.
        max_display: Features shown in the beeswarm.
        tolerance: Largest allowed |native − shap| difference; above it the stage fails.
        seed: Seed of every sample.
    """

    sample_size: int = 5000
    check_size: int = 1000
    reasons_rows: int = 2000
    top_n: int = 6
    k: int = 3
    examples: int = 5
    max_display: int = 20
    tolerance: float = 1e-6
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> ExplainConfig:
        """Build from the ``explain:`` block; unknown keys are an error."""
        return config_from_params(cls, params, "explain")


def test_rows(training: pd.DataFrame, model: CalibratedBooster) -> tuple[pd.DataFrame, str]:
    """The model's out-of-time test rows (from its saved split), else the latest snapshot.

    Returns:
        The rows and a short description of them for the report.
    """
    import pandas as pd

    split = (model.meta or {}).get("split") or {}
    date_col = split.get("date_col", "as_of")
    if split.get("test_start") and date_col in training.columns:
        start = pd.Timestamp(split["test_start"])
        rows = training.loc[pd.to_datetime(training[date_col]) >= start]
        if len(rows):
            end = pd.to_datetime(rows[date_col]).max()
            return rows, f"out-of-time test snapshots {start:%Y-%m-%d}..{end:%Y-%m-%d}"
    if "as_of" in training.columns and len(training):
        last = training["as_of"].max()
        logger.warning("model has no saved test split; explaining the latest snapshot %s", last)
        return training.loc[training["as_of"] == last], f"latest snapshot {last:%Y-%m-%d}"
    return training, "all rows"


def sample(rows: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A seeded sample of at most ``n`` rows, in the original order."""
    import numpy as np

    if len(rows) <= n:
        return rows
    rng = np.random.default_rng(seed)
    return rows.iloc[np.sort(rng.choice(len(rows), n, replace=False))]


def example_rows(reasons: pd.DataFrame, n: int) -> pd.DataFrame:
    """Example customers across the risk range: the riskiest, then risk quantiles downwards."""
    import numpy as np

    if len(reasons) == 0 or n < 1:
        return reasons.iloc[:0]
    ranked = reasons.sort_values("risk", ascending=False, kind="stable")
    if "customer_id" in ranked.columns:
        ranked = ranked.drop_duplicates("customer_id")
    positions = np.unique(np.linspace(0, (len(ranked) - 1) * 0.8, num=min(n, len(ranked))))
    return ranked.iloc[positions.round().astype(int)]


def explain_tables(
    model: CalibratedBooster,
    rows: pd.DataFrame,
    dictionary: pd.DataFrame,
    config: ExplainConfig,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Top reasons with risk for a sample of ``rows``, and the SHAP consistency check.

    Returns:
        ``(reasons, shap_check)``: :func:`models.explain.top_reasons` plus ``risk`` (the
        calibrated churn probability) for up to ``reasons_rows`` rows; and
        :func:`models.explain.shap_consistency` on up to ``check_size`` rows plus the
        tolerance and whether it passed.
    """
    from models.explain import PII_COLUMNS, shap_consistency, top_reasons

    rows = rows.drop(columns=[c for c in PII_COLUMNS if c in rows.columns])
    part = sample(rows, config.reasons_rows, config.seed)
    reasons = top_reasons(model, part, dictionary, k=config.k)
    reasons.insert(len([c for c in ("customer_id", "as_of") if c in reasons]), "risk", 0.0)
    reasons["risk"] = model.predict_proba(part)
    check = shap_consistency(model, sample(rows, config.check_size, config.seed + 1))
    check["tolerance"] = config.tolerance
    check["passed"] = bool(check["max_abs_diff_treeexplainer"] <= config.tolerance) and (
        check["max_abs_diff_shap_algorithm"] is None
        or check["max_abs_diff_shap_algorithm"] <= config.tolerance
    )
    return reasons.reset_index(drop=True), check


def _evaluation_extras(evaluation: Path | None) -> tuple[pd.DataFrame | None, dict | None]:
    """The evaluate stage's per-segment table and champion/challenger decisions, if present."""
    import pandas as pd

    if evaluation is None or not evaluation.is_dir():
        return None, None
    seg_file, promo_file = evaluation / "segments.csv", evaluation / "promotion.json"
    segments = pd.read_csv(seg_file) if seg_file.is_file() else None
    promotion = json.loads(promo_file.read_text(encoding="utf-8")) if promo_file.is_file() else None
    return segments, promotion


def _copy_evaluation(evaluation: Path | None, figures_dir: Path) -> tuple[dict | None, dict]:
    """Read the evaluate stage's metrics and copy its figures next to ours."""
    if evaluation is None:
        return None, {}
    metrics_file = evaluation / "metrics.json" if evaluation.is_dir() else evaluation
    if not metrics_file.is_file():
        logger.warning(
            "no evaluation metrics at %s: the report says evaluation is missing", evaluation
        )
        return None, {}
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    copied = {}
    source = metrics_file.parent / "figures"
    for png in sorted(source.glob("*.png")) if source.is_dir() else []:
        target = figures_dir / f"evaluation_{png.name}"
        shutil.copyfile(png, target)
        copied[png.stem.replace("_", " ")] = f"figures/{target.name}"
    return metrics, copied


def _log_to_run(train_dir: Path, out: Path, check: dict[str, Any]) -> str | None:
    """Log the report, figures and check into the training's MLflow run, if one is recorded.

    The run is resumed through :func:`models.tracking.resume_run` from ``TRAIN_DIR/run.json``
    (its tracking URI, unless ``MLFLOW_TRACKING_URI`` is set).
    """
    from models import tracking

    run_file = train_dir / RUN_FILE
    if not run_file.is_file():
        logger.info("no %s: report not logged to MLflow", run_file)
        return None
    import mlflow

    with tracking.resume_run(run_file) as run:
        mlflow.log_artifacts(str(out), artifact_path="explain")
        mlflow.log_metric("explain.shap_check_max_abs_diff", check["max_abs_diff_treeexplainer"])
        mlflow.set_tag("explain.shap_check", "passed" if check.get("passed") else "failed")
        run_id = run.info.run_id
    logger.info("logged the explanation into MLflow run %s", run_id)
    return run_id


def main(
    featurize_dir: Annotated[Path, typer.Argument(help="The featurize stage's output.")],
    train_dir: Annotated[Path, typer.Argument(help="The train stage's output (churn/ model).")],
    evaluation: Annotated[
        Path | None, typer.Option(help="The evaluate stage's output (metrics.json, figures/).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/explain"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'explain' block from.")
    ] = None,
    mlflow_log: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log into the training's MLflow run.")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Explain the churn model with SHAP and write the reviewer report."""
    # LightGBM, SHAP and matplotlib load when the command runs, not for --help
    import pandas as pd

    from features.dictionary import feature_dictionary
    from models.explain import mean_abs_shap
    from models.lgbm import CalibratedBooster
    from models.reporting.explanation import ReportInputs, build_report, global_figures
    from models.reporting.figures import use_files_backend

    setup_logging(verbose)
    use_files_backend()
    cfg = ExplainConfig.from_params(load_params("explain", params))
    from models.reporting.figures import check_lang

    lang = check_lang(load_params("report", params)["lang"])
    model = CalibratedBooster.load(train_dir / CHURN_DIR)
    training = pd.read_parquet(featurize_dir / TRAINING_FILE)
    dict_file = featurize_dir / "feature_dictionary.parquet"
    dictionary = pd.read_parquet(dict_file) if dict_file.is_file() else feature_dictionary()
    rows, note = test_rows(training, model)
    logger.info("explaining %s (%d rows)", note, len(rows))

    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    reasons, check = explain_tables(model, rows, dictionary, cfg)
    logger.info(
        "SHAP check on %d rows: max |pred_contrib − TreeExplainer| = %.3g, shap's own "
        "TreeSHAP: %s, additivity error %.3g",
        check["rows"],
        check["max_abs_diff_treeexplainer"],
        check["max_abs_diff_shap_algorithm"],
        check["max_additivity_error"],
    )
    glob_rows = sample(rows, cfg.sample_size, cfg.seed + 2)
    contributions = model.contributions(glob_rows)
    importance = mean_abs_shap(model, contributions, dictionary)
    figs = global_figures(
        model,
        glob_rows,
        contributions,
        importance,
        figures_dir,
        dictionary,
        cfg.top_n,
        cfg.max_display,
        lang,
    )
    metrics, eval_figs = _copy_evaluation(evaluation, figures_dir)
    segments, promotion = _evaluation_extras(evaluation) if metrics else (None, None)

    titles = {"beeswarm": "SHAP summary (beeswarm)", "importance": "Mean |SHAP| per feature"}
    label = dict(zip(importance["feature"], importance["label_en"], strict=True))
    report_figs = {
        titles.get(name, f"Dependence: {label.get(name.removeprefix('dependence_'), name)}"): (
            f"figures/{path.name}"
        )
        for name, path in figs.items()
    }
    report = build_report(
        ReportInputs(
            importance=importance,
            figures=report_figs,
            examples=example_rows(reasons, cfg.examples),
            shap_check=check,
            evaluation=metrics,
            evaluation_figures=eval_figs,
            model_meta=model.meta,
            sample_rows=len(glob_rows),
            sample_note=note,
            segments=segments,
            promotion=promotion,
        )
    )
    (out / "report.md").write_text(report, encoding="utf-8")
    reasons.to_parquet(out / "reasons_sample.parquet", index=False)
    importance.to_parquet(out / "importance.parquet", index=False)
    (out / "shap_check.json").write_text(json.dumps(check, indent=2) + "\n", encoding="utf-8")
    if mlflow_log:
        _log_to_run(train_dir, out, check)
    if not check["passed"]:
        typer.echo(
            f"SHAP check failed: native contributions differ from shap by more than "
            f"{cfg.tolerance:g} (see {out / 'shap_check.json'})",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.echo(
        f"explained {note}: report {out / 'report.md'}, {len(figs)} figures, "
        f"SHAP check max diff {check['max_abs_diff_treeexplainer']:.2e} on {check['rows']} rows"
    )


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
