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

from chalicelib.scoring.plans._format import REGISTERED_BEFORE_EXPLANATIONS, Unexplainable
from chalicelib.scoring.plans._tree_walk import NodeTable, goes_right_at

# Rows per block: about a million (row, leaf, slot) entries, so a block's arrays take a few
# megabytes whatever the ensemble's size.
_BLOCK_ENTRIES = 1 << 20

NO_COVERS = REGISTERED_BEFORE_EXPLANATIONS  # a plan without node covers


@dataclass(frozen=True)
class _Paths:
    """Every leaf's path as slots (its unique features), precomputed once per head. The
    arrays are flat and ordered so that each reduction is one `reduceat` over runs."""

    split_nodes: np.ndarray  # the internal nodes, whose routes a row needs
    step_split: np.ndarray  # per path step, ordered by slot: its node's position in split_nodes
    step_right: np.ndarray  # per step: the path takes the right child there
    slot_starts: np.ndarray  # per slot: its first step
    repeats: list[tuple[np.ndarray, np.ndarray]]  # (steps, their slots): a feature met again
    slot_leaf: np.ndarray  # per slot: its leaf's position in `leaves` (slots ordered by leaf)
    slot_feature: np.ndarray  # per slot: its feature
    zero: np.ndarray  # per slot: z, the product of cover(child) / cover(node) of its steps
    leaves: np.ndarray  # the leaf nodes, in node (hence tree) order
    leaf_tree: np.ndarray  # per leaf: its tree
    base_weight: np.ndarray  # per leaf: cover(leaf) / cover(root)


def _leaf_paths(table: NodeTable, covers: np.ndarray, n_features: int, part: slice) -> _Paths:
    """The paths of the trees whose nodes are `part` (trees are contiguous node ranges)."""
    nodes = np.arange(table.feature.size)
    is_split = table.children[0::2] != nodes
    in_part = np.zeros(nodes.size, dtype=bool)
    in_part[part] = True
    split_nodes = np.flatnonzero(is_split & in_part)
    if (covers[split_nodes] <= 0).any():
        raise Unexplainable("a split node has no cover (zero sample weight): no explanation")
    parent = np.full(nodes.size, -1, dtype=np.intp)
    is_right = np.zeros(nodes.size, dtype=bool)
    parent[table.children[2 * split_nodes]] = split_nodes
    parent[table.children[2 * split_nodes + 1]] = split_nodes
    is_right[table.children[2 * split_nodes + 1]] = True
    position = np.full(nodes.size, -1, dtype=np.intp)
    position[split_nodes] = np.arange(split_nodes.size)
    leaves = np.flatnonzero(~is_split & in_part)
    leaf_tree = np.searchsorted(table.roots, leaves, side="right") - 1

    step_leaf, step_node, step_child = _path_steps(leaves, parent)
    # A slot is a unique (leaf, feature) pair; its steps are made contiguous.
    keys = step_leaf * n_features + table.feature[step_node]
    order = np.argsort(keys, kind="stable")
    keys, step_node, step_child = keys[order], step_node[order], step_child[order]
    slot_starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    fractions = covers[step_child] / covers[step_node]
    zero = np.multiply.reduceat(fractions, slot_starts) if keys.size else fractions
    slot_keys = keys[slot_starts]
    return _Paths(
        split_nodes=split_nodes,
        step_split=position[step_node],
        step_right=is_right[step_child],
        slot_starts=slot_starts,
        repeats=_repeats(slot_starts, keys.size),
        slot_leaf=slot_keys // n_features,
        slot_feature=slot_keys % n_features,
        zero=zero,
        leaves=leaves,
        leaf_tree=leaf_tree,
        base_weight=covers[leaves] / covers[table.roots[leaf_tree]],
    )


def _repeats(slot_starts: np.ndarray, n_steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The steps beyond each slot's first, by rank within the slot (second, third, ...) with
    their slots: a slot's one fraction is its first step's and-ed with each of these."""
    slot = np.repeat(np.arange(slot_starts.size), np.diff(np.r_[slot_starts, n_steps]))
    rank = np.arange(n_steps) - slot_starts[slot] if n_steps else slot
    repeats = []
    for r in range(1, int(rank.max()) + 1 if n_steps else 1):
        steps = np.flatnonzero(rank == r)
        repeats.append((steps, slot[steps]))
    return repeats


def _path_steps(leaves: np.ndarray, parent: np.ndarray) -> tuple[np.ndarray, ...]:
    """(leaf position, node, child on the path) of every step of every leaf's path, found
    by walking all leaves up one level at a time."""
    leaf_index, node, child = [], [], []
    current, index = leaves, np.arange(leaves.size)
    while current.size:
        above = parent[current]
        up = above >= 0
        current, index, above = current[up], index[up], above[up]
        leaf_index.append(index)
        node.append(above)
        child.append(current)
        current = above
    empty = np.zeros(0, dtype=np.intp)
    return tuple(np.concatenate(parts) if parts else empty for parts in (leaf_index, node, child))


@dataclass(frozen=True)
class _Quadrature:
    """Per leaf, ceil(D / 2) Gauss-Legendre points on [0, 1] (exact for its degree D - 1
    integrand), laid out as entries (leaf, point, slot): a leaf's product over its slots at a
    point is a contiguous run; `by_point` lists, per point index, its entries and their slots
    (all slots for the first point), for the sum over points."""

    entry_slot: np.ndarray
    off: np.ndarray  # z (1 - u): the slot's factor when the row does not follow it
    on: np.ndarray  # z (1 - u) + u: when it does
    weight: np.ndarray  # the point's weight
    run_starts: np.ndarray  # first entry of each (leaf, point) run
    entry_run: np.ndarray  # the run of each entry
    by_point: list[tuple[np.ndarray, np.ndarray]]  # per point index: (entries, their slots)


def _quadrature(paths: _Paths) -> _Quadrature:
    n_leaves = paths.leaves.size
    width = np.bincount(paths.slot_leaf, minlength=n_leaves)  # D per leaf
    points = (width + 1) // 2
    leaf_start = np.r_[0, np.cumsum(width * points)[:-1]]
    slot_rank = np.arange(paths.slot_leaf.size) - np.r_[0, np.cumsum(width)[:-1]][paths.slot_leaf]
    # Each slot once per point of its leaf.
    slot = np.repeat(np.arange(paths.slot_leaf.size), points[paths.slot_leaf])
    first_of_slot = np.r_[0, np.cumsum(points[paths.slot_leaf])[:-1]]
    point = np.arange(slot.size) - first_of_slot[slot] if slot.size else slot
    leaf = paths.slot_leaf[slot]
    at = leaf_start[leaf] + point * width[leaf] + slot_rank[slot]
    entry_slot = np.empty_like(slot)
    entry_point = np.empty_like(slot)
    entry_slot[at], entry_point[at] = slot, point
    u, w = _gauss_legendre(int(points.max()) if points.size else 1)
    n_points = points[paths.slot_leaf[entry_slot]]
    u_entry, w_entry = u[n_points, entry_point], w[n_points, entry_point]
    off = paths.zero[entry_slot] * (1.0 - u_entry)
    run_lengths = np.repeat(width, points)
    run_starts = np.r_[0, np.cumsum(run_lengths)[:-1]] if run_lengths.size else run_lengths
    by_point = []
    for p in range(int(points.max()) if points.size else 0):
        entries = np.flatnonzero(entry_point == p)  # leaf, then slot order
        by_point.append((entries, entry_slot[entries]))
    return _Quadrature(
        entry_slot=entry_slot,
        off=off,
        on=off + u_entry,
        weight=w_entry,
        run_starts=run_starts,
        entry_run=np.repeat(np.arange(run_lengths.size), run_lengths),
        by_point=by_point,
    )


def _gauss_legendre(most: int) -> tuple[np.ndarray, np.ndarray]:
    """Points u and weights on [0, 1] of the n-point rule, row n, for n = 1..most."""
    u = np.zeros((most + 1, most))
    w = np.zeros((most + 1, most))
    for n in range(1, most + 1):
        x, weights = np.polynomial.legendre.leggauss(n)
        u[n, :n] = (x + 1.0) / 2.0
        w[n, :n] = weights / 2.0
    return u, w


class TreeShap:
    """Path-dependent SHAP values of a tree ensemble's summed leaf values.

    `values` is (n_nodes,) with one output column per tree (`tree % n_outputs`: gradient
    boosting's stages) or (n_nodes, n_outputs) with every tree feeding every column (a
    classification tree's class fractions). Contributions and base are sums over trees in
    tree order, the order the heads sum predictions in; averaging is the head's.

    The trees are taken in parts of at most about `_BLOCK_ENTRIES` (leaf, slot, point)
    entries, so explaining one row of a large forest does not hold all its entries at once.
    """

    def __init__(
        self,
        table: NodeTable,
        covers: np.ndarray,
        values: np.ndarray,
        n_features: int,
        n_outputs: int,
    ) -> None:
        self.n_features = n_features
        self.n_outputs = n_outputs
        covers = np.asarray(covers, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        everything = _leaf_paths(table, covers, n_features, slice(None))
        parts = _tree_parts(table, everything)
        known = everything if len(parts) == 1 else None
        self.parts = [
            _Part(table, known, covers, values, n_features, n_outputs, part) for part in parts
        ]

    def expected_value(self) -> np.ndarray:
        """Sum over trees of each tree's cover-weighted mean leaf value: shap's
        `expected_value` (its `compute_expectations` gives the root that mean)."""
        base = np.zeros(self.n_outputs, dtype=np.float64)
        for part in self.parts:
            base += part.expected_value()
        return base

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, n_features, n_outputs) for X as the head routes it (already cast/encoded)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        n_rows = X.shape[0]
        result = np.zeros((n_rows, self.n_features * self.n_outputs), dtype=np.float64)
        parts = [part for part in self.parts if part.entries]
        if parts:
            per_block = max(1, _BLOCK_ENTRIES // max(part.entries for part in parts))
            for first in range(0, n_rows, per_block):
                block = X[first : first + per_block]
                total = parts[0].block(block)
                for part in parts[1:]:
                    total += part.block(block)
                result[first : first + block.shape[0]] = total.T
        return result.reshape(n_rows, self.n_features, self.n_outputs)


def _tree_parts(table: NodeTable, paths: _Paths) -> list[slice]:
    """Consecutive trees, as node ranges, grouped while their (leaf, slot, point) entries
    stay within `_BLOCK_ENTRIES` (a tree alone may exceed it)."""
    width = np.bincount(paths.slot_leaf, minlength=paths.leaves.size)
    per_tree = np.bincount(
        paths.leaf_tree, weights=width * ((width + 1) // 2), minlength=table.roots.size
    )
    parts, start, size = [], 0, 0
    for tree, entries in enumerate(per_tree.astype(np.int64)):
        if size and size + entries > _BLOCK_ENTRIES:
            parts.append(slice(int(table.roots[start]), int(table.roots[tree])))
            start, size = tree, 0
        size += int(entries)
    parts.append(slice(int(table.roots[start]), table.feature.size))
    return parts


class _Part:
    """The explanation of some consecutive trees: their paths, quadrature entries and the
    order their slots are added into features."""

    def __init__(
        self,
        table: NodeTable,
        paths: _Paths | None,
        covers: np.ndarray,
        values: np.ndarray,
        n_features: int,
        n_outputs: int,
        part: slice,
    ) -> None:
        """`paths` when already computed for exactly these trees."""
        self.table = table
        self.n_features = n_features
        self.n_outputs = n_outputs
        if paths is None:
            paths = _leaf_paths(table, covers, n_features, part)
        self.paths = paths
        self.quadrature = _quadrature(paths)
        self.entries = int(self.quadrature.entry_slot.size)
        leaf_values = values[paths.leaves]
        if leaf_values.ndim == 1:
            self.outputs = [(leaf_values, paths.leaf_tree % n_outputs)]
        else:
            every = np.zeros(paths.leaves.size, dtype=np.intp)
            self.outputs = [(leaf_values[:, c], every + c) for c in range(n_outputs)]
        self.sums = [self._sum_order(*output) for output in self.outputs]

    def _sum_order(self, leaf_values: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, ...]:
        """The slots ordered by their (feature, column) target, stably (so within a target in
        leaf, hence tree, order), each slot's leaf value, where each target's run starts and
        the targets: one gather and one `np.add.reduceat` add slots into features."""
        paths = self.paths
        target = paths.slot_feature * self.n_outputs + columns[paths.slot_leaf]
        order = np.argsort(target, kind="stable")
        ordered = target[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if order.size else order
        return order, leaf_values[paths.slot_leaf[order]], starts, ordered[starts]

    def expected_value(self) -> np.ndarray:
        base = np.zeros(self.n_outputs, dtype=np.float64)
        for leaf_values, columns in self.outputs:
            weighted = leaf_values * self.paths.base_weight
            base += np.bincount(columns, weights=weighted, minlength=self.n_outputs)
        return base

    def block(self, X: np.ndarray) -> np.ndarray:
        """(n_features * n_outputs, rows): arrays run (slot or entry, row), so every
        reduction is over contiguous runs of whole rows."""
        ones = self._one_fractions(X)
        unit = self._unit_values(ones)
        out = np.zeros((self.n_features * self.n_outputs, X.shape[0]), dtype=np.float64)
        for order, leaf_values, starts, targets in self.sums:
            weighted = unit[order] * leaf_values[:, None]
            out[targets] += np.add.reduceat(weighted, starts, axis=0)
        return out

    def _one_fractions(self, X: np.ndarray) -> np.ndarray:
        """o per (slot, row): whether the row follows every node of the slot's feature on the
        slot's path, each node routed by the prediction's own rule."""
        paths = self.paths
        n_rows, n_features = X.shape
        flat = X.ravel()
        n_split = paths.split_nodes.size
        starts = np.tile(np.arange(n_rows, dtype=np.intp) * n_features, n_split)
        nodes = np.repeat(paths.split_nodes, n_rows)
        has_nan = bool(np.isnan(flat).any())
        right = goes_right_at(self.table, flat, starts, nodes, has_nan).reshape(n_split, n_rows)
        follows = right[paths.step_split] == paths.step_right[:, None]
        ones = follows[paths.slot_starts]
        for steps, slots in paths.repeats:
            ones[slots] &= follows[steps]
        return ones

    def _unit_values(self, ones: np.ndarray) -> np.ndarray:
        """(o_i - z_i) * integral of prod_{j != i} (z_j (1 - u) + o_j u) per (slot, row): the
        slot's Shapley value for a leaf of value 1."""
        q = self.quadrature
        on = ones[q.entry_slot]
        factor = np.where(on, q.on[:, None], q.off[:, None])
        products = np.multiply.reduceat(factor, q.run_starts, axis=0)
        terms = products[q.entry_run] * q.weight[:, None] / factor
        first, *others = q.by_point  # every slot has a first point
        integral = terms[first[0]]
        for entries, slots in others:
            integral[slots] += terms[entries]
        return integral * (ones - self.paths.zero[:, None])
