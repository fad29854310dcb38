"""Trainer: determinism, early stopping, checkpoint + exact resume, DDP through torchrun."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from torch import nn

from tempmodels import entries, training
from tempmodels.decoder import Autoencoder, MelDecoder
from tempmodels.encoders import MeanPool, MultiScaleEncoder
from tempmodels.training import TrainConfig, fit

REPO = Path(__file__).resolve().parent.parent


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 128, generator=g)
    ramp = torch.linspace(-1, 1, 64)[None, :, None] * torch.randn(n, 1, 128, generator=g)
    return base + ramp + 0.1 * torch.randn(n, 64, 128, generator=g)


def _build(kind="ms"):
    def build():
        dec = MelDecoder(16, channels=16)
        enc = MultiScaleEncoder(d_model=16, hidden=8) if kind == "ms" else MeanPool(d_model=16)
        return Autoencoder(enc, dec)
    return build


CFG = TrainConfig(epochs=6, batch_size=8, lr=3e-3, patience=10, seed=1)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_deterministic():
    x, v = _data(), _data(16, seed=1)
    r1, r2 = fit(_build(), x, v, CFG, progress=False), fit(_build(), x, v, CFG, progress=False)
    assert r1.history.equals(r2.history)
    assert _same(_state(r1.model), _state(r2.model))


def test_learns():
    x, v = _data(), _data(16, seed=1)
    h = fit(_build(), x, v, CFG, progress=False).history
    assert h.val_loss.iloc[-1] < h.val_loss.iloc[0]


def test_different_seed_differs():
    x, v = _data(), _data(16, seed=1)
    a = fit(_build(), x, v, CFG, progress=False)
    b = fit(_build(), x, v, TrainConfig(**{**CFG.__dict__, "seed": 2}), progress=False)
    assert not a.history.equals(b.history)


def test_early_stopping_restores_best():
    x, v = _data(), _data(16, seed=1)
    cfg = TrainConfig(epochs=40, batch_size=8, lr=5e-2, patience=2, seed=0)
    r = fit(_build(), x, v, cfg, progress=False)
    assert len(r.history) < 40
    assert r.best_val == pytest.approx(r.history.val_loss.min())
    assert len(r.history) - r.best_epoch == 2


def test_interrupt_then_resume_matches_uninterrupted(tmp_path):
    x, v = _data(), _data(16, seed=1)
    full = fit(_build(), x, v, CFG, progress=False)

    def crash(epoch, hist):
        if epoch == 3:
            raise KeyboardInterrupt("simulated interruption")

    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False, on_epoch_end=crash)
    resumed = fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False)
    assert resumed.resumed_from == 3
    assert resumed.history.equals(full.history)
    assert _same(_state(resumed.model), _state(full.model))


def test_finished_checkpoint_is_not_retrained(tmp_path):
    x, v = _data(), _data(16, seed=1)
    ckpt = tmp_path / "run.pt"
    first = fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False)
    again = fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False,
                on_epoch_end=lambda *a: pytest.fail("a finished run must not train again"))
    assert again.history.equals(first.history)


def _same_fit(a, b):
    return a.history.equals(b.history) and all(torch.equal(x, y) for x, y in
                                               zip(a.model.state_dict().values(), b.model.state_dict().values()))


@pytest.mark.parametrize("change", ["config", "data", "model"])
def test_checkpoint_made_from_other_inputs_is_set_aside_and_trained_again(tmp_path, change):
    """A finished checkpoint of another run is never taken as this run's result (it was: only the
    config and the number of TRs were compared, so other data of the same size resumed silently)."""
    x, v = _data(), _data(16, seed=1)
    ckpt = tmp_path / "run.pt"
    fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False)
    cfg, x2, build = CFG, x, _build()
    if change == "config":
        cfg = TrainConfig(**{**CFG.__dict__, "lr": 1e-3})
    elif change == "data":
        x2 = _data(seed=7)  # same shape, other TRs (e.g. another --data-seed)
    else:
        build = _build("mean")
    with pytest.warns(UserWarning, match=f"checkpoint stale, recomputing it: {ckpt}"):
        res = fit(build, x2, v, cfg, checkpoint=ckpt, progress=False)
    assert res.resumed_from is None
    assert _same_fit(res, fit(build, x2, v, cfg, progress=False))
    assert len(list(tmp_path.glob("run.pt.stale-*"))) == 1


def test_a_forward_that_differs_with_the_same_layers_is_another_checkpoint(tmp_path):
    """A positional encoding on or off: same module tree text, same weights, another forward."""
    from tempmodels.encoders import TemporalTransformer

    def build(pos):
        return lambda: Autoencoder(TemporalTransformer(128, 64, 16, width=16, nhead=2, layers=1, ff=32, positional=pos),
                                   MelDecoder(16, channels=16))

    x, v = _data(), _data(16, seed=1)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=1)
    ckpt = tmp_path / "run.pt"
    fit(build("sinusoidal"), x, v, cfg, checkpoint=ckpt, progress=False)
    with pytest.warns(UserWarning, match="checkpoint stale"):
        res = fit(build("none"), x, v, cfg, checkpoint=ckpt, progress=False)
    assert res.resumed_from is None


def test_a_custom_loss_resumes_only_when_it_says_what_it_is(tmp_path):
    x, v = _data(), _data(16, seed=1)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=1)

    class Loss:
        def __init__(self, tag=None):
            if tag:
                self.cache_tag = tag

        def __call__(self, model, xb):
            return torch.nn.functional.mse_loss(model(xb), xb)

    tagged, untagged = tmp_path / "tagged.pt", tmp_path / "untagged.pt"
    fit(_build(), x, v, cfg, checkpoint=tagged, progress=False, loss_fn=Loss("mse v1"))
    assert fit(_build(), x, v, cfg, checkpoint=tagged, progress=False, loss_fn=Loss("mse v1")).resumed_from == 2
    with pytest.warns(UserWarning, match="checkpoint stale"):  # another tag: another loss
        fit(_build(), x, v, cfg, checkpoint=tagged, progress=False, loss_fn=Loss("mse v2"))
    fit(_build(), x, v, cfg, checkpoint=untagged, progress=False, loss_fn=Loss())
    with pytest.warns(UserWarning, match="checkpoint stale"):  # cannot say what it is: never resumed
        assert fit(_build(), x, v, cfg, checkpoint=untagged, progress=False, loss_fn=Loss()).resumed_from is None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoint_is_named_set_aside_and_trained_again(tmp_path, damage):
    x, v = _data(), _data(16, seed=1)
    ckpt = tmp_path / "run.pt"
    first = fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False)
    raw = ckpt.read_bytes()
    ckpt.write_bytes({"truncate": raw[: len(raw) // 3], "garbage": os.urandom(4096), "empty": b""}[damage])
    with pytest.warns(UserWarning, match=f"checkpoint damaged, recomputing it: {ckpt}"):
        again = fit(_build(), x, v, CFG, checkpoint=ckpt, progress=False)
    assert _same_fit(first, again) and again.resumed_from is None


def test_train_ddp_out_of_another_data_seed_is_not_reused(tmp_path):
    """`train_ddp --out X --data-seed 1` where X holds a finished --data-seed 0 run trains seed 1."""
    from tempmodels import train_ddp

    def result(out, seed):
        args = ["--encoder", "mean", "--n-trs", "60", "--gap-trs", "4", "--epochs", "2", "--batch-size", "8",
                "--data-seed", str(seed), "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
        assert train_ddp.main(args) == 0
        return json.loads((out / "result.json").read_text())["history"]

    shared = tmp_path / "X"
    seed0 = result(shared, 0)
    with pytest.warns(UserWarning, match="checkpoint stale"):
        seed1 = result(shared, 1)
    assert seed1 != seed0 and seed1 == result(tmp_path / "fresh", 1)


def test_too_little_data():
    with pytest.raises(ValueError, match="fewer than batch_size"):
        fit(_build(), _data(4), _data(4), CFG, progress=False)


# ----------------------------------------------------------------- real processes
CLI = [sys.executable, "-m", "tempmodels.train_ddp", "--n-trs", "60", "--gap-trs", "4", "--batch-size", "8"]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_kill_mid_run_then_resume(tmp_path):
    """SIGKILL a training process after its 2nd checkpoint; rerunning the command gives the same result."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--encoder", "multiscale", "--encoder-kwargs", '{"hidden": 16}', "--epochs", "30", "--patience", "30"]
    ref = subprocess.run(CLI + args + ["--out", str(tmp_path / "ref")], env=env, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen(CLI + args + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, deadline = out / "checkpoint.pt", time.time() + 120
    while time.time() < deadline:
        if ckpt.exists() and entries.load(ckpt)["state"]["epoch"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "result.json").exists(), "killed before the end: no result may look finished"
    killed_at = entries.load(ckpt)["state"]["epoch"]
    assert 2 <= killed_at < 30

    again = subprocess.run(CLI + args + ["--out", str(out)], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    a, b = json.loads((tmp_path / "ref" / "result.json").read_text()), json.loads((out / "result.json").read_text())
    assert a["history"] == b["history"] and a["best_val_loss"] == b["best_val_loss"]


@needs_espeak
def test_torchrun_two_cpu_processes_match_one(tmp_path):
    """DDP on 2 gloo processes: each rank takes half of every global batch, gradients are averaged,
    so (for an encoder without BatchNorm) training matches one process to float tolerance."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--encoder", "mean", "--epochs", "3"]
    single = subprocess.run(CLI + args + ["--out", str(tmp_path / "one")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = subprocess.run(torchrun + CLI[1:] + args + ["--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("one", "two"))
    assert two["world_size"] == 2 and one["world_size"] == 1
    for h1, h2 in zip(one["history"], two["history"]):
        assert h2["val_loss"] == pytest.approx(h1["val_loss"], rel=1e-5)
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)


@needs_espeak
def test_torchrun_trains_the_multimodal_autoencoder_like_one_process(tmp_path):
    """Chapter 10's joint model (audio + video encoders by name, fMRI head) under DDP: 2 processes = 1."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--encoder", "mean", "--video-encoder", "frame_mean", "--video-kwargs", '{"width": 2}', "--d-model", "16",
            "--epochs", "2"]
    single = subprocess.run(CLI + args + ["--out", str(tmp_path / "one")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = subprocess.run(torchrun + CLI[1:] + args + ["--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("one", "two"))
    assert two["world_size"] == 2 and two["video_encoder"] == "frame_mean"
    for h1, h2 in zip(one["history"], two["history"]):
        for k in ("train_loss", "val_loss", "val_audio_mse", "val_video_mse", "val_fmri_mse"):
            assert h2[k] == pytest.approx(h1[k], rel=1e-5), k


@needs_espeak
def test_torchrun_batchnorm_encoder_on_cpu_is_per_process_and_says_so(tmp_path):
    """gloo has no SyncBatchNorm: the run must still work, warn, and record what it did."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--encoder", "multiscale", "--encoder-kwargs", '{"hidden": 8}', "--epochs", "2"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = subprocess.run(torchrun + CLI[1:] + args + ["--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "SyncBatchNorm needs CUDA" in ddp.stderr
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["world_size"] == 2 and two["batchnorm"] == "per-process"
    one = subprocess.run(CLI + args + ["--out", str(tmp_path / "one")], env=env, capture_output=True, text=True)
    assert json.loads((tmp_path / "one" / "result.json").read_text())["batchnorm"] == "single process"


def _kill_tree(pid: int) -> None:
    """SIGKILL torchrun and every worker it started (the workers may sit in sessions of their own, where
    killing torchrun's process group would leave them running to the end)."""
    import psutil

    root = psutil.Process(pid)
    for p in root.children(recursive=True) + [root]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(root.children(recursive=True), timeout=10)


@needs_espeak
@pytest.mark.parametrize("strategy, epochs", [("ddp", 12), ("fsdp", 6)])
def test_torchrun_killed_then_resumed_matches_uninterrupted(tmp_path, strategy, epochs):
    """Killed after its 2nd checkpoint, the rerun resumes (not retrains) to the same result; under FSDP
    the checkpoint holds the gathered model and optimizer."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--encoder", "mean", "--epochs", str(epochs), "--patience", str(epochs), "--strategy", strategy]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] + CLI[1:] + args
    ref = subprocess.run(torchrun + ["--out", str(tmp_path / "ref")], env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(torchrun + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt, deadline = out / "checkpoint.pt", time.time() + 180
    while time.time() < deadline:
        if ckpt.exists() and entries.load(ckpt)["state"]["epoch"] >= 2:
            break
        time.sleep(0.05)
    _kill_tree(proc.pid)
    proc.wait()
    assert not (out / "result.json").exists()
    killed_at = entries.load(ckpt)["state"]["epoch"]
    assert 2 <= killed_at < epochs
    time.sleep(1)  # no worker left to write: the checkpoint and the missing result stay as they were
    assert entries.load(ckpt)["state"]["epoch"] == killed_at and not (out / "result.json").exists()
    again = subprocess.run(torchrun + ["--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    a, b = (json.loads((d / "result.json").read_text()) for d in (tmp_path / "ref", out))
    assert b["resumed_from"] == killed_at and a["resumed_from"] is None  # resumed, not silently retrained
    assert a["history"] == b["history"] and a["best_val_loss"] == b["best_val_loss"]
    assert b["final_val_loss"] == pytest.approx(b["best_val_loss"], rel=1e-6)


def test_ddp_batch_must_split_evenly(monkeypatch):
    import tempmodels.training as T

    monkeypatch.setattr(T, "_world", lambda: (0, 3))
    with pytest.raises(ValueError, match="batch_size=8 must divide by the 3 DDP processes"):
        fit(_build("mean"), _data(), _data(16, 1), CFG, progress=False)


def test_bf16_mixed_precision_trains_the_same_model_within_tolerance():
    """Mixed precision (bf16 autocast, fp32 master weights) on a tiny model: the same curve within a
    few per cent, weights still fp32; fp32 stays bit-identical to a run without the option."""
    x, v = _data(), _data(16, seed=1)
    cfg = TrainConfig(epochs=4, batch_size=8, lr=3e-3, patience=10, seed=1)
    full = fit(_build(), x, v, cfg, progress=False)
    mixed = fit(_build(), x, v, TrainConfig(**{**cfg.__dict__, "precision": "bf16"}), progress=False)
    assert all(p.dtype == torch.float32 for p in mixed.model.parameters())
    rel = (mixed.history.val_loss - full.history.val_loss).abs() / full.history.val_loss
    assert rel.max() < 0.05, rel.tolist()
    assert not mixed.history.val_loss.equals(full.history.val_loss), "autocast must actually be on"
    again = fit(_build(), x, v, TrainConfig(**{**cfg.__dict__, "precision": "fp32"}), progress=False)
    assert again.history.equals(full.history)


@pytest.mark.parametrize("kw, match", [({"precision": "fp8"}, "precision must be one of"),
                                       ({"precision": "fp16"}, "needs a CUDA device")])
def test_bad_precision_is_named(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


@needs_espeak
def test_torchrun_fsdp_trains_the_same_model_as_ddp_with_half_the_state_per_rank(tmp_path):
    """`--strategy fsdp` (PyTorch's fully_shard on gloo): the same losses as DDP, and each of the 2 ranks
    holds half of the parameters, gradients and optimizer states that DDP replicates."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["--encoder", "mean", "--epochs", "3"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] + CLI[1:] + args
    for strategy in ("ddp", "fsdp"):
        run = subprocess.run(torchrun + ["--strategy", strategy, "--out", str(tmp_path / strategy)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
    ddp, fsdp = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("ddp", "fsdp"))
    assert fsdp["strategy"] == "fsdp" and fsdp["world_size"] == 2
    assert len(ddp["history"]) == len(fsdp["history"]) == 3
    for res in (ddp, fsdp):  # the returned model (FSDP: rebuilt whole from the shards) is the best epoch's
        assert res["final_val_loss"] == pytest.approx(res["best_val_loss"], rel=1e-6)
    for h1, h2 in zip(ddp["history"], fsdp["history"]):
        assert h2["val_loss"] == pytest.approx(h1["val_loss"], rel=1e-5)
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
    for part in ("parameters", "gradients", "optimizer"):
        replicated = [m[part] for m in ddp["memory"]]
        sharded = [m[part] for m in fsdp["memory"]]
        assert replicated[0] == replicated[1] > 0
        assert sum(sharded) == pytest.approx(replicated[0], rel=1e-3), part  # the shards add up to one copy
        assert max(sharded) <= replicated[0] / 2 * (1 + 1e-3), part  # and each rank holds half of it


def test_bad_strategy_and_fsdp_with_batchnorm_are_named(monkeypatch):
    x = torch.randn(32, 64, 128)
    with pytest.raises(ValueError, match="strategy must be one of"):
        fit(lambda: nn.Linear(128, 128), x, x, TrainConfig(epochs=1), progress=False, strategy="zero")
    monkeypatch.setattr(training, "_world", lambda: (0, 2))
    with pytest.raises(NotImplementedError, match="BatchNorm under FSDP"):
        fit(lambda: nn.Sequential(nn.Linear(128, 128), nn.BatchNorm1d(64)), x, x, TrainConfig(epochs=1, batch_size=8),
            progress=False, strategy="fsdp")


def test_fsdp_on_one_process_is_the_plain_run_and_multi_part_losses_are_refused(monkeypatch):
    x = torch.randn(16, 64, 128)
    cfg = TrainConfig(epochs=2, batch_size=8)
    plain = fit(lambda: nn.Linear(128, 128), x, x, cfg, progress=False)
    one = fit(lambda: nn.Linear(128, 128), x, x, cfg, progress=False, strategy="fsdp")  # nothing to shard over
    assert one.history.equals(plain.history)

    class TwoParts(nn.Linear):
        def loss_parts(self, xb):
            return {"a": (self(xb) - xb).pow(2).mean()}

    monkeypatch.setattr(training, "_world", lambda: (0, 2))
    with pytest.raises(NotImplementedError, match="multi-part loss"):
        fit(lambda: TwoParts(128, 128), x, x, cfg, progress=False, strategy="fsdp")


def test_memory_is_recorded_on_one_process():
    x = torch.randn(16, 64, 128)
    res = fit(lambda: nn.Linear(128, 128), x, x, TrainConfig(epochs=1, batch_size=8), progress=False)
    n = 128 * 128 + 128
    assert res.memory == [{"parameters": 4 * n, "gradients": 4 * n, "optimizer": 8 * n}]
