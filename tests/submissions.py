"""Build student submissions for grading tests: correct, untouched, alternative and tampered ones.

A "correct" submission is what a student who found the reference solutions would hand in: the
released notebook with each solution cell filled in (and no solution markers left).
"""
import copy
import csv
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from utils.grading.notebooks import (filled_release, grade_id, hidden_test_lines, leaked_lines,
                                     solution_region_removed, visible_text)

REPO = Path(__file__).resolve().parent.parent


def source_notebook(assignment: str):
    return nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def release_notebook(assignment: str):
    return nbformat.read(REPO / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)


def strip_markers(source: str) -> str:
    """Solution text without the ### BEGIN/END SOLUTION lines."""
    return solution_region_removed(source)


def solution_region_lines(source: str) -> list[str]:
    """The stripped lines between ### BEGIN SOLUTION and ### END SOLUTION."""
    lines, inside = [], False
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            inside = True
        elif "END SOLUTION" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def filled(assignment: str):
    """The released notebook with every solution cell replaced by the reference solution."""
    return filled_release(source_notebook(assignment), release_notebook(assignment))


def cell_index(nb, gid: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)


def replace_source(nb, gid: str, new_source: str):
    """A copy of nb whose cell `gid` has new_source."""
    nb = copy.deepcopy(nb)
    nb.cells[cell_index(nb, gid)].source = new_source
    return nb


def edit_source(nb, gid: str, old: str, new: str):
    """A copy of nb with `old` replaced by `new` in cell `gid` (old must occur)."""
    source = nb.cells[cell_index(nb, gid)].source
    assert old in source, f"{old!r} not found in cell {gid}"
    return replace_source(nb, gid, source.replace(old, new))


def delete_cell(nb, gid: str):
    nb = copy.deepcopy(nb)
    del nb.cells[cell_index(nb, gid)]
    return nb


def duplicate_cell(nb, gid: str):
    nb = copy.deepcopy(nb)
    index = cell_index(nb, gid)
    twin = copy.deepcopy(nb.cells[index])
    nb.cells.insert(index + 1, twin)
    return nb


def strip_metadata(nb):
    """What a notebook looks like after copy-pasting its cells into a fresh one."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata = {}
    return nb


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def with_sources(nb, sources: dict):
    """A copy of nb with each cell named in `sources` (grade id -> new source) replaced."""
    for gid, source in sources.items():
        nb = replace_source(nb, gid, source.strip())
    return nb


def points_except(points: dict, lost: list[str]) -> dict:
    """Expected points per graded cell: full points, except 0 for the cells in `lost`."""
    return {cell: (0 if cell in lost else value) for cell, value in points.items()}


def autograde_class(assignment: str, submitted: Path, out: Path, cell_timeout: int = 60, jobs: int = 2,
                    course_dir: Path | None = None) -> tuple[dict, str]:
    """Grade a folder of submissions with the instructor's command; return (rows by student, its output)."""
    course_dir = course_dir or out.parent / "course"
    result = subprocess.run([sys.executable, "-m", "utils.grading", "autograde", assignment, str(submitted),
                             "--course-dir", str(course_dir), "--out", str(out), "--cell-timeout", str(cell_timeout),
                             "--jobs", str(jobs)],
                            cwd=REPO, capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return rows, result.stdout


@dataclass
class GradedClass:
    """A class of submissions graded once: grades.csv rows, expected points, feedback pages."""
    assignment: str
    rows: dict          # student -> row of grades.csv
    expected: dict      # student -> expected points: {graded cell: points} (check_points) or a total
    out: Path
    stdout: str

    def feedback(self, student: str) -> str:
        """The text a student reads on their feedback page."""
        return visible_text((self.out / "feedback" / f"{student}.html").read_text())

    def check_points(self, student: str, max_score: float) -> None:
        """The student's row has exactly the expected points in every graded cell."""
        row, expected = self.rows[student], self.expected[student]
        assert row["status"] == "graded", f"{student}: {row}"
        found = {cell: float(row[cell]) for cell in expected}
        assert found == expected, f"{student}: got {found}\n{self.stdout}"
        assert float(row["score"]) == sum(expected.values())
        assert float(row["max_score"]) == max_score

    def check_feedback_hides_hidden_tests(self) -> None:
        """Every graded student has a feedback page, and none shows a hidden test."""
        secrets = hidden_test_lines(REPO / "solutions" / self.assignment / f"{self.assignment}.ipynb")
        graded = sorted(s for s, row in self.rows.items() if row["status"] == "graded")
        assert sorted(p.stem for p in (self.out / "feedback").glob("*.html")) == graded
        for student in graded:
            text = (self.out / "feedback" / f"{student}.html").read_text()
            assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
            assert not leaked_lines(visible_text(text), secrets), f"{student}'s feedback shows hidden tests"


def grade_class(assignment: str, root: Path, students: dict, cell_timeout: int = 60) -> GradedClass:
    """Write students (name -> (notebook, expected points per cell)) under root, grade them once."""
    for student, (nb, _) in students.items():
        write(nb, root / "submitted" / student / f"{assignment}.ipynb")
    rows, stdout = autograde_class(assignment, root / "submitted", root / "out", cell_timeout)
    expected = {student: points for student, (_, points) in students.items()}
    return GradedClass(assignment, rows, expected, root / "out", stdout)
