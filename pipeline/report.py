"""Stage ``report`` / ``winback report``: one self-contained report.html of a run.

Usage:
    ``winback report [--evaluate out/evaluate] [--explain out/explain] [--policy out/policy]
    [--score out/score/scores.parquet] [--monitor out/monitor] [--train out/train]
    [--lang zh|en] --out out/report/report.html`` (also ``python -m pipeline.report``).

Reads whatever of the run directories it is given — each is optional, and a section without
its directory says so — and writes one HTML file that holds its styles, script, charts (PNG
data URIs) and the per-customer lookup, and opens from disk without internet
(:mod:`models.reporting.html`). Chinese by default (``report.lang``), English with
``--lang en``. From the score file only the customer id, churn risk, stage, tier, segment,
action, rank, uplift, status and reasons are read: never names, phones or plates.

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
from models.artifacts import RUN_FILE
from models.reporting.html import LOOKUP_COLUMNS, LOOKUP_REASONS, ReportInputs, render_report
from models.reporting.i18n import check_language
from pipeline.common import load_params, setup_logging, writable_output

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


def report_run(base: Path, lang: str = "zh", out: Path | None = None) -> Path:
    """The report of a run laid out as ``winback train`` / ``demo`` write it (BASE/<stage>/).

    Reads whichever of BASE/evaluate, explain, policy, score/scores.csv (or .parquet) and
    monitor exist, logs the page into BASE/train's MLflow run when it has one, and writes
    BASE/report/report.html (``report_<lang>.html`` for another language than Chinese).

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
    lang: Annotated[
        str | None, typer.Option(help="zh (Chinese, the default: report.lang) or en.")
    ] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml ('report' and 'evaluate' blocks).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Write one self-contained report.html: verdict, charts, lookup, matrix, policy, monitor.

    Every directory is optional; a section whose directory is not given says so. The page
    opens from disk without internet; Chinese by default, English with --lang en.
    """
    setup_logging(verbose)
    language = check_language(lang or load_params("report", params).get("lang", "zh"))
    level = float(load_params("evaluate", params).get("bootstrap_level", 0.95))
    writable_output(out)
    inputs = load_inputs(evaluate, explain, policy, score, monitor, level)
    page = render_report(inputs, language)
    atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    if train is not None:
        log_to_run(train, out, language)
    shown = ", ".join(inputs.sources) or "no run directory"
    typer.echo(f"report ({language}) from {shown}: {out} ({len(page.encode()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
