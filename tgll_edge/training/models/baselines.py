"""The PTB-XL benchmark's architectures (Strodthoff et al. 2021), for side-by-side runs.

``resnet1d_wang``: stem conv7 (128 ch, stride 1, no pooling), three BasicBlock1d
stages (kernels 5 and 3, stride 2 from the second), concat-pool head
(BN, dropout 0.5, Linear). ``xresnet1d101``: fastai's xresnet (bottleneck
blocks [3, 4, 23, 3], expansion 4, kernel 5, three-conv stem), same head.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import EcgModel


def _conv_bn(c_in, c_out, k, stride=1, zero_bn=False):
    bn = nn.BatchNorm1d(c_out)
    if zero_bn:
        nn.init.zeros_(bn.weight)
    return nn.Sequential(nn.Conv1d(c_in, c_out, k, stride=stride, padding=(k - 1) // 2, bias=False), bn)


class ConcatPoolHead(nn.Module):
    """Adaptive max + average pooling, BN, dropout, Linear (the benchmark's create_head1d default)."""

    def __init__(self, c: int, n_outputs: int, dropout: float = 0.5):
        super().__init__()
        self.fc = nn.Sequential(nn.BatchNorm1d(2 * c), nn.Dropout(dropout), nn.Linear(2 * c, n_outputs))

    def forward(self, x):
        return self.fc(torch.cat([x.amax(dim=-1), x.mean(dim=-1)], dim=1))


class WangBlock(nn.Module):
    def __init__(self, c_in, c_out, stride, kernels=(5, 3)):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(c_in, c_out, kernels[0], stride), nn.ReLU(),
                                  _conv_bn(c_out, c_out, kernels[1]))
        self.shortcut = (_conv_bn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet1dWang(EcgModel):
    arch = "resnet1d_wang"

    def __init__(self, n_leads=12, n_times=1000, sfreq=100.0, n_outputs=5, width: int = 128):
        super().__init__(n_leads, n_times, sfreq, n_outputs)
        self._kwargs = {"width": width}
        self.net = nn.Sequential(_conv_bn(n_leads, width, 7), nn.ReLU(),
                                 WangBlock(width, width, 1), WangBlock(width, width, 2), WangBlock(width, width, 2))
        self.head = ConcatPoolHead(width, n_outputs)

    def forward(self, x):
        self.check_input(x)
        return self.head(self.net(x))


class XBottleneck(nn.Module):
    def __init__(self, c_in, hidden, stride, k=5, expansion=4):
        super().__init__()
        c_out = hidden * expansion
        self.body = nn.Sequential(_conv_bn(c_in, hidden, 1), nn.ReLU(), _conv_bn(hidden, hidden, k, stride), nn.ReLU(),
                                  _conv_bn(hidden, c_out, 1, zero_bn=True))
        short = []
        if stride != 1:
            short.append(nn.AvgPool1d(2, ceil_mode=True))
        if c_in != c_out:
            short.append(_conv_bn(c_in, c_out, 1))
        self.shortcut = nn.Sequential(*short)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class XResNet1d(EcgModel):
    arch = "xresnet1d101"

    def __init__(self, n_leads=12, n_times=1000, sfreq=100.0, n_outputs=5, layers=(3, 4, 23, 3), kernel: int = 5):
        super().__init__(n_leads, n_times, sfreq, n_outputs)
        self._kwargs = {"layers": list(layers), "kernel": kernel}
        stem = [_conv_bn(n_leads, 32, kernel, 2), nn.ReLU(), _conv_bn(32, 32, kernel), nn.ReLU(),
                _conv_bn(32, 64, kernel), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1)]
        blocks, c_in = [], 64
        for i, (n, hidden) in enumerate(zip(layers, (64, 128, 256, 512))):
            for j in range(n):
                blocks.append(XBottleneck(c_in, hidden, 2 if (i > 0 and j == 0) else 1, kernel))
                c_in = hidden * 4
        self.net = nn.Sequential(*stem, *blocks)
        self.head = ConcatPoolHead(c_in, n_outputs)

    def forward(self, x):
        self.check_input(x)
        return self.head(self.net(x))
