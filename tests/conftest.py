import os
import shutil
import tempfile
import time

import pytest

# trained runs are cached by content (tempmodels/run_cache.py): tests use a cache of their own
os.environ.setdefault("TEMPMODELS_RUN_CACHE", tempfile.mkdtemp(prefix="tempmodels-test-runs-"))

from tempmodels.audio.benchmark import AudioConfig, load_audio_benchmark

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

SMALL = AudioConfig(n_trs=60, seed=3, gap_trs=4)


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory):
    return load_audio_benchmark(SMALL, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


# ---- nbval: each golden chapter's wall time, and the package's timing events inside it
_chapters: dict[str, list[float]] = {}


def pytest_runtest_logstart(nodeid, location):
    if ".ipynb::" in nodeid:
        _chapters.setdefault(nodeid.split("::")[0], [time.time(), time.time()])


def pytest_runtest_logfinish(nodeid, location):
    if ".ipynb::" in nodeid:
        _chapters[nodeid.split("::")[0]][1] = time.time()


def pytest_terminal_summary(terminalreporter):
    from tempmodels import timing

    path = os.environ.get(timing.ENV)
    if not _chapters or not path:
        return
    for nb, (start, end) in _chapters.items():
        timing.record("chapter", end - start, name=os.path.basename(nb).removesuffix(".ipynb"), start=start, t=end)
    terminalreporter.write_line(timing.report(path, "where the time went, nbval (quick profile)"))
