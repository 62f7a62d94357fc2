"""One source of defaults: without a params file every command uses the repository's params.yaml."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from pipeline import common
from pipeline.common import PACKAGED_PARAMS, load_params, merge_params

ROOT = Path(__file__).resolve().parents[1]
REPO_PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_the_packaged_defaults_are_the_repository_params_file() -> None:
    assert PACKAGED_PARAMS.read_bytes() == (ROOT / "params.yaml").read_bytes()


@pytest.mark.parametrize("block", sorted(REPO_PARAMS))
def test_no_params_file_gives_the_repository_settings(block, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no params.yaml here
    assert load_params(block) == REPO_PARAMS[block]


def test_a_partial_file_changes_only_what_it_names(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  seed: 7\n  churn: {lgbm: {num_leaves: 7}}\n", encoding="utf-8")
    train = load_params("train", path)
    assert train["seed"] == 7
    assert train["churn"]["lgbm"]["num_leaves"] == 7
    # everything else is the repository's: other LightGBM keys, the split, the other model
    lgbm = dict(REPO_PARAMS["train"]["churn"]["lgbm"], num_leaves=7)
    assert train["churn"]["lgbm"] == lgbm
    assert train["churn"]["split"] == REPO_PARAMS["train"]["churn"]["split"]
    assert train["recovery"] == REPO_PARAMS["train"]["recovery"]
    assert load_params("featurize", path) == REPO_PARAMS["featurize"]


def test_a_store_matrix_replaces_the_default_matrix_whole(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(
        "score:\n  matrix:\n    cells:\n      gold: {lost: {owner: store_manager}}\n",
        encoding="utf-8",
    )
    matrix = load_params("score", path)["matrix"]
    assert matrix["cells"] == {"gold": {"lost": {"owner": "store_manager"}}}
    assert matrix["rules"] == REPO_PARAMS["score"]["matrix"]["rules"]


def test_merge_keeps_inputs_and_replaces_non_mappings() -> None:
    defaults = {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    merged = merge_params(defaults, {"a": {"c": [9]}, "e": None})
    assert merged == {"a": {"b": 1, "c": [9]}, "d": 3, "e": None}
    assert defaults == {"a": {"b": 1, "c": [1, 2]}, "d": 3}


def test_a_missing_explicit_file_is_an_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="params file not found"):
        load_params("train", tmp_path / "nope.yaml")


def test_a_block_that_is_not_a_mapping_is_an_error(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="train: block must be a mapping"):
        load_params("train", path)


def test_a_command_says_which_params_file_it_read(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(common, "_announced", set())
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="pipeline.common"):
        load_params("validate")
        load_params("featurize")
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("params:")]
    assert said == [
        f"params: the packaged defaults ({PACKAGED_PARAMS}); no params.yaml in {tmp_path}"
    ]
    (tmp_path / "params.yaml").write_text("validate: {}\n", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline.common"):
        load_params("validate")
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("params:")]
    assert said == [f"params: {(tmp_path / 'params.yaml').resolve()} over the packaged defaults"]
