"""Settings of the lost-lead library: the ``leads:`` block of params.yaml, typed.

:class:`LeadsConfig` is the block; :class:`LeadRules` its ``rules`` sub-block (grading,
routing, triggers) and :class:`models.churn.ModelConfig` its ``model`` sub-block. The
defaults here are the values of params.yaml's ``leads:`` block, so a run without a params
file grades and trains exactly like the DVC stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from features.config import config_from_params
from features.contract import LOST_REASONS, MARKET_EVENT_TYPES
from models import tracking
from models.churn import ModelConfig

UNRECORDED = "unrecorded"  # a lost lead without any reason code
BOUGHT_COMPETITOR = "bought_competitor"

DEFAULT_ROUTES: dict[str, dict[str, Any]] = {
    "service_experience": {"action": "manager_apology_call", "owner": "sales_manager",
                           "due_hours": 24, "wait_for": []},
    BOUGHT_COMPETITOR: {"action": "long_nurture", "owner": "consultant", "due_hours": 2160,
                        "wait_for": []},
    "price": {"action": "offer_alert", "owner": "consultant", "due_hours": None,
              "wait_for": ["price_change", "finance_offer"]},
    "finance_or_tradein": {"action": "finance_alert", "owner": "consultant", "due_hours": None,
                           "wait_for": ["finance_offer"]},
    "delivery_time": {"action": "stock_alert", "owner": "consultant", "due_hours": None,
                      "wait_for": ["stock_arrival"]},
    "configuration_mismatch": {"action": "stock_alert", "owner": "consultant", "due_hours": None,
                               "wait_for": ["stock_arrival"]},
    "competitor": {"action": "long_nurture", "owner": "consultant", "due_hours": 720,
                   "wait_for": ["competitor_complaints"]},
    "influenced_by_others": {"action": "family_test_drive_invite", "owner": "consultant",
                             "due_hours": 168, "wait_for": []},
    "brand_or_aftersales_concern": {"action": "aftersales_showcase", "owner": "service_advisor",
                                    "due_hours": 168, "wait_for": []},
    "other": {"action": "complete_loss_record", "owner": "sales_manager", "due_hours": 48,
              "wait_for": []},
    UNRECORDED: {"action": "complete_loss_record", "owner": "sales_manager", "due_hours": 48,
                 "wait_for": []},
}  # fmt: skip
DEFAULT_ROUTE_PRIORITY = ("service_experience", BOUGHT_COMPETITOR, *LOST_REASONS[:4],
                          *LOST_REASONS[5:])  # fmt: skip
DEFAULT_TRIGGER_REASONS: dict[str, tuple[str, ...]] = {
    "finance_offer": ("finance_or_tradein", "price"),
    "price_change": ("price",),
    "stock_arrival": ("configuration_mismatch", "delivery_time"),
    "competitor_complaints": ("competitor",),
}


#: LightGBM settings of the lead model (``leads.model.lgbm``): a small table, so fewer and
#: smaller leaves and a slower rate than the churn model.
LEAD_LGBM: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 42,
}
#: The lead split where ``leads.model.split`` is silent: by loss month, and a lead is its own
#: unit (leads never repeat, so held-out leads leave train only in the holdout months). The
#: gap is one label window (:func:`lead_model_config`).
LEAD_SPLIT: dict[str, Any] = {
    "test_periods": 6,
    "holdout_periods": 6,
    "holdout_share": 0.4,
    "calib_share": 0.5,
    "freq": "M",
    "exclude_holdout_customers": False,
}


@dataclass(frozen=True)
class LeadRules:
    """The grading, routing and trigger rules (``leads.rules`` in params.yaml).

    Attributes:
        window_days: Label window and default buying window: "buys within this many days of
            the loss"; a lead without an expected purchase date counts as in its buying window
            for this long after the loss (triggers only; the grading needs the date).
        variable_reasons: Reasons a store can fix (grade high when still in the window).
        affinity_reasons: Reasons that leave room when the lead likes the brand (grade mid).
        affinity_intents: Intents read as brand affinity.
        bad_service_reasons: Reasons that, recorded as the primary one, grade low.
        event_lookback_days: Market events in this many days before the loss are features.
        routes: Reason (or ``bought_competitor`` / ``unrecorded``) -> action, owner,
            due_hours (None: wait for an event), wait_for (event types).
        route_priority: Which of a lead's reasons picks its route, first match wins.
        trigger_reasons: Market event type -> the reasons it can fix.
    """

    window_days: int = 90
    variable_reasons: tuple[str, ...] = ("price", "finance_or_tradein", "delivery_time")
    affinity_reasons: tuple[str, ...] = ("configuration_mismatch", "competitor")
    affinity_intents: tuple[str, ...] = ("high", "mid")
    bad_service_reasons: tuple[str, ...] = ("service_experience",)
    event_lookback_days: int = 30
    routes: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    route_priority: tuple[str, ...] = DEFAULT_ROUTE_PRIORITY
    trigger_reasons: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_TRIGGER_REASONS)
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> LeadRules:
        """Build from ``leads.rules``; unknown keys, reasons or event types are errors."""
        params = dict(params or {})
        if params.get("trigger_reasons") is not None:
            # YAML lists, the defaults' tuples: the same rule compares equal either way.
            params["trigger_reasons"] = {
                k: tuple(v or ()) for k, v in params["trigger_reasons"].items()
            }
        rules = config_from_params(cls, params, "leads.rules")
        known = set(LOST_REASONS)
        for name in ("variable_reasons", "affinity_reasons", "bad_service_reasons"):
            bad = set(getattr(rules, name)) - known
            if bad:
                raise ValueError(f"leads.rules.{name}: unknown reason(s) {sorted(bad)}")
        keys = known | {BOUGHT_COMPETITOR, UNRECORDED}
        if set(rules.route_priority) - keys or keys - set(rules.routes):
            raise ValueError(
                "leads.rules: route_priority must name reasons, bought_competitor or "
                f"unrecorded, and routes must cover all of {sorted(keys)}"
            )
        bad_types = set(rules.trigger_reasons) - set(MARKET_EVENT_TYPES)
        if bad_types:
            raise ValueError(f"leads.rules.trigger_reasons: unknown event type(s) {bad_types}")
        return rules


def lead_model_config(
    params: Mapping[str, Any] | None = None, window_days: int = 90
) -> ModelConfig:
    """The lead model's settings (``leads.model``) over the lead defaults.

    Args:
        params: The ``leads.model`` block (None or empty gives the defaults).
        window_days: The label window; the split's gap is one window plus a day.

    Returns:
        A :class:`models.churn.ModelConfig` with :data:`LEAD_LGBM`, no exclusions, a
        calibrator and :data:`LEAD_SPLIT` where the block is silent.

    Raises:
        ValueError: An unknown key in the block or its split.
    """
    model = dict(params or {})
    model.setdefault("lgbm", LEAD_LGBM)
    model.setdefault("exclude", [])
    model.setdefault("calibrate", True)
    return ModelConfig.from_params(model, {**LEAD_SPLIT, "gap_days": window_days + 1})


def _default_model() -> ModelConfig:
    return lead_model_config(None, LeadRules().window_days)


@dataclass(frozen=True)
class LeadsConfig:
    """The ``leads:`` block of params.yaml.

    Attributes:
        rules: Grading, routing and trigger rules (:class:`LeadRules`).
        model: LightGBM settings (:class:`models.churn.ModelConfig` fields; the split is by
            loss month with a gap of one label window; see :func:`lead_model_config`).
        min_leads: Diagnostics: consultants with fewer lost leads are not flagged.
        max_incomplete_share: Diagnostics: flag consultants above this incomplete share.
        register: Register the model as ``winback-leads`` in MLflow.
        min_improvement: A new version becomes the ``champion`` only if its test ROC-AUC beats
            the current champion's, on the same test leads, by more than this.
        experiment: MLflow experiment.
        as_of: Export date (labels need ``lost_date + window <= as_of``); None = the latest
            date in the leads table.
    """

    rules: LeadRules = field(default_factory=LeadRules)
    model: ModelConfig = field(default_factory=_default_model)
    min_leads: int = 20
    max_incomplete_share: float = 0.2
    register: bool = True
    min_improvement: float = 0.0
    experiment: str = tracking.EXPERIMENT
    as_of: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> LeadsConfig:
        """Build from the ``leads`` block; unknown keys are errors."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown leads params: {', '.join(unknown)}")
        rules = LeadRules.from_params(params.pop("rules", None))
        model = lead_model_config(params.pop("model", None), rules.window_days)
        return cls(rules=rules, model=model, **params)
