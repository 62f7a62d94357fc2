"""``winback monitor``: did the win-back contacts since a score file bring customers back?

Usage:
    ``winback monitor SCORE_FILE DATA_DIR --out DIR [--until DATE] [--params params.yaml]``
    (also ``python -m pipeline.monitor``).

The monthly check the playbooks ask for. Input: a past ``winback score`` file (its ``as_of``,
``segment`` and expected ``uplift`` per customer) and a data directory with what happened
since — the outreach log (who was contacted with which action, and the randomized
**control** group who was picked but deliberately not contacted) and the service visits.

For each customer, the first outreach row on or after the score's as-of date is "what was
done". A customer *returned within w days* if they have a service visit in
``(contact_date, contact_date + w]`` (the recovery label's convention). For every window
``w`` in ``monitor.windows_days`` (30, 60, 90) and for each segment × action, each segment,
each action, and overall:

* win-back rate of the contacted (``group == treatment``) and of the control customers of the
  same segment(s); **incremental** rate = contacted − control, with a 95% Agresti–Caffo
  interval (add one return and one non-return to each group; good coverage for small groups);
* verdict: ``improved`` (interval above 0), ``worse`` (below 0), ``no evidence`` (spans 0),
  ``too few`` (fewer than ``min_group_size`` contacted or control customers);
* cost = contact cost from the outreach log + the coupon's face value for every contacted
  coupon customer who returned (``score.economics.coupon_value`` / ``coupon_actions``: the
  coupon comes off the return invoice; the log does not record redemption, so a return is
  read as a redemption); cost per recovered customer and per *incremental* recovery;
* the score's expected uplift (mean ``uplift`` of the contacted customers whose action was the
  score's recommended one) and whether the measured interval contains it (``as expected``,
  ``better than expected``, ``worse than expected``) — read at the recovery label's response
  window (``featurize.response_window_days``, 60 days), the window the uplift refers to.

**Censoring**: a contact's w-day window is observed only if ``contact_date + w`` is on or
before the data's last day (``--until``, default: the latest event date in DATA_DIR); rates use
observed contacts only and each row says ``observed``, ``partial (k of n observed)`` or
``censored`` (no contact observed long enough: no rates).

Writes ``OUT/effects.csv`` (every row above), ``OUT/report.md`` and ``OUT/effects.png``. No
names or phone numbers are read from the score file.

On the simulator, score at a mid-history date and monitor with the same directory: the
campaigns after that date are "what was done".
"""

from __future__ import annotations

import json
import logging
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

logger = logging.getLogger(__name__)


def main(
    score_file: Annotated[
        Path, typer.Argument(help="A past `winback score` file (.csv/.parquet).")
    ],
    data_dir: Annotated[
        Path, typer.Argument(help="Contract data directory with the outreach log and visits.")
    ],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/monitor"),
    until: Annotated[
        str | None,
        typer.Option(help="Last observed day (default: the latest event date in DATA_DIR)."),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(help="params.yaml ('monitor', 'score', 'featurize' and 'report' blocks)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Effect report: win-back rate of contacted vs control customers since a score file.

    By segment and action after 30, 60 and 90 days (observed windows only), the incremental
    rate with a 95% interval, cost per recovered and per incremental customer, and which
    segments improved. Writes OUT/effects.csv, OUT/report.md and OUT/effects.png.
    """
    # the data layer, statistics and matplotlib load when the command runs, not for --help
    from features.config import FeaturizeConfig
    from features.contract import ContractError
    from features.files import read_table, write_table
    from features.reading import read_data_dir
    from models.actions import coupons_among
    from models.monitor import (
        CENSORED,
        SCORE_COLUMNS,
        MonitorConfig,
        contacts_since,
        data_end_of,
        effect_table,
        score_as_of,
    )
    from models.reporting.monitor import build_report, fmt_value, plot_effects
    from models.segments import ScoreConfig

    setup_logging(verbose)
    until_day = date_option(until, "--until")
    config = MonitorConfig.from_params(load_params("monitor", params))
    economics = ScoreConfig.from_params(load_params("score", params)).economics
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    from models.reporting.figures import check_lang

    lang = check_lang(load_params("report", params)["lang"])
    max_invalid = max_invalid_share(params)
    reading = read_settings(params)
    try:
        score = read_table(score_file)
        as_of = score_as_of(score)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {score_file}: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    score = score[[c for c in SCORE_COLUMNS if c in score.columns]]  # never name or phone
    try:
        data = read_data_dir(data_dir, None, max_invalid, reading=reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    if not data.has("outreach"):
        typer.echo(f"error: {data_dir} has no outreach log: nothing to monitor", err=True)
        raise typer.Exit(code=1)
    end = until_day if until_day is not None else data_end_of(data)
    contacts = contacts_since(score, data.tables["outreach"], as_of)
    effects = effect_table(
        contacts,
        data.service_visits,
        end,
        config,
        economics.coupon_value,
        coupons_among(sorted(contacts["action"].dropna().unique()), economics.coupon_actions),
        featurize.response_window_days,
    )
    out.mkdir(parents=True, exist_ok=True)
    write_table(effects, out / "effects.csv")
    report = build_report(
        effects, as_of, end, len(contacts), config.windows_days, config.confidence
    )
    (out / "report.md").write_text(report, encoding="utf-8")
    plot_effects(effects, out / "effects.png", lang, end)
    summary = effects[effects["level"] == "all"]
    censored = summary.loc[summary["window_status"] == CENSORED, "window_days"].tolist()
    (out / "summary.json").write_text(
        json.dumps(
            {
                "as_of": f"{as_of:%Y-%m-%d}",
                "until": f"{end:%Y-%m-%d}",
                "contacts": len(contacts),
                "censored_windows": censored,
            },
            indent=2,
        )
        + "\n"
    )
    typer.echo(
        f"{len(contacts)} customers picked since {as_of:%Y-%m-%d}, observed until {end:%Y-%m-%d}"
        + (f"; censored windows: {censored}" if censored else "")
    )
    for _, r in summary.iterrows():
        typer.echo(
            f"  {r['window_days']:>3} days ({r['window_status']}): contacted "
            f"{fmt_value(r['rate_treated'], pct=True)} vs control {fmt_value(r['rate_control'], pct=True)}"
            f", incremental {fmt_value(r['incremental'], pct=True)} "
            f"[{fmt_value(r['ci_low'], pct=True)}, {fmt_value(r['ci_high'], pct=True)}] → {r['verdict']}; "
            f"cost per recovered {fmt_value(r['cost_per_recovered'], money=True)}"
        )
    typer.echo(f"written to {out}/effects.csv, report.md, effects.png")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
