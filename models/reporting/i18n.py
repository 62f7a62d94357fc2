"""The words of the HTML report in Chinese (the default: store managers read Chinese) and English.

Every text the page shows that is not data is looked up here by key, so the two languages
hold the same sentences; feature names come from the feature dictionary
(:mod:`features.dictionary`, ``label_zh`` / ``label_en``), never from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: The report's languages; the first is the default.
LANGUAGES = ("zh", "en")

#: Key -> (Chinese, English). ``{name}`` placeholders are filled with ``str.format``.
TEXT: Mapping[str, tuple[str, str]] = {
    "title": ("winback 客户流失与召回报告", "winback churn and win-back report"),
    "subtitle": (
        "流失风险模型、召回策略与逐个客户查询（单文件，离线可打开）",
        "Churn-risk model, win-back policy and per-customer lookup (one file, opens offline)",
    ),
    "nav": ("目录", "Contents"),
    "sec_verdict": ("结论", "Verdict"),
    "sec_evaluation": ("模型评估（样本外）", "Evaluation (out of time)"),
    "sec_explain": ("SHAP 全局解释", "SHAP global explanations"),
    "sec_lookup": ("客户查询", "Customer lookup"),
    "sec_matrix": ("价值 × 阶段矩阵", "Value × stage matrix"),
    "sec_policy": ("召回策略对比", "Win-back policy comparison"),
    "sec_monitor": ("召回效果监测", "Win-back effect monitor"),
    "missing_section": (
        "本次运行没有提供此部分的数据（{what}）。",
        "This run did not provide the data of this section ({what}).",
    ),
    # --- verdict
    "good": ("达标", "good"),
    "not_yet": ("尚不足", "not good enough yet"),
    "info": ("说明", "note"),
    "v_churn_beats": (
        "流失风险模型的排序优于行业经验公式：同一批 {n} 条样本外记录上 ROC-AUC {model} 对比 "
        "公式 {formula}，差值 {diff}（{level} 区间 {low} 至 {high}，区间在 0 以上）。",
        "The churn-risk model ranks customers better than the playbook formula: on the same "
        "{n} out-of-time rows ROC-AUC {model} vs the formula's {formula}, a difference of "
        "{diff} ({level} interval {low} to {high}, above 0).",
    ),
    "v_churn_not": (
        "流失风险模型尚未可靠地优于行业经验公式：同一批 {n} 条样本外记录上 ROC-AUC {model} "
        "对比公式 {formula}，差值 {diff}（{level} 区间 {low} 至 {high}，包含或低于 0）。",
        "The churn-risk model does not yet beat the playbook formula reliably: on the same "
        "{n} out-of-time rows ROC-AUC {model} vs the formula's {formula}, a difference of "
        "{diff} ({level} interval {low} to {high}, not above 0).",
    ),
    "v_churn_plain": (
        "同一批 {n} 条样本外记录上，流失风险模型 ROC-AUC {model}，行业经验公式 {formula}。",
        "On the same {n} out-of-time rows the churn-risk model's ROC-AUC is {model}, the "
        "playbook formula's {formula}.",
    ),
    "v_calibration": (
        "预测的流失概率与实际流失率的平均偏差（ECE）为 {ece}。",
        "Predicted churn probabilities are off the observed churn rate by {ece} on average (ECE).",
    ),
    "v_qini_noise": (
        "召回（uplift）模型的 Qini 与经验评分卡的差距在噪声范围内：差值 {diff}（{level} 区间 "
        "{low} 至 {high}），还不能说它更会挑选召回对象。",
        "The win-back (uplift) model's Qini is within noise of the playbook scorecard's: a "
        "difference of {diff} ({level} interval {low} to {high}); it cannot yet be said to "
        "pick win-back contacts better.",
    ),
    "v_qini_beats": (
        "召回（uplift）模型挑选召回对象优于经验评分卡：Qini 差值 {diff}（{level} 区间 {low} 至 "
        "{high}，在 0 以上）。",
        "The win-back (uplift) model picks contacts better than the playbook scorecard: Qini "
        "difference {diff} ({level} interval {low} to {high}, above 0).",
    ),
    "v_qini_worse": (
        "召回（uplift）模型挑选召回对象不如经验评分卡：Qini 差值 {diff}（{level} 区间 {low} 至 "
        "{high}，在 0 以下）。",
        "The win-back (uplift) model picks contacts worse than the playbook scorecard: Qini "
        "difference {diff} ({level} interval {low} to {high}, below 0).",
    ),
    "v_policy": (
        "在相同预算 {budget} 下（模拟器真值），模型策略的净收益（增量价值 − 成本）为 {model}，"
        "同一张优惠券群发为 {coupon}，经验矩阵为 {playbook}。",
        "At the same budget of {budget} (simulator truth) the model policy's net value "
        "(incremental value − cost) is {model}, vs {coupon} for the same coupon to everyone "
        "and {playbook} for the playbook matrix.",
    ),
    "v_policy_beats": (
        "模型策略的净收益高于两种现行做法。",
        "The model policy's net value is above both of today's policies.",
    ),
    "v_policy_behind": (
        "模型策略的净收益低于{who}：{budget} 的预算只花了 {cost}，还没有把预算用在值得召回的客户身上。",
        "The model policy's net value is below that of the {who}: it spends {cost} of the "
        "{budget} budget, not yet enough on the customers worth winning back.",
    ),
    "v_value_per_cost": (
        "每元成本带来的增量价值：模型 {model}，优惠券群发 {coupon}，经验矩阵 {playbook}。",
        "Incremental value per CNY of cost: model {model}, same coupon {coupon}, playbook "
        "matrix {playbook}.",
    ),
    "v_target": (
        "模型策略的净收益是{who}的 {ratio} 倍（目标 {goal} 倍）。",
        "The model policy's net value is {ratio}× the {who}'s (goal {goal}×).",
    ),
    "v_oracle_goal": (
        "模型策略的净收益达到模拟器全知策略（oracle）的 {share}（目标 {goal}）。",
        "The model policy reaches {share} of the simulator oracle's net value (goal {goal}).",
    ),
    "v_oracle": (
        "模型策略的净收益达到模拟器全知策略（oracle）的 {share}。",
        "The model policy reaches {share} of the simulator oracle's net value.",
    ),
    "v_ceiling": (
        "可观测上限（用模型自己的特征无噪声地拟合真值后的同一策略）达到全知策略的 {ceiling}、"
        "统一优惠券的 {vs_coupon} 倍；模型策略达到该上限的 {share}。高于上限的目标无法仅靠"
        "客户历史数据实现。",
        "The observable ceiling (the same policy fed noise-free fits of the truth from the "
        "model's own features) reaches {ceiling} of the oracle's net value and {vs_coupon}× "
        "the same coupon's; the model policy reaches {share} of that ceiling. A goal above the "
        "ceiling cannot be met from the customers' history alone.",
    ),
    "v_no_evaluation": (
        "没有评估结果（evaluate 目录），无法判断模型是否优于经验公式。",
        "No evaluation (evaluate directory): whether the model beats the formula is unknown.",
    ),
    "v_no_policy": (
        "没有策略对比（policy 目录，只能在模拟器数据上计算）。",
        "No policy comparison (policy directory; it is computed on simulator data only).",
    ),
    "v_scheme": ("评估方式：{text}", "Evaluation scheme: {text}"),
    "or": ("和", "and the"),
    # --- evaluation figures: caption keys are the PNG file stems
    "fig_roc": (
        "ROC 曲线：越靠左上越好；与经验公式在同一批样本外记录上比较。",
        "ROC curve: closer to the top left is better; model and playbook formula on the same "
        "out-of-time rows.",
    ),
    "fig_pr": (
        "精确率-召回率曲线：在找出流失客户的同时，名单里真正流失的比例。",
        "Precision-recall: how many of the customers flagged really churn, as more churners "
        "are found.",
    ),
    "fig_lift": (
        "累计捕获：联系风险最高的前 x% 客户能覆盖多少流失客户。",
        "Cumulative gains: the share of churners reached by contacting the riskiest x% first.",
    ),
    "fig_calibration": (
        "校准：预测流失概率与实际流失率，越贴近对角线越可信。",
        "Calibration: predicted churn probability vs observed churn rate; on the diagonal is "
        "trustworthy.",
    ),
    "fig_qini": (
        "Qini 曲线：按各排序方式联系前 x% 客户带来的增量回店（相对随机对照组）。",
        "Qini curve: incremental returns (vs the randomized control group) when contacting "
        "the first x% of each ranking.",
    ),
    "fig_qini_by_action": (
        "每种召回动作的 Qini 曲线。",
        "Qini curve per win-back action.",
    ),
    "fig_other": ("评估图：{name}", "Evaluation figure: {name}"),
    "key_metrics": ("关键指标", "Key metrics"),
    "metric": ("指标", "metric"),
    "churn_model": ("流失风险模型", "churn model"),
    "formula": ("经验公式", "playbook formula"),
    "uplift_model": ("召回 uplift 模型", "uplift model"),
    "scorecard": ("经验评分卡", "playbook scorecard"),
    "churn_risk": ("按流失风险排序", "churn risk ranking"),
    "m_roc_auc": ("ROC-AUC", "ROC-AUC"),
    "m_pr_auc": ("PR-AUC", "PR-AUC"),
    "m_top_decile_lift": ("前 10% 提升度", "top-decile lift"),
    "m_top_decile_capture": ("前 10% 捕获率", "top-decile capture"),
    "m_ece": ("ECE（校准误差）", "ECE (calibration error)"),
    "m_brier": ("Brier 分数", "Brier score"),
    "m_qini": ("Qini", "Qini"),
    "m_auuc": ("AUUC", "AUUC"),
    "m_uplift_at": ("前 {k}% uplift", "uplift at {k}%"),
    # --- explanations
    "fig_beeswarm": (
        "SHAP 蜂群图：每个点是一位客户；右侧的点推高流失风险。",
        "SHAP beeswarm: one dot per customer; dots to the right push churn risk up.",
    ),
    "fig_importance": (
        "平均 |SHAP|：各特征对流失风险的平均影响大小。",
        "Mean |SHAP|: how much each feature moves churn risk on average.",
    ),
    "fig_dependence": (
        "依赖图：{label} 的取值与其对流失风险的影响。",
        "Dependence: the value of {label} against its effect on churn risk.",
    ),
    "top_features": ("最重要的特征", "Top features"),
    "feature": ("特征", "feature"),
    "feature_other": ("英文名", "Chinese label"),
    "share": ("占比", "share"),
    "meaning": ("含义", "meaning"),
    "shap_check": (
        "核对：LightGBM 原生 TreeSHAP 与 shap.TreeExplainer 的最大差异 {diff}（{rows} 行，{status}）。",
        "Check: largest difference between LightGBM's native TreeSHAP and shap.TreeExplainer "
        "{diff} ({rows} rows, {status}).",
    ),
    "passed": ("通过", "passed"),
    "failed": ("未通过", "failed"),
    # --- lookup
    "lookup_intro": (
        "输入客户编号（customer_id）查询其流失风险、阶段、分群、建议动作和主要原因。页面不含姓名、电话或车牌。",
        "Type a customer_id to see their churn risk, stage, segment, recommended action and "
        "top reasons. The page holds no names, phones or plates.",
    ),
    "lookup_placeholder": ("客户编号，例如 {example}", "customer_id, e.g. {example}"),
    "lookup_button": ("查询", "Look up"),
    "lookup_none": ("未找到该客户编号。", "No customer with this id."),
    "lookup_count": ("共 {n} 位客户可查询。", "{n} customers can be looked up."),
    "lookup_as_of": ("评分日期：{date}", "Scored as of {date}"),
    "col_customer_id": ("客户编号", "customer_id"),
    "col_churn_risk": ("流失风险", "churn risk"),
    "col_stage": ("阶段", "stage"),
    "col_value_tier": ("价值层级", "value tier"),
    "col_segment": ("分群", "segment"),
    "col_recommended_action": ("建议动作", "recommended action"),
    "col_priority_rank": ("预算内优先级", "priority in the budget"),
    "col_uplift": ("预计召回提升", "expected uplift"),
    "col_status": ("状态", "status"),
    "col_reasons": ("主要原因", "top reasons"),
    # --- matrix
    "matrix_intro": (
        "每格：客户数 / 预算内联系数 / 联系后预计回店数 / 预算使用（元）。",
        "Each cell: customers / contacted inside the budget / expected returns of the "
        "contacted / budget used (CNY).",
    ),
    "value_tier": ("价值层级", "value tier"),
    "total": ("合计", "total"),
    "fig_matrix": (
        "价值 × 阶段热力图（颜色 = 客户数）。",
        "Value × stage heatmap (colour = customers).",
    ),
    # --- policy
    "policy": ("策略", "policy"),
    "p_contacts": ("联系人数", "contacts"),
    "p_cost": ("成本", "cost"),
    "p_incremental_returns": ("增量回店", "incremental returns"),
    "p_incremental_value": ("增量价值", "incremental value"),
    "p_net_value": ("净收益", "net value"),
    "p_value_per_cost": ("每元增量价值", "value per CNY"),
    "p_share_of_oracle": ("占 oracle 比例", "share of oracle"),
    "policy_intro": (
        "相同预算 {budget}，按模拟器真实响应概率计算（截至 {date}）。",
        "Same budget {budget}, valued on the simulator's true response probabilities (as of "
        "{date}).",
    ),
    "fig_budget_sweep": (
        "不同预算下各策略的增量价值和每元增量价值。",
        "Incremental value and value per CNY of each policy across budgets.",
    ),
    # --- monitor
    "monitor_intro": (
        "自 {as_of} 评分以来被选中的 {n} 位客户，观察至 {until}；对照组为随机留出未联系的客户。",
        "{n} customers picked since the score of {as_of}, observed until {until}; control = "
        "picked at random and not contacted.",
    ),
    "mon_window": ("观察窗口（天）", "window (days)"),
    "mon_status": ("窗口状态", "window status"),
    "mon_treated": ("联系组回店率", "rate contacted"),
    "mon_control": ("对照组回店率", "rate control"),
    "mon_incremental": ("增量（95% 区间）", "incremental (95% interval)"),
    "mon_verdict": ("判断", "verdict"),
    "mon_cost": ("每位增量召回成本", "cost per incremental"),
    "fig_effects": (
        "各分群的增量回店率及其区间。",
        "Incremental win-back rate per segment, with its interval.",
    ),
    "footer": (
        "由 winback 生成。数据来源：{sources}。报告不含姓名、电话或车牌。",
        "Written by winback from: {sources}. The report holds no names, phones or plates.",
    ),
    "js_error": ("页面脚本出错：", "A page script failed: "),
}

#: Stage names (:data:`features.vocabulary.STAGES`) as store managers read them.
STAGE_LABELS: Mapping[str, tuple[str, str]] = {
    "active": ("活跃", "active"),
    "pre_churn": ("流失预警", "pre-churn"),
    "early": ("早期流失", "early churn"),
    "deep": ("深度流失", "deep churn"),
    "lost": ("已流失", "lost"),
    "no_history": ("无到店记录", "no history"),
}

#: The default value tiers (:data:`features.vocabulary.TIERS`); a store's own names show as is.
TIER_LABELS: Mapping[str, tuple[str, str]] = {
    "high": ("高价值", "high value"),
    "mid": ("中价值", "mid value"),
    "low": ("低价值", "low value"),
}

#: The monitor's verdicts and window statuses (:mod:`models.monitor`); ``partial (k of n
#: observed)`` is read by :func:`monitor_label`.
MONITOR_LABELS: Mapping[str, tuple[str, str]] = {
    "improved": ("有改善", "improved"),
    "worse": ("变差", "worse"),
    "no evidence": ("无明显证据", "no evidence"),
    "too few": ("样本太少", "too few"),
    "observed": ("已观察", "observed"),
    "censored": ("尚未到期", "censored"),
}

#: The policy stage's policies (``policies`` in ``out/policy/metrics.json``).
POLICY_LABELS: Mapping[str, tuple[str, str]] = {
    "model": ("模型策略", "model policy"),
    "same_coupon": ("同一张优惠券群发", "same coupon to everyone"),
    "playbook_matrix": ("经验矩阵", "playbook matrix"),
    "oracle": ("全知策略（oracle）", "oracle"),
    "ceiling": ("可观测上限", "observable ceiling"),
}


def check_language(lang: str) -> str:
    """``lang`` if the report has it.

    Raises:
        ValueError: Not one of :data:`LANGUAGES`.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"--lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def text(key: str, lang: str, **values: object) -> str:
    """The sentence ``key`` in ``lang``, placeholders filled.

    Args:
        key: A key of :data:`TEXT`.
        lang: ``zh`` or ``en``.
        **values: The placeholders' values.

    Returns:
        The sentence.
    """
    zh, en = TEXT[key]
    template = zh if lang == "zh" else en
    return template.format(**values) if values else template


def label(table: Mapping[str, tuple[str, str]], name: object, lang: str) -> str:
    """A name from one of the label tables in ``lang``; a name not listed shows as is."""
    pair = table.get(str(name))
    if pair is None:
        return str(name)
    return pair[0] if lang == "zh" else pair[1]


def monitor_label(value: object, lang: str) -> str:
    """A monitor verdict or window status in ``lang`` (``partial (k of n observed)`` too)."""
    found = re.fullmatch(r"partial \((\d+) of (\d+) observed\)", str(value))
    if found and lang == "zh":
        return f"部分观察（{found.group(2)} 中 {found.group(1)} 位）"
    return label(MONITOR_LABELS, value, lang)
