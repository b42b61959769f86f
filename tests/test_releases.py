"""Every homework: the committed student version is current and holds no solution or hidden test."""
from pathlib import Path

import nbformat
import pytest

import submissions as subs
from utils.grading.cli import release
from utils.grading.notebooks import SOLUTION_MARKERS, grade_id, hidden_test_lines, leaked_lines

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())


def test_every_homework_is_released():
    assert ASSIGNMENTS and ASSIGNMENTS == sorted(p.name for p in (REPO / "assignments").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_matches_committed_assignment(assignment, tmp_path):
    fresh = nbformat.read(release(assignment, tmp_path / assignment) / f"{assignment}.ipynb", as_version=4)
    committed = subs.release_notebook(assignment)
    rerun = f"run `python -m utils.grading release {assignment}` and commit assignments/{assignment}"
    assert len(fresh.cells) == len(committed.cells), rerun
    for new, old in zip(fresh.cells, committed.cells):
        assert (new.cell_type, new.source, new.metadata.get("nbgrader")) == \
               (old.cell_type, old.source, old.metadata.get("nbgrader")), f"cell {grade_id(new)} is out of date: {rerun}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_assignment_holds_no_solution_or_hidden_test_text(assignment):
    source = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    secrets = hidden_test_lines(source)
    solution_lines = [line for cell in subs.source_notebook(assignment).cells for line in subs.solution_region_lines(cell.source)
                      if len(line) >= 25 and not line.startswith(("from ", "import "))]
    assert secrets and solution_lines
    for path in (REPO / "assignments" / assignment).rglob("*"):
        if path.is_file():
            text = path.read_text(errors="ignore")
            assert not [m for m in SOLUTION_MARKERS if m in text], f"{path} contains solution markers"
            assert not leaked_lines(text, secrets), f"{path} contains hidden-test code"
            assert not leaked_lines(text, solution_lines), f"{path} contains solution code"
