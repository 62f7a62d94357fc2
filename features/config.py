"""Settings of the feature layer; the fields mirror the ``featurize:`` block of params.yaml."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FeaturizeConfig:
    """Feature, label and baseline settings (defaults are the documented choices).

    Attributes:
        snapshot_freq: Pandas offset alias of the snapshot calendar (``"MS"`` = month start).
        snapshot_start: First snapshot date (ISO); None = first visit + ``min_history_days``.
        snapshot_end: Last snapshot date (ISO); None = the last date whose horizon is observed.
        min_history_days: Warm-up before the first automatic snapshot.
        history_start: First day of the store's history (ISO), from which
            ``observed_history_days`` counts; None = the first service visit in the data.
            The Dask engine sets it to the first visit over all partitions.
        horizon_days: Churn horizon: churn = no visit in ``[T, T + horizon_days)``.
        eligibility_days: A customer is labelled at T if they visited in ``[T - this, T)``…
        eligibility_min_visits: …at least this many times.
        response_window_days: Recovery = a visit in ``(contact, contact + this]``.
        app_inactive_max_sessions: "App inactive" = at most this many sessions in 30 days.
        long_wait_minutes: A wait at least this long is a service-hurt signal (scorecard).
        price_complaint_keywords: Complaint categories containing one of these (case-folded)
            are price complaints (scorecard "reason solvable" = 3 instead of 5).
        baseline_missing: How a signal that is not collected / not observed enters the
            baselines: ``"zero"`` (adds no points, see docs/baselines.md) or ``"mean"``
            (the mean points of customers that have it, per as-of date).
        pre_churn_low: Formula score from which a customer is "entering pre-churn".
        pre_churn_high: Formula score above which a customer is "high risk".
        lapse_bounds_days: Scorecard lapse-duration bounds (0–3 / 3–6 / 6–12 months).
        satisfaction_bounds: Scorecard satisfaction bounds: ``< low`` → 1, ``> high`` → 5.
        scorecard_missing_satisfaction_points: Points when no survey was ever answered.
        propensity_min_rows: Estimating an outreach row's missing propensity
            (:mod:`features.propensity`): fewest rows of a campaign day and of a campaign ×
            value-tier cell; a smaller cell takes the arm's share in the whole log.
        propensity_tier_bounds: Value-tier bounds (CNY of trailing-365-day spend) of the
            campaign × tier cells of that estimate.
        one_off_types: Visit types whose invoice may be a one-off (capped by the outlier
            rule below); the other types (maintenance, warranty) always count in full as
            recurring spend. A visit without a type is judged by the outlier rule too.
        one_off_own_multiple: k of the outlier rule: an invoice above k × the customer's own
            median invoice (visits on earlier days) and above ``one_off_floor_cny`` is capped
            at the larger of the two; the rest is one-off spend.
        one_off_floor_cny: CNY below which no invoice is capped (the only threshold until
            the customer has ``one_off_min_invoices`` earlier invoices).
        one_off_min_invoices: Earlier invoices the customer's own median needs to count.
    """

    snapshot_freq: str = "MS"
    snapshot_start: str | None = None
    snapshot_end: str | None = None
    min_history_days: int = 90
    history_start: str | None = None
    horizon_days: int = 180
    eligibility_days: int = 365
    eligibility_min_visits: int = 1
    response_window_days: int = 60
    app_inactive_max_sessions: int = 1
    long_wait_minutes: float = 60.0
    price_complaint_keywords: tuple[str, ...] = field(
        default=("price", "cost", "fee", "expensive", "价格", "费用", "收费", "贵")
    )
    baseline_missing: str = "zero"
    pre_churn_low: float = 60.0
    pre_churn_high: float = 75.0
    lapse_bounds_days: tuple[int, int, int] = (90, 180, 365)
    satisfaction_bounds: tuple[float, float] = (6.0, 8.0)
    scorecard_missing_satisfaction_points: float = 3.0
    propensity_min_rows: int = 30
    propensity_tier_bounds: tuple[float, ...] = (2000.0, 5000.0)
    one_off_types: tuple[str, ...] = ("repair", "accident", "insurance", "other")
    one_off_own_multiple: float = 3.0
    one_off_floor_cny: float = 2000.0
    one_off_min_invoices: int = 3

    def __post_init__(self) -> None:
        # the contract loads pandas: imported here so a command's --help stays light
        from features.contract import VISIT_TYPES

        unknown = sorted(set(self.one_off_types) - set(VISIT_TYPES))
        if unknown:
            raise ValueError(
                f"featurize.one_off_types names unknown visit type(s) {unknown}; "
                f"visit types are {list(VISIT_TYPES)}"
            )
        if not self.one_off_own_multiple >= 1.0:
            raise ValueError(
                f"featurize.one_off_own_multiple must be >= 1, got {self.one_off_own_multiple}"
            )
        if self.one_off_min_invoices < 1:
            raise ValueError(
                f"featurize.one_off_min_invoices must be >= 1, got {self.one_off_min_invoices}"
            )
        if not self.one_off_floor_cny >= 0.0:
            raise ValueError(
                f"featurize.one_off_floor_cny must be >= 0, got {self.one_off_floor_cny}"
            )
        if self.baseline_missing not in {"zero", "mean"}:
            raise ValueError(
                f"baseline_missing must be 'zero' or 'mean', not {self.baseline_missing!r}"
            )
        for name in ("horizon_days", "eligibility_days", "response_window_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.eligibility_min_visits < 0:
            raise ValueError("eligibility_min_visits must be >= 0")
        if list(self.lapse_bounds_days) != sorted(self.lapse_bounds_days):
            raise ValueError("lapse_bounds_days must be increasing")
        if self.propensity_min_rows < 1:
            raise ValueError("propensity_min_rows must be >= 1")
        bounds = list(self.propensity_tier_bounds)
        if any(b >= c for b, c in zip(bounds, bounds[1:], strict=False)):
            raise ValueError(f"propensity_tier_bounds must be increasing, got {bounds}")

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> FeaturizeConfig:
        """Build from a params.yaml block; unknown keys are an error (typos fail loudly).

        Args:
            params: The ``featurize:`` block (may be None or empty).

        Returns:
            The config with the block's values over the defaults.

        Raises:
            ValueError: A key is not a field of this config.
        """
        return config_from_params(cls, params, "featurize")


def config_from_params(cls: type[T], params: Mapping[str, Any] | None, block: str) -> T:
    """Build a frozen settings dataclass from its params.yaml block.

    Unknown keys are an error, so a typo fails loudly instead of silently using a default.
    YAML lists become tuples where the field's default is a tuple, and YAML integers become
    floats where the default is a float (``1`` for ``1.0``), so configs compare and hash alike
    whichever way a value was written.

    Args:
        cls: The dataclass.
        params: The block (None or empty gives the defaults).
        block: The block's name, for the error message.

    Returns:
        The config with the block's values over the defaults.

    Raises:
        ValueError: A key is not a field of ``cls``.
    """
    params = dict(params or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown {block} params: {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for key, value in params.items():
        f = fields[key]
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        if value is not None and isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        kwargs[key] = value
    return cls(**kwargs)
