"""Temporal context convolution over the graph token sequence.

``TemporalContext`` is the forward path of the paper's public code (its CNN
registers ~34 M parameters, ~1.3 M of which are used; only those are here):
stem of four conv blocks (kernels 11, 7, 5, 3; 16, 32, 64, 64 channels; the
code defines a fifth block that its forward never calls), the stride-2
multi-scale block to 128 channels, a residual stage with ECA and SE blocks, the
fusion block, global average pooling, LayerNorm, Linear.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
                         nn.BatchNorm1d(c_out))


class BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN plus (projected) shortcut, ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, c_out, 3), nn.ReLU(), conv_bn(c_out, c_out, 3))
        self.shortcut = conv_bn(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


class ECABlock(nn.Module):
    """Grouped conv7-BN-ReLU, gated by hard-sigmoid of its channel means (the code's ECA), plus x."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c, 7, groups=max(1, c // 16)), nn.ReLU())

    def forward(self, x):
        y = self.body(x)
        return x + y * F.hardsigmoid(y.mean(dim=-1, keepdim=True))


class SEBlock(nn.Module):
    """Grouped conv3-BN-ReLU, squeeze-excitation (reduction 4), plus x."""

    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c, 3, groups=max(1, c // 16)), nn.ReLU())
        self.fc = nn.Sequential(nn.Linear(c, c // reduction, bias=False), nn.ReLU(),
                                nn.Linear(c // reduction, c, bias=False), nn.Sigmoid())

    def forward(self, x):
        y = self.body(x)
        return x + y * self.fc(y.mean(dim=-1))[:, :, None]


class MultiScale(nn.Module):
    """Mean of parallel stride-2 convs (kernels 3, 13, 23, 33) -> BN-ReLU-pool, plus a conv3 shortcut.

    The mean of centred convolutions equals one convolution with the mean of the
    zero-padded kernels: computed that way (33 taps instead of 72 per output).
    """

    def __init__(self, c_in: int, c_out: int, kernels=(3, 13, 23, 33), dropout: float = 0.2):
        super().__init__()
        self.kernels = tuple(kernels)
        self.kmax = max(self.kernels)
        self.weights = nn.ParameterList(
            nn.Parameter(nn.init.kaiming_uniform_(torch.empty(c_out, c_in, k), a=5 ** 0.5)) for k in self.kernels)
        self.post = nn.Sequential(nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(2), nn.Dropout(dropout))
        self.shortcut = nn.Sequential(conv_bn(c_in, c_out, 3, stride=2), nn.ReLU(), nn.MaxPool1d(2))
        self.folded_weight: torch.Tensor | None = None

    def fold(self) -> None:
        """Freeze the merged kernel into a constant (export: quantizers need a constant conv weight)."""
        # a (frozen) Parameter, not a plain tensor: PT2E folds the following BatchNorm into it
        self.folded_weight = nn.Parameter(self.merged_weight().detach().clone(), requires_grad=False)

    def merged_weight(self) -> torch.Tensor:
        if self.folded_weight is not None:
            return self.folded_weight
        pads = [((self.kmax - k) // 2, (self.kmax - k) // 2) for k in self.kernels]
        return torch.stack([F.pad(w, p) for w, p in zip(self.weights, pads)]).mean(dim=0)

    def forward(self, x):
        y = F.conv1d(x, self.merged_weight(), stride=2, padding=self.kmax // 2)
        return self.post(y) + self.shortcut(x)


class Fusion(nn.Module):
    """Channel attention (max+avg pooled, shared bottleneck) and temporal attention, fused."""

    def __init__(self, c: int):
        super().__init__()
        self.channel = nn.Sequential(nn.Conv1d(c, c // 8, 1, bias=False), nn.Conv1d(c // 8, c, 1, bias=False),
                                     nn.BatchNorm1d(c))
        self.temporal = conv_bn(2, 1, 7)
        # LayerNorm over channels at each time step ("channels_first" in the paper code)
        self.norm_weight = nn.Parameter(torch.ones(2 * c))
        self.norm_bias = nn.Parameter(torch.zeros(2 * c))
        self.layers = nn.Sequential(BasicBlock(2 * c, c), ECABlock(c), SEBlock(c), BasicBlock(c, c))

    def forward(self, x):
        gate_c = torch.sigmoid(self.channel(x.amax(dim=-1, keepdim=True)) + self.channel(x.mean(dim=-1, keepdim=True)))
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        gate_t = torch.sigmoid(self.temporal(pooled))
        fused = torch.cat([x * gate_c, x * gate_t], dim=1)
        mu = fused.mean(dim=1, keepdim=True)
        var = (fused - mu).pow(2).mean(dim=1, keepdim=True)
        fused = (fused - mu) / torch.sqrt(var + 1e-6) * self.norm_weight[:, None] + self.norm_bias[:, None]
        return self.layers(fused)


class TemporalContext(nn.Module):
    def __init__(self, c_in: int, n_outputs: int, mid: int = 16, dropout: float = 0.2):
        super().__init__()
        stem, c = [], c_in
        for k, c_out in zip((11, 7, 5, 3), (mid, 2 * mid, 4 * mid, 4 * mid)):
            # MaxPool(2, stride 1, pad 1) as in the paper code: length grows by one per block
            stem += [conv_bn(c, c_out, k), nn.ReLU(), nn.MaxPool1d(2, stride=1, padding=1)]
            c = c_out
        self.stem = nn.Sequential(*stem)
        self.multiscale = MultiScale(c, 8 * mid, dropout=dropout)
        c = 8 * mid
        self.stage = nn.Sequential(BasicBlock(c, c), ECABlock(c), SEBlock(c), BasicBlock(c, c),
                                   ECABlock(c), SEBlock(c), BasicBlock(c, c))
        self.fusion = Fusion(c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.head = nn.Linear(c, n_outputs)

    def forward(self, x):
        x = self.fusion(self.stage(self.multiscale(self.stem(x))))
        return self.head(self.norm(x.mean(dim=-1)))


class EdgeTemporalContext(nn.Module):
    """A cheap temporal context for the gateway: strided convs to 1/8 rate, depthwise-separable
    residual blocks with SE attention, global pooling, LayerNorm, Linear (~10 M MAC per 10-s window)."""

    def __init__(self, c_in: int, n_outputs: int, c: int = 64, dropout: float = 0.2):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(c_in, 32, 7, stride=2), nn.ReLU(),
                                  conv_bn(32, c, 5, stride=2), nn.ReLU(),
                                  conv_bn(c, c, 5, stride=2), nn.ReLU())
        self.blocks = nn.Sequential(*[self._block(c) for _ in range(3)])
        self.se = nn.Sequential(nn.Linear(c, c // 4), nn.ReLU(), nn.Linear(c // 4, c), nn.Sigmoid())
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.head = nn.Linear(c, n_outputs)

    @staticmethod
    def _block(c: int) -> nn.Module:
        return nn.Sequential(conv_bn(c, c, 9, groups=c), nn.ReLU(), conv_bn(c, c, 1), nn.ReLU())

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        x = x * self.se(x.mean(dim=-1))[:, :, None]
        return self.head(self.drop(self.norm(x.mean(dim=-1))))
