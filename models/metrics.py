"""Evaluation metrics shared by the churn and recovery models and their baselines.

Classification metrics wrap scikit-learn; what scikit-learn lacks (top-decile lift and capture,
expected calibration error, Qini and uplift curves) is written here against hand-computed tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)


def _arrays(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype="float64")
    s = np.asarray(y_score, dtype="float64")
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true and y_score must be 1-D of one length, got {y.shape}, {s.shape}")
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    if np.isnan(s).any():
        raise ValueError(f"y_score has {int(np.isnan(s).sum())} missing value(s)")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be 0/1")
    return y, s


def top_fraction_lift(y_true, y_score, fraction: float = 0.1) -> dict[str, float]:
    """Lift and capture in the highest-scored ``fraction`` of rows.

    Ties at the cut are broken by row order after a stable sort, so the selection has exactly
    ``ceil(fraction * n)`` rows.

    Args:
        y_true: 0/1 outcomes.
        y_score: Scores, higher means more likely positive.
        fraction: Share of rows selected, in (0, 1].

    Returns:
        ``lift`` (positive rate in the selection ÷ overall rate) and ``capture`` (share of all
        positives that fall in the selection).
    """
    y, s = _arrays(y_true, y_score)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    k = int(np.ceil(fraction * len(y)))
    top = y[np.argsort(-s, kind="stable")[:k]]
    base = y.mean()
    if base == 0:
        return {"lift": float("nan"), "capture": float("nan")}
    return {"lift": float(top.mean() / base), "capture": float(top.sum() / y.sum())}


def calibration_table(y_true, y_prob, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table over equal-width probability bins (empty bins omitted).

    Args:
        y_true: 0/1 outcomes.
        y_prob: Predicted probabilities in [0, 1].
        n_bins: Number of equal-width bins on [0, 1].

    Returns:
        One row per non-empty bin: ``bin_lower``, ``bin_upper``, ``count``, ``mean_predicted``,
        ``observed_rate``.
    """
    y, p = _arrays(y_true, y_prob)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed last bin so p == 1.0 lands in it
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": idx, "p": p, "y": y})
    g = frame.groupby("bin", sort=True).agg(
        count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")
    )
    g.insert(0, "bin_upper", edges[g.index + 1])
    g.insert(0, "bin_lower", edges[g.index])
    return g.reset_index(drop=True)


def expected_calibration_error(y_true, y_prob, n_bins: int = 10) -> float:
    """ECE: the count-weighted mean of |mean predicted − observed rate| over equal-width bins."""
    table = calibration_table(y_true, y_prob, n_bins)
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["mean_predicted"] - table["observed_rate"]).abs()).sum())


def classification_report(y_true, y_prob, n_bins: int = 10) -> dict[str, float]:
    """The standard set of churn metrics for a predicted probability.

    For a score that is not a probability (such as the playbook formula) use
    :func:`ranking_report`: log-loss, Brier and ECE mean nothing for it.

    Args:
        y_true: 0/1 outcomes.
        y_prob: Predicted probabilities.
        n_bins: Bins for ECE.

    Returns:
        ``roc_auc``, ``pr_auc``, ``log_loss``, ``brier``, ``ece``, ``top_decile_lift``,
        ``top_decile_capture``, ``positive_rate``, ``n``.
    """
    out = ranking_report(y_true, y_prob)
    y, p = _arrays(y_true, y_prob)
    out["log_loss"] = float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]))
    out["brier"] = float(brier_score_loss(y, p))
    out["ece"] = expected_calibration_error(y, p, n_bins)
    return out


def ranking_report(y_true, y_score) -> dict[str, float]:
    """Ranking metrics for any score (probability or not): ROC-AUC, PR-AUC, top-decile lift."""
    y, s = _arrays(y_true, y_score)
    both = 0 < y.sum() < len(y)
    lift = top_fraction_lift(y, s, 0.1)
    return {
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "top_decile_lift": lift["lift"],
        "top_decile_capture": lift["capture"],
        "positive_rate": float(y.mean()),
        "n": int(len(y)),
    }


def rounded_roc_auc(y_true, y_score, decimals: int = 6) -> float:
    """ROC-AUC rounded to ``decimals`` (as training records it), NaN with a single class.

    Args:
        y_true: 0/1 outcomes.
        y_score: Scores (higher = more likely 1), one per row.
        decimals: Decimals kept.

    Returns:
        The rounded ROC-AUC, or NaN when ``y_true`` holds one class only.
    """
    y = np.asarray(y_true, dtype="float64")
    if len(np.unique(y)) < 2:
        return float("nan")
    return round(float(roc_auc_score(y, np.asarray(y_score, dtype="float64"))), decimals)


def qini_curve(y_true, treatment, uplift_score) -> pd.DataFrame:
    """The Qini curve of an uplift ranking, one point per distinct score (ties grouped).

    At the top ``k`` rows, ``qini = R_t(k) − R_c(k) · N_t(k) / N_c(k)``: treated responders
    minus control responders scaled to the treated count — the incremental responders among
    the targeted (Radcliffe 2007). ``uplift = (R_t/N_t − R_c/N_c) · k`` is the uplift curve.
    Points where one group is still empty carry 0 for the control-scaled part.

    Args:
        y_true: 0/1 outcomes.
        treatment: 1 for treated rows, 0 for control rows.
        uplift_score: Predicted uplift, higher means target first.

    Returns:
        Columns ``n`` (rows targeted), ``fraction``, ``qini``, ``uplift``, starting at (0, 0).
    """
    y, s = _arrays(y_true, uplift_score)
    t = np.asarray(treatment, dtype="float64")
    if t.shape != y.shape or not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("treatment must be 0/1 with the length of y_true")
    if t.sum() == 0 or t.sum() == len(t):
        raise ValueError("a Qini curve needs both treated and control rows")
    order = np.argsort(-s, kind="stable")
    y, t, s = y[order], t[order], s[order]
    n_t = np.cumsum(t)
    n_c = np.cumsum(1 - t)
    r_t = np.cumsum(y * t)
    r_c = np.cumsum(y * (1 - t))
    # Keep only the last row of each run of tied scores: ties are targeted together.
    last = np.r_[s[1:] != s[:-1], True]
    n_t, n_c, r_t, r_c = n_t[last], n_c[last], r_t[last], r_c[last]
    k = np.flatnonzero(last) + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled_c = np.where(n_c > 0, r_c * n_t / n_c, 0.0)
        rate_t = np.where(n_t > 0, r_t / n_t, 0.0)
        rate_c = np.where(n_c > 0, r_c / n_c, 0.0)
    qini = r_t - scaled_c
    uplift = (rate_t - rate_c) * k
    return pd.DataFrame(
        {
            "n": np.r_[0, k],
            "fraction": np.r_[0.0, k / len(y)],
            "qini": np.r_[0.0, qini],
            "uplift": np.r_[0.0, uplift],
        }
    )


def qini_coefficient(y_true, treatment, uplift_score) -> float:
    """Area between the Qini curve and the random-targeting line, per row targeted.

    Both curves are in incremental responders; the area is integrated over the fraction
    targeted and divided by the number of rows, so the value is comparable across data sets
    of different size (0 = no better than random; larger is better).
    """
    curve = qini_curve(y_true, treatment, uplift_score)
    x = curve["fraction"].to_numpy()
    q = curve["qini"].to_numpy()
    model_area = np.trapezoid(q, x)
    random_area = q[-1] / 2.0  # straight line from (0, 0) to (1, Q(N))
    return float((model_area - random_area) / curve["n"].iloc[-1])


def auuc(y_true, treatment, uplift_score) -> float:
    """Area under the uplift curve, per row (integrated over the fraction targeted)."""
    curve = qini_curve(y_true, treatment, uplift_score)
    return float(np.trapezoid(curve["uplift"], curve["fraction"]) / curve["n"].iloc[-1])


def uplift_at(y_true, treatment, uplift_score, fraction: float = 0.3) -> float:
    """Treated minus control response rate among the top ``fraction`` of rows by score."""
    y, s = _arrays(y_true, uplift_score)
    t = np.asarray(treatment, dtype="float64")
    k = int(np.ceil(fraction * len(y)))
    top = np.argsort(-s, kind="stable")[:k]
    yt, tt = y[top], t[top]
    if tt.sum() == 0 or tt.sum() == len(tt):
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())


def weighted_auc_parts(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tie groups of ``y_score`` (ascending) for :func:`weighted_auc`: ``(group, pos, neg)``.

    ``group[i]`` is row i's rank among the distinct scores; ``pos`` / ``neg`` mark its class.
    """
    y, s = _arrays(y_true, y_score)
    _, group = np.unique(s, return_inverse=True)
    return group, (y == 1).astype("float64"), (y == 0).astype("float64")


def weighted_auc(parts: tuple[np.ndarray, np.ndarray, np.ndarray], w: np.ndarray) -> float:
    """ROC-AUC with row weights (ties count one half), from :func:`weighted_auc_parts`.

    With all weights 1 this is ``sklearn.metrics.roc_auc_score``; with bootstrap counts as
    weights it is the AUC of that resample, without re-sorting the scores.
    """
    group, pos, neg = parts
    k = int(group.max()) + 1 if len(group) else 0
    wp = np.bincount(group, weights=w * pos, minlength=k)
    wn = np.bincount(group, weights=w * neg, minlength=k)
    below = np.cumsum(wn) - wn
    total = wp.sum() * wn.sum()
    if total == 0:
        return float("nan")
    return float(np.sum(wp * (below + 0.5 * wn)) / total)


def stratified_bootstrap_weights(
    groups: list[np.ndarray], n: int, rounds: int, seed: int = 0
) -> Iterator[np.ndarray]:
    """Row weights (draw counts) of ``rounds`` bootstrap resamples, each group resampled alone.

    Args:
        groups: Row positions of each stratum (e.g. treated and control, or the two classes);
            each is drawn with replacement at its own size.
        n: Number of rows.
        rounds: Resamples.
        seed: Resampling seed (same seed, same draws).

    Yields:
        One float array of length ``n`` per resample.
    """
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        w = np.zeros(n)
        for g in groups:
            w += np.bincount(g[rng.integers(0, len(g), len(g))], minlength=n)
        yield w


def percentile_interval(
    difference: float, draws: np.ndarray, level: float, rounds: int
) -> dict[str, float]:
    """The record of a bootstrap interval of a difference: the percentile interval of ``draws``.

    Returns:
        ``difference``, ``low``, ``high``, ``share_above_zero`` and ``rounds``.
    """
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return {
        "difference": difference,
        "low": float(low),
        "high": float(high),
        "share_above_zero": float((draws > 0).mean()),
        "rounds": int(rounds),
    }


def auc_difference_interval(
    y_true, score, baseline, rounds: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Bootstrap interval of ``ROC-AUC(score) - ROC-AUC(baseline)`` on the same rows.

    Positive and negative rows are resampled separately (with replacement, class sizes kept)
    and both scores are ranked on each resample.

    Args:
        y_true: 0/1 labels (both classes needed).
        score: The scorer under test (higher = more likely positive).
        baseline: The scorer it is compared with.
        rounds: Bootstrap resamples (>= 1).
        level: Interval coverage.
        seed: Resampling seed.

    Returns:
        ``difference`` (on the rows as given), ``low``, ``high`` (percentile interval),
        ``share_above_zero`` and ``rounds``.

    Raises:
        ValueError: Lengths differ, one class is missing or ``rounds`` < 1.
    """
    y = np.asarray(y_true, dtype="float64")
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    if len(y) != len(score) or len(y) != len(baseline):
        raise ValueError("y_true, score and baseline must have one length")
    classes = [np.flatnonzero(y == 1), np.flatnonzero(y == 0)]
    if any(len(c) == 0 for c in classes):
        raise ValueError("an AUC interval needs both classes")
    pa, pb = weighted_auc_parts(y, score), weighted_auc_parts(y, baseline)
    d = np.fromiter(
        (
            weighted_auc(pa, w) - weighted_auc(pb, w)
            for w in stratified_bootstrap_weights(classes, len(y), rounds, seed)
        ),
        dtype="float64",
        count=rounds,
    )
    ones = np.ones(len(y))
    return percentile_interval(weighted_auc(pa, ones) - weighted_auc(pb, ones), d, level, rounds)
