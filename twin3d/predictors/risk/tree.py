"""The failure-risk model's decision tree as plain numpy arrays.

The tree is grown by scikit-learn on the *ranks* of the feature values
(:func:`rank_cuts`, :func:`rank_codes`: exact small integers in float32), read back as
arrays (:func:`tree_arrays`: feature, threshold, left, right, positive fraction; leaves
point to themselves), pruned to a depth (:func:`truncate`) and evaluated by a
vectorised level-by-level traversal in cache-sized chunks (:func:`traverse`). Feature
matrices are *feature-major*: shape (k features, n rows).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["CHUNK", "rank_cuts", "rank_codes", "tree_arrays", "node_depths", "traverse", "truncate"]

#: Rows per chunk of :func:`traverse` (keeps the working set in cache).
CHUNK = 65536


def rank_cuts(F: np.ndarray) -> list[np.ndarray]:
    """Per feature (rows of the feature-major ``F``): midpoints between consecutive distinct values (float64)."""
    cuts = []
    for j in range(F.shape[0]):
        u = np.unique(F[j])
        c = (u[:-1] + u[1:]) * 0.5
        if c.size >= 2**24:  # keep rank codes exact in float32
            c = c[np.linspace(0, c.size - 1, 2**24 - 1).astype(np.int64)]
        cuts.append(c)
    return cuts


def rank_codes(F: np.ndarray, cuts: Sequence[np.ndarray]) -> np.ndarray:
    """Rank codes (n, k): number of cut points below each value (exact small integers, float32)."""
    out = np.empty(F.shape[::-1], dtype=np.float32)
    for j, c in enumerate(cuts):
        out[:, j] = np.searchsorted(c, F[j], side="left")
    return out


def tree_arrays(tree) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(feature, threshold, left, right, positive fraction) of a fitted sklearn tree; leaves self-loop."""
    t = tree.tree_
    left = t.children_left.astype(np.int64)
    right = t.children_right.astype(np.int64)
    feat = t.feature.astype(np.int64)
    thr = t.threshold.astype(np.float64)
    leaf = left < 0
    idx = np.arange(left.size)
    left[leaf] = idx[leaf]
    right[leaf] = idx[leaf]
    feat[leaf] = 0
    thr[leaf] = np.inf
    val = t.value[:, 0, :].astype(np.float64)
    frac = val[:, 1] / np.maximum(val.sum(axis=1), 1e-300)
    return feat, thr, left, right, frac


def node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Depth of every node of a tree given as child arrays (leaves point to themselves)."""
    depth = np.zeros(left.size, dtype=np.int64)
    for i in range(left.size):  # sklearn numbers children after parents
        if left[i] != i:
            depth[left[i]] = depth[i] + 1
            depth[right[i]] = depth[i] + 1
    return depth


def traverse(F: np.ndarray, feat, thr, left, right, levels: int, *, every_level: bool = False):
    """Node reached by each row after ``levels`` steps (or the node at every level).

    ``F`` is feature-major, shape (k, n). Rows are processed in cache-sized chunks.
    """
    k, n = F.shape
    F = np.ascontiguousarray(F)
    flat = F.reshape(-1)
    if every_level:
        out = np.empty((levels + 1, n), dtype=np.int64)
    else:
        out = np.empty(n, dtype=np.int64)
    offsets = np.arange(k, dtype=np.int64) * n
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        rows = np.arange(s, e, dtype=np.int64)
        node = np.zeros(e - s, dtype=np.int64)
        if every_level:
            out[0, s:e] = node
        for lev in range(levels):
            go_left = flat[offsets[feat[node]] + rows] <= thr[node]
            node = np.where(go_left, left[node], right[node])
            if every_level:
                out[lev + 1, s:e] = node
        if not every_level:
            out[s:e] = node
    return out


def truncate(feat, thr, left, right, values: Sequence[np.ndarray], depth: int):
    """Prune a tree back to ``depth`` and drop unreachable nodes (renumbered breadth-first)."""
    depths = node_depths(left, right)
    order = []
    queue = [0]
    while queue:
        i = queue.pop(0)
        order.append(i)
        if left[i] != i and depths[i] < depth:
            queue.extend([left[i], right[i]])
    order = np.asarray(order, dtype=np.int64)
    new_id = np.full(left.size, -1, dtype=np.int64)
    new_id[order] = np.arange(order.size)
    is_leaf = (left[order] == order) | (depths[order] >= depth)
    nl = np.where(is_leaf, np.arange(order.size), new_id[left[order]])
    nr = np.where(is_leaf, np.arange(order.size), new_id[right[order]])
    nf = np.where(is_leaf, 0, feat[order])
    nt = np.where(is_leaf, np.inf, thr[order])
    return nf, nt, nl, nr, [np.asarray(v)[order] for v in values]
