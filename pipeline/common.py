"""Helpers shared by the stage entry points: logging set-up and params.yaml blocks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from features.mapping import ReadSettings

DEFAULT_PARAMS = Path("params.yaml")


def setup_logging(verbose: bool = False) -> None:
    """Configure root logging once for a command-line run."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )


def load_params(block: str, path: str | Path | None = None) -> dict[str, Any]:
    """Return one stage's block of params.yaml.

    Args:
        block: The stage name, which is also its params block name.
        path: The params file. None means ``params.yaml`` in the working directory if it
            exists, else no overrides (code defaults apply).

    Returns:
        The block as a dict (empty when the file or block is absent and ``path`` was None).

    Raises:
        FileNotFoundError: An explicitly given params file does not exist.
        ValueError: The file is not a mapping.
    """
    if path is None:
        if not DEFAULT_PARAMS.is_file():
            return {}
        path = DEFAULT_PARAMS
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of stage blocks at top level")
    return dict(params.get(block) or {})


def read_settings(path: str | Path | None = None) -> ReadSettings:
    """How to read data directories: the ``validate:`` block's encoding and mappings.

    Args:
        path: The params file, as for :func:`load_params`.

    Returns:
        The settings every stage passes to :func:`features.contract.read_data_dir`.
    """
    return ReadSettings.from_params(load_params("validate", path))
