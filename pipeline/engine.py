"""Stage ``partition`` / ``winback partition`` and the options of the Dask engine.

``winback partition DATA_DIR --out DIR`` splits a data directory into customer partitions
(:func:`models.engine.partition_data_dir`) for ``--engine dask``. The ``--engine``,
``--scheduler`` and ``--partitions`` options every command with a Dask engine takes
(``features``, ``score``) are declared here once; the engine itself is :mod:`models.engine`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.artifacts import DEFAULT_PARTITIONS
from pipeline.common import read_settings, setup_logging

ENGINES = ("pandas", "dask")


def main(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables.")],
    out: Annotated[Path, typer.Option(help="Output directory of the partitions.")],
    partitions: Annotated[
        int, typer.Option(help="Number of customer partitions (a few per worker core).")
    ] = DEFAULT_PARTITIONS,
    params: Annotated[
        Path | None,
        typer.Option(help="params.yaml to read the 'validate' block (encoding, columns) from."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Split DATA_DIR into customer partitions for the Dask engine (`--engine dask`).

    Every partition OUT/part-NNNNN/ is a contract data directory with all rows of its
    customers (hashed customer_id); OUT/partitions.json records how. Put OUT where every
    Dask worker can read it.
    """
    # the engine (pandas, pyarrow, Dask) loads when the command runs, not for --help
    from features.contract import ContractError
    from models.engine import partition_data_dir

    setup_logging(verbose)
    try:
        partition_data_dir(data_dir, out, partitions, read_settings(params))
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"{partitions} partitions of {data_dir} written to {out}")


def engine_option(engine: str) -> str:
    """Check an ``--engine`` value."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


# The three options every command with a Dask engine takes (`features`, `score`), declared once.
EngineOption = Annotated[
    str,
    typer.Option(
        help="pandas (this process) or dask (partitions of customers in parallel on a Dask "
        "cluster; same results).",
        callback=engine_option,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address (tcp://host:8786); default: a local cluster."),
]
PartitionsOption = Annotated[
    int,
    typer.Option(help="Customer partitions when DATA_DIR is not partitioned yet (dask)."),
]


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
