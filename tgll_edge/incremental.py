"""Score a stream's overlapping windows without recomputing what the last window computed.

TGLLNet's graph stage is pointwise in time (``tgll_edge.training.stream_split``), so with a
1 s hop over a 10 s window, 90 % of a window's tokens were computed for the window before.
A bundle whose ONNX artifact lists a ``stream`` split (two files: the graph stage with a
free time axis, and the temporal stage) is scored here by running the graph stage on the
new steps only and the temporal stage on the whole token sequence. The export checked
that this gives the file's own probabilities.

Reuse is never assumed: the previous window's inputs are kept, and the new window must
hold exactly those samples, shifted by its start time, with the same lead mask. Anything
else (a gap bridged differently, a lead gated off, the first window) runs the graph stage
on the whole window.
"""
from __future__ import annotations

import numpy as np

from .backends.onnx import open_session
from .bundle import verify_file
from .errors import BundleError


def open_split(model, entry: dict, threads: int = 1) -> tuple:
    """Verify (sha256) and open the split files a card's ``stream`` entry lists: (tokens, head)
    onnxruntime sessions (thread-safe: one pair serves every stream of a gateway)."""
    try:
        paths = [verify_file(model.bundle_dir, entry[part]) for part in ("tokens", "head")]
    except (KeyError, TypeError):
        raise BundleError(f"{model.bundle_dir}: the card's stream entry for {model.artifact} "
                          "needs tokens and head files") from None
    tokens, head = (open_session(p, threads) for p in paths)
    if "x" not in [i.name for i in tokens.get_inputs()] or len(head.get_inputs()) != 1:
        raise BundleError(f"{paths[0]}: not a graph stage (input x) and temporal stage (one input) pair")
    return tokens, head


class StreamScorer:
    """``predict_proba(window, t_start, lead_mask)`` for one stream's windows in time order
    (``Model.stream_scorer()`` makes one per stream; its state is the last window's inputs and tokens)."""

    def __init__(self, model, tokens_session, head_session):
        self.model = model
        self._tokens, self._head = tokens_session, head_session
        self._token_inputs = [i.name for i in tokens_session.get_inputs()]
        self._head_input = head_session.get_inputs()[0].name
        self._prev = None  # (t_start, x, mask bytes, tokens)
        self.counts = {"windows": 0, "reused": 0}

    def _graph_stage(self, x: np.ndarray, extra: dict) -> np.ndarray:
        feeds = {"x": np.ascontiguousarray(x)}
        feeds.update({k: extra[k] for k in self._token_inputs if k != "x"})
        return self._tokens.run(None, feeds)[0]

    def predict_proba(self, window: np.ndarray, t_start: float, lead_mask=None) -> np.ndarray:
        """(leads, n_times) preprocessed mV starting at ``t_start`` seconds -> (n_labels,)."""
        from .runtime import sigmoid

        x, extra = self.model.model_inputs(np.asarray(window)[None], None if lead_mask is None
                                           else np.asarray(lead_mask)[None])
        mask = extra["lead_mask"].tobytes() if "lead_mask" in extra else b""
        n = x.shape[2]
        shift = None if self._prev is None else int(round((t_start - self._prev[0]) * self.model.fs))
        tokens = None
        if shift is not None and 0 < shift < n and mask == self._prev[2] \
                and np.array_equal(x[:, :, : n - shift], self._prev[1][:, :, shift:]):
            new = self._graph_stage(x[:, :, n - shift:], extra)
            tokens = np.concatenate([self._prev[3][:, :, shift:], new], axis=2)
            self.counts["reused"] += 1
        if tokens is None:
            tokens = self._graph_stage(x, extra)
        self.counts["windows"] += 1
        self._prev = (t_start, x, mask, tokens)
        y = self._head.run(None, {self._head_input: tokens})[0][0]
        return (sigmoid(y) if self.model.card["output"] == "logits" else y).astype(np.float32)
