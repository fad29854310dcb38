"""The numerical fingerprint, and the nbval gate that compares golden outputs only where it matches."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from tempmodels import execute, numerics

HERE = Path(__file__).resolve().parent


def test_fingerprint_is_stable_across_processes():
    here = numerics.fingerprint()
    assert set(here["parts"]) == set(numerics.PARTS) and len(here["id"]) == 16
    other = subprocess.run([sys.executable, "-m", "tempmodels.numerics"], capture_output=True, text=True, check=True)
    assert f'"id": "{here["id"]}"' in other.stdout


def test_fingerprint_is_taken_at_the_chapters_thread_count():
    """Kernels pin repro.DEFAULT_THREADS; the fingerprint must describe that, not the caller's setting,
    and leave the caller's thread count and random stream as they were."""
    from tempmodels.repro import DEFAULT_THREADS

    here = numerics.fingerprint()
    assert here["threads"] == DEFAULT_THREADS
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        numerics._cached.cache_clear()
        state = torch.get_rng_state()
        assert numerics.fingerprint()["id"] == here["id"]
        assert torch.get_num_threads() == 1 and torch.equal(torch.get_rng_state(), state)
    finally:
        torch.set_num_threads(saved)


def test_differences_name_what_differs():
    here = numerics.fingerprint()
    assert numerics.differences(here, here) == ""
    assert "no numerical fingerprint" in numerics.differences(None, here)
    other = {**here, "id": "0" * 16, "parts": {**here["parts"], "numpy lapack": "x"}, "cpu": "Some Other CPU"}
    why = numerics.differences(other, here)
    assert "numpy lapack" in why and "torch matmul" not in why and "Some Other CPU" in why


def test_executor_records_the_fingerprint(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    execute.record_numerics(path)
    back = nbformat.read(str(path), as_version=4)
    nbformat.validate(back)
    assert numerics.recorded(back) == numerics.fingerprint()


def _golden(folder: Path, name: str, fingerprint, source: str = "print(1 + 1)") -> None:
    """A one-cell 'golden' notebook whose stored output is wrong (1 + 1 printed as 3)."""
    cell = nbformat.v4.new_code_cell(source, execution_count=1,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="3\n")])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                         "language": "python"}})
    if fingerprint is not None:
        nb.metadata[numerics.METADATA_KEY] = {"numerics": fingerprint}
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


def _nbval(folder: Path, *notebooks: str, **env):
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval", *notebooks, "-p", "no:cacheprovider", "-rA"],
                          cwd=folder, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


def test_gate_compares_only_where_the_fingerprint_matches(tmp_path):
    """One nbval session over three golden notebooks with a wrong stored output: made on this machine
    (compared: fails), made on another (executed only: passes, and the summary says so), made on
    another but raising (fails: every cell still runs). With the strict switch the second fails too."""
    shutil.copyfile(HERE / "conftest.py", tmp_path / "conftest.py")
    here = numerics.fingerprint()
    _golden(tmp_path, "same", here)
    _golden(tmp_path, "other", {**here, "id": "0" * 16, "parts": {}})
    _golden(tmp_path, "broken", None, source="raise ValueError('broken chapter')")
    run = _nbval(tmp_path, "same.ipynb", "other.ipynb", "broken.ipynb")
    assert run.returncode == 1, run.stdout[-3000:]
    assert "FAILED same.ipynb::Cell 0" in run.stdout and "PASSED other.ipynb::Cell 0" in run.stdout
    assert "FAILED broken.ipynb::Cell 0" in run.stdout and "broken chapter" in run.stdout
    assert "outputs NOT compared for 2 chapter(s)" in run.stdout
    assert "other.ipynb: made on" in run.stdout and "broken.ipynb: it records no numerical fingerprint" in run.stdout
    listed = run.stdout.split("outputs NOT compared")[1].split("`make golden` on this machine")[0]
    assert "other.ipynb" in listed and "same.ipynb" not in listed
    strict = _nbval(tmp_path, "other.ipynb", TEMPMODELS_NBVAL_STRICT="1")
    assert strict.returncode == 1 and "Cell outputs differ" in strict.stdout
