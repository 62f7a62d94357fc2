"""The ``winback`` command: one subcommand per stage, plus ``demo``.

Each subcommand is the stage module's own ``main`` (so ``winback validate`` and
``python -m pipeline.validate`` are the same code, and DVC calls the latter).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pipeline import featurize, simulate, validate
from pipeline.common import setup_logging

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="winback",
    help="Find dealership service customers who are drifting away, and win back the ones worth it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("simulate")(simulate.main)
app.command("validate")(validate.main)
app.command("featurize")(featurize.main)
app.command("features")(featurize.features)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes data and outputs.")] = Path(
        "out"
    ),
    customers: Annotated[int, typer.Option(help="Simulated customers.")] = 20_000,
    years: Annotated[int, typer.Option(help="Simulated years of history.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Run the main job end to end on the built-in simulator.

    Simulates a dealership into OUT/simulate, validates it (rejects in OUT/validate) and builds
    the point-in-time training tables (OUT/featurize).
    """
    setup_logging()
    data_dir = out / "simulate"
    simulate.main(customers=customers, years=years, seed=seed, out=data_dir)
    validate.main(
        data_dir=data_dir,
        rejects=out / "validate" / "rejects.csv",
        report_file=out / "validate" / "report.json",
    )
    featurize.main(data_dir=data_dir, out=out / "featurize")
    typer.echo(f"\ndemo done: outputs in {out}/<stage>/")


if __name__ == "__main__":
    app()
