"""Findings leave the gateway: MQTT with store-and-forward, LSL outlets, EDF+/BDF+ recording.

Each is a pipeline sink (``Pipeline(source, model, sinks=[...])``) and a
``tgll-stream`` flag; they combine freely. The optional parts sit behind
extras: ``[mqtt]`` (paho-mqtt), ``[lsl]`` (mne-lsl, for its liblsl), ``[edf]``
(nothing at run time; pyedflib for reading recordings back).

    from tgll_edge.uplink import MqttConfig, MqttUplink, LslSink, EdfRecorder
"""
from ._base import UplinkAuthError, UplinkConfigError, UplinkError
from .edf import EdfRecorder
from .mqtt import MqttConfig, MqttUplink

__all__ = ["EdfRecorder", "LslSink", "MqttConfig", "MqttUplink", "UplinkAuthError", "UplinkConfigError",
           "UplinkError"]


def __getattr__(name):
    if name == "LslSink":  # loads liblsl only when asked for
        from .lsl import LslSink
        return LslSink
    raise AttributeError(name)
