"""The adjacency heatmap."""
import numpy as np
import pytest

from tgll_edge.signal import LEADS_12
from tgll_edge.training.plots import adjacency_png


def test_heatmap_has_lead_labels(tmp_path, monkeypatch):
    import matplotlib.axes

    ticks = []
    real = matplotlib.axes.Axes.set_xticks
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xticks",
                        lambda self, t, labels=None, **kw: (ticks.append(list(labels)), real(self, t, labels, **kw)))
    path = adjacency_png([np.eye(12), np.ones((12, 12)) * 0.5], LEADS_12, tmp_path / "a.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert ticks == [list(LEADS_12)] * 2


def test_shape_mismatch():
    with pytest.raises(ValueError, match="12 leads"):
        adjacency_png([np.eye(8)], LEADS_12, "unused.png")
