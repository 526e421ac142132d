"""Draw from softmax(beta * L) over millions of examples in O(b log n) per step.

A sum tree (a complete binary tree of partial sums, leaves padded to a power of two)
holds ``exp(beta * (L_i - c))``.  Drawing walks from the root to a leaf once per draw;
changing ``b`` losses rewrites ``b`` leaves and the ``b * log2(n)`` sums above them.
Every sum is recomputed from its two children, never adjusted by a difference, so no
rounding error accumulates and a tree rebuilt from ``(L, c)`` is bit-identical to one
updated step by step (which is what makes checkpoints exact).

The centre ``c`` keeps the exponentials in range: whenever the total leaves
``[exp(-RECENTER_AT), exp(RECENTER_AT)]``, ``c`` moves to ``logsumexp(beta * L) / beta``
(the total becomes 1) and the leaves are rebuilt, an O(n) step that happens rarely.
"""
from __future__ import annotations

import math

import numpy as np

RECENTER_AT = 50.0


class SoftmaxSampler:
    """Samples ids with probability ``softmax(beta * losses)``; losses change in place."""

    def __init__(self, losses: np.ndarray, beta: float, center: float | None = None):
        self.beta = float(beta)
        self.n = len(losses)
        self.leaf_offset = 1 << max(0, math.ceil(math.log2(max(self.n, 1))))
        self.depth = int(math.log2(self.leaf_offset))
        self.tree = np.zeros(2 * self.leaf_offset, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64).copy()
        self.center = float(self.losses.max()) if center is None else float(center)
        self._rebuild()

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def _leaf_values(self, losses: np.ndarray) -> np.ndarray:
        return np.exp(self.beta * (losses - self.center))

    def _rebuild(self) -> None:
        """Recompute every leaf and every sum (O(n))."""
        self.tree[:] = 0.0
        self.tree[self.leaf_offset:self.leaf_offset + self.n] = self._leaf_values(self.losses)
        start = self.leaf_offset
        while start > 1:
            parents = np.arange(start // 2, start)
            self.tree[parents] = self.tree[2 * parents] + self.tree[2 * parents + 1]
            start //= 2

    def update(self, ids: np.ndarray, losses: np.ndarray) -> None:
        """Set ``L[ids] = losses`` (the last value wins for repeated ids)."""
        ids = np.asarray(ids, dtype=np.int64)
        losses = np.asarray(losses, dtype=np.float64)
        self.losses[ids] = losses
        if self.beta * (losses.max(initial=-np.inf) - self.center) > RECENTER_AT:
            self.recenter()
            return
        nodes = ids + self.leaf_offset
        self.tree[nodes] = self._leaf_values(self.losses[ids])
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
        total = self.tree[1]
        if not (math.exp(-RECENTER_AT) <= total <= math.exp(RECENTER_AT)):
            self.recenter()

    def recenter(self) -> None:
        """Move the centre to ``logsumexp(beta * L) / beta`` and rebuild."""
        shifted = self.beta * self.losses
        top = shifted.max()
        self.center = float((top + np.log(np.exp(shifted - top).sum())) / self.beta)
        self._rebuild()

    def sample(self, uniforms: np.ndarray) -> np.ndarray:
        """Map uniforms in [0, 1) to ids, each id with probability ``softmax(beta * L)``."""
        targets = np.asarray(uniforms, dtype=np.float64) * self.tree[1]
        nodes = np.ones(len(targets), dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = self.tree[left]
            # Right only where the right subtree has mass: guards against rounding at the edge.
            go_right = (targets >= left_sum) & (self.tree[left + 1] > 0)
            targets = np.where(go_right, targets - left_sum, targets)
            nodes = left + go_right
        return np.minimum(nodes - self.leaf_offset, self.n - 1)

    def probabilities(self) -> np.ndarray:
        """The exact sampling distribution (O(n); for tests and diagnostics)."""
        return self.tree[self.leaf_offset:self.leaf_offset + self.n] / self.tree[1]
