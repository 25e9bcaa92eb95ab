"""Models: declared signatures, shapes, the oracle equivalence of the efficient lead graph."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tgll_edge.training.models import ARCHS, NaiveTGLLNet, build_model  # noqa: E402
from tgll_edge.training.models.graph import (  # noqa: E402
    batched_cheb_weight, chebyshev_basis, graph_operator, pointwise_cheb_weight, symmetric_adjacency)

SMALL = {"tgllnet": {"preset": "edge"}, "resnet1d_wang": {"width": 16}, "xresnet1d101": {"layers": [1, 1, 1, 1]}}


@pytest.mark.parametrize("arch", ARCHS)
def test_signature_shapes_and_rebuild(arch):
    torch.manual_seed(0)
    model = build_model(arch, n_leads=12, n_times=1000, sfreq=100, n_outputs=7, **SMALL[arch]).eval()
    assert (model.n_leads, model.n_times, model.sfreq, model.n_outputs) == (12, 1000, 100.0, 7)
    with torch.no_grad():
        assert model(torch.randn(1, 12, 1000)).shape == (1, 7)  # batch of one stays (1, C)
        assert model(torch.randn(3, 12, 1000)).shape == (3, 7)
    rebuilt = build_model(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    x = torch.randn(2, 12, 1000)
    with torch.no_grad():
        assert torch.allclose(model(x), rebuilt(x))


@pytest.mark.parametrize("shape", [(2, 8, 1000), (2, 12, 999), (12, 1000)])
def test_wrong_input_shape_is_a_clear_error(shape):
    model = build_model("tgllnet", preset="edge")
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(*shape))


def test_unknown_arch_and_preset():
    with pytest.raises(ValueError, match="unknown arch"):
        build_model("transformer")
    with pytest.raises(ValueError, match="preset"):
        build_model("tgllnet", preset="huge")


def test_pointwise_weight_equals_kron_sum():
    torch.manual_seed(1)
    n, k, f_in, f_out = 12, 3, 4, 5
    basis = torch.randn(k, n, n)
    weight = torch.randn(k, f_in, f_out)
    expected = sum(torch.kron(basis[i], weight[i].T.contiguous()) for i in range(k))
    assert torch.allclose(pointwise_cheb_weight(basis, weight), expected, atol=1e-5)


def test_batched_cheb_weight_is_the_pointwise_weight_per_sample():
    torch.manual_seed(3)
    basis, weight = torch.randn(4, 3, 12, 12), torch.randn(3, 16, 8)
    got = batched_cheb_weight(basis, weight)
    assert got.shape == (4, 12 * 8, 12 * 16)
    for b in range(4):
        assert torch.allclose(got[b], pointwise_cheb_weight(basis[b], weight), atol=1e-5)


def test_graph_operator_properties():
    torch.manual_seed(2)
    adj = symmetric_adjacency(torch.randn(12, 12))
    assert torch.allclose(adj, adj.T) and torch.all(torch.diag(adj) == 0)
    assert adj.min() >= 0 and adj.max() <= 1
    op = graph_operator(adj)
    assert torch.allclose(op, op.T, atol=1e-6)
    # a detached lead is cut out of the graph, and the rest renormalised
    mask = torch.ones(12)
    mask[3] = 0
    op_masked = graph_operator(adj, mask)
    assert torch.all(op_masked[3] == 0) and torch.all(op_masked[:, 3] == 0)
    basis = chebyshev_basis(op, 3)
    assert torch.allclose(basis[2], 2 * op @ op - torch.eye(12), atol=1e-6)


@pytest.mark.parametrize("preset,kwargs", [("paper", {}), ("edge", {}), ("edge", {"levels": [1, 3]})])
def test_efficient_equals_naive_per_time_step_oracle(preset, kwargs):
    """The pointwise-conv lead graph and the per-step Chebyshev recursion agree on the same weights."""
    torch.manual_seed(3)
    model = build_model("tgllnet", preset=preset, n_outputs=5, **kwargs).eval()
    for p in model.parameters():  # non-trivial BN statistics etc. are not needed: weights suffice
        p.data.add_(0.01 * torch.randn_like(p))
    x = torch.randn(2, 12, 1000)
    with torch.no_grad():
        fast = model(x)
        slow = NaiveTGLLNet(model)(x)
        fast_tokens = model.graph_tokens(x)
    assert torch.allclose(fast, slow, atol=1e-4, rtol=1e-4), (fast - slow).abs().max()
    # and the graph stage alone, where the formulations differ most
    b, n, t = x.shape
    assert fast_tokens.shape == (2, model.levels[0].tokenizer.out_channels, t)
    with torch.no_grad():
        model.fold_graph()
        folded = model(x)
    assert torch.allclose(fast, folded, atol=1e-5)


def test_adjacency_is_learnable_and_reported():
    torch.manual_seed(4)
    model = build_model("tgllnet", preset="edge", n_outputs=2).train()
    before = [a.copy() for a in model.adjacency()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    x = torch.randn(4, 12, 1000)
    loss = model(x).pow(2).sum()
    loss.backward()
    assert model.levels[0].adjacency_raw.grad is not None
    assert model.levels[0].adjacency_raw.grad.abs().sum() > 0
    opt.step()
    after = model.adjacency()
    assert len(after) == 1 and after[0].shape == (12, 12)
    assert not np.allclose(before[0], after[0])
