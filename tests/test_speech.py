import struct

import numpy as np
import pytest

from tempmodels.audio import speech

from .conftest import needs_espeak


def test_sentence_has_one_word_per_slot():
    rng = np.random.default_rng(0)
    words = speech.sample_sentence(rng)
    assert len(words) == 6
    assert all(w in vocab for w, vocab in zip(words, speech.SLOTS.values()))


def test_grammar_lists_every_word():
    g = speech.jsgf_grammar()
    assert g.startswith("#JSGF V1.0;")
    for vocab in speech.SLOTS.values():
        for w in vocab:
            assert f" {w} " in g or f" {w};" in g


@needs_espeak
def test_synthesize_is_16k_mono_speech():
    a = speech.synthesize(["bin", "blue", "at", "f", "two", "now"], "en-us+m3")
    assert a.dtype == np.float32 and a.ndim == 1
    assert 0.8 * 16000 < len(a) < 4 * 16000
    assert 0.05 < np.abs(a).max() <= 1.0


@needs_espeak
def test_voices_differ():
    w = ["bin", "blue", "at", "f", "two", "now"]
    a, b = speech.synthesize(w, "en-us+m3"), speech.synthesize(w, "en-us+f3")
    assert len(a) != len(b) or not np.allclose(a, b)


def test_missing_espeak_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(speech.EspeakNotFoundError, match="apt-get install espeak-ng"):
        speech.synthesize("bin blue", "en-us")


def test_wav_reader_rejects_8bit():
    header = b"RIFF" + struct.pack("<I", 36 + 4) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    data = header + b"data" + struct.pack("<I", 4) + b"\x80\x80\x80\x80"
    with pytest.raises(ValueError, match="16-bit"):
        speech.read_wav_bytes(data)
