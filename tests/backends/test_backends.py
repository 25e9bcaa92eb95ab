"""onnxruntime and LiteRT backends behind one interface; int8 I/O quantization in LiteRT."""
from pathlib import Path

import numpy as np
import pytest

from bundle_factory import make_onnx, reference_logits
from tgll_edge.backends import open_backend
from tgll_edge.backends.litert import dequantize, quantize

pytest.importorskip("ai_edge_litert")


def test_quantize_roundtrip_and_saturation():
    x = np.array([-10.0, -1.0, 0.0, 0.26, 1.0, 10.0])
    q = quantize(x, 0.05, 3, np.int8)
    assert q.dtype == np.int8 and q.tolist() == [-128, -17, 3, 8, 23, 127]
    np.testing.assert_allclose(dequantize(q, 0.05, 3), [-6.55, -1.0, 0.0, 0.25, 1.0, 6.2], atol=1e-6)
    assert quantize(np.array([1e9]), 1e-4, 0, np.int16).tolist() == [32767]


def test_onnx_backend_any_batch(tmp_path):
    b = open_backend(make_onnx(tmp_path / "m.onnx"), threads=2)
    x = np.random.default_rng(0).standard_normal((3, 12, 1000)).astype(np.float32)
    np.testing.assert_allclose(b.run(x), reference_logits(x), atol=1e-4)
    assert b.run(x[:1]).shape == (1, 5)
    with pytest.raises(ValueError, match="unknown model format"):
        open_backend(tmp_path / "m.bin")
    with pytest.raises(ValueError, match="threads"):
        open_backend(tmp_path / "m.onnx", threads=0)


@pytest.fixture(scope="module")
def tflite_pair(tmp_path_factory):
    """fp32 .tflite of a tiny conv net and its int8 version with int8 input/output tensors."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("litert_torch")
    from tgll_edge.training.quantize import TFLITE_RECIPES, quantize_tflite

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(12, 8, 7, padding=3)
            self.head = torch.nn.Linear(8, 5)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(dim=-1))

    torch.manual_seed(0)
    net = Net().eval()
    d = tmp_path_factory.mktemp("tfl")
    import litert_torch
    fp32 = d / "m.tflite"
    litert_torch.convert(net, (torch.randn(1, 12, 200),)).export(str(fp32))
    calib = np.random.default_rng(1).standard_normal((16, 12, 200)).astype(np.float32)
    int8 = d / "m_int8.tflite"
    recipe = next(r for r in TFLITE_RECIPES if r["name"] == "int8_static")
    quantize_tflite(net, int8, calib, recipe)
    with torch.no_grad():
        x = np.random.default_rng(2).standard_normal((4, 12, 200)).astype(np.float32)
        ref = net(torch.from_numpy(x)).numpy()
    return fp32, int8, x, ref


def test_litert_fp32_batches_window_by_window(tflite_pair):
    fp32, _, x, ref = tflite_pair
    b = open_backend(fp32, threads=1)
    assert b.batch == 1 and b.input_dtype == np.float32
    np.testing.assert_allclose(b.run(x), ref, atol=1e-4)


def test_litert_int8_io_is_quantized_by_the_backend(tflite_pair):
    from ai_edge_litert.interpreter import Interpreter

    _, int8, x, ref = tflite_pair
    b = open_backend(int8, threads=1)
    assert b.input_dtype == np.int8
    (s_in, z_in), (s_out, z_out) = b.input_quantization, b.output_quantization
    assert s_in > 0 and s_out > 0
    y = b.run(x)
    assert y.dtype == np.float32 and y.shape == (4, 5)
    # the backend's arithmetic, by hand, through the raw interpreter
    it = Interpreter(model_path=str(int8))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    q = np.clip(np.round(x[:1] / s_in) + z_in, -128, 127).astype(np.int8)
    it.set_tensor(i["index"], q)
    it.invoke()
    np.testing.assert_allclose(y[:1], (it.get_tensor(o["index"]).astype(np.float32) - z_out) * s_out, atol=1e-6)
    # and close to the float model: a few output steps of quantization error at most
    assert np.abs(y - ref).max() < 0.1 * np.abs(ref).max() + 4 * s_out
