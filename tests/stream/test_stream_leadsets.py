"""A lead-set-aware bundle served per window from the leads that are
usable there (tiny torch-free bundle from bundle_factory.make_leadset_bundle)."""
import json
from pathlib import Path

import numpy as np
import pytest
from streamkit import ListSource, blocks, synthetic_ecg
from wfdbkit import write_mv_record

from bundle_factory import leadset_reference_logits, make_leadset_bundle, make_leadset_onnx, replace_model_file
from tgll_edge.cli.predict import main as predict_main
from tgll_edge.errors import BundleError
from tgll_edge.link.blocks import SampleBlock, Status
from tgll_edge.link.payloads import encode_info_payload, parse_info
from tgll_edge.link.blocks import DeviceInfo
from tgll_edge.runtime import load_model
from tgll_edge.signal.leadgraph import graph_basis
from tgll_edge.signal.leads import LEADS_8, LEADS_12
from tgll_edge.stream import Pipeline
from tgll_edge.stream.results import Finding, to_json
from tgll_edge.stream.sinks import LiveView

FS_IN = 500.0
RECORD = Path(__file__).resolve().parents[2] / "tgll_edge" / "data" / "records" / "00001_hr"
V = ["V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.fixture(scope="module")
def ls_model(tmp_path_factory):
    return load_model(make_leadset_bundle(tmp_path_factory.mktemp("ls") / "b"))


def _findings(model, events, **kw):
    return [r for r in Pipeline(ListSource(events), model, hop_s=5.0, rhythm=False, **kw) if isinstance(r, Finding)]


def _ecg(seconds=30, labels=LEADS_8, seed=0):
    return synthetic_ecg(int(seconds * FS_IN), FS_IN, n_ch=len(labels), seed=seed)


def _bits(labels, channels):
    return sum(1 << list(labels).index(c) for c in channels)


# -- the model ------------------------------------------------------------------------------

def test_predict_proba_builds_the_graph_from_the_mask(ls_model):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 12, ls_model.n_times)).astype(np.float32)
    mask = np.ones((3, 12), np.float32)
    mask[1, 8] = 0
    mask[2] = np.eye(12)[1]
    xs = np.where(mask[:, :, None] > 0, x / 0.25, 0)
    adj = np.asarray(ls_model.card["lead_graph"]["adjacency"])
    cheb = np.stack([graph_basis(adj, m, 3) for m in mask])
    np.testing.assert_allclose(ls_model.logits(x, mask), leadset_reference_logits(xs, mask, cheb), atol=1e-4)
    # no mask: every lead
    np.testing.assert_allclose(ls_model.logits(x[:1]), ls_model.logits(x[:1], np.ones(12)), atol=0)


def test_garbage_in_a_masked_lead_does_not_change_outputs(ls_model):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 12, ls_model.n_times)).astype(np.float32)
    mask = np.ones((4, 12), np.float32)
    mask[:, [4, 8]] = 0
    p = ls_model.predict_proba(x, mask)
    g = x.copy()
    g[:, 4] = rng.standard_normal((4, ls_model.n_times)) * 1e4
    g[:, 8] = np.nan
    np.testing.assert_allclose(ls_model.predict_proba(g, mask), p, atol=1e-6)


def test_twelve_lead_bundle_refuses_a_mask_with_a_lead_off(tiny_model):
    x = np.zeros((1, 12, tiny_model.n_times), np.float32)
    tiny_model.predict_proba(x, np.ones(12))  # all leads: fine
    m = np.ones(12)
    m[8] = 0
    with pytest.raises(ValueError, match="12-lead model.*V3"):
        tiny_model.predict_proba(x, m)


def test_card_and_model_must_agree_on_the_inputs(tmp_path):
    b = make_leadset_bundle(tmp_path / "b")
    card = json.loads((b / "card.json").read_text())
    card["lead_graph"]["cheb_k"] = 2
    (b / "card.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match=r"input cheb is \(batch, 2, 3, 12, 12\).*card says \(batch, 2, 2, 12, 12\)"):
        load_model(b)
    # a lead-set model under an old card (no inputs listed)
    b2 = make_leadset_bundle(tmp_path / "b2")
    card = json.loads((b2 / "card.json").read_text())
    for key in ("inputs", "lead_graph", "lead_sets", "min_leads"):
        card.pop(key)
    (b2 / "card.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="inputs are x, lead_mask, cheb, but the card says x"):
        load_model(b2)
    # an old one-input model under a lead-set card
    b3 = make_leadset_bundle(tmp_path / "b3")
    from bundle_factory import make_linear_onnx
    replace_model_file(b3, make_linear_onnx(tmp_path / "lin.onnx", 1000))
    with pytest.raises(BundleError, match="the card says x, lead_mask, cheb"):
        load_model(b3)
    assert make_leadset_onnx  # the factory's model builder is public


def test_lead_set_auc_is_the_largest_standard_set_contained(ls_model):
    assert ls_model.lead_set_auc(LEADS_12) == ("12", 0.93)
    assert ls_model.lead_set_auc([x for x in LEADS_12 if x != "V3"]) == ("6", 0.90)
    assert ls_model.lead_set_auc(["I", "II", "V2"]) == ("3", 0.905)
    assert ls_model.lead_set_auc(["II", "V5"]) == ("II", 0.85)
    assert ls_model.lead_set_auc(["V5"]) == (None, None)


# -- the stream -----------------------------------------------------------------------------

def test_v3_off_scores_every_window_with_eleven_leads(ls_model):
    x = _ecg()
    x[LEADS_8.index("V3")] = 0.0  # what the emulator sends for an electrode that is off
    fs = _findings(ls_model, blocks(x, FS_IN, sizes=[40], lead_off=_bits(LEADS_8, ["V3"])))
    assert fs and not any(f.skipped for f in fs)
    for f in fs:
        assert f.leads_used == [lead for lead in LEADS_12 if lead != "V3"]
        assert f.electrodes_off == ["V3"] and (f.lead_set, f.lead_set_auc) == ("6", 0.90)
        j = to_json(f)
        assert j["leads_used"] == f.leads_used and j["lead_set_auc"] == 0.9 and j["electrodes_off"] == ["V3"]
        assert "11 leads (no V3; electrodes off: V3), set 6 AUC 0.900" in LiveView.window_line(f)


def test_la_off_keeps_lead_ii_only(ls_model):
    x = _ecg()
    fs = _findings(ls_model, blocks(x, FS_IN, sizes=[40], lead_off=_bits(LEADS_8, ["I"] + V)))
    assert fs and all(f.leads_used == ["II"] and f.electrodes_off == ["LA"] for f in fs)
    assert all(f.lead_set == "II" and not f.skipped for f in fs)


def test_skipped_only_without_a_usable_lead_and_the_reason_names_the_electrode(ls_model):
    fs = _findings(ls_model, blocks(_ecg(), FS_IN, sizes=[40], lead_off=0xFF))  # every channel: RA off
    assert fs and all(f.skipped for f in fs)
    reason = fs[0].quality.reasons[0]
    assert "no usable lead left" in reason and "electrodes off: RA" in reason
    assert fs[0].leads_used == [] and fs[0].lead_set_auc is None
    assert "SKIPPED: no usable lead left" in LiveView.window_line(fs[0])


def test_min_leads_from_the_card(tmp_path):
    m = load_model(make_leadset_bundle(tmp_path / "b", min_leads=2))
    fs = _findings(m, blocks(_ecg(), FS_IN, sizes=[40], lead_off=_bits(LEADS_8, ["I"] + V)))
    assert fs and all(f.skipped for f in fs)
    assert "only 1 usable lead (II); the model needs 2" in fs[0].quality.reasons[0]


def test_electrode_off_for_part_of_a_window_masks_the_lead_for_that_window(ls_model):
    x = _ecg(30)
    bl = blocks(x, FS_IN, sizes=[50])
    # V3 off from 12 s to 13 s: the windows covering it drop V3, the others keep it
    bl = [SampleBlock(b.index, b.fs, b.data, b.labels, _bits(LEADS_8, ["V3"]) if 12 * FS_IN <= b.index < 13 * FS_IN
                      else 0) for b in bl]
    fs = _findings(ls_model, bl)
    from tgll_edge.stream.pipeline import LEAD_OFF_HOLD_S
    for f in fs:  # ... and for LEAD_OFF_HOLD_S after, while the filters settle from the electrode's step
        covers = f.t_start < 13 + LEAD_OFF_HOLD_S and f.t_end > 12
        assert ("V3" not in f.leads_used) == covers, (f.t_start, f.leads_used)
    assert any("V3" in f.leads_used for f in fs) and any("V3" not in f.leads_used for f in fs)


def test_lead_off_hold_does_not_depend_on_block_sizes():
    from tgll_edge.stream.windows import SignalPath

    x = _ecg(40)
    off = np.zeros(x.shape[1], dtype=np.uint32)
    off[int(12.3 * FS_IN):int(13.1 * FS_IN)] = 1 << 4      # V3
    off[int(20.0 * FS_IN):int(20.01 * FS_IN)] = 1 << 0     # I, 10 ms

    def counts(sizes, seed=0):
        from tgll_edge.signal.preprocess import Preprocessor
        rng = np.random.default_rng(seed)
        path = SignalPath(lambda fs: Preprocessor({"fs": 100, "steps": []}, fs), 100, 1000, 1.0,
                          subsets=True, lead_off_hold_s=4.0)
        out, a = [], 0
        while a < x.shape[1]:
            n = sizes or int(rng.integers(1, 200))
            n = min(n, x.shape[1] - a)
            # a block's bit is the OR over its samples, as a DATA packet's: cut at the changes
            cut = a + 1 + int(np.flatnonzero(np.diff(off[a:a + n]) != 0)[0]) if np.any(np.diff(off[a:a + n])) else a + n
            out += path.push(SampleBlock(a, FS_IN, x[:, a:cut], LEADS_8, int(off[a])))
            a = cut
        return np.array([w.lead_off_counts for w in out])

    whole, pieces = counts(x.shape[1]), counts(None)
    np.testing.assert_array_equal(whole, pieces)
    assert whole[:, 4].any() and whole[:, 0].any()


def test_flat_and_nan_leads_go_through_the_gate_not_the_window(ls_model):
    x = _ecg()
    x[LEADS_8.index("V5")] = 1.0  # flat: the quality gate's verdict, no lead-off bit
    fs = _findings(ls_model, blocks(x, FS_IN, sizes=[40]))
    assert fs and all(f.leads_used == [lead for lead in LEADS_12 if lead != "V5"] for f in fs)
    assert all(not f.skipped and "flat" in f.quality.flags for f in fs)


def test_garbage_in_an_off_electrode_does_not_change_findings(ls_model):
    x = _ecg()
    g = x.copy()
    g[LEADS_8.index("V3")] = np.random.default_rng(3).standard_normal(x.shape[1]) * 50
    off = _bits(LEADS_8, ["V3"])
    a = _findings(ls_model, blocks(x, FS_IN, sizes=[40], lead_off=off))
    b = _findings(ls_model, blocks(g, FS_IN, sizes=[40], lead_off=off))
    pa = np.array([[f.probabilities[k] for k in ls_model.labels] for f in a])
    pb = np.array([[f.probabilities[k] for k in ls_model.labels] for f in b])
    np.testing.assert_allclose(pa, pb, atol=1e-6)


def test_custom_lead_set_from_info_255(ls_model):
    labels = ("I", "II", "V2")
    info = parse_info(encode_info_payload(DeviceInfo(500.0, 3, 0.05, 255, labels)))
    assert info.labels == labels and info.lead_set == 255
    x = _ecg(labels=labels)
    fs = _findings(ls_model, [Status("info", "test", {"fs": FS_IN})] + blocks(x, FS_IN, labels, sizes=[40]))
    assert fs and all(f.leads_used == ["I", "II", "III", "aVR", "aVL", "aVF", "V2"] for f in fs)
    assert fs[0].lead_set == "6"


def test_reduced_device_block_by_block_equals_whole_signal(ls_model):
    labels = ("II", "V1", "V5")
    x = _ecg(40, labels=labels, seed=4)
    a = _findings(ls_model, blocks(x, FS_IN, labels, seed=1))
    b = _findings(ls_model, blocks(x, FS_IN, labels, sizes=[x.shape[1]]))
    assert len(a) == len(b) > 3 and all(f.leads_used == ["II", "V1", "V5"] for f in a)
    pa = np.array([[f.probabilities[k] for k in ls_model.labels] for f in a])
    pb = np.array([[f.probabilities[k] for k in ls_model.labels] for f in b])
    np.testing.assert_allclose(pa, pb, atol=1e-6)


def test_unknown_label_is_a_clear_error(ls_model):
    labels = ("I", "II", "V9")
    with pytest.raises(ValueError, match="'V9'"):
        _findings(ls_model, blocks(_ecg(labels=labels), FS_IN, labels, sizes=[40]))


def test_twelve_lead_bundle_keeps_todays_behaviour(tiny_model):
    # a reduced device: refused as today
    labels = ("I", "II", "V2")
    with pytest.raises(ValueError, match="cannot build 12 leads"):
        _findings(tiny_model, blocks(_ecg(labels=labels), FS_IN, labels, sizes=[40]))
    # V3 off: flagged, the window skipped when off for more than half of it, no lead dropped
    fs = _findings(tiny_model, blocks(_ecg(), FS_IN, sizes=[40], lead_off=_bits(LEADS_8, ["V3"])))
    assert fs and all(f.skipped and "lead off on V3" in f.quality.reasons[0] for f in fs)
    ok = _findings(tiny_model, blocks(_ecg(), FS_IN, sizes=[40]))
    assert all(f.leads_used == list(LEADS_12) and f.lead_set is None for f in ok)


# -- tgll-predict ---------------------------------------------------------------------------



def test_predict_leads_subset_and_reduced_record(ls_model, tmp_path, capsys):
    b = str(ls_model.bundle_dir)
    assert predict_main(["--model", b, "--leads", "I,II", str(RECORD)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["leads_used"] == ["I", "II"] and res["lead_set"] == "2" and res["lead_set_auc"] == 0.88
    # the same as the record's first window through the API with only I and II
    from tgll_edge.link.wfdbio import read_record
    from tgll_edge.signal.leads import to_12_leads
    x, fs, labels = read_record(RECORD)
    x12 = to_12_leads(x, labels)
    mask = np.isin(np.array(LEADS_12), ["I", "II"])
    x12[~mask] = 0
    y = ls_model.preprocessor(fs).process(x12)[:, :ls_model.n_times]
    p = ls_model.predict_proba(y[None], mask)[0]
    np.testing.assert_allclose([res["probabilities"][k] for k in ls_model.labels], p, atol=1e-5)
    # a record holding only II and V2
    rec = write_mv_record(tmp_path, "two", x[[labels.index("II"), labels.index("V2")]], fs, ["II", "V2"])
    assert predict_main(["--model", b, str(rec)]) == 0
    assert json.loads(capsys.readouterr().out)["leads_used"] == ["II", "V2"]
    # --leads naming a lead that record lacks: exit 2 with a message
    assert predict_main(["--model", b, "--leads", "I,II", str(rec)]) == 2
    err = capsys.readouterr().err
    assert "--leads names I, which the record does not have (it has II, V2)" in err


def test_predict_leads_needs_a_lead_set_bundle(tiny_bundle, capsys):
    assert predict_main(["--model", str(tiny_bundle), "--leads", "I,II", str(RECORD)]) == 2
    assert "needs a lead-set-aware bundle" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        predict_main(["--model", str(tiny_bundle), "--leads", "I,V7", str(RECORD)])
    assert e.value.code == 2


# -- the emulator: a reduced device and an electrode-off schedule, through the real link ------

def test_emulator_reduced_device_with_electrode_off_schedule(ls_model):
    from tgll_edge.link.emulated import EmulatedSource

    src = EmulatedSource(speed=10.0, leads=("I", "II", "V2"), electrode_off=[("LA", 12.0, 16.0)])
    results = list(Pipeline(src, ls_model, hop_s=5.0, duration_s=31, rhythm=False))
    infos = [r for r in results if isinstance(r, Status) and r.kind == "info"]
    assert infos and infos[0].detail["lead_set"] == 255 and infos[0].detail["labels"] == ["I", "II", "V2"]
    fs = [r for r in results if isinstance(r, Finding)]
    assert len(fs) >= 4 and not any(f.skipped for f in fs)
    for f in fs:
        covers = f.t_start < 16 and f.t_end > 12
        assert f.leads_used == (["II"] if covers else ["I", "II", "III", "aVR", "aVL", "aVF", "V2"]), f.t_start
        assert f.electrodes_off == (["LA"] if covers else [])


def test_emulate_cli_flags_are_checked():
    from tgll_edge.cli.emulate import build_parser

    a = build_parser().parse_args(["--leads", "i,ii,v2", "--electrode-off", "V3:20-40,LA:60-70"])
    assert a.leads == ("I", "II", "V2") and a.electrode_off == [("V3", 20.0, 40.0), ("LA", 60.0, 70.0)]
    for bad in (["--leads", "I,X"], ["--electrode-off", "RL:1-2"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def test_stream_cli_emulates_a_reduced_device(ls_model, capsys):
    """tgll-stream --emulate --emulate-leads: a 2-lead device through the real link and the CLI
    (a lead-set bundle scores it; an unknown lead name exits 2 naming it)."""
    import json

    from tgll_edge.cli.stream import main

    code = main(["--emulate", "--emulate-leads", "I,II", "--speed", "20", "--duration", "11", "--json",
                 "--model", str(ls_model.bundle_dir)])
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    found = [ln for ln in lines if ln.get("type") == "window"]
    assert code == 0 and found and found[0]["leads_used"] == ["I", "II", "III", "aVR", "aVL", "aVF"]
    with pytest.raises(SystemExit) as exc:
        main(["--emulate", "--emulate-leads", "I,XX"])
    assert exc.value.code == 2 and "unknown lead name 'XX'" in capsys.readouterr().err


def test_csv_sink_leads_columns(ls_model, tmp_path):
    import csv

    from tgll_edge.stream.sinks import CsvSink

    x = _ecg()
    fs = _findings(ls_model, blocks(x, FS_IN, sizes=[40], lead_off=_bits(LEADS_8, ["V3"])))
    sink = CsvSink(tmp_path / "w.csv", ls_model.labels, leads=True)
    sink(fs[0])
    sink.close()
    rows = list(csv.DictReader(open(tmp_path / "w.csv")))
    assert rows[0]["leads_used"] == ";".join(lead for lead in LEADS_12 if lead != "V3")
    assert (rows[0]["lead_set"], rows[0]["lead_set_auc"], rows[0]["electrodes_off"]) == ("6", "0.9000", "V3")
