"""MLflow tracking, model registry and champion/challenger promotion.

* Tracking store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in the working
  directory; run artifacts go to ``mlartifacts/`` next to a SQLite file (both git-ignored).
* One run per training in experiment ``winback``; ``out/train/run.json`` records the run id,
  experiment, tracking URI and registered versions so the evaluate and explain stages log into
  the same run (:func:`resume_run`).
* Models are logged as MLflow pyfunc models wrapping the model directory written by
  :meth:`models.lgbm.CalibratedBooster.save` / :meth:`models.recovery.UpliftModel.save`
  (``mlflow.sklearn`` would pickle LightGBM types, which MLflow's default skops format
  refuses), with a signature and an input example of feature columns only — never names,
  phone numbers or customer ids — and registered as ``winback-churn`` / ``winback-recovery``.
  Registration also records the sha256 of the model directory and its path inside the MLflow
  model as version tags (:func:`models.store.record_model_dir`).
* Loading (:func:`load_registered`, :func:`load_champion`, scoring) never unpickles: it
  downloads the version's plain model directory, checks the recorded hash and reads the
  LightGBM text and JSON files (:mod:`models.store`). The pyfunc wrappers are pickled by
  MLflow (``python_model.pkl``); they are there for MLflow users (``mlflow.pyfunc.load_model``,
  serving) on a **trusted** store only — unpickling runs whatever code the file holds.
* Champion/challenger: a version gets the alias ``champion`` only when it beats the current
  champion on the same out-of-time test; the decision and the reason are version tags and run
  tags.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.dictionary import feature_dictionary
from models.artifacts import CHAMPION, ModelStoreError, RunRecord, tracking_uri
from models.lgbm import CalibratedBooster, FeatureMismatchError
from models.recovery import UpliftModel
from models.store import PROGRESS_ENV, load_version, record_model_dir
from models.store import load_champion as store_champion

logger = logging.getLogger(__name__)

EXPERIMENT = "winback"
MODEL_DIR_KEY = "model_dir"
# Columns that identify a person; an input example or logged table must never carry them.
PII_COLUMNS = ("name", "phone", "plate", "birthday", "customer_id")


def artifact_root(uri: str) -> str | None:
    """``mlartifacts/`` next to a SQLite tracking file, as a file URI; None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    return (db.resolve().parent / "mlartifacts").as_uri()


def in_experiment() -> bool:
    """True inside ``dvc exp run`` (DVC sets ``DVC_EXP_NAME`` / ``DVC_EXP_BASELINE_REV``)."""
    return bool(os.environ.get("DVC_EXP_NAME") or os.environ.get("DVC_EXP_BASELINE_REV"))


def setup(uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the tracking store and make sure the experiment exists.

    Also turns MLflow's artifact progress bars off when stderr is not a terminal.

    Returns:
        The experiment id.
    """
    # MLflow draws its artifact bars whatever stderr is: only on a terminal here (an explicit
    # MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR wins), so logs and CI output carry no bar.
    os.environ.setdefault(PROGRESS_ENV, "true" if sys.stderr.isatty() else "false")
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        exp_id = client.create_experiment(experiment, artifact_location=artifact_root(uri))
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as ``{"a.b.c": "value"}`` (lists as JSON) for :func:`mlflow.log_params`."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(list(value), ensure_ascii=False)
        else:
            out[name] = str(value)
    return out


def numeric_metrics(
    info: dict[str, Any], prefix: str = "", bools: bool = False
) -> dict[str, float]:
    """The finite numbers in a nested info dict, flattened to ``{"a.b": value}`` (for MLflow).

    Args:
        info: Nested dict; non-numeric leaves, NaN and infinities are dropped.
        prefix: Prepended to every key.
        bools: Keep booleans as 0/1 (otherwise they are dropped).
    """
    out: dict[str, float] = {}
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numeric_metrics(value, f"{name}.", bools))
        elif isinstance(value, bool | np.bool_):
            if bools:
                out[name] = float(value)
        elif isinstance(value, int | float | np.number) and np.isfinite(value):
            out[name] = float(value)
    return out


@contextmanager
def resume_run(record: RunRecord | str | Path) -> Iterator[mlflow.ActiveRun]:
    """Re-open the training run (from a :class:`RunRecord` or the path of ``run.json``).

    The tracking URI recorded at training time wins unless ``MLFLOW_TRACKING_URI`` is set.
    """
    rec = record if isinstance(record, RunRecord) else RunRecord.load(record)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or rec.tracking_uri
    setup(uri, rec.experiment)
    with mlflow.start_run(run_id=rec.run_id) as run:
        yield run


# --- pyfunc wrappers -------------------------------------------------------------------------


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of a :class:`CalibratedBooster` directory: returns ``churn_probability``."""

    def load_context(self, context) -> None:
        """Load the booster directory logged as the ``model_dir`` artifact."""
        self.model = CalibratedBooster.load(context.artifacts[MODEL_DIR_KEY])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Calibrated churn probability per row."""
        return pd.DataFrame(
            {"churn_probability": self.model.predict_proba(model_input)}, index=model_input.index
        )


class RecoveryPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of an :class:`UpliftModel` directory: returns its ``predict`` frame."""

    def load_context(self, context) -> None:
        """Load the uplift model directory logged as the ``model_dir`` artifact."""
        self.model = UpliftModel.load(context.artifacts[MODEL_DIR_KEY])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """``p_none``, ``p_<action>``, ``uplift_<action>`` and ``best_action`` per row."""
        return self.model.predict(model_input)


def input_example(frame: pd.DataFrame, features: list[str], n: int | None = 5) -> pd.DataFrame:
    """The model's feature columns only, typed as the pyfunc signature expects.

    Categoricals become strings and numbers float64, which is also how to hand any frame to
    a loaded pyfunc model (``n=None`` keeps every row). Personal columns are refused.
    """
    leaked = [c for c in features if c in PII_COLUMNS]
    if leaked:
        raise ValueError(f"refusing to log personal columns as model input: {leaked}")
    rows = frame.loc[:, features] if n is None else frame.loc[:, features].head(n)
    out = rows.reset_index(drop=True).copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            out[col]
        ):
            out[col] = out[col].astype("str").where(out[col].notna())
        else:
            out[col] = out[col].astype("float64")
    return out


def log_model(
    model: CalibratedBooster | UpliftModel,
    model_dir: str | Path,
    example_frame: pd.DataFrame,
    registered_name: str | None,
    artifact_path: str,
) -> str | None:
    """Log a saved model directory as a pyfunc model in the active run and register it.

    Args:
        model: The in-memory model (for the signature's output).
        model_dir: The directory the model was saved to.
        example_frame: Rows to draw the input example from (only feature columns are kept).
        registered_name: Registry name, or None to log without registering.
        artifact_path: Name of the model inside the run.

    Returns:
        The registered version (as a string), or None when not registered.
    """
    wrapper: mlflow.pyfunc.PythonModel
    if isinstance(model, UpliftModel):
        wrapper, features = RecoveryPyfunc(), model.features
        output = model.predict(example_frame.head(5))
    else:
        wrapper, features = ChurnPyfunc(), model.features
        output = pd.DataFrame({"churn_probability": model.predict_proba(example_frame.head(5))})
    example = input_example(example_frame, features)
    signature = infer_signature(example, output.reset_index(drop=True))
    info = mlflow.pyfunc.log_model(
        name=artifact_path,
        python_model=wrapper,
        artifacts={MODEL_DIR_KEY: str(model_dir)},
        signature=signature,
        input_example=example,
        registered_model_name=registered_name,
        # Stated, not inferred: inference re-loads the model in a subprocess (slow) and the
        # wrapper needs exactly these libraries.
        pip_requirements=_requirements(),
    )
    version = None if info.registered_model_version is None else str(info.registered_model_version)
    if version is not None:
        pyfunc = (info.flavors or {}).get("python_function", {})
        path = pyfunc.get("artifacts", {}).get(MODEL_DIR_KEY, {}).get("path")
        record_model_dir(
            str(registered_name),
            version,
            model_dir,
            path or f"artifacts/{Path(model_dir).name}",
            mlflow.get_tracking_uri(),
        )
    logger.info(
        "logged %s model%s", artifact_path, f" as {registered_name} v{version}" * bool(version)
    )
    return version


def tag_version(name: str, version: str, tags: dict[str, Any]) -> None:
    """Set tags on a registered model version (values as strings; None values skipped)."""
    client = MlflowClient()
    for key, value in tags.items():
        if value is not None:
            client.set_model_version_tag(name, version, key, str(value))


def _requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow")
    return [f"{p}=={version(p)}" for p in pkgs]


def log_feature_dictionary() -> None:
    """Log the feature dictionary (names, English/Chinese labels) as CSV and JSON artifacts."""
    fd = feature_dictionary()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feature_dictionary.csv"
        fd.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="dictionary")


def load_registered(name: str, ref: str) -> CalibratedBooster | UpliftModel:
    """Load a registered version (``ref`` = version number or ``@alias``) as the native model.

    Through :func:`models.store.load_version`: the plain model directory, hash-checked, never
    the pickled pyfunc wrapper.

    Raises:
        models.artifacts.ModelStoreError: No such version or alias, or its files are not the
            registered ones.
    """
    uri = mlflow.get_tracking_uri()
    version = ref
    if ref.startswith("@"):
        try:
            version = str(MlflowClient(uri, uri).get_model_version_by_alias(name, ref[1:]).version)
        except MlflowException as exc:
            raise ModelStoreError(f"no version of {name} has the alias {ref[1:]!r}") from exc
    return load_version(name, version, uri).model


def load_champion(name: str) -> tuple[str, CalibratedBooster | UpliftModel] | None:
    """The current champion of ``name`` as ``(version, model)``, or None if there is none.

    Loaded like :func:`load_registered` (hash-checked model directory, no pickle).

    Raises:
        models.artifacts.ModelStoreError: The champion's files are missing, damaged or not the
            registered ones.
    """
    loaded = store_champion(name, mlflow.get_tracking_uri())
    return None if loaded is None else (loaded.version, loaded.model)


@dataclass(frozen=True)
class Decision:
    """Outcome of a champion/challenger comparison."""

    promoted: bool
    reason: str


def decide_promotion(
    name: str,
    version: str | int,
    candidate_score: float,
    champion_score: float | None,
    higher_is_better: bool = True,
    min_delta: float = 0.0,
    metric: str = "score",
    blocked: str | None = None,
    hold: str | None = None,
    unscored: str | None = None,
) -> Decision:
    """Whether ``version`` should get the ``champion`` alias: only if it beats the champion.

    Both scores must come from the same out-of-time test. Nothing is written: the decision
    is applied by :func:`apply_decision` (the ``promote`` stage), so a cached stage never
    moves the alias.

    Args:
        name: Registered model name.
        version: The candidate version.
        candidate_score: The candidate's score on the test.
        champion_score: The current champion's score on the same test; None when there is no
            champion (the candidate is then promoted).
        higher_is_better: Direction of the metric.
        min_delta: Margin the candidate must beat the champion by.
        metric: Name of the metric, for the reason text.
        blocked: Why the candidate may not be champion whatever the comparison (a floor it
            does not clear, e.g. not beating the playbook formula); None = no block.
        hold: Why the alias must not move in this run (e.g. a ``dvc exp run``): the decision
            is recorded as "would be promoted" but the alias stays where it is.
        unscored: The reason to promote over a champion that has no score here (e.g. the
            candidate is the champion's own configuration refit on newer data).

    Returns:
        The decision and a human-readable reason.
    """
    version = str(version)
    current = current_champion(name)
    if current == version:
        decision = Decision(False, f"version {version} is already the champion")
    elif blocked:
        decision = Decision(False, f"not promoted: {blocked}")
    elif current is None:
        decision = Decision(True, "no champion yet")
    elif champion_score is None:
        decision = Decision(
            True, unscored or f"the champion v{current} has no score on these test rows"
        )
    else:
        gain = (
            candidate_score - champion_score
            if higher_is_better
            else champion_score - (candidate_score)
        )
        verdict = "beats" if gain > min_delta else "does not beat"
        decision = Decision(
            gain > min_delta,
            f"{metric} {candidate_score:.6f} {verdict} champion v{current} ({champion_score:.6f}) "
            f"by more than {min_delta:g} ({'higher' if higher_is_better else 'lower'} is better)",
        )
    if decision.promoted and hold:
        decision = Decision(False, f"would be promoted ({decision.reason}), but {hold}")
    return decision


def current_champion(name: str) -> str | None:
    """The version that holds the ``champion`` alias of ``name`` now, or None."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def apply_decision(
    name: str, version: str | int, decision: Decision, champion_version: str | None = None
) -> bool:
    """Apply a champion/challenger decision to the registry, if it still holds.

    The decision and its reason are written as tags of the model version
    (``promotion_decision``, ``promotion_reason``) and of the version's run
    (``promotion.<name>.decision`` / ``.reason``); a promotion moves the ``champion`` alias.
    A promotion decided against a champion that has since been replaced is not applied.

    Args:
        name: Registered model name.
        version: The candidate version.
        decision: From :func:`decide_promotion`.
        champion_version: The champion the decision was made against (None: none).

    Returns:
        Whether the alias was moved to ``version``.

    Raises:
        ValueError: The champion changed since the decision (decide again).
    """
    client = MlflowClient()
    version = str(version)
    now = current_champion(name)
    moved = False
    if decision.promoted:
        if now not in (None if champion_version is None else str(champion_version), version):
            raise ValueError(
                f"{name}: the champion is v{now}, not v{champion_version} as when v{version} "
                "was evaluated: evaluate again before promoting"
            )
        moved = now != version
        client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promotion_decision", str(decision.promoted))
    client.set_model_version_tag(name, version, "promotion_reason", decision.reason)
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        client.set_tag(run_id, f"promotion.{name}.decision", str(decision.promoted))
        client.set_tag(run_id, f"promotion.{name}.reason", decision.reason)
    logger.info(
        "%s v%s: %s (%s)",
        name,
        version,
        "promoted" if decision.promoted else "kept",
        decision.reason,
    )
    return moved


def apply_decisions(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply every registered candidate's decision; the record of what was done.

    Args:
        decisions: Decision records (:func:`challenge`'s, with ``model``), e.g. the
            ``promotion.json`` the evaluate and leads stages write.

    Returns:
        One record per decision: model, version, promoted, reason, ``alias_moved`` and the
        champion after this stage.
    """
    done = []
    for d in decisions:
        record = {k: d.get(k) for k in ("model", "version", "promoted", "reason")}
        if d["version"] is None:  # nothing was registered: nothing to apply
            record.update(alias_moved=False, champion=current_champion(d["model"]))
            done.append(record)
            continue
        decision = Decision(bool(d["promoted"]), str(d["reason"]))
        moved = apply_decision(d["model"], d["version"], decision, d.get("champion_version"))
        record.update(alias_moved=moved, champion=current_champion(d["model"]))
        done.append(record)
    return done


def promote_if_better(
    name: str,
    version: str | int,
    candidate_score: float,
    champion_score: float | None,
    **kwargs: Any,
) -> Decision:
    """:func:`decide_promotion` and :func:`apply_decision` in one step (tests, notebooks).

    Args:
        name: Registered model name.
        version: The candidate version.
        candidate_score: The candidate's score on the test.
        champion_score: The current champion's score on the same test, or None.
        **kwargs: Passed to :func:`decide_promotion`.

    Returns:
        The decision, already applied.
    """
    before = current_champion(name)
    decision = decide_promotion(name, version, candidate_score, champion_score, **kwargs)
    apply_decision(name, version, decision, before)
    return decision


def challenge(
    name: str,
    version: str | None,
    candidate_score: float,
    champion: Any | None,
    champion_version: str | None,
    score: Any,
    promote: Any,
    metric: str,
) -> dict[str, Any]:
    """Champion/challenger for one registered model, on the same out-of-time rows.

    Args:
        name: Registered model name.
        version: The candidate's registry version (None when it was not registered).
        candidate_score: The candidate's metric on the test rows.
        champion: The current champion model object, or None when there is none.
        champion_version: Its registry version.
        score: ``score(model) -> float``: the metric of a model on the same test rows.
        promote: ``promote(name, version, candidate_score, champion_score) -> decision`` with
            ``promoted`` and ``reason`` (:func:`promote_if_better`).
        metric: Name of the metric, for the record.

    Returns:
        JSON-able decision: ``model``, ``version``, ``metric``, ``candidate``, ``champion``,
        ``champion_version``, ``promoted``, ``reason``.
    """
    champion_score = None
    note = ""
    if champion is not None:
        try:
            champion_score = float(score(champion))
        except (FeatureMismatchError, ValueError, KeyError) as exc:
            # a champion that cannot score today's feature rows cannot defend its title
            note = f" (the champion v{champion_version} could not score the test rows: {exc})"
            logger.warning("champion of %s cannot score the test rows: %s", name, exc)
    if version is None:
        decision = {"promoted": False, "reason": "the candidate was not registered"}
    else:
        d = promote(name, version, candidate_score, champion_score)
        decision = {"promoted": bool(d.promoted), "reason": str(d.reason) + note}
    return {
        "model": name,
        "version": version,
        "metric": metric,
        "candidate": candidate_score,
        "champion": champion_score,
        "champion_version": champion_version,
        **decision,
    }
