"""The score stage's value × stage matrix for humans: the terminal table and the heatmap PNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import vocabulary
from models.reporting.figures import Figure, save_figure


def _pivot(cells: pd.DataFrame, value: str) -> pd.DataFrame:
    # tiers in the cells' order (high to low value), stages in life-cycle order, with totals
    tiers = list(dict.fromkeys(cells["value_tier"]))
    stages = [s for s in vocabulary.STAGES if s in set(cells["stage"])]
    stages += [s for s in dict.fromkeys(cells["stage"]) if s not in stages]
    table = cells.pivot(index="value_tier", columns="stage", values=value)
    table = table.reindex(index=tiers, columns=stages).fillna(0)
    table.loc["total"] = table.sum(axis=0)
    table["total"] = table.sum(axis=1)
    return table


def matrix_text(cells: pd.DataFrame) -> str:
    """The value × stage matrix as text: customers, contacted, expected returns, budget used.

    Args:
        cells: The matrix in long format (as for :func:`plot_matrix`, plus
            ``expected_incremental``).

    Returns:
        One titled table per value, with totals, for the terminal.
    """
    parts = []
    for value, title, fmt in (
        ("customers", "customers", "{:,.0f}"),
        ("contacted", "contacted (inside the budget)", "{:,.0f}"),
        ("expected_returns", "expected returns of the contacted", "{:,.1f}"),
        ("expected_incremental", "expected incremental returns", "{:,.1f}"),
        ("budget_used", "budget used (CNY, expected cost)", "{:,.0f}"),
    ):
        table = _pivot(cells, value)
        parts.append(f"{title}:\n" + table.to_string(float_format=lambda x, f=fmt: f.format(x)))
    return "\n\n".join(parts)


def plot_matrix(cells: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Heatmap of the value × stage matrix: colour = customers; text = contacts, returns, cost.

    Args:
        cells: The matrix in long format, one row per value tier and stage (``value_tier``,
            ``stage``, ``customers``, ``contacted``, ``expected_returns``, ``budget_used``).
        path: The PNG to write.
        title: The figure's title; empty = a generic one.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    counts = _pivot(cells, "customers").drop(index="total", columns="total")
    contacted = _pivot(cells, "contacted").reindex_like(counts)
    returns = _pivot(cells, "expected_returns").reindex_like(counts)
    cost = _pivot(cells, "budget_used").reindex_like(counts)
    fig = Figure(figsize=(1.9 * counts.shape[1] + 2.0, 1.25 * counts.shape[0] + 1.6), dpi=110)
    ax = fig.subplots()
    im = ax.imshow(counts.to_numpy(dtype="float64"), cmap="Blues", aspect="auto")
    top = float(counts.to_numpy().max()) or 1.0
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            n = counts.iat[i, j]
            text = f"{n:,.0f} customers\n{contacted.iat[i, j]:,.0f} contacted\n"
            text += f"{returns.iat[i, j]:,.1f} exp. returns\n¥{cost.iat[i, j]:,.0f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if n > 0.6 * top else "black",
            )
    ax.set_xticks(range(counts.shape[1]), counts.columns)
    ax.set_yticks(range(counts.shape[0]), counts.index)
    ax.set_xlabel("stage")
    ax.set_ylabel("value tier")
    ax.set_title(title or "Value × stage: customers, contacts, expected returns, budget used")
    fig.colorbar(im, ax=ax, label="customers")
    return save_figure(fig, path)
