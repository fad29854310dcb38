"""Normalisation statistics come from the training block only — tested through the constructors
the chapters call (``AudioData.from_bench``, ``VideoData.from_bench``, ``JointData.build``), on data
whose validation and test blocks are shifted far from the training block, so a normaliser fitted on
any other block (or on all TRs) fails here, not only a normaliser class tested alone."""
import dataclasses

import numpy as np
import pytest
import torch

from tempmodels.experiment import AudioData
from tempmodels.joint import JointData
from tempmodels.video.experiment import VideoData
from tempmodels.video.sprites import VideoConfig, generate

SHIFT = 5.0


def _shifted(bench, attr):
    x = getattr(bench, attr).clone()
    for s in ("val", "test"):
        x[bench.splits[s]] += SHIFT
    return dataclasses.replace(bench, **{attr: x})


@pytest.fixture(scope="module")
def audio(small_bench):
    return AudioData.from_bench(_shifted(small_bench, "mel"))


def test_audio_normaliser_sees_only_the_training_block(audio):
    train = audio.bench.split("train")
    assert torch.allclose(audio.norm.mean, train.mean(dim=(0, 1), keepdim=True))
    assert torch.allclose(audio.norm.std, train.std(dim=(0, 1), keepdim=True).clamp_min(1e-6))
    assert audio.train.mean().abs() < 1e-4
    assert float(audio.test.mean()) > 0.5 * float((SHIFT / audio.norm.std).mean())  # the shift stays visible


def test_video_normaliser_sees_only_the_training_block():
    bench = _shifted(generate(VideoConfig(n_trs=60, seed=3, gap_trs=4)), "frames")
    data = VideoData.from_bench(bench)
    train = bench.split("train")
    assert data.mean == pytest.approx(float(train.mean())) and data.std == pytest.approx(float(train.std()))
    assert abs(float(data.train.mean())) < 1e-4 and float(data.test.mean()) > 0.5 * SHIFT / data.std


def test_joint_bold_is_zscored_with_training_statistics(small_bench):
    audio = AudioData.from_bench(small_bench)
    video = VideoData.from_bench(generate(VideoConfig(n_trs=60, seed=3, gap_trs=4)))
    rng = np.random.default_rng(0)
    bold = rng.standard_normal((60, 3))
    for s in ("val", "test"):
        bold[small_bench.splits[s]] += SHIFT
    data = JointData.build(audio, video, bold, context=2)
    tr = data.bold[small_bench.splits["train"]]
    assert np.allclose(tr.mean(0), 0, atol=1e-5) and np.allclose(tr.std(0), 1, atol=1e-4)
    assert data.bold[small_bench.splits["test"]].mean() > 0.5 * SHIFT
