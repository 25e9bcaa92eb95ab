"""Load a model bundle and predict, without torch.

    model = load_model()                        # the default bundle, its default artifact
    model = load_model("models/x", artifact="tflite_int8", threads=2)
    p = model.predict_proba(windows)            # (B, 12, n_times) preprocessed mV -> (B, labels)

Everything (labels, fs, window, lead order, scaler, preprocessing, thresholds)
comes from the bundle's card; the model file's sha256 is checked before it is
opened.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .backends import open_backend
from .bundle import ARTIFACT_KEYS, read_card, verify_artifact
from .errors import BundleError
from .signal.preprocess import Preprocessor
from .signal.scaler import StandardScaler

#: The released bundle the runtime uses when none is named (``models/<name>`` in
#: the repository, ``tgll_edge/bundled/<name>`` in a wheel). ``TGLL_EDGE_MODEL``
#: (a bundle directory) overrides it.
DEFAULT_BUNDLE_NAME = "tgllnet-edge-superdiagnostic"


def default_bundle_dir() -> Path:
    """The default bundle's directory (it may not exist yet in a fresh checkout)."""
    env = os.environ.get("TGLL_EDGE_MODEL")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    for candidate in (package / "bundled" / DEFAULT_BUNDLE_NAME, package.parent / "models" / DEFAULT_BUNDLE_NAME):
        if (candidate / "card.json").is_file():
            return candidate
    return package.parent / "models" / DEFAULT_BUNDLE_NAME


def sigmoid(z) -> np.ndarray:
    """Logits -> probabilities in float64, without overflow for large negative logits
    (the export gate uses it too, so the card's metrics are the runtime's)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _litert_available() -> bool:
    try:
        from .backends.litert import interpreter_class
        interpreter_class()
        return True
    except ImportError:
        return False


class Model:
    """A loaded bundle artifact."""

    def __init__(self, bundle_dir: Path, card: dict, artifact: str, backend):
        self.bundle_dir = Path(bundle_dir)
        self.card = card
        self.artifact = artifact
        self.backend = backend
        self.labels: list[str] = list(card["labels"])
        self.fs = float(card["fs"])
        self.n_times = int(card["n_times"])
        self.leads: list[str] = list(card["leads"])
        self.thresholds = np.array([card["thresholds"][lab] for lab in self.labels], dtype=np.float32)
        self.scaler = StandardScaler.from_dict(card["scaler"])
        self._output = card["output"]

    def __repr__(self) -> str:
        return f"Model({self.card['name']!r}, artifact={self.artifact!r}, labels={self.labels})"

    def preprocessor(self, fs_in: float) -> Preprocessor:
        """A fresh streaming Preprocessor from ``fs_in`` to the card's fs and filters."""
        return Preprocessor(self.card["preprocessing"], fs_in)

    def check_windows(self, windows) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float32)
        want = (len(self.leads), self.n_times)
        if x.ndim != 3 or x.shape[1:] != want:
            hint = " (add a batch axis: x[None])" if x.shape == want else ""
            if x.ndim == 3 and x.shape[1] != want[0]:
                hint = f" ({x.shape[1]} leads given; the model needs the 12 leads {', '.join(self.leads)})"
            elif x.ndim == 3 and x.shape[2] < want[1]:
                hint = f" (windows too short: {x.shape[2]} samples, need {want[1]} = {want[1] / self.fs:g} s at {self.fs:g} Hz)"
            raise ValueError(f"expected windows of shape (batch, {want[0]}, {want[1]}); got {x.shape}{hint}")
        if x.shape[0] == 0:
            raise ValueError("expected at least one window; got an empty batch")
        if not np.all(np.isfinite(x)):
            bad = sorted({int(i) for i in np.argwhere(~np.isfinite(x))[:, 0]})
            raise ValueError(f"windows contain NaN or inf (window index {bad[:10]}); clean or drop them first")
        return x

    def logits(self, windows) -> np.ndarray:
        if self._output != "logits":
            raise ValueError("this bundle's model outputs probabilities, not logits")
        return self.backend.run(self.scaler.transform(self.check_windows(windows)))

    def predict_proba(self, windows) -> np.ndarray:
        """(B, 12, n_times) preprocessed mV at the card's fs -> (B, n_labels) probabilities."""
        y = self.backend.run(self.scaler.transform(self.check_windows(windows)))
        return (sigmoid(y) if self._output == "logits" else y).astype(np.float32)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Boolean findings: probability at or above each label's fold-9 threshold."""
        return np.asarray(proba) >= self.thresholds

    def close(self) -> None:
        self.backend.close()


def load_model(bundle: str | Path | None = None, artifact: str | None = None, threads: int = 1) -> Model:
    """Load ``bundle`` (default: :func:`default_bundle_dir`), verify the artifact's
    sha256 and open it with onnxruntime or LiteRT. ``artifact`` None -> the card's
    ``default_artifact`` (an ONNX one when no LiteRT interpreter is installed)."""
    bundle_dir = Path(bundle) if bundle is not None else default_bundle_dir()
    if bundle is None and not (bundle_dir / "card.json").is_file():
        raise BundleError(f"no default model bundle at {bundle_dir}; pass a bundle directory "
                          "(tgll-export CHECKPOINT --out DIR builds one) or set TGLL_EDGE_MODEL")
    card = read_card(bundle_dir)
    if artifact is None:
        artifact = card["default_artifact"]
        if card["artifacts"][artifact]["format"] == "tflite" and not _litert_available():
            onnx = [k for k in ARTIFACT_KEYS if k in card["artifacts"] and k.startswith("onnx")]
            artifact = onnx[0] if onnx else artifact
    path = verify_artifact(bundle_dir, card, artifact)
    backend = open_backend(path, card["artifacts"][artifact]["format"], threads=threads)
    try:
        check_against_card(backend, card, path)
    except BundleError:
        backend.close()
        raise
    return Model(bundle_dir, card, artifact, backend)


def check_against_card(backend, card: dict, path: Path) -> None:
    """The model file must take and give what the card says: (leads, n_times) in, one value per
    label out, float32 or integer tensors with quantization parameters. BundleError naming both."""
    want_in = (len(card["leads"]), int(card["n_times"]))
    want_out = (len(card["labels"]),)
    for what, spec, want in (("input", backend.input, want_in), ("output", backend.output, want_out)):
        if len(spec.shape) != len(want) or any(d is not None and d != w for d, w in zip(spec.shape, want)):
            wanted = ", ".join(map(str, want))
            raise BundleError(f"{path}: the model's {what} is {spec.describe()}, but the card says (batch, {wanted})"
                              f" ({'leads, samples' if what == 'input' else str(want_out[0]) + ' labels'})")
        integer = np.issubdtype(spec.dtype, np.integer)
        if not (spec.dtype == np.float32 or integer):
            raise BundleError(f"{path}: the model's {what} is {spec.describe()}; the card's {what} is float32")
        if integer and not spec.quantization[0] > 0:
            raise BundleError(f"{path}: the model's {what} is {spec.describe()} without quantization parameters; "
                              "the runtime cannot map it to the card's float32")
