"""Exact, fast path-dependent TreeSHAP for LightGBM boosters (numba).

LightGBM's own ``predict(..., pred_contrib=True)`` runs Lundberg's recursive TreeSHAP, which
costs O(L·D²) per tree and row (L leaves, D depth) and was 89% of a 1M-customer scoring run.
This module computes the same numbers (equal to ``pred_contrib`` up to float rounding, about
1e-15) in O(L·D) per tree and row, in the spirit of FastTreeSHAP "v2" (Yang 2021):

* Every leaf ℓ defines a product game over the distinct features K on its path (k = |K|):
  ``v(S) = v_ℓ Π_{i∈S} o_i Π_{i∉S} z_i``, where ``z_i`` is the product of the cover ratios
  (child count / parent count, LightGBM's ``internal_count``/``leaf_count``) over the path's
  nodes that split on feature i, and ``o_i`` is 1 when the row takes the path's direction at
  all of those nodes, else 0. The sum of these games over the leaves is the path-dependent
  expectation TreeSHAP explains, so the Shapley values add up leaf by leaf.
* Because ``o`` is 0/1, a leaf's Shapley values depend only on the row's agreement pattern
  (k bits). For leaves with k ≤ ``table_max_features`` all 2^k patterns are tabulated once
  per model (k·2^k numbers); a row then costs one pass over the tree's nodes to get every
  leaf's pattern plus k table reads per leaf. Deeper leaves are evaluated directly per row in
  O(k²) with elementary symmetric polynomials, so memory stays bounded.
* The bias column is LightGBM's ``ExpectedValue``: Σ_ℓ v_ℓ · leaf_count / root count.

Rows are routed exactly like LightGBM's ``tree.h`` (NumericalDecision / CategoricalDecision),
on the float64 matrix LightGBM builds from a pandas frame (:func:`lightgbm_matrix`).

Why hand-written rather than the ``fasttreeshap`` package: fasttreeshap parses LightGBM
models the way old versions of ``shap`` did and routes categorical splits wrongly (it treats
the category set as a numeric threshold), so its values differ from ``pred_contrib`` on our
models, which have categorical features.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import lightgbm as lgb
import numba
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Leaves with at most this many distinct path features get a pattern table (k·2^k values,
#: 1.8 MB at k = 14). Direct evaluation costs O(k²) per row, a table read O(k): on the churn
#: model (271 trees, depth up to 18) tabulating up to k = 14 instead of 10 is 1.7× faster.
TABLE_MAX_FEATURES = 14

#: Upper bound of all tables together; the cap is lowered until the tables fit.
TABLE_BUDGET_BYTES = 512 * 2**20

#: Rows per work block: each block loops trees outer, rows inner, so a tree stays in cache.
BLOCK_ROWS = 1024

#: LightGBM's kZeroThreshold (a float constant in meta.h, hence the float32 rounding).
_ZERO_THRESHOLD = float(np.float32(1e-35))

_MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}


class UnsupportedModelError(ValueError):
    """The booster uses a feature this TreeSHAP does not implement (multiclass, linear, rf)."""


@dataclass
class TreeShapModel:
    """A LightGBM booster flattened into arrays for the numba kernels.

    Nodes of every tree are stored in preorder (parent before child). Build it with
    :meth:`from_booster`; call :meth:`shap_values` on the float64 matrix LightGBM sees.

    Attributes:
        num_features: Columns of the input matrix (the booster's features).
        num_trees: Trees in the ensemble (the iterations ``predict`` uses by default).
        expected_value: The bias column: Σ over trees of LightGBM's ``ExpectedValue``.
        table_max_features: Cap on k for tabulated leaves (deeper ones are computed per row),
            after lowering it to fit ``TABLE_BUDGET_BYTES``.
        arrays: The flat arrays handed to the kernel (see :func:`_parse`).
    """

    num_features: int
    num_trees: int
    expected_value: float
    table_max_features: int
    arrays: dict[str, np.ndarray]

    @classmethod
    def from_booster(
        cls,
        booster: lgb.Booster,
        num_iteration: int | None = None,
        table_max_features: int = TABLE_MAX_FEATURES,
    ) -> TreeShapModel:
        """Parse a booster (``dump_model``) and tabulate its shallow leaves.

        Args:
            booster: A trained LightGBM booster with one tree per iteration.
            num_iteration: Iterations to use; None = what ``booster.predict`` uses by default
                (the best iteration when early stopping set one, else all).
            table_max_features: Leaves with more distinct path features are computed
                directly per row instead of from a 2^k table.

        Raises:
            UnsupportedModelError: Multiclass, linear-tree or random-forest boosters.
        """
        dump = booster.dump_model(num_iteration=num_iteration)
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise UnsupportedModelError(
                "fast TreeSHAP supports one tree per iteration (binary/regression), got "
                f"num_tree_per_iteration={dump['num_tree_per_iteration']}"
            )
        if dump.get("average_output"):
            raise UnsupportedModelError("fast TreeSHAP does not support random forest boosters")
        trees = [t["tree_structure"] for t in dump["tree_info"]]
        arrays, expected = _parse(trees, table_max_features)
        return cls(
            num_features=int(dump["max_feature_idx"]) + 1,
            num_trees=len(trees),
            expected_value=expected,
            table_max_features=int(arrays["table_max_features"][0]),
            arrays=arrays,
        )

    @property
    def table_bytes(self) -> int:
        """Memory held by the pattern tables."""
        return int(self.arrays["tables"].nbytes)

    def shap_values(self, X: np.ndarray) -> np.ndarray:
        """SHAP values of each row, LightGBM's ``pred_contrib`` layout.

        Args:
            X: float64 matrix (rows × ``num_features``), categorical features as their codes
                (NaN for missing), as built by :func:`lightgbm_matrix`.

        Returns:
            ``(rows, num_features + 1)`` float64: one column per feature, then the bias.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ValueError(
                f"expected a matrix with {self.num_features} columns, got shape {X.shape}"
            )
        out = np.zeros((X.shape[0], self.num_features + 1), dtype=np.float64)
        if X.shape[0] == 0:
            return out
        a = self.arrays
        # blocks small enough that every thread gets work on small inputs
        block = int(min(BLOCK_ROWS, max(64, -(-X.shape[0] // numba.get_num_threads()))))
        _shap_kernel(
            X,
            out,
            a["tree_node_start"],
            a["tree_leaf_start"],
            a["node_feature"],
            a["node_threshold"],
            a["node_flags"],
            a["node_cat_start"],
            a["node_cat_len"],
            a["cat_bits"],
            a["node_parent"],
            a["node_is_left"],
            a["node_edge_bit"],
            a["leaf_node"],
            a["leaf_k"],
            a["leaf_value"],
            a["leaf_table"],
            a["leaf_uf_start"],
            a["uf_feature"],
            a["uf_z"],
            a["leaf_path_start"],
            a["path_node"],
            a["path_is_left"],
            a["path_pos"],
            a["tables"],
            a["weights"],
            int(a["max_nodes"][0]),
            int(a["max_k"][0]),
            block,
        )
        out[:, self.num_features] = self.expected_value
        return out


def lightgbm_matrix(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """The float64 matrix LightGBM predicts on for a pandas frame.

    Mirrors ``lightgbm.basic._data_from_pandas``: categorical columns (in frame order) are
    re-aligned to the booster's training categories (``booster.pandas_categorical``) when
    their levels differ, then replaced by their codes with -1 (missing or unseen) as NaN;
    other columns become float64.

    Raises:
        ValueError: The frame's categorical columns do not match the booster's.
    """
    cat_cols = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    trained = booster.pandas_categorical or []
    if len(cat_cols) != len(trained):
        raise ValueError(
            f"the frame has {len(cat_cols)} categorical columns, the booster was trained with "
            f"{len(trained)} ({', '.join(map(str, cat_cols[:5]))})"
        )
    levels = dict(zip(cat_cols, trained, strict=True))
    out = np.empty((len(frame), frame.shape[1]), dtype=np.float64)
    for j, name in enumerate(frame.columns):
        s = frame[name]
        if name in levels:
            if list(s.cat.categories) != list(levels[name]):
                s = s.cat.set_categories(levels[name])
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _shapley_weights(max_k: int) -> np.ndarray:
    """``w[k, s] = s!(k-s-1)!/k! = 1 / (k·C(k-1, s))`` for 1 ≤ k ≤ max_k, 0 ≤ s < k."""
    w = np.zeros((max_k + 1, max(max_k, 1)), dtype=np.float64)
    for k in range(1, max_k + 1):
        for s in range(k):
            w[k, s] = 1.0 / (k * math.comb(k - 1, s))
    return w


@dataclass
class _FlatTrees:
    """The preorder node, leaf and path lists :func:`_parse` fills tree by tree."""

    node_feature: list[int] = field(default_factory=list)
    node_threshold: list[float] = field(default_factory=list)
    node_flags: list[int] = field(default_factory=list)
    node_cat_start: list[int] = field(default_factory=list)
    node_cat_len: list[int] = field(default_factory=list)
    cat_bits: list[int] = field(default_factory=list)
    node_parent: list[int] = field(default_factory=list)
    node_is_left: list[int] = field(default_factory=list)
    node_edge_bit: list[int] = field(default_factory=list)
    leaf_node: list[int] = field(default_factory=list)
    leaf_k: list[int] = field(default_factory=list)
    leaf_value: list[float] = field(default_factory=list)
    leaf_uf_start: list[int] = field(default_factory=list)
    uf_feature: list[int] = field(default_factory=list)
    uf_z: list[float] = field(default_factory=list)
    leaf_path_start: list[int] = field(default_factory=list)
    path_node: list[int] = field(default_factory=list)
    path_is_left: list[int] = field(default_factory=list)
    path_pos: list[int] = field(default_factory=list)
    tree_node_start: list[int] = field(default_factory=lambda: [0])
    tree_leaf_start: list[int] = field(default_factory=lambda: [0])

    def add_leaf_columns(self) -> None:
        """Append a leaf's node columns: no feature, threshold, flags or category bitset."""
        self.node_feature.append(-1)
        self.node_threshold.append(0.0)
        self.node_flags.append(0)
        self.node_cat_start.append(0)
        self.node_cat_len.append(0)

    def end_tree(self) -> None:
        """Close the current tree: record where the next one's nodes and leaves start."""
        self.tree_node_start.append(len(self.node_feature))
        self.tree_leaf_start.append(len(self.leaf_node))


def _parse(trees: list[dict], table_max_features: int) -> tuple[dict[str, np.ndarray], float]:
    """Flatten ``dump_model`` trees into preorder arrays plus per-leaf path facts.

    Per node (preorder, across trees): split feature (-1 at leaves), threshold, flags
    (bit 0 categorical, bit 1 default left, bits 2-3 missing type), the category bitset
    slice, the parent's local index, whether the node is its parent's left child and the
    bit of the agreement pattern that the parent's split clears when the row goes the other
    way. Bit positions number a path's distinct features by first appearance from the root,
    so they are the same for every leaf below a node and one preorder pass gives every
    leaf's pattern. Per leaf: its node, k, value, table offset (-1 = computed directly), the
    distinct features with their cover products z, and its path (node, direction, bit).
    """
    flat = _FlatTrees()
    expected = 0.0
    max_nodes = 1
    for root in trees:
        base = len(flat.node_feature)
        if "leaf_value" in root:  # a single-leaf tree: a constant, no contributions
            expected += float(root["leaf_value"])
            flat.add_leaf_columns()
            flat.node_parent.append(-1)
            flat.node_is_left.append(0)
            flat.node_edge_bit.append(0)
            flat.end_tree()
            continue
        expected += _flatten_tree(root, flat, base)
        max_nodes = max(max_nodes, len(flat.node_feature) - base)
        flat.end_tree()

    k_arr = np.asarray(flat.leaf_k, dtype=np.int64)
    max_k = int(k_arr.max()) if len(k_arr) else 0
    table_max_features, leaf_table, offset = _table_layout(k_arr, table_max_features)
    weights = _shapley_weights(max(max_k, 1))
    arrays = _arrays(flat, k_arr, leaf_table, weights, max_nodes, max_k, table_max_features)
    tables = np.zeros(max(offset, 1), dtype=np.float64)
    _build_tables(
        tables,
        arrays["leaf_k"],
        arrays["leaf_value"],
        arrays["leaf_table"],
        arrays["leaf_uf_start"],
        arrays["uf_z"],
        weights,
    )
    arrays["tables"] = tables
    return arrays, expected


def _flatten_tree(root: dict, flat: _FlatTrees, base: int) -> float:
    """Append one tree (with at least one split) to ``flat`` in preorder; its expected value.

    ``base`` is the number of nodes before this tree (local indices count from there); the
    expected value is the tree's leaf values weighted by leaf count / root count.
    """
    root_count = float(root["internal_count"])
    tree_expected = 0.0
    # iterative preorder: (node, parent local idx, is_left, path list, uniq feats, z list)
    stack: list[tuple[dict, int, int, list, list, list]] = [(root, -1, 0, [], [], [])]
    while stack:
        node, parent, is_left, path, uniq, zs = stack.pop()
        local = len(flat.node_feature) - base
        flat.node_parent.append(parent)
        flat.node_is_left.append(is_left)
        # the bit the parent's split clears: the parent's feature's position on the path
        flat.node_edge_bit.append(path[-1][2] if path else 0)
        if "leaf_value" in node:
            count = float(node["leaf_count"])
            value = float(node["leaf_value"])
            tree_expected += (count / root_count) * value
            _add_leaf(flat, local, value, path, uniq, zs)
            continue
        feature = _add_split(flat, node)
        count = float(node["internal_count"])
        pos = uniq.index(feature) if feature in uniq else len(uniq)
        children = []
        for child, left in ((node["left_child"], 1), (node["right_child"], 0)):
            ccount = float(
                child["leaf_count"] if "leaf_value" in child else child["internal_count"]
            )
            ratio = ccount / count
            if pos < len(uniq):
                czs = list(zs)
                czs[pos] *= ratio
                cuniq = uniq
            else:
                czs = [*zs, ratio]
                cuniq = [*uniq, feature]
            children.append((child, local, left, [*path, (local, left, pos)], cuniq, czs))
        # push right first so the left subtree comes first in preorder
        stack.append(children[1])
        stack.append(children[0])
    return tree_expected


def _add_leaf(flat: _FlatTrees, local: int, value: float, path: list, uniq: list, zs: list) -> None:
    """Append a leaf: its node columns, its distinct features with their z, and its path."""
    flat.add_leaf_columns()
    flat.leaf_node.append(local)
    flat.leaf_k.append(len(uniq))
    flat.leaf_value.append(value)
    flat.leaf_uf_start.append(len(flat.uf_feature))
    flat.uf_feature.extend(uniq)
    flat.uf_z.extend(zs)
    flat.leaf_path_start.append(len(flat.path_node))
    for pnode, pleft, ppos in path:
        flat.path_node.append(pnode)
        flat.path_is_left.append(pleft)
        flat.path_pos.append(ppos)


def _add_split(flat: _FlatTrees, node: dict) -> int:
    """Append a split node's feature, threshold or category bitset and flags; its feature.

    Raises:
        UnsupportedModelError: A decision type other than ``<=`` and ``==``.
    """
    feature = int(node["split_feature"])
    flags = _MISSING_TYPES[node["missing_type"]] << 2
    flags |= 2 if node["default_left"] else 0
    if node["decision_type"] == "==":
        flags |= 1
        cats = [int(c) for c in str(node["threshold"]).split("||")]
        words = np.zeros(max(cats) // 32 + 1, dtype=np.int64)
        for c in cats:
            words[c // 32] |= 1 << (c % 32)
        flat.node_cat_start.append(len(flat.cat_bits))
        flat.node_cat_len.append(len(words))
        flat.cat_bits.extend(int(w) for w in words)
        flat.node_threshold.append(0.0)
    elif node["decision_type"] == "<=":
        flat.node_cat_start.append(0)
        flat.node_cat_len.append(0)
        flat.node_threshold.append(float(node["threshold"]))
    else:
        raise UnsupportedModelError(f"unknown decision_type {node['decision_type']!r}")
    flat.node_feature.append(feature)
    flat.node_flags.append(flags)
    return feature


def _table_layout(k_arr: np.ndarray, table_max_features: int) -> tuple[int, np.ndarray, int]:
    """The cap on k actually used, each leaf's table offset (-1: direct) and the total length."""
    # lower the cap until every table fits the budget (deep leaves are then computed directly)
    sizes = 8 * k_arr * (np.int64(1) << np.minimum(k_arr, 62))
    while table_max_features > 0 and sizes[k_arr <= table_max_features].sum() > TABLE_BUDGET_BYTES:
        table_max_features -= 1
    leaf_table = np.full(len(k_arr), -1, dtype=np.int64)
    offset = 0
    for i, k in enumerate(k_arr):
        if k <= table_max_features:
            leaf_table[i] = offset
            offset += int(k) << int(k)
    return table_max_features, leaf_table, offset


def _arrays(
    flat: _FlatTrees,
    k_arr: np.ndarray,
    leaf_table: np.ndarray,
    weights: np.ndarray,
    max_nodes: int,
    max_k: int,
    table_max_features: int,
) -> dict[str, np.ndarray]:
    """The typed arrays the kernels read (empty lists get one dummy entry)."""
    return {
        "tree_node_start": np.asarray(flat.tree_node_start, dtype=np.int64),
        "tree_leaf_start": np.asarray(flat.tree_leaf_start, dtype=np.int64),
        "node_feature": np.asarray(flat.node_feature, dtype=np.int64),
        "node_threshold": np.asarray(flat.node_threshold, dtype=np.float64),
        "node_flags": np.asarray(flat.node_flags, dtype=np.int64),
        "node_cat_start": np.asarray(flat.node_cat_start, dtype=np.int64),
        "node_cat_len": np.asarray(flat.node_cat_len, dtype=np.int64),
        "cat_bits": np.asarray(flat.cat_bits if flat.cat_bits else [0], dtype=np.int64),
        "node_parent": np.asarray(flat.node_parent, dtype=np.int64),
        "node_is_left": np.asarray(flat.node_is_left, dtype=np.uint8),
        # bits at or beyond 64 only matter for leaves with k > 64, which are computed
        # directly from their path, so the pattern simply ignores them
        "node_edge_bit": np.asarray(
            [(1 << b) if b < 64 else 0 for b in flat.node_edge_bit], dtype=np.uint64
        ),
        "leaf_node": np.asarray(flat.leaf_node, dtype=np.int64),
        "leaf_k": k_arr,
        "leaf_value": np.asarray(flat.leaf_value, dtype=np.float64),
        "leaf_table": leaf_table,
        "leaf_uf_start": np.asarray(flat.leaf_uf_start, dtype=np.int64),
        "uf_feature": np.asarray(flat.uf_feature if flat.uf_feature else [0], dtype=np.int64),
        "uf_z": np.asarray(flat.uf_z if flat.uf_z else [0.0], dtype=np.float64),
        # one more entry than leaves: leaf i's path is path_*[start[i] : start[i + 1]]
        "leaf_path_start": np.asarray([*flat.leaf_path_start, len(flat.path_node)], dtype=np.int64),
        "path_node": np.asarray(flat.path_node if flat.path_node else [0], dtype=np.int64),
        "path_is_left": np.asarray(flat.path_is_left if flat.path_is_left else [0], dtype=np.uint8),
        "path_pos": np.asarray(flat.path_pos if flat.path_pos else [0], dtype=np.int64),
        "weights": weights,
        "max_nodes": np.asarray([max_nodes], dtype=np.int64),
        "max_k": np.asarray([max(max_k, 1)], dtype=np.int64),
        "table_max_features": np.asarray([table_max_features], dtype=np.int64),
    }


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _leaf_phi(o, z, k, v, weights, esp, esp_j, phi):  # pragma: no cover - compiled
    """Shapley values ``phi[:k]`` of one leaf's product game for agreement flags ``o``.

    With A the agreeing features and D the others, P_D = Π_{i∈D} z_i and e(·) the
    elementary symmetric polynomials of the z's:
    j ∈ D: φ_j = -v·P_D·Σ_s w(s,k)·e_{|A|-s}(z_A);
    j ∈ A: φ_j = v·(1 - z_j)·P_D·Σ_s w(s,k)·e_{|A|-1-s}(z_{A∖j}),
    where e(z_{A∖j}) comes from e(z_A) by dividing out (1 + z_j·t); with 0 ≤ z_j ≤ 1 that
    forward recurrence does not amplify rounding errors.
    """
    esp[0] = 1.0
    a = 0
    pd_ = 1.0
    for i in range(k):
        if o[i]:
            a += 1
            esp[a] = 0.0
            for m in range(a, 0, -1):
                esp[m] += z[i] * esp[m - 1]
        else:
            pd_ *= z[i]
    disagree = 0.0
    if a < k:
        acc = 0.0
        for s in range(a + 1):
            acc += weights[k, s] * esp[a - s]
        disagree = -v * pd_ * acc
    for j in range(k):
        if o[j]:
            esp_j[0] = 1.0
            for m in range(1, a):
                esp_j[m] = esp[m] - z[j] * esp_j[m - 1]
            acc = 0.0
            for s in range(a):
                acc += weights[k, s] * esp_j[a - 1 - s]
            phi[j] = v * (1.0 - z[j]) * pd_ * acc
        else:
            phi[j] = disagree


@numba.njit(cache=True, nogil=True)
def _build_tables(
    tables, leaf_k, leaf_value, leaf_table, leaf_uf_start, uf_z, weights
):  # pragma: no cover
    max_k = weights.shape[0] - 1
    o = np.zeros(max_k + 1, dtype=np.uint8)
    esp = np.zeros(max_k + 2, dtype=np.float64)
    esp_j = np.zeros(max_k + 2, dtype=np.float64)
    phi = np.zeros(max_k + 1, dtype=np.float64)
    for leaf in range(leaf_k.shape[0]):
        off = leaf_table[leaf]
        if off < 0:
            continue
        k = leaf_k[leaf]
        z = uf_z[leaf_uf_start[leaf] : leaf_uf_start[leaf] + k]
        for p in range(1 << k):
            for i in range(k):
                o[i] = (p >> i) & 1
            _leaf_phi(o, z, k, leaf_value[leaf], weights, esp, esp_j, phi)
            for j in range(k):
                tables[off + p * k + j] = phi[j]


@numba.njit(cache=True, nogil=True)
def _decide(xt, f, threshold, flags, cat_start, cat_len, cat_bits, n, dec_row):  # pragma: no cover
    """LightGBM's tree.h NumericalDecision / CategoricalDecision for one node, ``n`` rows.

    ``dec_row[r]`` = 1 when row r goes left. The node's settings are fixed, so each case is a
    branch-free loop over the rows of the block (``xt`` is the block transposed).
    """
    if flags & 1:  # categorical: NaN or negative goes right, else membership in the bitset
        for r in range(n):
            fval = xt[f, r]
            left = np.uint64(0)
            # static_cast<int> truncates towards zero: (-1, 0) is category 0
            if fval > -1.0 and fval < 2147483647.0:
                c = np.int64(fval)
                word = c >> 5
                if word < cat_len:
                    left = np.uint64((cat_bits[cat_start + word] >> (c & 31)) & 1)
            dec_row[r] = left
        return
    missing = flags >> 2
    default_left = np.uint64(1) if flags & 2 else np.uint64(0)
    if missing == 0:  # NaN is read as 0.0
        for r in range(n):
            fval = xt[f, r]
            fval = 0.0 if np.isnan(fval) else fval
            dec_row[r] = np.uint64(fval <= threshold)
    elif missing == 1:  # NaN is 0.0, and (near) zero takes the default direction
        for r in range(n):
            fval = xt[f, r]
            fval = 0.0 if np.isnan(fval) else fval
            zero = -_ZERO_THRESHOLD <= fval <= _ZERO_THRESHOLD
            dec_row[r] = default_left if zero else np.uint64(fval <= threshold)
    else:  # NaN takes the default direction
        for r in range(n):
            fval = xt[f, r]
            dec_row[r] = default_left if np.isnan(fval) else np.uint64(fval <= threshold)


@numba.njit(cache=True, nogil=True, parallel=True)
def _shap_kernel(
    X,
    out,
    tree_node_start,
    tree_leaf_start,
    node_feature,
    node_threshold,
    node_flags,
    node_cat_start,
    node_cat_len,
    cat_bits,
    node_parent,
    node_is_left,
    node_edge_bit,
    leaf_node,
    leaf_k,
    leaf_value,
    leaf_table,
    leaf_uf_start,
    uf_feature,
    uf_z,
    leaf_path_start,
    path_node,
    path_is_left,
    path_pos,
    tables,
    weights,
    max_nodes,
    max_k,
    block,
):  # pragma: no cover - compiled
    """Add every tree's SHAP values of every row of ``X`` into ``out`` (feature columns).

    Blocks of rows run in parallel; inside a block, trees are the outer loop and the rows
    the inner one, on transposed copies of the block (feature × row), so each inner loop is
    a straight pass over contiguous rows for one node or one table column.
    """
    n = X.shape[0]
    n_feat = X.shape[1]
    n_trees = tree_node_start.shape[0] - 1
    n_blocks = (n + block - 1) // block
    for b in numba.prange(n_blocks):
        r0 = b * block
        m = min(n, r0 + block) - r0
        xt = np.empty((n_feat, block), dtype=np.float64)
        acc = np.zeros((n_feat, block), dtype=np.float64)
        for r in range(m):
            for f in range(n_feat):
                xt[f, r] = X[r0 + r, f]
        dec = np.zeros((max_nodes, block), dtype=np.uint64)
        pat = np.zeros((max_nodes, block), dtype=np.uint64)
        idx = np.zeros(block, dtype=np.int64)
        o = np.zeros(max_k + 1, dtype=np.uint8)
        esp = np.zeros(max_k + 2, dtype=np.float64)
        esp_j = np.zeros(max_k + 2, dtype=np.float64)
        phi = np.zeros(max_k + 1, dtype=np.float64)
        all_ones = ~np.uint64(0)
        for t in range(n_trees):
            ns = tree_node_start[t]
            nn = tree_node_start[t + 1] - ns
            l0 = tree_leaf_start[t]
            l1 = tree_leaf_start[t + 1]
            if l1 == l0:  # single-leaf tree: only the bias
                continue
            for i in range(nn):
                g = ns + i
                f = node_feature[g]
                if f >= 0:
                    _decide(
                        xt,
                        f,
                        node_threshold[g],
                        node_flags[g],
                        node_cat_start[g],
                        node_cat_len[g],
                        cat_bits,
                        m,
                        dec[i],
                    )
            for r in range(m):
                pat[0, r] = all_ones
            for i in range(1, nn):
                g = ns + i
                p = node_parent[g]
                bit = node_edge_bit[g]
                is_left = np.uint64(node_is_left[g])
                for r in range(m):
                    # clear the bit when the row goes the other way at the parent
                    pat[i, r] = pat[p, r] & ~(bit * (dec[p, r] ^ is_left))
            for leaf in range(l0, l1):
                k = leaf_k[leaf]
                u0 = leaf_uf_start[leaf]
                off = leaf_table[leaf]
                if off >= 0:
                    mask = (np.uint64(1) << np.uint64(k)) - np.uint64(1)
                    node = leaf_node[leaf]
                    for r in range(m):
                        idx[r] = off + np.int64(pat[node, r] & mask) * k
                    for j in range(k):
                        f = uf_feature[u0 + j]
                        for r in range(m):
                            acc[f, r] += tables[idx[r] + j]
                else:
                    p0 = leaf_path_start[leaf]
                    p1 = leaf_path_start[leaf + 1]
                    for r in range(m):
                        for j in range(k):
                            o[j] = 1
                        for q in range(p0, p1):
                            if dec[path_node[q], r] != path_is_left[q]:
                                o[path_pos[q]] = 0
                        _leaf_phi(
                            o, uf_z[u0 : u0 + k], k, leaf_value[leaf], weights, esp, esp_j, phi
                        )
                        for j in range(k):
                            acc[uf_feature[u0 + j], r] += phi[j]
        for r in range(m):
            for f in range(n_feat):
                out[r0 + r, f] = acc[f, r]
