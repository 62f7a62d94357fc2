"""Stage ``care`` / ``winback care``: personal care triggers as a CRM task file.

Usage:
    ``winback care DATA_DIR --out FILE [--as-of DATE | --through DATE] [--scores SCORE_FILE]
    [--metrics FILE] [--params params.yaml] [--verbose]`` (also ``python -m pipeline.care``;
    the DVC stage runs it ``--through simulate.end_date`` with the score stage's file).

DATA_DIR is read as ``winback score`` reads it: a contract data directory or a
validated-data directory (``out/validate/data``), validated once. The triggers (maintenance
due by the owner's own rhythm, insurance expiry, birthday), the one task per customer and the
suppression rules are :mod:`models.care` and :mod:`models.care_tasks` (docs/care.md, the
``care:`` params block).

Conventions, as ``winback score``:

* **As-of day** T: features, outreach outcomes and care contacts strictly before T.
  ``--through D`` is ``--as-of D+1``; no date: the day after the last valid event, at most
  tomorrow.
* **The file** is written by :func:`features.files.write_table` (atomic; CSV for Excel or
  Parquet by suffix; text that would start a spreadsheet formula neutralised), rows in a
  fixed order: the same data, params and score file give the same bytes.
* **Personal data**: ``name``, ``phone`` and ``plate`` are copied into the task file only;
  never logged, printed or written to the metrics JSON (counts only).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.common import (
    date_option,
    load_params,
    max_invalid_share,
    now_text,
    read_settings,
    scoring_now,
    setup_logging,
    writable_output,
)

if TYPE_CHECKING:
    import pandas as pd

    from features.config import FeaturizeConfig
    from features.contract import DataSet
    from models.care import CareConfig
    from models.care_tasks import CareResult
    from models.segments import SegmentsConfig

logger = logging.getLogger(__name__)

#: How many days a score file may lie before T and still be "this week's" selection.
SCORE_FILE_MAX_AGE_DAYS = 7


def main(
    data_dir: Annotated[
        Path, typer.Argument(help="Contract data directory or validated-data directory.")
    ],
    out: Annotated[Path, typer.Option(help="Task file, .csv or .parquet.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            help="As-of date T (YYYY-MM-DD): everything before T counts. Default (without "
            "--through too): the day after the last valid event, at most tomorrow."
        ),
    ] = None,
    through: Annotated[
        str | None,
        typer.Option(help="Instead of --as-of: every event up to and including this date."),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="This week's `winback score` file: its treatment and control customers get "
            "no care message, and its value tiers are used."
        ),
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Also write a JSON of counts (no personal data) here.")
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(help="params.yaml ('care', 'score', 'featurize', 'validate' blocks)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Write the personal care tasks due as of a date: maintenance, insurance, birthday.

    Maintenance reminders by the owner's own mileage or maintenance rhythm, insurance renewal
    reminders before the policy ends, birthday coupons for the chosen value tiers or vehicle
    models; one row per customer concerned, suppressed rows kept with their reason (do not
    contact, reported gone, in this week's win-back selection, a recent care contact).
    Names, phones and plates appear in this file only.
    """
    import pandas as pd

    from features.config import FeaturizeConfig
    from models.care import CareConfig
    from models.segments import ScoreConfig

    setup_logging(verbose)
    if out.suffix not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"--out must end in .csv or .parquet, got {out.name}")
    if as_of is not None and through is not None:
        typer.echo("error: give --as-of DATE or --through DATE, not both", err=True)
        raise typer.Exit(code=1)
    when = date_option(as_of, "--as-of")
    if through is not None:
        when = date_option(through, "--through") + pd.Timedelta(days=1)
    writable_output(out)
    writable_output(metrics, "--metrics")
    config = CareConfig.from_params(load_params("care", params))
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    segments = ScoreConfig.from_params(load_params("score", params)).segments
    score_rows = read_scores(scores) if scores is not None else None
    data, when = _read(data_dir, when, max_invalid_share(params), params)
    if score_rows is not None and (note := score_age_note(score_rows, when)):
        typer.echo(f"note: {note}", err=True)
    for note in not_collected_notes(data.customers, config):
        typer.echo(f"note: {note}", err=True)
    result = run_care(data, when, config, featurize, segments, score_rows)
    from features.files import write_table

    write_table(result.tasks, out)
    if metrics is not None:
        metrics.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result.metrics, indent=2, ensure_ascii=False) + "\n"
        metrics.write_text(text, encoding="utf-8")
    typer.echo(summary(result.metrics, out))


def _read(
    data_dir: Path, when: pd.Timestamp | None, max_invalid: float, params: Path | None
) -> tuple[DataSet, pd.Timestamp]:
    """Read DATA_DIR (validated once) and settle T as ``winback score`` does."""
    import pandas as pd

    from features.checks import last_event, stale_as_of_warning
    from features.contract import ContractError
    from features.reading import read_data_dir

    today = pd.Timestamp.today().normalize()
    try:
        data = read_data_dir(
            data_dir, today if when is None else None, max_invalid, reading=read_settings(params)
        )
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    if when is None:
        when, last, aside = scoring_now(data, today)
        typer.echo(now_text(when, last, aside, today))
    elif warning := stale_as_of_warning(when, last_event(data)):
        typer.echo(warning, err=True)
    return data, when


def run_care(
    data: DataSet,
    when: pd.Timestamp,
    config: CareConfig,
    featurize: FeaturizeConfig,
    segments: SegmentsConfig,
    score_rows: pd.DataFrame | None,
) -> CareResult:
    """Features as of T, value tiers and the task rows of a read data set.

    Args:
        data: The validated :class:`features.contract.DataSet`.
        when: T.
        config: :class:`models.care.CareConfig`.
        featurize: :class:`features.config.FeaturizeConfig` (the scoring features' settings).
        segments: ``score.segments`` (:class:`models.segments.SegmentsConfig`).
        score_rows: :func:`read_scores` rows, or None.

    Returns:
        :class:`models.care_tasks.CareResult`.
    """
    from features.build import build_features
    from models.care import value_tiers
    from models.care_tasks import care_tasks

    features = build_features(data, when, featurize)
    tiers = value_tiers(features, segments)
    contacts = data.table("care_contacts")
    visits = data.service_visits
    return care_tasks(features, data.customers, when, config, tiers, contacts, score_rows, visits)


def not_collected_notes(customers: pd.DataFrame, config: CareConfig) -> list[str]:
    """One note per enabled trigger whose customers column the data does not have."""
    from models.care import TRIGGER_COLUMNS

    notes = []
    for trigger, column in TRIGGER_COLUMNS.items():
        if config.rule(trigger).enabled and (
            column not in customers.columns or not customers[column].notna().any()
        ):
            notes.append(
                f"{trigger}: customers.{column} is not collected, so this trigger selects "
                "no one (docs/data_contract.md, care data)"
            )
    return notes


def read_scores(path: Path) -> pd.DataFrame:
    """The columns of a score file the care stage needs (never its names or phones).

    Raises:
        ValueError: The file lacks one of those columns (named).
        FileNotFoundError: No such file.
    """
    import pandas as pd

    from features.files import read_table
    from models.care_tasks import SCORE_COLUMNS

    frame = read_table(path)
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: not a `winback score` file: column(s) {', '.join(missing)} missing"
        )
    rows = frame[list(SCORE_COLUMNS)].copy()
    rows["as_of"] = pd.to_datetime(rows["as_of"], errors="coerce")
    return rows


def score_age_note(rows: pd.DataFrame, when: pd.Timestamp) -> str | None:
    """A note when the score file is not this week's (as of T or up to a week before)."""
    dates = rows["as_of"].dropna()
    if dates.empty:
        return None
    scored = dates.max().normalize()
    age = (when.normalize() - scored).days
    if 0 <= age <= SCORE_FILE_MAX_AGE_DAYS:
        return None
    return (
        f"the score file is as of {scored:%Y-%m-%d}, {age} day(s) from the care date "
        f"{when:%Y-%m-%d}: its win-back selection may not be this week's"
    )


def summary(metrics: dict, out: Path) -> str:
    """The closing line: tasks and suppressed rows per trigger and reason (counts only)."""
    by_trigger = ", ".join(f"{k} {v['tasks']}" for k, v in metrics["by_trigger"].items())
    reasons = ", ".join(f"{k} {v}" for k, v in metrics["by_reason"].items() if v)
    superseded = sum(v["superseded"] for v in metrics["by_trigger"].values())
    return (
        f"care as of {metrics['as_of']}: {metrics['customers']} customers, "
        f"{metrics['tasks']} task(s) ({by_trigger}), {metrics['suppressed']} suppressed"
        + (f" ({reasons})" if reasons else "")
        + f", {superseded} more trigger(s) of the same customers superseded; written to {out}"
    )


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
