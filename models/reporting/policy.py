"""The policy stage's figure: the budget sweep of the win-back policies (:mod:`models.policy`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.reporting.figures import Figure, save_figure


def sweep_figure(sweep: pd.DataFrame, path: Path) -> Path:
    """Incremental value and value per cost of each policy against the budget share.

    Args:
        sweep: One row per policy and budget share: ``policy``, ``budget_share``,
            ``incremental_value``, ``value_per_cost``.
        path: The PNG to write.

    Returns:
        ``path``.
    """
    fig = Figure(figsize=(10, 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    for name, part in sweep.groupby("policy", sort=False):
        part = part.sort_values("budget_share")
        axes[0].plot(part["budget_share"], part["incremental_value"], marker="o", label=name)
        axes[1].plot(part["budget_share"], part["value_per_cost"], marker="o", label=name)
    axes[0].set(
        xlabel="Budget (share of the same-coupon cost)",
        ylabel="Incremental value (CNY, truth)",
        title="Incremental value at equal budget",
    )
    axes[1].set(
        xlabel="Budget (share of the same-coupon cost)",
        ylabel="Incremental value per CNY of cost",
        title="Value per unit of cost",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
