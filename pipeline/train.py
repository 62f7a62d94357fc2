"""Stage ``train``: the churn-risk model and the win-back uplift model, tracked in MLflow.

Usage:
    ``python -m pipeline.train out/featurize --out out/train [--params params.yaml]`` (the DVC
    stage, on the featurize stage's tables) or on any contract data directory (it is then
    featurized first with the ``featurize`` block), e.g. ``winback train DATA_DIR``.

Writes ``OUT/churn/`` and ``OUT/recovery/`` (model directories), ``OUT/split.json`` (the
out-of-time boundaries the evaluate stage uses), ``OUT/train_info.json`` and ``OUT/run.json``
(the MLflow run and registered versions). A directory without an outreach log trains the churn
model alone and says so.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import mlflow
import pandas as pd
import typer

from features.config import FeaturizeConfig
from features.contract import ContractError
from features.mapping import ReadSettings
from features.reading import read_data_dir
from models import tracking
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
from models.churn import refit_churn, train_churn
from models.learners import OutreachDataError
from models.lgbm import EVALUATION_DIR, CalibratedBooster
from models.recovery import (
    UpliftModel,
    labelled_rows,
    refit_recovery,
    train_recovery,
)
from models.split import SplitError
from models.training import TrainConfig
from pipeline.common import load_params, max_invalid_share, read_settings, setup_logging

logger = logging.getLogger(__name__)


class InsufficientDataError(ValueError):
    """Too little history, rows or labels to train and evaluate the churn model."""


@dataclass
class TrainResult:
    """Both models (refit for scoring and as evaluated) and what was learnt about training.

    ``churn`` / ``recovery`` are the deployed models (refitted on every labelled row when
    ``refit`` is on, else the evaluation models themselves); ``churn_eval`` /
    ``recovery_eval`` are the models fitted on the train slice, which the evaluate stage
    scores on the test slice.
    """

    churn: CalibratedBooster
    churn_info: dict[str, Any]
    recovery: UpliftModel | None
    recovery_info: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    churn_eval: CalibratedBooster | None = None
    recovery_eval: UpliftModel | None = None


def train_models(
    training: pd.DataFrame, recovery: pd.DataFrame | None, config: TrainConfig
) -> TrainResult:
    """Train, then refit, the churn model and, when the outreach log allows, the uplift model.

    Args:
        training: The stacked snapshot table.
        recovery: The recovery table (None or empty: no outreach log).
        config: The train settings.

    Returns:
        The models, their info dicts and notes on what was skipped and why.

    Raises:
        InsufficientDataError: The churn model cannot be trained and evaluated on these data
            (the message names each minimum and its params key).
    """
    if training.empty:
        raise InsufficientDataError(
            "no labelled snapshot: a snapshot needs featurize.min_history_days of warm-up "
            "after the first service visit and featurize.horizon_days of observed future, "
            "so the service visits must span at least min_history_days + horizon_days + one "
            "snapshot period (with the defaults 90 + 180 days + 1 month; winback is made for "
            "12 months or more). Use more history, or lower those keys in params.yaml."
        )
    try:
        churn_eval, churn_info = train_churn(training, config.churn)
    except SplitError as exc:
        raise InsufficientDataError(f"cannot train the churn model: {exc}") from exc
    churn = churn_eval
    if config.churn.refit:
        churn, churn_info["refit"] = refit_churn(training, churn_eval, config.churn)
    result = TrainResult(churn, churn_info, None, None, [], churn_eval=churn_eval)
    note = None
    if recovery is None or recovery.empty:
        note = "no outreach log: trained the churn model alone (no win-back/uplift model)"
    elif labelled_rows(recovery).empty:
        note = "outreach log has no labelled rows yet: trained the churn model alone"
    if note is None:
        try:
            model, info = train_recovery(
                recovery, config.recovery, config.learner, no_effect_flags=config.no_effect_flags
            )
        except (SplitError, OutreachDataError) as exc:
            note = f"win-back model not trained (too little outreach data): {exc}"
        else:
            result.recovery_eval, result.recovery, result.recovery_info = model, model, info
            if config.recovery.refit:
                result.recovery, info["refit"] = refit_recovery(
                    recovery, model, config.recovery, config.no_effect_flags
                )
    if note is not None:
        logger.warning(note)
        result.notes.append(note)
    return result


def load_tables(
    data_dir: Path,
    featurize: FeaturizeConfig,
    max_invalid: float,
    reading: ReadSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """The training and recovery tables of a featurize output or of a contract data directory.

    Returns:
        ``(training, recovery or None, source)`` where source says which kind was read.
    """
    if (data_dir / TRAINING_FILE).is_file():
        training = pd.read_parquet(data_dir / TRAINING_FILE)
        rec_path = data_dir / RECOVERY_FILE
        recovery = pd.read_parquet(rec_path) if rec_path.is_file() else None
        return training, recovery, "featurized tables"
    from features.events import prepare
    from features.labels import recovery_from_index, training_table

    data = read_data_dir(data_dir, None, max_invalid, reading=reading)
    index = prepare(data, featurize)
    training = training_table(index, featurize, progress=False)
    outreach = data.tables.get("outreach")
    recovery = None if outreach is None else recovery_from_index(outreach, index, featurize)
    # The raw tables (with names and phone numbers) are not needed past this point.
    del data
    return training, recovery, "contract data directory (featurized in memory)"


def save_models(result: TrainResult, out: Path) -> None:
    """The deployed models to OUT/churn, OUT/recovery; the evaluation models to
    OUT/evaluation/churn, OUT/evaluation/recovery (what the evaluate stage scores)."""
    pairs = [(CHURN_DIR, result.churn, result.churn_eval or result.churn)]
    if result.recovery is not None:
        pairs.append((RECOVERY_DIR, result.recovery, result.recovery_eval or result.recovery))
    for name, deployed, evaluated in pairs:
        deployed.save(out / name)
        evaluated.save(out / EVALUATION_DIR / name)


def _version_tags(model: CalibratedBooster | UpliftModel) -> dict[str, Any]:
    """What a registered version records about the data it learned from."""
    split = model.meta.get("split") or {}
    return {
        "role": model.meta.get("role"),
        "trained_from": model.meta.get("trained_from"),
        "trained_through": model.meta.get("trained_through"),
        "evaluation_scheme": split.get("scheme"),
        "evaluation_test": f"{split.get('test_start')}..{split.get('test_end')}",
    }


def _json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def main(
    data_dir: Annotated[
        Path, typer.Argument(help="Featurize output (training.parquet) or a contract data dir.")
    ],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/train"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'train' (and 'featurize') block.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Train the churn model and the win-back uplift model; log and register them in MLflow.

    Writes OUT/churn/, OUT/recovery/ (model directories), OUT/split.json, OUT/train_info.json
    and OUT/run.json. The tracking store is MLFLOW_TRACKING_URI, else sqlite:///mlflow.db.
    """
    setup_logging(verbose)
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    max_invalid = max_invalid_share(params)
    reading = read_settings(params)
    train_block = load_params("train", params)
    config = TrainConfig.from_params(train_block, featurize)
    t0 = time.perf_counter()
    try:
        training, recovery, source = load_tables(data_dir, featurize, max_invalid, reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    logger.info("read %s from %s: %d snapshot rows", source, data_dir, len(training))
    try:
        result = train_models(training, recovery, config)
    except InsufficientDataError as exc:
        # Refused before anything is written or registered.
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    out.mkdir(parents=True, exist_ok=True)
    save_models(result, out)
    split = {"churn": result.churn_info["split"]}
    if result.recovery is not None:
        split["recovery"] = result.recovery_info["split"]
    _json(split, out / "split.json")
    info = {
        "source": source,
        "churn": result.churn_info,
        "recovery": result.recovery_info,
        "notes": result.notes,
        "train_seconds": round(time.perf_counter() - t0, 2),
    }

    exp_id = tracking.setup(experiment=config.experiment)
    versions: dict[str, str] = {}
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params(tracking.flatten({"train": train_block, "featurize": featurize.__dict__}))
        mlflow.log_metrics(tracking.numeric_metrics({"churn": result.churn_info}))
        mlflow.set_tag("source", source)
        mlflow.set_tag("evaluation_scheme", result.churn_info["split"]["scheme"])
        mlflow.set_tag("evaluation_scheme_text", result.churn_info["split"]["scheme_text"])
        mlflow.set_tag("churn_trained_through", result.churn.meta["trained_through"])
        mlflow.log_artifacts(str(out / EVALUATION_DIR), artifact_path=EVALUATION_DIR)
        if result.recovery_info is not None:
            mlflow.log_metrics(tracking.numeric_metrics({"recovery": result.recovery_info}))
        if result.notes:
            mlflow.set_tag("notes", "; ".join(result.notes))
        mlflow.log_dict(info, "train/train_info.json")
        mlflow.log_dict(split, "train/split.json")
        tracking.log_feature_dictionary()
        v = tracking.log_model(
            result.churn,
            out / CHURN_DIR,
            training,
            CHURN_NAME if config.register else None,
            "churn",
        )
        if v:
            versions[CHURN_NAME] = v
            tracking.tag_version(CHURN_NAME, v, _version_tags(result.churn))
        if result.recovery is not None:
            v = tracking.log_model(
                result.recovery,
                out / RECOVERY_DIR,
                labelled_rows(recovery),
                RECOVERY_NAME if config.register else None,
                "recovery",
            )
            if v:
                versions[RECOVERY_NAME] = v
                tracking.tag_version(RECOVERY_NAME, v, _version_tags(result.recovery))
        record = RunRecord(
            run_id=run.info.run_id,
            experiment=config.experiment,
            experiment_id=exp_id,
            tracking_uri=mlflow.get_tracking_uri(),
            versions=versions,
        )
    record.save(out / RUN_FILE)
    info["mlflow"] = record.__dict__
    _json(info, out / "train_info.json")
    typer.echo(f"evaluation: {result.churn_info['split']['scheme_text']}")
    typer.echo(
        f"churn model: best iteration {result.churn_info['best_iteration']}, valid ROC-AUC "
        f"{result.churn_info['valid_auc']}; "
        + (
            f"recovery model ({config.learner}-learner): valid Qini "
            f"{result.recovery_info['valid_qini']}"
            if result.recovery_info
            else "; ".join(result.notes)
        )
        + f"; scoring models learned from data through {result.churn.meta['trained_through']}"
        + f"; MLflow run {record.run_id}, versions {versions or 'not registered'}; written to {out}"
    )


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
