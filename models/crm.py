"""The CRM file's schema, its Chinese labels, the churn band and the randomized holdout.

``winback score`` writes one row per customer in the columns of :data:`COLUMNS` (name, English
and Chinese label, the schema version that introduced it); every row carries
:data:`CRM_SCHEMA_VERSION`. docs/crm_schema.md documents each column and the change log, and
``tests/test_crm_schema.py`` keeps the two in step.

* **Labels**: one table (:data:`LABELS_ZH`) gives the Chinese label of every action, owner,
  channel, stage, status, group and band value the simulator and the default params use; a
  store's own value without a label keeps its name (:func:`zh_labels`). Status reasons are
  translated by :func:`reason_zh` (one pattern per reason the scoring writes).
* **Churn band** (:func:`churn_band`): the calibrated churn risk cut at
  ``crm.churn_band.bounds``; the playbook formula's band is the separate ``baseline_band``.
* **Holdout** (:func:`assign_holdout`): a seeded, stratified random share of the selected
  contacts becomes the ``control`` group, so the next outreach log is again a randomized
  experiment; ``propensity`` is each customer's probability of the arm they got.

Settings: the ``crm:`` block of params.yaml (:class:`CrmConfig`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import config_from_params
from features.vocabulary import NO_ACTION

#: The version of the CRM file's columns; every row of the file carries it.
CRM_SCHEMA_VERSION = "2"
K_REASONS = 3
TREATMENT, CONTROL = "treatment", "control"
STATUS_SCORED = "scored"
STATUS_CHURN_ONLY = "churn_only"
STATUS_NO_HISTORY = "no_history"


def _reason_columns() -> list[tuple[str, str, str, str]]:
    out = []
    for j in range(1, K_REASONS + 1):
        out.append((f"reason_{j}_en", f"reason {j} (English)", f"原因{j}（英文）", "1"))
        out.append((f"reason_{j}_zh", f"reason {j} (Chinese)", f"原因{j}（中文）", "1"))
    return out


#: The file's columns in order: (name, English label, Chinese label, since schema version).
COLUMNS: list[tuple[str, str, str, str]] = [
    ("customer_id", "customer id", "客户编号", "1"),
    ("dealer_id", "dealer id", "门店编号", "1"),
    ("name", "name", "姓名", "1"),
    ("phone", "phone", "电话", "1"),
    ("as_of", "as-of date", "评分日期", "1"),
    ("churn_risk", "churn risk (model)", "流失风险（模型）", "1"),
    ("churn_band", "churn band (model)", "流失风险等级（模型）", "2"),
    ("baseline_risk", "baseline risk (formula)", "基准风险分（公式）", "1"),
    ("baseline_band", "baseline band (formula)", "基准风险等级（公式）", "2"),
    ("value_tier", "value tier", "价值等级", "1"),
    ("annual_value", "annual value (CNY)", "年度价值（元）", "1"),
    ("clv", "customer lifetime value (CNY)", "客户终身价值（元）", "1"),
    ("stage", "stage", "流失阶段", "1"),
    ("stage_zh", "stage (Chinese)", "流失阶段（中文）", "2"),
    ("segment", "segment", "客群", "1"),
    ("recommended_action", "recommended action", "推荐动作", "1"),
    ("recommended_action_zh", "recommended action (Chinese)", "推荐动作（中文）", "2"),
    ("owner", "owner", "负责人", "1"),
    ("owner_zh", "owner (Chinese)", "负责人（中文）", "2"),
    ("channel", "channel", "渠道", "1"),
    ("channel_zh", "channel (Chinese)", "渠道（中文）", "2"),
    ("priority_rank", "priority", "优先级", "1"),
    ("group", "experiment group", "实验分组", "2"),
    ("group_zh", "experiment group (Chinese)", "实验分组（中文）", "2"),
    ("propensity", "propensity (chance of this group)", "分组概率", "2"),
    ("candidate_action", "candidate action (before budget and holdout)", "候选动作", "2"),
    ("cost_cap", "cost cap (CNY)", "成本上限（元）", "1"),
    ("p_return", "P(return) with the candidate action", "回店概率", "1"),
    ("uplift", "uplift", "增量回店概率", "1"),
    ("expected_cost", "expected cost (CNY)", "预期成本（元）", "1"),
    ("expected_value", "expected value (CNY)", "预期价值（元）", "1"),
    *_reason_columns(),
    ("rule_explanation", "deep-churn rule", "深度流失规则说明", "1"),
    ("last_outreach", "last outreach date", "上次触达日期", "2"),
    ("model_version", "model version", "模型版本", "1"),
    ("model_data_through", "model data through", "模型数据截止", "1"),
    ("status", "status", "状态", "1"),
    ("status_zh", "status (Chinese)", "状态（中文）", "2"),
    ("status_reason", "status reason", "状态原因", "1"),
    ("status_reason_zh", "status reason (Chinese)", "状态原因（中文）", "2"),
    ("schema_version", "schema version", "字段版本", "2"),
]
#: The export's column names, in order.
OUTPUT_COLUMNS = [c[0] for c in COLUMNS]
#: Columns of schema 1 that were renamed (old -> new): a column never changes meaning.
RENAMED = {"risk_band": "baseline_band"}

#: Chinese labels of the values of the labelled columns (one table for the whole file).
LABELS_ZH: dict[str, dict[str, str]] = {
    "action": {
        NO_ACTION: "不联系",
        "sms_coupon": "短信优惠券",
        "advisor_call": "服务顾问电话",
        "manager_call": "店长电话",
        "home_visit": "上门拜访",
        "wechat_coupon": "微信优惠券",
        "phone_call": "电话回访",
        "manager_visit": "店长拜访",
    },
    "owner": {
        "service_advisor": "服务顾问",
        "store_manager": "店长",
        "automated": "系统自动",
        "consultant": "销售顾问",
        "sales_manager": "销售经理",
        "none": "无",
    },
    "channel": {
        "sms": "短信",
        "phone": "电话",
        "visit": "上门",
        "in_person": "面谈",
        "wechat": "微信",
        "app": "App",
        "unknown": "未知",
        "none": "无",
    },
    "stage": {
        "active": "活跃",
        "pre_churn": "流失预警",
        "early": "早期流失",
        "deep": "深度流失",
        "lost": "已流失",
        "no_history": "无到店记录",
    },
    "status": {
        STATUS_SCORED: "已评分",
        STATUS_CHURN_ONLY: "仅流失评分",
        STATUS_NO_HISTORY: "无法评分（无到店记录）",
    },
    "group": {TREATMENT: "干预组（联系）", CONTROL: "对照组（不联系）"},
    "band": {"low": "低", "medium": "中", "high": "高", "normal": "正常", "pre_churn": "预警"},
}


def zh_labels(values: pd.Series, kind: str) -> pd.Series:
    """Chinese labels of ``values`` from :data:`LABELS_ZH` ``[kind]``.

    A value without a label (a store's own action, owner or channel) keeps its name; a
    missing value stays missing.
    """
    table = LABELS_ZH[kind]
    text = values.astype("object")
    out = text.map(lambda v: table.get(str(v), str(v)) if pd.notna(v) else v)
    return out.astype("object").where(values.notna())


@dataclass(frozen=True)
class HoldoutConfig:
    """``crm.holdout``: the randomized control share of the selected contacts.

    Attributes:
        share: P(control | selected), 0 <= share < 1 (0 = no holdout).
        seed: Seed of the assignment (same data, params and seed -> same groups).
        stratify: Randomize within each value tier (the control share holds per tier).
    """

    share: float = 0.15
    seed: int = 42
    stratify: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.share) < 1.0:
            raise ValueError(f"crm.holdout.share must be in [0, 1), got {self.share}")


@dataclass(frozen=True)
class ChurnBandConfig:
    """``crm.churn_band``: cut-offs of the calibrated churn risk (a risk at a bound moves up).

    Attributes:
        bounds: Increasing risks in (0, 1).
        names: Band names, lowest first, one more than ``bounds``.
    """

    bounds: tuple[float, ...] = (0.3, 0.5)
    names: tuple[str, ...] = ("low", "medium", "high")

    def __post_init__(self) -> None:
        b = [float(x) for x in self.bounds]
        if b != sorted(set(b)) or any(not 0.0 < x < 1.0 for x in b):
            raise ValueError(f"crm.churn_band.bounds must increase inside (0, 1), got {b}")
        if len(self.names) != len(b) + 1:
            raise ValueError("crm.churn_band.names needs one name more than bounds")


@dataclass(frozen=True)
class CrmConfig:
    """The ``crm:`` block: cooldown, holdout and churn band of the CRM file.

    Attributes:
        cooldown_days: A customer picked for outreach fewer than this many days before the
            as-of date is not recommended again (:mod:`models.cooldown`); 0 = off.
        holdout: The randomized control group.
        churn_band: The model's churn band cut-offs.
    """

    cooldown_days: int = 30
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig)
    churn_band: ChurnBandConfig = field(default_factory=ChurnBandConfig)

    def __post_init__(self) -> None:
        if int(self.cooldown_days) < 0:
            raise ValueError(f"crm.cooldown_days must be >= 0, got {self.cooldown_days}")

    @classmethod
    def from_params(cls, block: Mapping[str, Any] | None) -> CrmConfig:
        """Build from the ``crm:`` params block (unknown keys fail loudly)."""
        block = dict(block or {})
        known = {"cooldown_days", "holdout", "churn_band"}
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(f"unknown crm params: {unknown}; known: {sorted(known)}")
        return cls(
            cooldown_days=int(block.get("cooldown_days", 30)),
            holdout=config_from_params(HoldoutConfig, block.get("holdout"), "crm.holdout"),
            churn_band=config_from_params(
                ChurnBandConfig, block.get("churn_band"), "crm.churn_band"
            ),
        )


def churn_band(risk: pd.Series, config: ChurnBandConfig | None = None) -> pd.Series:
    """The band of each calibrated churn risk (missing risk: missing band)."""
    cfg = config or ChurnBandConfig()
    r = risk.astype("float64").to_numpy()
    pos = np.searchsorted(np.asarray(cfg.bounds, dtype="float64"), r, side="right")
    names = np.asarray(cfg.names, dtype=object)[np.minimum(pos, len(cfg.names) - 1)]
    return pd.Series(np.where(np.isnan(r), None, names), index=risk.index, dtype="object")


def _uniform(keys: pd.Series) -> np.ndarray:
    """A deterministic number in [0, 1) per text key (pandas' fixed-key SipHash)."""
    h = pd.util.hash_array(keys.astype("str").to_numpy(dtype=object), categorize=False)
    return (h >> np.uint64(11)).astype("float64") / float(2**53)


def assign_holdout(
    customer_ids: pd.Series,
    selected: pd.Series,
    strata: pd.Series,
    config: HoldoutConfig | None = None,
) -> pd.DataFrame:
    """Randomize the selected contacts into treatment and control.

    Within each stratum (value tier) of n selected customers, ``share × n`` rounded at random
    (down or up, with the fraction as the chance of up) become control: the customers with the
    smallest seeded hash of their id. Every selected customer is control with probability
    exactly ``share``, the control count of a tier is within one of ``share × n``, and a
    customer's draw depends only on the seed and their id, never on row order.

    Args:
        customer_ids: Ids (any index).
        selected: True for the contacts the budget selected (same index).
        strata: The stratum of each customer (value tier; same index).
        config: Share, seed and whether to stratify.

    Returns:
        ``group`` (treatment / control; missing where not selected) and ``propensity``
        (P(this group | selected): 1 − share for treatment, share for control), same index.
    """
    cfg = config or HoldoutConfig()
    share = float(cfg.share)
    ids = customer_ids.astype("str")
    sel = selected.fillna(False).astype(bool)
    group = pd.Series(None, index=ids.index, dtype="object")
    group[sel] = TREATMENT
    if share > 0 and sel.any():
        rows = pd.DataFrame(
            {
                "id": ids[sel],
                "stratum": strata[sel].astype("str") if cfg.stratify else "all",
                "u": _uniform(f"{cfg.seed}|" + ids[sel]),
            }
        )
        for name, part in rows.groupby("stratum", sort=True):
            expected = share * len(part)
            k = math.floor(expected)
            draw = _uniform(pd.Series([f"{cfg.seed}|stratum|{name}|{len(part)}"]))[0]
            k += int(draw < expected - k)
            control = part.sort_values(["u", "id"], kind="stable").index[:k]
            group[control] = CONTROL
    propensity = pd.Series(np.nan, index=ids.index, dtype="float64")
    propensity[group == TREATMENT] = 1.0 - share
    propensity[group == CONTROL] = share
    return pd.DataFrame({"group": group, "propensity": propensity.round(6)})


def cooldown_reason(last: pd.Series, days: int) -> pd.Series:
    """The status reason of a customer in cooldown (English), aligned with ``last``."""
    return (
        "in cooldown: last outreach on "
        + last.dt.strftime("%Y-%m-%d").fillna("")
        + f", fewer than {days} days before the as-of date (crm.cooldown_days)"
    )


def control_reason(share: float) -> str:
    """The status reason of a customer held out as control (English)."""
    return (
        f"held out as the randomized control group (crm.holdout.share {share:g}): do not "
        "contact; log as action none, group control"
    )


DATE = r"(\d{4}-\d{2}-\d{2})"
#: English status reason pattern -> Chinese template (groups of the pattern as {0}, {1}, ...).
REASONS_ZH: list[tuple[str, str]] = [
    (r"no service visit on record", "没有到店记录"),
    (
        rf"no service visit before {DATE}; first visit on {DATE} \(on or after the as-of date\)",
        "{0}之前没有到店记录；首次到店为{1}（在评分日期当天或之后）",
    ),
    (
        rf"no valid service visit before {DATE}: (\d+) visit row\(s\) set aside by validation "
        r"\(see the rejects\)",
        "{0}之前没有有效到店记录：{1}条到店记录未通过数据校验（见 rejects 文件）",
    ),
    (r"do not contact \(customers\.do_not_contact\)", "客户要求勿联系（customers.do_not_contact）"),
    (
        rf"in cooldown: last outreach on {DATE}, fewer than (\d+) days before the as-of date "
        r"\(crm\.cooldown_days\)",
        "冷却期内：上次触达为{0}，距评分日期不足{1}天（crm.cooldown_days），本期不再推荐",
    ),
    (
        r"held out as the randomized control group \(crm\.holdout\.share ([0-9.]+)\): do not "
        r"contact; log as action none, group control",
        "随机对照组（crm.holdout.share {0}）：本期不联系；在触达记录中登记为动作 none、分组 control",
    ),
    (r"recommended action does not fit in the budget", "推荐动作超出预算"),
    (r"stage (\S+) is not a win-back target", "阶段「{0}」不是挽回对象"),
    (
        r"no action has a positive expected value within the cost cap",
        "在成本上限内没有预期价值为正的动作",
    ),
    (r"no win-back model: churn columns only", "没有挽回模型：只提供流失相关列"),
]
_COMPILED = [(re.compile(p), zh) for p, zh in REASONS_ZH]


def _one_reason_zh(text: str) -> str:
    for pattern, zh in _COMPILED:
        m = pattern.fullmatch(text)
        if m:
            groups = [LABELS_ZH["stage"].get(g, g) for g in m.groups()]
            return zh.format(*groups)
    return text  # an untranslated reason stays readable in English


def reason_zh(reasons: pd.Series) -> pd.Series:
    """Chinese status reasons (each distinct English reason translated once)."""
    present = reasons.dropna().astype("str")
    table = {r: _one_reason_zh(r) for r in present.unique()}
    return reasons.map(table).astype("object").where(reasons.notna())
