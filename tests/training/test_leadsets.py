"""Issue 9, training side: lead-set TGLLNet (masked graph, unskewed paths), the sampler, --leads."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgsynth import synthetic_dataset  # noqa: E402
from tgll_edge.training import fit as fit_module  # noqa: E402
from tgll_edge.training.leadsets import (LEADS_12, STANDARD_SETS, LeadSetSampler, lead_mask,  # noqa: E402
                                         parse_leads, standard_masks)
from tgll_edge.training.models import build_model  # noqa: E402
from tgll_edge.training.models.graph import chebyshev_basis, graph_operator, symmetric_adjacency  # noqa: E402


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    m = build_model("tgllnet", n_times=128, preset="edge", lead_sets=True, **kw).eval()
    with torch.no_grad():  # a trained-looking mask embedding (it starts at zero)
        m.mask_embedding.weight.normal_(0, 0.5)
    return m


@pytest.mark.parametrize("masked", [["V3"], ["I"], ["III", "aVR", "aVL", "aVF", "V1", "V3", "V4", "V5", "V6"],
                                    [n for n in LEADS_12 if n != "II"]])
def test_garbage_in_a_masked_lead_does_not_change_the_output(masked):
    model = _model()
    m = torch.as_tensor(1 - lead_mask(masked))[None].repeat(4, 1)
    x = torch.randn(4, 12, 128)
    y = model(x, m)
    for scale in (1.0, 1e3):
        g = x.clone()
        idx = [LEADS_12.index(n) for n in masked]
        g[:, idx] = scale * torch.randn(4, len(idx), 128)
        assert torch.allclose(model(g, m), y, atol=1e-6, rtol=0)
    # the mask matters: the same input with all leads differs
    assert not torch.allclose(model(x, torch.ones(4, 12)), y, atol=1e-4)


def test_an_unmasked_lead_does_change_the_output():
    model = _model()
    m = torch.as_tensor(lead_mask(["I", "II"]))[None]
    x = torch.randn(1, 12, 128)
    g = x.clone()
    g[:, 1] += torch.randn(128)
    assert not torch.allclose(model(g, m), model(x, m), atol=1e-4)


def test_basis_input_equals_basis_from_mask_and_batches_are_independent():
    model = _model()
    masks = torch.as_tensor(np.stack(list(standard_masks().values())))
    x = torch.randn(len(masks), 12, 128)
    cheb = model.lead_basis(masks)
    assert cheb.shape == (len(masks), 1, 3, 12, 12)
    y = model(x, masks)
    assert torch.allclose(model(x, masks, cheb), y, atol=1e-6)
    for i in range(len(masks)):  # one window at a time gives the same as the batch
        assert torch.allclose(model(x[i:i + 1], masks[i:i + 1]), y[i:i + 1], atol=1e-5)


def test_batched_operator_is_the_single_mask_operator():
    torch.manual_seed(1)
    adj = symmetric_adjacency(torch.randn(12, 12))
    masks = torch.as_tensor(np.stack(list(standard_masks().values())))
    batched = chebyshev_basis(graph_operator(adj, masks), 3)
    for i, m in enumerate(masks):
        one = chebyshev_basis(graph_operator(adj, m), 3)
        assert torch.allclose(batched[i], one, atol=1e-7)
        off = np.flatnonzero(m.numpy() == 0)
        L = graph_operator(adj, m)
        assert torch.all(L[off] == 0) and torch.all(L[:, off] == 0)


def test_graph_basis_numpy_twin_equals_graph_py():
    leadgraph = pytest.importorskip("tgll_edge.signal.leadgraph")
    rng = np.random.default_rng(3)
    for trial in range(20):
        levels = int(rng.integers(1, 3))
        adj = torch.stack([symmetric_adjacency(torch.as_tensor(rng.normal(size=(12, 12)), dtype=torch.float32))
                           for _ in range(levels)])
        mask = (rng.random(12) < rng.uniform(0.1, 1.0)).astype(np.float32)
        mask[rng.integers(12)] = 1
        k = int(rng.integers(2, 5))
        ours = torch.stack([chebyshev_basis(graph_operator(a, torch.as_tensor(mask)), k) for a in adj]).numpy()
        twin = leadgraph.graph_basis(adj.numpy(), mask, k)
        assert twin.shape == ours.shape
        np.testing.assert_allclose(twin, ours, atol=1e-5)


def test_full_mask_model_and_old_model_paths():
    old = build_model("tgllnet", n_times=128, preset="edge").eval()
    assert "lead_sets" not in old.config()  # old checkpoints and cards unchanged
    with pytest.raises(ValueError):
        old(torch.randn(1, 12, 128), torch.ones(1, 12))
    new = _model()
    assert new.config()["lead_sets"] is True
    x = torch.randn(2, 12, 128)
    assert torch.allclose(new(x), new(x, torch.ones(2, 12)), atol=1e-6)


def test_sampler_covers_the_standard_sets_and_the_full_set():
    s = LeadSetSampler(seed=0)
    masks = s(20000)
    assert masks.shape == (20000, 12) and masks.sum(1).min() >= 1
    full = (masks.sum(1) == 12).mean()
    assert 0.3 < full < 0.45
    for name, m in standard_masks().items():
        assert (masks == m).all(1).mean() > 0.05, name
    assert np.array_equal(LeadSetSampler(seed=0)(50), LeadSetSampler(seed=0)(50))


def test_sampler_mix_sets_the_shares():
    masks = LeadSetSampler(seed=1, p_full=0.1, p_standard=0.9)(20000)
    assert abs((masks.sum(1) == 12).mean() - 0.1) < 0.02  # no random subsets left to add full masks
    for name, m in standard_masks().items():
        if name != "12":
            assert abs((masks == m).all(1).mean() - 0.15) < 0.02, name


def test_distillation_changes_what_is_learned():
    """fit(teacher=...): the teacher's probabilities enter the loss (same seed, other weights)."""
    import torch

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((48, 12, 64)).astype(np.float32), (rng.random((48, 5)) < 0.3).astype(np.float32)
    teacher = build_model("tgllnet", n_times=64, n_outputs=5, preset="edge", width=4, levels=[1]).eval()
    states = []
    for t in (None, teacher):
        torch.manual_seed(0)
        m = build_model("tgllnet", n_times=64, n_outputs=5, preset="edge", width=4, levels=[1], lead_sets=True)
        fit_module.fit(m, X, Y, X[:16], Y[:16], epochs=1, batch_size=16, threads=1, progress=False,
                       lead_sampler=LeadSetSampler(seed=0), teacher=t, distill_weight=0.9)
        states.append(m.state_dict())
    assert any(not torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_parse_leads():
    assert parse_leads("V2,I,ii") == ["I", "II", "V2"]
    assert parse_leads("3") == STANDARD_SETS["3"]
    assert parse_leads("I") == ["I"]
    with pytest.raises(ValueError):
        parse_leads("I,V7")


def test_train_run_with_lead_sets_and_with_a_lead_subset(tmp_path):
    ds = synthetic_dataset(n=60, n_times=64)
    rep = fit_module.train_run(ds, "tgllnet", tmp_path / "ls", preset="edge", epochs=1, batch_size=16,
                               threads=1, n_boot=20, progress=False, lead_sets=True)
    assert set(rep["lead_sets"]) == set(STANDARD_SETS)
    cfg = json.loads((tmp_path / "ls" / "config.json").read_text())
    assert cfg["model"]["lead_sets"] is True and cfg["train"]["lead_sets"] is True
    assert rep["history"][0]["val_selection"] == "standard lead sets mixed"
    fit_module.train_run(ds, "resnet1d_wang", tmp_path / "rn", model_kwargs={"width": 8}, epochs=1, batch_size=16,
                         threads=1, n_boot=20, progress=False, leads=["I", "II"])
    cfg = json.loads((tmp_path / "rn" / "config.json").read_text())
    assert cfg["leads"] == ["I", "II"] and cfg["model"]["n_leads"] == 2
