"""How training holds up on shorter histories: cut a data directory, train, compare (not a stage).

Usage:
    ``python -m pipeline.history_check DATA_DIR --months 12,18,24,36 --out DIR``

For each length, the data directory is cut from the front (events of the earliest months are
dropped, so the as-of date stays the same) into ``DIR/data_<n>m``; ``--plain`` adds a copy
with only ``customers`` and ``service_visits`` (a plain transaction log). Each is featurized,
trained and evaluated with the given params (default: the repository's params.yaml) into a
scratch MLflow store under DIR, and one table row says which evaluation scheme was used, the
test size, and the churn model's ROC-AUC against the playbook formula's with the bootstrap
interval of the difference. The table is printed and written to ``DIR/history_check.md`` and
``.json``. Nothing is tuned on it: it runs the pipeline exactly as a user would.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.contract import TABLES
from models.reporting.markdown import md_table
from pipeline.common import load_params, setup_logging

logger = logging.getLogger(__name__)

#: Tables a plain transaction log has.
PLAIN_TABLES = ("customers", "service_visits")


def cut_history(
    tables: dict[str, pd.DataFrame], months: int, keep: tuple[str, ...] | None = None
) -> dict[str, pd.DataFrame]:
    """The tables with events before ``last visit - months`` dropped (customers all kept).

    Args:
        tables: Table name -> frame, as read from a contract directory.
        months: Months of history to keep, counted back from the latest service visit.
        keep: Only these tables (None = all).

    Returns:
        The cut tables; tables without a date column (customers) are copied unchanged.
    """
    visits = pd.to_datetime(tables["service_visits"]["visit_date"])
    start = visits.max().normalize() - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    out = {}
    for name, frame in tables.items():
        if keep is not None and name not in keep:
            continue
        spec = TABLES.get(name)
        date_col = getattr(spec, "date_column", None)
        if date_col and date_col in frame.columns:
            frame = frame.loc[pd.to_datetime(frame[date_col]) >= start]
        out[name] = frame.reset_index(drop=True)
    return out


def _read_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for path in sorted(data_dir.iterdir()):
        if path.suffix == ".parquet":
            out[path.stem] = pd.read_parquet(path)
        elif path.suffix == ".csv":
            out[path.stem] = pd.read_csv(path)
    return out


def _write_tables(tables: dict[str, pd.DataFrame], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return out


def train_and_report(data_dir: Path, out: Path, params: Path | None) -> dict[str, Any]:
    """featurize -> train -> evaluate on ``data_dir``; the facts of one table row."""
    from pipeline.cli import train_chain

    row: dict[str, Any] = {"data": data_dir.name}
    try:
        train_chain(data_dir, out, params, explain_too=False)
    except typer.Exit as exc:
        row["outcome"] = f"refused (exit {exc.exit_code})"
        return row
    metrics = json.loads((out / "evaluate" / "metrics.json").read_text())
    churn = metrics["churn"]
    gain = churn.get("roc_auc_gain_interval") or {}
    info = json.loads((out / "train" / "train_info.json").read_text())
    row.update(
        outcome="trained",
        scheme=churn.get("scheme"),
        test_rows=churn["n"],
        test_customers=churn.get("n_customers"),
        test_period=f"{churn.get('test_start')}..{churn.get('test_end')}",
        auc_model=round(churn["model"]["roc_auc"], 4),
        auc_formula=round(churn["formula"]["roc_auc"], 4),
        auc_gain_low=round(gain.get("low", float("nan")), 4),
        auc_gain_high=round(gain.get("high", float("nan")), 4),
        trained_through=(info["churn"].get("refit") or {}).get("trained_through"),
        recovery=metrics["recovery"].get("scheme") or "not trained",
        promotion={k: v["promoted"] for k, v in metrics.get("promotion", {}).items()},
    )
    return row


def main(
    data_dir: Annotated[Path, typer.Argument(help="A contract data directory to cut.")],
    out: Annotated[Path, typer.Option(help="Work directory.")] = Path("out/history_check"),
    months: Annotated[str, typer.Option(help="Comma-separated history lengths.")] = "12,18,24,36",
    plain: Annotated[
        bool, typer.Option(help="Also a customers + service_visits copy of the shortest cut.")
    ] = True,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml (default: ./params.yaml).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Cut DATA_DIR to shorter histories, train each with the same params and tabulate."""
    setup_logging(verbose)
    load_params("train", params)  # fail early on a bad params file
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(out / 'mlflow.db').resolve()}"
    tables = _read_tables(data_dir)
    lengths = sorted({int(m) for m in months.split(",") if m.strip()})
    jobs = [(f"{m} months", cut_history(tables, m), f"data_{m}m") for m in lengths]
    if plain and lengths:
        m = lengths[0]
        jobs.append(
            (f"{m} months, customers + visits", cut_history(tables, m, PLAIN_TABLES), f"plain_{m}m")
        )
    rows = []
    for label, cut, name in jobs:
        path = _write_tables(cut, out / name)
        logger.info("history check: %s (%s)", label, path)
        row = train_and_report(path, out / f"run_{name}", params)
        row["history"] = label
        rows.append(row)
    frame = pd.DataFrame(rows)
    cols = [
        c
        for c in (
            "history",
            "outcome",
            "scheme",
            "test_rows",
            "test_customers",
            "test_period",
            "auc_model",
            "auc_formula",
            "auc_gain_low",
            "auc_gain_high",
            "trained_through",
            "recovery",
        )
        if c in frame.columns
    ]
    table = "\n".join(md_table(cols, frame[cols].astype("str").to_numpy().tolist()))
    (out / "history_check.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    (out / "history_check.md").write_text(table + "\n")
    typer.echo(frame[cols].to_string(index=False))


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
