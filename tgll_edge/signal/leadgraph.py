"""The lead graph per window, in numpy: the runtime twin of ``tgll_edge/training/models/graph.py``.

A lead-set-aware bundle ships the learned adjacency of each pyramid level in its card
(``card["lead_graph"] = {"adjacency": [12x12 per level], "cheb_k": K}``: the adjacency as
the model uses it, already symmetric, clamped to [0, 1], zero diagonal). For each window
the runtime removes the unusable leads from the graph, renormalises, and feeds the
Chebyshev basis to the model as its ``cheb`` input (B, n_levels, K, 12, 12):

    A  = adjacency * m m^T                      (m: 1 usable, 0 not)
    d  = 1 / (sqrt(A.sum(1)) + 1e-5)
    L  = -(d A d^T)                              (largest eigenvalue taken as 2)
    T_0 = I, T_1 = L, T_j = 2 L T_{j-1} - T_{j-2}

A masked lead's row and column of L are 0, so it neither sends nor receives along the
graph (its T_0 diagonal stays 1; the runtime sets its input to 0). Computed in float64,
returned as float32. No torch.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-5


def graph_operator(adjacency: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``L = -D^-1/2 A D^-1/2`` of ``adjacency`` (..., n, n) masked to ``mask`` (n,) of 0/1."""
    a = np.asarray(adjacency, dtype=np.float64)
    if mask is not None:
        m = np.asarray(mask, dtype=np.float64)
        a = a * m[:, None] * m[None, :]
    degree = a.sum(axis=-1)
    d = 1.0 / (np.sqrt(degree) + EPS)
    return -(d[..., :, None] * a * d[..., None, :])


def chebyshev_basis(op: np.ndarray, k: int) -> np.ndarray:
    """``[T_0(L), ..., T_{k-1}(L)]`` of ``op`` (..., n, n) -> (..., k, n, n)."""
    if k < 1:
        raise ValueError(f"cheb_k must be >= 1; got {k}")
    op = np.asarray(op, dtype=np.float64)
    n = op.shape[-1]
    basis = [np.broadcast_to(np.eye(n), op.shape), op]
    while len(basis) < k:
        basis.append(2 * op @ basis[-1] - basis[-2])
    return np.stack(basis[:k], axis=-3)


def graph_basis(adjacency, mask, k: int) -> np.ndarray:
    """Per pyramid level the Chebyshev basis of the masked, renormalised operator.

    adjacency: (L, n, n) (one per level; a single (n, n) is taken as L = 1); mask: (n,) of
    0/1 (or bool), 1 = usable lead; k: the card's ``cheb_k``. Returns (L, k, n, n) float32.
    """
    a = np.asarray(adjacency, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"adjacency must be (levels, n, n); got shape {a.shape}")
    m = np.asarray(mask, dtype=np.float64).reshape(-1)
    if m.shape[0] != a.shape[1]:
        raise ValueError(f"lead mask has {m.shape[0]} entries for a {a.shape[1]}-node graph")
    return chebyshev_basis(graph_operator(a, m), int(k)).astype(np.float32)


class BasisCache:
    """``graph_basis`` memoised per mask: a stream has few distinct masks (all 12 leads,
    now and then one electrode off), so the basis is built once per lead set, not per window."""

    def __init__(self, adjacency, k: int, max_entries: int = 256):
        self.adjacency = np.asarray(adjacency, dtype=np.float64)
        if self.adjacency.ndim == 2:
            self.adjacency = self.adjacency[None]
        self.k = int(k)
        self.max_entries = max_entries
        self._cache: dict[bytes, np.ndarray] = {}

    def __call__(self, mask) -> np.ndarray:
        m = np.asarray(mask).astype(bool).reshape(-1)
        key = np.packbits(m).tobytes() + bytes([m.size])
        out = self._cache.get(key)
        if out is None:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            out = graph_basis(self.adjacency, m, self.k)
            out.setflags(write=False)
            self._cache[key] = out
        return out
