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
    # --- the store KPI board (models.kpi); {days}: kpi.week_days, {window}: the win-back window
    "sec_kpi": ("门店周报", "Store KPI board"),
    "kpi_intro": (
        "截至 {as_of}（当天不计）：本周 {this}，上周 {last}。每格为本周数值，下方为上周数值和变化"
        "（▲ 上升、▼ 下降；绿色为好转，红色为变差）。",
        "As of {as_of} (that day not counted): this week {this}, last week {last}. Each cell "
        "is this week's value, with last week's and the change under it (▲ up, ▼ down; green "
        "is better, red worse).",
    ),
    "kpi_stage": ("{stage}（{days} 天）", "{stage} ({days} days)"),
    "kpi_last": ("上周 {x}", "last week {x}"),
    "kpi_flat": ("＝ 持平", "＝ no change"),
    "kpi_points": ("{x} 个百分点", "{x} pts"),
    "kpi_all_stores": ("全部门店", "all stores"),
    "kpi_not_recorded": ("未记录", "not recorded"),
    "kpi_not_collected": ("未采集：数据中没有 {what}。", "Not collected: the data has no {what}."),
    "kpi_empty": ("本周和上周都没有记录。", "No records this week or last week."),
    "kpi_top": ("显示前 {k} 位（共 {n} 位）。", "The first {k} of {n} shown."),
    "kpi_sec_service": ("进厂台次与产值", "Service entries and revenue"),
    "kpi_sec_mix": ("服务类型构成", "Service mix"),
    "kpi_sec_stages": ("客户流失阶段", "Customers by lapse stage"),
    "kpi_sec_winback": ("召回率：联系组与对照组", "Win-back rate: contacted vs control"),
    "kpi_sec_leads": ("线索转化", "Lead conversion"),
    "kpi_sec_loss_reasons": ("战败原因", "Loss reasons"),
    "kpi_sec_advisors": ("服务顾问", "Service advisors"),
    "kpi_sec_consultants": ("销售顾问", "Sales consultants"),
    "kpi_note_service": (
        "本周的工单：日均工单数 = 工单数 ÷ {days} 天，平均客单价 = 工单金额的平均值，总产值 = 工单金额合计。",
        "The week's repair orders: orders per day = orders ÷ {days} days, average invoice = "
        "mean amount, total revenue = sum of amounts.",
    ),
    "kpi_note_mix": (
        "各服务类型的工单占本周全部工单的比例；变化以百分点计。",
        "Each visit type's share of the week's repair orders; the change is in percentage points.",
    ),
    "kpi_note_stages": (
        "有到店记录的客户按距最后一次到店的天数分阶段（本周 = 截至当日，上周 = 截至 {days} 天前），"
        "“·”后为占有到店记录客户的比例。只按未到店天数计：CRM 的“流失预警”需要模型，不在此列。",
        "Customers with a visit, by days since their last visit (this week = as of the day, "
        "last week = {days} days before), and after the dot their share of the customers with "
        "a visit. By lapse only: the CRM's pre-churn needs the model and is not counted here.",
    ),
    "kpi_note_winback": (
        "回店观察期（联系后 {window} 天）在最近 {period} 天内结束的联系记录中，观察期内有到店的"
        "比例（“上周”一栏为再往前 {period} 天：门店按月做活动，多数周内没有观察期结束）；"
        "差值 = 联系组 − 对照组（百分点）。",
        "Of the contacts whose response window ({window} days after the contact) ended in the "
        'last {period} days, the share with a visit in the window (the "last week" figure is '
        "the {period} days before: campaigns run monthly, so most weeks close no window); "
        "difference = contacted − control (percentage points).",
    ),
    "kpi_note_leads": (
        "状态日期在本周的线索：成交、战败，转化率 = 成交 ÷（成交 + 战败）。",
        "Leads whose status date is in the week: won, lost, conversion = won ÷ (won + lost).",
    ),
    "kpi_note_loss_reasons": (
        "本周战败线索的主要原因（记录的第一个原因）。",
        "The primary reason (the first code recorded) of the week's lost leads.",
    ),
    "kpi_note_advisors": (
        "按接单的服务顾问：本周工单数、产值和平均客单价，本周工单最多者在前。",
        "Per service advisor who took the repair order: orders, revenue and average invoice "
        "this week, most orders first.",
    ),
    "kpi_note_consultants": (
        "按销售顾问：本周成交、战败与转化率，本周结案最多者在前。",
        "Per sales consultant: leads won, lost and conversion this week, most closed first.",
    ),
    "kpi_col_service": ("指标", "figure"),
    "kpi_col_mix": ("服务类型", "visit type"),
    "kpi_col_stages": ("阶段（距上次到店）", "stage (since last visit)"),
    "kpi_col_winback": ("组别", "group"),
    "kpi_col_leads": ("指标", "figure"),
    "kpi_col_loss_reasons": ("主要战败原因", "primary loss reason"),
    "kpi_col_store": ("门店", "store"),
    "kpi_col_advisors": ("服务顾问", "service advisor"),
    "kpi_col_consultants": ("销售顾问", "sales consultant"),
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

#: The KPI board's figures and groups (:mod:`models.kpi`).
KPI_ITEM_LABELS: Mapping[str, tuple[str, str]] = {
    "orders_per_day": ("日均工单数", "repair orders per day"),
    "avg_invoice": ("平均客单价", "average invoice"),
    "revenue": ("总产值", "total revenue"),
    "orders": ("工单数", "repair orders"),
    "treatment": ("联系组", "contacted"),
    "control": ("对照组", "control"),
    "difference": ("差值（联系 − 对照）", "difference (contacted − control)"),
    "won": ("成交", "won"),
    "lost": ("战败", "lost"),
    "conversion": ("转化率", "conversion"),
}

#: The contract's visit types (``service_visits.visit_type``).
VISIT_TYPE_LABELS: Mapping[str, tuple[str, str]] = {
    "maintenance": ("保养", "maintenance"),
    "repair": ("维修", "repair"),
    "warranty": ("保修", "warranty"),
    "insurance": ("保险", "insurance"),
    "accident": ("事故车", "accident"),
    "other": ("其他", "other"),
}

#: The contract's loss reasons of leads (``leads.lost_reasons``).
LOST_REASON_LABELS: Mapping[str, tuple[str, str]] = {
    "price": ("价格", "price"),
    "configuration_mismatch": ("配置不符", "configuration mismatch"),
    "delivery_time": ("交付周期", "delivery time"),
    "competitor": ("竞品吸引", "competitor"),
    "service_experience": ("服务体验", "service experience"),
    "finance_or_tradein": ("金融/置换", "finance or trade-in"),
    "influenced_by_others": ("受他人影响", "influenced by others"),
    "brand_or_aftersales_concern": ("品牌/售后顾虑", "brand or after-sales concern"),
    "other": ("其他", "other"),
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
