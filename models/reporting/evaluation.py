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
from models.reporting.figures import Figure, save_figure

_LABELS = {
    CHURN_MODEL: "churn model (calibrated)",
    FORMULA: "playbook formula",
    UPLIFT_MODEL: "uplift model",
    SCORECARD: "playbook scorecard",
    CHURN_RISK: "churn risk",
    RANDOM: "random",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def _lines(ax, df: pd.DataFrame, x: str, y: str) -> None:
    for name, part in df.groupby("model", sort=False):
        style = {"linestyle": ":", "color": "grey"} if name == RANDOM else {}
        ax.plot(part[x], part[y], label=_label(str(name)), **style)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def curve_figures(curves: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Draw the plot data as PNG figures (matplotlib, no display needed).

    Args:
        curves: Any of ``roc``, ``pr``, ``lift``, ``calibration``, ``qini``,
            ``qini_by_action`` (outputs of :func:`models.evaluate.churn_curves` /
            :func:`models.evaluate_recovery.recovery_curves`).
        out_dir: Directory for ``<name>.png``.

    Returns:
        The files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    specs = {
        "roc": ("fpr", "tpr", "False positive rate", "True positive rate", "Churn: ROC"),
        "pr": ("recall", "precision", "Recall", "Precision", "Churn: precision-recall"),
        "lift": (
            "fraction",
            "capture",
            "Share of customers targeted",
            "Share of churners captured",
            "Churn: cumulative gains",
        ),
        "qini": (
            "fraction",
            "qini",
            "Share of outreach rows targeted",
            "Incremental returns (Qini)",
            "Win-back: Qini curve, any action vs control",
        ),
    }
    for name, (x, y, xl, yl, title) in specs.items():
        if name not in curves:
            continue
        fig = Figure(figsize=(5.5, 4.5), dpi=110)
        ax = fig.subplots()
        _lines(ax, curves[name], x, y)
        if name == "roc":
            ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel=xl, ylabel=yl, title=title)
        written.append(save_figure(fig, out_dir / f"{name}.png"))
    if "calibration" in curves:
        cal = curves["calibration"]
        fig = Figure(figsize=(5.5, 4.5), dpi=110)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
        ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label=_label(CHURN_MODEL))
        ax.set(
            xlabel="Mean predicted churn probability",
            ylabel="Observed churn rate",
            title="Churn: calibration",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        written.append(save_figure(fig, out_dir / "calibration.png"))
    if "qini_by_action" in curves:
        data = curves["qini_by_action"]
        actions = list(dict.fromkeys(data["action"]))
        fig = Figure(figsize=(4.2 * len(actions), 3.8), dpi=110)
        axes = np.atleast_1d(fig.subplots(1, len(actions), squeeze=False)[0])
        for ax, action in zip(axes, actions, strict=True):
            _lines(ax, data.loc[data["action"] == action], "fraction", "qini")
            ax.set(xlabel="Share targeted", ylabel="Incremental returns", title=action)
        fig.suptitle("Win-back: Qini curve per action vs control")
        written.append(save_figure(fig, out_dir / "qini_by_action.png"))
    return written


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
