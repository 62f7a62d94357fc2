"""Figures and the reviewer report of the churn model's SHAP explanations (:mod:`models.explain`).

The SHAP summary (beeswarm), mean |SHAP| bars, dependence and waterfall figures, and the
one-page Markdown report (evaluation vs the formula baseline, global plots, top features,
example customers). Only model features, dictionary labels and customer ids are shown; never
names or phones.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.explain import dictionary_lookup, import_shap
from models.lgbm import BIAS_COLUMN, CalibratedBooster
from models.reporting.figures import check_lang, pyplot, save_figure
from models.reporting.labels import duration_unit, feature_label, feature_labels, text
from models.reporting.markdown import md_escape, md_table

logger = logging.getLogger(__name__)

#: Resolution of the explanation figures; files are cropped to what is drawn, since shap
#: draws legends and colour bars outside the axes.
_DPI = 110


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def plot_beeswarm(
    model: CalibratedBooster,
    X: pd.DataFrame,
    contributions: pd.DataFrame,
    path: str | Path,
    dictionary: pd.DataFrame | None = None,
    max_display: int = 20,
    lang: str = "zh",
) -> Path:
    """SHAP beeswarm (``shap.plots.beeswarm``) with the dictionary's labels in ``lang``."""
    from models.treeshap import lightgbm_matrix

    shap = import_shap()
    plt = pyplot()
    frame = model.frame(X)
    explanation = shap.Explanation(
        values=contributions.loc[:, model.features].to_numpy(),
        base_values=contributions[BIAS_COLUMN].to_numpy(),
        # values for the colours: categorical levels as their codes, as LightGBM sees them
        data=lightgbm_matrix(model.booster, frame),
        feature_names=feature_labels(list(model.features), lang, dictionary),
    )
    plt.figure()
    # shap jitters the swarm with numpy's global generator: seed it for this call only, so the
    # same data draw the same figure (and the caller's random state is left as it was).
    state = np.random.get_state()  # noqa: NPY002 - shap reads the legacy global generator
    np.random.seed(0)  # noqa: NPY002
    try:
        shap.plots.beeswarm(explanation, max_display=max_display, show=False, plot_size=(10, 8))
    finally:
        np.random.set_state(state)  # noqa: NPY002
    fig = plt.gcf()
    main, *bars = fig.axes
    _translate_rest(main, lang)
    main.set_xlabel(text("dependence.y", lang))
    for bar in bars:  # shap's colour bar: the feature value, low to high
        bar.set_ylabel(text("beeswarm.colour", lang))
        bar.set_yticks([0, 1], [text("beeswarm.low", lang), text("beeswarm.high", lang)])
    fig.suptitle(text("beeswarm.title", lang))
    return save_figure(fig, path, dpi=_DPI, tight_layout=False, bbox_inches="tight")


_REST = re.compile(r"^(?:Sum of )?(\d+) other features$")


def _translate_rest(ax, lang: str) -> None:
    """shap's "Sum of 38 other features" tick in ``lang`` (the other ticks left as drawn)."""
    ticks = ax.get_yticklabels()
    if not any(_REST.match(t.get_text()) for t in ticks):
        return
    words = [t.get_text() for t in ticks]
    for i, word in enumerate(words):
        if m := _REST.match(word):
            words[i] = text("shap.rest", lang, n=m.group(1))
    ax.set_yticks(ax.get_yticks(), words)


def plot_importance(
    importance: pd.DataFrame, path: str | Path, top: int = 20, lang: str = "zh"
) -> Path:
    """Horizontal bar chart of mean |SHAP| per feature (labels in ``lang``), largest on top."""
    plt = pyplot()
    head = importance.head(top).iloc[::-1]
    labels = head["label_zh" if check_lang(lang) == "zh" else "label_en"].astype(str)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(head) + 1.5))
    bars = ax.barh(labels, head["mean_abs_shap"], color="#1f77b4")
    if "share" in head.columns:
        ax.bar_label(bars, [f"{x:.0%}" for x in head["share"]], padding=2, fontsize=8)
    ax.set_xlabel(text("importance.x", lang))
    ax.set_title(text("importance.title", lang))
    return save_figure(fig, path, dpi=_DPI, bbox_inches="tight")


def plot_dependence(
    model: CalibratedBooster,
    X: pd.DataFrame,
    contributions: pd.DataFrame,
    feature: str,
    path: str | Path,
    dictionary: pd.DataFrame | None = None,
    max_points: int = 5000,
    lang: str = "zh",
) -> Path:
    """SHAP dependence plot of one feature: its value against its SHAP value.

    Numeric features are a scatter; rows where the feature is not recorded are a strip of
    their own in a narrow panel beside the axis (never at a made-up x value), labelled with
    their count. Durations in days are drawn in days, months or years, whichever a person
    reads the span in. A categorical feature is a strip per level.
    """
    plt = pyplot()
    info = dictionary_lookup([feature], dictionary).iloc[0]
    label = feature_label(feature, lang, dictionary)
    frame = model.frame(X)
    values = contributions[feature].to_numpy()
    rng = np.random.default_rng(0)
    keep = np.arange(len(frame))
    if len(keep) > max_points:
        keep = np.sort(rng.choice(keep, max_points, replace=False))
    col = frame[feature].iloc[keep]
    y = values[keep]
    unit = str(info["unit"])
    if isinstance(col.dtype, pd.CategoricalDtype):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        codes = col.cat.codes.to_numpy()
        levels = [*col.cat.categories.astype("str"), text("not_recorded", lang)]
        pos = np.where(codes < 0, len(levels) - 1, codes).astype("float64")
        jitter = rng.uniform(-0.25, 0.25, len(pos))
        ax.scatter(pos + jitter, y, s=6, alpha=0.4)
        used = np.unique(pos).astype(int)
        ax.set_xticks(used, [levels[i] for i in used], rotation=45, ha="right")
        ax.set_xlabel(label)
        axes = [ax]
    else:
        x = col.to_numpy(dtype="float64", na_value=np.nan)
        miss = np.isnan(x)
        if miss.any():
            fig, axes = plt.subplots(
                1, 2, figsize=(7.8, 4.5), sharey=True, gridspec_kw={"width_ratios": [6, 1]}
            )
        else:
            fig, ax0 = plt.subplots(figsize=(7, 4.5))
            axes = [ax0]
        ax = axes[0]
        scale, unit_text = 1.0, unit
        if unit == "days":
            unit_key, scale = duration_unit(x[~miss]) if (~miss).any() else ("days", 1.0)
            unit_text = text(f"unit.{unit_key}", lang)
        ax.scatter(x[~miss] / scale, y[~miss], s=6, alpha=0.4, label=text("recorded", lang))
        shown_unit = unit_text if unit_text and unit != "category" else ""
        ax.set_xlabel(label + (f" ({shown_unit})" if shown_unit else ""))
        if miss.any():
            side = axes[1]
            side.scatter(
                rng.uniform(-0.3, 0.3, int(miss.sum())),
                y[miss],
                s=6,
                alpha=0.4,
                color="#d62728",
                label=text("not_recorded", lang),
            )
            side.set_xlim(-1, 1)
            side.set_xticks([0], [text("not_recorded.axis", lang, n=f"{int(miss.sum()):,}")])
            side.tick_params(axis="y", left=False)
            side.axhline(0.0, color="grey", lw=0.8)
            side.grid(alpha=0.3, axis="y")
            handles = [h for a in axes for h in a.get_legend_handles_labels()[0]]
            names = [n for a in axes for n in a.get_legend_handles_labels()[1]]
            ax.legend(handles, names, loc="best", fontsize=8)
    axes[0].axhline(0.0, color="grey", lw=0.8)
    axes[0].grid(alpha=0.3)
    axes[0].set_ylabel(text("dependence.y", lang))
    fig.suptitle(text("dependence.title", lang, feature=label))
    return save_figure(fig, path, dpi=_DPI, bbox_inches="tight")


def plot_waterfall(
    model: CalibratedBooster,
    row: pd.DataFrame,
    path: str | Path | None = None,
    dictionary: pd.DataFrame | None = None,
    max_display: int = 12,
    lang: str = "zh",
):
    """SHAP waterfall of one row (``shap.plots.waterfall``), labels in ``lang``, log-odds.

    Returns:
        The saved path when ``path`` is given, else the matplotlib figure.
    """
    shap = import_shap()
    plt = pyplot()
    if len(row) != 1:
        raise ValueError(f"plot_waterfall needs exactly one row, got {len(row)}")
    contrib = model.contributions(row)
    frame = model.frame(row)
    missing = text("not_recorded", lang)
    shown = [
        missing if pd.isna(v) else (v if isinstance(v, str) else float(v))
        for v in frame.iloc[0].tolist()
    ]
    explanation = shap.Explanation(
        values=contrib.loc[:, model.features].to_numpy()[0],
        base_values=float(contrib[BIAS_COLUMN].iloc[0]),
        data=np.asarray(shown, dtype=object),
        feature_names=feature_labels(list(model.features), lang, dictionary),
    )
    plt.figure()
    shap.plots.waterfall(explanation, max_display=max_display, show=False)
    fig = plt.gcf()
    for ax in fig.axes:
        _translate_rest(ax, lang)
    if path is None:
        return fig
    return save_figure(fig, path, dpi=_DPI, tight_layout=False, bbox_inches="tight")


def global_figures(
    model: CalibratedBooster,
    X: pd.DataFrame,
    contributions: pd.DataFrame,
    importance: pd.DataFrame,
    out_dir: str | Path,
    dictionary: pd.DataFrame | None = None,
    top_n: int = 6,
    max_display: int = 20,
    lang: str = "zh",
) -> dict[str, Path]:
    """Beeswarm, mean |SHAP| bars and dependence plots of the ``top_n`` features.

    Args:
        model: The model.
        X: The sample explained (features; extra columns ignored).
        contributions: ``model.contributions(X)``.
        importance: :func:`models.explain.mean_abs_shap` of ``contributions``.
        out_dir: Directory for the PNGs (created).
        dictionary: Feature dictionary; None = built-in.
        top_n: Number of dependence plots (the first features of ``importance``).
        max_display: Features shown in the beeswarm and the importance bars.
        lang: ``"zh"`` or ``"en"``: the language of the figures' text.

    Returns:
        The written PNGs by name (``beeswarm``, ``importance``, ``dependence_<feature>``).
    """
    out_dir = Path(out_dir)
    figures = {
        "beeswarm": plot_beeswarm(
            model, X, contributions, out_dir / "shap_beeswarm.png", dictionary, max_display, lang
        ),
        "importance": plot_importance(
            importance, out_dir / "shap_importance.png", max_display, lang
        ),
    }
    for feat in importance["feature"].head(top_n):
        path = out_dir / f"shap_dependence_{feat}.png"
        figures[f"dependence_{feat}"] = plot_dependence(
            model, X, contributions, feat, path, dictionary, lang=lang
        )
    logger.info("wrote %d explanation figures to %s", len(figures), out_dir)
    return figures


# --------------------------------------------------------------------------------------------
# Reviewer report
# --------------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything the reviewer report shows (paths relative to the report's directory).

    Attributes:
        importance: :func:`models.explain.mean_abs_shap` table.
        figures: Explanation figures, title → relative path.
        examples: :func:`models.explain.top_reasons` rows of the example customers, with a ``risk`` column.
        shap_check: :func:`models.explain.shap_consistency` result.
        evaluation: The evaluation stage's metrics (``metrics.json``), None if missing.
        evaluation_figures: Evaluation figures, title → relative path.
        model_meta: The model's saved facts (training window, params, ...).
        sample_rows: Rows the global explanation was computed on.
        sample_note: Where the sample came from (e.g. "test snapshots 2026-02..2026-04").
        top_features: Rows of the top-features table.
        segments: The evaluate stage's ``segments.csv`` (metrics per value tier and dealer).
        promotion: The evaluate stage's ``promotion.json`` (champion/challenger decisions).
    """

    importance: pd.DataFrame
    figures: dict[str, str]
    examples: pd.DataFrame
    shap_check: dict[str, Any]
    evaluation: dict[str, Any] | None = None
    evaluation_figures: dict[str, str] = field(default_factory=dict)
    model_meta: dict[str, Any] = field(default_factory=dict)
    sample_rows: int = 0
    sample_note: str = ""
    top_features: int = 15
    segments: pd.DataFrame | None = None
    promotion: dict[str, Any] | None = None


def _fmt_metric(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.4f}"
    return str(x)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
        elif isinstance(value, int | float | str | bool) or value is None:
            out[name] = value
    return out


def evaluation_section(
    evaluation: Mapping[str, Any] | None, figures: Mapping[str, str]
) -> list[str]:
    """Markdown lines for the out-of-time evaluation (model vs formula baseline)."""
    lines = ["## Out-of-time evaluation", ""]
    if not evaluation:
        lines += [
            "**Evaluation is missing**: no `metrics.json` from the evaluate stage was found, so "
            "this report cannot show how the model compares with the playbook formula. Run "
            "the `evaluate` stage and rebuild the report.",
            "",
        ]
        return lines
    flat = _flatten(evaluation)
    comparison = _comparison_rows(evaluation)
    if comparison:
        lines += ["Churn risk, model vs the playbook formula, same test rows:", ""]
        lines += md_table(["metric", "model", "formula baseline", "difference"], comparison)
        lines.append("")
    recovery = _recovery_rows(evaluation)
    if recovery:
        lines += ["Win-back ranking on later campaigns:", ""]
        lines += md_table(["metric", "uplift model", "scorecard", "churn risk"], recovery)
        lines.append("")
    rest = [(k, _fmt_metric(v)) for k, v in flat.items() if isinstance(v, int | float)]
    if rest:
        lines += ["<details><summary>All evaluation metrics</summary>", ""]
        lines += md_table(["metric", "value"], rest)
        lines += ["", "</details>", ""]
    for title, rel in figures.items():
        lines += [f"![{title}]({rel})", ""]
    return lines


def _comparison_rows(evaluation: Mapping[str, Any]) -> list[list[str]]:
    """Model vs formula rows from the churn block (``model`` and ``formula`` mappings)."""
    churn = evaluation.get("churn", evaluation)
    if not isinstance(churn, Mapping):
        return []
    model = churn.get("model")
    base = next(
        (churn.get(b) for b in ("formula", "baseline", "formula_risk") if churn.get(b)), None
    )
    if not isinstance(model, Mapping):
        return []
    base_flat = _flatten(base) if isinstance(base, Mapping) else {}
    rows = []
    for key, value in _flatten(model).items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        other = base_flat.get(key)
        if isinstance(other, int | float) and not isinstance(other, bool):
            rows.append([key, _fmt_metric(value), _fmt_metric(other), f"{value - other:+.4f}"])
        else:
            rows.append([key, _fmt_metric(value), "—", "—"])
    return rows


def _recovery_rows(evaluation: Mapping[str, Any]) -> list[list[str]]:
    """Uplift model vs scorecard vs churn-risk ranking (Qini, AUUC, uplift@k)."""
    rec = evaluation.get("recovery")
    if not isinstance(rec, Mapping):
        return []
    scorers = ("uplift_model", "scorecard", "churn_risk")
    blocks = [rec.get(s) if isinstance(rec.get(s), Mapping) else {} for s in scorers]
    metrics = [m for m in blocks[0] if isinstance(blocks[0][m], int | float)]
    return [[m, *(_fmt_metric(b.get(m)) for b in blocks)] for m in metrics]


def _segments_section(
    segments: pd.DataFrame | None, promotion: Mapping[str, Any] | None
) -> list[str]:
    """Per value tier / dealer metrics and the champion/challenger decisions, when present."""
    lines: list[str] = []
    if segments is not None and len(segments):
        cols = [
            ("segment", "segment", str),
            ("value", "value", str),
            ("n", "rows", lambda x: f"{int(x):,}"),
            ("positive_rate", "churn rate", lambda x: f"{x:.1%}"),
            ("model_roc_auc", "model ROC-AUC", lambda x: f"{x:.3f}"),
            ("formula_roc_auc", "formula ROC-AUC", lambda x: f"{x:.3f}"),
            ("model_ece", "model ECE", lambda x: f"{x:.3f}"),
        ]
        cols = [c for c in cols if c[0] in segments.columns]
        rows = [
            [fmt(r[c]) if pd.notna(r[c]) else "n/a" for c, _, fmt in cols]
            for _, r in segments.iterrows()
        ]
        lines += ["### By value tier and dealer", ""]
        lines += md_table([h for _, h, _ in cols], rows)
        lines.append("")
    if promotion:
        lines += ["### Champion / challenger", ""]
        for name, d in promotion.items():
            if isinstance(d, Mapping):
                verdict = "promoted to champion" if d.get("promoted") else "not promoted"
                lines.append(
                    f"- **{name}** v{d.get('version', '?')}: {verdict} ({d.get('reason', '')})"
                )
        lines.append("")
    return lines


def build_report(inputs: ReportInputs) -> str:
    """The reviewer report as Markdown (one page: evaluation, global plots, features, cases).

    Only model features, dictionary labels and customer ids appear; never names or phones.
    """
    meta = inputs.model_meta or {}
    lines = ["# winback churn model: evaluation and explanations", ""]
    facts = []
    split = meta.get("split") if isinstance(meta.get("split"), Mapping) else {}
    for what, a, b in (
        ("train", "train_start", "train_end"),
        ("validation and calibration", "holdout_start", "holdout_end"),
        ("out-of-time test", "test_start", "test_end"),
    ):
        if split.get(a) and split.get(b):
            facts.append(f"- **{what}**: {split[a]} .. {split[b]}")
    if split.get("gap_days") is not None:
        facts.append(f"- **gap before the test period**: {split['gap_days']} days")
    if split.get("scheme_text"):
        facts.append(f"- **evaluation scheme**: {md_escape(split['scheme_text'])}")
    if meta.get("trained_through"):
        facts.append(
            f"- **the scoring model learned from data through**: {meta['trained_through']} "
            f"({meta.get('role', 'deployed')} model)"
        )
    for key in ("best_iteration", "trained_at"):
        if key in meta:
            facts.append(f"- **{key.replace('_', ' ')}**: {json.dumps(meta[key], default=str)}")
    if facts:
        lines += [*facts, ""]
    lines += evaluation_section(inputs.evaluation, inputs.evaluation_figures)
    lines += _segments_section(inputs.segments, inputs.promotion)

    check = inputs.shap_check
    lines += [
        "## Global explanation",
        "",
        f"SHAP values from exact TreeSHAP (LightGBM's `pred_contrib` numbers) on "
        f"{inputs.sample_rows:,} rows{' (' + inputs.sample_note + ')' if inputs.sample_note else ''}."
        " Values are in log-odds of churn of the uncalibrated booster (the calibration is "
        "monotone, so the order of reasons is the same).",
        "",
        f"Check: max |native − `shap.TreeExplainer`| = {check.get('max_abs_diff_treeexplainer', float('nan')):.2e}"
        + (
            f", against shap's own TreeSHAP algorithm = {check['max_abs_diff_shap_algorithm']:.2e}"
            if check.get("max_abs_diff_shap_algorithm") is not None
            else " (shap's own algorithm is not applicable: the model has categorical splits)"
        )
        + f", additivity error = {check.get('max_additivity_error', float('nan')):.2e}"
        f" on {check.get('rows', 0):,} rows.",
        "",
    ]
    for title, rel in inputs.figures.items():
        lines += [f"### {title}", "", f"![{title}]({rel})", ""]

    lines += ["## Top features", ""]
    rows = [
        [
            i + 1,
            r.label_en,
            r.label_zh,
            r.feature,
            f"{r.mean_abs_shap:.3f}",
            f"{r.share:.0%}",
            r.meaning,
        ]
        for i, r in enumerate(inputs.importance.head(inputs.top_features).itertuples())
    ]
    lines += md_table(["#", "feature", "特征", "column", "mean abs SHAP", "share", "meaning"], rows)
    lines.append("")

    lines += [
        "## Example customers",
        "",
        "Top reasons pushing each customer's churn risk up (by customer id only).",
        "",
    ]
    ex = inputs.examples
    k = sum(1 for c in ex.columns if c.startswith("reason_") and c[7:].isdigit())
    rows = []
    for _, r in ex.iterrows():
        reasons_en = "; ".join(
            str(r[f"reason_{j}_en"]) for j in range(1, k + 1) if pd.notna(r[f"reason_{j}_en"])
        )
        reasons_zh = "；".join(
            str(r[f"reason_{j}_zh"]) for j in range(1, k + 1) if pd.notna(r[f"reason_{j}_zh"])
        )
        when = r["as_of"] if "as_of" in ex.columns else ""
        when = pd.Timestamp(when).strftime("%Y-%m-%d") if pd.notna(when) and when != "" else ""
        risk = f"{r['risk']:.0%}" if "risk" in ex.columns else ""
        rows.append([r.get("customer_id", ""), when, risk, reasons_en or "—", reasons_zh or "—"])
    lines += md_table(["customer_id", "as of", "churn risk", "top reasons", "主要原因"], rows)
    lines.append("")
    return "\n".join(lines)
