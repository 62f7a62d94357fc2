"""Stage ``validate``: check a data directory against the contract and write its rejects.

Usage: ``python -m pipeline.validate DATA_DIR [--as-of DATE] [--rejects FILE] [--report FILE]
[--data-out DIR]`` or ``winback validate …``. With ``--data-out`` the valid rows, the rejects and
a manifest are written as a validated-data directory (:mod:`features.validated`) that the later
stages read instead of DATA_DIR, without validating again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.common import (
    date_option,
    invalid_share,
    load_params,
    setup_logging,
    writable_output,
)

if TYPE_CHECKING:
    import pandas as pd

    from features.contract import DataSet

logger = logging.getLogger(__name__)


def unknown_values(rejects: pd.DataFrame) -> list[dict[str, Any]]:
    """The codes refused as not allowed, per table and column, with the allowed values.

    Args:
        rejects: ``DataSet.rejects``.

    Returns:
        One dict per (table, column, action): up to ``MAX_LISTED`` unknown codes (stripped,
        lower-cased, as they are matched) with their counts, most frequent first, and the
        column's allowed values: what to add to ``validate.codes`` in params.yaml.
    """
    import pandas as pd

    from features.contract import ALL_TABLES, CODES, RULE_ALLOWED, split_codes
    from features.mapping import MAX_LISTED

    found = rejects[rejects["rule"] == RULE_ALLOWED]
    out = []
    for (table, column, action), grp in found.groupby(["table", "column", "action"], sort=True):
        spec = next(c for c in ALL_TABLES[table].columns if c.name == column)
        if spec.kind == CODES:
            codes = [c for v in grp["value"] for c in split_codes(v) if c not in spec.allowed]
        else:
            codes = [str(v).strip().lower() for v in grp["value"]]
        counts = pd.Series(codes, dtype="object").value_counts()
        counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        out.append(
            {
                "table": table,
                "column": column,
                "action": action,
                "values": {k: int(v) for k, v in counts.head(MAX_LISTED).items()},
                "distinct": int(len(counts)),
                "allowed": list(spec.allowed),
            }
        )
    return out


def report(data: DataSet) -> dict[str, Any]:
    """Summarise a validated data set as a JSON-ready dict (the stage's report.json).

    Args:
        data: The validated data set.

    Returns:
        Counts per table, rejects per rule, the optional signals present and the date range.
    """
    import pandas as pd

    from features.contract import ACTION_SET_ASIDE

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
        "unknown_values": unknown_values(rejects),
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
        typer.Option("--report", help="Also write the JSON summary here."),
    ] = None,
    data_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write the valid rows, rejects and a manifest here (a validated-data "
            "directory the later stages read instead of DATA_DIR)."
        ),
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
    # the contract (pandas, pandera) loads when the command runs, not for --help
    import pandas as pd

    from features.contract import ACTION_SET_ASIDE, ALL_TABLES, ContractError
    from features.mapping import ReadSettings
    from features.reading import read_data_dir
    from features.validated import write_validated
    from features.validation import write_rejects

    setup_logging(verbose)
    cfg = load_params("validate", params)
    if as_of is not None:
        cfg["as_of"] = as_of
    if max_invalid_share is not None:
        cfg["max_invalid_share"] = max_invalid_share
    cfg["as_of"] = date_option(cfg["as_of"], "--as-of" if as_of is not None else "validate.as_of")
    cfg["max_invalid_share"] = invalid_share(cfg["max_invalid_share"])
    writable_output(rejects, "--rejects")
    writable_output(report_file, "--report")
    if data_out is not None and data_out.resolve() == data_dir.resolve():
        raise typer.BadParameter("must differ from DATA_DIR", param_hint="--data-out")
    reading = ReadSettings.from_params(cfg)
    try:
        data = read_data_dir(data_dir, cfg["as_of"], cfg["max_invalid_share"], reading=reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    if data_out is not None:
        if data_out.resolve() == Path(data.source).resolve():  # DATA_DIR was validated data
            raise typer.BadParameter(
                "must differ from the source directory", param_hint="--data-out"
            )
        try:
            write_validated(data, data_out, reading, cfg["max_invalid_share"], ALL_TABLES)
        except OSError as exc:
            typer.echo(f"error: --data-out {data_out}: {exc}", err=True)
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
    write_rejects(data.rejects, rejects)  # the table writer: neutralised, atomic
    if len(data.rejects):
        typer.echo(
            f"\n{summary['rows_set_aside']} row(s) set aside, "
            f"{int((data.rejects['action'] != ACTION_SET_ASIDE).sum())} value(s) set to missing; "
            f"details in {rejects}:"
        )
        for r in summary["rejects_by_rule"]:
            typer.echo(f"  {r['table']:<15} {r['rule']:<24} {r['action']:<22} {r['count']}")
        for u in summary["unknown_values"]:
            listed = ", ".join(f"{k!r} ({n})" for k, n in u["values"].items())
            more = u["distinct"] - len(u["values"])
            typer.echo(
                f"\n{u['table']}.{u['column']}: unknown value(s) {listed}"
                + (f" and {more} more" if more > 0 else "")
                + f"\n  allowed: {', '.join(u['allowed'])}"
                + f"\n  map store codes under validate.codes.{u['table']}.{u['column']}"
                " in params.yaml"
            )
    else:
        typer.echo(f"\nno row-level problems (empty rejects file written to {rejects})")
    if report_file is not None:
        report_file.parent.mkdir(parents=True, exist_ok=True)
        report_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if data_out is not None:
        typer.echo(f"validated data written to {data_out}")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
