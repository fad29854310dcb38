"""The evaluation path behind every table: sentence alignment, STOI, PCA-d and reference rows."""
import numpy as np
import pandas as pd
import pytest
import torch

from tempmodels.audio_benchmark import AudioBenchmark, AudioConfig
from tempmodels.evaluation import stoi_score, utterance_mels, utterance_reference_audio
from tempmodels.melspec import MelConfig

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
    assert MelConfig().frames_per_tr == FPT and MelConfig().samples_per_tr == FPT * HOP


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
    from tempmodels.asr import GridRecognizer
    from tempmodels.experiment import PCA_ROW, AudioData, reference_rows
    from tempmodels.melspec import GriffinLimVocoder

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
