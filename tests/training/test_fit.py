"""Training: scaler on training folds only, learning a separable task, the checkpoint directory."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ecgsynth import synthetic_dataset  # noqa: E402
from tgll_edge.training import fit as fit_module  # noqa: E402
from tgll_edge.training import metrics  # noqa: E402
from tgll_edge.training.checkpoint import load_checkpoint  # noqa: E402
from tgll_edge.training.models import build_model  # noqa: E402


def test_scaler_is_fitted_on_training_folds_only():
    ds = synthetic_dataset(n=100, n_times=50)
    base = fit_module.fit_scaler(ds)
    ds.X[ds.folds == 10] += 100.0  # test fold changes: scaler must not
    ds.X[ds.folds == 9] *= 7.0     # validation fold changes: scaler must not
    after = fit_module.fit_scaler(ds)
    assert after.mean == base.mean and after.std == base.std
    train = ds.folds <= 8
    assert float(base.mean) == pytest.approx(ds.X[train].mean(), abs=1e-6)
    ds.X[ds.folds == 1] += 1.0     # a training fold changes: scaler must
    assert fit_module.fit_scaler(ds).mean != base.mean
    per_lead = fit_module.fit_scaler(ds, per_lead=True)
    assert per_lead.mean.shape == (12,)


def test_train_run_uses_the_training_fold_scaler(tmp_path):
    ds = synthetic_dataset(n=60, n_times=64)
    ds.X[ds.folds == 10] += 50.0
    fit_module.train_run(ds, "resnet1d_wang", tmp_path / "ck", model_kwargs={"width": 8}, epochs=1,
                         batch_size=16, threads=1, n_boot=20, progress=False)
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["scaler"]["mean"] == pytest.approx(float(ds.X[ds.folds <= 8].mean()), abs=1e-5)


@pytest.mark.parametrize("arch,kwargs", [
    ("resnet1d_wang", {"width": 16}),
    ("tgllnet", {"preset": "edge", "width": 8, "levels": [1]}),
])
def test_learns_a_separable_task(arch, kwargs):
    torch.manual_seed(0)
    ds = synthetic_dataset()
    scaler = fit_module.fit_scaler(ds)
    train, val, test = ds.fold(*range(1, 9)), ds.fold(9), ds.fold(10)
    model = build_model(arch, n_times=ds.n_times, sfreq=ds.fs, n_outputs=2, **kwargs)
    before = metrics.macro_auc(test.Y, fit_module.predict_proba(model, scaler.transform(test.X)))
    result = fit_module.fit(model, scaler.transform(train.X), train.Y, scaler.transform(val.X), val.Y,
                            epochs=8, batch_size=32, lr=3e-3, seed=0, threads=1, progress=False)
    auc = metrics.macro_auc(test.Y, fit_module.predict_proba(model, scaler.transform(test.X)))
    assert auc > 0.9, (arch, before, auc, result.history)
    assert 1 <= result.best_epoch <= 8 and len(result.history) == 8
    assert result.best_val_auc == max(h["val_macro_auc"] for h in result.history)


def test_model_keeps_the_best_validation_epoch(monkeypatch):
    ds = synthetic_dataset(n=60, n_times=64)
    model = build_model("resnet1d_wang", n_times=64, sfreq=ds.fs, n_outputs=2, width=8)
    aucs = iter([0.6, 0.9, 0.7])
    snapshots = []
    real_auc = metrics.macro_auc

    def fake_auc(y, p):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(aucs)

    monkeypatch.setattr(fit_module.metrics, "macro_auc", fake_auc)
    result = fit_module.fit(model, ds.X, ds.Y, ds.X[:10], ds.Y[:10], epochs=3, batch_size=16, threads=1,
                            progress=False)
    monkeypatch.setattr(fit_module.metrics, "macro_auc", real_auc)
    assert result.best_epoch == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k])


def test_patience_stops_early(monkeypatch):
    ds = synthetic_dataset(n=40, n_times=64)
    model = build_model("resnet1d_wang", n_times=64, sfreq=ds.fs, n_outputs=2, width=8)
    aucs = iter([0.8, 0.7, 0.6, 0.5, 0.4])
    monkeypatch.setattr(fit_module.metrics, "macro_auc", lambda y, p: next(aucs))
    result = fit_module.fit(model, ds.X, ds.Y, ds.X[:8], ds.Y[:8], epochs=5, batch_size=16, threads=1,
                            patience=2, schedule="cosine", progress=False)
    assert len(result.history) == 3 and result.best_epoch == 1


def test_bad_training_arguments():
    ds = synthetic_dataset(n=20, n_times=64)
    model = build_model("resnet1d_wang", n_times=64, sfreq=ds.fs, n_outputs=2, width=8)
    with pytest.raises(ValueError, match="epochs"):
        fit_module.fit(model, ds.X, ds.Y, ds.X, ds.Y, epochs=0, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        fit_module.fit(model, ds.X, ds.Y, ds.X, ds.Y, epochs=1, schedule="linear", progress=False)


def test_train_run_writes_the_checkpoint_directory(tmp_path):
    ds = synthetic_dataset(n=120, n_times=100)
    out = tmp_path / "run"
    report = fit_module.train_run(ds, "tgllnet", out, preset="edge", model_kwargs={"width": 8, "levels": [1, 1]},
                                  epochs=2, batch_size=32, threads=1, n_boot=50, schedule="onecycle",
                                  command="tgll-train ...", progress=False)
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json", "metrics.json",
                                                "adjacency.json", "adjacency.png"}
    cfg = json.loads((out / "config.json").read_text())
    for key in ("model", "task", "labels", "fs", "n_times", "leads", "scaler", "preprocessing", "thresholds",
                "data", "train", "command", "version", "date"):
        assert key in cfg
    assert cfg["data"]["train_folds"] == list(range(1, 9))
    assert (cfg["data"]["val_fold"], cfg["data"]["test_fold"]) == (9, 10)
    for key in ("epochs", "batch_size", "lr", "seed", "threads", "best_epoch", "train_seconds"):
        assert key in cfg["train"]
    assert set(cfg["thresholds"]) == {"osc", "step"}
    # thresholds are the fold-9 F1 optimum of the saved model
    model, cfg2 = load_checkpoint(out)
    from tgll_edge.signal import StandardScaler
    scaler = StandardScaler.from_dict(cfg2["scaler"])
    val = ds.fold(9)
    p_val = fit_module.predict_proba(model, scaler.transform(val.X))
    np.testing.assert_allclose([cfg["thresholds"][k] for k in ("osc", "step")],
                               metrics.choose_thresholds(val.Y, p_val), atol=1e-6)
    m = json.loads((out / "metrics.json").read_text())
    assert m == json.loads(json.dumps(report))
    for part, fold in (("val", 9), ("test", 10)):
        r = m[part]
        assert r["fold"] == fold
        for key in ("macro_auc", "macro_auc_ci95", "per_class_auc", "fmax", "f1_at_thresholds"):
            assert key in r
        assert r["macro_auc_ci95"][0] <= r["macro_auc"] <= r["macro_auc_ci95"][1]
    test = ds.fold(10)
    p_test = fit_module.predict_proba(model, scaler.transform(test.X))
    assert m["test"]["macro_auc"] == pytest.approx(metrics.macro_auc(test.Y, p_test))
    adj = json.loads((out / "adjacency.json").read_text())
    assert len(adj["levels"]) == 2 and np.asarray(adj["levels"][0]).shape == (12, 12)
    assert adj["leads"][0] == "I" and adj["leads"][-1] == "V6"
    np.testing.assert_allclose(adj["levels"][1], model.adjacency()[1], atol=1e-6)
    assert (out / "adjacency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_run_needs_every_fold(tmp_path):
    ds = synthetic_dataset(n=40, n_times=64)
    with pytest.raises(ValueError, match="test fold 10"):
        fit_module.train_run(ds.select(ds.folds != 10), "resnet1d_wang", tmp_path / "x", epochs=1,
                             progress=False)
