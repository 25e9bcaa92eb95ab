"""The per-window lead graph (tgll_edge/signal/leadgraph.py): the contract's formula, masking,
and (where torch is installed) equality with the training side's graph.py."""
import numpy as np
import pytest

from tgll_edge.signal.leadgraph import BasisCache, chebyshev_basis, graph_basis, graph_operator


def _adjacency(levels=2, n=12, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.5, 1.0, (levels, n, n))
    a = np.clip(np.maximum(a + a.transpose(0, 2, 1), 0), 0, 1)
    a[:, np.arange(n), np.arange(n)] = 0
    return a


def _reference(a, m, k):
    """The contract written out literally, one level at a time."""
    out = []
    for lvl in a:
        am = lvl * np.outer(m, m)
        deg = am.sum(1)
        d = 1 / (np.sqrt(deg) + 1e-5)
        op = -(d[:, None] * am * d[None, :])
        ts = [np.eye(12), op]
        for _ in range(2, k):
            ts.append(2 * op @ ts[-1] - ts[-2])
        out.append(np.stack(ts[:k]))
    return np.stack(out)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_matches_the_contract(k):
    a = _adjacency()
    m = np.ones(12)
    m[[2, 8]] = 0
    b = graph_basis(a, m, k)
    assert b.shape == (2, k, 12, 12) and b.dtype == np.float32
    np.testing.assert_allclose(b, _reference(a, m, k), rtol=1e-6, atol=1e-6)


def test_masked_leads_leave_the_graph():
    a = _adjacency(levels=1)
    m = np.ones(12)
    m[8] = 0  # V3
    b = graph_basis(a, m, 3)[0]
    others = np.arange(12) != 8
    for j in (1, 2):  # no edge to or from V3 at any order (T_2 = 2 L^2 - I keeps a -1 on its diagonal)
        assert np.all(b[j][8, others] == 0) and np.all(b[j][others, 8] == 0)
    # the rest is the operator of the 11-node graph
    keep = np.flatnonzero(m)
    sub = graph_operator(a[0][np.ix_(keep, keep)])
    np.testing.assert_allclose(b[1][np.ix_(keep, keep)], sub, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b[0], np.eye(12))


def test_single_lead_and_no_lead():
    a = _adjacency(levels=1)
    for m in (np.eye(12)[1], np.zeros(12)):
        b = graph_basis(a, m, 3)[0]
        np.testing.assert_array_equal(b[1], 0)
        np.testing.assert_allclose(b[2], -np.eye(12))  # 2 L L - I with L = 0
        assert np.all(np.isfinite(b))


def test_single_matrix_and_bad_shapes():
    a = _adjacency(levels=1)
    assert graph_basis(a[0], np.ones(12), 2).shape == (1, 2, 12, 12)
    with pytest.raises(ValueError, match="12-node"):
        graph_basis(a, np.ones(11), 2)
    with pytest.raises(ValueError, match="cheb_k"):
        chebyshev_basis(a[0], 0)


def test_cache_returns_the_same_basis():
    a = _adjacency()
    cache = BasisCache(a, 3)
    m = np.ones(12, bool)
    m[4] = False
    b1 = cache(m)
    assert cache(m.astype(np.float32)) is b1
    np.testing.assert_array_equal(b1, graph_basis(a, m, 3))


def test_equals_torch_graph_py():
    torch = pytest.importorskip("torch")
    from tgll_edge.training.models.graph import chebyshev_basis as t_cheb
    from tgll_edge.training.models.graph import graph_operator as t_op

    a = _adjacency(levels=2, seed=3)
    rng = np.random.default_rng(1)
    for _ in range(5):
        m = (rng.random(12) > 0.4).astype(np.float64)
        want = np.stack([t_cheb(t_op(torch.tensor(lvl), torch.tensor(m)), 3).numpy() for lvl in a])
        np.testing.assert_allclose(graph_basis(a, m, 3), want, rtol=1e-5, atol=1e-6)
