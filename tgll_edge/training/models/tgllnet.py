"""TGLLNet (Yuan et al., IEEE IoT Journal 2025), efficient formulation.

Three stages, following the paper's public code and carrying only modules on
its forward path:

1. temporal graph construction: (B, 12, T) is T graphs of 12 lead nodes with
   one feature each (channel layout node-major, so no reshape is needed);
2. residual pyramid graph convolution: per pyramid level a learnable adjacency
   and a stack of Chebyshev layers (K = 3), each one pointwise Conv1d over time
   (the layer is the same linear map over the lead axis at every step; see
   graph.pointwise_cheb_weight); node x width flattened and projected to one
   token per step; averaged with a projection of the raw lead vector;
3. temporal context convolution over the token sequence (``TemporalContext``
   for the "paper" preset, ``EdgeTemporalContext`` for the "edge" preset).

``fold_graph()`` replaces the graph-derived weights by constants for export.
The per-time-step formulation (the oracle) is in ``naive.py``.

Lead-set mode (``lead_sets=True``, issue 9): ``forward(x, lead_mask, cheb)`` takes a
per-window lead mask (B, 12) of 1 usable / 0 not. The model zeroes the masked leads
itself; the masked leads leave each level's graph (``graph.graph_operator`` with the mask:
their rows and columns of L are 0 and the rest is renormalised), so no Chebyshev layer
carries anything from them; their node features are zeroed before the tokenizer; the two
sums over leads outside the graph (the tokenizer over nodes x width, the residual lead
projection 12 -> width) are rescaled by 12 / n_present, so a reduced set keeps the
magnitudes the full set has (a mean over the present leads, times 12); and a learned
embedding of the mask (Linear 12 -> width) is added to the tokens, so the temporal
stage knows which leads it sees (a zero-filled lead and a flat lead differ). ``cheb``
(B, n_levels, K, 12, 12) is the basis of the masked operator, computed from the mask
when not given; the exported model takes it as an input (the runtime builds it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import EcgModel
from .graph import batched_cheb_weight, chebyshev_basis, graph_operator, pointwise_cheb_weight, symmetric_adjacency
from .temporal import EdgeTemporalContext, MultiScale, TemporalContext

PRESETS = {
    # The paper's public code: one level of 4 Chebyshev layers, width 32, K=3.
    "paper": {"levels": [4], "width": 32, "cheb_k": 3, "temporal": "paper"},
    # Same lead-graph modules, narrower, with a cheap temporal context convolution.
    "edge": {"levels": [2], "width": 16, "cheb_k": 3, "temporal": "edge"},
}


class ChebLayer(nn.Module):
    """relu(sum_k T_k(L) X_t W_k + b) at every time step, as one 1x1 convolution."""

    def __init__(self, n_nodes: int, f_in: int, f_out: int, k: int):
        super().__init__()
        self.n_nodes, self.f_in, self.f_out, self.k = n_nodes, f_in, f_out, k
        self.weight = nn.Parameter(torch.empty(k, f_in, f_out))
        self.bias = nn.Parameter(torch.empty(f_out))
        nn.init.normal_(self.weight, 0.0, 0.1)  # as the paper code
        nn.init.normal_(self.bias, 0.0, 0.1)
        self.register_buffer("folded_weight", None, persistent=False)

    def conv_weight(self, basis: torch.Tensor) -> torch.Tensor:
        return pointwise_cheb_weight(basis, self.weight)[:, :, None]

    def forward(self, x: torch.Tensor, basis: torch.Tensor | None) -> torch.Tensor:
        bias = self.bias.repeat(self.n_nodes)
        if self.folded_weight is not None:  # export: a constant 1x1 convolution
            return F.relu(F.conv1d(x, self.folded_weight, bias))
        # training: the same map as a broadcast matmul, faster than oneDNN's 1x1 conv
        # forward+backward on CPU
        return F.relu(torch.matmul(self.conv_weight(basis)[:, :, 0], x) + bias[:, None])


class GraphLevel(nn.Module):
    """One pyramid level: its own learnable adjacency, Chebyshev layers, tokenizer."""

    def __init__(self, n_nodes: int, n_layers: int, width: int, k: int):
        super().__init__()
        self.k = k
        self.adjacency_raw = nn.Parameter(torch.empty(n_nodes, n_nodes))
        nn.init.xavier_uniform_(self.adjacency_raw)
        self.layers = nn.ModuleList(
            ChebLayer(n_nodes, 1 if i == 0 else width, width, k) for i in range(n_layers))
        # nn.Linear(n_nodes*width, width) on the node-major flattened graph, applied per step
        self.tokenizer = nn.Conv1d(n_nodes * width, width, kernel_size=1)
        self.folded = False

    def adjacency(self) -> torch.Tensor:
        return symmetric_adjacency(self.adjacency_raw)

    def basis(self, lead_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(K, n, n), or (B, K, n, n) for a batch of masks (B, n)."""
        return chebyshev_basis(graph_operator(self.adjacency(), lead_mask), self.k)

    def forward_masked(self, x: torch.Tensor, basis: torch.Tensor, node_mask: torch.Tensor,
                       scale: torch.Tensor) -> torch.Tensor:
        """Lead-set mode: per-sample basis (B, K, n, n); ``node_mask`` (B, n) zeroes the masked
        nodes' features before the tokenizer, whose sum over nodes is rescaled by ``scale`` (B,)."""
        for layer in self.layers:
            w = batched_cheb_weight(basis, layer.weight)
            x = F.relu(torch.matmul(w, x) + layer.bias.repeat(layer.n_nodes)[:, None])
        width = self.layers[-1].f_out
        x = x * torch.repeat_interleave(node_mask, width, dim=1)[:, :, None]
        tok = torch.matmul(self.tokenizer.weight[:, :, 0], x) * scale[:, None, None]
        return tok + self.tokenizer.bias[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        basis = None if self.folded else self.basis()
        for layer in self.layers:
            x = layer(x, basis)
        if self.folded:
            return self.tokenizer(x)
        return torch.matmul(self.tokenizer.weight[:, :, 0], x) + self.tokenizer.bias[:, None]

    @torch.no_grad()
    def fold(self) -> None:
        basis = self.basis()
        for layer in self.layers:
            layer.folded_weight = layer.conv_weight(basis).detach().clone()
        self.folded = True


class TGLLNet(EcgModel):
    arch = "tgllnet"

    def __init__(self, n_leads: int = 12, n_times: int = 1000, sfreq: float = 100.0, n_outputs: int = 5,
                 preset: str = "paper", levels=None, width=None, cheb_k=None, temporal=None,
                 dropout: float = 0.2, lead_sets: bool = False):
        super().__init__(n_leads, n_times, sfreq, n_outputs)
        if preset not in PRESETS:
            raise ValueError(f"unknown TGLLNet preset {preset!r}; choose from {sorted(PRESETS)}")
        p = dict(PRESETS[preset])
        for key, value in (("levels", levels), ("width", width), ("cheb_k", cheb_k), ("temporal", temporal)):
            if value is not None:
                p[key] = value
        p["levels"] = [int(v) for v in p["levels"]]
        if not p["levels"] or min(p["levels"]) < 1 or int(p["cheb_k"]) < 2:
            raise ValueError(f"TGLLNet needs >= 1 level of >= 1 layer and cheb_k >= 2; got {p}")
        self._kwargs = {"preset": preset, **p, "dropout": dropout}
        self.lead_sets = bool(lead_sets)
        if self.lead_sets:  # only then in the config: old checkpoints and cards stay as they were
            self._kwargs["lead_sets"] = True
        width, k = int(p["width"]), int(p["cheb_k"])
        self.levels = nn.ModuleList(GraphLevel(n_leads, n, width, k) for n in p["levels"])
        self.lead_projection = nn.Conv1d(n_leads, width, kernel_size=1, bias=False)  # residual path
        if self.lead_sets:
            self.mask_embedding = nn.Linear(n_leads, width)
            nn.init.zeros_(self.mask_embedding.weight)
        if p["temporal"] == "paper":
            self.temporal = TemporalContext(width, n_outputs, dropout=dropout)
        elif p["temporal"] == "edge":
            self.temporal = EdgeTemporalContext(width, n_outputs, dropout=dropout)
        else:
            raise ValueError(f"unknown temporal context {p['temporal']!r}; choose paper or edge")

    def graph_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, leads, T) -> (B, width, T): the residual pyramid graph convolution."""
        outs = [level(x) for level in self.levels] + [self.lead_projection(x)]
        return torch.stack(outs, dim=0).mean(dim=0)

    def forward(self, x: torch.Tensor, lead_mask: torch.Tensor | None = None,
                cheb: torch.Tensor | None = None) -> torch.Tensor:
        self.check_input(x)
        if not self.lead_sets:
            if lead_mask is not None or cheb is not None:
                raise ValueError("this TGLLNet was not trained with lead sets: it takes no lead_mask/cheb")
            return self.temporal(self.graph_tokens(x))
        return self.temporal(self.masked_graph_tokens(x, lead_mask, cheb))

    def lead_basis(self, lead_mask: torch.Tensor) -> torch.Tensor:
        """The ``cheb`` input for masks (B, n): (B, n_levels, K, n, n)."""
        return torch.stack([level.basis(lead_mask) for level in self.levels], dim=1)

    def masked_graph_tokens(self, x: torch.Tensor, lead_mask: torch.Tensor | None = None,
                            cheb: torch.Tensor | None = None) -> torch.Tensor:
        """Lead-set mode's residual pyramid graph convolution (module docstring)."""
        if lead_mask is None:
            lead_mask = torch.ones(x.shape[0], self.n_leads, dtype=x.dtype, device=x.device)
        m = lead_mask.to(x.dtype)
        if cheb is None:
            cheb = self.lead_basis(m)
        x = x * m[:, :, None]
        scale = self.n_leads / torch.clamp(m.sum(dim=1), min=1.0)
        outs = [level.forward_masked(x, cheb[:, i], m, scale) for i, level in enumerate(self.levels)]
        outs.append(self.lead_projection(x) * scale[:, None, None])
        return torch.stack(outs, dim=0).mean(dim=0) + self.mask_embedding(m)[:, :, None]

    def adjacency(self) -> list:
        """The effective learned adjacency of each pyramid level, as numpy arrays."""
        with torch.no_grad():
            return [level.adjacency().cpu().numpy() for level in self.levels]

    def fold_graph(self) -> "TGLLNet":
        """Freeze the learned graph into constant 1x1-conv weights, and every other weight
        computed from parameters (the merged multi-scale kernel) into a constant (for export)."""
        if not self.lead_sets:  # lead-set mode keeps the graph as an input (the basis)
            for level in self.levels:
                level.fold()
        for module in self.temporal.modules():
            if isinstance(module, MultiScale):
                module.fold()
        return self
