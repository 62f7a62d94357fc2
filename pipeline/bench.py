"""``winback bench``: how far one machine goes — simulate, featurize, train, score, explain.

Not a test and not a DVC stage: a measurement that prints figures. For every size it
simulates a dealership (cached under ``--work``), then measures separately, each stage in its
own child process so that peak memory (``ru_maxrss``) belongs to that stage alone:

* **features** — read and validate the data directory, then ``build_features`` as of the
  simulation's last day (the two parts are also timed separately);
* **train** — ``featurize`` + ``train`` on a separate, smaller simulation (a sample: training
  does not need every customer, and the model is reused for every size);
* **score** — batch scoring end to end: read and validate, features, churn risk, win-back
  uplift, segments and policy, top-3 reasons (fast exact TreeSHAP), the CRM export file and the
  value × stage matrix (:mod:`pipeline.score`); features and reasons are also timed apart;
* **shap** — on the same rows: the fast exact TreeSHAP (:mod:`models.treeshap`, what scoring
  uses) vs LightGBM's native ``pred_contrib`` vs ``shap.TreeExplainer``.

Writes ``OUT/bench.json``, ``OUT/bench.md`` (the table the README shows) and
``OUT/scaling.png`` (time vs customers), and records the machine and its load average: other
work on the machine slows every figure down.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from models.artifacts import TRAINING_FILE
from models.reporting.markdown import md_table
from pipeline.common import date_option, load_params, setup_logging

logger = logging.getLogger(__name__)

RESULT_PREFIX = "BENCH_RESULT "
GOAL_SCORE_SECONDS = 120.0
GOAL_SCORE_GIB = 8.0
GOAL_SCORE_CUSTOMERS = 1_000_000


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _events(data_dir: Path) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.ParquetFile(p).metadata.num_rows
        for p in sorted(Path(data_dir).glob("*.parquet"))
        if p.stem != "customers"
    )


# --- stages (each runs in a child process) ---------------------------------------------------


def stage_simulate(customers: int, years: int, seed: int, out: str) -> dict[str, Any]:
    """Simulate ``customers`` into ``out`` (the ``simulate`` stage's own code)."""
    from pipeline import simulate

    t0 = time.perf_counter()
    simulate.main(customers=customers, years=years, seed=seed, out=Path(out))
    return {"seconds": time.perf_counter() - t0, "events": _events(Path(out))}


def stage_features(data_dir: str, as_of: str, engine: str = "pandas") -> dict[str, Any]:
    """Read + validate, then build one feature row per customer."""
    from features.build import build_features
    from features.config import FeaturizeConfig
    from features.reading import read_data_dir

    cfg = FeaturizeConfig.from_params(load_params("featurize", None))
    t0 = time.perf_counter()
    if engine == "dask":
        from models.engine import build_features_dask, dask_client

        with dask_client() as client:
            t1 = time.perf_counter()
            feats = build_features_dask(data_dir, as_of, cfg, client)
            t2 = time.perf_counter()
        return {
            "seconds": t2 - t0,
            "cluster_start_seconds": t1 - t0,
            "customers": len(feats),
            "note": "peak memory is the client's; workers are separate processes",
        }
    data = read_data_dir(data_dir)
    t1 = time.perf_counter()
    feats = build_features(data, as_of, cfg)
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "read_validate_seconds": t1 - t0,
        "build_seconds": t2 - t1,
        "customers": len(feats),
    }


def stage_train(data_dir: str, out: str) -> dict[str, Any]:
    """featurize + train (churn and uplift models) into ``out``."""
    import pandas as pd

    from pipeline import featurize
    from pipeline import train as train_stage

    t0 = time.perf_counter()
    featurize.main(data_dir=Path(data_dir), out=Path(out) / "featurize")
    t1 = time.perf_counter()
    train_stage.main(data_dir=Path(out) / "featurize", out=Path(out) / "train")
    t2 = time.perf_counter()
    rows = len(pd.read_parquet(Path(out) / "featurize" / TRAINING_FILE, columns=["churn"]))
    return {
        "seconds": t2 - t0,
        "featurize_seconds": t1 - t0,
        "train_seconds": t2 - t1,
        "training_rows": rows,
    }


def stage_score(data_dir: str, as_of: str, model: str, out: str) -> dict[str, Any]:
    """Batch scoring end to end, as ``winback score`` does it, with its parts timed."""
    import models.scoring as score_module
    from features.config import FeaturizeConfig
    from features.files import write_table
    from features.reading import read_data_dir
    from models.scoring import load_models, score_customers, value_stage_matrix
    from models.segments import ScoreConfig
    from pipeline.score import side_files

    featurize = FeaturizeConfig.from_params(load_params("featurize", None))
    config = ScoreConfig.from_params(load_params("score", None))
    # Time the parts of score_customers by wrapping what it calls (this child process only).
    parts = {"features_seconds": 0.0, "reasons_seconds": 0.0}

    def timed(fn, key):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[key] += time.perf_counter() - t

        return wrapper

    score_module.build_features = timed(score_module.build_features, "features_seconds")
    score_module._contributions = timed(score_module._contributions, "reasons_seconds")
    score_module.top_reasons = timed(score_module.top_reasons, "reasons_seconds")
    t0 = time.perf_counter()
    models = load_models(model)
    data = read_data_dir(data_dir)
    t1 = time.perf_counter()
    result = score_customers(data, as_of, models, featurize, config, None)
    t2 = time.perf_counter()
    del data
    write_table(result.scores, Path(out))
    write_table(value_stage_matrix(result.scores), side_files(Path(out))[0])
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "read_validate_seconds": t1 - t0,
        "score_seconds": t2 - t1,
        **parts,
        "export_seconds": t3 - t2,
        "customers": len(result.scores),
        "scored": int((result.scores["status"] != "no_history").sum()),
    }


def stage_shap(data_dir: str, as_of: str, model: str, rows: int) -> dict[str, Any]:
    """Fast TreeSHAP vs native ``pred_contrib`` vs ``shap.TreeExplainer`` on ``rows`` customers."""
    import numpy as np

    from features.build import build_features
    from features.config import FeaturizeConfig
    from features.reading import read_data_dir
    from models.explain import import_shap
    from models.scoring import load_models

    churn = load_models(model).churn
    feats = build_features(read_data_dir(data_dir), as_of, FeaturizeConfig())
    sample = feats.sample(n=min(rows, len(feats)), random_state=0)
    churn.contributions(sample.head(2))  # parse the booster and load the compiled kernel
    t0 = time.perf_counter()
    native = churn.contributions(sample, engine="lightgbm").to_numpy()
    t1 = time.perf_counter()
    fast = churn.contributions(sample).to_numpy()
    t2 = time.perf_counter()
    shap = import_shap()
    frame = churn.frame(sample)
    t3 = time.perf_counter()
    values = shap.TreeExplainer(churn.booster).shap_values(frame)
    t4 = time.perf_counter()
    values = np.asarray(values[-1] if isinstance(values, list) else values, dtype="float64")
    if values.ndim == 3:
        values = values[..., -1]
    n = len(churn.features)
    return {
        "rows": len(sample),
        "native_seconds": t1 - t0,
        "fast_seconds": t2 - t1,
        "treeexplainer_seconds": t4 - t3,
        "max_abs_diff": float(np.max(np.abs(native[:, :n] - values))) if len(sample) else 0.0,
        # every column, the bias included
        "fast_max_abs_diff": float(np.max(np.abs(fast - native))) if len(sample) else 0.0,
    }


STAGES = {
    "simulate": stage_simulate,
    "features": stage_features,
    "train": stage_train,
    "score": stage_score,
    "shap": stage_shap,
}


def run_stage(name: str, env: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run one stage in a child process; its result plus wall time and peak memory (GiB)."""
    cmd = [sys.executable, "-m", "pipeline.bench", "--stage", name, "--args", json.dumps(kwargs)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[1],
    )
    wall = time.perf_counter() - t0
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"bench stage {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["process_seconds"] = wall
    return result


def _child(stage: str, args: str) -> None:
    result = STAGES[stage](**json.loads(args))
    result["peak_rss_gib"] = peak_rss_gib()
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")


# --- report ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine the figures come from, and how busy it was (1/5/15-minute load)."""
    mem = 0.0
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem = int(fh.readline().split()[1]) / 2**20
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def markdown(report: dict[str, Any]) -> str:
    """The benchmark as a Markdown page: machine, one table of stages, goals, SHAP timing."""
    m = report["machine"]
    lines = [
        "# winback benchmark",
        "",
        f"Machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['platform']}, Python "
        f"{m['python']}. Load average (1/5/15 min) at start {m['load_average']}, at end "
        f"{report.get('load_average_end')}; other work on the machine slows every figure.",
        "",
        "| customers | events | stage | wall s | customers/s | peak GiB | detail |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        n = row["customers"]
        secs = row["seconds"]
        detail = ", ".join(
            f"{k.removesuffix('_seconds')} {v:.1f} s"
            for k, v in row.items()
            if k.endswith("_seconds") and k not in ("process_seconds",)
        )
        lines.append(
            f"| {_fmt(n)} | {_fmt(row.get('events'))} | {row['stage']} | {_fmt(secs)} | "
            f"{_fmt(n / secs if secs else None, 0)} | {_fmt(row.get('peak_rss_gib'), 2)} | "
            f"{detail} |"
        )
    lines += ["", "## Goals", ""]
    for goal in report["goals"]:
        lines.append(f"- {'met' if goal['met'] else 'NOT met'}: {goal['text']}")
    shap_row = report.get("shap")
    if shap_row:
        lines += [
            "",
            "## SHAP engines on the same rows",
            "",
            f"On the same {shap_row['rows']:,} rows: LightGBM `pred_contrib` "
            f"{shap_row['native_seconds']:.2f} s, `shap.TreeExplainer` "
            f"{shap_row['treeexplainer_seconds']:.2f} s, max |difference| "
            f"{shap_row['max_abs_diff']:.2e}."
            + (
                f" The fast exact TreeSHAP used for scoring (`models.treeshap`): "
                f"{shap_row['fast_seconds']:.2f} s, max |difference| from `pred_contrib` "
                f"{shap_row['fast_max_abs_diff']:.2e} (bias column included)."
                if "fast_seconds" in shap_row
                else ""
            ),
        ]
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scale goals, checked on the measured rows (only for sizes that were run)."""
    out = []
    for row in rows:
        if row["stage"] == "score" and row["customers"] >= GOAL_SCORE_CUSTOMERS:
            out.append(
                {
                    "text": f"scoring {row['customers']:,} customers end to end in "
                    f"{row['seconds']:.1f} s (goal <= {GOAL_SCORE_SECONDS:.0f} s) with peak "
                    f"{row['peak_rss_gib']:.2f} GiB (goal <= {GOAL_SCORE_GIB:.0f} GiB)",
                    "met": row["seconds"] <= GOAL_SCORE_SECONDS
                    and row["peak_rss_gib"] <= GOAL_SCORE_GIB,
                }
            )
    feats = sorted(
        (r for r in rows if r["stage"] == "features" and r.get("build_seconds")),
        key=lambda r: r["events"],
    )
    for a, b in zip(feats, feats[1:], strict=False):
        if b["events"] <= a["events"]:
            continue
        growth = b["events"] / a["events"]
        ratio = b["seconds"] / a["seconds"]
        out.append(
            {
                "text": f"feature building {a['customers']:,} -> {b['customers']:,} customers: "
                f"events x{growth:.2f}, time x{ratio:.2f} (goal: time grows no faster than "
                "events)",
                "met": ratio <= growth * 1.1,  # 10% for timer noise
            }
        )
    return out


# --- the benchmark ---------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError as exc:
        raise typer.BadParameter(f"sizes must be integers separated by commas: {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"sizes must be positive: {text!r}")
    return sizes


def run(
    work: Path,
    out: Path,
    sizes: list[int],
    curve: list[int],
    train_customers: int,
    years: int,
    seed: int,
    shap_rows: int,
    command: str,
    model_dir: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Run the benchmark; returns the report written to ``out``.

    Args:
        work: Cache directory (simulations, the trained model, MLflow store).
        out: Report directory.
        sizes: Headline sizes (customers).
        curve: More sizes for the scaling curve.
        train_customers: Size of the simulation the model is trained on.
        years: Simulated years.
        seed: Simulation seed.
        shap_rows: Rows of the native vs shap.TreeExplainer timing.
        command: The command line, for the report.
        model_dir: A trained model directory to use instead of training one.
        fresh: Measure every stage again instead of reusing WORK/results.
    """
    from tqdm import tqdm

    from models.reporting.bench import plot_scaling

    work.mkdir(parents=True, exist_ok=True)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{(work / 'mlflow.db').resolve()}"}
    # The simulator's last day, as the DVC score stage uses it (features: events before it).
    end = load_params("simulate", None).get("end_date", "2026-09-30")
    as_of = f"{date_option(end, 'simulate.end_date'):%Y-%m-%d}"
    report: dict[str, Any] = {"machine": machine(), "as_of": as_of, "command": command}
    rows: list[dict[str, Any]] = []
    all_sizes = sorted(set(sizes) | set(curve))

    sims: dict[int, dict[str, Any]] = {}

    def sim_dir(n: int) -> Path:
        d = work / f"sim-{n}-y{years}-s{seed}"
        record = d / "bench_simulate.json"
        if not record.is_file():
            logger.info("simulating %d customers into %s", n, d)
            res = run_stage(
                "simulate", env, customers=n, years=years, seed=seed, out=str(d.resolve())
            )
            record.write_text(json.dumps(res, indent=2) + "\n")
        # a cached simulation reports the figures of the run that made it
        sims.setdefault(n, {"stage": "simulate", "customers": n, **json.loads(record.read_text())})
        return d

    if model_dir is None:
        train_dir = work / f"train-{train_customers}-y{years}-s{seed}"
        train_record = train_dir / "bench_train.json"
        if not train_record.is_file():
            res = run_stage(
                "train", env, data_dir=str(sim_dir(train_customers).resolve()), out=str(train_dir)
            )
            train_record.write_text(json.dumps(res, indent=2) + "\n")
        train = json.loads(train_record.read_text())
        rows.append({"stage": "train", "customers": train_customers, **train})
        model = str((train_dir / "train").resolve())
    else:
        model = str(Path(model_dir).resolve())
    report["model"] = model

    def measured(stage: str, n: int, **kwargs: Any) -> dict[str, Any]:
        # Results are kept under WORK/results: an interrupted benchmark resumes where it
        # stopped; --fresh measures everything again.
        path = work / "results" / f"{stage}-{n}.json"
        if fresh or not path.is_file():
            res = run_stage(stage, env, **kwargs)
            res["load_average"] = [round(x, 2) for x in os.getloadavg()]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=2) + "\n")
        return json.loads(path.read_text())

    def write_report() -> None:
        rows_all = [sims[n] for n in sorted(sims)] + sorted(
            rows, key=lambda r: (r["stage"] != "train", r["customers"], r["stage"])
        )
        report["rows"] = rows_all
        report["goals"] = goals(rows_all)
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (out / "bench.md").write_text(markdown(report), encoding="utf-8")
        from models.reporting.figures import check_lang

        plot_scaling(rows_all, out / "scaling.png", check_lang(load_params("report", None)["lang"]))

    # Largest first: the headline figures are there even if the run is cut short.
    for n in tqdm(all_sizes[::-1], desc="bench", unit="size", disable=None):
        d = sim_dir(n).resolve()
        events = int(sims[n]["events"])
        res = measured("features", n, data_dir=str(d), as_of=as_of)
        rows.append({"stage": "features", "customers": n, "events": events, **res})
        logger.info("features %d: %.1f s, %.2f GiB", n, res["seconds"], res["peak_rss_gib"])
        res = measured(
            "score", n, data_dir=str(d), as_of=as_of, model=model, out=str(work / "score.parquet")
        )
        rows.append({"stage": "score", "customers": n, "events": events, **res})
        logger.info("score %d: %.1f s, %.2f GiB", n, res["seconds"], res["peak_rss_gib"])
        write_report()
    shap_size = min(all_sizes)
    report["shap"] = measured(
        "shap",
        shap_size,
        data_dir=str(sim_dir(shap_size).resolve()),
        as_of=as_of,
        model=model,
        rows=shap_rows,
    )
    write_report()
    return report


#: The --help runs ``winback bench --startup`` times: the group and a few stages.
STARTUP_COMMANDS = ((), ("validate",), ("score",), ("leads", "run"), ("explain",))


def startup_seconds(args: tuple[str, ...], repeats: int = 5) -> tuple[float, float]:
    """Median wall and CPU time of ``python -m pipeline.cli ARGS --help`` in fresh interpreters.

    The CPU time (user + system of the child) hardly moves with the machine's load; the wall
    time does, so both are given.

    Args:
        args: The subcommand words (empty: ``winback --help``).
        repeats: Interpreters started; the median of their times is returned.

    Returns:
        ``(wall seconds, CPU seconds)``, each the median of the runs.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *args, "--help"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return sorted(wall)[repeats // 2], sorted(cpu)[repeats // 2]


def startup_table(repeats: int = 5) -> str:
    """``winback bench --startup``: the median --help times of each of STARTUP_COMMANDS."""
    rows = []
    for args in STARTUP_COMMANDS:
        wall, cpu = startup_seconds(args, repeats)
        rows.append([" ".join(("winback", *args, "--help")), f"{wall:.2f}", f"{cpu:.2f}"])
    table = md_table(["command", "wall s (median)", "CPU s (median)"], rows)
    load = os.getloadavg()[0]
    return "\n".join([*table, "", f"{repeats} runs each; load average {load:.1f}"])


def main(
    work: Annotated[
        Path, typer.Option(help="Cache of simulations and the trained model (reused).")
    ] = Path("out/bench/work"),
    out: Annotated[Path, typer.Option(help="Where bench.json, bench.md, scaling.png go.")] = Path(
        "out/bench"
    ),
    sizes: Annotated[
        str, typer.Option(help="Headline sizes (customers, comma-separated).")
    ] = "100000,1000000",
    curve: Annotated[
        str, typer.Option(help="Extra sizes for the scaling curve (comma-separated).")
    ] = "25000,50000,200000",
    train_customers: Annotated[
        int, typer.Option(help="Customers of the training sample (its own simulation).")
    ] = 20000,
    years: Annotated[int, typer.Option(help="Simulated years.")] = 3,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 42,
    shap_rows: Annotated[
        int, typer.Option(help="Rows for pred_contrib vs shap.TreeExplainer.")
    ] = 2000,
    model: Annotated[
        Path | None,
        typer.Option(help="A `winback train` output directory to score with (skips training)."),
    ] = None,
    fresh: Annotated[
        bool, typer.Option(help="Measure again instead of reusing WORK/results.")
    ] = False,
    startup: Annotated[
        bool,
        typer.Option(help="Only time `winback [COMMAND] --help` (median of 5 runs) and stop."),
    ] = False,
    stage: Annotated[str | None, typer.Option(hidden=True)] = None,
    args: Annotated[str, typer.Option(hidden=True)] = "{}",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Benchmark simulate, features, train, score and SHAP at growing sizes; write the report.

    Each stage runs in its own process (peak memory per stage). Simulations and the model are
    cached under WORK; run on a quiet machine for representative figures (the load average
    is recorded with them).
    """
    setup_logging(verbose)
    if stage is not None:
        _child(stage, args)
        return
    if startup:
        typer.echo(startup_table())
        return
    # argv is [winback, bench, ...] from the CLI, [.../pipeline/bench.py, ...] as a module
    args = sys.argv[1:]
    if args[:1] == ["bench"]:
        args = args[1:]
    command = "winback bench " + " ".join(args)
    report = run(
        work,
        out,
        _sizes(sizes),
        _sizes(curve) if curve else [],
        train_customers,
        years,
        seed,
        shap_rows,
        command,
        model,
        fresh,
    )
    typer.echo(markdown(report))
    typer.echo(f"written to {out}/bench.json, bench.md, scaling.png")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
