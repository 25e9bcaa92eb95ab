"""The per-time-step graph convolution, as the paper's code computes it: the oracle.

Every time step becomes a (12, F) graph; each Chebyshev layer runs the
recursion ``X_k = 2 L X_{k-1} - X_{k-2}`` with batched matmuls over B*T graphs.
It shares the parameters of an efficient ``TGLLNet`` and must give the same
outputs (tests) and is the slow baseline of ``tools/bench_models.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .graph import graph_operator


def naive_level(level, x_nodes: torch.Tensor) -> torch.Tensor:
    """x_nodes (B*T, n, 1) -> tokens (B*T, width), per time step."""
    op = graph_operator(level.adjacency())
    x = x_nodes
    for layer in level.layers:
        terms = [x, op @ x]
        while len(terms) < layer.k:
            terms.append(2 * (op @ terms[-1]) - terms[-2])
        x = F.relu(sum(t @ layer.weight[i] for i, t in enumerate(terms)) + layer.bias)
    flat = x.reshape(x.shape[0], -1)  # node-major flatten, as the paper's x.view(b*s, -1)
    return F.linear(flat, level.tokenizer.weight[:, :, 0], level.tokenizer.bias)


class NaiveTGLLNet(nn.Module):
    """Wraps a TGLLNet; recomputes its graph stage step by step (no folding, no 1x1 convs)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        m.check_input(x)
        b, n, t = x.shape
        nodes = x.transpose(1, 2).reshape(b * t, n, 1)
        tokens = [naive_level(level, nodes) for level in m.levels]
        tokens.append(F.linear(nodes.reshape(b * t, n), m.lead_projection.weight[:, :, 0]))
        tok = torch.stack(tokens).mean(dim=0).reshape(b, t, -1).transpose(1, 2)
        return m.temporal(tok)
