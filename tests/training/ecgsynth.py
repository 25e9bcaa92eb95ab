"""A separable synthetic 12-lead task for training tests (no real data needed)."""
import numpy as np

from tgll_edge.signal import LEADS_12
from tgll_edge.training.data import EcgDataset


def synthetic_dataset(n=320, n_times=250, fs=25.0, seed=0) -> EcgDataset:
    """Two labels, each a pattern in specific leads on top of noise; folds 1..10 round robin.

    "osc": a 2 Hz oscillation in leads II and V2; "step": a raised plateau in
    lead V5's second half. Either, both or neither may be present.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / fs
    Y = (rng.random((n, 2)) < 0.5).astype(np.float32)
    X = 0.3 * rng.standard_normal((n, 12, n_times)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, n)
    osc = np.sin(2 * np.pi * 2.0 * t[None, :] + phase[:, None]).astype(np.float32)
    X[:, 1] += 0.8 * Y[:, :1] * osc
    X[:, 7] += 0.8 * Y[:, :1] * osc
    X[:, 10, n_times // 2:] += 0.8 * Y[:, 1:2]
    folds = np.arange(n) % 10 + 1
    return EcgDataset(X=X, Y=Y, folds=folds, labels=["osc", "step"], record_ids=[f"s{i}" for i in range(n)],
                      fs=fs, leads=LEADS_12, task="synthetic", dataset="synthetic", path="",
                      preprocessing={"fs": fs, "steps": []})
