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
from .signal.leadgraph import BasisCache
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


def resolve_bundle(bundle: str | Path) -> Path:
    """A bundle directory, or the name of a bundle shipped with the package (``models/<name>`` in
    the repository, ``tgll_edge/bundled/<name>`` in a wheel), e.g.
    ``tgllnet-edge-leadsets-superdiagnostic``; a path that is neither is returned as given."""
    path = Path(bundle)
    if (path / "card.json").is_file() or len(path.parts) != 1:
        return path
    package = Path(__file__).resolve().parent
    for candidate in (package / "bundled" / path.name, package.parent / "models" / path.name):
        if (candidate / "card.json").is_file():
            return candidate
    return path


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
        # a lead-set-aware bundle takes (x, lead_mask, cheb) and serves any subset of
        # the leads; a bundle without card["lead_graph"] is a 12-lead model, as before
        graph = card.get("lead_graph")
        self.lead_set_aware = bool(graph) and "lead_mask" in (card.get("inputs") or [])
        self.lead_sets: dict = dict(card.get("lead_sets") or {})
        self.min_leads = int(card.get("min_leads", 1)) if self.lead_set_aware else len(self.leads)
        self._basis = BasisCache(graph["adjacency"], int(graph["cheb_k"])) if self.lead_set_aware else None
        self._split = None  # the streaming split's onnxruntime sessions (stream_scorer)

    def __repr__(self) -> str:
        return f"Model({self.card['name']!r}, artifact={self.artifact!r}, labels={self.labels})"

    def preprocessor(self, fs_in: float) -> Preprocessor:
        """A fresh streaming Preprocessor from ``fs_in`` to the card's fs and filters."""
        return Preprocessor(self.card["preprocessing"], fs_in)

    def check_windows(self, windows, lead_mask=None) -> np.ndarray:
        """Windows as float32 (B, leads, n_times); ValueError naming what is wrong. Leads that
        ``lead_mask`` (B, leads) marks unusable (0) may hold anything, NaN included."""
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
        finite = np.isfinite(x)
        if lead_mask is not None:
            finite |= ~lead_mask.astype(bool)[:, :, None]
        if not np.all(finite):
            bad = sorted({int(i) for i in np.argwhere(~finite)[:, 0]})
            raise ValueError(f"windows contain NaN or inf (window index {bad[:10]}); clean or drop them first")
        return x

    def check_mask(self, lead_mask, batch: int) -> np.ndarray | None:
        """``lead_mask`` (leads,) or (B, leads) of 0/1 (or bool) -> float32 (B, leads); None: all usable.
        A 12-lead bundle refuses a mask with a lead off (it was not trained to do without one):
        ValueError naming the leads and what to use instead."""
        if lead_mask is None:
            return None
        m = np.asarray(lead_mask)
        if m.ndim == 1:
            m = np.broadcast_to(m, (batch, m.shape[0]))
        if m.shape != (batch, len(self.leads)):
            raise ValueError(f"lead_mask must be ({len(self.leads)},) or (batch, {len(self.leads)}) for "
                             f"{batch} windows; got shape {np.shape(lead_mask)}")
        m = (m.astype(np.float32) > 0.5).astype(np.float32)
        if not self.lead_set_aware:
            off = sorted({self.leads[j] for j in np.flatnonzero(~m.astype(bool).all(axis=0))},
                         key=self.leads.index)
            if off:
                raise ValueError(f"{self.card['name']} is a 12-lead model: it cannot score windows without "
                                 f"{', '.join(off)}; use a lead-set-aware bundle (its card lists 'lead_sets') "
                                 "or fill those leads yourself")
            return None
        return m

    def model_inputs(self, windows, lead_mask=None) -> tuple[np.ndarray, dict]:
        """Checked windows -> the model file's inputs: x (scaled; unusable leads 0) and, for a
        lead-set-aware bundle, {"lead_mask", "cheb"} (each window's lead graph basis)."""
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim != 3:
            self.check_windows(x)  # raises the shape error
        m = self.check_mask(lead_mask, x.shape[0])
        x = self.scaler.transform(self.check_windows(x, m))
        if not self.lead_set_aware:
            return x, {}
        if m is None:
            m = np.ones((x.shape[0], len(self.leads)), dtype=np.float32)
        if not m.all():  # unusable leads: 0, after scaling
            x = np.where(m[:, :, None] > 0, x, np.float32(0)).astype(np.float32)
        cheb = self._basis(m[0])[None] if len(m) == 1 else np.stack([self._basis(row) for row in m])
        return x, {"lead_mask": m, "cheb": cheb}

    def _run(self, windows, lead_mask=None) -> np.ndarray:
        x, extra = self.model_inputs(windows, lead_mask)
        return self.backend.run(x, **extra)

    def stream_scorer(self, threads: int = 1):
        """A :class:`tgll_edge.incremental.StreamScorer` for consecutive overlapping windows
        when this artifact ships its streaming split (card ``stream``), else None."""
        entry = self.card["artifacts"][self.artifact].get("stream")
        if not entry or self.card["artifacts"][self.artifact]["format"] != "onnx":
            return None
        from .incremental import StreamScorer, open_split
        if self._split is None:  # opened once: every stream (a gateway's devices) shares the sessions
            self._split = open_split(self, entry, threads=threads)
        return StreamScorer(self, *self._split)

    def logits(self, windows, lead_mask=None) -> np.ndarray:
        if self._output != "logits":
            raise ValueError("this bundle's model outputs probabilities, not logits")
        return self._run(windows, lead_mask)

    def predict_proba(self, windows, lead_mask=None) -> np.ndarray:
        """(B, 12, n_times) preprocessed mV at the card's fs -> (B, n_labels) probabilities.

        lead_mask: (12,) or (B, 12), 1 = usable lead, 0 = not (a lead-set-aware bundle builds
        each window's lead graph from it and ignores what the unusable leads hold); None = all.
        """
        y = self._run(windows, lead_mask)
        return (sigmoid(y) if self._output == "logits" else y).astype(np.float32)

    def lead_set_auc(self, leads_used) -> tuple[str | None, float | None]:
        """The largest standard lead set of the card (``lead_sets``) contained in ``leads_used``,
        and its fold-9 (validation) macro-AUC: how far a finding from those leads can be trusted.
        (None, None) when no listed set is contained (or the card lists none)."""
        used = set(leads_used)
        best = None
        for name, entry in self.lead_sets.items():
            leads = entry.get("leads") or []
            if leads and set(leads) <= used and (best is None or len(leads) > len(best[1]["leads"])):
                best = (name, entry)
        if best is None:
            return None, None
        auc = best[1].get("val_macro_auc")
        return best[0], None if auc is None else float(auc)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Boolean findings: probability at or above each label's fold-9 threshold."""
        return np.asarray(proba) >= self.thresholds

    def close(self) -> None:
        self.backend.close()


def load_model(bundle: str | Path | None = None, artifact: str | None = None, threads: int = 1) -> Model:
    """Load ``bundle`` (default: :func:`default_bundle_dir`), verify the artifact's
    sha256 and open it with onnxruntime or LiteRT. ``artifact`` None -> the card's
    ``default_artifact`` (an ONNX one when no LiteRT interpreter is installed), as
    :func:`artifact_for_cpu` adjusts it for this CPU family."""
    bundle_dir = resolve_bundle(bundle) if bundle is not None else default_bundle_dir()
    if bundle is None and not (bundle_dir / "card.json").is_file():
        raise BundleError(f"no default model bundle at {bundle_dir}; pass a bundle directory "
                          "(tgll-export CHECKPOINT --out DIR builds one) or set TGLL_EDGE_MODEL")
    card = read_card(bundle_dir)
    if artifact is None:
        artifact = card["default_artifact"]
        if card["artifacts"][artifact]["format"] == "tflite" and not _litert_available():
            onnx = [k for k in ARTIFACT_KEYS if k in card["artifacts"] and k.startswith("onnx")]
            artifact = onnx[0] if onnx else artifact
        artifact = artifact_for_cpu(card, artifact, bundle_dir)
    path = verify_artifact(bundle_dir, card, artifact)
    backend = open_backend(path, card["artifacts"][artifact]["format"], threads=threads)
    try:
        check_against_card(backend, card, path)
    except BundleError:
        backend.close()
        raise
    return Model(bundle_dir, card, artifact, backend)


_warned_cpu: set = set()


def _gate_on(entry: dict, family: str):
    """Whether ``entry`` (a card artifact) passed the export gate on ``family``: True, False,
    or None when the card has no result for that family."""
    if entry.get("precision") != "int8":
        return True  # float outputs do not depend on the CPU's integer kernels (within 1e-6)
    by = entry.get("metrics_by_cpu") or {}
    if family in by:
        return bool(by[family].get("passes_gate", True))
    return True if entry.get("metrics", {}).get("cpu_family") == family else None


def artifact_for_cpu(card: dict, artifact: str, bundle_dir=None) -> str:
    """The artifact to run on this CPU family (:mod:`tgll_edge.cpufamily`) when none was named:
    ``artifact`` when the card says it passed the export gate on this family; the first other
    artifact (ARTIFACT_KEYS order, loadable here) that did when it failed here; ``artifact``
    with a one-time warning when the card has no result for this family (int8 outputs depend
    on the CPU's integer kernels: README, "ONNX int8 and the CPU family")."""
    from .cpufamily import cpu_family

    family = cpu_family()
    ok = _gate_on(card["artifacts"][artifact], family)
    if ok:
        return artifact
    if ok is False:
        for key in ARTIFACT_KEYS:
            entry = card["artifacts"].get(key)
            if entry and key != artifact and _gate_on(entry, family) and (
                    entry["format"] != "tflite" or _litert_available()):
                return key
    tag = (str(bundle_dir), artifact, family)
    if tag not in _warned_cpu:
        _warned_cpu.add(tag)
        measured = sorted(card["artifacts"][artifact].get("metrics_by_cpu") or
                          [card["artifacts"][artifact].get("metrics", {}).get("cpu_family") or "an unrecorded family"])
        import warnings
        if ok is False:
            why = f"failed the export gate on this CPU family ({family}) and no other artifact passed it"
        else:
            why = (f"int8 metrics were measured on {', '.join(measured)}, not on this CPU family ({family}); its "
                   "outputs may differ here (tools/int8_by_cpu.py measures them)")
        warnings.warn(f"{card['name']}: {artifact}'s {why}", RuntimeWarning, stacklevel=3)
    return artifact


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
    _check_extra_inputs(backend, card, path)


def _check_extra_inputs(backend, card: dict, path: Path) -> None:
    """A lead-set-aware card (``inputs: [x, lead_mask, cheb]``, ``lead_graph``) needs a model that
    takes exactly those inputs: lead_mask (batch, leads), cheb (batch, levels, K, leads, leads);
    an old card a model with one input. BundleError naming the model's and the card's shapes."""
    names = list(card.get("inputs") or ["x"])
    have = dict(getattr(backend, "inputs", None) or {"x": backend.input})
    if len(names) == 1 and len(have) == 1:
        return  # a 12-lead bundle: its one input was checked above, whatever its name
    if sorted(have) != sorted(names):
        raise BundleError(f"{path}: the model's inputs are {', '.join(have)}, but the card says "
                          f"{', '.join(names)}")
    graph = card.get("lead_graph") or {}
    n = len(card["leads"])
    try:
        adjacency = np.asarray(graph["adjacency"], dtype=np.float64)
        k = int(graph["cheb_k"])
    except (KeyError, TypeError, ValueError):
        raise BundleError(f"{path}: the card lists inputs {', '.join(names)} but no usable lead_graph "
                          "(adjacency per level and cheb_k)") from None
    if adjacency.ndim != 3 or adjacency.shape[1:] != (n, n) or not np.all(np.isfinite(adjacency)):
        raise BundleError(f"{path}: the card's lead_graph adjacency has shape {adjacency.shape}; "
                          f"expected (levels, {n}, {n}) of finite numbers")
    want = {"x": (n, int(card["n_times"])), "lead_mask": (n,), "cheb": (adjacency.shape[0], k, n, n)}
    for name in names:
        if name not in want:
            raise BundleError(f"{path}: the card lists an input {name!r} the runtime does not know "
                              "(it feeds x, lead_mask and cheb)")
        spec, shape = have[name], want[name]
        if len(spec.shape) != len(shape) or any(d is not None and d != w for d, w in zip(spec.shape, shape)):
            raise BundleError(f"{path}: the model's input {name} is {spec.describe()}, but the card says "
                              f"(batch, {', '.join(map(str, shape))})")
        if not (spec.dtype == np.float32 or np.issubdtype(spec.dtype, np.integer) and spec.quantization[0] > 0):
            raise BundleError(f"{path}: the model's input {name} is {spec.describe()}; the card's is float32")
