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


# ---- nbval: outputs are compared where this machine computes what the golden chapter's machine did
# A golden chapter records the numerical fingerprint of the machine that made it (tempmodels.numerics).
# Where this machine's differs (another vector unit or BLAS path: the last bit differs, and training
# turns it into the third decimal), every cell is still executed (errors and the notebooks' own
# asserts fail) but outputs are not compared, and the summary names those chapters and why.
# TEMPMODELS_NBVAL_STRICT=1 compares them anyway (to read the differences).
STRICT_ENV = "TEMPMODELS_NBVAL_STRICT"
_not_compared: dict[str, str] = {}


def golden_comparable(notebook: dict, here: dict | None = None) -> str:
    """'' when this machine reproduces ``notebook``'s outputs bit for bit, else the reason it cannot."""
    from tempmodels import numerics

    return numerics.differences(numerics.recorded(notebook), here or numerics.fingerprint())


def pytest_collection_modifyitems(config, items):
    files = {item.parent for item in items if ".ipynb::" in item.nodeid and hasattr(item.parent, "nb")}
    if not files or os.environ.get(STRICT_ENV) == "1":
        return
    for f in files:
        why = golden_comparable(f.nb)
        if why:
            _not_compared[os.path.basename(str(f.fspath))] = why
    for item in items:
        if os.path.basename(str(getattr(item, "fspath", ""))) in _not_compared and hasattr(item, "options"):
            if "nbval-check-output" not in item.cell.metadata.get("tags", []):
                item.options["check"] = False


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

    if _not_compared:
        terminalreporter.write_sep("=", f"nbval: outputs NOT compared for {len(_not_compared)} chapter(s), executed only")
        for name, why in sorted(_not_compared.items()):
            terminalreporter.write_line(f"  {name}: {why}")
        terminalreporter.write_line(f"  (`make golden` on this machine makes them comparable here; {STRICT_ENV}=1 compares anyway)")
    path = os.environ.get(timing.ENV)
    if not _chapters or not path:
        return
    for nb, (start, end) in _chapters.items():
        timing.record("chapter", end - start, name=os.path.basename(nb).removesuffix(".ipynb"), start=start, t=end)
    terminalreporter.write_line(timing.report(path, "where the time went, nbval (quick profile)"))
