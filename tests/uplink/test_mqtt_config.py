"""MQTT configuration (file < environment < flags) and the disk queue's bound policy; no broker needed."""
from __future__ import annotations

import json
import sqlite3

import pytest

from tgll_edge.uplink import UplinkConfigError
from tgll_edge.uplink.mqtt import DiskQueue, MqttConfig


def test_file_then_environment_then_flags(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text('[mqtt]\nurl = "mqtts://broker.file:9000"\nusername = "fileuser"\npassword = "filepw"\n'
                 'topic = "ward"\ndevice_id = "bed-1"\nqueue_max_mb = 8\n')
    cfg = MqttConfig.from_sources(config_file=str(f), environ={})
    assert (cfg.host, cfg.port, cfg.tls, cfg.username, cfg.password) == ("broker.file", 9000, True, "fileuser", "filepw")
    assert (cfg.topic, cfg.device_id, cfg.queue_max_mb) == ("ward", "bed-1", 8.0)
    env = {"TGLL_MQTT_CONFIG": str(f), "TGLL_MQTT_PASSWORD": "envpw", "TGLL_MQTT_URL": "mqtt://broker.env"}
    cfg = MqttConfig.from_sources(environ=env)
    assert (cfg.host, cfg.port, cfg.tls, cfg.username, cfg.password) == ("broker.env", None, False, "fileuser", "envpw")
    assert cfg.broker == "mqtt://broker.env:1883"
    cfg = MqttConfig.from_sources(url="mqtt://cli.host:1884", topic="t2", environ=env)
    assert (cfg.host, cfg.port, cfg.topic, cfg.password) == ("cli.host", 1884, "t2", "envpw")


@pytest.mark.parametrize("url, message", [("http://x", "scheme"), ("mqtt://", "no host"),
                                          ("mqtt://h:0x", "port")])
def test_bad_urls(url, message):
    with pytest.raises(UplinkConfigError, match=message):
        MqttConfig.from_sources(url=url, environ={})


def test_bad_config_files(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text("[mqtt]\nurl = 'mqtt://h'\npasword = 'typo'\n")
    with pytest.raises(UplinkConfigError, match="unknown keys pasword"):
        MqttConfig.from_sources(config_file=str(f), environ={})
    f.write_text("not toml [")
    with pytest.raises(UplinkConfigError, match="not valid TOML"):
        MqttConfig.from_sources(config_file=str(f), environ={})
    with pytest.raises(UplinkConfigError, match="no MQTT broker given"):
        MqttConfig.from_sources(environ={})


def _finding(labels):
    return {"type": "window", "t_start": 0.0, "labels": labels, "probabilities": {"NORM": 0.5} , "pad": "x" * 400}


def test_queue_bound_drops_routine_windows_first_then_oldest(tmp_path):
    q = DiskQueue(tmp_path / "q.sqlite", max_bytes=256 * 1024)
    important = [q.put("finding", _finding(["MI"]), 1)[0] for _ in range(100)]
    dropped = 0
    for _ in range(2000):
        dropped += q.put("finding", _finding([]), 0)[1]
    assert dropped > 0 and q.dropped == dropped
    assert q.used_bytes() <= 256 * 1024 + 16 * 4096
    db = sqlite3.connect(tmp_path / "q.sqlite")
    ids = {r[0] for r in db.execute("SELECT id FROM queue")}
    assert set(important) <= ids  # every important message is still there
    routine = sorted(i for i in ids if i not in important)
    assert routine == list(range(routine[0], 2101))  # the newest routine ones, contiguous to the end
    # only important ones left: then the oldest of those go
    q2 = DiskQueue(tmp_path / "q2.sqlite", max_bytes=128 * 1024)
    for _ in range(1000):
        q2.put("gap", _finding(["MI"]), 1)
    ids2 = [r[0] for r in sqlite3.connect(tmp_path / "q2.sqlite").execute("SELECT id FROM queue ORDER BY id")]
    assert ids2[-1] == 1000 and ids2 == list(range(ids2[0], 1001)) and ids2[0] > 1
    q.close()
    q2.close()


def test_seq_and_msg_id_survive_a_restart_and_are_never_reused(tmp_path):
    q = DiskQueue(tmp_path / "q.sqlite", 1 << 30)
    q.put("finding", {"a": 1}, 1)
    q.put("finding", {"a": 2}, 1)
    qid = q.queue_id
    q.db.execute("DELETE FROM queue")  # everything delivered
    q.close()
    q = DiskQueue(tmp_path / "q.sqlite", 1 << 30)
    seq, _ = q.put("finding", {"a": 3}, 1)
    assert seq == 3 and q.queue_id == qid
    payload = json.loads(q.db.execute("SELECT payload FROM queue").fetchone()[0])
    assert payload["msg_id"] == f"{qid}-3" and payload["seq"] == 3
    q.close()
