"""The execution pipeline: papermill parameters, profiles, atomic outputs."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from tempmodels import execute
from tempmodels.params import ParameterError

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = execute.chapters(REPO / "notebooks")


def _toy_notebook(path: Path, body: str = "print(n * 2)") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("n = 1\nname = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_code_cell("from tempmodels.params import ParameterGuard\nguard = ParameterGuard()"),
        params,
        nbformat.v4.new_code_cell("P = guard.check(globals())"),
        nbformat.v4.new_code_cell(body),
    ]
    nbformat.write(nb, path)
    return path


def _papermill(*args, cwd):
    return subprocess.run([sys.executable, "-m", "papermill", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_unknown_parameter_fails_with_clear_message(tmp_path):
    nb = _toy_notebook(tmp_path / "toy.ipynb")
    ok = _papermill(nb, tmp_path / "ok.ipynb", "-p", "n", "3", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = _papermill(nb, tmp_path / "bad.ipynb", "-p", "no_such_param", "1", cwd=tmp_path)
    assert bad.returncode != 0
    assert "unknown parameter(s) ['no_such_param']" in bad.stderr + bad.stdout


def test_wrong_type_fails(tmp_path):
    nb = _toy_notebook(tmp_path / "toy.ipynb")
    bad = _papermill(nb, tmp_path / "bad.ipynb", "-p", "n", "abc", cwd=tmp_path)
    assert bad.returncode != 0
    assert "parameter 'n' expects int" in bad.stderr + bad.stdout


def test_empty_list_is_rejected_before_any_work(tmp_path):
    nb = _toy_notebook(tmp_path / "toy.ipynb", body="raise SystemExit('work started')")
    params = nbformat.read(nb, as_version=4)
    params.cells[1].source = "seeds = [0, 1]"
    nbformat.write(params, nb)
    bad = _papermill(nb, tmp_path / "bad.ipynb", "-y", "seeds: []", cwd=tmp_path)
    assert bad.returncode != 0
    assert "parameter 'seeds' must not be empty" in bad.stderr + bad.stdout
    assert "work started" not in bad.stderr + bad.stdout
    text = _papermill(nb, tmp_path / "text.ipynb", "-p", "seeds", "[0]", cwd=tmp_path)
    assert 'give a list as YAML with -y "seeds: [0]"' in text.stderr + text.stdout


def test_a_chapter_rejects_unknown_parameters(tmp_path):
    """End to end on one real chapter (each costs a kernel and the imports); the wiring that makes
    every other chapter behave the same is checked statically below."""
    chapter = CHAPTERS[0]
    bad = _papermill(chapter, tmp_path / "out.ipynb", "-p", "no_such_param", "1", cwd=chapter.parent)
    assert bad.returncode != 0
    assert "unknown parameter(s) ['no_such_param']" in bad.stderr + bad.stdout


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_wires_the_parameter_guard(chapter):
    """The guard is made at the end of the imports cell and checks the cell after the parameters —
    where papermill injects its cell — before anything else runs."""
    code = [c for c in nbformat.read(chapter, as_version=4).cells if c.cell_type == "code"]
    i = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    assert code[i - 1].source.rstrip().splitlines()[-1] == "guard = ParameterGuard()"
    assert code[i + 1].source.lstrip().startswith("P = guard.check(globals())")
    assert "ParameterGuard" not in "".join(c.source for c in code[:i - 1])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_skeleton(chapter):
    nb = nbformat.read(chapter, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## Overview", "## Prerequisites", "## Imports", "## Parameters", "## Summary", "## References"):
        assert heading in text, f"{chapter.name} lacks {heading}"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "source notebooks hold no outputs"


def test_profiles_only_set_declared_parameters():
    execute.check_profiles(CHAPTERS, execute.load_profiles())
    assert {"quick", "cpu", "gpu"} <= set(execute.load_profiles())


def test_profile_with_undeclared_key_is_an_error(tmp_path):
    nb = _toy_notebook(tmp_path / "01_toy.ipynb")
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}, "big": {"01_toy": {"n": 5, "epochs": 3}}}))
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['epochs'\]"):
        execute.main([str(nb), "--profiles", str(profiles), "--profile", "big", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_unknown_profile_is_an_error(tmp_path):
    nb = _toy_notebook(tmp_path / "01_toy.ipynb")
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}}))
    with pytest.raises(ParameterError, match="unknown profile 'huge'"):
        execute.main([str(nb), "--profiles", str(profiles), "--profile", "huge", "--out", str(tmp_path / "out")])


def test_failed_run_keeps_last_good_output(tmp_path):
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}}))
    out, failed = tmp_path / "out", tmp_path / "failed"
    nb = _toy_notebook(tmp_path / "01_toy.ipynb")
    args = [str(nb), "--profiles", str(profiles), "--out", str(out), "--failed", str(failed)]
    assert execute.main(args) == 0
    good = (out / "01_toy.ipynb").read_text()
    assert "'n': 1" not in good and '"2\\n"' in good  # output of print(n * 2)

    _toy_notebook(nb, body="raise RuntimeError('simulated crash mid-run')")
    with pytest.raises(Exception, match="simulated crash"):
        execute.main(args)
    assert (out / "01_toy.ipynb").read_text() == good, "the last good notebook must survive a failed run"
    assert "simulated crash" in (failed / "01_toy.ipynb").read_text()
    assert sorted(p.name for p in out.iterdir()) == [".stamps", "01_toy.ipynb"], "no partial files left behind"
    assert [p.name for p in (out / ".stamps").iterdir()] == ["01_toy.json"]


def _counting_execute(monkeypatch):
    calls = []
    real = execute.execute

    def spy(nb, *a, **k):
        calls.append(nb.name)
        return real(nb, *a, **k)

    monkeypatch.setattr(execute, "execute", spy)
    return calls


def test_unchanged_chapter_is_skipped_changed_one_is_not(tmp_path, monkeypatch):
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}, "big": {"01_toy": {"n": 5}}}))
    out = tmp_path / "out"
    a, b = _toy_notebook(tmp_path / "01_toy.ipynb"), _toy_notebook(tmp_path / "02_toy.ipynb")
    args = [str(a), str(b), "--profiles", str(profiles), "--out", str(out), "--failed", str(tmp_path / "failed")]
    calls = _counting_execute(monkeypatch)
    execute.main(args)
    assert calls == ["01_toy.ipynb", "02_toy.ipynb"]
    execute.main(args)
    assert calls == ["01_toy.ipynb", "02_toy.ipynb"], "nothing changed: nothing re-executed"
    _toy_notebook(b, body="print(n * 3)")
    execute.main(args)
    assert calls[2:] == ["02_toy.ipynb"], "only the edited notebook re-executes"
    execute.main(args + ["--profile", "big"])
    assert calls[3:] == ["01_toy.ipynb"], "a profile that changes a chapter's parameters re-executes it only"
    execute.main(args + ["--force"])
    assert calls[4:] == ["01_toy.ipynb", "02_toy.ipynb"]


def test_package_change_invalidates_every_chapter(tmp_path):
    nb = _toy_notebook(tmp_path / "01_toy.ipynb")
    key = execute.chapter_key(nb, "quick", {})
    assert key == execute.chapter_key(nb, "quick", {})
    assert key != execute.chapter_key(nb, "quick", {"n": 2})
    assert key == execute.chapter_key(nb, "cpu", {}), "a profile matters through the parameters it sets"
    module = Path(execute.__file__)
    original = module.read_bytes()
    try:
        module.write_bytes(original + b"\n# touched\n")
        assert key != execute.chapter_key(nb, "quick", {})
    finally:
        module.write_bytes(original)


def test_failed_run_writes_no_stamp(tmp_path):
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}}))
    out = tmp_path / "out"
    nb = _toy_notebook(tmp_path / "01_toy.ipynb", body="raise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom"):
        execute.main([str(nb), "--profiles", str(profiles), "--out", str(out), "--failed", str(tmp_path / "f")])
    assert not (out / ".stamps" / "01_toy.json").exists()


def test_sigterm_mid_run_leaves_no_partial_notebook(tmp_path):
    """`kill` during execution: the last good output stays, no half-written file is left."""
    import signal
    import time

    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}}))
    out = tmp_path / "out"
    nb = _toy_notebook(tmp_path / "01_toy.ipynb", body="import time\nprint('started', flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-m", "tempmodels.execute", str(nb), "--profiles", str(profiles),
                             "--out", str(out), "--failed", str(tmp_path / "failed")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(".*partial*")):
        time.sleep(0.2)
    assert list(out.glob(".*partial*")), "the run never started writing"
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not list(out.glob(".*partial*")) and not (out / "01_toy.ipynb").exists()
    assert not (out / ".stamps" / "01_toy.json").exists()


def test_sigkill_partial_is_removed_by_the_next_run(tmp_path):
    """SIGKILL cannot be caught: the partial notebook stays until the next run removes it."""
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}}))
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    from tempmodels.atomic import _host

    left = out / f".01_toy.ipynb.{_host()}-{dead}.abc123xy.partial.ipynb"  # what a killed run leaves
    left.write_text("{}")
    nb = _toy_notebook(tmp_path / "01_toy.ipynb")
    run = subprocess.run([sys.executable, "-m", "tempmodels.execute", str(nb), "--profiles", str(profiles),
                          "--out", str(out), "--failed", str(tmp_path / "failed")], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"removed {left.name}" in run.stdout and not left.exists() and (out / "01_toy.ipynb").is_file()


def _splits_chapter(tmp_path):
    """A toy chapter that loads tempmodels.splits: (notebook, output folder, execute's arguments)."""
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"quick": {}}))
    out = tmp_path / "out"
    nb = _toy_notebook(tmp_path / "01_toy.ipynb", body="import tempmodels.splits\nprint(n)")
    args = [str(nb), "--profiles", str(profiles), "--out", str(out), "--failed", str(tmp_path / "failed"),
            "--timings", str(tmp_path / "t.jsonl")]
    return nb, out, args


def test_a_chapter_reexecutes_only_when_a_module_it_loaded_changed(tmp_path, monkeypatch):
    """The stamp lists the package modules the chapter's kernel loaded: touching another module (the
    video code, for an audio chapter) re-executes nothing; touching a loaded one re-executes it."""
    nb, out, args = _splits_chapter(tmp_path)
    calls = _counting_execute(monkeypatch)
    execute.main(args)
    modules = execute.read_stamp(out, nb)["modules"]
    assert "tempmodels/splits.py" in modules and "tempmodels/params.py" in modules
    assert "tempmodels/video/sprites.py" not in modules
    for rel, reruns in (("tempmodels/video/sprites.py", False), ("tempmodels/splits.py", True)):
        f = REPO / rel
        original = f.read_bytes()
        try:
            f.write_bytes(original + b"\n# touched\n")
            before = len(calls)
            execute.main(args)
            assert (len(calls) > before) == reruns, f"touching {rel}"
        finally:
            f.write_bytes(original)


def test_an_edit_during_a_chapters_run_is_not_credited_to_it(tmp_path, monkeypatch):
    """The stamp is keyed on the sources as they were when the chapter started: a module edited while
    the chapter ran makes the next build re-execute it."""
    nb, out, args = _splits_chapter(tmp_path)
    f = REPO / "tempmodels" / "splits.py"
    original = f.read_bytes()
    real = execute.execute

    def edit_while_running(*a, **k):
        res = real(*a, **k)
        f.write_bytes(original + b"\n# edited during the run\n")
        return res

    calls = _counting_execute(monkeypatch)
    try:
        monkeypatch.setattr(execute, "execute", edit_while_running)
        execute.main(args)
        monkeypatch.setattr(execute, "execute", lambda nb, *a, **k: calls.append(nb.name) or real(nb, *a, **k))
        execute.main(args)
        assert calls == ["01_toy.ipynb"], "the edited module's chapter must run again"
    finally:
        f.write_bytes(original)


#: seed lists that are not a comparison: chapter 03's capacity sweep (a curve over d, one seed per point;
#: its comparison at d = d_model has ``compare_seeds``)
NOT_A_COMPARISON = {("03_pooling_not_averaging", "seeds")}


@pytest.mark.parametrize("profile, at_least", [("cpu", 3), ("gpu", 5)])
def test_every_comparison_has_enough_seeds(profile, at_least):
    """design.md: >= 3 seeds in every cpu-profile comparison, 5 on the gpu profile."""
    profiles = execute.load_profiles()
    short = []
    for chapter in CHAPTERS:
        values = {**execute.declared_parameters(chapter), **(profiles[profile].get(chapter.stem) or {})}
        for name, seeds in values.items():
            if name.endswith("seeds") and (chapter.stem, name) not in NOT_A_COMPARISON and len(seeds) < at_least:
                short.append(f"{chapter.stem}: {name}={seeds}")
    assert not short, f"fewer than {at_least} seeds on the {profile} profile: {short}"


#: calls that draw a progress bar with timings on stderr: their cells cannot be compared by nbval
PROGRESS_CALLS = ("run_all(", "capacity_sweep(", "run_video(", "run_joint(", "run_encoder(")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_cells_that_train_hide_their_progress_bars_from_nbval(chapter):
    """A training cell's progress bar carries wall times: nbval would fail on the next run (as chapter 03's
    comparison cell once did). Such a cell is tagged nbval-ignore-output, and its checked results are
    shown by the next cell."""
    nb = nbformat.read(chapter, as_version=4)
    untagged = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "code"
                and any(call in c.source for call in PROGRESS_CALLS)
                and "nbval-ignore-output" not in c.metadata.get("tags", [])]
    assert not untagged, f"{chapter.name}: training cells without nbval-ignore-output: {untagged}"
