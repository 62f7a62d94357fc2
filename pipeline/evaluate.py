"""Stage ``evaluate``: out-of-time evaluation against the playbook baselines; champion/challenger.

Usage: ``python -m pipeline.evaluate out/featurize out/train --out out/evaluate
[--params params.yaml]`` (the DVC stage; ``winback evaluate`` is the same code).

Reads the featurize outputs (``training.parquet``, ``recovery.parquet``) and the train outputs
(``churn/``, ``recovery/``, ``run.json``), scores the out-of-time test slices that the models'
own saved split boundaries define, and writes to OUT:

* ``metrics.json`` — the detailed metrics, with ``headline.json`` the few DVC compares (churn model vs formula, uplift model vs scorecard vs churn
  risk, champion/challenger decisions);
* ``segments.csv`` — churn metrics per value tier and per dealer;
* ``recovery_by_action.csv`` — the recovery comparison per action;
* ``plots/<kind>.csv`` — plot data in long format with a ``model`` column (roc, pr,
  calibration, lift, qini, qini_by_action) and ``plots/<kind>/<model>.csv`` — the same rows one
  file per curve, which is what ``dvc plots`` overlays (its templates colour lines by file);
* ``figures/*.png`` — the same curves drawn for humans;
* ``promotion.json`` — for each registered model, whether the new version became ``champion``
  and why.

The metrics, tables, plots and decisions are also logged into the training's MLflow run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.config import FeaturizeConfig
from models.artifacts import (
    CHURN_DIR,
    RECOVERY_DIR,
    RECOVERY_FILE,
    RUN_FILE,
    TRAINING_FILE,
    RunRecord,
)
from pipeline.common import load_params, setup_logging

if TYPE_CHECKING:
    import pandas as pd

    from models.evaluate import EvaluateConfig
    from models.evaluation import Evaluation

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# I/O


def write_outputs(evaluation: Evaluation, out: Path, lang: str = "zh") -> list[Path]:
    """Write metrics.json, its headline.json, the tables, the plot data and the figures (in
    ``lang``) under ``out``.

    Returns:
        Every file written.
    """
    import pandas as pd

    from features.files import neutralise
    from models import evaluate as ev
    from models import evaluate_recovery as evr
    from models.headline import EVALUATE as EVALUATE_HEADLINE
    from models.headline import write_headline
    from models.reporting import evaluation as reporting

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.json", out / "segments.csv"]
    metrics = ev.jsonable(evaluation.metrics)
    written[0].write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    # segment values (dealer ids) and action names come from the store's data: neutralised
    neutralise(evaluation.segments).to_csv(written[1], index=False, float_format="%.6g")
    rec = evaluation.metrics.get("recovery", {})
    rows = []
    for action, res in rec.get("by_action", {}).items():
        for scorer in evr.RECOVERY_SCORERS:
            rows.append({"action": action, "ranking": scorer, **res[scorer]})
            rows[-1].update({k: res[k] for k in ("n", "n_treated", "n_control")})
            rows[-1]["observed_uplift"] = res["observed_uplift"]
    # written even without outreach data (header only), so the DVC output always exists
    columns = ["action", "ranking", "qini", "auuc", "n", "n_treated", "n_control"]
    path = out / "recovery_by_action.csv"
    neutralise(pd.DataFrame(rows, columns=None if rows else columns)).to_csv(
        path, index=False, float_format="%.6g"
    )
    written.append(path)
    plots = out / "plots"
    for kind, frame in evaluation.curves.items():
        plots.mkdir(parents=True, exist_ok=True)
        frame.to_csv(plots / f"{kind}.csv", index=False, float_format="%.6g")
        written.append(plots / f"{kind}.csv")
        if kind == "qini_by_action":
            continue
        # one file per curve: DVC's templates colour lines by file, not by a column
        (plots / kind).mkdir(exist_ok=True)
        for model, part in frame.groupby("model", sort=False):
            path = plots / kind / f"{model}.csv"
            part.to_csv(path, index=False, float_format="%.6g")
            written.append(path)
    written += reporting.curve_figures(evaluation.curves, out / "figures", evaluation.metrics, lang)
    written.append(write_headline(out, metrics, EVALUATE_HEADLINE))
    return written


def _load_uplift(train_dir: Path) -> Any | None:
    path = train_dir / RECOVERY_DIR
    if not path.is_dir():
        return None
    from models.recovery import UpliftModel

    return UpliftModel.load(path)


def _read_table(path: Path) -> pd.DataFrame | None:
    import pandas as pd

    return pd.read_parquet(path) if path.is_file() else None


def log_to_run(record: Any, out: Path, evaluation: Evaluation, decisions: dict[str, Any]) -> None:
    """Log the evaluation's metrics, tables, plot data, figures and decisions into the run."""
    import mlflow

    from models import tracking

    with tracking.resume_run(record):
        mlflow.log_metrics(tracking.numeric_metrics(evaluation.metrics, "test.", bools=True))
        mlflow.log_artifacts(str(out), artifact_path="evaluate")
        for name, d in decisions.items():
            mlflow.set_tag(f"champion_challenger.{name}", d["reason"])
    logger.info("evaluation logged into MLflow run %s", record.run_id)


def _run_record(train_dir: Path) -> Any | None:
    from models import tracking

    path = train_dir / RUN_FILE
    if not path.is_file():
        return None
    record = RunRecord.load(path)
    # the URI recorded at training time, unless MLFLOW_TRACKING_URI overrides it
    tracking.setup(os.environ.get("MLFLOW_TRACKING_URI") or record.tracking_uri, record.experiment)
    return record


def main(
    featurize_dir: Annotated[
        Path, typer.Argument(help="Featurize outputs (training.parquet, recovery.parquet).")
    ],
    train_dir: Annotated[Path, typer.Argument(help="Train outputs (churn/, recovery/, run.json).")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/evaluate"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'evaluate' block from.")
    ] = None,
    track: Annotated[
        bool, typer.Option(help="Log into the training's MLflow run and run champion/challenger.")
    ] = True,
    promote: Annotated[
        bool,
        typer.Option(
            help="Apply the decisions to the registry at once (the DVC graph leaves that to "
            "the promote stage: --no-promote)."
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Evaluate the trained models out of time against the playbook baselines.

    Writes OUT/metrics.json, OUT/headline.json (DVC metrics), OUT/segments.csv,
    OUT/recovery_by_action.csv, OUT/plots/, OUT/figures/ and OUT/promotion.json; logs them into the training's MLflow run
    (TRAIN_DIR/run.json); decides whether each new registered version should get the
    ``champion`` alias (only if it beats the current champion on the same test rows) and,
    with --promote, moves the alias (``python -m pipeline.promote OUT/promotion.json``).
    """
    # the models, LightGBM and MLflow load when the command runs, not for --help
    import pandas as pd

    from models import evaluate as ev
    from models.challenger import promote_models
    from models.evaluation import evaluate_models
    from models.lgbm import EVALUATION_DIR, CalibratedBooster

    setup_logging(verbose)
    cfg = ev.EvaluateConfig.from_params(load_params("evaluate", params))
    fcfg = FeaturizeConfig.from_params(load_params("featurize", params))
    from models.reporting.figures import check_lang

    lang = check_lang(load_params("report", params)["lang"])
    training = pd.read_parquet(featurize_dir / TRAINING_FILE)
    recovery = _read_table(featurize_dir / RECOVERY_FILE)
    models_dir = train_dir / EVALUATION_DIR
    if not (models_dir / CHURN_DIR).is_dir():
        models_dir = train_dir  # a train output without refits: the models are the evaluated ones
    churn_model = CalibratedBooster.load(models_dir / CHURN_DIR)
    uplift_model = _load_uplift(models_dir)
    evaluation = evaluate_models(training, recovery, churn_model, uplift_model, cfg, fcfg)
    record = _run_record(train_dir) if track else None
    decisions: dict[str, Any] = {}
    if record is not None:
        decisions = promote_models(
            evaluation,
            churn_model,
            record,
            cfg,
            fcfg,
            tables={"churn": training, "recovery": recovery},
            uplift_model=uplift_model,
        )
    elif track:
        logger.warning(
            "no %s/run.json: nothing logged to MLflow, no champion/challenger", train_dir
        )
    evaluation.metrics["promotion"] = {
        name: {
            "promoted": d["promoted"],
            "version": d["version"],
            "candidate": d["candidate"],
            "champion": d["champion"],
            "floor": d["floor"],
            "reason": d["reason"],
        }
        for name, d in decisions.items()
    }
    write_outputs(evaluation, out, lang)
    (out / "promotion.json").write_text(
        json.dumps(ev.jsonable(decisions), indent=2, ensure_ascii=False) + "\n"
    )
    if record is not None:
        log_to_run(record, out, evaluation, decisions)
        if promote:
            from models import tracking

            tracking.apply_decisions([{"model": n, **d} for n, d in decisions.items()])
    _echo_summary(evaluation, decisions, cfg)
    typer.echo(f"\nwritten to {out}")


def _echo_summary(evaluation: Evaluation, decisions: dict[str, Any], cfg: EvaluateConfig) -> None:
    """Print the comparison table, the intervals of the differences and the decisions."""
    import pandas as pd

    from models import evaluate as ev
    from models.evaluation import NO_OUTREACH
    from models.reporting import evaluation as reporting

    rec = evaluation.metrics["recovery"]
    table = reporting.comparison_table(
        evaluation.metrics["churn"], rec if rec.get("available") else None
    )
    with pd.option_context("display.width", 120, "display.float_format", "{:.4f}".format):
        typer.echo(table.to_string(index=False, na_rep="-"))
    churn = evaluation.metrics["churn"]
    typer.echo(f"evaluation scheme: {churn['scheme_text']}")
    typer.echo(
        f"churn: model vs playbook formula ({ev.FORMULA_NOTE}) on the same "
        f"{churn['n']} test rows ({churn['n_customers']} customers)"
    )
    gain = churn.get("roc_auc_gain_interval")
    if gain:
        typer.echo(
            f"  ROC-AUC model - formula: {gain['difference']:+.4f}, "
            f"{cfg.bootstrap_level:.0%} bootstrap interval [{gain['low']:+.4f}, {gain['high']:+.4f}]"
        )
    if rec.get("available"):
        typer.echo(
            f"recovery: uplift model vs playbook scorecard (baseline) vs churn risk (other) on "
            f"{rec['n']} later-campaign rows ({rec['n_control']} control)"
        )
        for other, d in rec.get("qini_difference", {}).items():
            typer.echo(
                f"  Qini uplift model - {other}: {d['difference']:+.4f}, "
                f"{cfg.bootstrap_level:.0%} bootstrap interval [{d['low']:+.4f}, {d['high']:+.4f}]"
                f" (model ahead in {d['share_above_zero']:.0%} of {d['rounds']} resamples)"
            )
    if not rec.get("available"):
        typer.echo(f"\nrecovery: {NO_OUTREACH}")
    for d in decisions.values():
        verdict = "promoted to champion" if d["promoted"] else "not promoted"
        typer.echo(f"{d['model']} v{d['version']}: {verdict}: {d['reason']}")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
