"""A customer's annual value: what they bring the store each year in necessary, recurring service.

The value tiers, the CLV, the win-back cost caps and the value of a return all follow from
:func:`annual_value` (:func:`models.segments.segment`); the basis is
``score.segments.annual_value`` (docs/policy.md, "Annual value"):

* ``recurring`` (default): recurring spend per visit × visits per year,

      spend_recurring_lifetime / visits_lifetime × visits_lifetime / active_years

  with ``active_years = max(tenure_days − days_since_last_visit, 365) / 365`` (the span from
  the first to the last visit before T, counted as at least one year). The recurring spend
  leaves out the part of one-off invoices above the outlier cap (an accident repair, a big
  one-off job; ``featurize.one_off_*``, :mod:`features.events`), so a single 99,000 CNY
  invoice no longer makes a customer "worth" 90,000 CNY a year; a customer who comes often
  is worth more than one who came once for the same invoice.
* ``active_span``: the same with every invoice in full (``spend_lifetime``).
* ``trailing_365d``: the playbook's literal ``spend_365d`` (0 for everyone lapsed a year).

``referral_value`` CNY a year per referral is added to each (0 by default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The bases of :func:`annual_value`, the default first.
ANNUAL_VALUE_BASES = ("recurring", "active_span", "trailing_365d")


def feature_column(features: pd.DataFrame, name: str) -> pd.Series:
    """A feature column as float64, or a clear error naming the missing column.

    Raises:
        ValueError: ``name`` is not a column of ``features``.
    """
    if name not in features.columns:
        raise ValueError(f"segment needs feature column {name!r}, missing from the input")
    return features[name].astype("float64")


def active_years(features: pd.DataFrame) -> pd.Series:
    """Years from the first to the last visit before T, at least one (NaN without a visit)."""
    days = feature_column(features, "tenure_days") - feature_column(
        features, "days_since_last_visit"
    )
    return (np.maximum(days, 365.0) / 365.0).where(days.notna()).rename("active_years")


def visits_per_year(features: pd.DataFrame) -> pd.Series:
    """Visits before T per active year (:func:`active_years`); 0 without a visit.

    A single visit, or visits within one year, count over a full year: a new customer is
    not extrapolated into a frequent one.
    """
    rate = feature_column(features, "visits_lifetime") / active_years(features)
    return rate.fillna(0.0).rename("visits_per_year")


def annual_value(
    features: pd.DataFrame, basis: str = "recurring", referral_value: float = 0.0
) -> pd.Series:
    """Annual value (CNY) per customer on ``basis`` (see the module doc).

    Args:
        features: Feature rows (:func:`features.build.build_features`).
        basis: One of :data:`ANNUAL_VALUE_BASES`.
        referral_value: CNY a year added per referral (needs the ``referrals`` column).

    Returns:
        Float series named ``annual_value``, index as ``features`` (0 for a customer
        without a visit before T).

    Raises:
        ValueError: An unknown basis, or a feature column the basis needs is missing.
    """
    if basis == "trailing_365d":
        value = feature_column(features, "spend_365d")
    elif basis == "active_span":
        value = feature_column(features, "spend_lifetime") / active_years(features)
    elif basis == "recurring":
        visits = feature_column(features, "visits_lifetime")
        recurring = feature_column(features, "spend_recurring_lifetime")
        with np.errstate(invalid="ignore", divide="ignore"):
            per_visit = (recurring / visits).where(visits > 0)
        value = per_visit * visits_per_year(features)
    else:
        raise ValueError(
            f"score.segments.annual_value must be one of {ANNUAL_VALUE_BASES}, not {basis!r}"
        )
    value = value.fillna(0.0)
    if referral_value > 0 and "referrals" in features.columns:
        value = value + referral_value * features["referrals"].astype("float64").fillna(0.0)
    return value.rename("annual_value")
