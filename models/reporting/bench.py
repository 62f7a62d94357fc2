"""The scale benchmark's figure: wall time against customers per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.reporting.figures import check_lang, pyplot, save_figure, use_files_backend
from models.reporting.labels import name, text


def plot_scaling(rows: list[dict[str, Any]], path: Path, lang: str = "zh") -> Path:
    """Time vs customers per stage (log-log) with a linear reference through the smallest.

    Args:
        rows: Benchmark rows (``stage``, ``customers``, ``seconds``); the stages
            ``simulate``, ``features`` and ``score`` are drawn.
        path: The PNG to write.
        lang: ``"zh"`` or ``"en"``.

    Returns:
        ``path``.
    """
    check_lang(lang)
    use_files_backend()
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for stage in ("simulate", "features", "score"):
        pts = sorted((r["customers"], r["seconds"]) for r in rows if r["stage"] == stage)
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", label=name(stage, lang))
        ax.plot(xs, [ys[0] * x / xs[0] for x in xs], linestyle=":", color="grey", linewidth=0.8)
    # one legend entry for the dotted references
    ax.plot([], [], linestyle=":", color="grey", linewidth=0.8, label=text("bench.linear", lang))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(text("bench.x", lang))
    ax.set_ylabel(text("bench.y", lang))
    ax.set_title(text("bench.title", lang))
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path, dpi=120)
