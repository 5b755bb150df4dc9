"""Plan family _hgb: HistGradientBoostingClassifier / Regressor.

raw = `_baseline_prediction` + the leaf values of each iteration's trees, added in order per
class column (gradient_boosting.py `_raw_predict`, `_predict_iterations`). Each tree is its
TreePredictor's nodes (common.pyx PREDICTOR_RECORD_DTYPE), walked as
_hist_gradient_boosting/_predictor.pyx `_predict_one_from_raw_data` does on float64 X: NaN
takes `missing_go_to_left`, a numerical split goes left when `x <= num_threshold`, a
categorical split by the node's bitset of raw categories, the feature's known categories and,
for an unknown category, the missing side. Then the loss's inverse link.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from chalicelib.scoring.plans._boosting_links import binary_proba, raw_scale, scale_of, softmax
from chalicelib.scoring.plans._format import (
    REGISTERED_BEFORE_EXPLANATIONS,
    Loader,
    Planner,
    PlanReader,
    PlanWriter,
    Spec,
    Unexplainable,
    Unplannable,
)
from chalicelib.scoring.plans._hgb_categories import CategoryEncoding, plan_encoding
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._tree_walk import (
    NodeTable,
    check_width,
    iter_leaves,
    leaf_children,
)

if TYPE_CHECKING:
    from chalicelib.scoring.plans._tree_shap import TreeShap

_KIND = "hist_gradient_boosting"
_FIELDS = (
    "value",
    "feature_idx",
    "num_threshold",
    "missing_go_to_left",
    "left",
    "right",
    "is_leaf",
    "is_categorical",
    "depth",
)
# The inverse link of `predict` (gradient_boosting.py: the regressor's
# `_loss.link.inverse`, the classifier's `_loss.predict_proba`).
_REGRESSOR_LINKS = {"IdentityLink": "identity", "LogLink": "exp"}
_CLASSIFIER_LINKS = {"HalfBinomialLoss": "logit", "HalfMultinomialLoss": "softmax"}


def plan_hgb(estimator: Any, writer: PlanWriter) -> Spec:
    name = type(estimator).__name__
    classes = getattr(estimator, "classes_", None)
    trees = [tree for iteration in estimator._predictors for tree in iteration]
    known, feature_map = estimator._bin_mapper.make_known_categories_bitsets()
    spec: Spec = {
        "kind": _KIND,
        "name": name,
        "n_features": int(estimator.n_features_in_),
        "per_iteration": int(estimator.n_trees_per_iteration_),
        "baseline": writer.add(np.ravel(estimator._baseline_prediction), "baseline"),
        "nodes": _write_nodes(trees, writer),
        "known_categories": writer.add(known, "known_categories"),
        "feature_map": writer.add(feature_map, "feature_map"),
        "encoding": plan_encoding(estimator, writer),
        "link": _link(estimator, name, classes is not None),
        "raw_scale": raw_scale(estimator),
    }
    if classes is not None:
        spec["classes"] = add_classes(classes, writer)
    return spec


def _link(estimator: Any, name: str, classifier: bool) -> str:
    if classifier:
        loss = type(estimator._loss).__name__
        links = _CLASSIFIER_LINKS
    else:
        loss = type(estimator._loss.link).__name__
        links = _REGRESSOR_LINKS
    if loss not in links:
        raise Unplannable(f"{name} with {loss}: its prediction from raw values is not planned")
    return links[loss]


def _write_nodes(trees: list[Any], writer: PlanWriter) -> Spec:
    """All predictors' nodes concatenated, children and bitset rows renumbered globally."""
    nodes, bitsets, roots = [], [], []
    node_offset = bitset_offset = 0
    for tree in trees:
        record = tree.nodes
        columns = {field: np.asarray(record[field]) for field in _FIELDS}
        columns["left"] = columns["left"].astype(np.int64) + node_offset
        columns["right"] = columns["right"].astype(np.int64) + node_offset
        columns["bitset"] = np.where(
            record["is_categorical"].astype(bool),
            record["bitset_idx"].astype(np.int64) + bitset_offset,
            -1,
        )
        nodes.append(columns)
        bitsets.append(np.asarray(tree.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8))
        roots.append(node_offset)
        node_offset += record.size
        bitset_offset += bitsets[-1].shape[0]
    spec: Spec = {"roots": writer.add(np.asarray(roots, dtype=np.int64), "roots")}
    for field in _FIELDS + ("bitset",):
        values = [columns[field] for columns in nodes] or [np.zeros(0)]
        spec[field] = writer.add(np.concatenate(values), field)
    # Each node's cover for explanations: its training sample count, what shap's
    # TreeExplainer takes as `node_sample_weight` of a HistGradientBoosting predictor
    # (shap/explainers/_tree.py, TreeEnsemble: `n[1]`, the record's "count").
    counts = [np.asarray(tree.nodes["count"], dtype=np.float64) for tree in trees]
    spec["cover"] = writer.add(np.concatenate(counts or [np.zeros(0)]), "cover")
    spec["left_bitsets"] = writer.add(
        np.concatenate(bitsets) if bitsets else np.zeros((0, 8), np.uint32), "left_bitsets"
    )
    return spec


def _read_nodes(
    spec: Spec, reader: PlanReader, known: np.ndarray, feature_map: np.ndarray
) -> tuple[NodeTable, np.ndarray]:
    is_leaf = reader[spec["is_leaf"]].astype(bool)
    feature = np.where(is_leaf, 0, reader[spec["feature_idx"]]).astype(np.intp)
    nan_left = reader[spec["missing_go_to_left"]].astype(bool)
    bitset = reader[spec["bitset"]].astype(np.intp)
    depth = reader[spec["depth"]]
    table = NodeTable(
        feature=feature,
        threshold=reader[spec["num_threshold"]].astype(np.float64),
        nan_left=nan_left,
        children=leaf_children(
            reader[spec["left"]].astype(np.intp), reader[spec["right"]].astype(np.intp), is_leaf
        ),
        roots=reader[spec["roots"]].astype(np.intp),
        depth=int(depth.max()) if depth.size else 0,
    )
    if not (bitset >= 0).any():
        return table, reader[spec["value"]].astype(np.float64)
    rows = np.flatnonzero(bitset >= 0)
    left = _bits(reader[spec["left_bitsets"]][bitset[rows]])
    seen = _bits(known[feature_map[feature[rows]]])
    # In the node's bitset: left; else a known category: right; else the missing side.
    goes_left = left | (~seen & nan_left[rows, None])
    category_row = np.full(feature.size, -1, dtype=np.intp)
    category_row[rows] = np.arange(rows.size)
    table = replace(table, category_row=category_row, category_left=goes_left)
    return table, reader[spec["value"]].astype(np.float64)


def _bits(bitsets: np.ndarray) -> np.ndarray:
    """(n, 8) uint32 bitsets as (n, 256) booleans, bit `c % 32` of word `c // 32` for code c
    (sklearn/utils/_bitset.pyx, `in_bitset_2d_memoryview`)."""
    codes = np.arange(256)
    words = bitsets[:, codes >> 5].astype(np.uint32)
    return ((words >> (codes & 31).astype(np.uint32)) & 1).astype(bool)


class HistGradientBoostingHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.name = str(spec["name"])
        self.n_features = int(spec["n_features"])
        self.per_iteration = int(spec["per_iteration"])
        self.baseline = reader[spec["baseline"]].astype(np.float64)
        known = reader[spec["known_categories"]]
        feature_map = reader[spec["feature_map"]].astype(np.intp)
        self.table, self.values = _read_nodes(spec["nodes"], reader, known, feature_map)
        encoding = spec.get("encoding")
        self.encoding = CategoryEncoding(encoding, reader) if encoding else None
        self.link = str(spec["link"])
        self.classes = load_classes(spec["classes"], reader) if "classes" in spec else None
        cover = spec["nodes"].get("cover")
        self.covers = reader[cover].astype(np.float64) if cover else None
        self.raw_scale = scale_of(spec)
        self._shap: TreeShap | None = None

    def _routed(self, X: np.ndarray) -> np.ndarray:
        """X as the trees compare it: checked, categories encoded as the estimator's
        `_preprocessor` encodes them (so contributions are the input columns' after
        `explain` maps them back)."""
        X = np.ascontiguousarray(check_width(X, self.n_features, self.name))
        if self.encoding is not None:
            X = self.encoding.transform(X)
        return X

    def _raw(self, X: np.ndarray) -> np.ndarray:
        X = self._routed(X)
        raw = np.zeros((X.shape[0], self.per_iteration), dtype=np.float64)
        raw += self.baseline
        for first, leaves in iter_leaves(self.table, X):
            for offset, tree_leaves in enumerate(leaves):
                column = (first + offset) % self.per_iteration
                raw[:, column] += np.take(self.values, tree_leaves)
        return raw

    def raw_output(self, X: np.ndarray) -> np.ndarray:
        """`_raw_predict`: baseline plus the trees, before the inverse link, (rows, k)."""
        return self._raw(X)

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path-dependent SHAP values of the raw prediction; base is the baseline plus each
        tree's expected value (shap's TreeExplainer: `base_offset` is `_baseline_prediction`).
        Columns the category encoding moved are put back in the input's order."""
        if self.covers is None:
            raise Unexplainable(REGISTERED_BEFORE_EXPLANATIONS)
        if self._shap is None:
            # Only explaining needs it: loading a plan to answer stays as cheap as before.
            from chalicelib.scoring.plans._tree_shap import TreeShap

            self._shap = TreeShap(
                self.table, self.covers, self.values, self.n_features, self.per_iteration
            )
        contributions = self._shap.contributions(self._routed(X))
        if self.encoding is not None:
            # Encoded column c is input column order[c].
            restored = np.empty_like(contributions)
            restored[:, self.encoding.order] = contributions
            contributions = restored
        return self.baseline + self._shap.expected_value(), contributions

    def predict(self, X: np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        if self.classes is None:
            values = raw.ravel()
            return np.exp(values) if self.link == "exp" else values
        if raw.shape[1] == 1:  # HistGradientBoostingClassifier.predict: "> 0", not ">= 0"
            return self.classes[(raw.ravel() > 0).astype(int)]
        return self.classes[np.argmax(raw, axis=1)]


class HistGradientBoostingClassifierHead(HistGradientBoostingHead):
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        return raw.ravel() if raw.shape[1] == 1 else raw

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        return softmax(raw) if self.link == "softmax" else binary_proba(raw.ravel())


def load_hgb(spec: Spec, reader: PlanReader) -> HistGradientBoostingHead:
    if "classes" in spec:
        return HistGradientBoostingClassifierHead(spec, reader)
    return HistGradientBoostingHead(spec, reader)


_MODULE = "sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
PLANNERS: dict[str, Planner] = {
    _MODULE + "HistGradientBoostingClassifier": plan_hgb,
    _MODULE + "HistGradientBoostingRegressor": plan_hgb,
}
LOADERS: dict[str, Loader] = {_KIND: load_hgb}
