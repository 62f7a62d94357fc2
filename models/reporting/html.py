"""One self-contained HTML report for reviewers and store managers (:func:`render_report`).

The page holds everything it shows — styles, the lookup script, the charts as base64 PNG
data URIs and the lookup's customer rows as JSON — and names no external URL (its content
security policy forbids loading anything), so it opens from disk without internet. Sections
in reading order: the verdict in plain words, the evaluation charts, the SHAP explanations,
the per-customer lookup, the value × stage matrix, the policy table and the monitor's
effects; a section whose run directory was not given says so.

Chinese by default (``lang="zh"``), English with ``lang="en"``; feature names are the
feature dictionary's labels. Every value from data is escaped: text by Jinja2's autoescape,
the embedded JSON by :func:`script_json` (so a ``customer_id`` such as ``</script>`` stays
text), and the page's script writes data with ``textContent`` only. The lookup rows carry no
names, phones or plates: only the columns of :data:`LOOKUP_COLUMNS`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from features import vocabulary
from models.reporting.i18n import (
    POLICY_LABELS,
    STAGE_LABELS,
    TEXT,
    TIER_LABELS,
    check_language,
    label,
    monitor_label,
    text,
)
from models.reporting.verdict import money, number, share_of_oracle, verdict

TEMPLATES = Path(__file__).with_name("templates")
#: The score file's columns the lookup shows; names, phones and plates are never read.
LOOKUP_COLUMNS = (
    "customer_id",
    "churn_risk",
    "stage",
    "value_tier",
    "segment",
    "recommended_action",
    "priority_rank",
    "uplift",
    "status",
)
#: Reasons per customer in the lookup (``reason_<j>_<lang>`` of the score file).
LOOKUP_REASONS = 3
#: Figures drawn wide (several panels side by side): a row of the page each.
WIDE_FIGURES = frozenset({"qini_by_action", "budget_sweep", "effects"})
#: Evaluation figures in the order a reviewer reads them (file stems); others follow by name.
EVALUATION_ORDER = ("roc", "pr", "lift", "calibration", "qini", "qini_by_action")


@dataclass
class ReportInputs:
    """What the report shows, as read from the run directories (each part optional).

    Attributes:
        evaluation: The evaluate stage's ``metrics.json``.
        evaluation_figures: Evaluation PNGs by file stem (``roc``, ``pr``, ...).
        importance: The explain stage's ``importance.parquet`` (mean |SHAP| with labels).
        shap_check: The explain stage's ``shap_check.json``.
        explain_figures: Explanation PNGs by file stem (``shap_beeswarm``, ...).
        policy: The policy stage's ``metrics.json``.
        policy_figures: Policy PNGs by file stem (``budget_sweep``).
        scores: The CRM score file (any columns; only :data:`LOOKUP_COLUMNS` and the
            reasons are read).
        matrix: The value × stage matrix in long format (``<score>_matrix.csv``).
        matrix_png: Its heatmap.
        monitor_effects: The monitor's ``effects.csv``.
        monitor_summary: The monitor's ``summary.json``.
        monitor_png: The monitor's ``effects.png``.
        dictionary: The feature dictionary (labels of dependence plots); None = built-in.
        sources: What the report was made from (run directory names), for the footer.
        bootstrap_level: Coverage of the evaluate stage's bootstrap intervals.
    """

    evaluation: dict[str, Any] | None = None
    evaluation_figures: dict[str, bytes] = field(default_factory=dict)
    importance: pd.DataFrame | None = None
    shap_check: dict[str, Any] | None = None
    explain_figures: dict[str, bytes] = field(default_factory=dict)
    policy: dict[str, Any] | None = None
    policy_figures: dict[str, bytes] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    matrix: pd.DataFrame | None = None
    matrix_png: bytes | None = None
    monitor_effects: pd.DataFrame | None = None
    monitor_summary: dict[str, Any] | None = None
    monitor_png: bytes | None = None
    dictionary: pd.DataFrame | None = None
    sources: list[str] = field(default_factory=list)
    bootstrap_level: float = 0.95


@dataclass(frozen=True)
class Chart:
    """One embedded chart: its caption and the PNG as a data URI."""

    caption: str
    uri: str
    wide: bool = False


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (the page embeds its charts)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def script_json(value: Any) -> Markup:
    """``value`` as JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (and the
    line separators U+2028/U+2029 escaped), so no value can close the script element or
    start markup; ``JSON.parse`` reads the same text back.
    """
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        raw = raw.replace(char, escaped)
    return Markup(raw)


def _fmt(x: Any, digits: int = 3) -> str:
    value = number(x)
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(x: Any, digits: int = 1) -> str:
    value = number(x)
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _segment_label(segment: object, lang: str) -> str:
    # segments are "<tier>|<stage>" (models.segments); anything else shows as is
    parts = str(segment).split("|")
    if len(parts) == 2:
        return f"{label(TIER_LABELS, parts[0], lang)}|{label(STAGE_LABELS, parts[1], lang)}"
    return str(segment)


# --------------------------------------------------------------------------------------------
# Sections


def evaluation_charts(figures: Mapping[str, bytes], lang: str) -> list[Chart]:
    """The evaluation PNGs with captions, ROC first (:data:`EVALUATION_ORDER`)."""
    known = [s for s in EVALUATION_ORDER if s in figures]
    others = sorted(s for s in figures if s not in EVALUATION_ORDER)
    charts = []
    for stem in [*known, *others]:
        key = f"fig_{stem}"
        caption = text(key, lang) if key in TEXT else text("fig_other", lang, name=stem)
        charts.append(Chart(caption, data_uri(figures[stem]), stem in WIDE_FIGURES))
    return charts


def metric_rows(evaluation: Mapping[str, Any] | None, lang: str) -> dict[str, list[list[str]]]:
    """The headline metrics: churn model vs formula, and the three win-back rankings."""
    out: dict[str, list[list[str]]] = {"churn": [], "recovery": []}
    churn = (evaluation or {}).get("churn") or {}
    model, formula = churn.get("model") or {}, churn.get("formula") or {}
    for key in ("roc_auc", "pr_auc", "top_decile_lift", "top_decile_capture", "ece", "brier"):
        if key in model:
            out["churn"].append([text(f"m_{key}", lang), _fmt(model[key]), _fmt(formula.get(key))])
    rec = (evaluation or {}).get("recovery") or {}
    scorers = [rec.get(s) or {} for s in ("uplift_model", "scorecard", "churn_risk")]
    for key in scorers[0]:
        if key in ("qini", "auuc"):
            title = text(f"m_{key}", lang)
        elif key.startswith("uplift_at_"):
            title = text("m_uplift_at", lang, k=key.removeprefix("uplift_at_"))
        else:
            continue
        out["recovery"].append([title, *(_fmt(s.get(key), 4) for s in scorers)])
    return out


def _labels_of(dictionary: pd.DataFrame | None) -> dict[str, tuple[str, str]]:
    if dictionary is None:
        from features.dictionary import feature_dictionary

        dictionary = feature_dictionary()
    return {
        str(r.name): (str(r.label_zh), str(r.label_en))
        for r in dictionary[["name", "label_zh", "label_en"]].itertuples(index=False)
    }


def explain_section(inputs: ReportInputs, lang: str) -> dict[str, Any]:
    """Top features (dictionary labels in both languages) and the SHAP charts with captions."""
    labels = _labels_of(inputs.dictionary)
    if inputs.importance is not None:
        for r in inputs.importance.itertuples(index=False):
            labels[str(r.feature)] = (str(r.label_zh), str(r.label_en))
    first, second = (0, 1) if lang == "zh" else (1, 0)
    rows = []
    if inputs.importance is not None:
        for i, r in enumerate(inputs.importance.head(15).itertuples(index=False), start=1):
            pair = labels[str(r.feature)]
            rows.append(
                [str(i), pair[first], pair[second], _fmt(r.mean_abs_shap), _pct(r.share, 0)]
            )
    figures = inputs.explain_figures
    order = [s for s in ("shap_importance", "shap_beeswarm") if s in figures]
    dependence = [s for s in figures if s.startswith("shap_dependence_")]
    ranked = [] if inputs.importance is None else list(inputs.importance["feature"].astype(str))
    dependence.sort(key=lambda s: (ranked.index(s[16:]) if s[16:] in ranked else len(ranked), s))
    charts = []
    for stem in [*order, *dependence]:
        if stem.startswith("shap_dependence_"):
            feature = stem.removeprefix("shap_dependence_")
            name = labels.get(feature, (feature, feature))[first]
            caption = text("fig_dependence", lang, label=name)
        else:
            caption = text(f"fig_{stem.removeprefix('shap_')}", lang)
        charts.append(Chart(caption, data_uri(figures[stem])))
    check = None
    if (
        inputs.shap_check
        and number(inputs.shap_check.get("max_abs_diff_treeexplainer")) is not None
    ):
        c = inputs.shap_check
        check = text(
            "shap_check",
            lang,
            diff=f"{c['max_abs_diff_treeexplainer']:.1e}",
            rows=f"{int(c.get('rows', 0)):,}",
            status=text("passed" if c.get("passed") else "failed", lang),
        )
    return {"rows": rows, "charts": charts, "check": check}


def lookup_data(scores: pd.DataFrame | None, lang: str) -> dict[str, Any] | None:
    """The lookup's rows: one per scored customer, only :data:`LOOKUP_COLUMNS` and reasons.

    Values are display text in ``lang`` (risk as a percentage, stage and tier labels);
    the page's script shows them with ``textContent``.
    """
    if scores is None:
        return None
    frame = scores.reset_index(drop=True)
    n = len(frame)

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame.columns else pd.Series([None] * n, dtype="object")

    def show(x: Any, how: str) -> str:
        # None, NaN and pandas' NA (an Int64 rank of a customer not selected) show as empty
        if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
            return ""
        if how == "pct":
            return _pct(x)
        if how == "rank":
            return f"{int(x):,}"
        if how == "stage":
            return label(STAGE_LABELS, x, lang)
        if how == "tier":
            return label(TIER_LABELS, x, lang)
        if how == "segment":
            return _segment_label(x, lang)
        if how == "uplift":
            return f"{100 * float(x):+.1f}%"
        return str(x)

    kinds = {
        "churn_risk": "pct",
        "priority_rank": "rank",
        "stage": "stage",
        "value_tier": "tier",
        "segment": "segment",
        "uplift": "uplift",
    }
    cols = [c for c in LOOKUP_COLUMNS]

    def shown(c: str) -> pd.Series:
        # the CRM file's own Chinese labels of the action and the status (models.crm)
        if lang == "zh" and c in ("recommended_action", "status") and f"{c}_zh" in frame:
            return frame[f"{c}_zh"]
        return column(c)

    values = {c: [show(x, kinds.get(c, "text")) for x in shown(c).tolist()] for c in cols}
    reasons = []
    for j in range(1, LOOKUP_REASONS + 1):
        reasons.append([show(x, "text") for x in column(f"reason_{j}_{lang}").tolist()])
    rows = [[*(values[c][i] for c in cols), [r[i] for r in reasons if r[i]]] for i in range(n)]
    as_of = ""
    if "as_of" in frame.columns and n:
        as_of = str(pd.Timestamp(frame["as_of"].iloc[0]).date())
    return {"columns": [*cols, "reasons"], "rows": rows, "as_of": as_of}


def matrix_table(cells: pd.DataFrame | None, lang: str) -> dict[str, Any] | None:
    """The value × stage matrix: tiers (high first) × stages, four numbers a cell, totals."""
    if cells is None or cells.empty:
        return None
    tiers = list(dict.fromkeys(cells["value_tier"].astype(str)))
    stages = [s for s in vocabulary.STAGES if s in set(cells["stage"])]
    stages += [s for s in dict.fromkeys(cells["stage"].astype(str)) if s not in stages]
    keyed = {(str(r.value_tier), str(r.stage)): r for r in cells.itertuples(index=False)}
    fields = ("customers", "contacted", "expected_returns", "budget_used")

    def cell(rows: Sequence[Any]) -> list[str]:
        sums = [sum(float(getattr(r, f, 0) or 0) for r in rows) for f in fields]
        return [f"{sums[0]:,.0f}", f"{sums[1]:,.0f}", f"{sums[2]:,.1f}", f"{sums[3]:,.0f}"]

    body = []
    for tier in tiers:
        row = [cell([keyed[(tier, s)]] if (tier, s) in keyed else []) for s in stages]
        row.append(cell([r for (t, _), r in keyed.items() if t == tier]))
        body.append({"tier": label(TIER_LABELS, tier, lang), "cells": row})
    totals = [cell([r for (_, s2), r in keyed.items() if s2 == s]) for s in stages]
    totals.append(cell(list(keyed.values())))
    body.append({"tier": text("total", lang), "cells": totals})
    return {"stages": [label(STAGE_LABELS, s, lang) for s in stages], "rows": body}


def policy_table(policy: Mapping[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """The policies at the default budget: contacts, cost, returns, value, net value, shares."""
    policies = (policy or {}).get("policies")
    if not isinstance(policies, Mapping) or not policies:
        return None
    columns = [
        ("contacts", lambda x: f"{x:,.0f}"),
        ("cost", lambda x: money(x, lang)),
        ("incremental_returns", lambda x: f"{x:,.1f}"),
        ("incremental_value", lambda x: money(x, lang)),
        ("net_value", lambda x: money(x, lang)),
        ("value_per_cost", lambda x: f"{x:.2f}"),
        ("share_of_oracle", lambda x: f"{x:.0%}"),
    ]
    oracle_share = share_of_oracle(policy or {})
    records = {n: dict(r) if isinstance(r, Mapping) else {} for n, r in policies.items()}
    if oracle_share is not None and "model" in records:
        records["model"].setdefault("share_of_oracle", oracle_share)
    shares = (policy or {}).get("share_of_oracle")
    if isinstance(shares, Mapping):
        for name, rec in records.items():
            if number(shares.get(name)) is not None:
                rec.setdefault("share_of_oracle", shares[name])
        if "oracle" in records:
            records["oracle"].setdefault("share_of_oracle", 1.0)
    present = [(k, f) for k, f in columns if any(k in r for r in records.values())]
    rows = []
    for name, rec in records.items():
        cells = []
        for key, fmt in present:
            value = number(rec.get(key))
            cells.append("–" if value is None else fmt(value))
        rows.append(
            {"name": label(POLICY_LABELS, name, lang), "cells": cells, "own": name == "model"}
        )
    budget = number((policy or {}).get("budget"))
    intro = text(
        "policy_intro",
        lang,
        budget=money(budget, lang) if budget is not None else "–",
        date=(policy or {}).get("as_of", "–"),
    )
    return {"header": [text(f"p_{k}", lang) for k, _ in present], "rows": rows, "intro": intro}


def monitor_section(inputs: ReportInputs, lang: str) -> dict[str, Any] | None:
    """The monitor's overall effect per window, with the figure."""
    effects = inputs.monitor_effects
    if effects is None:
        return None
    overall = effects[effects["level"] == "all"] if "level" in effects.columns else effects
    rows = []
    for r in overall.to_dict(orient="records"):
        interval = (
            f"{_pct(r.get('incremental'))} [{_pct(r.get('ci_low'))}, {_pct(r.get('ci_high'))}]"
        )
        cost = number(r.get("cost_per_incremental"))
        rows.append(
            [
                str(r.get("window_days", "")),
                monitor_label(r.get("window_status", ""), lang),
                _pct(r.get("rate_treated")),
                _pct(r.get("rate_control")),
                interval,
                monitor_label(r.get("verdict", ""), lang),
                "–" if cost is None else money(cost, lang),
            ]
        )
    summary = inputs.monitor_summary or {}
    intro = ""
    if summary:
        intro = text(
            "monitor_intro",
            lang,
            n=summary.get("contacts", "?"),
            as_of=summary.get("as_of", "?"),
            until=summary.get("until", "?"),
        )
    chart = (
        Chart(text("fig_effects", lang), data_uri(inputs.monitor_png), True)
        if inputs.monitor_png
        else None
    )
    header = ["mon_window", "mon_status", "mon_treated", "mon_control", "mon_incremental"]
    header += ["mon_verdict", "mon_cost"]
    return {"intro": intro, "header": [text(k, lang) for k in header], "rows": rows, "chart": chart}


# --------------------------------------------------------------------------------------------
# The page


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(inputs: ReportInputs, lang: str = "zh") -> str:
    """The whole report as one HTML document.

    Args:
        inputs: What the run directories hold.
        lang: ``zh`` (default) or ``en``.

    Returns:
        The page: the same inputs give the same text (no clock, no random ids).

    Raises:
        ValueError: ``lang`` is not a report language.
    """
    lang = check_language(lang)
    lookup = lookup_data(inputs.scores, lang)
    example = lookup["rows"][0][0] if lookup and lookup["rows"] else "C000001"
    ui = {
        k: text(k, lang)
        for k in ("lookup_none", "js_error", "col_reasons")
        + tuple(f"col_{c}" for c in LOOKUP_COLUMNS)
    }
    context = {
        "lang": lang,
        "t": lambda key, **kw: text(key, lang, **kw),
        "verdict": verdict(inputs.evaluation, inputs.policy, lang, inputs.bootstrap_level),
        "has_evaluation": inputs.evaluation is not None or bool(inputs.evaluation_figures),
        "metrics": metric_rows(inputs.evaluation, lang),
        "evaluation_charts": evaluation_charts(inputs.evaluation_figures, lang),
        "explain": explain_section(inputs, lang),
        "has_explain": inputs.importance is not None or bool(inputs.explain_figures),
        "lookup": lookup,
        "lookup_json": script_json(lookup or {"columns": [], "rows": [], "as_of": ""}),
        "ui_json": script_json(ui),
        "example": example,
        "matrix": matrix_table(inputs.matrix, lang),
        "matrix_chart": Chart(text("fig_matrix", lang), data_uri(inputs.matrix_png))
        if inputs.matrix_png
        else None,
        "policy": policy_table(inputs.policy, lang),
        "policy_charts": [
            Chart(
                text("fig_budget_sweep", lang) if s == "budget_sweep" else s,
                data_uri(png),
                s in WIDE_FIGURES,
            )
            for s, png in sorted(inputs.policy_figures.items())
        ],
        "monitor": monitor_section(inputs, lang),
        "sources": ", ".join(inputs.sources) or "–",
        "css": Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")),
        "js": Markup((TEMPLATES / "report.js").read_text(encoding="utf-8")),
    }
    return _environment().get_template("report.html.j2").render(context)
