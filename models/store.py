"""Loading models to score with, from a directory or the MLflow registry, without unpickling.

A model is a directory of LightGBM text and JSON (:meth:`models.lgbm.CalibratedBooster.save`,
:meth:`models.recovery.UpliftModel.save`); nothing here ever reads a pickle. A registered
version carries that same directory as artifacts of its MLflow model (``artifacts/<name>/``,
the pyfunc wrapper's ``model_dir``) and two version tags written at registration
(:func:`record_model_dir`): the directory's path inside the model and the sha256 of its files
(:func:`dir_sha256`). :func:`load_version` downloads only that directory, checks the hash and
loads the files as ``--model DIR`` does; the pickled pyfunc wrapper (``python_model.pkl``) is
never downloaded, so a store whose artifacts were tampered with cannot run code here.

The hash lives in the tracking database, the files in the artifact store: changing a model
file, or adding one, without also rewriting the registry is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from models.artifacts import (
    CHAMPION,
    CHURN_DIR,
    CHURN_NAME,
    DEFAULT_TRAIN_DIR,
    RECOVERY_DIR,
    RECOVERY_NAME,
    RUN_FILE,
    ModelStoreError,
    RunRecord,
)
from models.lgbm import CalibratedBooster, ModelFileError
from models.recovery import UPLIFT_FILE, UpliftModel

logger = logging.getLogger(__name__)

#: Version tags written at registration: the model directory's sha256 and its path.
SHA256_TAG = "model_dir_sha256"
PATH_TAG = "model_dir_path"
PICKLE_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def dir_sha256(path: str | Path) -> str:
    """The sha256 of a model directory: every file's relative path, size and bytes, in order.

    Args:
        path: The directory.

    Returns:
        The hex digest (64 characters); a short prefix identifies a model in the export.
    """
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.as_posix()):
        data = f.read_bytes()
        h.update(f"{f.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def load_model_dir(path: str | Path) -> CalibratedBooster | UpliftModel:
    """Load a saved model directory (uplift model if it has ``uplift.json``, else a booster).

    Raises:
        ModelStoreError: Files are missing or damaged (one message, never a crash: the
            booster text is checked before LightGBM reads it).
    """
    path = Path(path)
    try:
        if (path / UPLIFT_FILE).is_file():
            return UpliftModel.load(path)
        return CalibratedBooster.load(path)
    except ModelFileError as exc:
        raise ModelStoreError(str(exc)) from exc
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelStoreError(f"cannot load the model in {path}: {exc!r}") from exc


_ENV_LOCK = threading.Lock()
_ENV_DEPTH: dict[str, int] = {}
_ENV_BEFORE: dict[str, str | None] = {}


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore what was there before.

    Blocks may nest and run in several threads at once (Dask workers in one process): the
    value from before the outermost block comes back when the last block ends.
    """
    with _ENV_LOCK:
        for key, value in values.items():
            if _ENV_DEPTH.get(key, 0) == 0:
                _ENV_BEFORE[key] = os.environ.get(key)
            _ENV_DEPTH[key] = _ENV_DEPTH.get(key, 0) + 1
            os.environ[key] = value
    try:
        yield
    finally:
        with _ENV_LOCK:
            for key in values:
                _ENV_DEPTH[key] -= 1
                if _ENV_DEPTH[key] == 0:
                    before = _ENV_BEFORE.pop(key)
                    if before is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = before


def no_pickle():
    """``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` for the block (then restored)."""
    return _environ({PICKLE_ENV: "false"})


def store_exists(uri: str) -> bool:
    """Whether a local tracking store is there (a SQLite file or a file-store directory).

    Remote stores (``http://``, ``databricks``, ...) are assumed to exist; asking them is the
    caller's first request. Looking never creates anything (an MLflow client on a missing
    SQLite path would create an empty database).
    """
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).is_file()
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri).is_dir()
    return True


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    if not store_exists(uri):
        raise ModelStoreError(
            f"no MLflow tracking store at {uri} (set MLFLOW_TRACKING_URI, or train first)"
        )
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion_version(name: str, uri: str) -> str | None:
    """The version of ``name`` with the ``champion`` alias, or None (no store, no champion)."""
    from mlflow.exceptions import MlflowException

    if not store_exists(uri):
        return None
    try:
        return str(_client(uri).get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


@dataclass
class RegisteredModel:
    """A registered version loaded from its model directory.

    Attributes:
        name: Registered model name.
        version: The version number (as text).
        model: The loaded model.
        sha256: The model directory's hash (checked against the registration's).
    """

    name: str
    version: str
    model: CalibratedBooster | UpliftModel
    sha256: str


def record_model_dir(name: str, version: str, model_dir: str | Path, path: str, uri: str) -> str:
    """Write the version tags :func:`load_version` checks: the directory's hash and path.

    Args:
        name: Registered model name.
        version: The version just registered.
        model_dir: The local directory that was logged (hashed now).
        path: Where that directory sits inside the version's MLflow model (``artifacts/x``).
        uri: The tracking and registry URI.

    Returns:
        The sha256 recorded.
    """
    digest = dir_sha256(model_dir)
    client = _client(uri)
    client.set_model_version_tag(name, version, SHA256_TAG, digest)
    client.set_model_version_tag(name, version, PATH_TAG, path)
    return digest


def load_version(name: str, version: str, uri: str) -> RegisteredModel:
    """Load a registered version from its model directory, checked against its hash.

    Downloads only ``models:/<name>/<version>/<model_dir_path>`` (never the pyfunc's pickle),
    into a private temporary directory, hashes the copy and loads it.

    Args:
        name: Registered model name.
        version: Version number.
        uri: Tracking and registry URI.

    Returns:
        The loaded version.

    Raises:
        ModelStoreError: No such version, no recorded hash (registered before hashes were
            recorded), missing files, a hash mismatch or damaged files.
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    try:
        tags = client.get_model_version(name, version).tags
    except MlflowException as exc:
        raise ModelStoreError(f"{name} v{version} is not in the registry at {uri}") from exc
    expected, path = tags.get(SHA256_TAG), tags.get(PATH_TAG)
    if not expected or not path:
        raise ModelStoreError(
            f"{name} v{version} has no recorded content hash ({SHA256_TAG}): it was registered "
            "before hashes were recorded, so its files cannot be checked; retrain (winback "
            "train) or score with --model DIR"
        )
    quiet = _environ({PROGRESS_ENV: "false"})
    with no_pickle(), quiet, tempfile.TemporaryDirectory(prefix="winback-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{version}/{path}",
                dst_path=tmp,
                tracking_uri=uri,
                registry_uri=uri,
            )
        except (MlflowException, OSError) as exc:
            raise ModelStoreError(
                f"cannot fetch the files of {name} v{version} ({path}) from the artifact store: "
                f"{exc}"
            ) from exc
        got = dir_sha256(local)
        if got != expected:
            raise ModelStoreError(
                f"the files of {name} v{version} do not match the hash recorded at registration "
                f"(sha256 {got[:12]}… instead of {expected[:12]}…): the artifact store was "
                "changed after registration; refusing to load them"
            )
        model = load_model_dir(local)
    logger.info("loaded %s v%s (sha256 %s…) from %s", name, version, got[:12], uri)
    return RegisteredModel(name, version, model, got)


def load_champion(name: str, uri: str) -> RegisteredModel | None:
    """The ``champion`` version of ``name``, loaded safely; None when there is none."""
    version = champion_version(name, uri)
    return None if version is None else load_version(name, version, uri)


# --- the models of a scoring run --------------------------------------------------------------


@dataclass
class ScoringModels:
    """The churn model, the optional uplift model and a version text for the export.

    Attributes:
        churn: The churn model.
        recovery: The win-back uplift model, or None (churn columns only).
        version: ``model_version`` written on every row, e.g.
            ``"winback-churn v3 #1a2b3c4d5e6f; winback-recovery v2 #…"`` (``#`` = the first
            12 hex digits of the model directory's sha256, the same for a train directory
            and the registry version logged from it).
        source: Where the models came from (a directory or the registry), for messages.
        ref: What loads them again (a directory or ``champion``), e.g. on Dask workers.
    """

    churn: CalibratedBooster
    recovery: UpliftModel | None
    version: str
    source: str
    ref: str = ""


def load_scoring_models(
    model: str | Path | None, uri: str, train_dir: Path = DEFAULT_TRAIN_DIR
) -> ScoringModels:
    """Load the models to score with, from a train directory or the registry's champions.

    Args:
        model: A train output directory (``churn/``, optionally ``recovery/`` and ``run.json``
            for the registered versions), ``"champion"`` (the ``champion`` versions of
            ``winback-churn`` / ``winback-recovery`` in the registry at ``uri``, loaded by
            :func:`load_version`), or None: the champions when the registry has one, else
            ``train_dir`` if it holds a churn model.
        uri: The tracking and registry URI.
        train_dir: The default train directory.

    Returns:
        The models, their version text and where they came from.

    Raises:
        ModelStoreError: Nothing to load, or files missing, damaged or not the registered
            ones.
    """
    with no_pickle():
        if model is None:
            if champion_version(CHURN_NAME, uri) is not None:
                model = CHAMPION
            elif (train_dir / CHURN_DIR).is_dir():
                model = train_dir
            else:
                raise ModelStoreError(
                    f"no model to score with: no '{CHAMPION}' version of {CHURN_NAME} "
                    f"in the MLflow registry at {uri}, and no {train_dir / CHURN_DIR}/; train "
                    "first (winback train DATA_DIR) or pass --model DIR"
                )
        if str(model) == CHAMPION:
            return _champions(uri, CHURN_NAME, RECOVERY_NAME)
        return _train_dir(Path(model))


def _champions(uri: str, churn_name: str, recovery_name: str) -> ScoringModels:
    if not store_exists(uri):
        raise ModelStoreError(
            f"no MLflow tracking store at {uri}: no '{CHAMPION}' to score with (set "
            "MLFLOW_TRACKING_URI, train first with winback train, or pass --model DIR)"
        )
    churn = load_champion(churn_name, uri)
    if churn is None:
        raise ModelStoreError(
            f"no '{CHAMPION}' version of {churn_name} in the MLflow registry at {uri}; train "
            "first (winback train) or pass --model out/train"
        )
    recovery = load_champion(recovery_name, uri)
    parts = [m for m in (churn, recovery) if m is not None]
    return ScoringModels(
        churn=churn.model,  # type: ignore[arg-type]
        recovery=None if recovery is None else recovery.model,  # type: ignore[arg-type]
        version="; ".join(f"{m.name} v{m.version} #{m.sha256[:12]}" for m in parts),
        source=f"MLflow registry {uri} (@{CHAMPION})",
        ref=CHAMPION,
    )


def _train_dir(root: Path) -> ScoringModels:
    if not (root / CHURN_DIR).is_dir():
        raise ModelStoreError(
            f"no churn model in {root} (expected {root / CHURN_DIR}/ from `winback train`), "
            f"and --model is not '{CHAMPION}'"
        )
    churn = load_model_dir(root / CHURN_DIR)
    recovery = load_model_dir(root / RECOVERY_DIR) if (root / RECOVERY_DIR).is_dir() else None
    if not isinstance(churn, CalibratedBooster) or not isinstance(recovery, UpliftModel | None):
        raise ModelStoreError(f"{root}: {CHURN_DIR}/ or {RECOVERY_DIR}/ holds the wrong model")
    versions: dict[str, str] = {}
    if (root / RUN_FILE).is_file():
        versions = RunRecord.load(root / RUN_FILE).versions
    parts = []
    for name, sub, m in (
        (CHURN_NAME, CHURN_DIR, churn),
        (RECOVERY_NAME, RECOVERY_DIR, recovery),
    ):
        if m is not None:
            v = f" v{versions[name]}" if name in versions else ""
            parts.append(f"{name}{v} #{dir_sha256(root / sub)[:12]}")
    return ScoringModels(churn, recovery, "; ".join(parts), str(root), str(root))
