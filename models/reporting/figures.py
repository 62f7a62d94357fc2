"""The one matplotlib set-up: the fonts, the file-only backend, pyplot access and saving a figure.

Figures are drawn with matplotlib's defaults (no style sheet) and one font set, so the same
data and code give the same PNG bytes. Latin text is drawn in matplotlib's own DejaVu Sans;
Chinese text falls back to Noto Sans SC (SIL Open Font License 1.1), the font file shipped
inside the ``zhplot`` wheel (a dependency). The file is registered with matplotlib's font
manager once, when this module is imported; nothing is downloaded and no system font is
needed. ``zhplot`` itself is never imported: importing it would change the caller's rcParams. Most figures are plain :class:`~matplotlib.figure.Figure`
objects, which need no backend; figures drawn by shap or through pandas' plotting go through
pyplot, whose backend is the caller's choice: a stage calls :func:`use_files_backend` (files
only, no display), a notebook keeps its inline backend.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure

__all__ = [
    "CJK_FONT",
    "FONT_FAMILY",
    "LANGS",
    "Figure",
    "check_lang",
    "cjk_font_path",
    "pyplot",
    "save_figure",
    "use_files_backend",
]

#: The package whose wheel carries the Chinese font file, and that file.
CJK_FONT_PACKAGE = "zhplot"
CJK_FONT_FILE = ("fonts", "NotoSansSC-Regular.ttf")
#: The family name of that font, as matplotlib's font manager knows it.
CJK_FONT = "Noto Sans SC"
#: Fonts tried glyph by glyph: Latin, digits and symbols in DejaVu Sans (the look every
#: English figure had), Chinese in Noto Sans SC.
FONT_FAMILY = ["DejaVu Sans", CJK_FONT]
#: Languages of the figures' text: Chinese (the default: store managers read Chinese), English.
LANGS = ("zh", "en")


def check_lang(lang: str) -> str:
    """``lang`` if it is a figure language, else a ValueError naming the setting and choices."""
    if lang not in LANGS:
        raise ValueError(f"report.lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def cjk_font_path() -> Path:
    """The Noto Sans SC file inside the installed ``zhplot`` package (not imported).

    Raises:
        FileNotFoundError: The package or its font file is not installed.
    """
    spec = importlib.util.find_spec(CJK_FONT_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder).joinpath(*CJK_FONT_FILE)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"the Chinese figure font {'/'.join(CJK_FONT_FILE)} of the {CJK_FONT_PACKAGE!r} "
        f"package is not installed: pip install {CJK_FONT_PACKAGE}"
    )


def _register_fonts() -> None:
    # addfont only reads the file's names into the in-memory font list: no cache is written
    if CJK_FONT not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(cjk_font_path()))
    matplotlib.rcParams["font.family"] = FONT_FAMILY


_register_fonts()


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
