"""Model zoo: TGLLNet and the PTB-XL benchmark baselines behind one factory."""
from __future__ import annotations

from ..protocol import ARCHS
from .baselines import ResNet1dWang, XResNet1d
from .base import EcgModel
from .naive import NaiveTGLLNet
from .tgllnet import PRESETS, TGLLNet

# each class names itself; ARCHS (protocol.py, torch-free for the CLI) lists them
assert ARCHS == (TGLLNet.arch, ResNet1dWang.arch, XResNet1d.arch)


def build_model(arch: str, n_leads: int = 12, n_times: int = 1000, sfreq: float = 100.0, n_outputs: int = 5,
                preset: str | None = None, **kwargs) -> EcgModel:
    """Build a model by name; ``build_model(**model.config())`` rebuilds ``model``."""
    sig = dict(n_leads=n_leads, n_times=n_times, sfreq=sfreq, n_outputs=n_outputs)
    if arch == TGLLNet.arch:
        return TGLLNet(**sig, preset=preset or "paper", **kwargs)
    if preset is not None:
        raise ValueError(f"--preset applies to tgllnet only, not {arch}")
    if arch == ResNet1dWang.arch:
        return ResNet1dWang(**sig, **kwargs)
    if arch == XResNet1d.arch:
        return XResNet1d(**sig, **kwargs)
    raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHS)}")


__all__ = ["ARCHS", "PRESETS", "build_model", "EcgModel", "TGLLNet", "NaiveTGLLNet", "ResNet1dWang", "XResNet1d"]
