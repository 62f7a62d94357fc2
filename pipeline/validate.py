"""Stage ``validate``: check a data directory against the contract and write its rejects.

Usage: ``python -m pipeline.validate DATA_DIR [--as-of DATE] [--rejects FILE] [--report FILE]``
or ``winback validate …``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.contract import (
    ACTION_SET_ASIDE,
    ContractError,
    DataSet,
    read_data_dir,
    write_rejects,
)
from pipeline.common import date_option, load_params, setup_logging

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"as_of": None, "max_invalid_share": 0.2}


def report(data: DataSet) -> dict[str, Any]:
    """Summarise a validated data set as a JSON-ready dict (DVC metrics for this stage).

    Args:
        data: The validated data set.

    Returns:
        Counts per table, rejects per rule, the optional signals present and the date range.
    """
    summary = data.summary()
    ok = summary[summary["status"] == "ok"]
    rejects = data.rejects
    by_rule = (
        rejects.groupby(["table", "rule", "action"]).size().rename("count").reset_index()
        if len(rejects)
        else pd.DataFrame(columns=["table", "rule", "action", "count"])
    )
    dates = ok["first_date"].replace("", None).dropna()
    return {
        "customers": len(data.customers),
        "customers_with_visits": int(data.service_visits["customer_id"].nunique()),
        "first_date": min(dates) if len(dates) else None,
        "last_date": max(ok["last_date"].replace("", None).dropna(), default=None),
        "as_of": None if data.as_of is None else data.as_of.strftime("%Y-%m-%d"),
        "signals": data.signals,
        "tables": {
            r.table: {"rows": int(r.rows), "valid": int(r.valid), "set_aside": int(r.set_aside)}
            for r in ok.itertuples()
        },
        "rows_set_aside": int(
            rejects.loc[rejects["action"] == ACTION_SET_ASIDE, ["table", "row_number"]]
            .drop_duplicates()
            .shape[0]
        ),
        "rejects_by_rule": [
            {k: (int(v) if k == "count" else v) for k, v in row.items()}
            for row in by_rule.to_dict("records")
        ],
    }


def main(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables.")],
    as_of: Annotated[
        str | None,
        typer.Option(help="Cut-off date (YYYY-MM-DD); later events are set aside."),
    ] = None,
    rejects: Annotated[
        Path, typer.Option(help="Where to write the rejects (.csv or .parquet).")
    ] = Path("out/validate/rejects.csv"),
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the JSON summary here (DVC metrics)."),
    ] = None,
    max_invalid_share: Annotated[
        float | None,
        typer.Option(help="Share of rows one format rule may fail before a column is refused."),
    ] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'validate' block from.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Validate DATA_DIR against the data contract and print what was found.

    Exits with status 1 and a message naming file, column, rule and example rows when the
    directory breaks the contract. Row-level problems are counted and written to --rejects.
    """
    setup_logging(verbose)
    cfg = {**DEFAULTS, **load_params("validate", params)}
    if as_of is not None:
        cfg["as_of"] = as_of
    if max_invalid_share is not None:
        cfg["max_invalid_share"] = max_invalid_share
    cfg["as_of"] = date_option(cfg["as_of"], "--as-of" if as_of is not None else "validate.as_of")
    try:
        data = read_data_dir(data_dir, cfg["as_of"], cfg["max_invalid_share"])
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    summary = report(data)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        typer.echo(data.summary().to_string(index=False))
    present = [k for k, v in data.signals.items() if v]
    absent = [k for k, v in data.signals.items() if not v]
    typer.echo(
        f"\ncustomers: {summary['customers']}  ({summary['customers_with_visits']} with visits)"
    )
    typer.echo(f"date range: {summary['first_date']} .. {summary['last_date']}")
    typer.echo(f"optional signals present: {', '.join(present) or 'none'}")
    typer.echo(f"optional signals not collected: {', '.join(absent) or 'none'}")
    write_rejects(data.rejects, rejects)
    if len(data.rejects):
        typer.echo(
            f"\n{summary['rows_set_aside']} row(s) set aside, "
            f"{int((data.rejects['action'] != ACTION_SET_ASIDE).sum())} value(s) set to missing; "
            f"details in {rejects}:"
        )
        for r in summary["rejects_by_rule"]:
            typer.echo(f"  {r['table']:<15} {r['rule']:<24} {r['action']:<22} {r['count']}")
    else:
        typer.echo(f"\nno row-level problems (empty rejects file written to {rejects})")
    if report_file is not None:
        report_file.parent.mkdir(parents=True, exist_ok=True)
        report_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    typer.run(main)
