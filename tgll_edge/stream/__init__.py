"""The streaming gateway: signal path, windows, quality gate, inference, sinks, recording.

    from tgll_edge.stream import Pipeline
    for result in Pipeline(source, hop_s=5.0):   # Finding | Gap | Status
        ...
"""
from .pipeline import Pipeline
from .recorder import Recorder, RecordingSource, is_recording
from .results import SUMMARY_KEYS, Finding, to_json
from .ring import RingBuffer
from .sinks import CsvSink, JsonLinesSink, LiveView, Sink
from .windows import SignalPath, Window

__all__ = ["Pipeline", "Finding", "to_json", "SUMMARY_KEYS", "Recorder", "RecordingSource", "is_recording",
           "RingBuffer", "SignalPath", "Window", "Sink", "JsonLinesSink", "LiveView", "CsvSink"]
