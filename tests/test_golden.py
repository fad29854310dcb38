"""The reviewed outputs (tests/golden) belong to the current notebooks.

nbval re-executes the *golden* notebooks, so a source notebook edited without `make golden` would
go untested: this fails first and says what to run. Results that shift because the package
changed are caught by nbval itself, cell by cell.
"""
from pathlib import Path

import nbformat
import pytest

from tempmodels import execute

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = execute.chapters(REPO / "notebooks")
GOLDEN = REPO / "tests" / "golden"


def _cells(nb):
    return [(c.cell_type, c.source) for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_is_current(chapter):
    golden = GOLDEN / chapter.name
    assert golden.is_file(), f"{golden} is missing: run `make golden`, review and commit it"
    src, gold = nbformat.read(chapter, as_version=4), nbformat.read(golden, as_version=4)
    assert _cells(gold) == _cells(src), (f"{golden.name} is stale: {chapter} changed since its reviewed outputs were "
                                         "made. Run `make golden`, review `git diff tests/golden`, commit both.")
    used = gold.metadata.get("papermill", {}).get("parameters")
    expected = execute.parameters_for(chapter, "quick", execute.load_profiles())
    assert used == expected, f"{golden.name} was executed with {used}, not the quick profile {expected}"


def test_golden_has_no_orphans():
    names = {p.name for p in CHAPTERS}
    orphans = [p.name for p in GOLDEN.glob("*.ipynb") if p.name not in names and not p.name.startswith(".")]
    assert not orphans, f"golden notebooks without a source notebook: {orphans}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_has_no_errors(chapter):
    gold = nbformat.read(GOLDEN / chapter.name, as_version=4)
    errors = [i for i, c in enumerate(gold.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert not errors, f"{chapter.name}: error outputs in cells {errors}"
