"""The ``train:`` params block: settings of the churn and win-back models and their splits.

Shared by the train stage and by every stage that retrains with the same settings (e.g. the
uplift-window study), so the defaults below are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from features.config import FeaturizeConfig
from models.churn import ModelConfig
from models.tracking import EXPERIMENT

# Defaults of the train block; params.yaml overrides any of them.
CHURN_SPLIT = {"test_periods": 3, "holdout_periods": 4, "holdout_share": 0.25}
CHURN_MIN_ROWS = {
    "train_rows": 1000,
    "train_positives": 50,
    "valid_rows": 200,
    "valid_positives": 20,
    "test_rows": 200,
    "test_positives": 20,
}
RECOVERY_MIN_ROWS = {
    "train_rows": 500,
    "train_positives": 20,
    "valid_rows": 100,
    "valid_positives": 10,
    "test_rows": 200,
    "test_positives": 10,
}
RECOVERY_SPLIT = {
    "test_periods": 6,
    "holdout_periods": 4,
    "holdout_share": 0.3,
    "freq": "M",
    "exclude_holdout_customers": False,
}


@dataclass(frozen=True)
class TrainConfig:
    """The ``train:`` block of params.yaml.

    Attributes:
        churn: Churn model settings (``train.churn``).
        recovery: Recovery model settings (``train.recovery`` without ``learner``).
        learner: The uplift meta-learner (see ``models.recovery.train_recovery``): ``"s"``,
            ``"t"``, ``"tb"``, ``"tp"`` (T-learner boosted from a shared, treatment-pooled
            base; the default, chosen on rolling validation windows before the test period)
            or ``"to"`` (transformed outcome).
        no_effect_flags: 0/1 features whose value 1 sets the predicted uplift to 0
            (``train.recovery.no_effect_flags``; see ``models.recovery.no_effect``).
        register: Register the models in the MLflow registry.
        experiment: MLflow experiment name.
        seed: Default seed of both models.
    """

    churn: ModelConfig = field(default_factory=ModelConfig)
    recovery: ModelConfig = field(default_factory=ModelConfig)
    learner: str = "tp"
    no_effect_flags: tuple[str, ...] = ()
    register: bool = True
    experiment: str = EXPERIMENT
    seed: int = 42

    @classmethod
    def from_params(
        cls, params: dict[str, Any] | None, featurize: FeaturizeConfig | None = None
    ) -> TrainConfig:
        """Build from the ``train`` block; split gaps follow the featurize label windows.

        Raises:
            ValueError: Unknown keys.
        """
        params = dict(params or {})
        fz = featurize or FeaturizeConfig()
        known = {"churn", "recovery", "seed", "register", "experiment"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown train params: {', '.join(unknown)}")
        seed = int(params.get("seed", 42))
        churn = dict(params.get("churn") or {})
        recovery = dict(params.get("recovery") or {})
        learner = str(recovery.pop("learner", "tp"))
        no_effect_flags = tuple(recovery.pop("no_effect_flags", None) or ())
        churn.setdefault("seed", seed)
        recovery.setdefault("seed", seed)
        churn["min_rows"] = {**CHURN_MIN_ROWS, **(churn.get("min_rows") or {})}
        recovery["min_rows"] = {**RECOVERY_MIN_ROWS, **(recovery.get("min_rows") or {})}
        return cls(
            churn=ModelConfig.from_params(churn, {**CHURN_SPLIT, "gap_days": fz.horizon_days}),
            # The response window is (c, c + w]: a fitted contact needs c + w < test start.
            recovery=ModelConfig.from_params(
                recovery, {**RECOVERY_SPLIT, "gap_days": fz.response_window_days + 1}
            ),
            learner=learner,
            no_effect_flags=no_effect_flags,
            register=bool(params.get("register", True)),
            experiment=str(params.get("experiment", EXPERIMENT)),
            seed=seed,
        )
