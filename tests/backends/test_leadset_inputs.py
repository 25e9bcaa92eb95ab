"""Both backends feed a lead-set-aware model's named inputs (x, lead_mask, cheb)."""
import numpy as np
import pytest

from bundle_factory import leadset_reference_logits, leadset_weights, make_leadset_onnx


def _inputs(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 12, 1000)).astype(np.float32),
            (rng.random((n, 12)) > 0.3).astype(np.float32),
            rng.standard_normal((n, 2, 3, 12, 12)).astype(np.float32))


def test_onnxruntime_named_inputs(tmp_path):
    from tgll_edge.backends.onnx import OnnxBackend

    b = OnnxBackend(make_leadset_onnx(tmp_path / "m.onnx", 1000))
    assert list(b.inputs) == ["x", "lead_mask", "cheb"] and b.input.shape == (12, 1000)
    x, m, c = _inputs()
    np.testing.assert_allclose(b.run(x, lead_mask=m, cheb=c), leadset_reference_logits(x, m, c), atol=1e-4)


def test_litert_named_inputs(tmp_path):
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    from tgll_edge.backends.litert import LiteRTBackend

    w = leadset_weights()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(w["w"]))
            self.b = torch.nn.Parameter(torch.tensor(w["b"]))

        def forward(self, x, lead_mask, cheb):
            h = torch.relu(cheb.sum(dim=(1, 2)) @ x).mean(dim=2)
            return torch.cat([h, lead_mask], dim=1) @ self.w + self.b

    path = tmp_path / "m.tflite"
    litert_torch.convert(M().eval(), (torch.randn(1, 12, 1000), torch.ones(1, 12),
                                      torch.randn(1, 2, 3, 12, 12))).export(str(path))
    b = LiteRTBackend(path)
    assert sorted(b.inputs) == ["cheb", "lead_mask", "x"] and b.inputs["cheb"].shape == (2, 3, 12, 12)
    x, m, c = _inputs()
    np.testing.assert_allclose(b.run(x, lead_mask=m, cheb=c), leadset_reference_logits(x, m, c), atol=1e-4)
