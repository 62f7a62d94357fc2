"""The leads stage's figures (PNG) and report (Markdown): model vs rules, loss diagnostics.

Frames shown here carry no names or phones (the stage drops them before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from features.contract import LOST_REASONS
from models.evaluate import roc_points
from models.leads.config import UNRECORDED
from models.leads.model import TARGET
from models.leads.rules import grade_rule_text
from models.reporting.figures import check_lang, pyplot, save_figure, use_files_backend
from models.reporting.labels import name, text

_DPI = 110


def _shares(table: pd.DataFrame) -> pd.DataFrame:
    reasons = [c for c in (*LOST_REASONS, UNRECORDED) if c in table.columns]
    return table[reasons].div(table["lost_leads"], axis=0)


def lead_figures(result: Any, out_dir: Path, lang: str = "zh") -> list[Path]:
    """Charts a sales manager reads at a glance (PNG).

    Args:
        result: The leads stage's result: ``diagnostics`` (the loss-reason, competitor and
            incomplete-record tables), ``test`` (the later loss months' leads with the model's
            probability ``p``), ``graded`` (every lost lead with its rule ``grade``) and
            ``metrics`` (the test months and ROC-AUCs, shown on the ROC figure when present).
        out_dir: Directory for the PNGs (created).
        lang: ``"zh"`` or ``"en"``.

    Returns:
        The files written.
    """
    check_lang(lang)
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    d = result.diagnostics
    paths = []
    cmap = plt.get_cmap("tab10")
    for key, title in (
        ("reasons_by_model", "leads.by_model"),
        ("reasons_by_region", "leads.by_region"),
    ):
        s = _shares(d[key])
        s.columns = [name(c, lang) for c in s.columns]
        fig, ax = plt.subplots(figsize=(9, 4.5))
        s.plot.barh(stacked=True, ax=ax, color=[cmap(i % 10) for i in range(s.shape[1])])
        ax.set_xlabel(text("leads.share_x", lang))
        ax.set_ylabel("")
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_title(text(title, lang))
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        paths.append(save_figure(fig, out_dir / f"{key}.png", dpi=_DPI))
    s = _shares(d["reasons_by_month"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(s))  # positions, not date-like strings (matplotlib would parse them)
    for i, c in enumerate(s.columns):
        ax.plot(x, s[c].to_numpy(), label=name(c, lang), color=cmap(i % 10))
    ax.set_xticks(x, s.index.tolist())
    ax.set_ylabel(text("leads.share", lang))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_title(text("leads.by_month", lang))
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    paths.append(save_figure(fig, out_dir / "reasons_by_month.png", dpi=_DPI))
    comp = d["competitor_destinations"]
    if len(comp):
        top = (
            comp.groupby("competitor_model")
            .agg(leads=("leads", "sum"), bought=("bought", "sum"))
            .sort_values("leads")
            .tail(15)
        )
        fig, ax = plt.subplots(figsize=(8, 5))
        y = np.arange(len(top))
        ax.barh(y, top["leads"], color="#9ecae1", label=text("leads.compared", lang))
        ax.barh(y, top["bought"], color="#3182bd", label=text("leads.bought", lang))
        ax.set_yticks(y, top.index.tolist())
        ax.set_xlabel(text("leads.lost_leads", lang))
        ax.set_title(text("leads.went", lang))
        ax.legend()
        paths.append(save_figure(fig, out_dir / "competitor_destinations.png", dpi=_DPI))
    paths.append(_incomplete_figure(d["incomplete_records"], out_dir, lang))
    paths.append(_roc_figure(result, out_dir, lang))
    return paths


def _incomplete_figure(records: pd.DataFrame, out_dir: Path, lang: str) -> Path:
    """The consultants with the most incomplete loss records, flagged ones in red."""
    plt = _pyplot()
    inc = records.sort_values("incomplete_share").tail(25)
    fig, ax = plt.subplots(figsize=(8, 6))
    flagged = inc["flagged"].to_numpy(dtype=bool)
    y = np.arange(len(inc))
    share = inc["incomplete_share"].to_numpy(dtype="float64")
    for mask, colour, key in (
        (flagged, "#d62728", "leads.flagged"),
        (~flagged, "#7f7f7f", "leads.not_flagged"),
    ):
        if mask.any():
            ax.barh(y[mask], share[mask], color=colour, label=text(key, lang))
    ax.set_yticks(y, inc["consultant_id"].tolist())
    ax.set_xlabel(text("leads.incomplete_x", lang))
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_title(text("leads.records", lang))
    ax.legend(loc="lower right")
    return save_figure(fig, out_dir / "incomplete_records.png", dpi=_DPI)


def _roc_figure(result: Any, out_dir: Path, lang: str) -> Path:
    """The model's and the rule grade's ROC on the later loss months, AUCs in the legend."""
    plt = _pyplot()
    t = result.test
    test = (getattr(result, "metrics", None) or {}).get("test", {})
    fig, ax = plt.subplots(figsize=(5, 5))
    for key, block, score in (
        ("leads.model", "model", t["p"]),
        (
            "leads.rule",
            "rules",
            result.graded.loc[t.index, "grade"].map({"high": 2, "mid": 1, "low": 0}),
        ),
    ):
        pts = roc_points(t[TARGET], score)
        auc = (test.get(block) or {}).get("roc_auc")
        label = text(key, lang) + (f"  AUC {auc:.3f}" if auc is not None else "")
        ax.plot(pts["fpr"], pts["tpr"], label=label)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label=text("chance", lang))
    ax.set_xlabel(text("leads.roc.x", lang))
    ax.set_ylabel(text("leads.roc.y", lang))
    title = text("leads.roc", lang)
    if test.get("start") and test.get("end"):
        sub = text(
            "headline.test", lang, period=f"{test['start']}..{test['end']}", rows=f"{len(t):,}"
        )
    else:
        sub = text("headline.rows", lang, rows=f"{len(t):,}")
    ax.set_title(f"{title}\n{sub}", fontsize=10)
    ax.legend(loc="lower right")
    return save_figure(fig, out_dir / "model_vs_rules_roc.png", dpi=_DPI)


def _pyplot() -> Any:
    # pandas draws through pyplot; these charts are files only
    use_files_backend()
    return pyplot()


def lead_report(result: Any, config: Any, run_id: str | None) -> str:
    """The Markdown report: model vs rules, grading rule, routes, diagnostics, figures.

    Args:
        result: The leads stage's result: ``metrics`` (the model vs the rules on the later
            loss months) and ``diagnostics``, as for :func:`lead_figures`.
        config: The ``leads:`` settings: ``rules`` (:class:`features.leads.LeadRules`),
            ``min_leads`` and ``max_incomplete_share``.
        run_id: The MLflow run, named in the report when given.

    Returns:
        The report as Markdown.
    """
    m = result.metrics
    t = m["test"]
    lines = [
        "# Lost sales leads",
        "",
        f"Data up to {m['data_end']}: {m['lost_leads']} lost leads ({m['labelled']} with a "
        f"fully observed {config.rules.window_days}-day window); lost share of decided leads "
        f"{m['lost_share_of_decided']:.1%}.",
        "",
        f"## Who buys from us within {config.rules.window_days} days of the loss",
        "",
        f"Out of time: loss months {t['start']} .. {t['end']} ({t['model']['n']} leads, "
        f"{t['model']['positive_rate']:.1%} bought). Same rows for both.",
        "",
        "| score | ROC-AUC | PR-AUC | top-decile lift |",
        "|---|---|---|---|",
    ]
    rows = [("LightGBM model", t["model"]), ("playbook rule grade", t["rules"])]
    if "oracle" in t:
        rows.append(("true probability (simulator, reference)", t["oracle"]))
    for scorer, r in rows:
        lines.append(
            f"| {scorer} | {r['roc_auc']:.3f} | {r['pr_auc']:.3f} | {r['top_decile_lift']:.2f} |"
        )
    lines += [
        "",
        f"Model minus rules: ROC-AUC {t['delta_roc_auc']:+.3f}, PR-AUC {t['delta_pr_auc']:+.3f}"
        + (f"; MLflow run `{run_id}`." if run_id else "."),
        "",
        "Observed purchase rate by rule grade (test months): "
        + ", ".join(f"{g} {v['bought_rate']:.1%} (n={v['n']})" for g, v in t["by_grade"].items()),
        "",
        "![ROC](figures/model_vs_rules_roc.png)",
        "",
        "## The grading rule (first match wins)",
        "",
        *grade_rule_text(config.rules),
        "",
        f"Grades of all lost leads: {m['grades']}.",
        "",
        "## Routes",
        "",
        "| route (reason) | action | owner | due | waits for | lost leads |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in config.rules.routes.items():
        due = "on the event" if r.get("due_hours") is None else f"{r['due_hours']} h"
        lines.append(
            f"| {key} | {r['action']} | {r['owner']} | {due} | "
            f"{', '.join(r.get('wait_for') or []) or '-'} | {m['routes'].get(key, 0)} |"
        )
    d = result.diagnostics
    inc = d["incomplete_records"]
    flagged = inc[inc["flagged"]]
    comp = d["competitor_destinations"]
    lines += [
        "",
        "## Why leads are lost",
        "",
        "![by model](figures/reasons_by_model.png)",
        "",
        "![by region](figures/reasons_by_region.png)",
        "",
        "![by month](figures/reasons_by_month.png)",
        "",
        "Tables: `diagnostics/reasons_by_{model,consultant,month,region}.csv`.",
        "",
        "## Where lost leads went",
        "",
        "![competitors](figures/competitor_destinations.png)",
        "",
    ]
    if len(comp):
        lines += [
            "| our model | competitor | leads | bought | median price |",
            "|---|---|---|---|---|",
        ]
        for r in comp.sort_values("leads", ascending=False).head(10).itertuples():
            price = "-" if pd.isna(r.median_price) else f"{r.median_price:,.0f}"
            lines.append(
                f"| {r.model_interest} | {r.competitor_model} | {r.leads} | {r.bought} | {price} |"
            )
    lines += [
        "",
        "## Consultants with incomplete loss records",
        "",
        f"{len(flagged)} of {len(inc)} consultants flagged (at least {config.min_leads} lost "
        f"leads and more than {config.max_incomplete_share:.0%} incomplete: no reason, "
        "'other' without a note, or 'competitor' without the model).",
        "",
        "![records](figures/incomplete_records.png)",
        "",
    ]
    if len(flagged):
        lines += ["| consultant | dealer | lost leads | incomplete |", "|---|---|---|---|"]
        for r in flagged.itertuples():
            lines.append(
                f"| {r.consultant_id} | {r.dealer_id} | {r.lost_leads} | {r.incomplete_share:.0%} |"
            )
    return "\n".join(lines) + "\n"
