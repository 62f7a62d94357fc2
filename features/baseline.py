"""The industry playbook's two hand formulas, implemented as written (the baselines to beat).

**Pre-churn risk formula** (per customer, as of T)::

    risk = (days_since_last_visit - 90) * 0.3
         + app_inactive * 15
         + cancellation_% * 0.2
         + (10 - last_satisfaction) * 2.5
         + no_consultation_this_quarter * 10

``60 <= risk <= 75`` is "entering pre-churn" (预流失); we call ``risk > 75`` "high" and
``risk < 60`` "normal". The score is **not clipped** (a customer seen last week scores
negative on recency; clipping would only create ties, and ranking is what the baseline is
judged on). ``cancellation_%`` is ``cancellation_rate_365d * 100`` (cancelled only; no-shows
are a separate feature). A customer who never visited has no recency term: risk is NaN.

Missing signals (table not collected, or no observation: no survey answered, no appointment
in the year) enter by ``config.baseline_missing``:

* ``"zero"`` (default): the term adds no points. The playbook adds points for *evidence* of
  risk; where there is no evidence it adds none, so a dealer without an app still gets the
  playbook's score from the signals it has. For satisfaction this is the same as reading a
  missing score as 10.
* ``"mean"``: the term gets the mean points of the customers that have it at the same as-of
  date (a neutral, population-average reading).

**Win-back success scorecard** (for lapsed customers; computed for all, as of T)::

    total = 0.3 * lapse + 0.4 * reason_solvable + 0.2 * satisfaction + 0.1 * engagement

* lapse (days since last visit; a month = 30 days): <= 90 → 5, <= 180 → 3, <= 365 → 1,
  more (or never visited) → 0.
* reason solvable, read from data:
  *service-hurt* signals — a non-price complaint in the last 365 days, last survey score
  < 6, last wait >= ``long_wait_minutes`` — are what a service recovery can fix → 5;
  a *price* signal (a price complaint in the last 365 days) alone or mixed with service
  signals, or only *weak* signals (last survey 6–8, last wait >= half the long wait,
  a cancellation or no-show in the last 365 days) → 3; no identifiable reason → 0.
* historical satisfaction (mean of all survey scores before T): > 8 → 5, 6–8 → 3, < 6 → 1;
  never surveyed → ``scorecard_missing_satisfaction_points`` (3, the middle).
* engagement from the playbook's two activity signals, app active (not ``app_inactive``)
  and a consultation in the last 90 days, averaged over the signals collected: all active →
  high 5, some → mid 3, none → low 1; neither signal collected → mid 3.

Bands of ``total`` (0–5, rounded to 6 decimals): > 4 ``high``, 3–4 ``medium``, 2–<3 ``low``,
< 2 ``very_low``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeaturizeConfig

FORMULA_COLUMNS = (
    "days_since_last_visit",
    "app_inactive",
    "cancellation_rate_365d",
    "survey_score_last",
    "no_consultation_quarter",
)
SCORECARD_COLUMNS = (
    "days_since_last_visit",
    "complaints_365d",
    "price_complaints_365d",
    "survey_score_last",
    "survey_score_mean",
    "wait_minutes_last",
    "cancellation_rate_365d",
    "no_show_rate_365d",
    "app_inactive",
    "no_consultation_quarter",
)
RISK_BANDS = ("normal", "pre_churn", "high")
SUCCESS_BANDS = ("very_low", "low", "medium", "high")


def _require(features: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"{what} needs feature column(s) missing from the input: {missing}")


def formula_terms(features: pd.DataFrame, config: FeaturizeConfig | None = None) -> pd.DataFrame:
    """The five points terms of the pre-churn formula, after the missing-signal rule.

    Args:
        features: Feature rows (``build_features`` output or a subset of its columns).
        config: Settings (``baseline_missing``); defaults when None.

    Returns:
        Columns ``recency``, ``app``, ``cancellation``, ``satisfaction``, ``consultation``.

    Raises:
        ValueError: A required feature column is missing.
    """
    cfg = config or FeaturizeConfig()
    _require(features, FORMULA_COLUMNS, "formula_risk")
    terms = pd.DataFrame(
        {
            "recency": (features["days_since_last_visit"] - 90) * 0.3,
            "app": features["app_inactive"] * 15,
            "cancellation": features["cancellation_rate_365d"] * 100 * 0.2,
            "satisfaction": (10 - features["survey_score_last"]) * 2.5,
            "consultation": features["no_consultation_quarter"] * 10,
        },
        index=features.index,
    ).astype("float64")
    fill = ["app", "cancellation", "satisfaction", "consultation"]
    if cfg.baseline_missing == "mean":
        groups = (
            features["as_of"] if "as_of" in features.columns else pd.Series(0, index=features.index)
        )
        means = terms[fill].groupby(groups.to_numpy()).transform("mean")
        terms[fill] = terms[fill].fillna(means)
    terms[fill] = terms[fill].fillna(0.0)
    return terms


def formula_risk(features: pd.DataFrame, config: FeaturizeConfig | None = None) -> pd.Series:
    """The playbook's pre-churn risk score (unclipped; NaN for never-visited customers).

    Args:
        features: Feature rows.
        config: Settings; defaults when None.

    Returns:
        Float series named ``formula_risk``, aligned with ``features``.

    Raises:
        ValueError: A required feature column is missing.
    """
    terms = formula_terms(features, config)
    return terms.sum(axis=1, min_count=5).rename("formula_risk")


def risk_band(risk: pd.Series, config: FeaturizeConfig | None = None) -> pd.Series:
    """``normal`` (< 60), ``pre_churn`` (60–75), ``high`` (> 75); NaN stays missing."""
    cfg = config or FeaturizeConfig()
    band = np.select(
        [risk > cfg.pre_churn_high, risk >= cfg.pre_churn_low, risk < cfg.pre_churn_low],
        ["high", "pre_churn", "normal"],
        default="",
    )
    out = pd.Series(band, index=risk.index, dtype="str").replace("", np.nan)
    return pd.Series(
        pd.Categorical(out, categories=RISK_BANDS, ordered=True), index=risk.index, name="risk_band"
    )


def scorecard(features: pd.DataFrame, config: FeaturizeConfig | None = None) -> pd.DataFrame:
    """The playbook's win-back success scorecard (see the module docstring for the rules).

    Args:
        features: Feature rows.
        config: Settings; defaults when None.

    Returns:
        Columns ``lapse_points``, ``reason_points``, ``satisfaction_points``,
        ``engagement_points``, ``winback_score`` (0–5) and ``winback_band`` (ordered
        category), aligned with ``features``.

    Raises:
        ValueError: A required feature column is missing.
    """
    cfg = config or FeaturizeConfig()
    _require(features, SCORECARD_COLUMNS, "scorecard")
    f = features
    b1, b2, b3 = cfg.lapse_bounds_days
    days = f["days_since_last_visit"]
    lapse = np.select([days <= b1, days <= b2, days <= b3], [5.0, 3.0, 1.0], default=0.0)

    sat_low, sat_high = cfg.satisfaction_bounds
    complaints = f["complaints_365d"].fillna(0)
    price = f["price_complaints_365d"].fillna(0)
    last_score = f["survey_score_last"]
    wait = f["wait_minutes_last"]
    service_hurt = (
        (complaints - price > 0) | (last_score < sat_low) | (wait >= cfg.long_wait_minutes)
    )
    price_signal = price > 0
    weak = (
        ((last_score >= sat_low) & (last_score <= sat_high))
        | (wait >= cfg.long_wait_minutes / 2)
        | (f["cancellation_rate_365d"] > 0)
        | (f["no_show_rate_365d"] > 0)
    )
    reason = np.select(
        [service_hurt & ~price_signal, price_signal | weak | service_hurt], [5.0, 3.0], default=0.0
    )

    hist = f["survey_score_mean"]
    satisfaction = np.select(
        [hist > sat_high, hist >= sat_low, hist < sat_low],
        [5.0, 3.0, 1.0],
        default=cfg.scorecard_missing_satisfaction_points,
    )

    active = pd.DataFrame(
        {"app": 1 - f["app_inactive"], "consult": 1 - f["no_consultation_quarter"]}
    )
    share = active.mean(axis=1, skipna=True)
    engagement = np.select([share.isna(), share >= 1, share > 0], [3.0, 5.0, 3.0], default=1.0)

    total = np.round(0.3 * lapse + 0.4 * reason + 0.2 * satisfaction + 0.1 * engagement, 6)
    band = np.select([total > 4, total >= 3, total >= 2], ["high", "medium", "low"], "very_low")
    return pd.DataFrame(
        {
            "lapse_points": lapse,
            "reason_points": reason,
            "satisfaction_points": satisfaction,
            "engagement_points": engagement,
            "winback_score": total,
            "winback_band": pd.Categorical(band, categories=SUCCESS_BANDS, ordered=True),
        },
        index=f.index,
    )


def baseline_scores(features: pd.DataFrame, config: FeaturizeConfig | None = None) -> pd.DataFrame:
    """Both baselines side by side: ``formula_risk``, ``risk_band`` and the scorecard columns."""
    risk = formula_risk(features, config)
    return pd.concat([risk, risk_band(risk, config), scorecard(features, config)], axis=1)
