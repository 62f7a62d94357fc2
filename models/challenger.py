"""Champion/challenger: whether a newly registered model version should become ``champion``.

The candidate's evaluation model and the current champion's configuration, retrained on the
same training window, are scored on the same out-of-time test rows (:mod:`models.evaluation`);
the candidate must also clear its floor (beat the playbook baseline). The decisions are
applied to the registry by :func:`models.tracking.apply_decisions` (the ``promote`` stage).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from features.config import FeaturizeConfig
from models import evaluate as ev
from models import evaluate_recovery as evr
from models.artifacts import CHURN_NAME, RECOVERY_NAME
from models.evaluation import Evaluation, churn_score, recovery_score
from models.lgbm import CalibratedBooster
from models.split import apply_boundaries

logger = logging.getLogger(__name__)


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
    if tracking.in_experiment() and not config.promote_in_experiments:
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
