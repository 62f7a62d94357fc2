"""The km between maintenance visits of each owner, learnt from the store's own visits.

The ``maintenance_due`` trigger (:func:`models.care.maintenance_due`) turns a km interval
into a due date at the owner's km per day. Which interval, as of T (docs/care.md), first
that applies:

1. :data:`SOURCE_OWN`: the median odometer distance between the owner's consecutive
   maintenance visits (``visit_type`` ``maintenance``, both with ``mileage_km``, both
   strictly before T), when they have at least ``min_own_intervals`` such gaps. A gap
   outside ``own_km_bounds`` is a data error (a mistyped odometer, two orders of one visit)
   or a skipped service, and is ignored.
2. :data:`SOURCE_MODEL`: the median of the own intervals of the owners of the same
   ``vehicle_model``, when at least ``min_model_owners`` of them have one.
3. :data:`SOURCE_PARAM`: the store's ``interval_km_by_model`` for the model.
4. :data:`SOURCE_DEFAULT`: ``interval_km``.

Nothing here reads the simulator's vehicle models: a store's own visits decide.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

SOURCE_OWN, SOURCE_MODEL, SOURCE_PARAM, SOURCE_DEFAULT = "own", "model", "param", "default"
#: A due date from the owner's median gap in days (no km per day): no km interval used.
SOURCE_OWN_DAYS = "own_days"
#: An untyped history (no visit typed): the owner's median gap between all visits, in days.
SOURCE_OWN_VISIT_DAYS = "own_visit_days"
#: Every interval source, in the order they are tried (the days fallback last).
SOURCES = (
    SOURCE_OWN,
    SOURCE_MODEL,
    SOURCE_PARAM,
    SOURCE_DEFAULT,
    SOURCE_OWN_DAYS,
    SOURCE_OWN_VISIT_DAYS,
)
#: Chinese labels of the task file's ``interval_source``.
SOURCE_LABELS_ZH: dict[str, str] = {
    SOURCE_OWN: "本人保养里程",
    SOURCE_MODEL: "同车型中位数",
    SOURCE_PARAM: "参数（车型保养里程）",
    SOURCE_DEFAULT: "默认保养里程",
    SOURCE_OWN_DAYS: "本人保养间隔天数",
    SOURCE_OWN_VISIT_DAYS: "本人到店间隔天数",
}
MAINTENANCE_VISIT = "maintenance"


def own_interval_km(
    visits: pd.DataFrame | None,
    as_of: pd.Timestamp,
    km_bounds: tuple[float, float] = (1000.0, 30000.0),
) -> pd.DataFrame:
    """Each owner's median km between consecutive maintenance visits before T.

    Args:
        visits: ``service_visits`` (``customer_id``, ``visit_date``, ``visit_type``,
            ``mileage_km``), or None.
        as_of: T; a visit on or after it is the future.
        km_bounds: ``[low, high]`` km: a gap outside is ignored (inclusive bounds).

    Returns:
        Indexed by ``customer_id`` (text): ``median_km`` and ``gaps`` (the gaps counted),
        for the owners with at least one gap inside the bounds.
    """
    empty = pd.DataFrame(
        {"median_km": pd.Series(dtype="float64"), "gaps": pd.Series(dtype="int64")},
        index=pd.Index([], dtype="object", name="customer_id"),
    )
    needed = {"customer_id", "visit_date", "visit_type", "mileage_km"}
    if visits is None or not needed <= set(visits.columns):
        return empty
    day = pd.to_datetime(visits["visit_date"]).dt.normalize()
    keep = (
        (visits["visit_type"].astype("object") == MAINTENANCE_VISIT)
        & visits["mileage_km"].notna()
        & (day < pd.Timestamp(as_of).normalize())
    ).to_numpy(dtype=bool)
    rows = pd.DataFrame(
        {
            "customer_id": visits["customer_id"].astype("str").to_numpy()[keep],
            "day": day.to_numpy()[keep],
            "km": visits["mileage_km"].astype("float64").to_numpy()[keep],
        }
    )
    if rows.empty:
        return empty
    # by day, then by odometer: two orders on one day give a gap near 0 km (below the bounds)
    rows = rows.sort_values(["customer_id", "day", "km"], kind="stable")
    rows["gap"] = rows.groupby("customer_id", sort=False)["km"].diff()
    low, high = km_bounds
    gaps = rows.loc[rows["gap"].between(low, high)]
    out = gaps.groupby("customer_id")["gap"].agg(["median", "size"])
    return out.rename(columns={"median": "median_km", "size": "gaps"}).astype(
        {"median_km": "float64", "gaps": "int64"}
    )


def interval_km(
    visits: pd.DataFrame | None,
    ids: pd.Series,
    vehicle_model: pd.Series | None,
    as_of: pd.Timestamp,
    *,
    default_km: float,
    km_by_model: Mapping[str, float],
    km_bounds: tuple[float, float] = (1000.0, 30000.0),
    min_own_intervals: int = 2,
    min_model_owners: int = 30,
) -> pd.DataFrame:
    """The km interval of each customer as of T and where it comes from.

    Args:
        visits: ``service_visits`` (see :func:`own_interval_km`), or None.
        ids: The customers (text ids, one per customer), e.g. the feature rows.
        vehicle_model: Model per row (index as ``ids``), or None.
        as_of: T.
        default_km: ``interval_km``.
        km_by_model: ``interval_km_by_model``.
        km_bounds: ``own_km_bounds``.
        min_own_intervals: Gaps an owner needs for an own interval.
        min_model_owners: Owners with an own interval a model needs for its median.

    Returns:
        Index as ``ids``: ``interval_km`` and ``interval_source``
        (:data:`SOURCE_OWN`, :data:`SOURCE_MODEL`, :data:`SOURCE_PARAM`,
        :data:`SOURCE_DEFAULT`).
    """
    own = own_interval_km(visits, as_of, km_bounds)
    own = own.loc[own["gaps"] >= min_own_intervals, "median_km"]
    own_km = pd.Series(own.reindex(ids.astype("str").to_numpy()).to_numpy(), index=ids.index)
    km = own_km.copy()
    source = pd.Series(np.where(own_km.notna(), SOURCE_OWN, ""), index=ids.index, dtype="object")
    if vehicle_model is not None:
        model = vehicle_model.astype("object").where(vehicle_model.notna())
        mine = pd.DataFrame({"model": model, "km": own_km}).dropna()
        by_model = mine.groupby("model")["km"].agg(["median", "size"])
        by_model = by_model.loc[by_model["size"] >= min_model_owners, "median"]
        model_km = model.map(by_model).astype("float64")
        take = km.isna() & model_km.notna()
        km, source = km.where(~take, model_km), source.mask(take, SOURCE_MODEL)
        param_km = model.map({str(k): float(v) for k, v in km_by_model.items()})
        take = km.isna() & param_km.astype("float64").notna()
        km, source = km.where(~take, param_km.astype("float64")), source.mask(take, SOURCE_PARAM)
    take = km.isna()
    km, source = km.fillna(float(default_km)), source.mask(take, SOURCE_DEFAULT)
    return pd.DataFrame({"interval_km": km, "interval_source": source}, index=ids.index)
