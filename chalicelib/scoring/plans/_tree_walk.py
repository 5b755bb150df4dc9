"""Vectorised descent of decision trees, shared by the tree and histogram-boosting families.

A `NodeTable` holds every tree of an estimator concatenated: per node its feature, threshold,
the side a missing value takes and its two children (global indices, interleaved as
`children[2 * node + goes_right]`). Leaves point to themselves, so descending a fixed number
of levels (the deepest tree's depth) leaves every (row, tree) pair at its leaf without
per-row bookkeeping. Trees are walked in blocks of about 65,000 (row, tree) pairs (one tree
at a time for a batch chunk of 50,000 rows), which bounds memory and stays in cache.

Also here: class labels in a plan, and the checks of X the estimators make before predicting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# Trees walked together: about 65,000 (row, tree) pairs, so a block's arrays stay in cache.
_BLOCK_ENTRIES = 1 << 16
_COMPACT_BELOW = 0.75
# A categorical split's decision per category code 0..255: histogram gradient boosting casts
# a category to uint8 before its bitset look-up (sklearn/utils/_bitset.pyx). The codes it
# sees come from its category encoding (`_hgb_categories`), below max_bins (at most 255).
_CATEGORY_CODES = 256


@dataclass(frozen=True)
class NodeTable:
    feature: np.ndarray  # intp per node; 0 at leaves (never read there)
    threshold: np.ndarray  # float64 per node: go left when x <= threshold
    nan_left: np.ndarray  # bool per node: where a missing value goes
    children: np.ndarray  # intp, 2 per node: [left, right]; a leaf's are itself
    roots: np.ndarray  # intp per tree
    depth: int  # levels to descend: the deepest leaf's depth
    # Categorical splits (histogram gradient boosting): per node its row in `category_left`
    # or -1, and per row whether each code 0..255 goes left.
    category_row: np.ndarray | None = None
    category_left: np.ndarray | None = None


def leaf_children(left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray) -> np.ndarray:
    """Interleaved [left, right] per node (global indices), leaves pointing to themselves."""
    nodes = np.arange(left.size, dtype=np.intp)
    children = np.empty(2 * left.size, dtype=np.intp)
    children[0::2] = np.where(is_leaf, nodes, left)
    children[1::2] = np.where(is_leaf, nodes, right)
    return children


def iter_leaves(table: NodeTable, X: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first tree, leaves of shape (trees in block, rows)) per block of trees, in tree order.

    X is C-contiguous float64 in the representation the estimator compares (float32 values
    widened for scikit-learn's trees, raw float64 for histogram gradient boosting).
    """
    n_rows, n_features = X.shape
    flat = X.ravel()
    has_nan = bool(np.isnan(flat).any())
    is_split = table.children[0::2] != np.arange(table.feature.size)
    row_starts = np.arange(n_rows, dtype=np.intp) * n_features
    per_block = max(1, _BLOCK_ENTRIES // max(n_rows, 1))
    for first in range(0, table.roots.size, per_block):
        roots = table.roots[first : first + per_block]
        node = np.repeat(roots, n_rows)
        starts = np.tile(row_starts, roots.size)
        leaves = _descend(table, flat, starts, node, has_nan, is_split)
        yield first, leaves.reshape(roots.size, n_rows)


def _descend(
    table: NodeTable,
    flat: np.ndarray,
    starts: np.ndarray,
    node: np.ndarray,
    has_nan: bool,
    is_split: np.ndarray,
) -> np.ndarray:
    """The leaf of every (row, tree) pair. Pairs that reached a leaf are set aside once a
    quarter of those still descending have: deep trees have most leaves well above their
    deepest one, and the work of a level is proportional to the pairs it moves."""
    leaves = np.empty_like(node)
    pending = np.arange(node.size)
    for _ in range(table.depth):
        node = _descend_one_level(table, flat, starts, node, has_nan)
        splitting = np.take(is_split, node)
        still = np.count_nonzero(splitting)
        if still <= _COMPACT_BELOW * node.size:
            done = ~splitting
            leaves[pending[done]] = node[done]
            keep = np.flatnonzero(splitting)
            pending, node, starts = pending[keep], node[keep], starts[keep]
            if not still:
                break
    leaves[pending] = node
    return leaves


def _descend_one_level(
    table: NodeTable, flat: np.ndarray, starts: np.ndarray, node: np.ndarray, has_nan: bool
) -> np.ndarray:
    """Every (row, tree) pair one level down; pairs at a leaf stay there."""
    goes_right = goes_right_at(table, flat, starts, node, has_nan)
    return np.take(table.children, 2 * node + goes_right)


def goes_right_at(
    table: NodeTable, flat: np.ndarray, starts: np.ndarray, node: np.ndarray, has_nan: bool
) -> np.ndarray:
    """Whether the row starting at `flat[starts]` goes right at `node`, per (row, node) pair:
    the one routing rule of prediction, which explanations (`_tree_shap`) follow too."""
    x = np.take(flat, starts + np.take(table.feature, node))
    # Same test as sklearn/tree/_tree.pyx (`X[i, feature] <= threshold`) and
    # _hist_gradient_boosting/_predictor.pyx (`data_val <= num_threshold`): NaN fails it.
    goes_right = ~(x <= np.take(table.threshold, node))
    if has_nan:
        missing = np.flatnonzero(np.isnan(x))
        if missing.size:
            goes_right[missing] = ~np.take(table.nan_left, np.take(node, missing))
    if table.category_row is not None and table.category_left is not None:
        _route_categories(table, x, node, goes_right)
    return goes_right


def _route_categories(
    table: NodeTable, x: np.ndarray, node: np.ndarray, goes_right: np.ndarray
) -> None:
    """Categorical splits, as _hist_gradient_boosting/_predictor.pyx: NaN and negative codes
    take the missing side; others go left when in the split's bitset, right when a known
    category, else (unknown) the missing side, which `category_left` has folded in."""
    assert table.category_row is not None and table.category_left is not None
    rows = np.take(table.category_row, node)
    at = np.flatnonzero(rows >= 0)
    if not at.size:
        return
    values = x[at]
    rows = rows[at]
    valid = values >= 0  # False for NaN too
    codes = np.where(valid, values, 0).astype(np.intp) % _CATEGORY_CODES
    left = np.where(valid, table.category_left[rows, codes], np.take(table.nan_left, node[at]))
    goes_right[at] = ~left


# -- the checks of X the estimators make ---------------------------------------------------


def check_width(X: np.ndarray, n_features: int, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X has shape {X.shape}, but {name} is expecting {n_features} features as input"
        )
    return X


def as_float32_values(X: np.ndarray, allow_nan: bool) -> np.ndarray:
    """X as scikit-learn's trees see it: cast to float32 (sklearn/tree/_classes.py,
    `_validate_X_predict`), widened back to float64 so the comparison with the float64
    thresholds is the one _tree.pyx makes. Infinite values, or values beyond float32's
    range, are refused as scikit-learn refuses them; NaN too where the estimator does."""
    with np.errstate(over="ignore"):
        narrow = np.ascontiguousarray(X, dtype=np.float32)
    if np.isinf(narrow).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float32').")
    if not allow_nan and np.isnan(narrow).any():
        raise ValueError("Input X contains NaN.")
    return narrow.astype(np.float64)
