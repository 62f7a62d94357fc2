"""SHAP explanations of a :class:`models.lgbm.CalibratedBooster`: units, reasons, checks, importance.

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

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.dictionary import MISSING_EN, MISSING_ZH, duration_text, feature_dictionary
from models.lgbm import CalibratedBooster

logger = logging.getLogger(__name__)

#: Key columns carried from the input into reason tables (never personal data).
KEY_COLUMNS = ("customer_id", "as_of")

#: Input columns that hold personal data; never read here (listed for scans and tests).
PII_COLUMNS = ("name", "phone", "plate", "birthday")


# --------------------------------------------------------------------------------------------
# Units: how a value is shown in a reason text.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitFormat:
    """How values of one dictionary unit are rendered.

    Attributes:
        style: ``number``, ``cny``, ``share``, ``flag``, ``signed``, ``text`` or
            ``duration`` (a number of days, read in days, months or years:
            :func:`features.dictionary.duration_text`).
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
    "days": UnitFormat("duration", 1),
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
    decimals = 0 if fmt.style in ("flag", "duration") else fmt.decimals
    rounded = np.round(values[present] * scale, decimals)
    uniq, inverse = np.unique(rounded, return_inverse=True)
    u_en = np.empty(len(uniq), dtype=object)
    u_zh = np.empty(len(uniq), dtype=object)
    for i, x in enumerate(uniq):  # once per distinct value, not per row
        if fmt.style == "flag":
            u_en[i], u_zh[i] = ("yes", "是") if x >= 0.5 else ("no", "否")
        elif fmt.style == "duration":
            u_en[i], u_zh[i] = duration_text(x, signed)
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


def dictionary_lookup(features: Sequence[str], dictionary: pd.DataFrame | None) -> pd.DataFrame:
    """The dictionary rows of ``features`` (in that order); unknown features get their name.

    Args:
        features: Feature names.
        dictionary: Feature dictionary; None = built-in.

    Returns:
        Indexed by ``name``: ``label_en``, ``label_zh``, ``unit``, ``meaning`` (never missing)
        and ``family``, ``kind``.
    """
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
        ``reason_j_en`` and ``reason_j_zh`` (e.g. "Time since last service visit: 7 months"
        / "距上次到店保养时长：7个月"; durations read in days, months or years). Empty slots
        are missing.
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

    lookup = dictionary_lookup(feats, dictionary)
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
    lookup = dictionary_lookup(model.features, dictionary)
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
