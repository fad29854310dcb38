"""The evaluation path behind every table: sentence alignment, STOI, PCA-d and reference rows."""
import numpy as np
import pandas as pd
import pytest
import torch

from tempmodels.audio.benchmark import AudioBenchmark, AudioConfig
from tempmodels.audio.evaluation import stoi_score, utterance_mels, utterance_reference_audio
from tempmodels.audio.melspec import MelConfig

from .conftest import needs_espeak

HOP, FPT = 375, 64


def _synthetic_bench(sentences: list[tuple[int, int]], n_trs: int = 12) -> AudioBenchmark:
    """Audio whose sample i has value i; one speech segment per (start, end) in samples."""
    cfg = AudioConfig(n_trs=n_trs, gap_trs=1)
    spt = cfg.mel.samples_per_tr
    segs = pd.DataFrame([{"segment": i, "kind": "speech", "voice": "v", "text": f"s{i}", "tempo_hz": np.nan,
                          "start": a, "end": b} for i, (a, b) in enumerate(sentences)])
    splits = {"train": np.arange(0, 4), "val": np.arange(5, 7), "test": np.arange(8, n_trs)}
    audio = np.arange(n_trs * spt, dtype=np.float32)
    return AudioBenchmark(cfg, torch.zeros(n_trs, FPT, 128), audio, segs, pd.DataFrame(), splits)


def test_frame_ownership_tr_k_owns_frames_64k_to_64k_plus_63():
    """A click at sample s lands in TR s // 24000, at frame round(s / 375) - 64k of it."""
    from tempmodels.audio.melspec import log_mel, to_trs

    cfg = MelConfig()
    assert cfg.frames_per_tr == FPT and cfg.samples_per_tr == FPT * HOP
    for s in (3 * FPT * HOP + 10 * HOP, 5 * FPT * HOP + 63 * HOP - 100, 2 * FPT * HOP + 1):
        audio = np.zeros(6 * FPT * HOP, dtype=np.float32)
        audio[s] = 1.0
        trs = to_trs(log_mel(audio, cfg), cfg)
        assert trs.shape == (6, FPT, 128)
        energy = trs.exp().sum(-1)  # (TR, frame)
        k, f = divmod(int(energy.flatten().argmax()), FPT)
        assert (k, f) == divmod(round(s / HOP), FPT), (s, k, f)


def test_utterance_alignment_known_answer():
    spt = FPT * HOP
    start, end = 8 * spt + 1000, 8 * spt + 30_000   # a sentence inside the test block (TRs 8..11)
    bench = _synthetic_bench([(start, end), (100, 2000)])
    test = bench.splits["test"]
    # each reconstructed frame carries its global frame index
    recon = (torch.arange(len(test) * FPT) + test[0] * FPT).float().reshape(len(test), FPT, 1).expand(-1, -1, 128)
    (cut,) = utterance_mels(recon, bench, "test")  # the sentence in the train block is not in the test split
    frames = cut[:, 0].long().tolist()
    assert frames[0] == start // HOP                 # the frame centred at or before the first sample
    assert frames[-1] == -(-end // HOP)              # the first frame centred at or after the last sample
    assert frames == list(range(frames[0], frames[-1] + 1))
    (ref,) = utterance_reference_audio(bench, "test", [500])
    assert ref[0] == frames[0] * HOP and len(ref) == 500  # the waveform under the first frame's centre


def test_utterance_mels_rejects_wrong_length():
    bench = _synthetic_bench([])
    with pytest.raises(ValueError, match="reconstruction has 3 TRs, split 'test' has 4"):
        utterance_mels(torch.zeros(3, FPT, 128), bench, "test")


def test_stoi_known_answers():
    rng = np.random.default_rng(0)
    t = np.arange(32_000) / 16_000
    clean = (np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 4 * t)) + 0.3 * rng.standard_normal(len(t)))
    assert stoi_score(clean, clean) == pytest.approx(1.0, abs=1e-6)
    noisy = clean + 4 * rng.standard_normal(len(t))
    assert stoi_score(clean, noisy) < 0.8
    with pytest.raises(ValueError, match="at least 0.25 s"):
        stoi_score(clean[:100], clean[:100])


@needs_espeak
def test_reference_rows_on_a_small_benchmark(small_bench):
    from tempmodels.audio.asr import GridRecognizer
    from tempmodels.experiment import PCA_ROW, AudioData, reference_rows
    from tempmodels.audio.melspec import GriffinLimVocoder

    data = AudioData.from_bench(small_bench)
    ref = reference_rows(data, GriffinLimVocoder(n_iter=4), GridRecognizer(), d_model=8, asr=False)
    v = ref.set_index(["encoder", "metric"]).value
    assert v["oracle", "test_mse"] == pytest.approx(0, abs=1e-10)
    assert v["oracle", "temporal_detail_r"] == pytest.approx(1)
    assert v["floor (TR mean)", "temporal_detail_r"] == pytest.approx(0, abs=1e-9)
    # better than the zero code (every TR decoded as the training mean), worse than lossless
    zero_code = float(((data.test - data.train.mean(0)) ** 2).mean())
    assert 0 < v[PCA_ROW, "test_mse"] < zero_code
    assert 0 < v[PCA_ROW, "temporal_detail_r"] < 1
    assert v[PCA_ROW, "d_effective"] == 8
    assert set(ref.encoder) == {"oracle", "floor (TR mean)", PCA_ROW}


@needs_espeak
def test_pca_reversed_detail_is_scored_on_reversed_input(small_bench):
    """PCA-d fit on forward TRs, applied to reversed TRs: it keeps order (r > 0), unlike an order-blind code."""
    from tempmodels.experiment import AudioData, reversed_detail_r
    from tempmodels.pca_code import PCACode

    data = AudioData.from_bench(small_bench)
    pca = PCACode(data.train, 16)
    assert reversed_detail_r(pca.reconstruct, data, "test") > 0.1
    tr_mean = lambda x: x.mean(1, keepdim=True).expand_as(x)  # noqa: E731  an order-blind "code"
    assert reversed_detail_r(tr_mean, data, "test") == pytest.approx(0, abs=1e-9)
    assert reversed_detail_r(lambda x: x, data, "test") == pytest.approx(1)


# ----------------------------------------------------------------- probes, normaliser, vocoder, cache
def test_probe_separable_labels_score_one_and_shuffled_score_chance():
    from tempmodels.probes import linear_probe_accuracy

    g = np.random.default_rng(0)
    labels = np.repeat(np.array(["a", "b", "c", "d"]), 60)
    centres = g.normal(size=(4, 8)) * 6
    emb = centres[np.searchsorted(["a", "b", "c", "d"], labels)] + g.normal(size=(240, 8))
    tr, te = np.arange(240) % 2 == 0, np.arange(240) % 2 == 1
    assert linear_probe_accuracy(emb[tr], labels[tr], emb[te], labels[te]) == 1.0
    shuffled = g.permutation(labels)
    acc = linear_probe_accuracy(emb[tr], shuffled[tr], emb[te], shuffled[te])
    assert acc < 0.25 + 3 * np.sqrt(0.25 * 0.75 / te.sum())  # chance, within 3 standard errors


@needs_espeak
def test_speaker_mask_selects_single_speaker_trs(small_bench):
    from tempmodels.experiment import AudioData

    data = AudioData.from_bench(small_bench)
    idx, labels = data.speaker_mask("train")
    trs = small_bench.trs.loc[small_bench.splits["train"]].reset_index(drop=True)
    assert len(idx) == len(labels) > 0
    assert (trs.speech_fraction[idx] > 0.5).all() and (trs.speaker[idx] == labels).all()
    rest = np.setdiff1d(np.arange(len(trs)), idx)
    assert ((trs.speech_fraction[rest] <= 0.5) | (trs.speaker[rest] == "")).all()


def test_normaliser_statistics_come_from_train_only():
    from tempmodels.normalize import BandNormalizer

    g = torch.Generator().manual_seed(0)
    train = torch.randn(20, FPT, 128, generator=g) * 3 + 1
    norm = BandNormalizer(train)
    before = (norm.mean.clone(), norm.std.clone())
    test = torch.randn(5, FPT, 128, generator=g)
    z1 = norm(test)
    test[:, :, :] = 1e6  # a wild test block changes no statistic, only its own normalised values
    assert torch.equal(norm.mean, before[0]) and torch.equal(norm.std, before[1])
    assert torch.allclose(norm(z1.new_zeros(1, FPT, 128) + norm.mean), torch.zeros(1, FPT, 128))
    assert torch.allclose(norm.inverse(norm(train)), train, atol=1e-4)


def test_vocoder_leaves_the_callers_random_stream_alone():
    from tempmodels.audio.melspec import GriffinLimVocoder

    voc = GriffinLimVocoder(n_iter=2, seed=5)
    lm = torch.randn(20, 128)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = voc(lm)
    assert torch.equal(torch.rand(3), expected), "the vocoder reset the global RNG"
    assert np.array_equal(a, voc(lm)), "same input, same audio"


def test_cache_rename_errors_other_than_already_exists_propagate(tmp_path, monkeypatch):
    import errno
    import os

    import tempmodels.audio.benchmark as AB

    bench = _synthetic_bench([])
    monkeypatch.setattr(AB, "generate", lambda cfg, progress=True: bench)
    monkeypatch.setattr(AB, "espeak_version", lambda: "test")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        AB.load_audio_benchmark(bench.config, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir()), "no half-written cache entry is left behind"


def test_pool_weights_cover_every_tr_across_batches():
    from tempmodels.decoder import Autoencoder, MelDecoder
    from tempmodels.encoders import FramePool, MultiScaleEncoder
    from tempmodels.experiment import pool_weights

    torch.manual_seed(0)
    x = torch.randn(300, FPT, 128)
    att = Autoencoder(MultiScaleEncoder(hidden=8, d_model=16, aggregation="conv_attention"), MelDecoder(16, channels=8))
    w = pool_weights(att, x, batch=128)  # three batches, the last one short
    assert w.shape == (300, FPT) and w.device.type == "cpu"
    assert torch.allclose(w.sum(1), torch.ones(300), atol=1e-5)
    assert torch.allclose(w[:7], pool_weights(att, x[:7]), atol=1e-6)
    q = Autoencoder(FramePool(d_model=16, hidden=8, pool="queries", n_queries=3), MelDecoder(16, channels=8))
    assert pool_weights(q, x, batch=100).shape == (300, 3, FPT)
    with pytest.raises(TypeError, match="no attention readout"):
        pool_weights(Autoencoder(FramePool(d_model=16, hidden=8), MelDecoder(16, channels=8)), x)
