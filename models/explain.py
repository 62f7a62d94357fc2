"""SHAP explanations of a :class:`models.lgbm.CalibratedBooster`: reasons, checks, plots, report.

Everything here works on exact path-dependent TreeSHAP values from
:meth:`CalibratedBooster.contributions`: by default the fast engine of :mod:`models.treeshap`,
which gives LightGBM's own ``pred_contrib=True`` numbers (to ~1e-15) about ten times faster,
fast enough for batch scoring. They are in log-odds of the *uncalibrated* booster. The isotonic calibrator is
monotone, so the ranking of reasons within a row is unaffected by calibration; the sizes are
in log-odds, not in probability points.

Personal data: functions take feature frames and only ever read the model's features and the
key columns (``customer_id``, ``as_of``); a ``name`` or ``phone`` column in the input is never
read, so it cannot reach a reason text, a figure or the report.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.dictionary import feature_dictionary
from models.lgbm import BIAS_COLUMN, CalibratedBooster

logger = logging.getLogger(__name__)

#: Key columns carried from the input into reason tables (never personal data).
KEY_COLUMNS = ("customer_id", "as_of")

#: Input columns that hold personal data; never read here (listed for scans and tests).
PII_COLUMNS = ("name", "phone")

MISSING_EN = "not recorded"
MISSING_ZH = "无记录"


# --------------------------------------------------------------------------------------------
# Units: how a value is shown in a reason text.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitFormat:
    """How values of one dictionary unit are rendered.

    Attributes:
        style: ``number``, ``cny``, ``share``, ``flag``, ``signed`` or ``text``.
        decimals: Decimals shown (trailing zeros are dropped).
        en: English suffix (plural form), e.g. ``" days"``.
        en_one: English suffix when the value is exactly 1 (singular form).
        zh: Chinese suffix, e.g. ``"天"``.
    """

    style: str = "number"
    decimals: int = 1
    en: str = ""
    en_one: str | None = None
    zh: str = ""


UNIT_FORMATS: dict[str, UnitFormat] = {
    "days": UnitFormat("number", 0, " days", " day", "天"),
    "ratio": UnitFormat("number", 1, "×", None, "倍"),
    "visits": UnitFormat("number", 0, " visits", " visit", "次"),
    "CNY": UnitFormat("cny", 0),
    "share 0-1": UnitFormat("share", 0),
    "km/day": UnitFormat("number", 1, " km/day", None, "公里/天"),
    "minutes": UnitFormat("number", 0, " min", None, "分钟"),
    "sessions": UnitFormat("number", 0, " sessions", " session", "次"),
    "flag 0/1": UnitFormat("flag"),
    "appointments": UnitFormat("number", 0, " appointments", " appointment", "次"),
    "score 0-10": UnitFormat("number", 1, "/10", None, "分"),
    "score points": UnitFormat("signed", 1, " points", " point", "分"),
    "complaints": UnitFormat("number", 0, " complaints", " complaint", "次"),
    "consultations": UnitFormat("number", 0, " consultations", " consultation", "次"),
    "contacts": UnitFormat("number", 0, " contacts", " contact", "次"),
    "customers": UnitFormat("number", 0, " customers", " customer", "位"),
    "category": UnitFormat("text"),
}


def _number(x: float, decimals: int, signed: bool = False) -> str:
    text = f"{x:{'+' if signed else ''},.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", "+0"} else text


def format_values(
    values: np.ndarray, unit: str, signed: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Render values of one feature as English and Chinese display strings.

    Vectorised over distinct rounded values: each distinct value is formatted once and the
    strings are gathered back, so the cost grows with the number of distinct values, not
    rows.

    Args:
        values: The raw values (numbers, or strings for categorical features; NaN/None is
            missing).
        unit: The feature dictionary's unit; unknown units show the bare number.
        signed: Show a ``+`` on positive numbers (for changes such as ``*_trend_*``).

    Returns:
        ``(english, chinese)``: object arrays of the same length as ``values``.
    """
    fmt = UNIT_FORMATS.get(unit, UnitFormat("number", 2))
    values = np.asarray(values, dtype=object if fmt.style == "text" else None)
    n = len(values)
    en = np.full(n, MISSING_EN, dtype=object)
    zh = np.full(n, MISSING_ZH, dtype=object)
    if fmt.style == "text" or values.dtype.kind not in "biuf":
        present = pd.notna(values)
        text = np.asarray([str(v) for v in values[present]], dtype=object)
        en[present], zh[present] = text, text
        return en, zh
    values = values.astype("float64")
    present = ~np.isnan(values)
    if not present.any():
        return en, zh
    scale = 100.0 if fmt.style == "share" else 1.0
    decimals = 0 if fmt.style == "flag" else fmt.decimals
    rounded = np.round(values[present] * scale, decimals)
    uniq, inverse = np.unique(rounded, return_inverse=True)
    u_en = np.empty(len(uniq), dtype=object)
    u_zh = np.empty(len(uniq), dtype=object)
    for i, x in enumerate(uniq):  # once per distinct value, not per row
        if fmt.style == "flag":
            u_en[i], u_zh[i] = ("yes", "是") if x >= 0.5 else ("no", "否")
        elif fmt.style == "share":
            u_en[i] = u_zh[i] = f"{_number(x, decimals)}%"
        elif fmt.style == "cny":
            body = _number(abs(x), decimals)
            sign = "-" if x < 0 else ("+" if signed and x > 0 else "")
            u_en[i], u_zh[i] = f"{sign}¥{body}", f"{sign}{body}元"
        else:
            body = _number(x, decimals, signed=signed or fmt.style == "signed")
            one = fmt.en_one is not None and abs(x) == 1
            u_en[i] = body + (fmt.en_one if one else fmt.en)
            u_zh[i] = body + fmt.zh
    en[present], zh[present] = u_en[inverse], u_zh[inverse]
    return en, zh


# --------------------------------------------------------------------------------------------
# Per-row reasons
# --------------------------------------------------------------------------------------------


def _dictionary_lookup(features: Sequence[str], dictionary: pd.DataFrame | None) -> pd.DataFrame:
    """The dictionary rows of ``features`` (in that order); unknown features get their name."""
    d = feature_dictionary() if dictionary is None else dictionary
    d = d.drop_duplicates("name").set_index("name")
    out = pd.DataFrame(index=pd.Index(list(features), name="name"))
    for col in ("label_en", "label_zh", "unit", "meaning", "family", "kind"):
        src = d[col] if col in d.columns else pd.Series(dtype="str")
        out[col] = src.reindex(out.index).astype("object")
    fallback = pd.Series(out.index, index=out.index)
    for col in ("label_en", "label_zh"):
        out[col] = out[col].where(out[col].notna(), fallback)
    out["unit"] = out["unit"].where(out["unit"].notna(), "")
    out["meaning"] = out["meaning"].where(out["meaning"].notna(), "")
    return out


def _keys(X: pd.DataFrame) -> pd.DataFrame:
    return X.loc[:, [c for c in KEY_COLUMNS if c in X.columns]].copy()


def top_reasons(
    model: CalibratedBooster,
    X: pd.DataFrame,
    dictionary: pd.DataFrame | None = None,
    k: int = 3,
    contributions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``k`` features that push each row's churn risk up the most.

    Only positive contributions count (a row with fewer than ``k`` positive contributions
    has empty trailing slots), largest first. Selection is vectorised (``argpartition`` over
    the contribution matrix); texts are built once per distinct (feature, shown value).

    Args:
        model: The churn model.
        X: Rows to explain: the model's features (extra columns are ignored; ``customer_id``
            and ``as_of`` are carried over when present).
        dictionary: The feature dictionary (:func:`features.dictionary.feature_dictionary`
            or its parquet); None = the built-in one.
        k: Reasons per row.
        contributions: Precomputed ``model.contributions(X)`` (saves recomputing them).

    Returns:
        Index as ``X``: the key columns, then for ``j = 1..k``: ``reason_j`` (feature name),
        ``reason_j_value`` (the raw value as text), ``reason_j_contribution`` (log-odds),
        ``reason_j_en`` and ``reason_j_zh`` (e.g. "Days since last service visit: 212 days"
        / "距上次到店保养天数：212天"). Empty slots are missing.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    contrib = model.contributions(X) if contributions is None else contributions
    feats = list(model.features)
    C = contrib.loc[:, feats].to_numpy(dtype="float64")
    n, p = C.shape
    kk = min(k, p)
    # Non-positive contributions never count as a reason: mask them before ranking.
    masked = np.where(C > 0, C, -np.inf)
    if kk < p:
        part = np.argpartition(-masked, kk - 1, axis=1)[:, :kk]
    else:
        part = np.tile(np.arange(p), (n, 1))
    part_vals = np.take_along_axis(masked, part, axis=1)
    order = np.argsort(-part_vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(part_vals, order, axis=1)
    valid = np.isfinite(vals)

    lookup = _dictionary_lookup(feats, dictionary)
    out = _keys(X)
    for j in range(k):
        name = np.full(n, None, dtype=object)
        raw = np.full(n, None, dtype=object)
        en = np.full(n, None, dtype=object)
        zh = np.full(n, None, dtype=object)
        contrib_j = np.full(n, np.nan)
        if j < kk:
            slot, ok = idx[:, j], valid[:, j]
            contrib_j[ok] = vals[ok, j]
            for f in np.unique(slot[ok]):
                rows = ok & (slot == f)
                feat = feats[f]
                info = lookup.loc[feat]
                col = X[feat].to_numpy()[rows]
                # changes ("..._trend...") read better with an explicit sign
                v_en, v_zh = format_values(col, str(info["unit"]), signed="trend" in feat)
                name[rows] = feat
                raw[rows] = _raw_text(col)
                en[rows] = f"{info['label_en']}: " + v_en
                zh[rows] = f"{info['label_zh']}：" + v_zh
        prefix = f"reason_{j + 1}"
        out[prefix] = pd.array(name, dtype="str")
        out[f"{prefix}_value"] = pd.array(raw, dtype="str")
        out[f"{prefix}_contribution"] = contrib_j
        out[f"{prefix}_en"] = pd.array(en, dtype="str")
        out[f"{prefix}_zh"] = pd.array(zh, dtype="str")
    return out


def _raw_text(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    out = np.full(len(values), None, dtype=object)
    present = pd.notna(values)
    if values.dtype.kind in "biuf":
        uniq, inverse = np.unique(values[present].astype("float64"), return_inverse=True)
        out[present] = np.asarray([f"{x:.6g}" for x in uniq], dtype=object)[inverse]
    else:
        out[present] = [str(v) for v in values[present]]
    return out


def reasons_long(reasons: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Reshape :func:`top_reasons` output to one row per (input row, rank) with a reason.

    Returns:
        The key columns, ``rank``, ``feature``, ``value``, ``contribution``, ``text_en``,
        ``text_zh``; rows without a reason in a slot are dropped.
    """
    if k is None:
        k = sum(1 for c in reasons.columns if c.startswith("reason_") and c[7:].isdigit())
    keys = [c for c in KEY_COLUMNS if c in reasons.columns]
    parts = []
    for j in range(1, k + 1):
        p = f"reason_{j}"
        part = reasons.loc[:, keys].copy()
        part["rank"] = j
        part["feature"] = reasons[p]
        part["value"] = reasons[f"{p}_value"]
        part["contribution"] = reasons[f"{p}_contribution"]
        part["text_en"] = reasons[f"{p}_en"]
        part["text_zh"] = reasons[f"{p}_zh"]
        parts.append(part[part["feature"].notna()])
    return pd.concat(parts).sort_index(kind="stable")


# --------------------------------------------------------------------------------------------
# Checks against the shap package
# --------------------------------------------------------------------------------------------


def _treeexplainer_values(model: CalibratedBooster, frame: pd.DataFrame) -> np.ndarray:
    shap = import_shap()
    explainer = shap.TreeExplainer(model.booster)
    with warnings.catch_warnings():
        # shap announces a past change of its output format for LightGBM binary models on
        # every call; the format we read (an (n, p) array) is checked below.
        warnings.filterwarnings("ignore", message="LightGBM binary classifier with TreeExplainer")
        values = explainer.shap_values(frame)
    if isinstance(values, list):  # older shap: one array per class
        values = values[-1]
    values = np.asarray(values, dtype="float64")
    if values.ndim == 3:
        values = values[..., -1]
    return values


def check_against_shap(model: CalibratedBooster, X_sample: pd.DataFrame) -> float:
    """Max |``model.contributions`` − ``shap.TreeExplainer(booster).shap_values``| on a sample.

    For LightGBM boosters shap's TreeExplainer itself calls the booster with
    ``pred_contrib=True``, so this checks the fast TreeSHAP engine against LightGBM's and that
    the model's feature frame (column order, categorical levels, missing values) is what shap
    explains; :func:`shap_consistency`
    adds a check against shap's own TreeSHAP implementation where possible.

    Args:
        model: The model.
        X_sample: Rows (features; extra columns ignored).

    Returns:
        The maximum absolute difference over all rows and features (0.0 for no rows).
    """
    if len(X_sample) == 0:
        return 0.0
    native = model.contributions(X_sample).loc[:, model.features].to_numpy()
    values = _treeexplainer_values(model, model.frame(X_sample))
    return float(np.max(np.abs(native - values)))


def has_categorical_splits(model: CalibratedBooster) -> bool:
    """Whether any tree of the booster splits on a categorical feature."""

    def walk(node: Mapping[str, Any]) -> bool:
        if "split_index" not in node:
            return False
        if node.get("decision_type") == "==":
            return True
        return walk(node["left_child"]) or walk(node["right_child"])

    return any(walk(t["tree_structure"]) for t in model.booster.dump_model()["tree_info"])


def _independent_values(
    model: CalibratedBooster, frame: pd.DataFrame, categorical: bool
) -> np.ndarray | None:
    """shap's own TreeSHAP on the dumped trees (not LightGBM's); None where unsupported.

    shap's tree parser does not implement LightGBM's categorical splits, so boosters with
    categorical splits return None. This reaches into the explainer (forcing its generic
    tree path), so any failure is logged and treated as "not available".
    """
    shap = import_shap()
    if categorical:
        return None
    try:
        explainer = shap.TreeExplainer(model.booster)
        if explainer.model.trees is None:
            return None
        explainer.model.model_type = "internal"
        matrix = frame.to_numpy(dtype="float64", na_value=np.nan)
        values = np.asarray(explainer.shap_values(matrix, check_additivity=False))
    except Exception as exc:  # a diagnostic, never fatal
        logger.warning("shap's own TreeSHAP could not run on this booster: %s", exc)
        return None
    return values[..., -1] if values.ndim == 3 else values


def shap_consistency(model: CalibratedBooster, X_sample: pd.DataFrame) -> dict[str, Any]:
    """Every consistency check of the native contributions, as a JSON-able dict.

    Returns:
        ``rows``, ``features``, ``max_abs_diff_treeexplainer`` (:func:`check_against_shap`),
        ``max_abs_diff_shap_algorithm`` (shap's own TreeSHAP on the dumped trees; None when
        the booster has categorical splits, which shap's parser does not support),
        ``max_additivity_error`` (|sum of contributions + bias − raw log-odds|) and
        ``categorical_splits``.
    """
    frame = model.frame(X_sample)
    contrib = model.contributions(X_sample)
    native = contrib.loc[:, model.features].to_numpy()
    raw = model.booster.predict(frame, raw_score=True, num_threads=2)
    additivity = np.abs(contrib.sum(axis=1).to_numpy() - raw)
    categorical = has_categorical_splits(model)
    independent = _independent_values(model, frame, categorical) if len(frame) else None
    return {
        "rows": len(frame),
        "features": len(model.features),
        "max_abs_diff_treeexplainer": check_against_shap(model, X_sample),
        "max_abs_diff_shap_algorithm": None
        if independent is None
        else float(np.max(np.abs(native - independent))),
        "max_additivity_error": float(additivity.max()) if len(frame) else 0.0,
        "categorical_splits": categorical,
    }


# --------------------------------------------------------------------------------------------
# Global explanation
# --------------------------------------------------------------------------------------------


def mean_abs_shap(
    model: CalibratedBooster,
    contributions: pd.DataFrame,
    dictionary: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Global importance: mean |SHAP| (log-odds) per feature, largest first, with labels.

    Returns:
        ``feature``, ``label_en``, ``label_zh``, ``meaning``, ``unit``, ``mean_abs_shap``,
        ``mean_shap`` and ``share`` (of the total mean |SHAP|), one row per model feature.
    """
    C = contributions.loc[:, model.features]
    lookup = _dictionary_lookup(model.features, dictionary)
    out = pd.DataFrame(
        {
            "feature": list(model.features),
            "label_en": lookup["label_en"].to_numpy(),
            "label_zh": lookup["label_zh"].to_numpy(),
            "meaning": lookup["meaning"].to_numpy(),
            "unit": lookup["unit"].to_numpy(),
            "mean_abs_shap": C.abs().mean().to_numpy() if len(C) else 0.0,
            "mean_shap": C.mean().to_numpy() if len(C) else 0.0,
        }
    )
    total = out["mean_abs_shap"].sum()
    out["share"] = out["mean_abs_shap"] / total if total > 0 else 0.0
    for col in ("feature", "label_en", "label_zh", "meaning", "unit"):
        out[col] = out[col].astype("str")
    return out.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def import_shap():
    """Import shap, silencing the matplotlib deprecation notice its import triggers.

    shap 0.51 calls ``Colormap.set_bad`` at import time, which matplotlib >= 3.10 flags with
    a PendingDeprecationWarning; nothing we call depends on it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"The set_(bad|over|under) function",
            category=PendingDeprecationWarning,
        )
        # shap imports tqdm.auto, which in a notebook without ipywidgets warns once
        warnings.filterwarnings("ignore", message="IProgress not found")
        import shap
    return shap


def _pyplot():
    # The backend is the caller's choice (the stage sets Agg; a notebook keeps inline).
    import matplotlib.pyplot as plt

    return plt


def plot_beeswarm(
    model: CalibratedBooster,
    X: pd.DataFrame,
    contributions: pd.DataFrame,
    path: str | Path,
    dictionary: pd.DataFrame | None = None,
    max_display: int = 20,
) -> Path:
    """SHAP beeswarm (``shap.plots.beeswarm``) with the dictionary's English labels."""
    from models.treeshap import lightgbm_matrix

    shap = import_shap()
    plt = _pyplot()
    frame = model.frame(X)
    labels = _dictionary_lookup(model.features, dictionary)["label_en"].tolist()
    explanation = shap.Explanation(
        values=contributions.loc[:, model.features].to_numpy(),
        base_values=contributions[BIAS_COLUMN].to_numpy(),
        # values for the colours: categorical levels as their codes, as LightGBM sees them
        data=lightgbm_matrix(model.booster, frame),
        feature_names=labels,
    )
    plt.figure()
    shap.plots.beeswarm(explanation, max_display=max_display, show=False, plot_size=(10, 8))
    fig = plt.gcf()
    fig.suptitle("Churn risk: SHAP values per customer (log-odds)")
    return _save(fig, path)


def plot_importance(importance: pd.DataFrame, path: str | Path, top: int = 20) -> Path:
    """Horizontal bar chart of mean |SHAP| per feature (English labels), largest on top."""
    plt = _pyplot()
    head = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(head) + 1.5))
    ax.barh(head["label_en"], head["mean_abs_shap"], color="#1f77b4")
    ax.set_xlabel("mean |SHAP value| (log-odds of churn)")
    ax.set_title("Global feature importance")
    fig.tight_layout()
    return _save(fig, path)


def plot_dependence(
    model: CalibratedBooster,
    X: pd.DataFrame,
    contributions: pd.DataFrame,
    feature: str,
    path: str | Path,
    dictionary: pd.DataFrame | None = None,
    max_points: int = 5000,
) -> Path:
    """SHAP dependence plot of one feature: its value against its SHAP value.

    Numeric features are a scatter (missing values drawn at the left edge, marked); a
    categorical feature is a strip per level.
    """
    plt = _pyplot()
    info = _dictionary_lookup([feature], dictionary).iloc[0]
    frame = model.frame(X)
    values = contributions[feature].to_numpy()
    rng = np.random.default_rng(0)
    keep = np.arange(len(frame))
    if len(keep) > max_points:
        keep = np.sort(rng.choice(keep, max_points, replace=False))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    col = frame[feature].iloc[keep]
    y = values[keep]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        levels = [*col.cat.categories.astype("str"), MISSING_EN]
        pos = np.where(codes < 0, len(levels) - 1, codes).astype("float64")
        jitter = rng.uniform(-0.25, 0.25, len(pos))
        ax.scatter(pos + jitter, y, s=6, alpha=0.4)
        used = np.unique(pos).astype(int)
        ax.set_xticks(used, [levels[i] for i in used], rotation=45, ha="right")
    else:
        x = col.to_numpy(dtype="float64", na_value=np.nan)
        miss = np.isnan(x)
        ax.scatter(x[~miss], y[~miss], s=6, alpha=0.4, label="recorded")
        if miss.any():
            left = np.nanmin(x) if (~miss).any() else 0.0
            span = (np.nanmax(x) - left) if (~miss).any() else 1.0
            ax.scatter(
                np.full(miss.sum(), left - 0.05 * (span or 1.0)),
                y[miss],
                s=6,
                alpha=0.4,
                color="#d62728",
                label=MISSING_EN,
            )
            ax.legend(loc="best", fontsize=8)
    ax.axhline(0.0, color="grey", lw=0.8)
    unit = str(info["unit"])
    ax.set_xlabel(f"{info['label_en']}" + (f" ({unit})" if unit and unit != "category" else ""))
    ax.set_ylabel("SHAP value (log-odds of churn)")
    ax.set_title(f"Dependence: {info['label_en']}")
    fig.tight_layout()
    return _save(fig, path)


def plot_waterfall(
    model: CalibratedBooster,
    row: pd.DataFrame,
    path: str | Path | None = None,
    dictionary: pd.DataFrame | None = None,
    max_display: int = 12,
):
    """SHAP waterfall of one row (``shap.plots.waterfall``), English labels, log-odds.

    Returns:
        The saved path when ``path`` is given, else the matplotlib figure.
    """
    shap = import_shap()
    plt = _pyplot()
    if len(row) != 1:
        raise ValueError(f"plot_waterfall needs exactly one row, got {len(row)}")
    contrib = model.contributions(row)
    frame = model.frame(row)
    labels = _dictionary_lookup(model.features, dictionary)["label_en"].tolist()
    shown = [
        "missing" if pd.isna(v) else (v if isinstance(v, str) else float(v))
        for v in frame.iloc[0].tolist()
    ]
    explanation = shap.Explanation(
        values=contrib.loc[:, model.features].to_numpy()[0],
        base_values=float(contrib[BIAS_COLUMN].iloc[0]),
        data=np.asarray(shown, dtype=object),
        feature_names=labels,
    )
    plt.figure()
    shap.plots.waterfall(explanation, max_display=max_display, show=False)
    fig = plt.gcf()
    if path is None:
        return fig
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def global_figures(
    model: CalibratedBooster,
    X: pd.DataFrame,
    out_dir: str | Path,
    dictionary: pd.DataFrame | None = None,
    top_n: int = 6,
    contributions: pd.DataFrame | None = None,
    max_display: int = 20,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Beeswarm, mean |SHAP| bars and dependence plots of the ``top_n`` features.

    Args:
        model: The model.
        X: The sample to explain (features; extra columns ignored).
        out_dir: Directory for the PNGs (created).
        dictionary: Feature dictionary; None = built-in.
        top_n: Number of dependence plots (by mean |SHAP|).
        contributions: Precomputed ``model.contributions(X)``.
        max_display: Features shown in the beeswarm and the importance bars.

    Returns:
        ``(importance, figures)``: the :func:`mean_abs_shap` table and the written PNGs by
        name (``beeswarm``, ``importance``, ``dependence_<feature>``).
    """
    out_dir = Path(out_dir)
    contrib = model.contributions(X) if contributions is None else contributions
    importance = mean_abs_shap(model, contrib, dictionary)
    figures = {
        "beeswarm": plot_beeswarm(
            model, X, contrib, out_dir / "shap_beeswarm.png", dictionary, max_display
        ),
        "importance": plot_importance(importance, out_dir / "shap_importance.png", max_display),
    }
    for feat in importance["feature"].head(top_n):
        figures[f"dependence_{feat}"] = plot_dependence(
            model, X, contrib, feat, out_dir / f"shap_dependence_{feat}.png", dictionary
        )
    logger.info("wrote %d explanation figures to %s", len(figures), out_dir)
    return importance, figures


# --------------------------------------------------------------------------------------------
# Reviewer report
# --------------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything the reviewer report shows (paths relative to the report's directory).

    Attributes:
        importance: :func:`mean_abs_shap` table.
        figures: Explanation figures, title → relative path.
        examples: :func:`top_reasons` rows of the example customers, with a ``risk`` column.
        shap_check: :func:`shap_consistency` result.
        evaluation: The evaluation stage's metrics (``metrics.json``), None if missing.
        evaluation_figures: Evaluation figures, title → relative path.
        model_meta: The model's saved facts (training window, params, ...).
        sample_rows: Rows the global explanation was computed on.
        sample_note: Where the sample came from (e.g. "test snapshots 2026-02..2026-04").
        top_features: Rows of the top-features table.
        segments: The evaluate stage's ``segments.csv`` (metrics per value tier and dealer).
        promotion: The evaluate stage's ``promotion.json`` (champion/challenger decisions).
    """

    importance: pd.DataFrame
    figures: dict[str, str]
    examples: pd.DataFrame
    shap_check: dict[str, Any]
    evaluation: dict[str, Any] | None = None
    evaluation_figures: dict[str, str] = field(default_factory=dict)
    model_meta: dict[str, Any] = field(default_factory=dict)
    sample_rows: int = 0
    sample_note: str = ""
    top_features: int = 15
    segments: pd.DataFrame | None = None
    promotion: dict[str, Any] | None = None


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table (cells escaped) as lines."""
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return lines


def _fmt_metric(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.4f}"
    return str(x)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
        elif isinstance(value, int | float | str | bool) or value is None:
            out[name] = value
    return out


def evaluation_section(
    evaluation: Mapping[str, Any] | None, figures: Mapping[str, str]
) -> list[str]:
    """Markdown lines for the out-of-time evaluation (model vs formula baseline)."""
    lines = ["## Out-of-time evaluation", ""]
    if not evaluation:
        lines += [
            "**Evaluation is missing**: no `metrics.json` from the evaluate stage was found, so "
            "this report cannot show how the model compares with the playbook formula. Run "
            "the `evaluate` stage and rebuild the report.",
            "",
        ]
        return lines
    flat = _flatten(evaluation)
    comparison = _comparison_rows(evaluation)
    if comparison:
        lines += ["Churn risk, model vs the playbook formula, same test rows:", ""]
        lines += md_table(["metric", "model", "formula baseline", "difference"], comparison)
        lines.append("")
    recovery = _recovery_rows(evaluation)
    if recovery:
        lines += ["Win-back ranking on later campaigns:", ""]
        lines += md_table(["metric", "uplift model", "scorecard", "churn risk"], recovery)
        lines.append("")
    rest = [(k, _fmt_metric(v)) for k, v in flat.items() if isinstance(v, int | float)]
    if rest:
        lines += ["<details><summary>All evaluation metrics</summary>", ""]
        lines += md_table(["metric", "value"], rest)
        lines += ["", "</details>", ""]
    for title, rel in figures.items():
        lines += [f"![{title}]({rel})", ""]
    return lines


def _comparison_rows(evaluation: Mapping[str, Any]) -> list[list[str]]:
    """Model vs formula rows from the churn block (``model`` and ``formula`` mappings)."""
    churn = evaluation.get("churn", evaluation)
    if not isinstance(churn, Mapping):
        return []
    model = churn.get("model")
    base = next(
        (churn.get(b) for b in ("formula", "baseline", "formula_risk") if churn.get(b)), None
    )
    if not isinstance(model, Mapping):
        return []
    base_flat = _flatten(base) if isinstance(base, Mapping) else {}
    rows = []
    for key, value in _flatten(model).items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        other = base_flat.get(key)
        if isinstance(other, int | float) and not isinstance(other, bool):
            rows.append([key, _fmt_metric(value), _fmt_metric(other), f"{value - other:+.4f}"])
        else:
            rows.append([key, _fmt_metric(value), "—", "—"])
    return rows


def _recovery_rows(evaluation: Mapping[str, Any]) -> list[list[str]]:
    """Uplift model vs scorecard vs churn-risk ranking (Qini, AUUC, uplift@k)."""
    rec = evaluation.get("recovery")
    if not isinstance(rec, Mapping):
        return []
    scorers = ("uplift_model", "scorecard", "churn_risk")
    blocks = [rec.get(s) if isinstance(rec.get(s), Mapping) else {} for s in scorers]
    metrics = [m for m in blocks[0] if isinstance(blocks[0][m], int | float)]
    return [[m, *(_fmt_metric(b.get(m)) for b in blocks)] for m in metrics]


def _segments_section(
    segments: pd.DataFrame | None, promotion: Mapping[str, Any] | None
) -> list[str]:
    """Per value tier / dealer metrics and the champion/challenger decisions, when present."""
    lines: list[str] = []
    if segments is not None and len(segments):
        cols = [
            ("segment", "segment", str),
            ("value", "value", str),
            ("n", "rows", lambda x: f"{int(x):,}"),
            ("positive_rate", "churn rate", lambda x: f"{x:.1%}"),
            ("model_roc_auc", "model ROC-AUC", lambda x: f"{x:.3f}"),
            ("formula_roc_auc", "formula ROC-AUC", lambda x: f"{x:.3f}"),
            ("model_ece", "model ECE", lambda x: f"{x:.3f}"),
        ]
        cols = [c for c in cols if c[0] in segments.columns]
        rows = [
            [fmt(r[c]) if pd.notna(r[c]) else "n/a" for c, _, fmt in cols]
            for _, r in segments.iterrows()
        ]
        lines += ["### By value tier and dealer", ""]
        lines += md_table([h for _, h, _ in cols], rows)
        lines.append("")
    if promotion:
        lines += ["### Champion / challenger", ""]
        for name, d in promotion.items():
            if isinstance(d, Mapping):
                verdict = "promoted to champion" if d.get("promoted") else "not promoted"
                lines.append(
                    f"- **{name}** v{d.get('version', '?')}: {verdict} ({d.get('reason', '')})"
                )
        lines.append("")
    return lines


def build_report(inputs: ReportInputs) -> str:
    """The reviewer report as Markdown (one page: evaluation, global plots, features, cases).

    Only model features, dictionary labels and customer ids appear; never names or phones.
    """
    meta = inputs.model_meta or {}
    lines = ["# winback churn model: evaluation and explanations", ""]
    facts = []
    split = meta.get("split") if isinstance(meta.get("split"), Mapping) else {}
    for what, a, b in (
        ("train", "train_start", "train_end"),
        ("validation and calibration", "holdout_start", "holdout_end"),
        ("out-of-time test", "test_start", "test_end"),
    ):
        if split.get(a) and split.get(b):
            facts.append(f"- **{what}**: {split[a]} .. {split[b]}")
    if split.get("gap_days") is not None:
        facts.append(f"- **gap before the test period**: {split['gap_days']} days")
    if split.get("scheme_text"):
        facts.append(f"- **evaluation scheme**: {_md_escape(split['scheme_text'])}")
    if meta.get("trained_through"):
        facts.append(
            f"- **the scoring model learned from data through**: {meta['trained_through']} "
            f"({meta.get('role', 'deployed')} model)"
        )
    for key in ("best_iteration", "trained_at"):
        if key in meta:
            facts.append(f"- **{key.replace('_', ' ')}**: {json.dumps(meta[key], default=str)}")
    if facts:
        lines += [*facts, ""]
    lines += evaluation_section(inputs.evaluation, inputs.evaluation_figures)
    lines += _segments_section(inputs.segments, inputs.promotion)

    check = inputs.shap_check
    lines += [
        "## Global explanation",
        "",
        f"SHAP values from exact TreeSHAP (LightGBM's `pred_contrib` numbers) on "
        f"{inputs.sample_rows:,} rows{' (' + inputs.sample_note + ')' if inputs.sample_note else ''}."
        " Values are in log-odds of churn of the uncalibrated booster (the calibration is "
        "monotone, so the order of reasons is the same).",
        "",
        f"Check: max |native − `shap.TreeExplainer`| = {check.get('max_abs_diff_treeexplainer', float('nan')):.2e}"
        + (
            f", against shap's own TreeSHAP algorithm = {check['max_abs_diff_shap_algorithm']:.2e}"
            if check.get("max_abs_diff_shap_algorithm") is not None
            else " (shap's own algorithm is not applicable: the model has categorical splits)"
        )
        + f", additivity error = {check.get('max_additivity_error', float('nan')):.2e}"
        f" on {check.get('rows', 0):,} rows.",
        "",
    ]
    for title, rel in inputs.figures.items():
        lines += [f"### {title}", "", f"![{title}]({rel})", ""]

    lines += ["## Top features", ""]
    rows = [
        [
            i + 1,
            r.label_en,
            r.label_zh,
            r.feature,
            f"{r.mean_abs_shap:.3f}",
            f"{r.share:.0%}",
            r.meaning,
        ]
        for i, r in enumerate(inputs.importance.head(inputs.top_features).itertuples())
    ]
    lines += md_table(["#", "feature", "特征", "column", "mean abs SHAP", "share", "meaning"], rows)
    lines.append("")

    lines += [
        "## Example customers",
        "",
        "Top reasons pushing each customer's churn risk up (by customer id only).",
        "",
    ]
    ex = inputs.examples
    k = sum(1 for c in ex.columns if c.startswith("reason_") and c[7:].isdigit())
    rows = []
    for _, r in ex.iterrows():
        reasons_en = "; ".join(
            str(r[f"reason_{j}_en"]) for j in range(1, k + 1) if pd.notna(r[f"reason_{j}_en"])
        )
        reasons_zh = "；".join(
            str(r[f"reason_{j}_zh"]) for j in range(1, k + 1) if pd.notna(r[f"reason_{j}_zh"])
        )
        when = r["as_of"] if "as_of" in ex.columns else ""
        when = pd.Timestamp(when).strftime("%Y-%m-%d") if pd.notna(when) and when != "" else ""
        risk = f"{r['risk']:.0%}" if "risk" in ex.columns else ""
        rows.append([r.get("customer_id", ""), when, risk, reasons_en or "—", reasons_zh or "—"])
    lines += md_table(["customer_id", "as of", "churn risk", "top reasons", "主要原因"], rows)
    lines.append("")
    return "\n".join(lines)
