"""The in-memory dataset every task loads into."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Every window is this long (seconds): PTB-XL's record length.
WINDOW_S = 10.0


@dataclass
class EcgDataset:
    """Preprocessed 12-lead windows with multi-hot labels.

    X: (N, 12, T) float32, preprocessed millivolts at ``fs`` (not standardised:
       the scaler is fitted later on the training folds only).
    Y: (N, C) float32 0/1 in the order of ``labels``.
    folds: (N,) int, 1..10 (PTB-XL ``strat_fold``; CPSC2018 a hash of the record id).
    """

    X: np.ndarray
    Y: np.ndarray
    folds: np.ndarray
    labels: list[str]
    record_ids: list[str]
    fs: float
    leads: tuple[str, ...]
    task: str = ""
    dataset: str = ""           # "ptbxl" | "cpsc2018"
    path: str = ""
    preprocessing: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.X)
        if self.X.ndim != 3 or self.Y.shape != (n, len(self.labels)) or self.folds.shape != (n,) \
                or len(self.record_ids) != n:
            raise ValueError(
                f"inconsistent dataset: X {self.X.shape}, Y {self.Y.shape}, folds {self.folds.shape}, "
                f"{len(self.labels)} labels, {len(self.record_ids)} record ids")

    def __len__(self) -> int:
        return len(self.X)

    @property
    def n_times(self) -> int:
        return int(self.X.shape[-1])

    def select(self, mask) -> "EcgDataset":
        """The records where ``mask`` (bool array or index array) holds; same labels."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask, dtype=int)
        return EcgDataset(
            X=self.X[idx], Y=self.Y[idx], folds=self.folds[idx], labels=list(self.labels),
            record_ids=[self.record_ids[i] for i in idx], fs=self.fs, leads=self.leads, task=self.task,
            dataset=self.dataset, path=self.path, preprocessing=self.preprocessing)

    def fold(self, *folds: int) -> "EcgDataset":
        return self.select(np.isin(self.folds, folds))


def fit_window(x: np.ndarray, n_times: int) -> np.ndarray:
    """Crop or pad a preprocessed ``(leads, n)`` record to ``n_times`` samples.

    Longer records: the centre ``n_times`` samples (away from the filters'
    start-up at the record's beginning). Shorter records: zeros appended at the
    end (zero is the baseline after high-pass filtering).
    """
    n = x.shape[1]
    if n >= n_times:
        start = (n - n_times) // 2
        return np.ascontiguousarray(x[:, start:start + n_times])
    return np.pad(x, ((0, 0), (0, n_times - n)))
