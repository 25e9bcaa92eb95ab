"""What every model declares (braindecode style) and checks at run time."""
from __future__ import annotations

import torch
from torch import nn


class EcgModel(nn.Module):
    """Base: declares ``n_leads, n_times, sfreq, n_outputs`` and checks inputs against them."""

    arch: str = ""

    def __init__(self, n_leads: int, n_times: int, sfreq: float, n_outputs: int):
        super().__init__()
        if n_leads < 1 or n_times < 16 or sfreq <= 0 or n_outputs < 1:
            raise ValueError(f"bad signature n_leads={n_leads} n_times={n_times} sfreq={sfreq} n_outputs={n_outputs}")
        self.n_leads, self.n_times, self.sfreq, self.n_outputs = int(n_leads), int(n_times), float(sfreq), int(n_outputs)
        self._kwargs: dict = {}

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.n_leads or x.shape[2] != self.n_times:
            raise ValueError(
                f"{type(self).__name__} expects (batch, {self.n_leads} leads, {self.n_times} samples at "
                f"{self.sfreq:g} Hz); got {tuple(x.shape)}")

    def config(self) -> dict:
        """JSON-able kwargs such that ``build_model(**config)`` rebuilds this model."""
        return {"arch": self.arch, "n_leads": self.n_leads, "n_times": self.n_times,
                "sfreq": self.sfreq, "n_outputs": self.n_outputs, **self._kwargs}
