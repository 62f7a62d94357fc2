"""The evaluation of one training: both models scored on their out-of-time test rows.

:func:`evaluate_models` assembles the churn metrics (:mod:`models.evaluate`), the recovery
comparison (:mod:`models.evaluate_recovery`), the plot data and the scored test rows into one
:class:`Evaluation`; :func:`churn_score` and :func:`recovery_score` score any other model of
the same kind on exactly those rows (what champion/challenger compares, :mod:`models.challenger`).
The stage (:mod:`pipeline.evaluate`) loads the models and tables, calls these and writes the
results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.config import FeaturizeConfig
from models import evaluate as ev
from models import evaluate_recovery as evr
from models.lgbm import CalibratedBooster
from models.split import apply_boundaries

logger = logging.getLogger(__name__)

NO_OUTREACH = "no outreach log with labelled control and treated rows: churn evaluated alone"


@dataclass
class Evaluation:
    """Everything one evaluation produces (pure data; the evaluate stage writes it).

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
