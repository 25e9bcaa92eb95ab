"""The gateway pipeline: a source's events in, findings out.

    from tgll_edge.link.replay import ReplaySource   # or serial.SerialSource, ble.BleSource, cyton.CytonSource
    from tgll_edge.stream import Pipeline

    pipe = Pipeline(ReplaySource("record"), hop_s=5.0)   # default bundle
    for result in pipe:                                  # Finding, Gap or Status
        ...
    print(pipe.summary())

Sinks (``sinks=[...]``, see ``tgll_edge.stream.sinks.Sink``) see the raw
blocks, the conditioned signal and every result; callbacks (``on_window``,
``on_gap``, ``on_status``) are called for each result as it is produced,
whether or not anyone iterates; ``run()`` drives the
pipeline to the end for callback-only apps; ``aiter()`` serves asyncio apps
(the blocking source runs in a worker thread). ``stop()`` is thread- and
signal-safe: the source is closed and iteration ends after the current event.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from ..link.blocks import Gap, SampleBlock, Status, StatusKind
from ..link.source import as_source
from ..signal import electrodes as _electrodes
from ..signal import rhythm as _rhythm
from ..signal.leads import LEADS_12
from ..signal.quality import QualitySettings, assess
from .results import SUMMARY_KEYS, Finding
from .sinks import Sink
from .windows import SignalPath, Window

INT24_FULL_SCALE = 2 ** 23 - 1
#: the longest link gap bridged by default (chosen on fold 9: see the README, "Lossy links")
DEFAULT_MAX_BRIDGE_MS = 100.0
#: a lead-set-aware model also leaves a lead out for this long after its electrode is
#: back: the step it makes takes the card's 0.5 Hz high-pass ~4 s to settle (windows.py)
LEAD_OFF_HOLD_S = 4.0


class Pipeline:
    """Source -> 12 leads -> card preprocessing -> windows -> quality gate -> model -> findings.

    source: a :class:`tgll_edge.link.Source` (serial, BLE, Cyton, replay, emulator), or any
    iterable of SampleBlock/Gap/Status (wrapped in one).
    model: a loaded :class:`tgll_edge.runtime.Model`, a bundle directory, or None
    (the default bundle). hop_s: seconds between window starts (0 < hop <= window).
    duration_s: stop after this many seconds of device time (None: until the source ends).
    max_bridge_ms: bridge a link gap of at most this many milliseconds by interpolation
    (0: never; see windows.py); the gap is still reported and counted.
    sinks: :class:`tgll_edge.stream.Sink` objects (JSON lines, live view, CSV, a
    :class:`tgll_edge.stream.Recorder` ...); ``recorder`` is one more sink.
    rhythm: heart rate, RR irregularity and the SQI per window (``tgll_edge.signal.rhythm``,
    numpy; default on).
    incremental: score consecutive windows through the bundle's streaming split when it has
    one (``tgll_edge.incremental``: the graph stage runs on the new samples only; the same
    probabilities); False runs the whole model on every window.
    """

    def __init__(self, source: Iterable, model=None, hop_s: float = 5.0, *, artifact: str | None = None,
                 threads: int = 1, quality: QualitySettings | None = None, duration_s: float | None = None,
                 max_bridge_ms: float = DEFAULT_MAX_BRIDGE_MS, sinks: Iterable[Sink] = (), recorder: Sink | None = None, on_window: Callable | None = None,
                 on_gap: Callable | None = None, on_status: Callable | None = None, rhythm: bool | None = None,
                 incremental: bool = True):
        if model is None or isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from ..runtime import load_model
            model = load_model(model, artifact=artifact, threads=threads)
        self.model = model
        self.source = as_source(source)
        self.path = SignalPath(model.preprocessor, model.fs, model.n_times, hop_s, max_bridge_s=max_bridge_ms / 1000,
                               subsets=getattr(model, "lead_set_aware", False),
                               lead_off_hold_s=LEAD_OFF_HOLD_S if getattr(model, "lead_set_aware", False) else 0.0)
        self.hop_s = hop_s
        self.quality_settings = quality or QualitySettings()
        self.rhythm = _rhythm.available() if rhythm is None else bool(rhythm)
        # consecutive windows share most of their samples: score them incrementally when the
        # bundle ships the streaming split (tgll_edge.incremental); same probabilities
        self._scorer = model.stream_scorer(threads=threads) if incremental and hasattr(model, "stream_scorer") \
            else None
        self.duration_s = duration_s
        self.sinks: list[Sink] = list(sinks) + ([recorder] if recorder is not None else [])
        if any(type(s).signal is not Sink.signal for s in self.sinks):
            self.path.on_signal = self._signal
        self.on_window, self.on_gap, self.on_status = on_window, on_gap, on_status
        self.rail_mv: float | None = None
        self.counts = {"windows": 0, "skipped_windows": 0, "gaps": 0, "missing_samples": 0}
        self.last_time = 0.0
        self._stop = threading.Event()
        self._iterating = False

    # -- control ------------------------------------------------------------------
    def stop(self) -> None:
        """End the run after the current event (safe from other threads and signal handlers)."""
        self._stop.set()
        self.source.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def summary(self) -> dict:
        """Counters for the run so far: the link's (packets, bytes, crc_errors, dropped_bytes)
        and the pipeline's (gaps and missing_samples as reported, windows, skipped_windows)."""
        stats = self.source.stats
        out = {"type": "summary"}
        for key in SUMMARY_KEYS:
            out[key] = int(self.counts[key] if key in self.counts else stats.get(key, 0))
        out["device_seconds"] = round(self.last_time, 6)
        return out

    # -- iteration ----------------------------------------------------------------
    def __iter__(self):
        if self._iterating:
            raise RuntimeError("a Pipeline can be iterated only once")
        self._iterating = True
        for sink in self.sinks:
            sink.start(self)
        try:
            for event in self.source:
                arrival = time.perf_counter()
                if isinstance(event, SampleBlock):
                    results = self._block(event, arrival)
                elif isinstance(event, Gap):
                    results = [self._gap(event)]
                else:
                    results = [self._status(event)]
                yield from self._emit(results)
                if self._stop.is_set() or self._duration_done():
                    break
            else:
                if self.counts["windows"] == 0:
                    yield from self._emit([self._no_window()])
        except (OSError, ValueError):
            if not self._stop.is_set():  # a source closed by stop() may raise on its way out
                raise
        finally:
            self._stop.set()
            self.source.close()
            self._finish_sinks()

    def _emit(self, results):
        for result in results:
            for sink in self.sinks:
                sink(result)
            yield result

    def _no_window(self) -> Status:
        """Why a stream that ended gave no finding: too short, or no run without a gap long enough."""
        window_s = self.model.n_times / self.model.fs
        return Status(StatusKind.NO_WINDOW,
                      f"the stream ended after {self.last_time:.1f} s of device time without a window: a window "
                      f"needs {window_s:g} s of signal without a gap ({self.counts['gaps']} gaps)",
                      {"device_seconds": round(self.last_time, 6), "window_s": window_s})

    def _finish_sinks(self) -> None:
        """Every sink gets the summary and is closed, even when one of them fails."""
        summary, error = self.summary(), None
        for sink in self.sinks:
            try:
                sink.summary(summary)
            except OSError as exc:
                error = error or exc
            finally:
                try:
                    sink.close()
                except OSError as exc:
                    error = error or exc
        if error is not None:
            raise error

    def run(self) -> dict:
        """Drive the pipeline to the end (callbacks see every result); return the summary."""
        for _ in self:
            pass
        return self.summary()

    async def aiter(self, max_queue: int = 1000):
        """``async for result in pipeline.aiter()``: the blocking source runs in a thread."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(max_queue)
        done = object()

        def worker():
            try:
                for result in self:
                    asyncio.run_coroutine_threadsafe(queue.put(result), loop).result()
            except BaseException as exc:  # hand errors to the awaiting side
                asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()
            finally:
                asyncio.run_coroutine_threadsafe(queue.put(done), loop).result()

        thread = threading.Thread(target=worker, name="tgll-pipeline", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop()
            while thread.is_alive():  # let the worker finish its last put
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.01)
            thread.join()

    # -- events -------------------------------------------------------------------
    def _duration_done(self) -> bool:
        return self.duration_s is not None and self.last_time >= self.duration_s

    def _gap(self, gap: Gap) -> Gap:
        self.path.gap(gap)
        self.counts["gaps"] += 1
        self.counts["missing_samples"] += int(gap.missing_samples)
        if self.on_gap is not None:
            self.on_gap(gap)
        return gap

    def _status(self, status: Status) -> Status:
        detail = status.detail or {}
        uv = detail.get("uv_per_count")
        if uv:
            self.rail_mv = INT24_FULL_SCALE * float(uv) / 1000.0
        if self.on_status is not None:
            self.on_status(status)
        return status

    def _block(self, block: SampleBlock, arrival: float) -> list[Finding]:
        for sink in self.sinks:
            sink.block(block)
        self.last_time = max(self.last_time, block.t_end)
        windows = self.path.push(block, arrival)
        return self.evaluate(windows) if windows else []

    def _signal(self, t_start: float, fs: float, data: np.ndarray) -> None:
        for sink in self.sinks:
            sink.signal(t_start, fs, data)

    def _assess(self, w: Window, qs: QualitySettings):
        """The quality gate; for a lead-set-aware model also the leads the window can use
        (``tgll_edge.signal.electrodes``: flagged channels -> electrodes off -> leads lost): the
        window is skipped only when too few are left. Returns (Quality, LeadUse or None)."""
        if not getattr(self.model, "lead_set_aware", False):
            return assess(w.raw, w.fs_in, LEADS_12, lead_off_counts=w.lead_off_counts,
                          channel_labels=w.channel_labels, processed=w.data, rail_mv=self.rail_mv,
                          settings=qs), None
        present = w.present if w.present is not None else np.ones(12, dtype=bool)
        names = [lead for lead, p in zip(LEADS_12, present) if p]
        q = assess(w.raw[present], w.fs_in, names, lead_off_counts=w.lead_off_counts,
                   channel_labels=w.channel_labels, processed=w.data[present], rail_mv=self.rail_mv, settings=qs)
        return q, _electrodes.gate(q, w.channel_labels, self.model.min_leads)

    def _score(self, keep: list[Window], lead_mask) -> np.ndarray:
        """Probabilities for the windows that passed the gate: through the streaming split
        (graph stage on the new samples only) when the bundle has one, else in one batch."""
        if self._scorer is None:
            return self.model.predict_proba(np.stack([w.data for w in keep]),
                                            **({} if lead_mask is None else {"lead_mask": lead_mask}))
        return np.stack([self._scorer.predict_proba(w.data, w.t_start, None if lead_mask is None else lead_mask[i])
                         for i, w in enumerate(keep)])

    def evaluate(self, windows: list[Window]) -> list[Finding]:
        """Quality-gate a batch of windows, run the model once on those that pass."""
        qs = self.quality_settings
        rhythms, uses = [], []
        for w in windows:
            w.quality, use = self._assess(w, qs)
            uses.append(use)
            rh = None
            if self.rhythm:  # on the raw device-rate window; leads the gate flagged are not used
                q = w.quality
                rh = _rhythm.analyze(w.raw, w.fs_in, LEADS_12, unusable=q.flat + q.saturated + q.nonfinite + q.lead_off
                                     + ([] if use is None else use.unusable + use.missing))
                w.quality.apply_sqi(rh.sqi, rh.sqi_method, qs)
            rhythms.append(rh)
        keep = [w for w in windows if not w.quality.skipped]
        masks = {} if uses[0] is None else \
            {"lead_mask": np.stack([u.mask for w, u in zip(windows, uses) if not w.quality.skipped])} if keep else {}
        proba = self._score(keep, masks.get("lead_mask")) if keep else None
        findings, k = [], 0
        labels, thresholds = self.model.labels, self.model.thresholds
        for w, rh, use in zip(windows, rhythms, uses):
            if w.quality.skipped:
                probs, positive = {}, []
                self.counts["skipped_windows"] += 1
            else:
                p = proba[k]
                k += 1
                probs = dict(zip(labels, (float(v) for v in p)))
                positive = [lab for lab, v, t in zip(labels, p, thresholds) if v >= t]
            self.counts["windows"] += 1
            used = [] if w.quality.skipped else list(LEADS_12) if use is None else use.leads
            set_name, set_auc = self.model.lead_set_auc(used) if hasattr(self.model, "lead_set_auc") else (None, None)
            f = Finding(w.t_start, w.t_end, probs, positive, w.quality,
                        (time.perf_counter() - w.arrival) * 1000.0, w.bridged_gaps, w.bridged_ms, rh,
                        leads_used=used, lead_set=set_name, lead_set_auc=set_auc,
                        electrodes_off=[] if use is None else list(use.electrodes_off))
            findings.append(f)
            if self.on_window is not None:
                self.on_window(f)
        return findings
