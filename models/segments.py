"""Value × stage segments, customer lifetime value, win-back cost caps and the strategy matrix.

Settings come from the ``score:`` block of params.yaml (:meth:`ScoreConfig.from_params`), with
four sub-blocks: ``segments``, ``economics``, ``matrix`` and ``policy``. Every choice below is
explained in docs/policy.md; in short:

* **Annual value** (``segments.annual_value``): :func:`models.value.annual_value` — by
  default ``recurring`` (recurring spend per visit × visits per year over the active span);
  ``active_span`` and ``trailing_365d`` remain selectable. ``referral_value`` CNY a year per
  referral is added (0 by default).
* **Value tier**: ``tier_bounds`` (increasing, at most 4 → at most 5 tiers) and ``tier_names``
  (one more than bounds, lowest first). A value *above* a bound moves up a tier: with bounds
  ``[2000, 5000]``, 5000 is ``mid`` and 5000.01 is ``high`` (the playbook's "> 5000 high").
* **Stage** from ``days_since_last_visit`` and ``stage_bounds`` ``[90, 180, 365]``: ``< 90``
  active, ``[90, 180)`` early, ``[180, 365)`` deep, ``>= 365`` lost (the simulator's edges);
  an active customer whose calibrated churn risk is ``>= pre_churn_risk`` is ``pre_churn``;
  a customer without a visit before T is ``no_history``.
* **CLV** = annual value × margin × lifetime − acquisition cost; lifetime is
  ``economics.lifetime_years`` (a number, default 3) or ``"from_risk"``:
  ``min(max_lifetime_years, horizon_years × (1 − r) / r)`` for churn risk r over the churn
  horizon (the expected number of further horizons retained, geometric). Acquisition cost is
  the customers' ``acquisition_cost`` where given, else ``economics.acquisition_cost``.
* **Cost cap** (yearly win-back spend allowed) = max(CLV, 0) × ``cap_share`` ÷ lifetime.
* **Actions** are the store's own (the outreach log's names, :mod:`models.actions`):
  contact costs default to the log's median per action, ``policy.allowed_actions: null`` is
  every action the win-back model learned; :func:`models.actions.resolve_actions` fills these
  in for a model. :data:`features.vocabulary.SIMULATOR_ACTIONS` is only the simulator's default naming.
* **Strategy matrix** cells (tier × stage): owner, channel, actions, cost range, expected
  success, worth winning back, priority. **Deep-churn rules** for the stages in
  ``matrix.rules.stages``: worth winning back = value > ``value_above`` OR (reason solvable AND
  (success > ``min_success`` OR influential)); the rules' answers are written out per customer
  in ``rule_explanation``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import vocabulary
from features.baseline import scorecard
from features.config import FeaturizeConfig, config_from_params
from features.vocabulary import ACTIVE, DEEP, EARLY, LOST, NO_HISTORY, PRE_CHURN
from models.value import ANNUAL_VALUE_BASES, annual_value, feature_column

#: The strategy-matrix cell columns :func:`matrix_lookup` returns, with their dtypes.
CELL_DTYPES: dict[str, str] = {
    "owner": "str",
    "channel": "str",
    "matrix_actions": "str",
    "matrix_action": "str",
    "cost_min": "float64",
    "cost_max": "float64",
    "expected_success": "float64",
    "matrix_priority": "int64",
    "cell_worth": "bool",
}

SEGMENT_COLUMNS = (
    "customer_id",
    "annual_value",
    "value_tier",
    "stage",
    "segment",
    "acquisition_cost",
    "lifetime_years",
    "clv",
    "cost_cap",
    # the cell's own worth flag is folded into worth_winning_back with the deep-churn rules
    *(c for c in CELL_DTYPES if c != "cell_worth"),
    "worth_winning_back",
    "rule_explanation",
)


@dataclass(frozen=True)
class ActionRole:
    """Who carries out an action and how (``score.actions.<action>``).

    Attributes:
        owner: Who acts (e.g. ``store_manager``); None = :data:`models.actions.DEFAULT_OWNER`.
        channel: How (e.g. ``phone``); None = the log's most common channel of the action,
            else :data:`models.actions.UNKNOWN_CHANNEL`.
    """

    owner: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class SegmentsConfig:
    """Value tiers and stages (``score.segments``).

    Attributes:
        annual_value: ``recurring``, ``active_span`` or ``trailing_365d``
            (:func:`models.value.annual_value`).
        referral_value: CNY a year added to annual value per referral (0 = referrals ignored).
        tier_bounds: Increasing CNY bounds between tiers (at most 4).
        tier_names: Tier names, lowest first (one more than bounds).
        stage_bounds: Days since last visit where early, deep and lost start.
        pre_churn_risk: Calibrated churn risk from which an active customer is pre-churn.
    """

    annual_value: str = "recurring"
    referral_value: float = 0.0
    tier_bounds: tuple[float, ...] = vocabulary.TIER_BOUNDS
    tier_names: tuple[str, ...] = vocabulary.TIERS
    stage_bounds: tuple[int, ...] = (90, 180, 365)
    pre_churn_risk: float = 0.5

    def __post_init__(self) -> None:
        if self.annual_value not in ANNUAL_VALUE_BASES:
            raise ValueError(
                f"score.segments.annual_value must be one of {ANNUAL_VALUE_BASES}, "
                f"not {self.annual_value!r}"
            )
        b = [float(x) for x in self.tier_bounds]
        if any(y <= x for x, y in zip(b, b[1:], strict=False)):
            raise ValueError(f"score.segments.tier_bounds must be strictly increasing, got {b}")
        if len(self.tier_names) != len(b) + 1:
            raise ValueError(
                f"score.segments.tier_names needs {len(b) + 1} names for {len(b)} bounds, "
                f"got {list(self.tier_names)}"
            )
        if len(self.tier_names) > vocabulary.MAX_TIERS:
            raise ValueError(
                f"at most {vocabulary.MAX_TIERS} value tiers, got {len(self.tier_names)}"
            )
        if len(set(self.tier_names)) != len(self.tier_names):
            raise ValueError(f"score.segments.tier_names repeat a name: {list(self.tier_names)}")
        s = list(self.stage_bounds)
        if len(s) != 3 or any(y <= x for x, y in zip(s, s[1:], strict=False)) or s[0] <= 0:
            raise ValueError(
                f"score.segments.stage_bounds must be 3 increasing positive day counts "
                f"(early, deep, lost), got {s}"
            )
        if not 0.0 <= self.pre_churn_risk <= 1.0:
            raise ValueError(
                f"score.segments.pre_churn_risk must be in [0, 1], got {self.pre_churn_risk}"
            )
        if self.referral_value < 0:
            raise ValueError("score.segments.referral_value must be >= 0")


@dataclass(frozen=True)
class EconomicsConfig:
    """Margins, lifetime, acquisition cost, caps and action costs (``score.economics``).

    Attributes:
        margin: Gross margin on service spend (share 0–1).
        lifetime_years: Expected remaining years as a customer, or ``"from_risk"``.
        max_lifetime_years: Upper limit of the ``from_risk`` lifetime.
        risk_horizon_days: The churn risk's horizon in days, for ``from_risk``; None (the
            default) = the horizon the churn model was trained for (``featurize.horizon_days``).
        acquisition_cost: CNY, used where the customers table gives none.
        cap_share: Share of CLV that may be spent on winning the customer back, over the
            lifetime (the playbook's 30%).
        return_value_years: Years of margin a return within the response window buys back:
            value of a return = annual value × margin × this (one definition for every policy).
        action_costs: CNY per contact of an action, overriding the outreach log's median
            cost of that action (empty = every cost from the log).
        coupon_value: Face value of the coupon (CNY off the return invoice).
        coupon_actions: Actions that carry the coupon; None = those whose name contains
            ``coupon`` (:func:`models.actions.is_coupon`).
    """

    margin: float = 0.4
    lifetime_years: float | str = 3.0
    max_lifetime_years: float = 6.0
    risk_horizon_days: int | None = None
    acquisition_cost: float = 3000.0
    cap_share: float = 0.3
    return_value_years: float = 1.0
    action_costs: dict[str, float] = field(default_factory=dict)
    coupon_value: float = 100.0
    coupon_actions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.margin <= 1.0:
            raise ValueError(f"score.economics.margin must be in (0, 1], got {self.margin}")
        if isinstance(self.lifetime_years, str):
            if self.lifetime_years != "from_risk":
                raise ValueError(
                    "score.economics.lifetime_years must be a number of years or 'from_risk', "
                    f"not {self.lifetime_years!r}"
                )
        elif not self.lifetime_years > 0:
            raise ValueError(
                f"score.economics.lifetime_years must be > 0, got {self.lifetime_years}"
            )
        if not 0.0 <= self.cap_share <= 1.0:
            raise ValueError(f"score.economics.cap_share must be in [0, 1], got {self.cap_share}")
        for name in ("max_lifetime_years", "risk_horizon_days", "return_value_years"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"score.economics.{name} must be > 0")
        if self.acquisition_cost < 0 or self.coupon_value < 0:
            raise ValueError("score.economics acquisition_cost and coupon_value must be >= 0")
        bad = {a: c for a, c in self.action_costs.items() if c is None or not c >= 0}
        if bad:
            raise ValueError(f"score.economics.action_costs must be >= 0, got {bad}")


@dataclass(frozen=True)
class MatrixCell:
    """One cell of the strategy matrix (a value tier × stage).

    Attributes:
        owner: Who acts (store_manager, service_advisor, automated, none).
        channel: How (phone, sms, visit, none).
        actions: The playbook's actions, primary first (empty = no action).
        cost_min: Lower end of the playbook's cost range per customer (CNY).
        cost_max: Upper end.
        expected_success: The playbook's expected win-back rate.
        worth_winning_back: False for the playbook's "not worth winning back" cells.
        priority: Order in which a store works the cells (1 first).
    """

    owner: str = "none"
    channel: str = "none"
    actions: tuple[str, ...] = ()
    cost_min: float = 0.0
    cost_max: float = 0.0
    expected_success: float = 0.0
    worth_winning_back: bool = False
    priority: int = 99


@dataclass(frozen=True)
class RulesConfig:
    """The playbook's deep-churn decision rules (``score.matrix.rules``).

    Attributes:
        stages: Stages the rules decide "worth winning back" for.
        value_above: Annual value (CNY) above which a customer is worth it outright.
        solvable_min_points: Scorecard ``reason_points`` from which the reason is solvable
            (5 = a service hurt, 3 = a price or weak signal, 0 = no identifiable reason).
        influential_min_referrals: Referrals from which a customer is influential.
        min_success: Expected success the win-back must exceed.
    """

    stages: tuple[str, ...] = (DEEP,)
    value_above: float = 5000.0
    solvable_min_points: float = 3.0
    influential_min_referrals: int = 2
    min_success: float = 0.2


@dataclass(frozen=True)
class PolicySettings:
    """Which customers and actions the model policy may use (``score.policy``).

    Attributes:
        allowed_actions: Actions the policy may choose from, in tie-break order; None = every
            action the win-back model learned, cheapest first.
        eligible_stages: Stages a customer must be in to be contacted.
    """

    allowed_actions: tuple[str, ...] | None = None
    eligible_stages: tuple[str, ...] = (PRE_CHURN, EARLY, DEEP, LOST)


def _default_cells() -> dict[str, dict[str, MatrixCell]]:
    def c(owner, channel, actions, lo, hi, success, worth, prio):
        return MatrixCell(owner, channel, tuple(actions), lo, hi, success, worth, prio)

    auto = ("automated", "sms", ["sms_coupon"], 12.0, 112.0)
    advisor = ("service_advisor", "phone", ["advisor_call"], 20.0, 50.0)
    manager = ("store_manager", "phone", ["manager_call"], 80.0, 150.0)
    visit = ("store_manager", "visit", ["home_visit"], 350.0, 600.0)
    nothing = ("none", "none", [], 0.0, 0.0)
    return {
        "high": {
            PRE_CHURN: c(*advisor, 0.50, True, 1),
            EARLY: c(*manager, 0.40, True, 2),
            DEEP: c(*visit, 0.25, True, 4),
            LOST: c(*manager, 0.08, True, 7),
        },
        "mid": {
            PRE_CHURN: c(*auto, 0.45, True, 3),
            EARLY: c(*advisor, 0.35, True, 5),
            DEEP: c(*advisor, 0.20, True, 8),
            LOST: c(*auto, 0.05, False, 11),
        },
        "low": {
            PRE_CHURN: c(*auto, 0.40, True, 6),
            EARLY: c(*auto, 0.30, True, 9),
            DEEP: c(*auto, 0.15, False, 10),
            LOST: c(*nothing, 0.05, False, 12),
        },
    }


@dataclass(frozen=True)
class ScoreConfig:
    """Everything :func:`segment` and :mod:`models.policy` need (the ``score:`` block).

    Attributes:
        segments: Tiers and stages.
        economics: CLV, caps, action costs.
        cells: ``{tier: {stage: MatrixCell}}``; a missing cell means no action.
        rules: Deep-churn decision rules.
        policy: Allowed actions and eligible stages of the model policy.
        roles: Owner and channel per action (``score.actions``), for the CRM rows of an
            action no matrix cell names.
        notes: What :func:`models.actions.resolve_actions` skipped or left unplaced.
    """

    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    economics: EconomicsConfig = field(default_factory=EconomicsConfig)
    cells: dict[str, dict[str, MatrixCell]] = field(default_factory=_default_cells)
    rules: RulesConfig = field(default_factory=RulesConfig)
    policy: PolicySettings = field(default_factory=PolicySettings)
    roles: dict[str, ActionRole] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        # Action names are checked against the win-back model's actions when the config is
        # resolved for it (models.actions.resolve_actions): they come from the outreach log.
        tiers = set(self.segments.tier_names)
        unknown_tiers = sorted(set(self.cells) - tiers)
        if unknown_tiers:
            raise ValueError(
                f"score.matrix.cells names unknown value tier(s) {unknown_tiers}; tiers are "
                f"{list(self.segments.tier_names)}"
            )
        for tier, row in self.cells.items():
            for stage, cell in row.items():
                where = f"score.matrix.cells.{tier}.{stage}"
                if stage not in vocabulary.STAGES:
                    raise ValueError(
                        f"{where}: unknown stage {stage!r}; stages are {list(vocabulary.STAGES)}"
                    )
                if not 0.0 <= cell.expected_success <= 1.0:
                    raise ValueError(f"{where}: expected_success must be in [0, 1]")
                if cell.cost_max < cell.cost_min:
                    raise ValueError(f"{where}: cost range must have min <= max")
        for name, values, known in (
            ("score.policy.eligible_stages", self.policy.eligible_stages, set(vocabulary.STAGES)),
            ("score.matrix.rules.stages", self.rules.stages, set(vocabulary.STAGES)),
        ):
            bad = sorted(set(values) - known)
            if bad:
                raise ValueError(f"{name}: unknown {bad}; known: {sorted(known)}")
        if self.policy.allowed_actions is not None and not self.policy.allowed_actions:
            raise ValueError("score.policy.allowed_actions is empty (null = every action)")

    @classmethod
    def from_params(cls, block: Mapping[str, Any] | None) -> ScoreConfig:
        """Build from the ``score:`` params block (unknown keys fail loudly).

        Args:
            block: ``{segments, economics, matrix: {cells, rules}, policy, actions}``; any
                part may be absent (defaults apply). ``matrix.cells`` replaces the default
                matrix as a whole: ``{tier: {stage: {owner, channel, actions, cost_range:
                [min, max], expected_success, worth_winning_back, priority}}}``; ``actions``
                is ``{action: {owner, channel}}``.

        Raises:
            ValueError: Unknown keys, bad values, unsorted tier bounds, unknown stages or
                tiers in the matrix.
        """
        block = dict(block or {})
        known = {"segments", "economics", "matrix", "policy", "actions"}
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(f"unknown score params: {unknown}; known: {sorted(known)}")
        matrix = dict(block.get("matrix") or {})
        bad = sorted(set(matrix) - {"cells", "rules"})
        if bad:
            raise ValueError(f"unknown score.matrix params: {bad}; known: cells, rules")
        eco = dict(block.get("economics") or {})
        if "action_costs" in eco:
            costs = dict(eco["action_costs"] or {})
            eco["action_costs"] = {str(k): _cost(k, v) for k, v in costs.items()}
        if eco.get("coupon_actions") is not None:
            eco["coupon_actions"] = _names(eco["coupon_actions"])
        pol = dict(block.get("policy") or {})
        if pol.get("allowed_actions") is not None:
            pol["allowed_actions"] = _names(pol["allowed_actions"])
        if isinstance(eco.get("lifetime_years"), int):
            eco["lifetime_years"] = float(eco["lifetime_years"])
        kwargs: dict[str, Any] = {
            "segments": config_from_params(SegmentsConfig, block.get("segments"), "score.segments"),
            "economics": config_from_params(EconomicsConfig, eco, "score.economics"),
            "rules": config_from_params(RulesConfig, matrix.get("rules"), "score.matrix.rules"),
            "policy": config_from_params(PolicySettings, pol, "score.policy"),
            "roles": {
                str(a): config_from_params(ActionRole, spec, f"score.actions.{a}")
                for a, spec in dict(block.get("actions") or {}).items()
            },
        }
        if matrix.get("cells") is not None:
            kwargs["cells"] = _parse_cells(matrix["cells"])
        return cls(**kwargs)


def _names(value: Any) -> tuple[str, ...]:
    """A YAML action list (or a single name) as a tuple of names."""
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _cost(action: Any, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"score.economics.action_costs.{action} must be a number, got {value!r}"
        ) from exc


def _parse_cells(cells: Mapping[str, Any]) -> dict[str, dict[str, MatrixCell]]:
    out: dict[str, dict[str, MatrixCell]] = {}
    for tier, row in dict(cells).items():
        out[str(tier)] = {}
        for stage, spec in dict(row or {}).items():
            spec = dict(spec or {})
            where = f"score.matrix.cells.{tier}.{stage}"
            rng = spec.pop("cost_range", None)
            if rng is not None:
                if len(rng) != 2:
                    raise ValueError(f"{where}.cost_range must be [min, max], got {rng}")
                spec["cost_min"], spec["cost_max"] = float(rng[0]), float(rng[1])
            if "actions" in spec and isinstance(spec["actions"], str):
                spec["actions"] = [spec["actions"]]
            out[str(tier)][str(stage)] = config_from_params(MatrixCell, spec, where)
    return out


# --------------------------------------------------------------------------------------------


def tier_of(value: pd.Series, config: SegmentsConfig | None = None) -> pd.Series:
    """Tier name per value by :func:`features.vocabulary.value_tier` with this config's bounds."""
    cfg = config or SegmentsConfig()
    return vocabulary.value_tier(value, cfg.tier_bounds, cfg.tier_names).rename(None)


def stage_of(
    days_since_last_visit: pd.Series, churn_risk: pd.Series, config: SegmentsConfig | None = None
) -> pd.Series:
    """Stage per customer (active / pre_churn / early / deep / lost / no_history)."""
    cfg = config or SegmentsConfig()
    d = days_since_last_visit.astype("float64")
    risk = pd.Series(churn_risk, index=d.index).astype("float64")
    b1, b2, b3 = cfg.stage_bounds
    stage = np.select(
        [d.isna(), d >= b3, d >= b2, d >= b1, risk >= cfg.pre_churn_risk],
        [NO_HISTORY, LOST, DEEP, EARLY, PRE_CHURN],
        default=ACTIVE,
    )
    return pd.Series(stage, index=d.index, dtype="str", name="stage")


def lifetime_years(
    churn_risk: pd.Series,
    config: EconomicsConfig | None = None,
    horizon_days: int = FeaturizeConfig.horizon_days,
) -> pd.Series:
    """Expected remaining lifetime in years (fixed, or from the churn risk).

    Args:
        churn_risk: Calibrated churn risk per row.
        config: Settings; defaults when None.
        horizon_days: The churn risk's horizon (``featurize.horizon_days``), unless
            ``config.risk_horizon_days`` sets another.
    """
    cfg = config or EconomicsConfig()
    risk = pd.Series(churn_risk).astype("float64")
    if not isinstance(cfg.lifetime_years, str):
        return pd.Series(float(cfg.lifetime_years), index=risk.index, name="lifetime_years")
    r = risk.clip(0.0, 1.0).fillna(1.0).to_numpy()
    horizon = (cfg.risk_horizon_days or horizon_days) / 365.0
    with np.errstate(divide="ignore"):
        years = np.where(r > 0, horizon * (1 - r) / np.where(r > 0, r, 1.0), math.inf)
    return pd.Series(np.minimum(years, cfg.max_lifetime_years), index=risk.index).rename(
        "lifetime_years"
    )


def matrix_lookup(
    value_tier: pd.Series, stage: pd.Series, config: ScoreConfig | None = None
) -> pd.DataFrame:
    """The strategy-matrix cell of each (value tier, stage); no cell → no action.

    Returns:
        Columns ``owner``, ``channel``, ``matrix_actions`` (``"a+b"``), ``matrix_action``
        (the primary action or ``none``), ``cost_min``, ``cost_max``, ``expected_success``,
        ``matrix_priority``, ``cell_worth`` — index as ``value_tier``.
    """
    cfg = config or ScoreConfig()
    empty = MatrixCell()
    # Look each distinct (tier, stage) pair up once; a million customers share a few cells.
    keys = pd.MultiIndex.from_arrays(
        [value_tier.astype("str").to_numpy(), stage.astype("str").to_numpy()]
    )
    codes, pairs = pd.factorize(keys)
    cells = []
    for tier, stg in pairs:
        cell = cfg.cells.get(tier, {}).get(stg, empty)
        cells.append(
            (
                cell.owner,
                cell.channel,
                "+".join(cell.actions) if cell.actions else vocabulary.NO_ACTION,
                cell.actions[0] if cell.actions else vocabulary.NO_ACTION,
                cell.cost_min,
                cell.cost_max,
                cell.expected_success,
                cell.priority,
                bool(cell.worth_winning_back and cell.actions),
            )
        )
    table = pd.DataFrame(cells, columns=list(CELL_DTYPES)).astype(CELL_DTYPES)
    out = table.iloc[codes].set_axis(value_tier.index)
    return out.astype(CELL_DTYPES)


def _reason_points(features: pd.DataFrame, featurize_config: FeaturizeConfig | None) -> pd.Series:
    if "reason_points" in features.columns:
        return features["reason_points"].astype("float64")
    return scorecard(features, featurize_config)["reason_points"].astype("float64")


def deep_churn_rules(
    value: pd.Series,
    reason_points: pd.Series,
    referrals: pd.Series,
    success: pd.Series,
    config: RulesConfig | None = None,
) -> tuple[pd.Series, pd.Series]:
    """The playbook's deep-churn decision: worth winning back, and why, in words.

    worth = value > value_above OR (reason solvable AND (success > min_success OR influential)).

    Returns:
        ``(worth, explanation)``: a bool series and a string series, index as ``value``.
    """
    cfg = config or RulesConfig()
    v = value.astype("float64").to_numpy()
    pts = reason_points.astype("float64").fillna(0.0).to_numpy()
    refs = referrals.astype("float64").fillna(0.0).to_numpy()
    succ = success.astype("float64").fillna(0.0).to_numpy()
    high = v > cfg.value_above
    solvable = pts >= cfg.solvable_min_points
    influential = refs >= cfg.influential_min_referrals
    likely = succ > cfg.min_success
    worth = high | (solvable & (likely | influential))

    def yn(flag: bool) -> str:
        return "yes" if flag else "no"

    texts = []
    for i in range(len(v)):
        if high[i]:
            why = "high value"
        elif worth[i]:
            why = "reason solvable and " + ("success likely" if likely[i] else "influential")
        elif not solvable[i]:
            why = "no solvable reason"
        else:
            why = "success unlikely and not influential"
        texts.append(
            f"value {v[i]:,.0f} > {cfg.value_above:,.0f}: {yn(high[i])}; "
            f"reason solvable (scorecard {pts[i]:g} >= {cfg.solvable_min_points:g}): "
            f"{yn(solvable[i])}; influential ({refs[i]:g} referrals >= "
            f"{cfg.influential_min_referrals}): {yn(influential[i])}; "
            f"success {succ[i]:.0%} > {cfg.min_success:.0%}: {yn(likely[i])} -> "
            f"{'worth winning back' if worth[i] else 'not worth winning back'} ({why})"
        )
    idx = value.index
    return pd.Series(worth, index=idx, name="worth_winning_back"), pd.Series(
        texts, index=idx, dtype="str", name="rule_explanation"
    )


def segment(
    features: pd.DataFrame,
    churn_risk: pd.Series | np.ndarray,
    config: ScoreConfig | None = None,
    acquisition_cost: pd.Series | np.ndarray | None = None,
    *,
    featurize_config: FeaturizeConfig | None = None,
    success: pd.Series | None = None,
) -> pd.DataFrame:
    """Value tier, stage, CLV, cost cap and strategy-matrix cell of every customer.

    Args:
        features: :func:`features.build.build_features` rows (one per customer).
        churn_risk: Calibrated churn risk per row (aligned with ``features``).
        config: Settings; defaults when None.
        acquisition_cost: CNY per row (e.g. the customers table's column aligned to the
            rows); missing values and None fall back to ``economics.acquisition_cost``.
        featurize_config: Settings of the playbook scorecard (reason solvable).
        success: Expected win-back success per row for the deep-churn rules; None uses the
            matrix cell's expected success (what the playbook itself assumes).

    Returns:
        Index as ``features``: the :data:`SEGMENT_COLUMNS` (``customer_id`` only if the
        features have it).

    Raises:
        ValueError: A feature column the segments need is missing, or lengths differ.
    """
    cfg = config or ScoreConfig()
    idx = features.index
    risk = pd.Series(np.asarray(churn_risk, dtype="float64"), index=idx, name="churn_risk")
    if len(risk) != len(features):
        raise ValueError("churn_risk must have one value per feature row")
    value = annual_value(features, cfg.segments.annual_value, cfg.segments.referral_value)
    tier = tier_of(value, cfg.segments)
    stage = stage_of(feature_column(features, "days_since_last_visit"), risk, cfg.segments)
    eco = cfg.economics
    acq = pd.Series(eco.acquisition_cost, index=idx, dtype="float64")
    if acquisition_cost is not None:
        given = pd.Series(np.asarray(acquisition_cost, dtype="float64"), index=idx)
        acq = given.where(given.notna(), acq)
    horizon = (featurize_config or FeaturizeConfig()).horizon_days
    life = lifetime_years(risk, eco, horizon)
    clv = value * eco.margin * life - acq
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.where(life > 0, np.maximum(clv, 0.0) * eco.cap_share / life, 0.0)
    cells = matrix_lookup(tier, stage, cfg)
    refs = (
        features["referrals"]
        if "referrals" in features.columns
        else pd.Series(0.0, index=idx, dtype="float64")
    )
    succ = cells["expected_success"] if success is None else pd.Series(success, index=idx)
    in_rules = stage.isin(cfg.rules.stages).to_numpy()
    # The rules (and their explanation text, one formatted string per row) only matter in the
    # stages they govern: evaluate them on those rows alone.
    rule_worth = pd.Series(False, index=idx)
    rule_text = pd.Series("", index=idx, dtype="str")
    if in_rules.any():
        # reason points on every row: with baseline_missing "mean" they depend on all rows
        points = _reason_points(features, featurize_config)
        w, t = deep_churn_rules(
            value[in_rules],
            points[in_rules],
            refs[in_rules],
            succ[in_rules],
            cfg.rules,
        )
        rule_worth[in_rules] = w.to_numpy()
        rule_text[in_rules] = t.to_numpy()
    worth = np.where(
        in_rules, rule_worth & (cells["matrix_action"] != vocabulary.NO_ACTION), cells["cell_worth"]
    )
    out = pd.DataFrame(index=idx)
    if "customer_id" in features.columns:
        out["customer_id"] = features["customer_id"].astype("str")
    out["annual_value"] = value
    out["value_tier"] = tier
    out["stage"] = stage
    out["segment"] = (tier + "|" + stage).astype("str")
    out["acquisition_cost"] = acq
    out["lifetime_years"] = life
    out["clv"] = clv
    out["cost_cap"] = cap
    for c in cells.columns.drop("cell_worth"):
        out[c] = cells[c]
    out["worth_winning_back"] = worth.astype(bool)
    out["rule_explanation"] = rule_text
    return out
