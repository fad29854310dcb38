"""The numerical fingerprint, and the nbval gate that compares golden outputs only where it matches."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tempmodels import execute, numerics

HERE = Path(__file__).resolve().parent


def test_fingerprint_is_stable_across_processes():
    here = numerics.fingerprint()
    assert set(here["parts"]) == set(numerics.PARTS) and len(here["id"]) == 16
    other = subprocess.run([sys.executable, "-m", "tempmodels.numerics"], capture_output=True, text=True, check=True)
    assert f'"id": "{here["id"]}"' in other.stdout


def test_fingerprint_sees_a_different_thread_count():
    # another kernel path (here: one thread instead of two) is another machine as far as bits go
    out = subprocess.run([sys.executable, "-m", "tempmodels.numerics"], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if numerics.fingerprint()["threads"] == 1:
        pytest.skip("this machine already runs one thread")
    assert f'"id": "{numerics.fingerprint()["id"]}"' not in out.stdout


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


def _golden(tmp_path, fingerprint):
    """A one-cell 'golden' notebook whose stored output is wrong (1 + 1 printed as 3)."""
    cell = nbformat.v4.new_code_cell("print(1 + 1)", execution_count=1,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="3\n")])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                         "language": "python"}})
    if fingerprint is not None:
        nb.metadata[numerics.METADATA_KEY] = {"numerics": fingerprint}
    nbformat.write(nb, str(tmp_path / "golden.ipynb"))
    shutil.copyfile(HERE / "conftest.py", tmp_path / "conftest.py")


def _nbval(tmp_path, **env):
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval", "golden.ipynb", "-p", "no:cacheprovider", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


def test_gate_compares_where_the_fingerprint_matches(tmp_path):
    _golden(tmp_path, numerics.fingerprint())
    run = _nbval(tmp_path)
    assert run.returncode == 1 and "Cell outputs differ" in run.stdout, run.stdout[-2000:]


def test_gate_executes_only_and_says_so_where_it_differs(tmp_path):
    _golden(tmp_path, {**numerics.fingerprint(), "id": "0" * 16, "parts": {}})
    run = _nbval(tmp_path)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "outputs NOT compared for 1 chapter" in run.stdout and "golden.ipynb: made on" in run.stdout
    strict = _nbval(tmp_path, TEMPMODELS_NBVAL_STRICT="1")
    assert strict.returncode == 1 and "Cell outputs differ" in strict.stdout


def test_gate_still_fails_on_an_error_where_it_differs(tmp_path):
    _golden(tmp_path, None)
    nb = nbformat.read(str(tmp_path / "golden.ipynb"), as_version=4)
    nb.cells[0].source = "raise ValueError('broken chapter')"
    nbformat.write(nb, str(tmp_path / "golden.ipynb"))
    run = _nbval(tmp_path)
    assert run.returncode == 1 and "broken chapter" in run.stdout
