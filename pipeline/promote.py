"""Stage ``promote``: apply the champion/challenger decisions to the MLflow registry.

The ``evaluate`` and ``leads`` stages decide — each new registered version against the
current champion on the same out-of-time rows — and write their decisions
(``out/evaluate/promotion.json``, ``out/leads/promotion.json``). They never touch the
``champion`` alias: DVC caches their outputs, and a cached stage that moved the alias would
move it on one machine and not on another that pulled the same cache. This stage is not
cached (``always_changed``): it reads the decisions and, for each promotion, moves the alias
— unless the champion has changed since the decision was made, which is an error naming both
versions (evaluate again). Every decision, promoted or not, is also written as tags of the
version and its run. ``OUT`` records what was done.

Inside ``dvc exp run`` the evaluate stage already records a promotion as "would be
promoted" (``evaluate.promote_in_experiments``), so nothing moves here either.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.common import setup_logging

logger = logging.getLogger(__name__)


def read_decisions(paths: list[Path]) -> list[dict[str, Any]]:
    """The decisions in ``paths`` (each ``{registered name: decision}``), in file order.

    Raises:
        ValueError: A file is not such a mapping, or a decision lacks a field.
    """
    out = []
    for path in paths:
        found = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(found, dict):
            raise ValueError(f"{path}: expected {{registered model name: decision}}")
        for name, d in found.items():
            missing = {"version", "promoted", "reason"} - set(d)
            if missing:
                raise ValueError(f"{path}: decision for {name} lacks {sorted(missing)}")
            out.append({"model": name, "file": str(path), **d})
    return out


def main(
    decisions: Annotated[
        list[Path],
        typer.Argument(
            help="Decision files: out/evaluate/promotion.json, out/leads/promotion.json."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where to record what was done.")] = Path(
        "out/promote/promotion.json"
    ),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Move the MLflow ``champion`` aliases as the evaluate and leads stages decided.

    Uses the tracking store of MLFLOW_TRACKING_URI (default sqlite:///mlflow.db).
    """
    # MLflow loads when the command runs, not for --help
    from features.files import atomic_write
    from models import tracking

    setup_logging(verbose)
    present = [p for p in decisions if p.is_file()]
    for p in sorted(set(decisions) - set(present)):
        logger.info("no decisions in %s (no such file): skipped", p)
    tracking.setup()
    done = tracking.apply_decisions(read_decisions(present))
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(done, indent=2, ensure_ascii=False) + "\n"
    atomic_write(out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    for r in done:
        verdict = "champion" if r["promoted"] else "not promoted"
        typer.echo(
            f"{r['model']} v{r['version']}: {verdict} ({r['reason']}); champion v{r['champion']}"
        )
    typer.echo(f"written to {out}")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
