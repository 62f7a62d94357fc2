"""Out-of-time evaluation of the churn and recovery models against the playbook baselines.

Everything here is a pure function over frames of predictions: the stage
(:mod:`pipeline.evaluate`) loads models and data, calls these, and writes the results.

**Same rows.** The churn model and the playbook formula are scored on exactly the same test
rows (:func:`churn_frame` keeps only rows where both scores exist and records how many it
set aside). The formula is a points score, not a probability, so it gets ranking metrics only
(ROC-AUC, PR-AUC, top-decile lift/capture); log-loss, Brier and ECE are reported for the model
alone.

**Recovery rankings.** On the later campaigns three rankings are compared with Qini, AUUC and
uplift@k (:func:`evaluate_recovery`):

* ``uplift_model``: the model's predicted uplift. Per action (rows with that action vs the
  control group) the score is the uplift of that action. Overall (any treatment vs control)
  a treated row is scored with the uplift of the action it received, and a control row —
  which received none — with the mean predicted uplift over the actions weighted by each
  action's share of the treated rows in the training slice: the uplift the row would have been
  expected to get had it been treated under the historical action mix.
* ``scorecard``: the playbook win-back scorecard (``winback_score``, higher = target first).
* ``churn_risk``: the churn model's probability on the outreach rows' features (as of contact):
  what a store does when it calls its riskiest customers first.

Ties in a score are targeted together on the Qini curve (see :func:`models.metrics.qini_curve`)
and broken by row order for uplift@k and the lift curve.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from features import vocabulary
from features.baseline import formula_risk, scorecard
from features.config import FeaturizeConfig, config_from_params
from models.metrics import (
    auc_difference_interval,
    auuc,
    calibration_table,
    classification_report,
    percentile_interval,
    qini_coefficient,
    qini_curve,
    ranking_report,
    stratified_bootstrap_weights,
    top_fraction_lift,
    uplift_at,
)

logger = logging.getLogger(__name__)

KEYS = ["customer_id", "as_of"]
#: Names of the scorers in every output (metrics keys, plot ``model`` column).
CHURN_MODEL, FORMULA = "model", "formula"
UPLIFT_MODEL, SCORECARD, CHURN_RISK = "uplift_model", "scorecard", "churn_risk"
RECOVERY_SCORERS = (UPLIFT_MODEL, SCORECARD, CHURN_RISK)
#: The scorecard with customers reported gone (an earlier contact said car sold / moved) last:
#: a stronger, still rule-based baseline, scored when the data record contact outcomes.
SCORECARD_EXCLUSION = "scorecard_exclusion"
GONE_FLAG = "reported_gone"
RANDOM = "random"
TIERS = vocabulary.TIERS
UNKNOWN = vocabulary.UNKNOWN_TIER
CONTROL_ACTION = "none"
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
    tier_bounds: tuple[float, float] = (2000.0, 5000.0)
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
        test[cfg.tier_feature], cfg.tier_bounds, missing=UNKNOWN
    )
    for col in cfg.segment_by:
        if col != "value_tier" and col in test.columns:
            out[col] = test[col].astype("str").where(test[col].notna(), UNKNOWN)
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
        order = [t for t in (*TIERS, UNKNOWN) if t in set(values)] if col == "value_tier" else None
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
# recovery


def action_weights(recovery_train: pd.DataFrame) -> dict[str, float]:
    """Each action's share of the treated rows (the historical action mix).

    Args:
        recovery_train: Outreach rows of the training slice (``group``, ``action``).

    Returns:
        ``{action: share}`` over treated rows, shares summing to 1; empty without treated rows.
    """
    treated = recovery_train.loc[recovery_train["group"] == "treatment", "action"]
    treated = treated[treated != CONTROL_ACTION].dropna()
    if treated.empty:
        return {}
    shares = treated.astype("str").value_counts(normalize=True).sort_index()
    return {str(k): float(v) for k, v in shares.items()}


def recovery_frame(
    test: pd.DataFrame,
    predictions: pd.DataFrame,
    churn_proba: np.ndarray,
    weights: Mapping[str, float],
    featurize_config: FeaturizeConfig | None = None,
) -> pd.DataFrame:
    """The labelled later-campaign rows with the three rankings' scores.

    Args:
        test: Outreach rows of the recovery test slice (keys, ``action``, ``group``,
            ``recovered``, features as of contact).
        predictions: The uplift model's output for ``test`` (same row order): at least
            ``uplift_<action>`` for every action in ``weights``.
        churn_proba: The churn model's probability for each row of ``test``.
        weights: Action shares of the training slice (:func:`action_weights`), used to
            score control rows overall.
        featurize_config: Settings of the scorecard; defaults when None.

    Returns:
        ``customer_id``, ``as_of``, ``action``, ``treatment`` (1/0), ``recovered`` (0/1),
        ``uplift_<action>`` per action, ``uplift_model`` (overall score, see the module
        docstring), ``scorecard`` and ``churn_risk``; only labelled rows with a known group
        and (for treated rows) an action the model predicts; index of ``test`` kept. ``attrs["dropped"]`` counts the
        rows set aside.

    Raises:
        ValueError: Predictions or probabilities do not line up with ``test``, or an action
            of ``weights`` has no uplift column.
    """
    if len(predictions) != len(test) or len(np.asarray(churn_proba)) != len(test):
        raise ValueError("predictions and churn probabilities must have one row per test row")
    actions = list(weights)
    if not actions:
        raise ValueError("no treatment actions to evaluate (empty action weights)")
    missing = [a for a in actions if f"uplift_{a}" not in predictions.columns]
    if missing:
        raise ValueError(f"uplift predictions lack column(s) for action(s): {missing}")
    out = test[KEYS].copy()
    out["action"] = test["action"].astype("str").to_numpy()
    out["treatment"] = (test["group"] == "treatment").astype("int64").to_numpy()
    group_known = test["group"].isin(["treatment", "control"]).to_numpy()
    out["recovered"] = test["recovered"].to_numpy()
    pred = predictions
    uplift = np.column_stack([pred[f"uplift_{a}"].to_numpy(dtype="float64") for a in actions])
    for i, a in enumerate(actions):
        out[f"uplift_{a}"] = uplift[:, i]
    w = np.array([weights[a] for a in actions], dtype="float64")
    expected = uplift @ (w / w.sum())
    received = pd.Series(out["action"]).map({a: i for i, a in enumerate(actions)})
    pos = received.fillna(-1).astype("int64").to_numpy()
    own = np.where(pos >= 0, uplift[np.arange(len(out)), np.clip(pos, 0, None)], np.nan)
    out[UPLIFT_MODEL] = np.where(out["treatment"] == 1, own, expected)
    out[SCORECARD] = scorecard(test, featurize_config)["winback_score"].to_numpy()
    if GONE_FLAG in test.columns and test[GONE_FLAG].notna().any():
        gone = test[GONE_FLAG].fillna(0.0).to_numpy(dtype="float64") > 0
        # below every scorecard value (points are small non-negative numbers)
        out[SCORECARD_EXCLUSION] = out[SCORECARD].to_numpy() - 1.0e6 * gone
    out[CHURN_RISK] = np.asarray(churn_proba, dtype="float64")
    keep = (
        group_known
        & out["recovered"].notna().to_numpy()
        & out[[UPLIFT_MODEL, SCORECARD, CHURN_RISK]].notna().all(axis=1).to_numpy()
    )
    dropped = int((~keep).sum())
    if dropped:
        logger.info(
            "recovery evaluation: %d of %d rows set aside (unlabelled, unknown group or action)",
            dropped,
            len(out),
        )
    out = out.loc[keep]
    out["recovered"] = out["recovered"].astype("int64")
    out.attrs["dropped"] = dropped
    out.attrs["actions"] = actions
    return out


def compare_rankings(
    y_true: np.ndarray,
    treatment: np.ndarray,
    scores: Mapping[str, np.ndarray],
    fraction: float = 0.3,
) -> dict[str, dict[str, float]]:
    """Qini coefficient, AUUC and uplift@``fraction`` of several rankings of the same rows.

    Args:
        y_true: 0/1 outcomes.
        treatment: 1 treated, 0 control.
        scores: Ranking name → score (higher = target first), one per row.
        fraction: Share targeted for uplift@k.

    Returns:
        ``{name: {"qini", "auuc", "uplift_at_<pct>"}}``; NaN when a group is empty.
    """
    key = f"uplift_at_{round(fraction * 100)}"
    y = np.asarray(y_true, dtype="float64")
    t = np.asarray(treatment, dtype="float64")
    both = len(t) and 0 < t.sum() < len(t)
    out: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        if not both:
            out[name] = {"qini": float("nan"), "auuc": float("nan"), key: float("nan")}
            continue
        out[name] = {
            "qini": qini_coefficient(y, t, s),
            "auuc": auuc(y, t, s),
            key: uplift_at(y, t, s, fraction),
        }
    return out


def _sorted_qini(y: np.ndarray, t: np.ndarray, last: np.ndarray, w: np.ndarray) -> float:
    """Qini coefficient of rows already sorted by descending score, each counted ``w`` times.

    ``last`` marks the last row of each run of tied scores (ties are targeted together), as
    in :func:`models.metrics.qini_curve`; with ``w = 1`` this equals
    :func:`models.metrics.qini_coefficient`.
    """
    n_t = np.cumsum(w * t)[last]
    n_c = np.cumsum(w * (1.0 - t))[last]
    r_t = np.cumsum(w * y * t)[last]
    r_c = np.cumsum(w * y * (1.0 - t))[last]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.r_[0.0, r_t - np.where(n_c > 0, r_c * n_t / n_c, 0.0)]
    total = float(w.sum())
    x = np.r_[0.0, np.cumsum(w)[last] / total]
    return float((np.trapezoid(q, x) - q[-1] / 2.0) / total)


def qini_difference_draws(
    y_true: np.ndarray,
    treatment: np.ndarray,
    score: np.ndarray,
    baseline: np.ndarray,
    rounds: int = 1000,
    seed: int = 0,
) -> tuple[float, np.ndarray]:
    """``Qini(score) - Qini(baseline)`` on the rows as given and on ``rounds`` bootstrap draws.

    Treated and control rows are resampled separately (with replacement, group sizes kept),
    and both rankings are scored on each resample. See :func:`qini_difference_interval`.

    Returns:
        ``(difference, draws)``.

    Raises:
        ValueError: Lengths differ, a group is empty or ``rounds`` < 1.
    """
    y = np.asarray(y_true, dtype="float64")
    t = np.asarray(treatment, dtype="float64")
    a = np.asarray(score, dtype="float64")
    b = np.asarray(baseline, dtype="float64")
    if not len(y) == len(t) == len(a) == len(b):
        raise ValueError("y_true, treatment, score and baseline must have one length")
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    groups = [np.flatnonzero(t == 1), np.flatnonzero(t == 0)]
    if any(len(g) == 0 for g in groups):
        raise ValueError("a Qini interval needs both treated and control rows")
    sorted_rows = []
    for s in (a, b):
        order = np.argsort(-s, kind="stable")
        ss = s[order]
        sorted_rows.append((order, np.r_[ss[1:] != ss[:-1], True]))

    def diff(w: np.ndarray) -> float:
        qa, qb = (_sorted_qini(y[o], t[o], last, w[o]) for o, last in sorted_rows)
        return qa - qb

    d = np.fromiter(
        (diff(w) for w in stratified_bootstrap_weights(groups, len(y), rounds, seed)),
        dtype="float64",
        count=rounds,
    )
    return diff(np.ones(len(y))), d


def qini_difference_interval(
    y_true: np.ndarray,
    treatment: np.ndarray,
    score: np.ndarray,
    baseline: np.ndarray,
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Bootstrap interval of ``Qini(score) - Qini(baseline)`` on the same rows.

    Treated and control rows are resampled separately (with replacement, group sizes kept),
    and both rankings are scored on each resample, so the interval reflects how much the
    difference moves with the luck of which customers happened to be in the test slice.

    Args:
        y_true: 0/1 outcomes.
        treatment: 1 treated, 0 control (both groups needed).
        score: The ranking under test (higher = target first).
        baseline: The ranking it is compared with.
        rounds: Bootstrap resamples.
        level: Interval coverage.
        seed: Resampling seed.

    Returns:
        ``difference`` (on the rows as given), ``low``, ``high`` (the percentile interval),
        ``share_above_zero`` (share of resamples where ``score`` wins) and ``rounds``.

    Raises:
        ValueError: Lengths differ, a group is empty or ``rounds`` < 1.
    """
    difference, d = qini_difference_draws(y_true, treatment, score, baseline, rounds, seed)
    return percentile_interval(difference, d, level, rounds)


def _observed(y: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    n_t, n_c = int(t.sum()), int(len(t) - t.sum())
    rate_t = float(y[t == 1].mean()) if n_t else float("nan")
    rate_c = float(y[t == 0].mean()) if n_c else float("nan")
    return {
        "n": len(y),
        "n_treated": n_t,
        "n_control": n_c,
        "treated_rate": rate_t,
        "control_rate": rate_c,
        "observed_uplift": rate_t - rate_c,
    }


def evaluate_recovery(frame: pd.DataFrame, config: EvaluateConfig | None = None) -> dict[str, Any]:
    """Uplift model vs scorecard vs churn-risk ranking, overall and per action.

    Args:
        frame: Output of :func:`recovery_frame`.
        config: Settings (uplift@k fraction); defaults when None.

    Returns:
        Overall: ``n``, ``n_treated``, ``n_control``, ``treated_rate``, ``control_rate``,
        ``observed_uplift``, ``rows_set_aside``, and per ranking (``uplift_model``,
        ``scorecard``, ``churn_risk``, and ``scorecard_exclusion`` when the frame has it)
        ``qini``, ``auuc``, ``uplift_at_30``; ``by_action``
        the same per action (that action's rows vs all control rows; model score = that
        action's uplift).
    """
    cfg = config or EvaluateConfig()
    y = frame["recovered"].to_numpy()
    t = frame["treatment"].to_numpy()
    result: dict[str, Any] = {**_observed(y, t), "rows_set_aside": frame.attrs.get("dropped", 0)}
    scorers = [*RECOVERY_SCORERS, *([SCORECARD_EXCLUSION] if SCORECARD_EXCLUSION in frame else [])]
    result.update(
        compare_rankings(y, t, {s: frame[s].to_numpy() for s in scorers}, cfg.uplift_fraction)
    )
    if cfg.bootstrap_rounds > 0 and 0 < t.sum() < len(t):
        # The model's Qini minus each baseline's, with a bootstrap interval: on a few thousand
        # contacts the difference between two rankings is often within the noise.
        result["qini_difference"] = {
            other: qini_difference_interval(
                y,
                t,
                frame[UPLIFT_MODEL].to_numpy(),
                frame[other].to_numpy(),
                cfg.bootstrap_rounds,
                cfg.bootstrap_level,
                cfg.bootstrap_seed,
            )
            for other in scorers
            if other != UPLIFT_MODEL
        }
    by_action: dict[str, Any] = {}
    for action in frame.attrs.get("actions") or _actions_of(frame):
        part = _action_rows(frame, action)
        yy, tt = part["recovered"].to_numpy(), part["treatment"].to_numpy()
        scores = {
            UPLIFT_MODEL: part[f"uplift_{action}"].to_numpy(),
            SCORECARD: part[SCORECARD].to_numpy(),
            CHURN_RISK: part[CHURN_RISK].to_numpy(),
        }
        by_action[action] = {
            **_observed(yy, tt),
            **compare_rankings(yy, tt, scores, cfg.uplift_fraction),
        }
    result["by_action"] = by_action
    return result


def _actions_of(frame: pd.DataFrame) -> list[str]:
    return sorted(c.removeprefix("uplift_") for c in frame.columns if c.startswith("uplift_"))


def _action_rows(frame: pd.DataFrame, action: str) -> pd.DataFrame:
    return frame.loc[(frame["treatment"] == 0) | (frame["action"] == action)]


# --------------------------------------------------------------------------------------------
# plot data


def _downsample(df: pd.DataFrame, max_points: int) -> pd.DataFrame:
    # evenly spaced rows, always keeping the first and the last point of the curve
    if len(df) <= max_points:
        return df.reset_index(drop=True)
    idx = np.unique(np.round(np.linspace(0, len(df) - 1, max_points)).astype("int64"))
    return df.iloc[idx].reset_index(drop=True)


def roc_points(y_true, y_score, max_points: int = 200) -> pd.DataFrame:
    """ROC curve as ``fpr``, ``tpr``, ``threshold``, at most ``max_points`` rows."""
    fpr, tpr, thr = roc_curve(y_true, y_score)
    thr = np.where(np.isfinite(thr), thr, np.nan)
    return _downsample(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr}), max_points)


def pr_points(y_true, y_score, max_points: int = 200) -> pd.DataFrame:
    """Precision-recall curve as ``recall``, ``precision``, ``threshold`` (recall ascending)."""
    precision, recall, thr = precision_recall_curve(y_true, y_score)
    df = pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.r_[thr, np.nan]})
    return _downsample(df.iloc[::-1], max_points)


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
    return _downsample(df, max_points)


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
    curves = {k: _model_first(pd.concat(v, ignore_index=True)) for k, v in out.items()}
    cal = calibration_table(y, frame[CHURN_MODEL].to_numpy(), cfg.n_bins)
    curves["calibration"] = _model_first(cal.assign(model=CHURN_MODEL))
    return curves


def qini_points(
    frame: pd.DataFrame,
    scorers: tuple[str, ...] = RECOVERY_SCORERS,
    max_points: int = 200,
) -> pd.DataFrame:
    """Qini curves of several rankings of the same rows, plus the random-targeting line.

    Args:
        frame: Rows with ``recovered``, ``treatment`` and one score column per scorer.
        scorers: Score columns to draw.
        max_points: Most points per curve.

    Returns:
        Long format: ``model``, ``fraction``, ``n``, ``qini`` (incremental responders among
        the targeted), ``uplift``.
    """
    y = frame["recovered"].to_numpy()
    t = frame["treatment"].to_numpy()
    parts = []
    for name in scorers:
        curve = qini_curve(y, t, frame[name].to_numpy())
        parts.append(_downsample(curve, max_points).assign(model=name))
    end = parts[0].iloc[-1] if parts else None
    if end is not None:
        parts.append(
            pd.DataFrame(
                {
                    "n": [0, int(end["n"])],
                    "fraction": [0.0, 1.0],
                    "qini": [0.0, float(end["qini"])],
                    "uplift": [0.0, float(end["uplift"])],
                    "model": RANDOM,
                }
            )
        )
    return _model_first(pd.concat(parts, ignore_index=True))


def recovery_curves(
    frame: pd.DataFrame, config: EvaluateConfig | None = None
) -> dict[str, pd.DataFrame]:
    """Qini plot data: ``qini`` (overall) and ``qini_by_action`` (with an ``action`` column)."""
    cfg = config or EvaluateConfig()
    by_action = []
    for action in frame.attrs.get("actions") or _actions_of(frame):
        part = _action_rows(frame, action).copy()
        part[UPLIFT_MODEL] = part[f"uplift_{action}"]
        if 0 < part["treatment"].sum() < len(part):
            by_action.append(qini_points(part, max_points=cfg.curve_points).assign(action=action))
    curves = {"qini": qini_points(frame, max_points=cfg.curve_points)}
    if by_action:
        curves["qini_by_action"] = pd.concat(by_action, ignore_index=True)
    return curves


def _model_first(df: pd.DataFrame) -> pd.DataFrame:
    return df[["model", *[c for c in df.columns if c != "model"]]]


# --------------------------------------------------------------------------------------------
# figures

_LABELS = {
    CHURN_MODEL: "churn model (calibrated)",
    FORMULA: "playbook formula",
    UPLIFT_MODEL: "uplift model",
    SCORECARD: "playbook scorecard",
    CHURN_RISK: "churn risk",
    RANDOM: "random",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def _lines(ax, df: pd.DataFrame, x: str, y: str) -> None:
    for name, part in df.groupby("model", sort=False):
        style = {"linestyle": ":", "color": "grey"} if name == RANDOM else {}
        ax.plot(part[x], part[y], label=_label(str(name)), **style)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def figures(curves: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Draw the plot data as PNG figures (matplotlib, no display needed).

    Args:
        curves: Any of ``roc``, ``pr``, ``lift``, ``calibration``, ``qini``,
            ``qini_by_action`` (outputs of :func:`churn_curves` / :func:`recovery_curves`).
        out_dir: Directory for ``<name>.png``.

    Returns:
        The files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    specs = {
        "roc": ("fpr", "tpr", "False positive rate", "True positive rate", "Churn: ROC"),
        "pr": ("recall", "precision", "Recall", "Precision", "Churn: precision-recall"),
        "lift": (
            "fraction",
            "capture",
            "Share of customers targeted",
            "Share of churners captured",
            "Churn: cumulative gains",
        ),
        "qini": (
            "fraction",
            "qini",
            "Share of outreach rows targeted",
            "Incremental returns (Qini)",
            "Win-back: Qini curve, any action vs control",
        ),
    }
    for name, (x, y, xl, yl, title) in specs.items():
        if name not in curves:
            continue
        fig = Figure(figsize=(5.5, 4.5), dpi=110)
        ax = fig.subplots()
        _lines(ax, curves[name], x, y)
        if name == "roc":
            ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel=xl, ylabel=yl, title=title)
        written.append(_save(fig, out_dir / f"{name}.png"))
    if "calibration" in curves:
        cal = curves["calibration"]
        fig = Figure(figsize=(5.5, 4.5), dpi=110)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
        ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label=_label(CHURN_MODEL))
        ax.set(
            xlabel="Mean predicted churn probability",
            ylabel="Observed churn rate",
            title="Churn: calibration",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        written.append(_save(fig, out_dir / "calibration.png"))
    if "qini_by_action" in curves:
        data = curves["qini_by_action"]
        actions = list(dict.fromkeys(data["action"]))
        fig = Figure(figsize=(4.2 * len(actions), 3.8), dpi=110)
        axes = np.atleast_1d(fig.subplots(1, len(actions), squeeze=False)[0])
        for ax, action in zip(axes, actions, strict=True):
            _lines(ax, data.loc[data["action"] == action], "fraction", "qini")
            ax.set(xlabel="Share targeted", ylabel="Incremental returns", title=action)
        fig.suptitle("Win-back: Qini curve per action vs control")
        written.append(_save(fig, out_dir / "qini_by_action.png"))
    return written


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    return path


# --------------------------------------------------------------------------------------------
# tables for humans and JSON


def comparison_table(churn: Mapping[str, Any], recovery: Mapping[str, Any] | None) -> pd.DataFrame:
    """A short model-vs-baseline table of the headline metrics (for the terminal and reports).

    Args:
        churn: Output of :func:`evaluate_churn`.
        recovery: Output of :func:`evaluate_recovery`, or None without outreach data.

    Returns:
        Columns ``task``, ``metric``, ``model``, ``baseline``, ``other``: churn rows compare the
        model with the formula; recovery rows the uplift model with the scorecard (baseline)
        and the churn-risk ranking (other).
    """
    rows = []
    m, f = churn[CHURN_MODEL], churn[FORMULA]
    for metric in ("roc_auc", "pr_auc", "top_decile_lift", "top_decile_capture"):
        rows.append(("churn", metric, m[metric], f[metric], np.nan))
    for metric in ("log_loss", "brier", "ece"):
        rows.append(("churn", metric, m[metric], np.nan, np.nan))
    if recovery is not None:
        k = next(k for k in recovery[UPLIFT_MODEL] if k.startswith("uplift_at_"))
        for metric in ("qini", "auuc", k):
            rows.append(
                (
                    "recovery",
                    metric,
                    recovery[UPLIFT_MODEL][metric],
                    recovery[SCORECARD][metric],
                    recovery[CHURN_RISK][metric],
                )
            )
    return pd.DataFrame(rows, columns=["task", "metric", "model", "baseline", "other"])


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
