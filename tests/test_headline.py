"""Headline metrics: what DVC compares between experiments, and the offline plots page."""

import json
import re
from pathlib import Path

import pytest
import yaml

from models.headline import (
    HEADLINE_FILE,
    MAX_HEADLINE_NUMBERS,
    STAGES,
    headline,
    lookup,
    write_headline,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "vendor" / "vega" / "template.html"


def test_headline_picks_paths_in_order_and_leaves_out_what_is_missing():
    metrics = {
        "churn": {"model": {"roc_auc": 0.771234567, "n": 12}, "formula": {"roc_auc": None}},
        "flag": True,
        "text": "out of time",
    }
    fields = {
        "auc": "churn.model.roc_auc",
        "rows": "churn.model.n",
        "formula": "churn.formula.roc_auc",  # None: left out
        "absent": "churn.oracle.roc_auc",  # not there: left out
        "flag": "flag",  # a bool is not a headline number
        "text": "text",
    }
    assert headline(metrics, fields) == {"auc": 0.771235, "rows": 12}
    assert list(headline(metrics, {"rows": "churn.model.n", "auc": "churn.model.roc_auc"})) == [
        "rows",
        "auc",
    ]


def test_non_finite_numbers_and_non_mappings_on_the_path_give_none():
    assert lookup({"a": {"b": float("nan")}}, "a.b") is None
    assert lookup({"a": [1, 2]}, "a.b") is None
    assert lookup({"a": {"b": 3}}, "a.b") == 3


def test_too_many_fields_are_refused():
    fields = {f"x{i}": "a" for i in range(MAX_HEADLINE_NUMBERS + 1)}
    with pytest.raises(ValueError, match="at most 30"):
        headline({"a": 1}, fields)


def test_all_stages_together_stay_within_the_cap():
    assert sum(len(fields) for fields in STAGES.values()) <= MAX_HEADLINE_NUMBERS


def test_write_headline_writes_a_flat_json_of_numbers(tmp_path):
    path = write_headline(
        tmp_path / "evaluate", {"churn": {"model": {"roc_auc": 0.5}}}, STAGES["evaluate"]
    )
    assert path == tmp_path / "evaluate" / HEADLINE_FILE
    assert json.loads(path.read_text()) == {"churn_roc_auc_model": 0.5}


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_dvc_declares_only_the_headline_files_as_metrics_uncached():
    declared = {}
    for name, stage in _stages().items():
        for entry in stage.get("metrics", []):
            path, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
            declared[name] = (path, options)
    assert declared == {name: (f"out/{name}/{HEADLINE_FILE}", {"cache": False}) for name in STAGES}
    # the detailed metrics stay outputs of their stages
    for name in STAGES:
        outs = [o if isinstance(o, str) else next(iter(o)) for o in _stages()[name]["outs"]]
        assert f"out/{name}/metrics.json" in outs


def test_git_keeps_the_headline_files_and_ignores_the_rest_of_out():
    import subprocess

    probe = ["out/evaluate/headline.json", "out/evaluate/metrics.json", "out/train/churn/x"]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *probe], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode not in (0, 1):
        pytest.skip(f"git check-ignore unavailable: {done.stderr.strip()}")
    assert done.stdout.split() == probe[1:]


def test_plots_page_inlines_vega_vega_lite_and_vega_embed():
    text = TEMPLATE.read_text(encoding="utf-8")
    # DVC's placeholders: the plots and the refresh tag, but not the CDN script tags
    assert "{plot_divs}" in text and "{refresh_tag}" in text
    assert "{scripts}" not in text
    tags = re.findall(r"<script\b[^>]*>", text)
    assert len(tags) == 3 and not [t for t in tags if "src" in t]
    banners = dict(re.findall(r"/\*! (vega|vega-lite|vega-embed) ([0-9]+\.[0-9]+\.[0-9]+) ", text))
    assert set(banners) == {"vega", "vega-lite", "vega-embed"}
    for name, version in banners.items():
        assert f'"{version}"' in text, name  # the library's own version string, inlined
        assert (TEMPLATE.parent / f"LICENSE.{name}").is_file()


def test_dvc_config_points_plots_at_the_offline_page():
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    # DVC reads a relative template path from the .dvc directory
    assert (ROOT / ".dvc" / config["plots"]["html_template"]).resolve() == TEMPLATE.resolve()


def test_headline_names_are_unique_and_apart_from_params_and_paths():
    names = [name for fields in STAGES.values() for name in fields]
    assert len(names) == len(set(names))
    # `dvc exp show --drop '.*[./]'` keeps exactly these columns
    assert [n for n in names if "." in n or "/" in n] == []
