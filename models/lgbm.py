"""A LightGBM booster with its feature contract and an optional probability calibrator.

This is the unit that is trained, saved under ``out/<stage>/``, logged to MLflow, explained
with SHAP and used for scoring. It owns the model/feature contract: the exact feature list and
the categorical levels seen in training, so a scoring frame that does not match fails with a
clear message instead of silently mis-aligning columns.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

logger = logging.getLogger(__name__)

BOOSTER_FILE = "booster.txt"
META_FILE = "model.json"
#: Subdirectory of a train output holding the evaluation models (fitted on the train slice
#: only); the directory itself holds the deployed (refit) models.
EVALUATION_DIR = "evaluation"
BIAS_COLUMN = "bias"

#: How :meth:`CalibratedBooster.contributions` computes SHAP values: ``fast`` = the exact
#: numba TreeSHAP of :mod:`models.treeshap`, ``lightgbm`` = LightGBM's ``pred_contrib``.
SHAP_ENGINES = ("fast", "lightgbm")

#: Rows of every ``contributions`` call re-computed with ``pred_contrib`` as a self-check.
SELF_CHECK_ROWS = 8

#: Largest |fast - pred_contrib| the self-check accepts (both are exact; rounding is ~1e-15).
SELF_CHECK_TOLERANCE = 1e-7


def _check_rows(n: int) -> np.ndarray:
    """Positions of the (at most) ``SELF_CHECK_ROWS`` evenly spaced rows the self-checks use."""
    return np.unique(np.linspace(0, n - 1, SELF_CHECK_ROWS).astype("int64"))


class FeatureMismatchError(ValueError):
    """A frame handed to a model lacks features the model was trained on, or has bad types."""


class ModelFileError(ValueError):
    """A saved model file is damaged: truncated, empty, not a LightGBM model, inconsistent."""


#: Per-tree arrays with one entry per internal node / per leaf (LightGBM's text format).
_NODE_ARRAYS = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
_LEAF_ARRAYS = ("leaf_value",)


def check_booster_text(blob: bytes, source: str | Path = BOOSTER_FILE) -> str:
    """Check the structure of a LightGBM text model before LightGBM parses it.

    LightGBM trusts its model text: a truncated or edited file can abort the whole process
    ("terminate called ...") or crash it, with no exception to catch. This reads the header,
    checks that the tree blocks have exactly the sizes ``tree_sizes`` announces and end with
    ``end of trees``, and that every tree's node and leaf arrays have the lengths its
    ``num_leaves`` implies, with children and split features in range.

    Args:
        blob: The file's bytes.
        source: The file, for messages.

    Returns:
        The text, safe to hand to ``lgb.Booster(model_str=...)``.

    Raises:
        ModelFileError: The text is not a complete, consistent LightGBM model.
    """

    def bad(why: str) -> ModelFileError:
        return ModelFileError(f"{source} is not a complete LightGBM model ({why})")

    if not blob:
        raise bad("empty file")
    try:
        text = blob.decode("ascii")
    except UnicodeDecodeError as exc:
        raise bad("not text") from exc
    if not text.startswith("tree\n"):
        raise bad("no 'tree' header")
    first = text.find("\nTree=")
    end = text.find("\nend of trees")
    if first < 0 or end < 0:
        raise bad("truncated: no trees or no 'end of trees' marker")
    header = dict(line.split("=", 1) for line in text[:first].splitlines()[1:] if "=" in line)
    try:
        n_features = int(header["max_feature_idx"]) + 1
        sizes = [int(x) for x in header["tree_sizes"].split()]
    except (KeyError, ValueError) as exc:
        raise bad("header without max_feature_idx or tree_sizes") from exc
    raw = text.encode("ascii")
    pos = first + 1
    for i, size in enumerate(sizes):
        block = raw[pos : pos + size].decode("ascii")
        if size <= 0 or len(block) != size or not block.startswith(f"Tree={i}\n"):
            raise bad(f"tree {i} does not match tree_sizes")
        _check_tree(block, n_features, bad, i)
        pos += size
    if not raw[pos:].startswith(b"end of trees"):
        raise bad("the trees do not end where tree_sizes says")
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    try:
        if not last.startswith("pandas_categorical:"):
            raise ValueError(last[:40])
        json.loads(last.split(":", 1)[1])
    except ValueError as exc:
        raise bad("truncated: no complete final 'pandas_categorical' line") from exc
    return text


def _check_tree(block: str, n_features: int, bad, i: int) -> None:
    fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    try:
        leaves = int(fields["num_leaves"])
        arrays = {k: fields[k].split() for k in (*_LEAF_ARRAYS, *_NODE_ARRAYS) if k in fields}
        if leaves < 1 or len(arrays.get("leaf_value", ())) != leaves:
            raise ValueError("leaf values")
        if leaves > 1:
            if any(len(arrays.get(k, ())) != leaves - 1 for k in _NODE_ARRAYS):
                raise ValueError("node arrays")
            children = [int(c) for k in ("left_child", "right_child") for c in arrays[k]]
            if any(not -leaves <= c < leaves - 1 for c in children):
                raise ValueError("children")
            if any(not 0 <= int(f) < n_features for f in arrays["split_feature"]):
                raise ValueError("split features")
            [float(x) for k in ("threshold", "leaf_value") for x in arrays[k]]
            num_cat = int(fields.get("num_cat", "0"))
            if num_cat > 0:
                bounds = [int(x) for x in fields["cat_boundaries"].split()]
                if len(bounds) != num_cat + 1 or len(fields["cat_threshold"].split()) != bounds[-1]:
                    raise ValueError("categorical splits")
    except (KeyError, ValueError) as exc:
        raise bad(f"tree {i} is inconsistent: {exc}") from exc


@dataclass
class CalibratedBooster:
    """A trained LightGBM booster plus everything needed to use it safely.

    Attributes:
        booster: The trained booster (binary objective, raw score = log-odds).
        features: Feature names in the booster's column order.
        categories: For each categorical feature, its levels in training order; unseen levels
            at prediction time become missing (LightGBM's treatment of unknown categories).
        calibrator: Maps the booster's probability to a calibrated probability; None when the
            model is uncalibrated.
        meta: Free-form JSON-able facts saved with the model (training window, params, ...).
    """

    booster: lgb.Booster
    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    calibrator: IsotonicRegression | None = None
    meta: dict = field(default_factory=dict)
    # the parsed booster for the fast TreeSHAP, built on first use (with the booster it is for)
    _treeshap: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        # the parsed TreeSHAP tables (~100 MB) are a cache: rebuilt on use, never pickled
        # (Dask ships models to workers)
        state = self.__dict__.copy()
        state["_treeshap"] = None
        return state

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Select and type the model's features from ``X`` (extra columns are ignored).

        Raises:
            FeatureMismatchError: Required features are absent or a numeric feature is not
                numeric.
        """
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise FeatureMismatchError(
                f"model expects {len(self.features)} features; {len(missing)} missing from the "
                f"input: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}. "
                "Rebuild features with the featurize settings the model was trained with."
            )
        out = X.loc[:, self.features].copy()
        for name in self.features:
            if name in self.categories:
                levels = self.categories[name]
                values = out[name].astype("str").where(out[name].notna())
                # unseen levels become missing explicitly (pandas 4 refuses them in the dtype)
                values = values.where(values.isin(levels))
                out[name] = pd.Categorical(values, categories=levels)
            elif not (
                pd.api.types.is_numeric_dtype(out[name]) or pd.api.types.is_bool_dtype(out[name])
            ):
                raise FeatureMismatchError(
                    f"feature {name!r} must be numeric, got dtype {out[name].dtype}"
                )
            else:
                out[name] = out[name].astype("float64")
        return out

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's uncalibrated probability for each row."""
        return self.booster.predict(self.frame(X), num_threads=predict_threads())

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The calibrated probability for each row (uncalibrated if no calibrator)."""
        return self._calibrate(self.predict_raw(X))

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator is None:
            return raw
        return np.clip(self.calibrator.predict(raw), 0.0, 1.0)

    def predict_proba_from_contributions(
        self, X: pd.DataFrame, contributions: pd.DataFrame
    ) -> np.ndarray:
        """:meth:`predict_proba` of ``X`` from its :meth:`contributions`, without a second pass.

        TreeSHAP values and the bias sum to each row's raw score, so batch scoring, which needs
        both, need not walk the trees twice. The logistic link is checked against the booster's
        own prediction on a few rows; any other objective (or a mismatch) falls back to
        :meth:`predict_proba`.

        Args:
            X: The rows (as given to :meth:`contributions`).
            contributions: ``self.contributions(X)``.

        Returns:
            The calibrated probability for each row, equal to :meth:`predict_proba` up to
            floating-point rounding (checked to 1e-9 on the sample rows).
        """
        raw = contributions.loc[:, [*self.features, BIAS_COLUMN]].to_numpy().sum(axis=1)
        prob = 1.0 / (1.0 + np.exp(-raw))
        sample = _check_rows(len(X))
        if len(X) and not np.allclose(
            prob[sample], self.predict_raw(X.iloc[sample]), rtol=0.0, atol=1e-9
        ):
            logger.warning("contributions do not give the booster's probability: predicting")
            return self.predict_proba(X)
        return self._calibrate(prob)

    def contributions(self, X: pd.DataFrame, engine: str = "fast") -> pd.DataFrame:
        """Per-row SHAP values (path-dependent TreeSHAP, LightGBM's ``pred_contrib`` numbers).

        Values are in log-odds of the uncalibrated model; each row sums to the raw score.

        Args:
            X: Rows to explain (the model's features; extra columns are ignored).
            engine: ``fast`` (default) = :mod:`models.treeshap`, an exact O(leaves·depth)
                TreeSHAP equal to ``pred_contrib`` up to rounding; ``lightgbm`` = LightGBM's
                own ``pred_contrib=True`` (the reference; about 10× slower). The fast engine
                re-computes a few rows of every call with LightGBM and, should they ever
                differ, warns and returns LightGBM's values for the whole call.

        Returns:
            One column per feature plus ``bias`` (the expected raw score), index as ``X``.
        """
        if engine not in SHAP_ENGINES:
            raise ValueError(f"engine must be one of {SHAP_ENGINES}, got {engine!r}")
        frame = self.frame(X)
        contrib = None
        if engine == "fast" and len(frame):
            contrib = self._fast_contributions(frame)
        if contrib is None:
            contrib = self.booster.predict(frame, pred_contrib=True, num_threads=predict_threads())
        return pd.DataFrame(contrib, columns=[*self.features, BIAS_COLUMN], index=X.index)

    def _fast_contributions(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The fast TreeSHAP of ``frame``, or None (with a warning) when its self-check fails."""
        from models.treeshap import TreeShapModel, lightgbm_matrix

        if self._treeshap is None or self._treeshap[0] is not self.booster:
            self._treeshap = (self.booster, TreeShapModel.from_booster(self.booster))
        values = self._treeshap[1].shap_values(lightgbm_matrix(self.booster, frame))
        # Self-check on a few evenly spaced rows: the same numbers as LightGBM's own TreeSHAP.
        sample = _check_rows(len(frame))
        reference = self.booster.predict(
            frame.iloc[sample], pred_contrib=True, num_threads=predict_threads()
        )
        diff = float(np.max(np.abs(values[sample] - reference)))
        if not diff <= SELF_CHECK_TOLERANCE:
            warnings.warn(
                f"fast TreeSHAP differs from LightGBM pred_contrib by {diff:.3g} on "
                f"{len(sample)} check rows; using LightGBM's pred_contrib for these "
                f"{len(frame):,} rows (slower). Please report this model.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        return values

    def save(self, path: str | Path) -> Path:
        """Save to a directory: ``booster.txt`` (LightGBM text) and ``model.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path / BOOSTER_FILE))
        meta = {
            "features": self.features,
            "categories": self.categories,
            "calibrator": None
            if self.calibrator is None
            else {
                "x": self.calibrator.X_thresholds_.tolist(),
                "y": self.calibrator.y_thresholds_.tolist(),
            },
            "meta": self.meta,
        }
        (path / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> CalibratedBooster:
        """Load a model saved with :meth:`save`: LightGBM text and JSON only, never a pickle.

        Raises:
            FileNotFoundError: A file is missing.
            ModelFileError: ``booster.txt`` is damaged (checked before LightGBM reads it).
            ValueError, KeyError: ``model.json`` is not the JSON :meth:`save` writes.
        """
        path = Path(path)
        if not (path / BOOSTER_FILE).is_file() or not (path / META_FILE).is_file():
            raise FileNotFoundError(f"no saved model in {path} (need {BOOSTER_FILE}, {META_FILE})")
        meta = json.loads((path / META_FILE).read_text())
        calibrator = None
        if meta["calibrator"] is not None:
            calibrator = _isotonic_from_thresholds(
                np.asarray(meta["calibrator"]["x"]), np.asarray(meta["calibrator"]["y"])
            )
        text = check_booster_text((path / BOOSTER_FILE).read_bytes(), path / BOOSTER_FILE)
        booster = lgb.Booster(model_str=text)
        features = list(meta["features"])
        if booster.feature_name() != features:
            # a model.json edited or paired with another booster would score the wrong columns
            # silently: LightGBM reads a frame by position
            raise ModelFileError(
                f"{path / META_FILE} lists the features {features[:5]}… in an order (or a set) "
                f"that is not the booster's ({booster.feature_name()[:5]}…): the two files do "
                "not belong together; retrain or restore the model directory"
            )
        return cls(
            booster=booster,
            features=features,
            categories={k: list(v) for k, v in meta["categories"].items()},
            calibrator=calibrator,
            meta=meta.get("meta", {}),
        )


def fit_isotonic(raw: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    """Fit an isotonic calibrator of raw probabilities on a held-out slice."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    return iso.fit(np.asarray(raw, dtype="float64"), np.asarray(y, dtype="float64"))


def _isotonic_from_thresholds(x: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    # Refitting on the thresholds themselves reproduces the same step function exactly:
    # isotonic regression of an already monotone sequence is the identity on its points.
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    return iso.fit(x, y)


def predict_threads() -> int:
    """Threads for LightGBM prediction: fixed, so results are the same on every machine."""
    return 2
