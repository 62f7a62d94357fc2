"""The maintenance reminders against the simulator's true service intervals (not a stage).

Usage:
    ``python -m pipeline.care_check DATA_DIR [--through DATE] [--params params.yaml]``

DATA_DIR is a simulator output (or its validated-data directory) with ``truth/``: every
owner's true service interval (``truth/customers.parquet`` ``service_interval_days``: the
simulator's vehicle-model interval at the owner's km per day, at most 365 days). For the
``care.maintenance_due`` rule of the params (km intervals learnt from the visits, then
``interval_km_by_model``, then ``interval_km``) and for ``interval_km`` for every owner
(nothing learnt, ``interval_km_by_model`` emptied), one line each: reminders, owners truly
due in the window, the share of reminders truly due, the share of the truly due reminded,
the median interval error and how many owners each interval source gave (docs/care.md,
"Which km interval").
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.common import (
    date_option,
    load_params,
    max_invalid_share,
    read_settings,
    setup_logging,
)

TRUTH_FILE = Path("truth") / "customers.parquet"


def main(
    data_dir: Annotated[Path, typer.Argument(help="A simulator output (or its validated data).")],
    through: Annotated[
        str, typer.Option(help="Every event up to and including this date (T = the day after).")
    ] = "2026-09-30",
    params: Annotated[
        Path | None, typer.Option(help="params.yaml ('care', 'featurize', 'validate' blocks).")
    ] = None,
) -> None:
    """Compare the maintenance reminders with the simulator's true service intervals."""
    import pandas as pd

    from features.build import build_features
    from features.config import FeaturizeConfig
    from features.reading import read_data_dir
    from models.care import CareConfig, maintenance_check, maintenance_intervals

    setup_logging()
    when = date_option(through, "--through") + pd.Timedelta(days=1)
    truth_file = data_dir / TRUTH_FILE
    if not truth_file.is_file():
        typer.echo(f"error: {truth_file} not found: not a simulator output", err=True)
        raise typer.Exit(code=1)
    rule = CareConfig.from_params(load_params("care", params)).maintenance_due
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    data = read_data_dir(data_dir, None, max_invalid_share(params), reading=read_settings(params))
    features = build_features(data, when, featurize)
    ids = features["customer_id"].astype("str").to_numpy()
    truth = pd.read_parquet(truth_file).set_index("customer_id")
    true_interval = pd.Series(
        truth["service_interval_days"].reindex(ids).to_numpy(), index=features.index
    )
    cust = data.customers.set_index("customer_id")
    model = None
    if "vehicle_model" in cust.columns:
        model = pd.Series(cust["vehicle_model"].reindex(ids).to_numpy(), index=features.index)
    ids = pd.Series(ids, index=features.index)
    km = maintenance_intervals(data.service_visits, ids, model, when, rule)
    flat = dataclasses.replace(rule, interval_km_by_model={})
    runs = (("params", rule, km), (f"{rule.interval_km:g} km for every owner", flat, None))
    for name, r, k in runs:
        got = maintenance_check(features, when, r, true_interval, model, k)
        if k is not None:
            got["interval_sources"] = k["interval_source"].value_counts().sort_index().to_dict()
        typer.echo(f"{name}: {json.dumps(got)}")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
