"""Churn-risk model: LightGBM on the stacked snapshot table, split by time, isotonic-calibrated.

The booster is fitted on the ``train`` slice of :func:`models.split.time_split`, stops early on
``valid`` and is calibrated on ``calib`` (both the most recent pre-gap snapshots); ``test`` is
never touched here. LightGBM parameters come from params.yaml (``train.churn.lgbm``) and are
passed to :func:`lightgbm.train` unchanged, apart from filling ``seed`` from the block's seed
when the block does not set one.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.dictionary import CATEGORICAL_FEATURES, feature_names
from models.lgbm import CalibratedBooster, fit_isotonic, predict_threads
from models.metrics import rounded_roc_auc
from models.split import MinRows, SplitConfig, TimeSplit, choose_split, customer_bucket

logger = logging.getLogger(__name__)

TARGET = "churn"
DATE_COL = "as_of"
# ``referrals`` is a static customer attribute that may count referrals made after T (see the
# feature dictionary), so it could leak the future; it is left out unless asked for.
DEFAULT_EXCLUDE = ("referrals",)
DEFAULT_LGBM: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}


@dataclass(frozen=True)
class ModelConfig:
    """Settings of one LightGBM model (the ``train.churn`` / ``train.recovery`` blocks).

    Attributes:
        lgbm: Parameters passed straight to :func:`lightgbm.train`.
        num_boost_round: Upper bound on boosting rounds.
        early_stopping_rounds: Stop when the valid log-loss has not improved for this many.
        features: ``"all"`` (every dictionary feature present in the table) or a list.
        exclude: Features left out of ``features``.
        calibrate: Fit an isotonic calibrator on the ``calib`` slice (churn model only; the
            uplift model keeps raw probabilities, see :mod:`models.recovery`).
        split: :class:`models.split.SplitConfig` fields.
        min_rows: :class:`models.split.MinRows`: the fewest rows and labels of each class
            the train, valid (early stopping) and test slices need; a split that misses one
            is not used (a weaker scheme is tried, else training is refused).
        refit: After evaluation, refit on every labelled row with the evaluated number of
            rounds; the refit model is the one registered and used for scoring.
        refit_calib_share: Share of customers (by hash) whose out-of-fold predictions
            calibrate the refit: one booster fitted without them (same rounds) predicts them,
            and the isotonic map is fitted to those predictions.
        seed: LightGBM ``seed`` unless ``lgbm`` sets one; also the split's hash salt.
    """

    lgbm: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_LGBM))
    num_boost_round: int = 2000
    early_stopping_rounds: int = 100
    features: str | list[str] = "all"
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    calibrate: bool = True
    split: SplitConfig = field(default_factory=SplitConfig)
    min_rows: MinRows = field(default_factory=MinRows)
    refit: bool = True
    refit_calib_share: float = 0.5
    seed: int = 42

    @classmethod
    def from_params(
        cls, params: dict[str, Any] | None, split_defaults: dict[str, Any] | None = None
    ) -> ModelConfig:
        """Build from a params block; unknown keys are an error (typos fail loudly).

        Args:
            params: E.g. the ``train.churn`` block.
            split_defaults: Split settings used where ``params["split"]`` is silent (the
                gap follows the featurize horizon / response window).
        """
        params = dict(params or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown model params: {', '.join(unknown)}")
        seed = int(params.get("seed", 42))
        split = SplitConfig.from_params(
            params.pop("split", None), **{"seed": seed, **(split_defaults or {})}
        )
        min_rows = params.pop("min_rows", None) or {}
        unknown = sorted(set(min_rows) - set(MinRows.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown min_rows params: {', '.join(unknown)}")
        params["min_rows"] = MinRows(**{k: int(v) for k, v in min_rows.items()})
        if not 0.0 < float(params.get("refit_calib_share", 0.5)) < 1.0:
            raise ValueError("refit_calib_share must be in (0, 1)")
        if "lgbm" in params:
            params["lgbm"] = dict(params["lgbm"] or {})
        if "exclude" in params:
            params["exclude"] = tuple(params["exclude"] or ())
        if isinstance(params.get("features"), list | tuple):
            params["features"] = list(params["features"])
        return cls(**params, split=split)

    def lgbm_params(self) -> dict[str, Any]:
        """The LightGBM parameters, with ``seed`` from the block when not set explicitly."""
        out = dict(self.lgbm)
        out.setdefault("seed", self.seed)
        return out


def select_features(table: pd.DataFrame, config: ModelConfig) -> list[str]:
    """The model's feature list: configured features present in ``table``, minus exclusions.

    Raises:
        ValueError: An explicitly listed feature is absent, or nothing is left.
    """
    if config.features == "all":
        chosen = [f for f in feature_names() if f in table.columns]
    else:
        missing = [f for f in config.features if f not in table.columns]
        if missing:
            raise ValueError(f"configured features missing from the table: {missing}")
        chosen = list(config.features)
    chosen = [f for f in chosen if f not in set(config.exclude)]
    if not chosen:
        raise ValueError("no features left to train on (check features/exclude)")
    return chosen


def categories_of(table: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    """Levels of each categorical (or string) feature as seen in ``table`` (sorted strings)."""
    out = {}
    for name in features:
        dtype = table[name].dtype
        if (
            name in CATEGORICAL_FEATURES
            or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(dtype)
        ):
            values = table[name].dropna().astype("str").unique()
            out[name] = sorted(values.tolist())
    return out


def fit_booster(
    model: CalibratedBooster,
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    target: str,
    config: ModelConfig,
    rounds: int | None = None,
) -> lgb.Booster:
    """Fit LightGBM on ``train`` with early stopping on ``valid`` (frames typed by ``model``).

    With ``rounds`` (a refit), exactly that many rounds are fitted and ``valid`` is unused.
    """
    params = config.lgbm_params()
    dtrain = lgb.Dataset(
        model.frame(train), label=train[target].astype("float64").to_numpy(), free_raw_data=False
    )
    if rounds is not None:
        return train_rounds(params, dtrain, rounds)
    dvalid = lgb.Dataset(
        model.frame(valid), label=valid[target].astype("float64").to_numpy(), reference=dtrain
    )
    return train_early_stopped(params, dtrain, dvalid, config)


def train_early_stopped(
    params: dict[str, Any], dtrain: lgb.Dataset, dvalid: lgb.Dataset, config: ModelConfig
) -> lgb.Booster:
    """``lgb.train`` with the configured rounds, silent, early-stopped on ``dvalid``."""
    callbacks = [lgb.log_evaluation(period=0)]
    if config.early_stopping_rounds > 0:
        callbacks.append(lgb.early_stopping(config.early_stopping_rounds, verbose=False))
    return lgb.train(
        params,
        dtrain,
        num_boost_round=config.num_boost_round,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=callbacks,
    )


def train_rounds(params: dict[str, Any], dtrain: lgb.Dataset, rounds: int) -> lgb.Booster:
    """``lgb.train`` for exactly ``rounds`` rounds (at least 1), without a validation set."""
    return lgb.train(params, dtrain, num_boost_round=max(int(rounds), 1))


def _rate(y: pd.Series) -> float:
    return round(float(y.mean()), 6) if len(y) else float("nan")


def train_churn(
    training: pd.DataFrame, config: ModelConfig | None = None, split: TimeSplit | None = None
) -> tuple[CalibratedBooster, dict[str, Any]]:
    """Train and calibrate the churn-risk model on the out-of-time split of ``training``.

    Args:
        training: The featurize stage's ``training.parquet`` (``customer_id``, ``as_of``,
            features, ``churn``).
        config: Model settings; defaults when None.
        split: A precomputed split of ``training``; computed from ``config.split`` when None.

    Returns:
        The calibrated model (its ``meta`` holds the split and best iteration) and a JSON-able
        info dict: best iteration, split boundaries, rows and churn rates per slice, and the
        valid/calib ROC-AUC (the test slice is not scored here).

    Raises:
        models.split.SplitError: Too few snapshots for the split.
        ValueError: Missing target or features.
    """
    cfg = config or ModelConfig()
    if TARGET not in training.columns:
        raise ValueError(f"the training table has no {TARGET!r} column")
    split = split or choose_split(
        training, DATE_COL, cfg.split, TARGET, cfg.min_rows, "train.churn.min_rows"
    )
    features = select_features(training, cfg)
    model = CalibratedBooster(
        booster=None,  # type: ignore[arg-type]  # set right below, frame() does not need it
        features=features,
        categories=categories_of(split.train, features),
    )
    logger.info(
        "churn model: %d features, %d train rows (churn rate %.3f), early stopping on %d rows",
        len(features),
        len(split.train),
        _rate(split.train[TARGET]),
        len(split.valid),
    )
    model.booster = fit_booster(model, split.train, split.valid, TARGET, cfg)
    best = int(model.booster.best_iteration or model.booster.current_iteration())
    y_cal = split.calib[TARGET].to_numpy()
    raw_cal = model.predict_raw(split.calib)
    if cfg.calibrate:
        model.calibrator = fit_isotonic(raw_cal, y_cal)
    info: dict[str, Any] = {
        "model": "churn",
        "best_iteration": best,
        "n_features": len(features),
        "features": features,
        "split": split.boundaries,
        **split.summary(TARGET),
        "valid_auc": rounded_roc_auc(split.valid[TARGET], model.predict_raw(split.valid)),
        "calib_auc": rounded_roc_auc(y_cal, raw_cal),
        "calibrated": cfg.calibrate,
        "lgbm_params": cfg.lgbm_params(),
    }
    model.meta = {
        "model": "churn",
        "target": TARGET,
        "best_iteration": best,
        "split": split.boundaries,
        "role": "evaluation",
        "trained_through": split.boundaries["fit_end"],
        "config": config_record(cfg),
    }
    logger.info(
        "churn model: best iteration %d, valid ROC-AUC %.4f, calib ROC-AUC %.4f",
        best,
        info["valid_auc"],
        info["calib_auc"],
    )
    return model, info


def config_record(config: ModelConfig) -> dict[str, Any]:
    """The JSON-able settings a model was trained with (kept in its ``meta["config"]``), so
    that a later challenger can retrain the same configuration on its own training window."""
    return jsonable_config(dataclasses.asdict(config))


def jsonable_config(value: Any) -> Any:
    """Tuples as lists, recursively (``dataclasses.asdict`` keeps tuples)."""
    if isinstance(value, dict):
        return {k: jsonable_config(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable_config(v) for v in value]
    return value


def config_from_record(record: dict[str, Any]) -> ModelConfig:
    """Rebuild a :class:`ModelConfig` from :func:`config_record` (a champion's settings)."""
    rec = dict(record)
    split = SplitConfig(**rec.pop("split"))
    min_rows = MinRows(**rec.pop("min_rows", {}))
    rec["exclude"] = tuple(rec.get("exclude") or ())
    return ModelConfig(**rec, split=split, min_rows=min_rows)


def calibration_rows(customer_id: pd.Series, share: float, seed: int) -> np.ndarray:
    """True for the rows of the ``share`` of customers (by hash) that calibrate a refit.

    Whole customers go one way, so the booster predicting them has seen no snapshot of them.
    """
    return customer_bucket(customer_id, seed=seed + 7919) < share


def refit_churn(
    training: pd.DataFrame, evaluated: CalibratedBooster, config: ModelConfig
) -> tuple[CalibratedBooster, dict[str, Any]]:
    """Refit the evaluated churn model on every labelled snapshot, for scoring.

    The booster gets the evaluated model's features and its early-stopped number of rounds.
    The isotonic calibrator is refitted out of fold: a booster fitted (same rounds) without
    ``config.refit_calib_share`` of the customers predicts them, and the map is fitted to those
    predictions — a map fitted to another booster's scores on rows it learned would not carry
    over, and one fitted to the refit's own training rows would be overconfident.

    Args:
        training: The whole training table (every labelled snapshot).
        evaluated: The model :func:`train_churn` returned (evaluated on its test slice).
        config: The settings it was trained with.

    Returns:
        The refit model (``meta["role"] == "deployed"``, ``meta["trained_through"]`` = the
        latest snapshot it learned from) and a JSON-able info dict.
    """
    rounds = int(evaluated.meta["best_iteration"])
    features = list(evaluated.features)
    rows = training.loc[training[TARGET].notna()]
    y = rows[TARGET].to_numpy(dtype="float64")
    model = CalibratedBooster(
        booster=None,  # type: ignore[arg-type]  # set right below
        features=features,
        categories=categories_of(rows, features),
    )
    logger.info(
        "churn refit: %d rounds on all %d labelled snapshot rows (%s..%s)",
        rounds,
        len(rows),
        pd.Timestamp(rows[DATE_COL].min()).date(),
        pd.Timestamp(rows[DATE_COL].max()).date(),
    )
    # One typed frame and one binned Dataset serve the refit and its calibration folds
    # (subsets share the bin boundaries, which use feature values only, never labels).
    params = config.lgbm_params()
    frame = model.frame(rows)
    full = lgb.Dataset(frame, label=y, free_raw_data=False)
    model.booster = train_rounds(params, full, rounds)
    oof_auc = float("nan")
    if config.calibrate:
        inside = calibration_rows(rows["customer_id"], config.refit_calib_share, config.seed)
        booster = train_rounds(params, full.subset(np.flatnonzero(~inside)), rounds)
        raw = booster.predict(frame.loc[inside], num_threads=predict_threads())
        model.calibrator = fit_isotonic(raw, y[inside])
        oof_auc = rounded_roc_auc(y[inside], raw)
    through = str(pd.Timestamp(rows[DATE_COL].max()).date())
    model.meta = {
        "model": "churn",
        "target": TARGET,
        "best_iteration": rounds,
        "split": evaluated.meta.get("split"),
        "role": "deployed",
        "trained_through": through,
        "trained_from": str(pd.Timestamp(rows[DATE_COL].min()).date()),
        "config": config_record(config),
    }
    info = {
        "rounds": rounds,
        "rows": len(rows),
        "positive_rate": _rate(rows[TARGET]),
        "trained_from": model.meta["trained_from"],
        "trained_through": through,
        "calibration_rows": int(inside.sum()) if config.calibrate else 0,
        "out_of_fold_auc": oof_auc,
    }
    return model, info
