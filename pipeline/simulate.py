"""Stage ``simulate``: a synthetic 4S dealership's after-sales export plus its hidden truth.

Parse the ``simulate:`` params block (flags override it), run the simulator
(:mod:`pipeline.simulator`), write the contract tables, the truth tables and the measured base
rates.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.common import load_params, setup_logging

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.simulator import SimulationConfig

logger = logging.getLogger(__name__)


def main(
    customers: Annotated[
        int | None, typer.Option(help="Number of customers (default 20000).")
    ] = None,
    years: Annotated[int | None, typer.Option(help="Years of emitted history (default 3).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 42).")] = None,
    out: Annotated[Path, typer.Option(help="Output data directory.")] = Path("out/simulate"),
    fmt: Annotated[str, typer.Option(help="File format: parquet or csv.")] = "parquet",
    params: Annotated[
        Path | None,
        typer.Option(
            help="params.yaml whose `simulate:` block sets the config; flags override it."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Simulate a 4S dealership's after-sales customers and write them as contract tables.

    Writes OUT/<table>.<fmt> for every contract table, the hidden truth to
    OUT/truth/*.parquet (for evaluation code only) and the measured base rates to
    OUT/truth/base_rates.json.
    """
    # the simulator (numpy, pandas) loads when the command runs, not for --help
    from pipeline.simulator import SimulationConfig, simulate, summarize

    setup_logging(verbose)
    block = load_params("simulate", params)
    for key, value in (("customers", customers), ("years", years), ("seed", seed)):
        if value is not None:
            block[key] = value
    config = SimulationConfig.from_params(block)
    t0 = time.perf_counter()
    tables, truth = simulate(config)
    runtime = time.perf_counter() - t0
    summary = summarize(tables, truth)
    write(out, fmt, tables, truth, summary)
    _log_summary(config, runtime, summary)


def write(
    out: Path,
    fmt: str,
    tables: dict[str, pd.DataFrame],
    truth: dict[str, pd.DataFrame],
    summary: dict[str, Any],
) -> None:
    """Write the contract tables to ``out``, the truth and the base rates to ``out/truth``."""
    from features.files import write_data_dir

    write_data_dir(tables, out, fmt)
    truth_dir = Path(out) / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    for name, df in sorted(truth.items()):
        df.to_parquet(truth_dir / f"{name}.parquet", index=False)
    (truth_dir / "base_rates.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )


def _log_summary(config: SimulationConfig, runtime: float, summary: dict[str, Any]) -> None:
    logger.info(
        "simulated %d customers, %d years in %.1fs: %.1f events/customer, churn %s",
        config.customers,
        config.years,
        runtime,
        summary["events_per_customer"],
        _fmt(summary["churn_rate_180d"]["mean"]),
    )
    for stage, row in summary["winback"].items():
        logger.info(
            "win-back %-9s control %s best-action(true) %s",
            stage,
            _fmt(row["control"]["rate"]),
            _fmt(row["true_best_action_rate"]),
        )
    logger.info("value tiers among active: %s", summary["value_tiers"])


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
