"""Out-of-time evaluation of the win-back (recovery) rankings on the later campaigns.

Pure functions over frames of predictions, as in :mod:`models.evaluate` (whose
:class:`~models.evaluate.EvaluateConfig` they take); the stage (:mod:`pipeline.evaluate`)
loads models and data, calls these, and writes the results.

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
and broken by row order for uplift@k.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.baseline import scorecard
from features.config import FeaturizeConfig
from features.vocabulary import NO_ACTION
from models.evaluate import KEYS, RANDOM, EvaluateConfig, downsample, model_first
from models.metrics import (
    auuc,
    percentile_interval,
    qini_coefficient,
    qini_curve,
    stratified_bootstrap_weights,
    uplift_at,
)

logger = logging.getLogger(__name__)

#: Names of the rankings in every output (metrics keys, plot ``model`` column).
UPLIFT_MODEL, SCORECARD, CHURN_RISK = "uplift_model", "scorecard", "churn_risk"
RECOVERY_SCORERS = (UPLIFT_MODEL, SCORECARD, CHURN_RISK)
#: The scorecard with customers reported gone (an earlier contact said car sold / moved) last:
#: a stronger, still rule-based baseline, scored when the data record contact outcomes.
SCORECARD_EXCLUSION = "scorecard_exclusion"
GONE_FLAG = "reported_gone"
CONTROL_ACTION = NO_ACTION


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
        parts.append(downsample(curve, max_points).assign(model=name))
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
    return model_first(pd.concat(parts, ignore_index=True))


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
