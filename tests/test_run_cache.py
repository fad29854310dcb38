"""The run cache: a hit is indistinguishable from training again; anything that changes the
result changes the key; it can be turned off; nothing half-written is ever read."""
import numpy as np
import pandas as pd
import pytest
import torch

from tempmodels import run_cache
from tempmodels.encoders import MeanPool, MultiScaleEncoder, TemporalTransformer
from tempmodels.experiment import AudioData, build_autoencoder, run_encoder
from tempmodels.training import TrainConfig

from .conftest import needs_espeak

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


def test_an_interrupted_store_leaves_no_entry(data, cache, monkeypatch):
    """store() writes through a temporary file: killed half-way, nothing is found under the key."""
    import tempmodels.atomic as atomic_mod

    def die_before_rename(src, dst):
        assert src.stat().st_size > 0 and ".partial" in src.name  # the whole entry is written, not yet renamed
        raise KeyboardInterrupt

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(atomic_mod.os, "replace", die_before_rename)
        _run(data)
    assert not list(cache.iterdir()), "no partial and no entry may remain"
    _run(data)
    assert len(list(cache.glob("*.pt"))) == 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing_field"])
def test_a_damaged_entry_is_named_set_aside_and_trained_again(data, cache, damage):
    fresh = _run(data)
    (entry,) = cache.glob("*.pt")
    raw = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00garbage" * 100)
    elif damage == "empty":
        entry.write_bytes(b"")
    else:
        key = entry.stem
        obj = run_cache.entries.load(entry)
        del obj["batchnorm"]
        run_cache.entries.save(obj, entry, {"run_key": key})
    with pytest.warns(UserWarning, match=f"run-cache entry damaged, recomputing it: {entry}"):
        again = _run(data)
    assert fresh[0].equals(again[0]) and fresh[1].equals(again[1])
    assert torch.equal(fresh[3], again[3])
    assert entry.is_file() and len(list(cache.glob(f"{entry.name}.damaged-*"))) == 1
    assert run_cache.load(entry.stem) is not None  # the new entry is whole


def test_an_entry_under_another_key_is_stale(data, cache):
    _run(data)
    (entry,) = cache.glob("*.pt")
    other = cache / ("0" * 32 + ".pt")
    entry.rename(other)  # a file whose name does not match what it was stored for
    with pytest.warns(UserWarning, match="stale"):
        assert run_cache.load("0" * 32) is None


def _no_training(monkeypatch):
    import tempmodels.experiment as E

    def no_training(*a, **k):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(E, "fit", no_training)


def test_context_runs_go_through_the_cache(data, cache, monkeypatch):
    """Chapter 06's multi-TR runs once trained again on every execution (they called fit directly)."""
    from tempmodels.context import run_context

    def build(k):
        return lambda: TemporalTransformer(128, 64 * k, 16, width=16, nhead=2, layers=1, ff=32, tr_frames=64,
                                   readout="mean")

    first = run_context("ctx", build(2), 2, data, CFG, [0], None, None, 16, asr=False, progress=False)
    _no_training(monkeypatch)
    again = run_context("ctx", build(2), 2, data, CFG, [0], None, None, 16, asr=False, progress=False)
    assert first[0].equals(again[0]) and first[1].equals(again[1])
    with pytest.raises(AssertionError, match="trained again"):  # another window length is another run
        run_context("ctx", build(4), 4, data, CFG, [0], None, None, 16, asr=False, progress=False)


def test_distillation_runs_go_through_the_cache_keyed_on_the_teacher(data, cache, monkeypatch):
    from tempmodels.distillation import run_distillation

    teachers = _run(data, lambda: TemporalTransformer(128, 64, 16, width=16, nhead=2, layers=1, ff=32))[2]
    other = _run(data, lambda: MultiScaleEncoder(128, 64, 16, hidden=8))[2]
    student = lambda: MeanPool(128, 64, 16)  # noqa: E731
    first = run_distillation("s", student, {0: teachers}, data, CFG, [0], None, None, 16, asr=False, progress=False)
    _no_training(monkeypatch)
    again = run_distillation("s", student, {0: teachers}, data, CFG, [0], None, None, 16, asr=False, progress=False)
    assert first[0].equals(again[0]) and first[1].equals(again[1])
    assert "teacher_gap" in set(first[0].metric)
    for kw in ({"teachers": {0: other}}, {"alpha": 0.25}, {"mode": "feature"}):  # another teacher, alpha or mode
        args = {"teachers": {0: teachers}, **kw}
        with pytest.raises(AssertionError, match="trained again"):
            run_distillation("s", student, args["teachers"], data, CFG, [0], None, None, 16, asr=False,
                             progress=False, **{k: v for k, v in kw.items() if k != "teachers"})


# ------------------------------------------------------------------ reference rows, once per dataset
def _references(data, d=8):
    from tempmodels.audio.asr import GridRecognizer
    from tempmodels.audio.melspec import GriffinLimVocoder
    from tempmodels.experiment import reference_rows

    out = reference_rows(data, GriffinLimVocoder(n_iter=2), GridRecognizer(), d_model=d, asr=False)
    return out, torch.rand(3)


@needs_espeak
def test_reference_rows_are_computed_once_per_dataset(data, cache, monkeypatch):
    import tempmodels.experiment as E

    calls = []
    real = E.score_codec
    monkeypatch.setattr(E, "score_codec", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(7)
    fresh = _references(data)
    assert calls == [1] and len(list(cache.glob("table-*.pt"))) == 2  # oracle/floor, PCA-d at d = 8

    def no_scoring(*a, **k):
        raise AssertionError("a cached reference row was scored again")

    monkeypatch.setattr(E, "evaluate", no_scoring)
    monkeypatch.setattr(E, "score_codec", no_scoring)
    torch.manual_seed(7)
    hit = _references(data)
    assert fresh[0].equals(hit[0])
    assert torch.equal(fresh[1], hit[1]), "a hit and a miss must leave the RNG in the same place"
    with pytest.raises(AssertionError, match="scored again"):
        _references(data, d=4)  # another d is another PCA-d: computed, not looked up


def test_reference_keys_see_the_data_the_split_and_the_vocoder(data):
    import dataclasses

    from tempmodels.audio.melspec import GriffinLimVocoder

    key = lambda dat=data, voc=None, **kw: run_cache.table_key("pca_rows", dat, voc, False, **{"d": 8, **kw})  # noqa: E731
    assert key() == key()
    assert key() != key(dataclasses.replace(data, train=data.train[1:]))
    assert key() != key(d=16) and key() != key(split="val")
    assert key(voc=GriffinLimVocoder(n_iter=2)) != key(voc=GriffinLimVocoder(n_iter=3))
    assert key() != run_cache.table_key("reference_rows", data, None, False, d=8)


@needs_espeak
def test_a_damaged_reference_table_is_set_aside_and_recomputed(data, cache):
    first = _references(data)[0]
    for p in cache.glob("table-*.pt"):
        p.write_bytes(p.read_bytes()[:50])
    with pytest.warns(UserWarning, match="damaged"):
        again = _references(data)[0]
    assert first.equals(again)
    assert len(list(cache.glob("*.damaged-*"))) == 2


@needs_espeak
def test_runs_and_references_carry_per_unit_scores_that_average_to_their_metrics(data, cache):
    from tempmodels import results as R
    from tempmodels.experiment import paired_table, units_of

    r, _, f = _run(data)[:3]
    u = f.units
    n = len(data.test)
    assert set(u) == {"test_mse", "temporal_detail_r", "reversed_detail_r"} and len(u["test_mse"]) == n
    v = r.set_index("metric").value
    assert u["test_mse"].mean() == pytest.approx(v["test_mse"], rel=1e-9)  # the unit is exact for MSE
    hit = _run(data)[2]
    assert all(np.array_equal(hit.units[k], u[k], equal_nan=True) for k in u), "a cache hit keeps the units"
    ref, ref_units = _references_with_units(data)
    oracle = R.unit_matrix(ref_units, "oracle", "test_mse")
    assert list(oracle.index) == [-1] and float(abs(oracle.to_numpy()).max()) < 1e-10
    assert (R.unit_matrix(ref_units, "floor (TR mean)", "temporal_detail_r").to_numpy() == 0).all()
    units = pd.concat([units_of({"m": {0: f}}), ref_units], ignore_index=True)
    t = paired_table(r, "PCA-d", units=units)
    assert list(t.index) == ["m"] and all(t.loc["m", c].split(": ")[-1] in (R.BETTER, R.WORSE, R.NO_DIFFERENCE)
                                          for c in ("test_mse", "temporal_detail_r", "reversed_detail_r"))


def _references_with_units(data):
    from tempmodels.audio.asr import GridRecognizer
    from tempmodels.audio.melspec import GriffinLimVocoder
    from tempmodels.experiment import reference_rows

    return reference_rows(data, GriffinLimVocoder(n_iter=2), GridRecognizer(), d_model=8, asr=False, with_units=True)
