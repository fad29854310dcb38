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
