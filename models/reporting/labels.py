"""The figures' words in Chinese and English: one label table, names, money and durations.

Every title, axis label and legend entry of a figure comes from :data:`TEXT` (key → zh, en)
or, for the store's own names (stages, tiers, actions, policies, models), from :data:`NAMES`;
feature names use the feature dictionary's ``label_zh`` / ``label_en``. A name the table does
not know (a store's own action, say) is shown as it is. ``lang`` is ``"zh"`` or ``"en"``
(:data:`models.reporting.figures.LANGS`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.dictionary import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    MISSING_EN,
    MISSING_ZH,
    feature_dictionary,
)
from models.reporting.figures import check_lang
from models.reporting.i18n import LOST_REASON_LABELS

#: Figure text by key: (Chinese, English). ``{...}`` fields are filled by :func:`text`.
TEXT: dict[str, tuple[str, str]] = {
    # the evaluation curves
    "roc.title": ("流失预测：ROC 曲线", "Churn: ROC"),
    "roc.x": ("误报率（未流失被判为流失）", "False positive rate"),
    "roc.y": ("命中率（流失客户被识别）", "True positive rate"),
    "pr.title": ("流失预测：精确率-召回率", "Churn: precision-recall"),
    "pr.x": ("召回率", "Recall"),
    "pr.y": ("精确率", "Precision"),
    "lift.title": ("流失预测：累计增益", "Churn: cumulative gains"),
    "lift.x": ("按风险从高到低覆盖的客户占比", "Share of customers targeted"),
    "lift.y": ("覆盖到的流失客户占比", "Share of churners captured"),
    "qini.title": ("召回：Qini 曲线（任一动作 vs 对照）", "Win-back: Qini curve, any action vs control"),
    "qini.x": ("按排序覆盖的召回记录占比", "Share of outreach rows targeted"),
    "qini.y": ("增量回店数（Qini）", "Incremental returns (Qini)"),
    "qini_action.title": ("召回：各动作的 Qini 曲线（vs 对照）", "Win-back: Qini curve per action vs control"),
    "qini_action.x": ("覆盖占比", "Share targeted"),
    "qini_action.y": ("增量回店数", "Incremental returns"),
    "calibration.title": ("流失预测：校准", "Churn: calibration"),
    "calibration.x": ("预测流失概率（分组均值）", "Mean predicted churn probability"),
    "calibration.y": ("实际流失率", "Observed churn rate"),
    "calibration.perfect": ("完全校准", "perfect"),
    "calibration.bins": ("每组客户数", "rows per bin"),
    "chance": ("随机", "chance"),
    "headline.test": ("测试期 {period}，{rows} 行", "test {period}, {rows} rows"),
    "headline.rows": ("{rows} 行", "{rows} rows"),
    # the SHAP figures
    "beeswarm.title": ("流失风险：每位客户的 SHAP 值（对数几率）", "Churn risk: SHAP values per customer (log-odds)"),
    "beeswarm.colour": ("特征取值（灰色：无记录）", "Feature value (grey: not recorded)"),
    "beeswarm.low": ("低", "Low"),
    "beeswarm.high": ("高", "High"),
    "shap.rest": ("其余 {n} 个特征之和", "Sum of {n} other features"),
    "importance.title": ("全局特征重要性", "Global feature importance"),
    "importance.x": ("平均 |SHAP 值|（流失对数几率）", "mean |SHAP value| (log-odds of churn)"),
    "dependence.title": ("依赖图：{feature}", "Dependence: {feature}"),
    "dependence.y": ("SHAP 值（流失对数几率）", "SHAP value (log-odds of churn)"),
    "recorded": ("有记录", "recorded"),
    "not_recorded": (MISSING_ZH, MISSING_EN),
    "not_recorded.axis": ("无记录\n（{n} 行）", "not recorded\n({n} rows)"),
    # durations on axes
    "unit.days": ("天", "days"),
    "unit.months": ("月", "months"),
    "unit.years": ("年", "years"),
    # the value x stage matrix
    "matrix.title": ("价值 × 阶段：客户、触达、预期回店、预算", "Value × stage: customers, contacts, expected returns, budget"),
    "matrix.title_as_of": ("价值 × 阶段（截至 {date}）", "Value × stage as of {date}"),
    "matrix.x": ("流失阶段", "stage"),
    "matrix.y": ("价值等级", "value tier"),
    "matrix.colour": ("客户数（对数刻度）", "customers (log scale)"),
    "matrix.customers": ("{n} 位客户", "{n} customers"),
    "matrix.contacted": ("触达 {n}", "{n} contacted"),
    "matrix.returns": ("预期回店 {n}", "{n} exp. returns"),
    "matrix.budget": ("预算 {money}", "budget {money}"),
    "matrix.budget_used": ("已用预算 {money}", "budget used {money}"),
    # the budget sweep
    "sweep.x": ("预算（占统一优惠券成本的比例）", "Budget (share of the same-coupon cost)"),
    "sweep.value.y": ("净收益（增量价值 − 成本，元，模拟真值）", "Net value (incremental value − cost, CNY, truth)"),
    "sweep.value.title": ("同等预算下的净收益", "Net value at equal budget"),
    "sweep.ratio.y": ("每元成本的增量价值", "Incremental value per CNY of cost"),
    "sweep.ratio.title": ("单位成本价值", "Value per unit of cost"),
    # the monitor
    "monitor.x": ("增量回店率（触达 − 对照）", "incremental win-back rate (contacted − control)"),
    "monitor.title": ("触达后 {days} 天", "{days} days after contact"),
    "monitor.none": ("尚无可观察的窗口", "no observed window yet"),
    "monitor.all": ("全部", "ALL"),
    "monitor.interval": ("置信区间", "confidence interval"),
    "monitor.y": ("细分（触达 / 对照 人数）", "segment (contacted / control customers)"),
    "monitor.suptitle": ("召回效果：触达 vs 对照（截至 {date}）", "Win-back effect: contacted vs control (until {date})"),
    # the leads figures
    "leads.by_model": ("线索战败原因（按车型，占战败线索比例）", "Why leads are lost, by model (share of lost leads)"),
    "leads.by_region": ("线索战败原因（按地区）", "Why leads are lost, by region"),
    "leads.share_x": ("占战败线索比例（一条线索可有两个原因）", "share of lost leads (a lead may have two reasons)"),
    "leads.by_month": ("各月战败原因", "Loss reasons by month"),
    "leads.share": ("占战败线索比例", "share of lost leads"),
    "leads.went": ("战败线索的去向（竞品车型）", "Where lost leads went (competitor models)"),
    "leads.compared": ("战败于/对比过", "lost to / compared with"),
    "leads.bought": ("已购买该车型", "bought it"),
    "leads.lost_leads": ("战败线索数", "lost leads"),
    "leads.records": ("顾问的战败记录", "Consultants' loss records"),
    "leads.incomplete_x": ("不完整战败记录占比", "share of incomplete loss records"),
    "leads.flagged": ("已标记：不完整记录过多", "flagged: too many incomplete"),
    "leads.not_flagged": ("未标记", "not flagged"),
    "leads.roc.x": ("误报率（未购买线索中被排在前面的比例）", "false positive rate"),
    "leads.roc.y": ("命中率（购买线索中被排在前面的比例）", "true positive rate"),
    "leads.roc": ("90 天内购买：后续战败月份", "Who buys within 90 days: later loss months"),
    "leads.model": ("模型", "model"),
    "leads.rule": ("规则分级", "rule grade"),
    # the benchmark
    "bench.title": ("winback：耗时 vs 客户数（虚线：线性）", "winback: time vs customers (dotted: linear)"),
    "bench.x": ("客户数", "customers"),
    "bench.y": ("耗时（秒）", "wall time (s)"),
    "bench.linear": ("线性参考", "linear reference"),
}  # fmt: skip

#: Stage, tier, action, policy, model and verdict names: (Chinese, English).
NAMES: dict[str, tuple[str, str]] = {
    "active": ("活跃", "active"),
    "pre_churn": ("预流失", "pre-churn"),
    "early": ("早期流失", "early churn"),
    "deep": ("深度流失", "deep churn"),
    "lost": ("已流失", "lost"),
    "no_history": ("无到店记录", "no history"),
    "low": ("低价值", "low"),
    "mid": ("中价值", "mid"),
    "high": ("高价值", "high"),
    "unknown": ("未知", "unknown"),
    "none": ("不触达（对照）", "none (control)"),
    "sms_coupon": ("短信优惠券", "SMS coupon"),
    "advisor_call": ("顾问电话", "advisor call"),
    "manager_call": ("经理电话", "manager call"),
    "home_visit": ("上门拜访", "home visit"),
    "model": ("模型策略", "model policy"),
    "same_coupon": ("统一优惠券", "same coupon"),
    "oracle": ("全知参照（真值）", "oracle (truth)"),
    "ceiling": ("可观测上限（特征拟合真值）", "observable ceiling"),
    "playbook_matrix": ("手册矩阵", "playbook matrix"),
    "churn_model": ("流失模型（已校准）", "churn model (calibrated)"),
    "formula": ("手册公式", "playbook formula"),
    "uplift_model": ("增量模型", "uplift model"),
    "scorecard": ("手册评分卡", "playbook scorecard"),
    "churn_risk": ("流失风险", "churn risk"),
    "random": ("随机", "random"),
    "improved": ("有改善", "improved"),
    "no evidence": ("无证据", "no evidence"),
    "worse": ("变差", "worse"),
    "too few": ("样本过少", "too few"),
    "simulate": ("模拟", "simulate"),
    "features": ("特征", "features"),
    "score": ("评分", "score"),
    # the loss reasons: one table with the report page's (models/reporting/i18n.py)
    **LOST_REASON_LABELS,
    "unrecorded": ("未记录", "not recorded"),
    "total": ("合计", "total"),
}  # fmt: skip


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if check_lang(lang) == "zh" else pair[1]


def text(key: str, lang: str, **fields: object) -> str:
    """The figure text ``key`` in ``lang``, its ``{fields}`` filled.

    Raises:
        KeyError: ``key`` is not in :data:`TEXT` (a typo in a figure, not a data problem).
    """
    return _pick(TEXT[key], lang).format(**fields)


def name(value: object, lang: str) -> str:
    """A stage, tier, action, policy or model name in ``lang``; unknown names as they are."""
    pair = NAMES.get(str(value))
    return str(value) if pair is None else _pick(pair, lang)


def segment_name(segment: object, lang: str) -> str:
    """A value × stage segment (``high|deep``) in ``lang``: 高价值·深度流失 / high · deep churn."""
    parts = [name(p, lang) for p in str(segment).split("|")]
    return ("·" if check_lang(lang) == "zh" else " · ").join(parts)


def feature_label(feature: str, lang: str, dictionary: pd.DataFrame | None = None) -> str:
    """The dictionary's label of ``feature`` (``label_zh`` or ``label_en``)."""
    return feature_labels([feature], lang, dictionary)[0]


def feature_labels(
    features: list[str], lang: str, dictionary: pd.DataFrame | None = None
) -> list[str]:
    """The dictionary's labels of ``features`` in ``lang`` (None dictionary = built-in)."""
    col = "label_zh" if check_lang(lang) == "zh" else "label_en"
    d = feature_dictionary() if dictionary is None else dictionary
    known = dict(zip(d["name"], d[col], strict=True)) if col in d.columns else {}
    # a feature the dictionary does not know is shown by its column name
    return [str(known.get(f) or f) for f in features]


def _trim(x: float, decimals: int) -> str:
    s = f"{x:,.{decimals}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def money(x: float, lang: str) -> str:
    """A CNY amount for an axis or a cell: zh 80万 / 1.2亿 / 5,000; en 800k / 1.2M / 5,000."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    sign, a = ("-" if x < 0 else ""), abs(float(x))
    if check_lang(lang) == "zh":
        for size, unit in ((1e8, "亿"), (1e4, "万")):
            if a >= size:
                return f"{sign}{_trim(a / size, 1)}{unit}"
        return f"{sign}{_trim(a, 0)}"
    # exact below 10,000 (5,000 reads better than 5k); k, M, B above
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= max(size, 1e4):
            return f"{sign}{_trim(a / size, 1)}{unit}"
    return f"{sign}{_trim(a, 0)}"


def money_formatter(lang: str) -> Callable[[float, object], str]:
    """A tick formatter (``ax.yaxis.set_major_formatter``) writing CNY as :func:`money`."""
    check_lang(lang)
    return lambda x, _pos=None: money(x, lang)


def duration_unit(days: np.ndarray) -> tuple[str, float]:
    """The unit a person reads a span of durations in: ``(days|months|years, days per unit)``.

    Spans up to 120 days stay in days, up to two years read in months, longer in years.
    """
    finite = np.abs(np.asarray(days, dtype="float64"))
    top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 0.0
    if top >= 2 * DAYS_PER_YEAR:
        return "years", DAYS_PER_YEAR
    if top > 120:
        return "months", DAYS_PER_MONTH
    return "days", 1.0
