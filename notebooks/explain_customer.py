# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Why is this customer drifting away? / 客户流失原因解读
#
# Reads the churn model's SHAP explanations for **one customer** (by `customer_id`) or a
# **segment** (a filter over the feature table). Set the parameters in the next cell and run
# all cells.
#
# * SHAP values come from exact TreeSHAP (LightGBM's `pred_contrib` numbers); they are in
#   **log-odds** of churn of the uncalibrated booster and add up to the model's raw score.
#   The risk shown is the calibrated probability ("0.30" = 30% chance of no visit within the
#   churn horizon).
# * Only the feature tables are read (`training.parquet`): no names or phone numbers are
#   loaded, so none can appear here. Customers are identified by `customer_id` only.
#
# Inputs: the featurize stage's output (`out/featurize`) and the train stage's output
# (`out/train`, model in `churn/`). Relative paths are resolved from the repository root.

# %%
import sys
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

# %% tags=["parameters"]
FEATURIZE_DIR = "out/featurize"  # training.parquet, feature_dictionary.parquet
TRAIN_DIR = "out/train"  # churn/ (the saved CalibratedBooster)
CUSTOMER_ID = None  # e.g. "C000123"; None = the riskiest customer in the segment
AS_OF = None  # snapshot date "YYYY-MM-DD"; None = the latest snapshot
# SEGMENT: a pandas query over the features, e.g. "dealer_id == 'D1' and visits_365d >= 2";
# None = every customer at the snapshot
SEGMENT = None
K = 3  # reasons per customer
MAX_DISPLAY = 12  # features in the waterfall plot
MAX_ROWS = 3000  # segment rows explained (seeded sample; TreeSHAP costs ~1-2 ms per row)
SEED = 0


# %%
def repo_root() -> Path:
    """The repository root (the folder with pyproject.toml), from here or a parent."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


ROOT = repo_root()
if str(ROOT) not in sys.path:  # a plain checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from models.explain import mean_abs_shap, reasons_long, top_reasons  # noqa: E402
from models.lgbm import CalibratedBooster  # noqa: E402
from models.reporting.explanation import plot_waterfall  # noqa: E402


def resolve(path: str) -> Path:
    """An absolute path as given, else relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


# %% [markdown]
# ## Load the model and the feature table

# %%
model = CalibratedBooster.load(resolve(TRAIN_DIR) / "churn")
table = pd.read_parquet(resolve(FEATURIZE_DIR) / "training.parquet")
dict_file = resolve(FEATURIZE_DIR) / "feature_dictionary.parquet"
dictionary = pd.read_parquet(dict_file) if dict_file.is_file() else None
# Keep keys and model features only: nothing else is needed, and nothing else is shown.
table = table.loc[:, ["customer_id", "as_of", *model.features]]
when = pd.Timestamp(AS_OF) if AS_OF else table["as_of"].max()
snapshot = table.loc[table["as_of"] == when]
segment = snapshot.query(SEGMENT) if SEGMENT else snapshot
if segment.empty:
    raise ValueError(f"no customer at {when:%Y-%m-%d} matches the segment {SEGMENT!r}")
display(
    Markdown(
        f"Snapshot **{when:%Y-%m-%d}**: {len(snapshot):,} customers; segment "
        f"`{SEGMENT or 'all'}`: {len(segment):,} customers; model with "
        f"{len(model.features)} features."
    )
)

# %% [markdown]
# ## One customer: risk and top reasons

# %%
risk = pd.Series(model.predict_proba(segment), index=segment.index, name="risk")
if CUSTOMER_ID is None:
    row = segment.loc[[risk.idxmax()]]
else:
    row = table.loc[table["customer_id"] == str(CUSTOMER_ID)]
    row = row.loc[row["as_of"] == (when if AS_OF else row["as_of"].max())]
    if row.empty:
        raise ValueError(f"customer {CUSTOMER_ID!r} has no row at snapshot {AS_OF or 'latest'}")
customer = row["customer_id"].iloc[0]
p = float(model.predict_proba(row)[0])
display(
    Markdown(
        f"Customer **{customer}** at {row['as_of'].iloc[0]:%Y-%m-%d}: churn risk "
        f"**{p:.0%}** (segment average {risk.mean():.0%})."
    )
)
reasons = reasons_long(top_reasons(model, row, dictionary, k=K))
reasons[["rank", "text_en", "text_zh", "contribution"]].reset_index(drop=True).rename(
    columns={"text_en": "reason", "text_zh": "原因", "contribution": "SHAP (log-odds)"}
)

# %% [markdown]
# ### Waterfall: from the average customer to this one
#
# The bottom value is the model's average raw score; each bar is one feature's push up (red)
# or down (blue); the top value is this customer's raw score (log-odds).

# %%
# shown by the notebook's inline backend at the end of the cell
fig = plot_waterfall(model, row, dictionary=dictionary, max_display=MAX_DISPLAY)

# %% [markdown]
# ## The segment: what drives risk here

# %%
explained = segment.sample(min(MAX_ROWS, len(segment)), random_state=SEED).sort_index()
contrib = model.contributions(explained)
display(Markdown(f"Mean SHAP over {len(explained):,} of the segment's {len(segment):,} customers."))
importance = mean_abs_shap(model, contrib, dictionary)
importance.head(15)[["label_en", "label_zh", "mean_abs_shap", "mean_shap", "share"]].rename(
    columns={
        "label_en": "feature",
        "label_zh": "特征",
        "mean_abs_shap": "mean |SHAP|",
        "mean_shap": "mean SHAP",
    }
).round(3)

# %% [markdown]
# ### The riskiest customers of the segment and their top reasons

# %%
top = segment.loc[risk.sort_values(ascending=False).index[:10]]
top_table = top_reasons(model, top, dictionary, k=K)
top_table.insert(2, "risk", risk.loc[top.index].round(3))
top_table[["customer_id", "risk", *[f"reason_{j}_en" for j in range(1, K + 1)]]].reset_index(
    drop=True
)
