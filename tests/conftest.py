import os
import shutil
import tempfile

import pytest

# trained runs are cached by content (tempmodels/run_cache.py): tests use a cache of their own
os.environ.setdefault("TEMPMODELS_RUN_CACHE", tempfile.mkdtemp(prefix="tempmodels-test-runs-"))

from tempmodels.audio.benchmark import AudioConfig, load_audio_benchmark

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

SMALL = AudioConfig(n_trs=60, seed=3, gap_trs=4)


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory):
    return load_audio_benchmark(SMALL, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
