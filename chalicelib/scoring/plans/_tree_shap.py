"""Exact path-dependent TreeSHAP over a `NodeTable`, vectorised over rows in numpy.

The values are those of shap's `TreeExplainer(model, feature_perturbation=
"tree_path_dependent")` (Lundberg et al. 2018, "Consistent individualized feature attribution
for tree ensembles", Algorithm 2; shap/cext/tree_shap.h `tree_shap_recursive`), computed
another way that suits numpy.

Path-dependent TreeSHAP explains the game v(S) = sum over leaves l of
value(l) * prod over the features i on l's path of (o_i if i in S else z_i), where, for the
nodes of l's path that split on i, z_i is the product of cover(child on path) / cover(node)
and o_i is 1 when the row follows all of them, else 0. (Algorithm 2 keeps the same pair per
unique feature: a feature met again on the path is unwound and its fractions multiplied.)
A product game's Shapley values are, per leaf with D unique features,

    phi_i = value(l) * (o_i - z_i) * sum_k k! (D-1-k)! / D! * [t^k] prod_{j != i} (z_j + o_j t)

and since k! (D-1-k)! / D! = integral over u in [0, 1] of u^k (1-u)^(D-1-k), the sum is

    integral over [0, 1] of prod_{j != i} (z_j (1 - u) + o_j u) du,

a polynomial of degree D - 1 in u, which Gauss-Legendre quadrature with ceil(D / 2) points
integrates exactly. The product over j != i is the product over all j divided by factor i:
products and quotients of positive factors, so no cancellation. Padding a path with
features of z = o = 1 (null players, factor 1) gives every leaf the same number of slots
without changing any value.

The row's route is the prediction's: `goes_right_at` of `_tree_walk`, on the same X
(float32 values for scikit-learn's trees, NaN to the learned side, HistGradientBoosting's
categorical bitsets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chalicelib.scoring.plans._format import Unexplainable
from chalicelib.scoring.plans._tree_walk import NodeTable, goes_right_at

# Rows per block: about a million (row, leaf, slot) entries, so a block's arrays take a few
# megabytes whatever the ensemble's size.
_BLOCK_ENTRIES = 1 << 20

NO_COVERS = (
    "this version was registered before explanations (its plan has no node covers); "
    "register it again to explain it"
)


@dataclass(frozen=True)
class _Paths:
    """Every leaf's path, in slots of unique features, precomputed once per head."""

    split_nodes: np.ndarray  # intp: the internal nodes, whose routes a row needs
    step_split: np.ndarray  # (steps, leaves) position in `split_nodes` of the step's node
    step_right: np.ndarray  # (steps, leaves) bool: the path goes right there (or padding)
    step_pad: np.ndarray  # (steps, leaves) bool: no node at this step (a shallower leaf)
    step_slot: np.ndarray  # (steps, leaves) flat slot (leaf * slots + slot) of the feature
    zero: np.ndarray  # (leaves * slots,) z per slot, 1 for padding
    slots: int  # D: the most unique features on a path
    real_slots: np.ndarray  # flat slots holding a feature
    slot_feature: np.ndarray  # feature of each real slot
    leaf_tree: np.ndarray  # tree of each leaf
    leaf_nodes: np.ndarray  # node of each leaf
    base_weight: np.ndarray  # cover(leaf) / cover(root) per leaf


def _leaf_paths(table: NodeTable, covers: np.ndarray, n_features: int) -> _Paths:
    n_nodes = table.feature.size
    nodes = np.arange(n_nodes)
    is_split = table.children[0::2] != nodes
    split_nodes = np.flatnonzero(is_split)
    if (covers[split_nodes] <= 0).any():
        raise Unexplainable("a split node has no cover (zero sample weight): no explanation")
    parent = np.full(n_nodes, -1, dtype=np.intp)
    is_right = np.zeros(n_nodes, dtype=bool)
    parent[table.children[2 * split_nodes]] = split_nodes
    parent[table.children[2 * split_nodes + 1]] = split_nodes
    is_right[table.children[2 * split_nodes + 1]] = True
    leaves = np.flatnonzero(~is_split)
    leaf_tree = np.searchsorted(table.roots, leaves, side="right") - 1
    position = np.full(n_nodes, -1, dtype=np.intp)
    position[split_nodes] = np.arange(split_nodes.size)

    # Walk every leaf up to its root, one level per step.
    step_node, step_right, step_pad, step_zero = [], [], [], []
    current = leaves.copy()
    while True:
        above = parent[current]
        pad = above < 0
        if pad.all():
            break
        node = np.where(pad, split_nodes[0] if split_nodes.size else 0, above)
        step_node.append(node)
        step_right.append(np.where(pad, False, is_right[current]))
        step_pad.append(pad)
        step_zero.append(np.where(pad, 1.0, covers[current] / covers[node]))
        current = np.where(pad, current, above)
    n_leaves = leaves.size
    if step_node:
        node_steps = np.array(step_node)
        pad_steps = np.array(step_pad)
    else:  # only stumps: no split anywhere
        node_steps = np.zeros((0, n_leaves), dtype=np.intp)
        pad_steps = np.zeros((0, n_leaves), dtype=bool)

    # Unique (leaf, feature) pairs become slots, numbered within each leaf.
    leaf_index = np.broadcast_to(np.arange(n_leaves), node_steps.shape)
    feature_steps = table.feature[node_steps]
    real = ~pad_steps
    keys = leaf_index[real] * n_features + feature_steps[real]
    unique, inverse = np.unique(keys, return_inverse=True)
    unique_leaf = unique // n_features
    slot_in_leaf = np.arange(unique.size) - np.searchsorted(unique_leaf, unique_leaf)
    slots = int(slot_in_leaf.max()) + 1 if unique.size else 1
    flat_unique = unique_leaf * slots + slot_in_leaf
    step_slot = leaf_index * slots  # padding steps point to their leaf's first slot
    step_slot = np.array(step_slot, dtype=np.intp)
    step_slot[real] = flat_unique[inverse.ravel()]
    zero = np.ones(n_leaves * slots, dtype=np.float64)
    if step_zero:
        np.multiply.at(zero, step_slot[real], np.array(step_zero)[real])
    root_of_leaf = table.roots[leaf_tree]
    return _Paths(
        split_nodes=split_nodes,
        step_split=np.where(pad_steps, 0, position[node_steps]).astype(np.intp),
        step_right=np.array(step_right, dtype=bool).reshape(node_steps.shape),
        step_pad=pad_steps,
        step_slot=step_slot,
        zero=zero,
        slots=slots,
        real_slots=flat_unique,
        slot_feature=unique % n_features,
        leaf_tree=leaf_tree,
        leaf_nodes=leaves,
        base_weight=covers[leaves] / covers[root_of_leaf],
    )


class TreeShap:
    """Path-dependent SHAP values of a tree ensemble's summed leaf values.

    `values` is (n_nodes,) with one output column per tree (`tree % n_outputs`: gradient
    boosting's stages) or (n_nodes, n_outputs) with every tree feeding every column (a
    classification tree's class fractions). Contributions and base are sums over trees in
    tree order, the order the heads sum predictions in; averaging or scaling is the head's.
    """

    def __init__(
        self,
        table: NodeTable,
        covers: np.ndarray,
        values: np.ndarray,
        n_features: int,
        n_outputs: int,
    ) -> None:
        self.table = table
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.paths = paths = _leaf_paths(table, np.asarray(covers, np.float64), n_features)
        leaf_values = np.asarray(values, dtype=np.float64)[paths.leaf_nodes]
        if leaf_values.ndim == 1:
            columns = paths.leaf_tree % n_outputs
            self.outputs = [(leaf_values, columns)]
        else:
            every = np.zeros(paths.leaf_nodes.size, dtype=np.intp)
            self.outputs = [(leaf_values[:, c], every + c) for c in range(n_outputs)]
        self._prepare_sums()
        self._prepare_quadrature()

    def _prepare_sums(self) -> None:
        """Per output, the real slots ordered by (feature, column) target, stably (so within a
        target in leaf, hence tree, order), with where each target's run starts: one gather
        and one `np.add.reduceat` add a block's slot values into features."""
        paths = self.paths
        leaf_of_slot = paths.real_slots // paths.slots
        self.sums = []
        for leaf_values, columns in self.outputs:
            target = paths.slot_feature * self.n_outputs + columns[leaf_of_slot]
            order = np.argsort(target, kind="stable")
            ordered = target[order]
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            self.sums.append(
                (paths.real_slots[order], leaf_values[leaf_of_slot[order]], starts, ordered[starts])
            )

    def _prepare_quadrature(self) -> None:
        """Each slot's factor z (1 - u) + o u at every Gauss-Legendre point u, for o = 0, 1."""
        points = max(1, (self.paths.slots + 1) // 2)
        nodes, weights = np.polynomial.legendre.leggauss(points)
        u = (nodes + 1.0) / 2.0
        self.weights = weights / 2.0
        z = self.paths.zero
        self.factor_off = z[None, :] * (1.0 - u)[:, None]
        self.factor_on = self.factor_off + u[:, None]

    def expected_value(self) -> np.ndarray:
        """Sum over trees of each tree's cover-weighted mean leaf value: shap's
        `expected_value` (its `compute_expectations` sets the root's value to that mean)."""
        base = np.zeros(self.n_outputs, dtype=np.float64)
        for leaf_values, columns in self.outputs:
            base += np.bincount(
                columns, weights=leaf_values * self.paths.base_weight, minlength=self.n_outputs
            )
        return base

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, n_features, n_outputs) for X as the head routes it (already cast/encoded)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        n_rows = X.shape[0]
        result = np.zeros((n_rows, self.n_features * self.n_outputs), dtype=np.float64)
        per_block = max(1, _BLOCK_ENTRIES // max(self.paths.zero.size, 1))
        for first in range(0, n_rows, per_block):
            block = X[first : first + per_block]
            result[first : first + block.shape[0]] = self._block(block)
        return result.reshape(n_rows, self.n_features, self.n_outputs)

    def _block(self, X: np.ndarray) -> np.ndarray:
        paths = self.paths
        n_rows = X.shape[0]
        unit = self._unit_values(X, self._one_fractions(X))
        out = np.zeros((n_rows, self.n_features * self.n_outputs), dtype=np.float64)
        for slots, leaf_values, starts, targets in self.sums:
            if not slots.size:
                continue
            weighted = unit[:, slots] * leaf_values
            out[:, targets] += np.add.reduceat(weighted, starts, axis=1)
        del paths
        return out

    def _one_fractions(self, X: np.ndarray) -> np.ndarray:
        """o per (row, flat slot): whether the row follows every node of the slot's feature."""
        paths = self.paths
        n_rows, n_features = X.shape
        flat = X.ravel()
        n_split = paths.split_nodes.size
        starts = np.repeat(np.arange(n_rows, dtype=np.intp) * n_features, n_split)
        nodes = np.tile(paths.split_nodes, n_rows)
        has_nan = bool(np.isnan(flat).any())
        right = goes_right_at(self.table, flat, starts, nodes, has_nan).reshape(n_rows, n_split)
        ones = np.ones((n_rows, paths.zero.size), dtype=bool)
        for split, goes, pad, slot in zip(
            paths.step_split, paths.step_right, paths.step_pad, paths.step_slot, strict=True
        ):
            follows = (right[:, split] == goes) | pad
            ones[:, slot] &= follows
        return ones

    def _unit_values(self, X: np.ndarray, ones: np.ndarray) -> np.ndarray:
        """(o_i - z_i) * integral of prod_{j != i} (z_j (1 - u) + o_j u) per (row, slot):
        a slot's Shapley value for a leaf of value 1."""
        n_rows = X.shape[0]
        shape = (n_rows, self.paths.zero.size // self.paths.slots, self.paths.slots)
        total = np.zeros(shape, dtype=np.float64)
        for weight, off, on in zip(self.weights, self.factor_off, self.factor_on, strict=True):
            factor = np.where(ones, on, off).reshape(shape)
            product = factor.prod(axis=2, keepdims=True)
            total += (weight * product) / factor
        return total.reshape(n_rows, -1) * (ones - self.paths.zero)
