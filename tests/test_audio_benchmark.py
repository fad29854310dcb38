import numpy as np
import pytest
import torch

from tempmodels.audio import benchmark as ab
from tempmodels.audio.benchmark import AudioConfig, generate, load_audio_benchmark
from tempmodels.audio.speech import SLOTS

from .conftest import SMALL, needs_espeak

pytestmark = needs_espeak


def test_shapes_and_frames_per_tr(small_bench):
    b = small_bench
    assert b.mel.shape == (SMALL.n_trs, 64, 128)
    assert b.mel.dtype == torch.float32 and torch.isfinite(b.mel).all()
    assert b.audio.shape == (SMALL.n_trs * 24_000,)
    assert SMALL.mel.frames_per_tr == 64
    assert len(b.trs) == SMALL.n_trs


def test_tr_metadata(small_bench):
    trs = small_bench.trs
    assert set(trs.kind) <= set(ab.KINDS)
    speech = trs[trs.kind == "speech"]
    assert len(speech) > 0 and (speech.speaker != "").all()
    assert set(speech.speaker) <= set(SMALL.voices)
    # words of every speech TR are GRID sentences: six words from the slots, in order
    for sentence in speech.words.str.split(" | ", regex=False).explode():
        words = sentence.split()
        assert len(words) == 6
        assert all(w in vocab for w, vocab in zip(words, SLOTS.values()))


def test_uses_several_voices(small_bench):
    assert small_bench.segments.query("kind == 'speech'").voice.nunique() >= 3


def test_deterministic_and_seed_dependent():
    a = generate(AudioConfig(n_trs=12, seed=1, gap_trs=1), progress=False)
    b = generate(AudioConfig(n_trs=12, seed=1, gap_trs=1), progress=False)
    c = generate(AudioConfig(n_trs=12, seed=2, gap_trs=1), progress=False)
    assert torch.equal(a.mel, b.mel)
    assert a.segments.equals(b.segments)
    assert not torch.equal(a.mel, c.mel)


def test_cache_is_reused(tmp_path, monkeypatch):
    cfg = AudioConfig(n_trs=12, seed=5, gap_trs=1)
    first = load_audio_benchmark(cfg, tmp_path, progress=False)
    monkeypatch.setattr(ab, "generate", lambda *a, **k: pytest.fail("cache was not used"))
    second = load_audio_benchmark(cfg, tmp_path, progress=False)
    assert torch.equal(first.mel, second.mel)
    assert first.trs.equals(second.trs)
    assert (first.segments.text.fillna("") == second.segments.text.fillna("")).all()


@pytest.mark.parametrize("damage", ["mel", "audio", "trs", "config"])
def test_damaged_cache_entry_is_named_set_aside_and_rebuilt(tmp_path, damage):
    cfg = AudioConfig(n_trs=12, seed=5, gap_trs=1)
    first = load_audio_benchmark(cfg, tmp_path, progress=False)
    (entry,) = tmp_path.iterdir()
    name = {"mel": "mel.pt", "audio": "audio.npy", "trs": "trs.csv", "config": "config.json"}[damage]
    raw = (entry / name).read_bytes()
    (entry / name).write_bytes(raw[: len(raw) // 2] if damage != "trs" else raw.replace(b"speech", b"silence", 1))
    with pytest.warns(UserWarning, match=f"audio benchmark cache {entry} is damaged"):
        again = load_audio_benchmark(cfg, tmp_path, progress=False)
    assert torch.equal(first.mel, again.mel) and first.trs.equals(again.trs)
    assert len(list(tmp_path.glob(f"{entry.name}.damaged-*"))) == 1
    assert (entry / "config.json").is_file()


def test_cache_entry_is_readable_by_others_under_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        load_audio_benchmark(AudioConfig(n_trs=12, seed=5, gap_trs=1), tmp_path, progress=False)
    finally:
        os.umask(old)
    (entry,) = tmp_path.iterdir()
    assert entry.stat().st_mode & 0o777 == 0o755
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in entry.iterdir())


def test_cache_key_depends_on_config():
    assert AudioConfig(n_trs=12).key() != AudioConfig(n_trs=13).key()
    assert AudioConfig(seed=0).key() != AudioConfig(seed=1).key()


def test_failed_cache_write_leaves_nothing(tmp_path, monkeypatch):
    cfg = AudioConfig(n_trs=12, seed=6, gap_trs=1)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ab.np, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        load_audio_benchmark(cfg, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_split_gaps(small_bench):
    s = small_bench.splits
    assert s["val"][0] - s["train"][-1] - 1 == SMALL.gap_trs
    assert s["test"][0] - s["val"][-1] - 1 == SMALL.gap_trs
    assert set(small_bench.trs.split) == {"train", "val", "test", "gap"}


def test_sentences_lie_inside_their_split(small_bench):
    spt = SMALL.mel.samples_per_tr
    for name, idx in small_bench.splits.items():
        for s in small_bench.sentences(name).itertuples():
            assert idx[0] * spt <= s.start < s.end <= (idx[-1] + 1) * spt


def test_bad_config_errors():
    with pytest.raises(ValueError, match="n_trs"):
        AudioConfig(n_trs=0)
    with pytest.raises(ValueError, match="kind_probs"):
        AudioConfig(kind_probs=(1.0, 0.0, 0.0))


def test_unknown_split(small_bench):
    with pytest.raises(KeyError, match="unknown split"):
        small_bench.split("holdout")


def test_silence_is_quiet_speech_is_loud(small_bench):
    trs = small_bench.trs
    energy = small_bench.mel.mean(dim=(1, 2)).numpy()
    assert np.median(energy[trs.kind == "speech"]) > np.median(energy[trs.kind == "silence"]) + 3


def test_speechiest_window(small_bench):
    split = "train"
    start = small_bench.speechiest_window(split, 4)
    speech = small_bench.trs.loc[small_bench.splits[split]].speech_fraction.to_numpy()
    best = speech[start:start + 4].sum()
    assert all(best >= speech[i:i + 4].sum() for i in range(len(speech) - 3))
    with pytest.raises(ValueError, match="fewer than the window"):
        small_bench.speechiest_window("test", 10_000)
