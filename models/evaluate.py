"""Out-of-time evaluation of the churn model against the playbook formula.

Everything here is a pure function over frames of predictions: the stage
(:mod:`pipeline.evaluate`) loads models and data, calls these, and writes the results; the
recovery (win-back) rankings are evaluated in :mod:`models.evaluate_recovery` and the figures
and tables for humans are drawn by :mod:`models.reporting.evaluation`.

**Same rows.** The churn model and the playbook formula are scored on exactly the same test
rows (:func:`churn_frame` keeps only rows where both scores exist and records how many it
set aside). The formula is a points score, not a probability, so it gets ranking metrics only
(ROC-AUC, PR-AUC, top-decile lift/capture); log-loss, Brier and ECE are reported for the model
alone.

Ties in a score are broken by row order for the lift curve.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from features import vocabulary
from features.baseline import formula_risk
from features.config import FeaturizeConfig, config_from_params
from models.metrics import (
    auc_difference_interval,
    calibration_table,
    classification_report,
    ranking_report,
    top_fraction_lift,
)

logger = logging.getLogger(__name__)

KEYS = ["customer_id", "as_of"]
#: Names of the churn scorers in every output (metrics keys, plot ``model`` column).
CHURN_MODEL, FORMULA = "model", "formula"
RANDOM = "random"
# short: DVC prints it as a metrics column
FORMULA_NOTE = "points score, not a probability: ranking metrics only"


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation settings; the fields mirror the ``evaluate:`` block of params.yaml.

    Attributes:
        tier_feature: Feature that defines the value tier (trailing-year spend, CNY).
        tier_bounds: ``(low, high)``: spend ``< low`` → low, ``low..high`` → mid, ``> high``
            → high; missing spend → ``unknown``.
        segment_by: Columns to report per-segment metrics for (``value_tier`` is derived).
        n_bins: Equal-width bins of the calibration table and ECE.
        top_fraction: Share targeted for top-decile lift and capture.
        uplift_fraction: Share targeted for uplift@k (0.3 = uplift@30%).
        curve_points: Most points per curve in the plot data.
        min_segment_rows: Segments with fewer rows are reported with their size but no
            metrics (an AUC on a handful of rows is noise).
        churn_metric: Metric of the churn model that decides champion/challenger.
        recovery_metric: Metric of the uplift model that decides champion/challenger.
        min_improvement: A challenger must beat the champion by more than this to be promoted.
        bootstrap_rounds: Resamples of the bootstrap interval of the uplift model's Qini minus
            each baseline's (0 = no interval).
        bootstrap_level: Coverage of that interval (0.95 = 2.5th..97.5th percentile).
        bootstrap_seed: Seed of the resampling (same rows and seed → same interval).
        promote_in_experiments: Let a ``dvc exp run`` (``DVC_EXP_NAME`` set) move the
            ``champion`` alias; off by default, so experiments never change production.
    """

    tier_feature: str = "spend_365d"
    tier_bounds: tuple[float, float] = vocabulary.TIER_BOUNDS
    segment_by: tuple[str, ...] = ("value_tier", "dealer_id")
    n_bins: int = 10
    top_fraction: float = 0.1
    uplift_fraction: float = 0.3
    curve_points: int = 200
    min_segment_rows: int = 100
    churn_metric: str = "roc_auc"
    recovery_metric: str = "qini"
    min_improvement: float = 0.0
    bootstrap_rounds: int = 1000
    bootstrap_level: float = 0.95
    bootstrap_seed: int = 0
    promote_in_experiments: bool = False

    def __post_init__(self) -> None:
        low, high = self.tier_bounds
        if not low <= high:
            raise ValueError(f"tier_bounds must be (low, high) with low <= high, got {low, high}")
        for name in ("top_fraction", "uplift_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.curve_points < 2 or self.n_bins < 1:
            raise ValueError("curve_points must be >= 2 and n_bins >= 1")
        if self.bootstrap_rounds < 0 or not 0 < self.bootstrap_level < 1:
            raise ValueError("bootstrap_rounds must be >= 0 and bootstrap_level in (0, 1)")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> EvaluateConfig:
        """Build from the ``evaluate:`` params block; unknown keys are an error.

        Args:
            params: The block (may be None or empty).

        Returns:
            The config with the block's values over the defaults.

        Raises:
            ValueError: A key is not a field of this config.
        """
        return config_from_params(cls, params, "evaluate")


# --------------------------------------------------------------------------------------------
# churn


def churn_frame(
    test: pd.DataFrame,
    proba: np.ndarray,
    config: EvaluateConfig | None = None,
    featurize_config: FeaturizeConfig | None = None,
) -> pd.DataFrame:
    """The rows both churn scorers are evaluated on, with both scores side by side.

    Args:
        test: Out-of-time test rows of the training table (keys, features, ``churn``).
        proba: The model's calibrated churn probability per row of ``test``.
        config: Evaluation settings (tier bounds); defaults when None.
        featurize_config: Settings of the formula (missing-signal rule); defaults when None.

    Returns:
        ``customer_id``, ``as_of``, ``churn``, ``value_tier``, the other ``segment_by``
        columns, ``model`` (probability) and ``formula`` (playbook risk points), for the rows
        where both scores exist (index of ``test`` kept). ``attrs["dropped"]`` counts rows set aside (no formula score:
        never visited; or no model score).

    Raises:
        ValueError: ``proba`` does not have one value per row.
    """
    cfg = config or EvaluateConfig()
    proba = np.asarray(proba, dtype="float64")
    if proba.shape != (len(test),):
        raise ValueError(f"expected {len(test)} probabilities, got shape {proba.shape}")
    out = test[[*KEYS, "churn"]].copy()
    out["value_tier"] = vocabulary.value_tier(
        test[cfg.tier_feature], cfg.tier_bounds, missing=vocabulary.UNKNOWN_TIER
    )
    for col in cfg.segment_by:
        if col != "value_tier" and col in test.columns:
            out[col] = test[col].astype("str").where(test[col].notna(), vocabulary.UNKNOWN_TIER)
    out[CHURN_MODEL] = proba
    out[FORMULA] = formula_risk(test, featurize_config).to_numpy()
    keep = out[CHURN_MODEL].notna() & out[FORMULA].notna()
    dropped = int((~keep).sum())
    if dropped:
        logger.info(
            "churn evaluation: %d of %d rows set aside (no formula score)", dropped, len(out)
        )
    # the index of ``test`` is kept so callers can find each row's features again
    out = out.loc[keep]
    out["churn"] = out["churn"].astype("int64")
    out.attrs["dropped"] = dropped
    return out


def evaluate_churn(frame: pd.DataFrame, config: EvaluateConfig | None = None) -> dict[str, Any]:
    """Model vs formula on the rows of :func:`churn_frame`.

    Args:
        frame: Output of :func:`churn_frame`.
        config: Settings (ECE bins); defaults when None.

    Returns:
        ``n``, ``positive_rate``, ``rows_set_aside``, ``model`` (classification metrics),
        ``formula`` (ranking metrics and a ``note`` saying why only those),
        ``roc_auc_gain`` and ``pr_auc_gain`` (model − formula).
    """
    cfg = config or EvaluateConfig()
    y = frame["churn"].to_numpy()
    model = classification_report(y, frame[CHURN_MODEL].to_numpy(), cfg.n_bins)
    model.update(_top(y, frame[CHURN_MODEL].to_numpy(), cfg.top_fraction))
    formula = ranking_report(y, frame[FORMULA].to_numpy())
    formula.update(_top(y, frame[FORMULA].to_numpy(), cfg.top_fraction))
    for rep in (model, formula):
        rep.pop("n", None)
        rep.pop("positive_rate", None)
    formula["note"] = FORMULA_NOTE
    out = {
        "n": len(frame),
        "n_customers": int(frame["customer_id"].nunique()),
        "positive_rate": float(y.mean()),
        "rows_set_aside": int(frame.attrs.get("dropped", 0)),
        CHURN_MODEL: model,
        FORMULA: formula,
        "roc_auc_gain": model["roc_auc"] - formula["roc_auc"],
        "pr_auc_gain": model["pr_auc"] - formula["pr_auc"],
    }
    if cfg.bootstrap_rounds > 0 and 0 < y.sum() < len(y):
        # The promotion floor: the model must beat the formula beyond the luck of the test rows.
        out["roc_auc_gain_interval"] = auc_difference_interval(
            y,
            frame[CHURN_MODEL].to_numpy(),
            frame[FORMULA].to_numpy(),
            cfg.bootstrap_rounds,
            cfg.bootstrap_level,
            cfg.bootstrap_seed,
        )
    return out


def _top(y: np.ndarray, s: np.ndarray, fraction: float) -> dict[str, float]:
    # ranking_report fixes the decile; this honours the configured fraction under the same keys
    lift = top_fraction_lift(y, s, fraction)
    return {"top_decile_lift": lift["lift"], "top_decile_capture": lift["capture"]}


def churn_segments(frame: pd.DataFrame, config: EvaluateConfig | None = None) -> pd.DataFrame:
    """Model vs formula per value tier and per dealer (and any other ``segment_by`` column).

    Args:
        frame: Output of :func:`churn_frame`.
        config: Settings; defaults when None.

    Returns:
        One row per segment value, plus ``segment == "all"``: ``segment``, ``value``, ``n``,
        ``positive_rate``, ``mean_predicted``, ``model_<m>`` and ``formula_<m>`` for ROC-AUC,
        PR-AUC, top-decile lift and capture, ``roc_auc_gain``, and ``model_log_loss``,
        ``model_brier``, ``model_ece``. Metrics are NaN for segments below
        ``min_segment_rows`` or with a single class.
    """
    cfg = config or EvaluateConfig()
    rows = [_segment_row("all", "all", frame, cfg)]
    for col in cfg.segment_by:
        if col not in frame.columns:
            logger.info("no column %r on the test rows: no per-%s metrics", col, col)
            continue
        values = frame[col].astype("str")
        order = (
            [t for t in (*vocabulary.TIERS, vocabulary.UNKNOWN_TIER) if t in set(values)]
            if col == "value_tier"
            else None
        )
        for value in order or sorted(values.unique()):
            rows.append(_segment_row(col, value, frame.loc[values == value], cfg))
    return pd.DataFrame(rows)


def _segment_row(segment: str, value: str, part: pd.DataFrame, cfg: EvaluateConfig) -> dict:
    y = part["churn"].to_numpy()
    row: dict[str, Any] = {
        "segment": segment,
        "value": value,
        "n": len(part),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_predicted": float(part[CHURN_MODEL].mean()) if len(y) else float("nan"),
    }
    names = ["roc_auc", "pr_auc", "top_decile_lift", "top_decile_capture"]
    nan = float("nan")
    enough = len(part) >= cfg.min_segment_rows and 0 < y.sum() < len(y)
    model = formula = {}
    if enough:
        model = classification_report(y, part[CHURN_MODEL].to_numpy(), cfg.n_bins)
        model.update(_top(y, part[CHURN_MODEL].to_numpy(), cfg.top_fraction))
        formula = ranking_report(y, part[FORMULA].to_numpy())
        formula.update(_top(y, part[FORMULA].to_numpy(), cfg.top_fraction))
    for name in names:
        row[f"model_{name}"] = model.get(name, nan)
        row[f"formula_{name}"] = formula.get(name, nan)
    row["roc_auc_gain"] = row["model_roc_auc"] - row["formula_roc_auc"]
    for name in ("log_loss", "brier", "ece"):
        row[f"model_{name}"] = model.get(name, nan)
    return row


# --------------------------------------------------------------------------------------------
# plot data


def downsample(df: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` evenly spaced rows of a curve, keeping its first and last point."""
    if len(df) <= max_points:
        return df.reset_index(drop=True)
    idx = np.unique(np.round(np.linspace(0, len(df) - 1, max_points)).astype("int64"))
    return df.iloc[idx].reset_index(drop=True)


def roc_points(y_true, y_score, max_points: int = 200) -> pd.DataFrame:
    """ROC curve as ``fpr``, ``tpr``, ``threshold``, at most ``max_points`` rows."""
    fpr, tpr, thr = roc_curve(y_true, y_score)
    thr = np.where(np.isfinite(thr), thr, np.nan)
    return downsample(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr}), max_points)


def pr_points(y_true, y_score, max_points: int = 200) -> pd.DataFrame:
    """Precision-recall curve as ``recall``, ``precision``, ``threshold`` (recall ascending)."""
    precision, recall, thr = precision_recall_curve(y_true, y_score)
    df = pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.r_[thr, np.nan]})
    return downsample(df.iloc[::-1], max_points)


def gains_points(y_true, y_score, max_points: int = 200) -> pd.DataFrame:
    """Cumulative gains and lift: ``fraction`` targeted, ``capture`` of positives, ``lift``.

    Rows are targeted by descending score (ties by row order, as in
    :func:`models.metrics.top_fraction_lift`); the curve starts at the first row.
    """
    y = np.asarray(y_true, dtype="float64")
    order = np.argsort(-np.asarray(y_score, dtype="float64"), kind="stable")
    cum = np.cumsum(y[order])
    k = np.arange(1, len(y) + 1)
    total = cum[-1] if len(cum) and cum[-1] > 0 else np.nan
    df = pd.DataFrame({"fraction": k / len(y), "capture": cum / total})
    df["lift"] = df["capture"] / df["fraction"]
    return downsample(df, max_points)


def churn_curves(
    frame: pd.DataFrame, config: EvaluateConfig | None = None
) -> dict[str, pd.DataFrame]:
    """Plot data of the churn evaluation, long format with a ``model`` column.

    Args:
        frame: Output of :func:`churn_frame`.
        config: Settings (points per curve, calibration bins); defaults when None.

    Returns:
        ``roc`` (model, fpr, tpr, threshold), ``pr`` (model, recall, precision, threshold),
        ``lift`` (model, fraction, capture, lift; plus the ``random`` line) for model and
        formula; ``calibration`` (model, bin_lower, bin_upper, count, mean_predicted,
        observed_rate) for the model only — the formula is not a probability.
    """
    cfg = config or EvaluateConfig()
    y = frame["churn"].to_numpy()
    out: dict[str, list[pd.DataFrame]] = {"roc": [], "pr": [], "lift": []}
    for name in (CHURN_MODEL, FORMULA):
        s = frame[name].to_numpy()
        out["roc"].append(roc_points(y, s, cfg.curve_points).assign(model=name))
        out["pr"].append(pr_points(y, s, cfg.curve_points).assign(model=name))
        out["lift"].append(gains_points(y, s, cfg.curve_points).assign(model=name))
    grid = np.linspace(0.0, 1.0, 11)
    out["lift"].append(
        pd.DataFrame({"fraction": grid, "capture": grid, "lift": 1.0, "model": RANDOM})
    )
    curves = {k: model_first(pd.concat(v, ignore_index=True)) for k, v in out.items()}
    cal = calibration_table(y, frame[CHURN_MODEL].to_numpy(), cfg.n_bins)
    curves["calibration"] = model_first(cal.assign(model=CHURN_MODEL))
    return curves


def model_first(df: pd.DataFrame) -> pd.DataFrame:
    """The plot data with its ``model`` column first."""
    return df[["model", *[c for c in df.columns if c != "model"]]]


# --------------------------------------------------------------------------------------------
# JSON


def jsonable(value: Any) -> Any:
    """Recursively turn numpy scalars into Python ones and NaN/inf into None (valid JSON)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
