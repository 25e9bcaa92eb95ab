"""Where results go: the one shape every sink has, and the JSON-lines, live-view and CSV sinks.

A sink is handed to ``Pipeline(..., sinks=[...])``. Every hook is optional (the
base class makes each a no-op), and none may block the pipeline: a sink that
feeds a slow consumer drops frames and counts them, or queues to disk.
"""
from __future__ import annotations

import csv
import json
import sys

from ..link.blocks import Gap, SampleBlock, Status
from .results import Finding, to_json


class Sink:
    """What the pipeline calls, in this order: ``start`` once; then, as the stream goes,
    ``block`` (raw device samples), ``signal`` (conditioned samples) and ``__call__``
    (each result); ``summary`` once at the end, then ``close``."""

    def start(self, pipeline) -> None:
        """Before the first event; ``pipeline.model`` (labels, thresholds, fs, card) and
        ``pipeline.summary()`` are available from here on."""

    def block(self, block: SampleBlock) -> None:
        """Raw samples as the device sent them: mV at the device rate, with lead-off bits."""

    def signal(self, t_start: float, fs: float, data) -> None:
        """Conditioned 12-lead signal (mV, ``LEADS_12`` order) at the model rate: a chunk
        contiguous with the previous one unless a Gap came in between."""

    def __call__(self, result) -> None:
        """A Finding, Gap or Status."""

    def summary(self, summary: dict) -> None:
        """The run's counters, once at the end."""

    def close(self) -> None:
        """Release files and connections; called once, after ``summary``."""


class JsonLinesSink(Sink):
    """One JSON object per line, flushed per line for pipes."""

    def __init__(self, stream=None, owns_stream: bool = False):
        self.stream = stream or sys.stdout
        self.owns_stream = owns_stream  # a file of its own: closed with the sink

    def __call__(self, result) -> None:
        self.write(to_json(result))

    def write(self, obj: dict) -> None:
        self.stream.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
        self.stream.flush()

    def summary(self, summary: dict) -> None:
        self.write(summary)

    def close(self) -> None:
        if self.owns_stream:
            self.stream.close()


def _clock(t: float) -> str:
    m, s = divmod(t, 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


class LiveView(Sink):
    """Readable lines for a person at a terminal: one per window, plus gaps and status.

    A window line: its device-time span, the findings at or above threshold with
    their probabilities (else the most likely label), the quality verdict and the
    latency. Every ``status_every`` windows a status line with the link counters.
    """

    def __init__(self, stream=None, summary_fn=None, status_every: int = 6, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.summary_fn = summary_fn
        self.quiet = quiet  # only the summary
        self.status_every = status_every
        self.n = 0

    def start(self, pipeline) -> None:
        if self.summary_fn is None:
            self.summary_fn = pipeline.summary

    def _out(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, result) -> None:
        if self.quiet:
            return
        if isinstance(result, Finding):
            self.n += 1
            self._out(self.window_line(result))
            if self.summary_fn is not None and self.n % self.status_every == 0:
                self._out(self.status_line(self.summary_fn()))
        elif isinstance(result, Gap):
            self._out(f"  -- gap at {_clock(result.t)}: {result.missing_samples} samples "
                      f"({result.missing_samples / result.fs:.3f} s) lost, cause {result.cause}")
        elif isinstance(result, Status):
            self._out(f"  .. {result.kind}: {result.message}")

    @staticmethod
    def window_line(f: Finding) -> str:
        span = f"[{_clock(f.t_start)} - {_clock(f.t_end)}]"
        q = f.quality
        if q.skipped:
            return f"{span}  SKIPPED: {'; '.join(q.reasons)}"
        if f.labels:
            found = ", ".join(f"{lab} {f.probabilities[lab]:.2f}" for lab in
                              sorted(f.labels, key=lambda k: -f.probabilities[k]))
        else:
            top = max(f.probabilities, key=f.probabilities.get)
            found = f"no finding above threshold (top {top} {f.probabilities[top]:.2f})"
        quality = "quality ok" if q.ok else "quality: " + ", ".join(
            f"{flag} ({', '.join(getattr(q, flag))})" if isinstance(getattr(q, flag, None), list) else flag
            for flag in q.flags)
        if q.sqi is not None:
            quality += f", SQI {q.sqi:.2f}"
        rh = getattr(f, "rhythm", None)
        if rh is not None:
            found += f"  | HR {rh.heart_rate_bpm:.0f} bpm, RR {rh.rr_ms:.0f} ms, RMSSD {rh.rmssd_ms:.0f} ms" \
                if rh.heart_rate_bpm is not None else f"  | HR -- ({rh.reason})"
        bridged = f" | bridged {f.bridged_gaps} gap{'s' if f.bridged_gaps != 1 else ''} " \
                  f"({f.bridged_ms:.0f} ms)" if f.bridged_gaps else ""
        return f"{span}  {found}  | {quality}{bridged}{LiveView.leads_text(f)} | {f.latency_ms:.1f} ms"

    @staticmethod
    def leads_text(f: Finding) -> str:
        """' | 11 leads (no V3; electrodes off: V3), set 6 AUC 0.900'; '' for all 12
        leads from a 12-lead bundle."""
        used = getattr(f, "leads_used", None)
        auc = getattr(f, "lead_set_auc", None)
        if used is None or (len(used) == 12 and auc is None):
            return ""
        from ..signal.leads import LEADS_12
        text = f" | {len(used)} lead{'s' if len(used) != 1 else ''}"
        missing = [lead for lead in LEADS_12 if lead not in used]
        notes = ([f"no {', '.join(missing)}"] if 0 < len(missing) <= 6 else
                 [', '.join(used)] if used and missing else [])
        if f.electrodes_off:
            notes.append("electrodes off: " + ", ".join(f.electrodes_off))
        text += f" ({'; '.join(notes)})" if notes else ""
        return text + (f", set {f.lead_set} AUC {auc:.3f}" if auc is not None else "")

    @staticmethod
    def status_line(s: dict) -> str:
        return (f"  == link: {s['packets']} packets, {s['bytes']} bytes, {s['crc_errors']} CRC errors, "
                f"{s['dropped_bytes']} bytes dropped; {s['gaps']} gaps ({s['missing_samples']} samples lost); "
                f"{s['windows']} windows ({s['skipped_windows']} skipped)")

    def summary(self, summary: dict) -> None:
        self._out("summary: " + self.status_line(summary).strip(" =")
                  + f"; {summary.get('device_seconds', 0):.1f} s of device time")


class CsvSink(Sink):
    """One row per window: times, quality, findings, each label's probability; with ``rhythm``
    (the pipeline computes it: neurokit2 installed) then heart rate, mean RR, RMSSD, RR CV,
    beats, SQI and the reason when there is no heart rate."""

    RHYTHM_COLUMNS = ["heart_rate_bpm", "rr_ms", "rmssd_ms", "rr_cv", "n_beats", "sqi", "rhythm_reason"]

    def __init__(self, path, labels, rhythm: bool = False, leads: bool = False):
        self.labels = list(labels)
        self.rhythm = rhythm
        self.leads = leads  # LEADS_COLUMNS at the end (tgll-stream: with a lead-set-aware bundle)
        self.file = open(path, "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["t_start", "t_end", "skipped", "quality_flags", "findings", "latency_ms"] + self.labels
                             + (self.RHYTHM_COLUMNS if rhythm else []) + (self.LEADS_COLUMNS if leads else []))
        self.file.flush()

    #: the leads used (';'-joined), the card's standard set in them and its fold-9 AUC
    LEADS_COLUMNS = ["leads_used", "lead_set", "lead_set_auc", "electrodes_off"]

    def __call__(self, result) -> None:
        if not isinstance(result, Finding):
            return
        probs = [f"{result.probabilities[lab]:.6f}" if lab in result.probabilities else "" for lab in self.labels]
        extra = []
        if self.rhythm:
            r = result.rhythm_json()
            extra = ["" if r[k] is None else r[k] for k in self.RHYTHM_COLUMNS[:5]] + \
                ["" if result.quality.sqi is None else f"{result.quality.sqi:.4f}", r.get("rhythm_reason", "")]
        self.writer.writerow([f"{result.t_start:.3f}", f"{result.t_end:.3f}", int(result.skipped),
                              ";".join(result.quality.flags), ";".join(result.labels),
                              f"{result.latency_ms:.3f}"] + probs + extra
                             + (self._leads_row(result) if self.leads else []))
        self.file.flush()

    @staticmethod
    def _leads_row(result) -> list:
        used = getattr(result, "leads_used", None)
        auc = getattr(result, "lead_set_auc", None)
        return ["" if used is None else ";".join(used), getattr(result, "lead_set", None) or "",
                "" if auc is None else f"{auc:.4f}", ";".join(getattr(result, "electrodes_off", None) or [])]

    def close(self) -> None:
        self.file.close()
