"""The uplift model selection protocol of docs/uplift.md: rolling validation windows.

Not a DVC stage: a re-runnable runner used to choose ``train.recovery`` **before** looking at
the test slice. The official recovery split (``train.recovery.split``) fixes the first test
month; the validation windows end ``gap_months`` whole months before it (so every window's
60-day response labels are observed before the test period starts) and step back
``window_months`` at a time. For each window the contacts up to its end are split with the
recovery split of ``models/split.py`` (``test_periods = window_months``), every candidate
learner is trained on the part before the window and the window's contacts are ranked by it,
by the playbook scorecard, by the scorecard with customers reported gone (an earlier contact
said the car was sold or the owner moved) moved to the bottom, and by the churn risk of the
train stage's churn model (trained on all snapshots before its own test slice: in-sample
for the early windows, which can only flatter that baseline).

Usage::

    python -m pipeline.uplift_windows out/featurize --out out/uplift_windows --params params.yaml

Writes ``OUT/windows.csv`` (one row per window and ranking), ``OUT/summary.csv`` and
``OUT/summary.json`` (mean Qini over the windows, per-window Qini and a bootstrap interval of
the mean difference to the scorecard) and logs the summary as a Markdown table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from features.config import FeaturizeConfig
from features.dictionary import FEATURES
from models import evaluate_recovery as ev
from models.artifacts import RECOVERY_FILE, TRAINING_FILE
from models.churn import train_churn
from models.metrics import qini_coefficient
from models.recovery import DATE_COL, labelled_rows, train_recovery
from models.split import time_split
from models.training import TrainConfig
from pipeline.common import load_params, setup_logging

logger = logging.getLogger(__name__)

#: The contact-outcome features (features/dictionary.py, family ``contactability``).
CONTACTABILITY = tuple(f.name for f in FEATURES if f.family == "contactability")
GONE = ev.GONE_FLAG


@dataclass(frozen=True)
class Candidate:
    """One uplift configuration to compare.

    Attributes:
        name: Label in the tables.
        learner: Meta-learner (``models.recovery.LEARNERS``).
        exclude: Features left out (replaces ``train.recovery.exclude``).
        no_effect_flags: Flags whose value 1 sets the uplift to 0
            (``train.recovery.no_effect_flags``); a candidate that differs from another only
            here reuses its trained model.
    """

    name: str
    learner: str
    exclude: tuple[str, ...]
    no_effect_flags: tuple[str, ...] = ()


def default_candidates(base_exclude: list[str] | tuple[str, ...], learner: str) -> list[Candidate]:
    """The learner without, with all, and with only ``reported_gone`` of the outcome features,
    and without them but with uplift 0 for customers reported gone.

    Args:
        base_exclude: ``train.recovery.exclude`` (contact-outcome features in it are ignored).
        learner: ``train.recovery.learner``.

    Returns:
        The candidates, in table order.
    """
    rest = tuple(f for f in base_exclude if f not in CONTACTABILITY)
    others = tuple(f for f in CONTACTABILITY if f != GONE)
    return [
        Candidate(f"{learner}, without contact outcomes", learner, rest + CONTACTABILITY),
        Candidate(f"{learner} + contact outcomes", learner, rest),
        Candidate(f"{learner} + reported_gone only", learner, rest + others),
        Candidate(
            f"{learner}, without, uplift 0 if reported gone",
            learner,
            rest + CONTACTABILITY,
            (GONE,),
        ),
    ]


def window_ends(
    months: pd.DatetimeIndex,
    test_start: pd.Timestamp,
    n_windows: int,
    window_months: int,
    gap_months: int,
) -> list[pd.Timestamp]:
    """Last month (start date) of each validation window, earliest first.

    Args:
        months: Month starts that hold contacts.
        test_start: First contact date of the official test slice.
        n_windows: Number of windows.
        window_months: Months per window.
        gap_months: Whole months between the last window and the test's first month.

    Returns:
        Month start dates.

    Raises:
        ValueError: The data do not reach back far enough.
    """
    first = pd.Timestamp(test_start).to_period("M")
    ends = [(first - (gap_months + 1) - window_months * k).start_time for k in range(n_windows)][
        ::-1
    ]
    if ends[0] - pd.DateOffset(months=window_months) < months.min():
        raise ValueError(
            f"the contacts start {months.min().date()}: too late for {n_windows} windows"
        )
    return [pd.Timestamp(e) for e in ends]


def rankings(frame: pd.DataFrame, candidate: str) -> dict[str, np.ndarray]:
    """The rankings of one window's rows (``frame`` from :func:`models.evaluate_recovery.recovery_frame`)."""
    return {
        candidate: frame[ev.UPLIFT_MODEL].to_numpy(),
        ev.SCORECARD: frame[ev.SCORECARD].to_numpy(),
        ev.SCORECARD_EXCLUSION: frame[ev.SCORECARD_EXCLUSION].to_numpy(),
        ev.CHURN_RISK: frame[ev.CHURN_RISK].to_numpy(),
    }


def run_windows(
    training: pd.DataFrame,
    recovery: pd.DataFrame,
    config: TrainConfig,
    featurize: FeaturizeConfig,
    candidates: list[Candidate],
    n_windows: int = 3,
    window_months: int = 4,
    gap_months: int = 2,
    rounds: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every candidate and baseline on every validation window.

    Args:
        training: The featurize stage's training table (for the churn-risk baseline).
        recovery: Its recovery table.
        config: The train settings (recovery split, model and churn settings).
        featurize: Featurize settings (scorecard, label horizon).
        candidates: Configurations to compare.
        n_windows: Number of windows.
        window_months: Months per window.
        gap_months: Months between the last window and the official test slice.
        rounds: Bootstrap draws of the mean difference to the scorecard.
        seed: Bootstrap seed.

    Returns:
        ``(per_window, summary)``: one row per window and ranking (``qini``, rows, dates),
        and one row per ranking with the mean Qini, per-window Qini and the bootstrap
        interval of the mean ``Qini - Qini(scorecard)``.
    """
    rows = labelled_rows(recovery)
    month = pd.to_datetime(rows[DATE_COL]).dt.to_period("M").dt.start_time
    official = time_split(rows, DATE_COL, config.recovery.split)
    ends = window_ends(
        pd.DatetimeIndex(month.unique()),
        pd.Timestamp(official.boundaries["test_start"]),
        n_windows,
        window_months,
        gap_months,
    )
    wsplit = replace(config.recovery.split, test_periods=window_months)
    # Churn-risk baseline: the train stage's churn model (same data and settings). The first
    # snapshots come a year into the data, too late for a churn model whose 180-day labels
    # end before the first window, so this baseline has seen snapshots overlapping the
    # windows: if anything it flatters the baseline, never the candidates.
    churn, _ = train_churn(training, config.churn)
    records: list[dict[str, Any]] = []
    draws: dict[str, list[np.ndarray]] = {}
    for w, end in enumerate(ends, start=1):
        table = rows.loc[(month <= end).to_numpy()]
        split = time_split(table, DATE_COL, wsplit)
        test = split.test
        churn_p = churn.predict_proba(test)
        trained: dict[tuple[str, tuple[str, ...]], tuple[Any, dict[str, Any]]] = {}
        for cand in candidates:
            key = (cand.learner, tuple(cand.exclude))
            if key not in trained:
                cfg = replace(config.recovery, exclude=tuple(cand.exclude))
                trained[key] = train_recovery(table, cfg, cand.learner, split=split)
            model, info = trained[key]
            # the same trained model, with this candidate's rule (UpliftModel.predict applies it)
            flags = list(cand.no_effect_flags)
            variant = replace(model, meta={**model.meta, "no_effect_flags": flags})
            pred = variant.predict(test)
            frame = ev.recovery_frame(test, pred, churn_p, model.action_shares, featurize)
            y, t = frame["recovered"].to_numpy(), frame["treatment"].to_numpy()
            scores = rankings(frame, cand.name)
            if cand is not candidates[0]:  # baselines once per window
                scores = {cand.name: scores[cand.name]}
            for name, s in scores.items():
                records.append(
                    {
                        "window": w,
                        "test_start": split.boundaries["test_start"],
                        "test_end": split.boundaries["test_end"],
                        "train_rows": len(split.train),
                        "rows": len(frame),
                        "control_rows": int((t == 0).sum()),
                        "ranking": name,
                        "n_features": info["n_features"] if name == cand.name else np.nan,
                        "qini": qini_coefficient(y, t, s),
                    }
                )
                if name != ev.SCORECARD:
                    sc = frame[ev.SCORECARD].to_numpy()
                    _, d = ev.qini_difference_draws(y, t, s, sc, rounds, seed + w)
                    draws.setdefault(name, []).append(d)
            logger.info("window %d (%s..): %s", w, split.boundaries["test_start"], records[-1])
    per_window = pd.DataFrame(records)
    summary = _summary(per_window, draws)
    return per_window, summary


def _summary(per_window: pd.DataFrame, draws: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    wide = per_window.pivot(index="ranking", columns="window", values="qini")
    order = list(dict.fromkeys(per_window["ranking"]))
    sc = wide.loc[ev.SCORECARD]
    out = []
    for name in order:
        q = wide.loc[name]
        row: dict[str, Any] = {
            "ranking": name,
            "mean_qini": float(q.mean()),
            "per_window": " / ".join(f"{v:.4f}" for v in q),
            "mean_minus_scorecard": float((q - sc).mean()),
        }
        if name in draws:
            mean_draws = np.mean(np.vstack(draws[name]), axis=0)
            row["ci_low"], row["ci_high"] = (
                float(v) for v in np.percentile(mean_draws, [2.5, 97.5])
            )
        out.append(row)
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (as pasted into docs/uplift.md)."""
    lines = [
        "| ranking | mean Qini | per window | mean − scorecard [95% CI of the mean] |",
        "|---|---|---|---|",
    ]
    for r in summary.itertuples():
        ci = (
            "" if pd.isna(getattr(r, "ci_low", np.nan)) else f" [{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
        )
        lines.append(
            f"| {r.ranking} | {r.mean_qini:.4f} | {r.per_window} | {r.mean_minus_scorecard:+.4f}{ci} |"
        )
    return "\n".join(lines)


def main(
    data_dir: Annotated[Path, typer.Argument(help="Featurize output (training/recovery.parquet).")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/uplift_windows"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml ('train', 'featurize' blocks).")
    ] = None,
    windows: Annotated[int, typer.Option(help="Number of validation windows.")] = 3,
    window_months: Annotated[int, typer.Option(help="Contact months per window.")] = 4,
    gap_months: Annotated[
        int, typer.Option(help="Whole months between the last window and the test slice.")
    ] = 2,
    rounds: Annotated[int, typer.Option(help="Bootstrap draws (0: none).")] = 1000,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Compare uplift candidates and baselines on rolling validation windows before the test.

    Candidates: ``train.recovery``'s learner without, with all, and with only
    ``reported_gone`` of the contact-outcome features, and without them but with uplift 0
    for customers reported gone; baselines: scorecard, scorecard with
    reported-gone customers last, churn risk. Never reads the test slice's labels.
    """
    setup_logging(verbose)
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    config = TrainConfig.from_params(load_params("train", params), featurize)
    training = pd.read_parquet(data_dir / TRAINING_FILE)
    recovery = pd.read_parquet(data_dir / RECOVERY_FILE)
    candidates = default_candidates(config.recovery.exclude, config.learner)
    per_window, summary = run_windows(
        training,
        recovery,
        config,
        featurize,
        candidates,
        windows,
        window_months,
        gap_months,
        max(rounds, 1),
    )
    out.mkdir(parents=True, exist_ok=True)
    per_window.to_csv(out / "windows.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.json").write_text(
        json.dumps(summary.to_dict("records"), indent=2, allow_nan=True) + "\n", encoding="utf-8"
    )
    typer.echo(markdown(summary))


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
