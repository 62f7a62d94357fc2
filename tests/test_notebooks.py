"""The reviewer notebook: paired with its jupytext text file, and runs on small data without PII."""

from __future__ import annotations

from pathlib import Path

import jupytext
import lightgbm as lgb
import nbformat
import pandas as pd
import pytest

from features.config import FeaturizeConfig
from features.dictionary import feature_dictionary
from features.events import prepare
from features.files import write_data_dir
from features.labels import training_table
from features.reading import read_data_dir
from models.lgbm import CalibratedBooster, fit_isotonic
from pipeline.simulator import SimulationConfig, simulate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "explain_customer.ipynb"
PAIRED = NOTEBOOKS / "explain_customer.py"


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_notebook_is_paired_and_in_sync():
    ipynb = jupytext.read(NOTEBOOK)
    text = jupytext.read(PAIRED)
    assert _sources(ipynb) == _sources(text), "run `jupytext --sync notebooks/*.py`"
    assert "ipynb,py:percent" in ipynb.metadata["jupytext"]["formats"]
    # kept without outputs, so diffs stay readable and no data is committed
    assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code")
    tagged = [c for c in ipynb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> tuple[Path, Path, tuple[str, ...], str]:
    """Tiny simulated data → featurize → a tiny churn model, all under a temp dir."""
    root = tmp_path_factory.mktemp("nb")
    tables, _ = simulate(SimulationConfig(customers=300, years=3, seed=3))
    pii = tuple(tables["customers"]["name"]) + tuple(tables["customers"]["phone"])
    data = root / "data"
    write_data_dir(tables, data)
    index = prepare(read_data_dir(data), FeaturizeConfig())
    training = training_table(index, FeaturizeConfig(), progress=False)
    feat = root / "featurize"
    feat.mkdir()
    training.to_parquet(feat / "training.parquet", index=False)
    feature_dictionary().to_parquet(feat / "feature_dictionary.parquet", index=False)

    features = [c for c in training.columns if c not in {"customer_id", "as_of", "churn"}]
    cats = {
        c: [str(v) for v in training[c].cat.categories]
        for c in features
        if isinstance(training[c].dtype, pd.CategoricalDtype)
    }
    model = CalibratedBooster(booster=None, features=features, categories=cats)  # type: ignore[arg-type]
    params = {"objective": "binary", "verbose": -1, "num_threads": 2, "deterministic": True}
    params |= {"seed": 1, "min_data_in_leaf": 20, "num_leaves": 7}
    y = training["churn"].to_numpy()
    model.booster = lgb.train(params, lgb.Dataset(model.frame(training), y), 20)
    model.calibrator = fit_isotonic(model.predict_raw(training), y)
    model.save(root / "train" / "churn")
    latest = training.loc[training["as_of"] == training["as_of"].max()]
    customer = str(latest["customer_id"].iloc[0])
    return feat, root / "train", pii, customer


def _execute(params: str, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(params)
    injected.metadata["tags"] = ["injected-parameters"]  # as papermill does
    nb.cells.insert(at + 1, injected)
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def _outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            for mime, value in out.get("data", {}).items():
                if mime != "image/png":
                    parts.append(str(value))
    return "\n".join(parts)


@pytest.mark.slow
def test_notebook_explains_a_customer_and_a_segment(small_run, tmp_path: Path):
    feat, train, pii, customer = small_run
    nb = _execute(
        f"FEATURIZE_DIR = {str(feat)!r}\nTRAIN_DIR = {str(train)!r}\n"
        f"CUSTOMER_ID = {customer!r}\nSEGMENT = \"dealer_id == 'D1' or dealer_id == 'D2'\"",
        tmp_path,
    )
    text = _outputs(nb)
    assert f"Customer **{customer}**" in text
    assert "churn risk" in text and "原因" in text and "特征" in text
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert pngs, "the waterfall plot is shown"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    for value in pii:
        assert value not in text
    # default: the riskiest customer of every customer at the latest snapshot
    nb = _execute(f"FEATURIZE_DIR = {str(feat)!r}\nTRAIN_DIR = {str(train)!r}", tmp_path)
    assert "Customer **C" in _outputs(nb)
