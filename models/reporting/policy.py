"""The policy stage's figure: the budget sweep of the win-back policies (:mod:`models.policy`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from models.reporting.figures import Figure, check_lang, save_figure
from models.reporting.labels import money_formatter, name, text

#: The reference lines read from the truth: the oracle and the observable ceiling.
REFERENCE_STYLES = {
    "oracle": {"linestyle": "--", "color": "0.35"},
    "ceiling": {"linestyle": ":", "color": "0.45"},
}


def sweep_figure(sweep: pd.DataFrame, path: Path, lang: str = "zh") -> Path:
    """Net value and value per cost of each policy against the budget share.

    The oracle (the same money model fed the truth), when the sweep has it, is a dashed
    reference line: the limit no store can pass; the observable ceiling
    (:mod:`models.ceiling`) is a dotted one.

    Args:
        sweep: One row per policy and budget share: ``policy``, ``budget_share``,
            ``net_value``, ``value_per_cost``.
        path: The PNG to write.
        lang: ``"zh"`` or ``"en"``.

    Returns:
        ``path``.
    """
    check_lang(lang)
    fig = Figure(figsize=(10, 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    for policy, part in sweep.groupby("policy", sort=False):
        part = part.sort_values("budget_share")
        label = name(policy, lang)
        style = REFERENCE_STYLES.get(str(policy), {})
        axes[0].plot(part["budget_share"], part["net_value"], marker="o", label=label, **style)
        axes[1].plot(part["budget_share"], part["value_per_cost"], marker="o", label=label, **style)
    axes[0].set(
        xlabel=text("sweep.x", lang),
        ylabel=text("sweep.value.y", lang),
        title=text("sweep.value.title", lang),
    )
    # 800000 reads as 80万 / 800k
    axes[0].yaxis.set_major_formatter(FuncFormatter(money_formatter(lang)))
    axes[1].set(
        xlabel=text("sweep.x", lang),
        ylabel=text("sweep.ratio.y", lang),
        title=text("sweep.ratio.title", lang),
    )
    for ax in axes:
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
