"""The reviewer notebook: paired with its jupytext text file, and runs on small data without PII."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest

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
def small_run(shared_features, shared_models) -> tuple[Path, Path, tuple[str, ...], str]:
    """The shared simulation's featurize output and trained churn model (read-only)."""
    customers = pd.read_parquet(shared_features.data / "customers.parquet")
    pii = tuple(customers["name"]) + tuple(customers["phone"]) + tuple(customers["plate"].dropna())
    training = pd.read_parquet(shared_features.featurize / "training.parquet")
    latest = training.loc[training["as_of"] == training["as_of"].max()]
    customer = str(latest["customer_id"].iloc[0])
    return shared_features.featurize, shared_models.train, pii, customer


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
