"""Findings leave the gateway: MQTT with store-and-forward, LSL outlets, EDF+/BDF+ recording.

Each is a pipeline sink (``Pipeline(source, model, sinks=[...])``) and a
``tgll-stream`` flag; they combine freely. The optional parts sit behind
extras: ``[mqtt]`` (paho-mqtt), ``[lsl]`` (mne-lsl, for its liblsl), ``[edf]``
(nothing at run time; pyedflib for reading recordings back).

    from tgll_edge.uplink import MqttConfig, MqttUplink, LslSink, EdfRecorder
"""
from ._base import UplinkAuthError, UplinkConfigError, UplinkError

__all__ = ["EdfRecorder", "LslSink", "MqttConfig", "MqttUplink", "UplinkAuthError", "UplinkConfigError",
           "UplinkError"]
_LAZY = {"EdfRecorder": "edf", "LslSink": "lsl", "MqttConfig": "mqtt", "MqttUplink": "mqtt"}


def __getattr__(name):  # each sink's module (sqlite3, liblsl ...) loads only when asked for
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
