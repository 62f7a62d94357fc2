"""Micro-benchmark: LightGBM ``pred_contrib`` vs the fast TreeSHAP (models.treeshap).

Usage (from the repository root, after ``dvc repro train``)::

    python docs/bench/treeshap_micro.py out/train/churn out/featurize/training.parquet
"""

import sys
import time

import numba
import numpy as np
import pandas as pd

from models.lgbm import CalibratedBooster
from models.treeshap import TreeShapModel


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def main(model_dir: str, rows_file: str, reference_rows: int = 5000) -> None:
    m = CalibratedBooster.load(model_dir)
    df = pd.read_parquet(rows_file)
    load0 = open("/proc/loadavg").read().split()[:3]
    t = time.perf_counter()
    ts = TreeShapModel.from_booster(m.booster)
    parse = time.perf_counter() - t
    k = ts.arrays["leaf_k"]
    _say(
        f"model: {ts.num_trees} trees, {len(k)} leaves, distinct path features mean "
        f"{k.mean():.2f} max {k.max()}, tabulated up to k={ts.table_max_features}, tables "
        f"{ts.table_bytes / 2**20:.0f} MiB, parse+tables {parse:.2f} s"
    )
    m.contributions(df.head(50))  # parse once and load the compiled kernel
    sub = df.iloc[:reference_rows]
    t = time.perf_counter()
    ref = m.contributions(sub, engine="lightgbm")
    tl = time.perf_counter() - t
    t = time.perf_counter()
    fast = m.contributions(df)
    tf = time.perf_counter() - t
    diff = np.abs(fast.iloc[: len(sub)].to_numpy() - ref.to_numpy()).max()
    numba.set_num_threads(1)
    t = time.perf_counter()
    m.contributions(df)
    tf1 = time.perf_counter() - t
    load1 = open("/proc/loadavg").read().split()[:3]
    _say(
        f"lightgbm pred_contrib (2 threads): {len(sub):,} rows {tl:.2f} s = {len(sub) / tl:,.0f} rows/s"
    )
    _say(
        f"fast (2 threads): {len(df):,} rows {tf:.2f} s = {len(df) / tf:,.0f} rows/s; "
        f"1 thread {tf1:.2f} s = {len(df) / tf1:,.0f} rows/s"
    )
    _say(f"max |fast - pred_contrib| over {len(sub):,} rows x {fast.shape[1]} columns: {diff:.2e}")
    _say(f"load average before {load0} after {load1}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
