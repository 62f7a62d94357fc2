"""The monitor's effect report (Markdown) and figure.

The effect table (contacted vs control win-back rates per window, segment and action) and its
vocabulary (verdicts, window statuses, levels) come from :mod:`models.monitor`; this module
only shows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from models.monitor import CENSORED, IMPROVED, LEVELS, NO_EVIDENCE, TOO_FEW, WORSE
from models.reporting.figures import Figure, check_lang, save_figure
from models.reporting.labels import name, segment_name, text
from models.reporting.markdown import md_table


def fmt_value(x: Any, pct: bool = False, money: bool = False) -> str:
    """One value as the effect report shows it: a dash when missing, else %, ¥ or a number."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if pct:
        return f"{100 * x:.1f}%"
    if money:
        return f"¥{x:,.0f}"
    return f"{x:,}" if isinstance(x, int | np.integer) else f"{x:,.2f}"


#: The effect table's columns as the report shows them: column, title, formatting.
_COLUMNS = (
    ("segment", "segment", {}),
    ("action", "action", {}),
    ("window_status", "window", {}),
    ("n_treated", "contacted", {}),
    ("n_control", "control", {}),
    ("rate_treated", "rate contacted", {"pct": True}),
    ("rate_control", "rate control", {"pct": True}),
    ("incremental", "incremental", {"pct": True}),
    ("ci_low", "95% low", {"pct": True}),
    ("ci_high", "95% high", {"pct": True}),
    ("verdict", "verdict", {}),
    ("cost_per_recovered", "cost / recovered", {"money": True}),
    ("cost_per_incremental", "cost / incremental", {"money": True}),
    ("expected_uplift", "expected uplift", {"pct": True}),
    ("vs_expected", "vs expected", {}),
)


def _effects_table(frame: pd.DataFrame) -> list[str]:
    rows = [
        [r[key] if isinstance(r[key], str) else fmt_value(r[key], **kw) for key, _, kw in _COLUMNS]
        for _, r in frame.iterrows()
    ]
    return md_table([title for _, title, _ in _COLUMNS], rows)


def build_report(
    effects: pd.DataFrame,
    as_of: pd.Timestamp,
    data_end: pd.Timestamp,
    n_contacts: int,
    windows_days: Sequence[int],
    confidence: float,
) -> str:
    """The Markdown effect report: windows, overall and per-segment results, verdicts.

    Args:
        effects: The effect table (one row per window, level, segment and action).
        as_of: The score file's as-of date (contacts since then are counted).
        data_end: The last observed day.
        n_contacts: Customers picked since the score.
        windows_days: The follow-up windows (days), in report order.
        confidence: Coverage of the incremental-rate intervals.

    Returns:
        The report as Markdown.
    """
    lines = [
        f"# Win-back effect report: contacts since {as_of:%Y-%m-%d}",
        "",
        f"Observed until {data_end:%Y-%m-%d}; {n_contacts} customers picked since the score "
        "(first outreach row each; control = picked but not contacted, randomized).",
        "A window counts a return if a service visit falls in (contact, contact + window]. "
        f"Intervals: {confidence:.0%} Agresti–Caffo for contacted − control.",
        "",
        "## Windows",
        "",
    ]
    overall = effects[effects["level"] == "all"]
    for _, r in overall.iterrows():
        lines.append(f"- {r['window_days']} days: {r['window_status']}")
    observed = overall.loc[overall["window_status"] != CENSORED, "window_days"]
    lines += ["", "## Overall and by action", ""]
    top = effects[effects["level"].isin(["all", "action"])]
    for w in windows_days:
        part = top[top["window_days"] == w]
        lines += [f"### {w} days", "", *_effects_table(part), ""]
    if len(observed):
        w = int(observed.max())
        seg = effects[(effects["level"] == "segment") & (effects["window_days"] == w)]
        lines += [f"## By segment ({w} days, the longest observed window)", ""]
        lines += [*_effects_table(seg), ""]
        for verdict in (IMPROVED, NO_EVIDENCE, WORSE, TOO_FEW):
            names = seg.loc[seg["verdict"] == verdict, "segment"].tolist()
            lines.append(f"- **{verdict}**: {', '.join(names) if names else 'none'}")
        cells = effects[(effects["level"] == LEVELS[0]) & (effects["window_days"] == w)]
        lines += ["", f"## By segment and action ({w} days)", "", *_effects_table(cells), ""]
    else:
        lines += ["No window is observed yet: every contact is too recent.", ""]
    return "\n".join(lines) + "\n"


#: Bar colour per verdict (the legend says which is which).
_VERDICT_COLOURS = {
    IMPROVED: "tab:green",
    NO_EVIDENCE: "tab:gray",
    WORSE: "tab:red",
    TOO_FEW: "tab:olive",
}


def plot_effects(
    effects: pd.DataFrame,
    path: str | Path,
    lang: str = "zh",
    until: pd.Timestamp | None = None,
) -> Path:
    """Incremental win-back rate (with interval) per segment, one panel per observed window.

    Bars are coloured by verdict, with a legend of the verdicts and the interval; each bar
    says its contacted / control counts.

    Args:
        effects: The effect table.
        path: The PNG to write.
        lang: ``"zh"`` or ``"en"``.
        until: The last observed day, named in the title when given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    check_lang(lang)
    seg = effects[
        (effects["level"].isin(["segment", "all"])) & (effects["window_status"] != CENSORED)
    ]
    windows = sorted(seg["window_days"].unique())
    fig = Figure(figsize=(5.2 * max(len(windows), 1), 0.4 * max(seg["segment"].nunique(), 1) + 2.6))
    axes = fig.subplots(1, max(len(windows), 1), squeeze=False)[0]
    if not windows:
        axes[0].text(0.5, 0.5, text("monitor.none", lang), ha="center", va="center")
        axes[0].set_axis_off()
    for ax, w in zip(axes, windows, strict=False):
        part = seg[seg["window_days"] == w].reset_index(drop=True)
        y = np.arange(len(part))
        inc = part["incremental"].to_numpy(dtype="float64")
        lo = inc - part["ci_low"].to_numpy(dtype="float64")
        hi = part["ci_high"].to_numpy(dtype="float64") - inc
        colours = part["verdict"].map(_VERDICT_COLOURS).fillna("tab:gray")
        ax.barh(y, np.nan_to_num(inc), color=colours.tolist(), alpha=0.7)
        ax.errorbar(inc, y, xerr=np.vstack([lo, hi]), fmt="none", ecolor="black", capsize=2)
        ax.axvline(0, color="black", lw=0.8)
        labels = [
            text("monitor.all", lang) if level == "all" else segment_name(segment, lang)
            for level, segment in zip(part["level"], part["segment"], strict=True)
        ]
        counts = [
            f"{fmt_value(t)} / {fmt_value(c)}"
            for t, c in zip(part["n_treated"], part["n_control"], strict=True)
        ]
        ax.set_yticks(y, [f"{a}  ({b})" for a, b in zip(labels, counts, strict=True)], fontsize=8)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_xlabel(text("monitor.x", lang))
        ax.set_title(text("monitor.title", lang, days=w))
        if ax is axes[0]:
            ax.set_ylabel(text("monitor.y", lang))
        ax.grid(alpha=0.3, axis="x")
    if windows:
        handles = [
            Patch(color=c, alpha=0.7, label=name(v, lang)) for v, c in _VERDICT_COLOURS.items()
        ]
        handles.append(
            Line2D([], [], color="black", marker="|", lw=1, label=text("monitor.interval", lang))
        )
        fig.legend(
            handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False
        )
        if until is not None:
            fig.suptitle(text("monitor.suptitle", lang, date=f"{until:%Y-%m-%d}"))
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, path, tight_layout=not windows)
