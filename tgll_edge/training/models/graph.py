"""The lead graph as small pure functions of (adjacency, lead mask).

Kept free of module state so the graph operator can move from an export-time
constant to a run-time input (lead-off-aware inference: adjacency masked to
the attached leads, operator renormalised) without rewriting the model.
"""
from __future__ import annotations

import torch


def symmetric_adjacency(a_raw: torch.Tensor) -> torch.Tensor:
    """The paper code's learned graph: ``clamp(relu(A + A^T), 0, 1)``, zero diagonal."""
    n = a_raw.shape[-1]
    adj = torch.clamp(torch.relu(a_raw + a_raw.transpose(-1, -2)), 0.0, 1.0)
    return adj * (1.0 - torch.eye(n, dtype=adj.dtype, device=adj.device))


def graph_operator(adj: torch.Tensor, lead_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``L = -D^-1/2 A D^-1/2`` (largest eigenvalue taken as 2, as the paper's code does).

    ``lead_mask`` (n,) of 0/1 removes detached leads' edges before normalising; a batch of
    masks (B, n) gives a batch of operators (B, n, n). A masked lead's row and column are 0.
    """
    if lead_mask is not None:
        m = lead_mask.to(adj.dtype)
        adj = adj * m[..., :, None] * m[..., None, :]
    degree = adj.sum(dim=-1)
    # a node with no edge (a masked lead) has a zero row and column of A, so its d does not
    # matter for L; sqrt at 0 would make the gradient inf * 0 = NaN: take sqrt(1) there
    degree = torch.where(degree > 0, degree, torch.ones_like(degree))
    d = 1.0 / (torch.sqrt(degree) + 1e-5)
    return -(d[..., :, None] * adj * d[..., None, :])


def chebyshev_basis(op: torch.Tensor, k: int) -> torch.Tensor:
    """``[T_0(L), ..., T_{k-1}(L)]`` stacked to (k, n, n) (a batch (B, n, n) -> (B, k, n, n)):
    T_0 = I, T_1 = L, T_j = 2 L T_{j-1} - T_{j-2}."""
    n = op.shape[-1]
    basis = [torch.eye(n, dtype=op.dtype, device=op.device).expand_as(op), op]
    while len(basis) < k:
        basis.append(2 * op @ basis[-1] - basis[-2])
    return torch.stack(basis[:k], dim=-3)


def pointwise_cheb_weight(basis: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """One Chebyshev layer at every time step as a 1x1-conv weight.

    ``basis`` (K, n, n), ``weight`` (K, f_in, f_out) -> (n*f_out, n*f_in), channels
    ordered node-major (channel = node * f + feature):
    ``W[(i, o), (j, f)] = sum_k T_k[i, j] * W_k[f, o] = sum_k kron(T_k, W_k^T)``.
    """
    k, n, _ = basis.shape
    _, f_in, f_out = weight.shape
    w = torch.einsum("kij,kfo->iojf", basis, weight)
    return w.reshape(n * f_out, n * f_in)


def batched_cheb_weight(basis: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:func:`pointwise_cheb_weight` per sample: ``basis`` (B, K, n, n) -> (B, n*f_out, n*f_in).

    Written as one MatMul over K and a transpose, not an einsum: this runs inside the exported
    lead-set model for every window, and onnxruntime's Einsum kernel took 0.37 ms for it
    on x86 (more than the rest of the graph stage), the MatMul form a few microseconds."""
    b, k, n, _ = basis.shape
    _, f_in, f_out = weight.shape
    w = basis.reshape(b, k, n * n).transpose(1, 2) @ weight.reshape(k, f_in * f_out)  # (B, n*n, f_in*f_out)
    w = w.reshape(b, n, n, f_in, f_out).permute(0, 1, 4, 2, 3)  # (B, i, o, j, f)
    return w.reshape(b, n * f_out, n * f_in)
