"""The score stage's value × stage matrix for humans: the terminal table and the heatmap PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, NullFormatter

from features import vocabulary
from models.reporting.figures import Figure, check_lang, save_figure
from models.reporting.labels import money, name, text


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


def _count_tick(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}"


def plot_matrix(cells: pd.DataFrame, path: str | Path, title: str = "", lang: str = "zh") -> Path:
    """Heatmap of the value × stage matrix: colour = customers (log scale); text per cell.

    The colour is on a log scale so that one crowded cell (thousands of low-value customers
    with no history, say) does not wash every other cell out; each cell says its customers,
    contacts, expected returns and the budget it uses, and the tick labels carry the totals.

    Args:
        cells: The matrix in long format, one row per value tier and stage (``value_tier``,
            ``stage``, ``customers``, ``contacted``, ``expected_returns``, ``budget_used``).
        path: The PNG to write.
        title: The figure's title; empty = a generic one.
        lang: ``"zh"`` or ``"en"``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    check_lang(lang)
    counts = _pivot(cells, "customers").drop(index="total", columns="total")
    contacted = _pivot(cells, "contacted").reindex_like(counts)
    returns = _pivot(cells, "expected_returns").reindex_like(counts)
    cost = _pivot(cells, "budget_used").reindex_like(counts)
    fig = Figure(figsize=(2.3 * counts.shape[1] + 2.4, 1.45 * counts.shape[0] + 2.0), dpi=110)
    ax = fig.subplots()
    values = counts.to_numpy(dtype="float64")
    top = max(float(values.max()), 1.0)
    # empty cells are drawn blank (masked), not as the scale's lowest colour; the scale runs
    # from half the smallest cell to the largest, so small cells are light and big ones dark
    shown = np.ma.masked_less(values, 1.0)
    low = max(float(values[values >= 1].min()) / 2 if (values >= 1).any() else 1.0, 1.0)
    norm = LogNorm(vmin=low, vmax=max(top, 2 * low))
    im = ax.imshow(shown, cmap="Blues", norm=norm, aspect="auto")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            n = counts.iat[i, j]
            lines = [
                text("matrix.customers", lang, n=f"{n:,.0f}"),
                text("matrix.contacted", lang, n=f"{contacted.iat[i, j]:,.0f}"),
                text("matrix.returns", lang, n=f"{returns.iat[i, j]:,.1f}"),
                text("matrix.budget", lang, money="¥" + money(cost.iat[i, j], lang)),
            ]
            dark = n >= 1 and norm(n) > 0.6
            ax.text(j, i, "\n".join(lines), ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(
        range(counts.shape[1]),
        [f"{name(s, lang)}\n({counts[s].sum():,.0f})" for s in counts.columns],
    )
    ax.set_yticks(
        range(counts.shape[0]),
        [f"{name(t, lang)}\n({counts.loc[t].sum():,.0f})" for t in counts.index],
    )
    ax.tick_params(labelsize=10)
    ax.set_xlabel(text("matrix.x", lang), fontsize=11)
    ax.set_ylabel(text("matrix.y", lang), fontsize=11)
    total = (
        f"{text('matrix.customers', lang, n=f'{values.sum():,.0f}')} · "
        f"{text('matrix.budget_used', lang, money='¥' + money(float(cost.to_numpy().sum()), lang))}"
    )
    ax.set_title(f"{title or text('matrix.title', lang)}\n{total}", fontsize=12)
    bar = fig.colorbar(im, ax=ax, label=text("matrix.colour", lang))
    # plain counts at 1-2-5 steps, not 6×10² (matplotlib's log ticks)
    steps = [m * 10**e for e in range(0, 10) for m in (1, 2, 5)]
    bar.set_ticks([t for t in steps if norm.vmin <= t <= norm.vmax] or [norm.vmin, norm.vmax])
    bar.ax.yaxis.set_major_formatter(FuncFormatter(_count_tick))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return save_figure(fig, path)
