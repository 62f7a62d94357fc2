"""Figures and tables of the out-of-time evaluation (:mod:`models.evaluate`,
:mod:`models.evaluate_recovery`): ROC, precision-recall, gains, calibration and Qini curves,
and the headline model-vs-baseline table.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.evaluate import CHURN_MODEL, FORMULA, RANDOM
from models.evaluate_recovery import CHURN_RISK, SCORECARD, UPLIFT_MODEL
from models.reporting.figures import Figure, check_lang, save_figure
from models.reporting.labels import name, text

#: The metric shown next to each line of a curve, by figure: (metric key, short name).
_HEADLINE = {
    "roc": ("roc_auc", "AUC"),
    "pr": ("pr_auc", "PR-AUC"),
    "lift": ("top_decile_lift", "lift@10%"),
    "qini": ("qini", "Qini"),
}


def _metric_of(block: Mapping[str, Any] | None, model: str, key: str) -> float | None:
    inner = block.get(model) if isinstance(block, Mapping) else None
    value = inner.get(key) if isinstance(inner, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _lines(ax, df: pd.DataFrame, x: str, y: str, lang: str, block=None, metric=None) -> None:
    for model, part in df.groupby("model", sort=False):
        style = {"linestyle": ":", "color": "grey"} if model == RANDOM else {}
        # the evaluation's "model" is the churn model ("model" alone names the model policy)
        label = name("churn_model" if model == CHURN_MODEL else model, lang)
        value = _metric_of(block, str(model), metric[0]) if metric else None
        if value is not None:
            label += f"  {metric[1]} {value:.3f}"
        ax.plot(part[x], part[y], label=label, **style)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def _subtitle(block: Mapping[str, Any] | None, lang: str) -> str:
    """The test period and row count of a metrics block, for under a figure's title."""
    if not isinstance(block, Mapping) or not isinstance(block.get("n"), int | float):
        return ""
    rows = f"{int(block['n']):,}"
    start, end = block.get("test_start"), block.get("test_end")
    if start and end:
        return text("headline.test", lang, period=f"{start}..{end}", rows=rows)
    return text("headline.rows", lang, rows=rows)


def _title(ax, key: str, block: Mapping[str, Any] | None, lang: str) -> None:
    sub = _subtitle(block, lang)
    ax.set_title(text(key, lang) + (f"\n{sub}" if sub else ""), fontsize=10)


def curve_figures(
    curves: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    metrics: Mapping[str, Any] | None = None,
    lang: str = "zh",
) -> list[Path]:
    """Draw the plot data as PNG figures (matplotlib, no display needed).

    Args:
        curves: Any of ``roc``, ``pr``, ``lift``, ``calibration``, ``qini``,
            ``qini_by_action`` (outputs of :func:`models.evaluate.churn_curves` /
            :func:`models.evaluate_recovery.recovery_curves`).
        out_dir: Directory for ``<name>.png``.
        metrics: The evaluation's metrics (``churn`` and ``recovery`` blocks): each line's
            AUC / PR-AUC / Qini goes into its legend entry, the test period and row count
            under the title. None = curves only.
        lang: ``"zh"`` or ``"en"``: the language of titles, axes and legends.

    Returns:
        The files written.
    """
    check_lang(lang)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = metrics or {}
    churn, recovery = metrics.get("churn"), metrics.get("recovery")
    written = []
    specs = {
        "roc": ("fpr", "tpr", churn),
        "pr": ("recall", "precision", churn),
        "lift": ("fraction", "capture", churn),
        "qini": ("fraction", "qini", recovery),
    }
    for kind, (x, y, block) in specs.items():
        if kind not in curves:
            continue
        fig = Figure(figsize=(5.5, 4.7), dpi=110)
        ax = fig.subplots()
        _lines(ax, curves[kind], x, y, lang, block, _HEADLINE.get(kind))
        if kind == "roc":
            ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label=text("chance", lang))
            ax.legend(loc="lower right", fontsize=8)
        ax.set(xlabel=text(f"{kind}.x", lang), ylabel=text(f"{kind}.y", lang))
        _title(ax, f"{kind}.title", block, lang)
        written.append(save_figure(fig, out_dir / f"{kind}.png"))
    if "calibration" in curves:
        written.append(_calibration(curves["calibration"], churn, out_dir, lang))
    if "qini_by_action" in curves:
        data = curves["qini_by_action"]
        actions = list(dict.fromkeys(data["action"]))
        fig = Figure(figsize=(4.2 * len(actions), 4.0), dpi=110)
        axes = np.atleast_1d(fig.subplots(1, len(actions), squeeze=False)[0])
        by_action = recovery.get("by_action", {}) if isinstance(recovery, Mapping) else {}
        for ax, action in zip(axes, actions, strict=True):
            block = by_action.get(action)
            _lines(
                ax,
                data.loc[data["action"] == action],
                "fraction",
                "qini",
                lang,
                block,
                _HEADLINE["qini"],
            )
            ax.set(xlabel=text("qini_action.x", lang), ylabel=text("qini_action.y", lang))
            n = block.get("n") if isinstance(block, Mapping) else None
            rows = f"\n{text('headline.rows', lang, rows=f'{int(n):,}')}" if n else ""
            ax.set_title(name(action, lang) + rows, fontsize=10)
        sub = _subtitle(recovery, lang)
        fig.suptitle(text("qini_action.title", lang) + (f"  ({sub})" if sub else ""))
        written.append(save_figure(fig, out_dir / "qini_by_action.png"))
    return written


def _calibration(
    cal: pd.DataFrame, churn: Mapping[str, Any] | None, out_dir: Path, lang: str
) -> Path:
    """Reliability curve with the rows per bin as bars underneath (how much each point weighs)."""
    fig = Figure(figsize=(5.5, 4.9), dpi=110)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label=text("calibration.perfect", lang))
    label = name("churn_model", lang)
    ece = _metric_of(churn, CHURN_MODEL, "ece")
    if ece is not None:
        label += f"  ECE {ece:.3f}"
    ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label=label)
    if {"count", "bin_lower", "bin_upper"} <= set(cal.columns) and cal["count"].max() > 0:
        # bars of the bins' row counts, scaled to the lower fifth of the axes
        width = (cal["bin_upper"] - cal["bin_lower"]).to_numpy(dtype="float64")
        height = 0.2 * cal["count"].to_numpy(dtype="float64") / float(cal["count"].max())
        ax.bar(
            cal["bin_lower"],
            height,
            width=width,
            align="edge",
            color="#1f77b4",
            alpha=0.15,
            label=text("calibration.bins", lang) + f" (max {int(cal['count'].max()):,})",
        )
    ax.set(
        xlabel=text("calibration.x", lang),
        ylabel=text("calibration.y", lang),
        xlim=(0, 1),
        ylim=(0, 1),
    )
    _title(ax, "calibration.title", churn, lang)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, out_dir / "calibration.png")


def comparison_table(churn: Mapping[str, Any], recovery: Mapping[str, Any] | None) -> pd.DataFrame:
    """A short model-vs-baseline table of the headline metrics (for the terminal and reports).

    Args:
        churn: Output of :func:`models.evaluate.evaluate_churn`.
        recovery: Output of :func:`models.evaluate_recovery.evaluate_recovery`, or None without outreach data.

    Returns:
        Columns ``task``, ``metric``, ``model``, ``baseline``, ``other``: churn rows compare the
        model with the formula; recovery rows the uplift model with the scorecard (baseline)
        and the churn-risk ranking (other).
    """
    rows = []
    m, f = churn[CHURN_MODEL], churn[FORMULA]
    for metric in ("roc_auc", "pr_auc", "top_decile_lift", "top_decile_capture"):
        rows.append(("churn", metric, m[metric], f[metric], np.nan))
    for metric in ("log_loss", "brier", "ece"):
        rows.append(("churn", metric, m[metric], np.nan, np.nan))
    if recovery is not None:
        k = next(k for k in recovery[UPLIFT_MODEL] if k.startswith("uplift_at_"))
        for metric in ("qini", "auuc", k):
            rows.append(
                (
                    "recovery",
                    metric,
                    recovery[UPLIFT_MODEL][metric],
                    recovery[SCORECARD][metric],
                    recovery[CHURN_RISK][metric],
                )
            )
    return pd.DataFrame(rows, columns=["task", "metric", "model", "baseline", "other"])
