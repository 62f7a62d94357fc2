"""Stage ``featurize``: training table, recovery table and feature dictionary; ad-hoc features.

Usage:
    ``python -m pipeline.featurize DATA_DIR --out out/featurize [--params params.yaml]``
    (the DVC stage), and ``winback features DATA_DIR --as-of DATE --out FILE`` (one as-of
    date, every customer, CSV or Parquet by suffix).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.config import FeaturizeConfig
from models.artifacts import DEFAULT_PARTITIONS, RECOVERY_FILE, TRAINING_FILE
from pipeline.common import (
    date_option,
    load_params,
    max_invalid_share,
    read_settings,
    setup_logging,
    writable_output,
)
from pipeline.engine import EngineOption, PartitionsOption, SchedulerOption

if TYPE_CHECKING:
    import pandas as pd

    from features.mapping import ReadSettings

logger = logging.getLogger(__name__)


def _config(params: Path | None) -> tuple[FeaturizeConfig, float, ReadSettings]:
    cfg = FeaturizeConfig.from_params(load_params("featurize", params))
    max_invalid = max_invalid_share(params)
    return cfg, max_invalid, read_settings(params)


def _write(df: pd.DataFrame, path: Path, for_people: bool = True) -> None:
    """Write atomically; text formula-neutralised unless only the pipeline reads the file."""
    from features.files import write_table

    if path.suffix not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"output must end in .csv or .parquet, got {path.name}")
    write_table(df, path, neutralise_text=for_people)


def summarise(
    training: pd.DataFrame,
    recovery: pd.DataFrame,
    signals: dict[str, bool],
    seconds: float,
    data_end: pd.Timestamp,
) -> dict[str, Any]:
    """The stage's JSON metrics: sizes, label rates, signals present and build time."""
    snaps = training["as_of"].drop_duplicates().sort_values()
    return {
        "rows": len(training),
        "customers": int(training["customer_id"].nunique()),
        "snapshots": len(snaps),
        "first_snapshot": snaps.iloc[0].strftime("%Y-%m-%d") if len(snaps) else None,
        "last_snapshot": snaps.iloc[-1].strftime("%Y-%m-%d") if len(snaps) else None,
        "data_end": data_end.strftime("%Y-%m-%d"),
        "churn_rate": round(float(training["churn"].mean()), 4) if len(training) else None,
        "recovery_rows": len(recovery),
        "recovery_labelled": int(recovery["labelled"].sum()),
        "recovery_rate": round(float(recovery["recovered"].mean()), 4)
        if recovery["labelled"].any()
        else None,
        "signals": signals,
        "build_seconds": round(seconds, 2),
    }


def main(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables.")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/featurize"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'featurize' block from.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Build the churn training table, the recovery table and the feature dictionary.

    Writes OUT/training.parquet (eligible customers × labelled snapshots, with ``churn``),
    OUT/recovery.parquet (outreach rows with ``recovered`` and features as of the contact
    date), OUT/feature_dictionary.parquet and OUT/summary.json.
    """
    # the data layer (pandas, pandera) loads when the command runs, not for --help
    from features.contract import ContractError
    from features.dictionary import feature_dictionary
    from features.events import prepare
    from features.labels import recovery_from_index, snapshot_dates, training_table
    from features.reading import read_data_dir

    setup_logging(verbose)
    writable_output(out / TRAINING_FILE)
    cfg, max_invalid, reading = _config(params)
    try:
        data = read_data_dir(data_dir, None, max_invalid, reading=reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    t0 = time.perf_counter()
    index = prepare(data, cfg)
    dates = snapshot_dates(index, cfg)
    if not len(dates):
        logger.warning("no labelled snapshot fits in the data (data end %s)", index.data_end)
    training = training_table(index, cfg, dates)
    recovery = recovery_from_index(data.tables.get("outreach"), index, cfg)
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    _write(training, out / TRAINING_FILE, for_people=False)
    _write(recovery, out / RECOVERY_FILE, for_people=False)
    _write(feature_dictionary(), out / "feature_dictionary.parquet", for_people=False)
    summary = summarise(training, recovery, data.signals, seconds, index.data_end)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    typer.echo(
        f"{summary['rows']} training rows over {summary['snapshots']} snapshots "
        f"(churn rate {summary['churn_rate']}), {summary['recovery_rows']} outreach rows; "
        f"built in {summary['build_seconds']} s; written to {out}"
    )


def features(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables.")],
    as_of: Annotated[str, typer.Option(help="As-of date T (YYYY-MM-DD); events before it.")],
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")],
    baseline: Annotated[
        bool, typer.Option(help="Append the playbook baselines (risk formula, scorecard).")
    ] = True,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'featurize' block from.")
    ] = None,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
    partitions: PartitionsOption = DEFAULT_PARTITIONS,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Write one feature row per customer as of AS_OF (never names or phone numbers).

    With --engine dask, DATA_DIR may also be a partitioned directory (`winback partition`).
    """
    import pandas as pd

    from features.baseline import baseline_scores
    from features.build import build_features
    from features.checks import last_event, stale_as_of_warning
    from features.contract import ContractError
    from features.reading import read_data_dir
    from models.engine import build_features_dask, dask_client

    setup_logging(verbose)
    if out.suffix not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"--out must end in .csv or .parquet, got {out.name}")
    when = date_option(as_of, "--as-of")
    writable_output(out)
    cfg, max_invalid, reading = _config(params)
    t0 = time.perf_counter()
    try:
        if engine == "dask":
            with dask_client(scheduler) as client:
                feats = build_features_dask(
                    data_dir, when, cfg, client, max_invalid, partitions, reading
                )
        else:
            data = read_data_dir(data_dir, None, max_invalid, reading=reading)
            if warning := stale_as_of_warning(when, last_event(data)):
                typer.echo(warning, err=True)
            feats = build_features(data, when, cfg)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    if baseline:
        feats = pd.concat([feats, baseline_scores(feats, cfg)], axis=1)
    logger.info("features for %d customers in %.2f s", len(feats), time.perf_counter() - t0)
    _write(feats, out)
    typer.echo(
        f"{len(feats)} customers × {feats.shape[1] - 2} columns as of {when:%Y-%m-%d} → {out}"
    )


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
