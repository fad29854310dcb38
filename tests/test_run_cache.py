"""The run cache: a hit is indistinguishable from training again; anything that changes the
result changes the key; it can be turned off; nothing half-written is ever read."""
import pytest
import torch

from tempmodels import run_cache
from tempmodels.encoders import MeanPool, MultiScaleEncoder, TemporalTransformer
from tempmodels.experiment import AudioData, build_autoencoder, run_encoder
from tempmodels.training import TrainConfig

CFG = TrainConfig(epochs=2, batch_size=8, lr=3e-3, patience=5)


@pytest.fixture()
def data(small_bench):
    return AudioData.from_bench(small_bench)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPMODELS_RUN_CACHE", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _run(data, build=lambda: MeanPool(128, 64, 16)):
    r, h, f = run_encoder("m", build, data, CFG, [0], None, None, 16, asr=False, progress=False)
    return r, h, f[0], torch.rand(3)  # the last: where the global RNG stands after the run


def test_hit_equals_training_again(data, cache, monkeypatch):
    fresh = _run(data)
    assert len(list(cache.glob("*.pt"))) == 1
    import tempmodels.experiment as E

    def no_training(*a, **k):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(E, "fit", no_training)
    hit = _run(data)
    assert fresh[0].equals(hit[0]) and fresh[1].equals(hit[1])
    assert all(torch.equal(a, b) for a, b in zip(fresh[2].model.state_dict().values(), hit[2].model.state_dict().values()))
    assert torch.equal(fresh[3], hit[3]), "the RNG must continue as after training"


def test_off_trains_every_time(data, tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPMODELS_RUN_CACHE", "0")
    assert run_cache.cache_dir() is None
    _run(data)
    assert not list(tmp_path.rglob("*.pt"))


def _key(data, cfg=CFG, **kw):
    build = build_autoencoder(lambda: TemporalTransformer(128, 64, 16, width=16, nhead=2, layers=1, ff=32, **kw), 16)
    return run_cache.run_key(build, 0, data, cfg, None, False)


def test_key_sees_what_changes_the_result(data):
    base = _key(data)
    assert base == _key(data)
    assert base != _key(data, positional="none")              # same layers and weights, different forward
    assert base != _key(data, dropout=0.2)
    assert base != _key(data, cfg=TrainConfig(epochs=3, batch_size=8, lr=3e-3, patience=5))
    other = AudioData(data.bench, data.norm, data.train + 1e-3, data.val, data.test)
    assert base != _key(other)
    build = build_autoencoder(lambda: MeanPool(128, 64, 16), 16)
    assert run_cache.run_key(build, 0, data, CFG, None, False) != run_cache.run_key(build, 1, data, CFG, None, False)
    bn = build_autoencoder(lambda: MultiScaleEncoder(128, 64, 16, hidden=8), 16)  # BatchNorm: 0-dim buffers
    assert run_cache.run_key(bn, 0, data, CFG, None, False) == run_cache.run_key(bn, 0, data, CFG, None, False)


def test_partial_entries_are_never_read(data, cache):
    cache.mkdir(parents=True)
    key = _key(data)
    (cache / f".{key}.pt.x.partial.pt").write_bytes(b"half")
    assert run_cache.load(key) is None
