"""Figures written next to a checkpoint (matplotlib, Agg backend: no display)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def adjacency_png(matrices, leads, path) -> Path:
    """One heatmap per pyramid level, leads on both axes, colour bar 0..1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrices = [np.asarray(m, dtype=float) for m in matrices]
    leads = list(leads)
    for m in matrices:
        if m.shape != (len(leads), len(leads)):
            raise ValueError(f"adjacency of shape {m.shape} does not match {len(leads)} leads")
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 0.6, 4.4), squeeze=False)
    vmax = max(1.0, max(float(m.max()) for m in matrices))
    for i, (ax, m) in enumerate(zip(axes[0], matrices)):
        im = ax.imshow(m, cmap="viridis", vmin=0.0, vmax=vmax)
        ax.set_xticks(range(len(leads)), leads, rotation=90)
        ax.set_yticks(range(len(leads)), leads)
        ax.set_title(f"learned adjacency, level {i + 1}" if n > 1 else "learned adjacency")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
