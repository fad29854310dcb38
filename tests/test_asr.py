import numpy as np
import pytest

from tempmodels.audio import asr, melspec, speech

from .conftest import needs_espeak

@pytest.fixture(scope="module")
def recognizer():
    return asr.GridRecognizer()


@needs_espeak
def test_vocoded_speech_is_intelligible_and_averaged_is_not(recognizer):
    rng = np.random.default_rng(11)
    vocoder = melspec.GriffinLimVocoder()
    refs, oracle, floor = [], [], []
    for i in range(8):
        words = speech.sample_sentence(rng)
        lm = melspec.log_mel(speech.synthesize(words, speech.DEFAULT_VOICES[i % 4]))
        refs.append(" ".join(words))
        oracle.append(recognizer.transcribe(vocoder(lm)))
        floor.append(recognizer.transcribe(vocoder(lm.mean(0, keepdim=True).expand_as(lm))))
    assert asr.word_error_rate(refs, oracle) < 0.25
    assert asr.word_error_rate(refs, floor) > 0.9


def test_silence_gives_nothing(recognizer):
    assert recognizer.transcribe(np.zeros(16000, dtype=np.float32)) == ""


def test_wer_known_answers():
    assert asr.word_error_rate(["a b c d e f"], ["a b c d e f"]) == 0.0
    assert asr.word_error_rate(["a b c d e f"], ["a b x d e f"]) == pytest.approx(1 / 6)
    assert asr.word_error_rate(["a b c d e f", "a b c d e f"], ["", "a b c d e f"]) == pytest.approx(0.5)


def test_wer_errors():
    with pytest.raises(ValueError, match="references"):
        asr.word_error_rate(["a"], [])
    with pytest.raises(ValueError, match="no utterances"):
        asr.word_error_rate([], [])


def test_transcribe_rejects_bad_audio(recognizer):
    with pytest.raises(ValueError, match="mono"):
        recognizer.transcribe(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        recognizer.transcribe(np.array([0.0, np.inf], dtype=np.float32))


def test_vocoder_shape_error():
    with pytest.raises(ValueError, match=r"\(frames, 128\)"):
        melspec.GriffinLimVocoder()(np.zeros((10, 64), dtype=np.float32))


def test_vocoder_batch_of_one_is_the_single_call():
    """No padding, the same seeded draw: the batched pass is the per-sentence vocoder (to float rounding:
    a batched FFT sums in another order)."""
    voc = melspec.GriffinLimVocoder(n_iter=4, seed=3)
    lm = np.random.default_rng(0).normal(-4, 1, (37, 128)).astype(np.float32)
    (batched,) = voc.batch([lm])
    single = voc(lm)
    assert np.abs(batched - single).max() < 1e-5 * np.abs(single).max()
    assert len(batched) == voc.cfg.hop_length * (37 - 1)


def test_vocoder_batch_rejects_bad_input():
    voc = melspec.GriffinLimVocoder(n_iter=2)
    with pytest.raises(ValueError, match=r"log-mel 1: expected \(frames >= 2, 128\), got \(10, 64\)"):
        voc.batch([np.zeros((10, 128), np.float32), np.zeros((10, 64), np.float32)])
    with pytest.raises(ValueError, match="max_batch"):
        voc.batch([np.zeros((10, 128), np.float32)], max_batch=0)


@needs_espeak
def test_batched_vocoding_scores_like_per_sentence_vocoding(recognizer):
    """Sentences of different lengths vocoded together (padded with silence, one phase draw) are as
    intelligible as each vocoded alone: same lengths, STOI within 0.02 on average, the same WER regime."""
    from tempmodels.audio.evaluation import stoi_score

    rng = np.random.default_rng(5)
    vocoder = melspec.GriffinLimVocoder()
    refs, waves, mels = [], [], []
    for i in range(6):
        words = speech.sample_sentence(rng)
        wav = speech.synthesize(words, speech.DEFAULT_VOICES[i % 4])
        refs.append(" ".join(words))
        waves.append(wav)
        mels.append(melspec.log_mel(wav))
    assert len({m.shape[0] for m in mels}) > 1, "the test needs sentences of different lengths"
    single = [vocoder(m) for m in mels]
    batched = vocoder.batch(mels, max_batch=4)  # two chunks
    assert [len(b) for b in batched] == [len(s) for s in single]
    d_stoi = [stoi_score(w, b) - stoi_score(w, s) for w, s, b in zip(waves, single, batched)]
    assert abs(np.mean(d_stoi)) < 0.02 and max(map(abs, d_stoi)) < 0.06
    wer_single = asr.word_error_rate(refs, [recognizer.transcribe(s) for s in single])
    wer_batched = asr.word_error_rate(refs, [recognizer.transcribe(b) for b in batched])
    assert wer_batched < 0.25 and abs(wer_batched - wer_single) <= 3 / sum(len(r.split()) for r in refs)


def test_sentence_error_rates_are_the_units_of_the_corpus_wer():
    refs = ["bin blue at f two now", "lay red by g five please", "set white in c one again"]
    hyps = ["bin blue at f two now", "lay red by g nine please", ""]
    per = asr.sentence_error_rates(refs, hyps)
    assert per.tolist() == pytest.approx([0, 1 / 6, 1])
    assert per.mean() == pytest.approx(asr.word_error_rate(refs, hyps))  # equal lengths: the same number
    with pytest.raises(ValueError, match="3 references but 2 hypotheses"):
        asr.sentence_error_rates(refs, hyps[:2])


@pytest.fixture(scope="module")
def degraded_sentences():
    """Ten GRID sentences through a degraded code (the vocoder of a noisy, time-blurred log-mel): hard
    enough that the recogniser's state matters."""
    rng = np.random.default_rng(21)
    vocoder = melspec.GriffinLimVocoder(n_iter=8, seed=0)
    waves = []
    for i in range(10):
        lm = np.asarray(melspec.log_mel(speech.synthesize(speech.sample_sentence(rng), speech.DEFAULT_VOICES[i % 4])))
        blurred = (lm + np.roll(lm, 3, axis=0)) / 2 + rng.normal(0, 1.5, lm.shape).astype(np.float32)
        waves.append(vocoder(blurred))
    return waves


@needs_espeak
def test_each_utterance_is_recognised_from_the_same_state(degraded_sentences):
    """A hypothesis must not depend on what the recogniser heard before it: pocketsphinx carries its
    cepstral-mean prior and noise tracker across utterances unless reset (the bug: another encoder's
    reconstructions, scored first, changed this one's WER). In order, reversed, and each on a fresh
    recogniser: the same words."""
    rec = asr.GridRecognizer(workers=1)
    in_order = [rec.transcribe(w) for w in degraded_sentences]
    reversed_ = [rec.transcribe(w) for w in degraded_sentences[::-1]][::-1]
    fresh = [asr.GridRecognizer(workers=1).transcribe(w) for w in degraded_sentences]
    assert in_order == reversed_ == fresh
    assert any(in_order) and len(set(in_order)) > 1  # recognised, and not all alike: the check has teeth


@needs_espeak
def test_transcribe_many_on_worker_processes_is_one_by_one(degraded_sentences):
    serial = [asr.GridRecognizer(workers=1).transcribe(w) for w in degraded_sentences]
    assert asr.GridRecognizer(workers=1).transcribe_many(degraded_sentences) == serial
    assert asr.GridRecognizer(workers=2).transcribe_many(degraded_sentences) == serial


def test_workers_are_checked(monkeypatch):
    with pytest.raises(ValueError, match="workers must be a positive int"):
        asr.GridRecognizer(workers=0)
    monkeypatch.setenv(asr.WORKERS_ENV, "two")
    with pytest.raises(ValueError, match="TEMPMODELS_ASR_WORKERS must be a positive integer, got 'two'"):
        asr.GridRecognizer()
    monkeypatch.setenv(asr.WORKERS_ENV, "3")
    assert asr.GridRecognizer().workers == 3


def test_transcribe_many_names_the_bad_utterance_before_any_worker_runs():
    rec = asr.GridRecognizer(workers=2)
    waves = [np.zeros(1600, np.float32)] * 5 + [np.array([0.0, np.nan], np.float32)]
    with pytest.raises(ValueError, match="utterance 5: audio contains non-finite samples"):
        rec.transcribe_many(waves)


@needs_espeak
def test_a_killed_worker_is_replaced_and_the_answer_unchanged(degraded_sentences):
    rec = asr.GridRecognizer(workers=2)
    first = rec.transcribe_many(degraded_sentences)
    for w in asr._WORKERS:
        w.kill()
        w.wait()
    assert rec.transcribe_many(degraded_sentences) == first
    assert all(w.poll() is None for w in asr._WORKERS)  # fresh workers, alive
