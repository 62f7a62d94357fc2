"""Stage ``evaluate``: out-of-time evaluation against the playbook baselines; champion/challenger.

Usage: ``python -m pipeline.evaluate out/featurize out/train --out out/evaluate
[--params params.yaml]`` (the DVC stage; ``winback evaluate`` is the same code).

Reads the featurize outputs (``training.parquet``, ``recovery.parquet``) and the train outputs
(``churn/``, ``recovery/``, ``run.json``), scores the out-of-time test slices that the models'
own saved split boundaries define, and writes to OUT:

* ``metrics.json`` — DVC metrics (churn model vs formula, uplift model vs scorecard vs churn
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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.config import FeaturizeConfig
from features.files import neutralise
from models import evaluate as ev
from models import evaluate_recovery as evr
from models.artifacts import (
    CHURN_DIR,
    CHURN_NAME,
    RECOVERY_DIR,
    RECOVERY_FILE,
    RECOVERY_NAME,
    RUN_FILE,
    TRAINING_FILE,
    RunRecord,
)
from models.lgbm import EVALUATION_DIR, CalibratedBooster
from models.reporting import evaluation as reporting
from models.split import apply_boundaries
from pipeline.common import load_params, setup_logging

logger = logging.getLogger(__name__)

NO_OUTREACH = "no outreach log with labelled control and treated rows: churn evaluated alone"


@dataclass
class Evaluation:
    """Everything one evaluation produces (pure data; written by :func:`write_outputs`).

    Attributes:
        metrics: JSON-able nested metrics (``churn``, ``recovery``; ``promotion`` once decided).
        segments: Per-segment churn table (:func:`models.evaluate.churn_segments`).
        curves: Plot data by kind (``roc``, ``pr``, ``lift``, ``calibration``, ``qini``, …).
        churn_rows: The churn test rows with both scores (:func:`models.evaluate.churn_frame`).
        churn_test: Their feature rows (same index), to score another churn model on them.
        recovery_rows: The recovery test rows with the three rankings, or None.
        recovery_test: Their feature rows (same index), or None.
    """

    metrics: dict[str, Any]
    segments: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    churn_rows: pd.DataFrame
    churn_test: pd.DataFrame
    recovery_rows: pd.DataFrame | None = None
    recovery_test: pd.DataFrame | None = None


def churn_test_rows(training: pd.DataFrame, boundaries: dict[str, Any]) -> pd.DataFrame:
    """The out-of-time test slice of the training table, from the saved split boundaries."""
    return apply_boundaries(training, boundaries)["test"]


def recovery_test_rows(recovery: pd.DataFrame, boundaries: dict[str, Any]) -> pd.DataFrame:
    """The later campaigns: labelled outreach rows in the recovery split's test slice."""
    labelled = recovery.loc[recovery["labelled"].astype(bool) & recovery["recovered"].notna()]
    return apply_boundaries(labelled, boundaries)["test"]


def evaluate_models(
    training: pd.DataFrame,
    recovery: pd.DataFrame | None,
    churn_model: CalibratedBooster,
    uplift_model: Any | None,
    config: ev.EvaluateConfig | None = None,
    featurize_config: FeaturizeConfig | None = None,
) -> Evaluation:
    """Evaluate the churn model (and the uplift model, if any) on their out-of-time test rows.

    Args:
        training: The featurize stage's training table.
        recovery: Its recovery table (None or empty without an outreach log).
        churn_model: The trained churn model; ``meta["split"]`` holds its split boundaries.
        uplift_model: The trained uplift model (:class:`models.recovery.UpliftModel`:
            ``predict``, ``action_shares``, ``meta["split"]``), or None.
        config: Evaluation settings; defaults when None.
        featurize_config: Settings of the baselines; defaults when None.

    Returns:
        The metrics, segment table, plot data and the scored rows.
    """
    cfg = config or ev.EvaluateConfig()
    split = churn_model.meta["split"]
    test = churn_test_rows(training, split)
    churn_rows = ev.churn_frame(test, churn_model.predict_proba(test), cfg, featurize_config)
    churn = ev.evaluate_churn(churn_rows, cfg)
    churn["test_start"], churn["test_end"] = split.get("test_start"), split.get("test_end")
    churn["scheme"], churn["scheme_text"] = split.get("scheme"), split.get("scheme_text")
    curves = ev.churn_curves(churn_rows, cfg)
    metrics: dict[str, Any] = {"churn": churn}
    rec_rows = rec_test = None
    if uplift_model is None or recovery is None or recovery.empty:
        metrics["recovery"] = {"available": False, "note": NO_OUTREACH}
        logger.info(NO_OUTREACH)
    else:
        rec_split = uplift_model.meta["split"]
        rec_test = recovery_test_rows(recovery, rec_split)
        rec_rows = score_recovery(rec_test, uplift_model, churn_model, featurize_config)
        rec = evr.evaluate_recovery(rec_rows, cfg)
        rec.update(
            available=True,
            test_start=rec_split.get("test_start"),
            test_end=rec_split.get("test_end"),
            scheme=rec_split.get("scheme"),
            scheme_text=rec_split.get("scheme_text"),
            action_weights=dict(uplift_model.action_shares),
        )
        metrics["recovery"] = rec
        curves.update(evr.recovery_curves(rec_rows, cfg))
    return Evaluation(
        metrics=metrics,
        segments=ev.churn_segments(churn_rows, cfg),
        curves=curves,
        churn_rows=churn_rows,
        churn_test=test.loc[churn_rows.index],
        recovery_rows=rec_rows,
        recovery_test=rec_test,
    )


def score_recovery(
    test: pd.DataFrame,
    uplift_model: Any,
    churn_model: CalibratedBooster,
    featurize_config: FeaturizeConfig | None = None,
) -> pd.DataFrame:
    """Recovery test rows scored by the uplift model, the scorecard and the churn risk."""
    return evr.recovery_frame(
        test,
        uplift_model.predict(test),
        churn_model.predict_proba(test),
        uplift_model.action_shares,
        featurize_config,
    )


def churn_score(
    model: CalibratedBooster, evaluation: Evaluation, config: ev.EvaluateConfig | None = None
) -> float:
    """The decisive churn metric of any churn model on exactly the evaluation's test rows.

    Raises:
        models.lgbm.FeatureMismatchError: The model cannot score these rows.
    """
    cfg = config or ev.EvaluateConfig()
    frame = evaluation.churn_rows.assign(model=model.predict_proba(evaluation.churn_test))
    return float(ev.evaluate_churn(frame, cfg)["model"][cfg.churn_metric])


def recovery_score(
    model: Any,
    evaluation: Evaluation,
    churn_model: CalibratedBooster,
    config: ev.EvaluateConfig | None = None,
    featurize_config: FeaturizeConfig | None = None,
) -> float:
    """The decisive recovery metric (overall, uplift model) of any uplift model on the rows.

    Raises:
        ValueError: No recovery rows in the evaluation, or the model lacks an action.
        models.lgbm.FeatureMismatchError: The model cannot score these rows.
    """
    cfg = config or ev.EvaluateConfig()
    if evaluation.recovery_test is None:
        raise ValueError("the evaluation has no recovery test rows")
    rows = score_recovery(evaluation.recovery_test, model, churn_model, featurize_config)
    return float(evr.evaluate_recovery(rows, cfg)[evr.UPLIFT_MODEL][cfg.recovery_metric])


# --------------------------------------------------------------------------------------------
# I/O


def write_outputs(evaluation: Evaluation, out: Path) -> list[Path]:
    """Write metrics.json, the tables, the plot data and the figures under ``out``.

    Returns:
        Every file written.
    """
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
    written += reporting.curve_figures(evaluation.curves, out / "figures")
    return written


def _load_uplift(train_dir: Path) -> Any | None:
    path = train_dir / RECOVERY_DIR
    if not path.is_dir():
        return None
    from models.recovery import UpliftModel

    return UpliftModel.load(path)


def _read_table(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def in_experiment() -> bool:
    """True inside ``dvc exp run`` (DVC sets ``DVC_EXP_NAME`` / ``DVC_EXP_BASELINE_REV``)."""
    return bool(os.environ.get("DVC_EXP_NAME") or os.environ.get("DVC_EXP_BASELINE_REV"))


def churn_floor(metrics: dict[str, Any], config: ev.EvaluateConfig) -> str | None:
    """Why the churn candidate may not be champion (None: it beats the playbook formula).

    The floor: ROC-AUC above the formula's on the same test rows, with the bootstrap
    interval of the difference above 0 (the point difference when bootstrap_rounds is 0).
    """
    churn = metrics["churn"]
    gain = churn.get("roc_auc_gain_interval")
    if gain is not None:
        if gain["low"] > 0:
            return None
        return (
            f"does not beat the playbook formula on its test rows: ROC-AUC difference "
            f"{gain['difference']:+.4f}, {config.bootstrap_level:.0%} bootstrap interval "
            f"[{gain['low']:+.4f}, {gain['high']:+.4f}] (the interval must lie above 0)"
        )
    if churn["roc_auc_gain"] > 0:
        return None
    return f"does not beat the playbook formula: ROC-AUC difference {churn['roc_auc_gain']:+.4f}"


def recovery_floor(metrics: dict[str, Any]) -> str | None:
    """Why the uplift candidate may not be champion (None: it beats ranking by churn risk)."""
    rec = metrics["recovery"]
    ours, theirs = rec[evr.UPLIFT_MODEL]["qini"], rec[evr.CHURN_RISK]["qini"]
    if ours > theirs:
        return None
    return (
        f"does not beat ranking by churn risk on its test contacts: Qini {ours:.4f} vs {theirs:.4f}"
    )


def retrain_champion(champion: Any, kind: str, table: pd.DataFrame, boundaries: dict) -> Any:
    """The champion's configuration retrained on the candidate's training window.

    A deployed champion was refitted on every labelled row, so scoring it as is on today's
    test rows would let it be judged on rows it learned from. Its recorded configuration
    (``meta["config"]``) is trained again on exactly the candidate's train / valid / calib
    slices. A champion without a recorded configuration (an evaluation model from before
    refits) is returned as is.

    Raises:
        ValueError, KeyError, models.split.SplitError: The configuration cannot be trained
            on these rows (e.g. a feature the table no longer has).
    """
    record = getattr(champion, "meta", {}).get("config")
    if record is None or champion.meta.get("role") != "deployed":
        return champion
    from models.churn import config_from_record, train_churn
    from models.recovery import labelled_rows, train_recovery
    from models.split import TimeSplit

    cfg = config_from_record(record)
    rows = table if kind == "churn" else labelled_rows(table)
    split = TimeSplit(**apply_boundaries(rows, boundaries), boundaries=boundaries)
    if kind == "churn":
        return train_churn(rows, cfg, split=split)[0]
    learner = champion.meta.get("learner", champion.learner)
    flags = champion.meta.get("no_effect_flags", ())
    return train_recovery(rows, cfg, learner, split=split, no_effect_flags=flags)[0]


def same_recipe(champion: Any, config: dict | None, kind: str, uplift_model: Any) -> bool:
    """True when the champion was trained with exactly the candidate's configuration."""
    meta = getattr(champion, "meta", {}) or {}
    if config is None or meta.get("config") != config or meta.get("role") != "deployed":
        return False
    return kind == "churn" or meta.get("learner") == getattr(uplift_model, "learner", None)


def promote_models(
    evaluation: Evaluation,
    churn_model: CalibratedBooster,
    record: Any,
    config: ev.EvaluateConfig,
    featurize_config: FeaturizeConfig,
    tables: dict[str, pd.DataFrame | None] | None = None,
    uplift_model: Any | None = None,
) -> dict[str, Any]:
    """Champion/challenger for both registered models, decided on evaluation models.

    The registered candidate is the refit of the evaluated model; the decision is made on
    the evaluation model (``churn_model`` / ``uplift_model``, fitted on the train slice only)
    and the current champion's configuration retrained on the same training window
    (:func:`retrain_champion`), both scored on the same test rows: ROC-AUC of the churn
    probability for ``winback-churn``, the Qini coefficient of the uplift ranking for
    ``winback-recovery`` (``churn_metric`` / ``recovery_metric`` in params). The candidate
    gets the ``champion`` alias only if it clears its floor (:func:`churn_floor`,
    :func:`recovery_floor`), wins by more than ``min_improvement``, and this is not a
    ``dvc exp run`` (unless ``promote_in_experiments``).

    Args:
        evaluation: The candidate's evaluation.
        churn_model: The candidate's evaluation churn model.
        record: :class:`models.artifacts.RunRecord` of the training run (registered versions).
        config: Evaluation settings.
        featurize_config: Settings of the baselines.
        tables: ``{"churn": training table, "recovery": recovery table}`` to retrain the
            champion's configuration on; without them a champion is scored as is.
        uplift_model: The candidate's evaluation uplift model (for the recovery boundaries).

    Returns:
        ``{registered name: decision}`` (see :func:`models.tracking.challenge`).
    """
    from models import tracking

    tables = tables or {}
    metrics = evaluation.metrics
    tasks = [
        (
            CHURN_NAME,
            "churn",
            metrics["churn"][ev.CHURN_MODEL][config.churn_metric],
            lambda m: churn_score(m, evaluation, config),
            config.churn_metric,
            churn_floor(metrics, config),
            churn_model.meta.get("split"),
        )
    ]
    if metrics["recovery"].get("available"):
        tasks.append(
            (
                RECOVERY_NAME,
                "recovery",
                metrics["recovery"][evr.UPLIFT_MODEL][config.recovery_metric],
                lambda m: recovery_score(m, evaluation, churn_model, config, featurize_config),
                config.recovery_metric,
                recovery_floor(metrics),
                None if uplift_model is None else uplift_model.meta.get("split"),
            )
        )
    hold = None
    if in_experiment() and not config.promote_in_experiments:
        hold = (
            "dvc exp run: the champion alias is not moved in an experiment "
            "(set evaluate.promote_in_experiments: true to allow it)"
        )
    decisions = {}
    for name, kind, candidate, score, metric, floor, boundaries in tasks:
        version = record.versions.get(name)
        current = tracking.load_champion(name)
        champ_version, champion = current if current is not None else (None, None)
        if champ_version is not None and champ_version == version:
            champion = None  # re-evaluating the champion itself: nothing to compare
        note = ""
        unscored = None
        candidate_config = (churn_model if kind == "churn" else uplift_model).meta.get("config")
        if champion is not None and same_recipe(champion, candidate_config, kind, uplift_model):
            # Retrained on the same window the champion's recipe is the candidate itself: the
            # question is only whether newer data should replace it, and it should.
            unscored = (
                f"same configuration as the champion v{champ_version}: its refit on the newer "
                "data replaces it"
            )
            champion = None
        if champion is not None and tables.get(kind) is not None and boundaries:
            try:
                champion = retrain_champion(champion, kind, tables[kind], boundaries)
            except (ValueError, KeyError, TypeError) as exc:  # TypeError: an unknown setting
                note = f" (the champion's configuration could not be retrained here: {exc})"
                logger.warning("%s champion v%s not retrained: %s", name, champ_version, exc)
                champion = None

        def promote(n, v, cand, champ, _metric=metric, _floor=floor, _unscored=unscored):
            return tracking.decide_promotion(
                n,
                v,
                cand,
                champ,
                min_delta=config.min_improvement,
                metric=_metric,
                blocked=_floor,
                hold=hold,
                unscored=_unscored,
            )

        decisions[name] = tracking.challenge(
            name, version, candidate, champion, champ_version, score, promote, metric
        )
        decisions[name]["reason"] += note
        decisions[name]["floor"] = floor or "cleared"
    return decisions


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

    Writes OUT/metrics.json (DVC metrics), OUT/segments.csv, OUT/recovery_by_action.csv,
    OUT/plots/, OUT/figures/ and OUT/promotion.json; logs them into the training's MLflow run
    (TRAIN_DIR/run.json); decides whether each new registered version should get the
    ``champion`` alias (only if it beats the current champion on the same test rows) and,
    with --promote, moves the alias (``python -m pipeline.promote OUT/promotion.json``).
    """
    setup_logging(verbose)
    cfg = ev.EvaluateConfig.from_params(load_params("evaluate", params))
    fcfg = FeaturizeConfig.from_params(load_params("featurize", params))
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
    write_outputs(evaluation, out)
    (out / "promotion.json").write_text(
        json.dumps(ev.jsonable(decisions), indent=2, ensure_ascii=False) + "\n"
    )
    if record is not None:
        log_to_run(record, out, evaluation, decisions)
        if promote:
            from models import tracking

            tracking.apply_decisions([{"model": n, **d} for n, d in decisions.items()])
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
    typer.echo(f"\nwritten to {out}")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
