"""The Dask engine: the same pandas code, run on partitions of customers in parallel.

A data directory is split into ``P`` partitions by a stable hash of the customer id
(:func:`partition_data_dir`; the command is ``winback partition``, :mod:`pipeline.engine`).
Every partition is itself a contract data directory (``part-00000/customers.parquet``,
``part-00000/service_visits.parquet``, ...) that holds all the rows of its customers, so each
Dask task runs exactly the single-machine code on it: :func:`features.reading.read_data_dir`
(validation) and :func:`features.build.build_features`, or the per-customer part of scoring
(:func:`models.scoring.score_each`). The client concatenates the per-partition results,
restores the global category levels and the ``customer_id`` order, and gets a frame identical
to the pandas engine's (``tests/test_engine.py``).

Because a customer's rows never leave its partition, the per-customer contract rules hold per
partition (unknown customers, duplicate ids and rows, the as-of cut-off). Two rules are
global and are checked on the whole set instead: a required table must have rows (checked
from the partition manifest), and ``validate.max_invalid_share`` is applied per partition
(a systematic format problem shows in every partition; a partition can only be stricter).
Reject row numbers refer to the partition files.

Run it on one machine (a ``LocalCluster`` with two worker processes) or on any Dask cluster
(``--scheduler tcp://host:8786``); the workers must be able to read the partition directory
(a shared file system or object store path) and have this package installed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.build import build_features
from features.config import FeaturizeConfig
from features.contract import (
    RULE_AMBIGUOUS_FILE,
    RULE_EMPTY_TABLE,
    RULE_MISSING_COLUMN,
    RULE_MISSING_FILE,
    RULE_UNREADABLE,
    TABLES,
    ContractError,
    DataSet,
    Violation,
)
from features.dictionary import CATEGORICAL_FEATURES
from features.mapping import EncodingProblem, ReadSettings, mapped_header, read_csv
from features.reading import check_settings, read_data_dir
from models.actions import resolve_for_model
from models.artifacts import DEFAULT_PARTITIONS

if TYPE_CHECKING:
    from distributed import Client

    from models.crm import CrmConfig
    from models.scoring import CustomerScores, ScoreResult

logger = logging.getLogger(__name__)

MANIFEST = "partitions.json"
PART_FORMAT = "part-{:05d}"


# --- partitioning --------------------------------------------------------------------------


def _id_text(ids: pd.Series) -> pd.Series:
    """Customer ids as the contract reads them (text, stripped; 12.0 stored as a float is 12)."""
    if pd.api.types.is_float_dtype(ids) and (ids.dropna() % 1 == 0).all():
        ids = ids.astype("Int64")
    return ids.astype("str").where(ids.notna()).str.strip()


def customer_partition(ids: pd.Series, n_partitions: int) -> np.ndarray:
    """The partition of each customer id: a stable hash of the id text modulo ``n_partitions``.

    The hash (pandas' SipHash with its fixed key) is the same on every machine and run, so a
    customer's rows from every table land in the same partition.

    Args:
        ids: Customer ids (any dtype; read as the contract reads them).
        n_partitions: Number of partitions, >= 1.

    Returns:
        int64 partition numbers aligned with ``ids`` (missing ids go to partition 0).
    """
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    text = _id_text(ids)
    h = pd.util.hash_array(text.fillna("").to_numpy(dtype=object), categorize=True)
    return (h % np.uint64(n_partitions)).astype(np.int64)


def _read_table(path: Path, name: str, reading: ReadSettings) -> pa.Table:
    if path.suffix == ".csv":
        # Text, exactly as the contract reads a CSV: every cell is parsed per partition.
        try:
            df = read_csv(path, reading.encoding)
        except EncodingProblem as exc:
            raise ContractError([Violation(str(path), RULE_UNREADABLE, detail=str(exc))]) from exc
        table = pa.Table.from_pandas(df, preserve_index=False)
    else:
        table = pq.read_table(path)
    # Store headers become contract names here; codes are mapped by each partition's reading.
    return table.rename_columns(mapped_header(table.column_names, name, reading))


def _customer_column(table: pa.Table) -> str | None:
    for name in table.column_names:
        if str(name).strip().lower() == "customer_id":
            return name
    return None


def partition_data_dir(
    data_dir: str | Path,
    out_dir: str | Path,
    n_partitions: int,
    reading: ReadSettings | None = None,
) -> Path:
    """Split a data directory into customer partitions, each a contract data directory.

    Files are copied row for row (no validation, no parsing: that is each partition's job),
    keeping their original row order inside a partition. Rows are routed by the customer's
    partition; event rows of ids missing from ``customers`` by their own id's hash (they are
    set aside as unknown customers in whichever partition they land).

    Args:
        data_dir: A contract data directory (Parquet or CSV files).
        out_dir: Target; ``out_dir/part-NNNNN/<table>.parquet`` and ``out_dir/partitions.json``.
        n_partitions: Number of partitions.
        reading: The CSV encoding and store header mapping (``validate:`` params) used to
            read the files; partitions hold contract headers (codes are left to them).

    Returns:
        ``out_dir``.

    Raises:
        ContractError: A required table or its ``customer_id`` column is missing, a file
            cannot be decoded, or ``reading`` names what the contract does not have.
    """
    reading = reading or ReadSettings()
    check_settings(reading)
    src, out = Path(data_dir), Path(out_dir)
    files: dict[str, Path] = {}
    problems = []
    for name, spec in TABLES.items():
        found = [src / f"{name}{s}" for s in (".parquet", ".csv") if (src / f"{name}{s}").is_file()]
        if len(found) > 1:
            problems.append(Violation(str(src / name), RULE_AMBIGUOUS_FILE, detail="keep one"))
        elif found:
            files[name] = found[0]
        elif spec.required:
            problems.append(Violation(str(src / f"{name}.parquet"), RULE_MISSING_FILE))
    if problems:
        raise ContractError(problems)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for p in range(n_partitions):
        (out / PART_FORMAT.format(p)).mkdir()

    customers = _read_table(files["customers"], "customers", reading)
    cid = _customer_column(customers)
    if cid is None:
        raise ContractError(
            [Violation(str(files["customers"]), RULE_MISSING_COLUMN, "customer_id")]
        )
    cust_ids = _id_text(customers.column(cid).to_pandas())
    cust_part = customer_partition(cust_ids, n_partitions)
    lookup = pa.array(cust_ids.fillna("").to_numpy(dtype=object), type=pa.large_string())
    rows: dict[str, int] = {}
    for name, path in files.items():
        table = customers if name == "customers" else _read_table(path, name, reading)
        col = _customer_column(table)
        if name == "customers":
            part = cust_part
        elif col is None:
            part = np.zeros(table.num_rows, dtype=np.int64)  # refused by every partition
        else:
            ids = _id_text(table.column(col).to_pandas())
            where = pc.index_in(
                pa.array(ids.fillna("").to_numpy(dtype=object), type=pa.large_string()),
                value_set=lookup,
            )
            known = where.is_valid().to_numpy(zero_copy_only=False)
            part = np.empty(table.num_rows, dtype=np.int64)
            part[known] = cust_part[where.drop_null().to_numpy()]
            part[~known] = customer_partition(ids[~known], n_partitions)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(n_partitions + 1))
        ordered = table.take(pa.array(order))
        for p in range(n_partitions):
            chunk = ordered.slice(int(bounds[p]), int(bounds[p + 1] - bounds[p]))
            pq.write_table(chunk, out / PART_FORMAT.format(p) / f"{name}.parquet")
        rows[name] = table.num_rows
    manifest = {
        "partitions": n_partitions,
        "source": str(src),
        "hash": "pandas.util.hash_array(customer_id text) % partitions",
        "rows": rows,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info("partitioned %s into %d partitions at %s", src, n_partitions, out)
    return out


def is_partitioned(data_dir: str | Path) -> bool:
    """Whether ``data_dir`` is the output of :func:`partition_data_dir`."""
    return (Path(data_dir) / MANIFEST).is_file()


def partition_dirs(parts_dir: str | Path) -> list[Path]:
    """The partition directories of a partitioned data directory, checked for empty tables.

    Raises:
        ContractError: A required table has no rows in any partition.
    """
    root = Path(parts_dir)
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    empty = [n for n, spec in TABLES.items() if spec.required and manifest["rows"].get(n, 0) == 0]
    if empty:
        raise ContractError(
            [
                Violation(f"{manifest['source']}/{n}", RULE_EMPTY_TABLE, detail="no data rows")
                for n in empty
            ]
        )
    return [root / PART_FORMAT.format(p) for p in range(int(manifest["partitions"]))]


# --- per-partition work (the single-machine code) ------------------------------------------


def with_history_start(config: FeaturizeConfig, dirs: list[str], as_of: str) -> FeaturizeConfig:
    """``config`` with ``history_start`` = the first service visit over all partitions.

    Each partition alone would count ``observed_history_days`` from its own first visit;
    the whole data set's first visit (on or before the as-of date) makes every partition
    compute what one pass over all customers computes.
    """
    if config.history_start is not None:
        return config
    first = None
    for part in dirs:
        for path in sorted(Path(part).glob("service_visits.*")):
            if path.suffix == ".parquet":
                dates = pd.read_parquet(path, columns=["visit_date"])["visit_date"]
            else:
                dates = pd.read_csv(path, usecols=["visit_date"], dtype="str")["visit_date"]
            dates = pd.to_datetime(dates, errors="coerce", format="mixed").dropna()
            dates = dates[dates < pd.Timestamp(as_of)]
            if len(dates) and (first is None or dates.min() < first):
                first = dates.min()
    if first is None:
        return config
    return dataclasses.replace(config, history_start=str(first.normalize().date()))


def read_partition(
    part_dir: str | Path, max_invalid_share: float, reading: ReadSettings | None = None
) -> DataSet | None:
    """One partition, validated as a data directory; None when it holds no customers.

    Its headers are contract names already (:func:`partition_data_dir`); ``reading`` maps
    the codes.
    """
    reading = (reading or ReadSettings()).without_columns()
    data = read_data_dir(part_dir, None, max_invalid_share, require_rows=False, reading=reading)
    return data if len(data.customers) else None


def features_of_partition(
    part_dir: str | Path,
    as_of: str,
    config: FeaturizeConfig,
    max_invalid_share: float,
    reading: ReadSettings | None = None,
) -> pd.DataFrame | None:
    """:func:`features.build.build_features` on one partition (a Dask task)."""
    data = read_partition(part_dir, max_invalid_share, reading)
    return None if data is None else build_features(data, as_of, config)


def _harmonise_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    # the sorted union of the partitions' levels: what one pass over all customers finds
    for col in CATEGORICAL_FEATURES:
        if col in frames[0].columns:
            levels = sorted(set().union(*(f[col].cat.categories.astype("str") for f in frames)))
            frames = [f.assign(**{col: f[col].cat.set_categories(levels)}) for f in frames]
    return frames


def combine(parts: list[pd.DataFrame | None]) -> pd.DataFrame:
    """Concatenate per-partition customer rows as the single-machine engine would give them.

    The category levels of the categorical features become the sorted union of the
    partitions' levels (what one pass over all customers finds), and rows are sorted by
    ``customer_id``.

    Args:
        parts: Per-partition frames with a ``customer_id`` column (None = empty partition).

    Returns:
        One frame, index 0..n-1.
    """
    frames = [p for p in parts if p is not None and len(p)]
    if not frames:
        raise ValueError("no partition holds any customer")
    out = pd.concat(_harmonise_categories(frames), ignore_index=True)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def score_of_partition(
    part_dir: str | Path,
    as_of: str,
    model: str,
    featurize: FeaturizeConfig,
    config: Any,
    max_invalid_share: float,
    reading: ReadSettings | None = None,
) -> CustomerScores | None:
    """:func:`models.scoring.score_each` on one partition (a Dask task; loads the models)."""
    # imported here: the features path of this module needs none of the models (LightGBM)
    from models.scoring import load_models, score_each

    data = read_partition(part_dir, max_invalid_share, reading)
    if data is None:
        return None
    return score_each(data, as_of, load_models(model), featurize, config)


def combine_scores(parts: list[CustomerScores | None]) -> CustomerScores:
    """Glue per-partition :class:`~models.scoring.CustomerScores` into the whole set's.

    Rows get the positions the single-machine engine gives them (``customer_id`` order), so
    :func:`models.scoring.finish_scores` sees the same frames either way.
    """
    from models.scoring import CustomerScores

    parts = [p for p in parts if p is not None and len(p.features)]
    if not parts:
        raise ValueError("no partition holds any customer")
    ids = np.concatenate(
        [p.features["customer_id"].astype("str").to_numpy(dtype=object) for p in parts]
    )
    pos = np.empty(len(ids), dtype=np.int64)
    pos[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    starts = np.cumsum([0] + [len(p.features) for p in parts])

    def glue(pieces: list[Any], full: bool) -> Any:
        out = [
            piece.set_axis(pos[starts[k] + piece.index.to_numpy()], axis=0)
            for k, piece in enumerate(pieces)
            if piece is not None
        ]
        if not out:
            return None
        glued = pd.concat(out).sort_index()
        # whole-set frames get the RangeIndex build_features gives; subsets keep their labels
        return glued.reset_index(drop=True) if full else glued

    features = _harmonise_categories([p.features for p in parts])
    return CustomerScores(
        features=glue(features, True),
        scorable=glue([p.scorable for p in parts], True),
        why=glue([p.why for p in parts], True),
        churn=glue([p.churn for p in parts], True),
        reasons=glue([p.reasons for p in parts], False),
        segments=glue([p.segments for p in parts], True),
        uplift=glue([p.uplift for p in parts], False),
        personal=glue([p.personal for p in parts], True),
        last_outreach=glue([p.last_outreach for p in parts], True),
    )


def score_customers_dask(
    data_dir: str | Path,
    as_of: str | pd.Timestamp,
    model: str,
    featurize: FeaturizeConfig,
    config: Any,
    client: Client,
    budget: float | str | None = None,
    max_invalid_share: float = 0.2,
    n_partitions: int = DEFAULT_PARTITIONS,
    coupon_action: str | None = None,
    reading: ReadSettings | None = None,
    crm: CrmConfig | None = None,
) -> ScoreResult:
    """:func:`models.scoring.score_customers` on a Dask cluster.

    The per-customer part (validation, features, churn risk, TreeSHAP reasons, segments,
    uplift, the latest outreach date for the cooldown) runs as one task per partition; the budgeted policy, which ranks all customers
    against one budget, runs once on the client (:func:`models.scoring.finish_scores`).

    Args:
        data_dir: A data directory or a partitioned one.
        as_of: The as-of date.
        model: A train output directory every worker can read, or ``champion``.
        featurize: Feature settings.
        config: The ``score:`` block as :class:`models.segments.ScoreConfig`.
        client: A Dask client.
        budget: Global budget in CNY, ``"same_coupon"``, or None (caps only).
        max_invalid_share: ``validate.max_invalid_share``, per partition.
        n_partitions: Partitions when ``data_dir`` is not partitioned yet.
        coupon_action: The coupon of the ``"same_coupon"`` budget.
        reading: ``validate:`` encoding and mappings (:class:`features.mapping.ReadSettings`).
        crm: The ``crm:`` params (:class:`models.crm.CrmConfig`; cooldown, holdout, churn
            band), applied once on the client; None = the defaults.

    Returns:
        The same result as the single-machine ``score_customers``.
    """
    from models.scoring import finish_scores, load_models

    when = str(pd.Timestamp(as_of).date())
    models = load_models(model)
    config = resolve_for_model(config, models.recovery)  # the store's actions (models.actions)
    with partitioned(data_dir, n_partitions, reading=reading) as parts_dir:
        dirs = [str(d) for d in partition_dirs(parts_dir)]
        futures = client.map(
            score_of_partition,
            dirs,
            as_of=when,
            model=str(model),
            featurize=with_history_start(featurize, dirs, when),
            config=config,
            max_invalid_share=max_invalid_share,
            reading=reading,
            pure=False,
        )
        parts = client.gather(futures)
    each = combine_scores(parts)
    return finish_scores(each, models, featurize, config, budget, coupon_action, crm)


# --- the cluster ---------------------------------------------------------------------------


@contextmanager
def dask_client(
    scheduler: str | None = None, n_workers: int = 2, processes: bool = True
) -> Iterator[Client]:
    """A Dask client: to ``scheduler`` if given, else to a new local cluster.

    Args:
        scheduler: Address of a running scheduler (``tcp://host:8786``); None starts a
            ``LocalCluster`` with ``n_workers`` single-threaded workers.
        n_workers: Local workers (this machine has 2 cores: 2).
        processes: Local workers as processes (real parallelism) or threads (fast start,
            for tests).

    Yields:
        The connected client; the local cluster is closed on exit.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    # Local worker processes import this checkout (not another install of the package).
    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "")
    if root not in paths.split(os.pathsep):
        os.environ["PYTHONPATH"] = root + (os.pathsep + paths if paths else "")
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",  # any free port: two local clusters never clash
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def partitioned(
    data_dir: str | Path,
    n_partitions: int = DEFAULT_PARTITIONS,
    work_dir: Path | None = None,
    reading: ReadSettings | None = None,
) -> Iterator[Path]:
    """``data_dir`` itself if already partitioned, else a temporary partitioning of it."""
    if is_partitioned(data_dir):
        yield Path(data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="winback-parts-", dir=work_dir) as tmp:
        yield partition_data_dir(data_dir, Path(tmp) / "parts", n_partitions, reading)


def build_features_dask(
    data_dir: str | Path,
    as_of: str | pd.Timestamp,
    config: FeaturizeConfig,
    client: Client,
    max_invalid_share: float = 0.2,
    n_partitions: int = DEFAULT_PARTITIONS,
    reading: ReadSettings | None = None,
) -> pd.DataFrame:
    """:func:`features.build.build_features` on a Dask cluster, one task per partition.

    Args:
        data_dir: A data directory, or a partitioned one (:func:`partition_data_dir`);
            a plain directory is partitioned into a temporary directory first.
        as_of: The as-of date.
        config: Feature settings.
        client: A Dask client (:func:`dask_client`).
        max_invalid_share: ``validate.max_invalid_share``, applied per partition.
        n_partitions: Partitions when ``data_dir`` is not partitioned yet.
        reading: ``validate:`` encoding and mappings (:class:`features.mapping.ReadSettings`).

    Returns:
        The same frame as ``build_features(read_data_dir(data_dir), as_of, config)``.
    """
    when = str(pd.Timestamp(as_of).date())
    with partitioned(data_dir, n_partitions, reading=reading) as parts_dir:
        dirs = [str(d) for d in partition_dirs(parts_dir)]
        futures = client.map(
            features_of_partition,
            dirs,
            as_of=when,
            config=with_history_start(config, dirs, when),
            max_invalid_share=max_invalid_share,
            reading=reading,
            pure=False,
        )
        parts = client.gather(futures)
    return combine(parts)
