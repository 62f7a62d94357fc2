"""The one matplotlib set-up: the file-only backend, pyplot access and saving a figure.

Figures are drawn with matplotlib's defaults (no style sheet, the default font), so the same
data and code give the same PNG bytes. Most figures are plain :class:`~matplotlib.figure.Figure`
objects, which need no backend; figures drawn by shap or through pandas' plotting go through
pyplot, whose backend is the caller's choice: a stage calls :func:`use_files_backend` (files
only, no display), a notebook keeps its inline backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

__all__ = ["Figure", "pyplot", "save_figure", "use_files_backend"]


def use_files_backend() -> None:
    """Draw to files only (the Agg backend): no display is needed or opened."""
    matplotlib.use("Agg")


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use, with whatever backend is selected."""
    import matplotlib.pyplot as plt

    return plt


def save_figure(
    fig: Figure,
    path: str | Path,
    *,
    dpi: float | str = "figure",
    tight_layout: bool = True,
    bbox_inches: str | None = None,
) -> Path:
    """Write ``fig`` as a PNG (its folder created) and release it if pyplot manages it.

    Args:
        fig: The figure.
        path: The file to write.
        dpi: Resolution; ``"figure"`` keeps the figure's own.
        tight_layout: Lay the axes out tightly before saving.
        bbox_inches: ``"tight"`` crops the file to what is drawn (for figures shap sizes
            itself); None keeps the figure's size.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight_layout:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches=bbox_inches)
    if fig.canvas.manager is not None:
        # a pyplot figure stays registered (and in memory) until it is closed
        pyplot().close(fig)
    return path
