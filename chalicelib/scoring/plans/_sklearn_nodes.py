"""The node arrays of scikit-learn's `tree_` objects (sklearn/tree/_tree.pyx), concatenated
for an ensemble, into a plan and back into a `NodeTable`.

Shared by single trees, forests and gradient boosting (whose stages are regression trees).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable
from chalicelib.scoring.plans._tree_walk import NodeTable, leaf_children

_TREE_LEAF = -1  # children_left / children_right of a leaf, as in _tree.pyx


def write_nodes(trees: Sequence[Any], writer: PlanWriter) -> Spec:
    """The fitted trees' nodes, children renumbered to global indices."""
    offsets = np.cumsum([0] + [t.tree_.node_count for t in trees])
    left, right = [], []
    for tree, offset in zip(trees, offsets[:-1], strict=True):
        left.append(_globalised(tree.tree_.children_left, offset))
        right.append(_globalised(tree.tree_.children_right, offset))
    return {
        "roots": writer.add(offsets[:-1].astype(np.int64), "roots"),
        "left": writer.add(np.concatenate(left), "left"),
        "right": writer.add(np.concatenate(right), "right"),
        "feature": writer.add(np.concatenate([t.tree_.feature for t in trees]), "feature"),
        "threshold": writer.add(np.concatenate([t.tree_.threshold for t in trees]), "threshold"),
        "nan_left": writer.add(
            np.concatenate([t.tree_.missing_go_to_left for t in trees]).astype(bool), "nan_left"
        ),
        "depth": int(max(t.tree_.max_depth for t in trees)),
        # Each node's cover for explanations: what shap's TreeExplainer takes as
        # `node_sample_weight` of a scikit-learn tree (shap/explainers/_tree.py, SingleTree).
        "cover": writer.add(
            np.concatenate([t.tree_.weighted_n_node_samples for t in trees]).astype(np.float64),
            "cover",
        ),
    }


def _globalised(children: np.ndarray, offset: int) -> np.ndarray:
    children = np.asarray(children, dtype=np.int64)
    return np.where(children == _TREE_LEAF, _TREE_LEAF, children + offset)


def read_nodes(spec: Spec, reader: PlanReader) -> NodeTable:
    left = reader[spec["left"]].astype(np.intp)
    right = reader[spec["right"]].astype(np.intp)
    is_leaf = left == _TREE_LEAF
    return NodeTable(
        feature=np.where(is_leaf, 0, reader[spec["feature"]]).astype(np.intp),
        threshold=reader[spec["threshold"]].astype(np.float64),
        nan_left=reader[spec["nan_left"]].astype(bool),
        children=leaf_children(left, right, is_leaf),
        roots=reader[spec["roots"]].astype(np.intp),
        depth=int(spec["depth"]),
    )


def read_covers(spec: Spec, reader: PlanReader) -> np.ndarray | None:
    """The nodes' covers, or None for a plan written before explanations."""
    return reader[spec["cover"]].astype(np.float64) if "cover" in spec else None


def node_values(trees: Sequence[Any], classifier: bool) -> np.ndarray:
    """Per node what `tree_.predict` returns for a leaf: the class fractions (n_nodes, k)
    of a single-output classifier, the value (n_nodes,) of a regression tree."""
    values = [np.asarray(t.tree_.value, dtype=np.float64) for t in trees]
    if classifier:
        return np.concatenate([v[:, 0, :] for v in values])
    return np.concatenate([v[:, 0, 0] for v in values])


def require_single_output(estimator: Any) -> None:
    outputs = getattr(estimator, "n_outputs_", 1)
    if outputs != 1:
        raise Unplannable(
            f"{type(estimator).__name__} predicts {outputs} outputs; plans cover "
            "single-output trees only"
        )


def allows_nan(tree: Any) -> bool:
    """Whether the tree's `_validate_X_predict` lets NaN through (its `allow_nan` tag:
    True for decision trees, for extra trees only with splitter='random')."""
    return bool(tree.__sklearn_tags__().input_tags.allow_nan)
