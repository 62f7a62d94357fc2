"""Stage ``report`` / ``winback report``: one self-contained report.html of a run.

Usage:
    ``winback report [--evaluate out/evaluate] [--explain out/explain] [--policy out/policy]
    [--score out/score/scores.parquet] [--monitor out/monitor] [--train out/train]
    [--data out/validate/data [--as-of DATE | --through DATE]] [--lang zh|en]
    --out out/report/report.html`` (also ``python -m pipeline.report``).

Reads whatever of the run directories it is given — each is optional, and a section without
its directory says so — and writes one HTML file that holds its styles, script, charts (PNG
data URIs) and the per-customer lookup, and opens from disk without internet
(:mod:`models.reporting.html`). Chinese by default (``report.lang``), English with
``--lang en``. From the score file only the customer id, churn risk, stage, tier, segment,
action, rank, uplift, status and reasons are read: never names, phones or plates.

With ``--data DIR`` (a data or validated-data directory) the page also has the store's weekly
KPI board (:mod:`models.kpi`) for the week ending on the as-of date T: ``--as-of`` T, or
``--through D`` for T = D + 1 (the score stage's convention), else the day after the last
service visit. Only ids, dates, amounts and codes of its tables reach the board.

With ``--train DIR`` the page is also logged into that training's MLflow run
(``DIR/run.json``) as ``report/report.html`` (``report/report_<lang>.html`` for English).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.files import atomic_write, read_table
from features.reading import read_data_dir
from models.artifacts import RUN_FILE
from models.kpi import KpiBoard
from models.reporting.html import LOOKUP_COLUMNS, LOOKUP_REASONS, ReportInputs, render_report
from models.reporting.i18n import check_language
from pipeline.common import (
    date_option,
    load_params,
    max_invalid_share,
    read_settings,
    setup_logging,
    writable_output,
)

logger = logging.getLogger(__name__)


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _pngs(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """The PNGs of ``folder`` by file stem (sorted, so the same run gives the same page)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p.read_bytes() for p in sorted(folder.glob(f"{prefix}*.png"))}


def _directory(path: Path | None, option: str) -> Path | None:
    if path is not None and not path.is_dir():
        raise FileNotFoundError(f"{option} {path}: no such directory")
    return path


def read_scores(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, bytes | None]:
    """The lookup's columns of a score file, and the matrix CSV and heatmap beside it.

    Only :data:`~models.reporting.html.LOOKUP_COLUMNS`, ``as_of`` and the reasons are kept:
    the CRM file's names and phones are dropped as it is read.
    """
    scores = read_table(path)
    # the CRM file's own Chinese labels of the action and the status, shown on a zh page
    keep = [*LOOKUP_COLUMNS, "as_of", "recommended_action_zh", "status_zh"]
    keep += [f"reason_{j}_{lang}" for j in range(1, LOOKUP_REASONS + 1) for lang in ("zh", "en")]
    scores = scores[[c for c in keep if c in scores.columns]]
    matrix_csv = path.with_name(f"{path.stem}_matrix.csv")
    matrix_png = path.with_name(f"{path.stem}_matrix.png")
    matrix = read_table(matrix_csv, text_columns=()) if matrix_csv.is_file() else None
    return scores, matrix, matrix_png.read_bytes() if matrix_png.is_file() else None


def load_inputs(
    evaluate: Path | None,
    explain: Path | None,
    policy: Path | None,
    score: Path | None,
    monitor: Path | None,
    bootstrap_level: float = 0.95,
) -> ReportInputs:
    """Read the given run directories into :class:`~models.reporting.html.ReportInputs`.

    Raises:
        FileNotFoundError: A given directory or score file does not exist.
    """
    inputs = ReportInputs(bootstrap_level=bootstrap_level)
    for path, option in ((evaluate, "--evaluate"), (explain, "--explain"), (policy, "--policy")):
        _directory(path, option)
    if evaluate is not None:
        inputs.evaluation = _json(evaluate / "metrics.json")
        inputs.evaluation_figures = _pngs(evaluate / "figures")
        inputs.sources.append("evaluate")
    if explain is not None:
        figures = explain / "figures"
        inputs.explain_figures = _pngs(figures, "shap_")
        if not inputs.evaluation_figures:
            # explain copies the evaluation figures next to its own: use them without --evaluate
            copies = _pngs(figures, "evaluation_")
            inputs.evaluation_figures = {
                k.removeprefix("evaluation_"): v for k, v in copies.items()
            }
        importance = explain / "importance.parquet"
        inputs.importance = pd.read_parquet(importance) if importance.is_file() else None
        inputs.shap_check = _json(explain / "shap_check.json")
        inputs.sources.append("explain")
    if policy is not None:
        inputs.policy = _json(policy / "metrics.json")
        inputs.policy_figures = _pngs(policy / "figures")
        inputs.sources.append("policy")
    if score is not None:
        inputs.scores, inputs.matrix, inputs.matrix_png = read_scores(score)
        inputs.sources.append("score")
    if _directory(monitor, "--monitor") is not None:
        effects = monitor / "effects.csv"
        inputs.monitor_effects = read_table(effects, text_columns=()) if effects.is_file() else None
        inputs.monitor_summary = _json(monitor / "summary.json")
        png = monitor / "effects.png"
        inputs.monitor_png = png.read_bytes() if png.is_file() else None
        inputs.sources.append("monitor")
    return inputs


#: The tables the KPI board reads (models.kpi.kpi_board).
KPI_TABLES = ("customers", "service_visits", "outreach", "leads")


def load_kpi(data: Path, as_of: pd.Timestamp | None, params: Path | None = None) -> KpiBoard:
    """The KPI board of a data directory as of T (None: the day after the last visit).

    Only the contract columns the files had are passed on, so a column a store does not
    collect shows as "not collected" rather than as blanks.

    Raises:
        ContractError: The directory breaks the data contract.
        ValueError: A ``kpi:`` setting is wrong, or there is no visit and no as-of date.
    """
    from features.config import FeaturizeConfig, config_from_params
    from models.kpi import KpiConfig, kpi_board
    from models.segments import SegmentsConfig

    config = config_from_params(KpiConfig, load_params("kpi", params), "kpi")
    segments = load_params("score", params).get("segments")
    stages = config_from_params(SegmentsConfig, segments, "score.segments").stage_bounds
    window = config_from_params(FeaturizeConfig, load_params("featurize", params), "featurize")
    # without a date: events after today are set aside (as `winback score` does)
    today = pd.Timestamp.today().normalize()
    cut = today if as_of is None else None
    dataset = read_data_dir(data, cut, max_invalid_share(params), reading=read_settings(params))
    tables = {}
    for name in KPI_TABLES:
        frame = dataset.table(name)
        if frame is not None:
            present = dataset.columns_present.get(name, tuple(frame.columns))
            tables[name] = frame[[c for c in frame.columns if c in present]]
    board = kpi_board(
        tables,
        as_of,
        config,
        stage_bounds=stages,
        response_window_days=window.response_window_days,
    )
    logger.info("KPI board of %s as of %s", data, f"{board.as_of:%Y-%m-%d}")
    return board


def log_to_run(train: Path, report: Path, lang: str) -> str | None:
    """Log ``report`` into the training's MLflow run (``TRAIN/run.json``), if one is recorded.

    Returns:
        The run id, or None without a ``run.json``.
    """
    run_file = train / RUN_FILE
    if not run_file.is_file():
        logger.info("no %s: report not logged to MLflow", run_file)
        return None
    import mlflow

    from models import tracking

    name = "report.html" if lang == "zh" else f"report_{lang}.html"
    with tracking.resume_run(run_file) as run:
        if report.name == name:
            mlflow.log_artifact(str(report), artifact_path="report")
        else:
            mlflow.log_text(report.read_text(encoding="utf-8"), f"report/{name}")
        run_id = run.info.run_id
    logger.info("logged %s into MLflow run %s", name, run_id)
    return run_id


def _kpi_as_of(as_of: str | None, through: str | None) -> pd.Timestamp | None:
    """T of ``--as-of`` / ``--through`` (``--through D`` is ``--as-of D+1``); None: from data."""
    if as_of is not None and through is not None:
        typer.echo("error: give --as-of DATE or --through DATE, not both", err=True)
        raise typer.Exit(code=1)
    last = date_option(through, "--through")
    return date_option(as_of, "--as-of") if last is None else last + pd.Timedelta(days=1)


def report_run(
    base: Path, lang: str = "zh", out: Path | None = None, through: str | None = None
) -> Path:
    """The report of a run laid out as ``winback train`` / ``demo`` write it (BASE/<stage>/).

    Reads whichever of BASE/evaluate, explain, policy, score/scores.csv (or .parquet) and
    monitor exist, and the KPI board of BASE/validate/data or else BASE/simulate (the week
    through ``through``, else to the last visit); logs the page into BASE/train's MLflow run
    when it has one, and writes BASE/report/report.html (``report_<lang>.html`` for another
    language than Chinese).

    Returns:
        The file written.
    """
    dirs = {name: base / name for name in ("evaluate", "explain", "policy", "monitor")}
    found = {k: v if v.is_dir() else None for k, v in dirs.items()}
    scores = [base / "score" / f"scores{s}" for s in (".csv", ".parquet")]
    target = out or base / "report" / ("report.html" if lang == "zh" else f"report_{lang}.html")
    main(
        out=target,
        score=next((p for p in scores if p.is_file()), None),
        train=base / "train" if (base / "train" / RUN_FILE).is_file() else None,
        data=next((d for d in (base / "validate" / "data", base / "simulate") if d.is_dir()), None),
        through=through,
        lang=lang,
        **found,
    )
    return target


def main(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path(
        "out/report/report.html"
    ),
    evaluate: Annotated[
        Path | None, typer.Option(help="The evaluate stage's output (metrics.json, figures/).")
    ] = None,
    explain: Annotated[
        Path | None, typer.Option(help="The explain stage's output (importance, figures/).")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="The policy stage's output (metrics.json, figures/).")
    ] = None,
    score: Annotated[
        Path | None, typer.Option(help="A `winback score` file (.csv/.parquet) and its matrix.")
    ] = None,
    monitor: Annotated[
        Path | None, typer.Option(help="A `winback monitor` output (effects.csv, ...).")
    ] = None,
    train: Annotated[
        Path | None, typer.Option(help="A train output: log the page into its MLflow run.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="A (validated-)data directory: the store's weekly KPI board."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The KPI board's as-of date T (this week = the 7 days before it); default: "
            "the day after the last service visit.",
        ),
    ] = None,
    through: Annotated[
        str | None,
        typer.Option(help="Instead of --as-of: the board's last day (T = the day after)."),
    ] = None,
    lang: Annotated[
        str | None, typer.Option(help="zh (Chinese, the default: report.lang) or en.")
    ] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml ('report', 'evaluate', 'kpi' blocks).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Write one self-contained report.html: verdict, KPI board, charts, lookup, matrix, policy.

    Every directory is optional; a section whose directory is not given says so. The page
    opens from disk without internet; Chinese by default, English with --lang en.
    """
    setup_logging(verbose)
    language = check_language(lang or load_params("report", params).get("lang", "zh"))
    level = float(load_params("evaluate", params).get("bootstrap_level", 0.95))
    when = _kpi_as_of(as_of, through)
    writable_output(out)
    inputs = load_inputs(evaluate, explain, policy, score, monitor, level)
    if _directory(data, "--data") is not None:
        inputs.kpi = load_kpi(data, when, params)
        inputs.kpi_top = int(load_params("kpi", params).get("top_people", 10))
        inputs.sources.append("data")
    page = render_report(inputs, language)
    atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    if train is not None:
        log_to_run(train, out, language)
    shown = ", ".join(inputs.sources) or "no run directory"
    typer.echo(f"report ({language}) from {shown}: {out} ({len(page.encode()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
