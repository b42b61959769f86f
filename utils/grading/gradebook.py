"""The kept nbgrader course folder: the trusted results go in, formgrader, feedback and export work on it.

The course folder is an ordinary nbgrader course (by default this repository: nbgrader_config.py
with solutions/ as source and assignments/ as release), so the whole nbgrader workflow applies:

    generate_assignment -> (release, collect) -> autograde -> formgrader (hand grading) -> feedback -> export

Only the autograde step differs: nbgrader's `Execute` preprocessor is replaced by `TrustedResults`
(nbgrader_config.py), which fills each cell with the outputs of the sandboxed run and each graded
test cell with the verdict of its hidden test (utils.grading.scoring). nbgrader's own
`SaveAutoGrades` then writes the points into gradebook.db, so formgrader, `nbgrader
generate_feedback` and `nbgrader export` see ordinary autograded submissions. Plain `nbgrader
autograde` in the course folder grades the same way, one student at a time.
"""
import base64
import csv
import json
import os
import secrets
import shutil
import sys
import warnings
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from .notebooks import grade_id, is_test_cell

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS_FOLDER = ".grading"                      # inside the course folder: trusted results, the secret
MAX_TEXT_PER_OUTPUT = 20_000                     # characters of one output shown in feedback
KEPT_MIME_TYPES = ("text/plain", "image/png")   # student outputs: no HTML or JavaScript reaches formgrader


class GradingError(Exception):
    """A problem with the instructor's command (missing folder, unknown assignment, ...)."""


# ----------------------------------------------------------------------------------------------
# nbgrader preprocessors (named in nbgrader_config.py)


def safe_outputs(outputs) -> list:
    """A submission's outputs reduced to text and PNG pictures, each capped; anything else dropped."""
    kept = []
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            kept.append(nbformat.v4.new_output("stream", name="stderr" if output.get("name") == "stderr" else "stdout",
                                               text=text[:MAX_TEXT_PER_OUTPUT]))
        elif kind == "error":
            traceback = output.get("traceback", [])
            kept.append(nbformat.v4.new_output("error", ename=str(output.get("ename", "Error"))[:200],
                                               evalue=str(output.get("evalue", ""))[:MAX_TEXT_PER_OUTPUT],
                                               traceback=[str(line)[:2000] for line in traceback[-20:]]
                                               if isinstance(traceback, list) else []))
        elif kind in ("display_data", "execute_result"):
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            clean = {}
            if isinstance(data.get("text/plain"), (str, list)):
                text = data["text/plain"]
                clean["text/plain"] = ("".join(text) if isinstance(text, list) else text)[:MAX_TEXT_PER_OUTPUT]
            png = data.get("image/png")
            if isinstance(png, str) and len(png) < 2 ** 21:
                try:
                    if base64.b64decode(png, validate=True)[:8] == b"\x89PNG\r\n\x1a\n":
                        clean["image/png"] = png
                except ValueError:
                    pass
            if clean:
                kept.append(nbformat.v4.new_output("display_data", data=clean))   # never a number nbgrader could score
    return kept


def verdict_outputs(verdict: dict | None) -> list:
    """A graded test cell's outputs: the hidden test's verdict, in the words of the trusted grader."""
    if verdict is None:
        message = "not graded: this cell's test did not run (see the notes of this submission)"
        return [nbformat.v4.new_output("error", ename="NotGraded", evalue=message, traceback=[message])]
    if verdict["passed"]:
        return [nbformat.v4.new_output("stream", name="stdout", text="✓ the hidden tests of this cell passed\n")]
    message = verdict["message"]
    return [nbformat.v4.new_output("error", ename="TestFailed", evalue=message, traceback=[f"✗ {message}"])]


class TrustedResults(Preprocessor):
    """Autograde without running anything in nbgrader's process: outputs and verdicts of the trusted grader.

    It reads the result the course's grader stored for this student (`.grading/<assignment>/<student>.json`
    in the course folder). Where there is none (plain `nbgrader autograde`), it grades the notebook
    itself, in the sandbox, the same way.
    """
    enabled = Bool(True)
    unsafe = Bool(False, help="run submissions without the bubblewrap sandbox (trusted code only)").tag(config=True)
    course_root = Unicode("", help="the course folder (default: the current directory)").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        root = Path(self.course_root or os.getcwd())
        stored = root / RESULTS_FOLDER / info["assignment"] / f"{info['student']}.json"
        if stored.is_file():
            result = json.loads(stored.read_text())
        else:
            from .scoring import grade_submission
            trusted = {grade_id(cell): cell.source for cell in nb.cells if grade_id(cell) and cell.metadata.nbgrader.get("locked")}
            result = grade_submission({"student": info["student"], "notebook": json.loads(nbformat.writes(nb)),
                                       "trusted_sources": trusted, "secret": course_secret(root),
                                       "unsafe": self.unsafe})
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if is_test_cell(cell):
                cell.outputs = verdict_outputs(result["verdicts"].get(grade_id(cell)))
            else:
                cell.outputs = safe_outputs(result["outputs"].get(str(index), []))
        return nb, resources


class HideTestInternals(Preprocessor):
    """Feedback preprocessor: errors in graded test cells show only `Name: message`, never test code."""
    enabled = Bool(True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_test_cell(cell):
            kept = []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
                elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                    continue
                kept.append(output)
            cell["outputs"] = kept
        return cell, resources


class MarkPendingHandGrading(Preprocessor):
    """Feedback preprocessor: an answer not yet graded by hand says so, instead of showing a bare 0.

    nbgrader prints "Score: 0.0 / 2.0" for a written answer nobody has graded yet. After each such cell
    (and at the top of the page) a note says the points await hand grading; once the instructor has
    graded the cell (formgrader, or the Gradebook API), regenerated feedback shows the real score alone.
    """
    enabled = Bool(True)

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook
        info = resources["nbgrader"]
        cells, pending_points = [], 0.0
        with Gradebook(info["db_url"]) as gradebook:
            for cell in nb.cells:
                cells.append(cell)
                meta = cell.metadata.get("nbgrader", {})
                if not meta.get("grade"):
                    continue
                grade = gradebook.find_grade(meta["grade_id"], info["notebook"], info["assignment"], info["student"])
                if grade.manual_score is None and grade.auto_score is None:
                    pending_points += grade.max_score
                    cells.append(nbformat.v4.new_markdown_cell(
                        f"**Awaits hand grading** (up to {grade.max_score:g} points): the score shown for this "
                        "answer is a placeholder until your instructor has graded it."))
        if pending_points:
            cells.insert(0, nbformat.v4.new_markdown_cell(
                f"**Not final:** answers worth {pending_points:g} points await hand grading; the score above "
                "counts only what has been graded so far."))
        nb.cells = cells
        return nb, resources


# ----------------------------------------------------------------------------------------------
# the course folder


def course_secret(root: Path) -> str:
    """The course folder's secret (created once): hidden tests derive their random inputs from it."""
    path = Path(root) / RESULTS_FOLDER / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


class Course:
    """An nbgrader course folder that is kept between runs (gradebook.db, submitted/, autograded/, feedback/)."""

    def __init__(self, root: Path | None = None, unsafe: bool = False):
        self.root = Path(root or REPO_ROOT).resolve()
        self.unsafe = unsafe
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / "nbgrader_config.py").exists():
            shutil.copy(REPO_ROOT / "nbgrader_config.py", self.root / "nbgrader_config.py")
        self._api = None
        scripts = str(Path(sys.executable).parent)          # nbgrader runs `alembic` when it creates a gradebook
        if scripts not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")

    @property
    def api(self):
        """nbgrader's own API on this folder, configured by its nbgrader_config.py."""
        if self._api is None:
            from nbgrader.apps import NbGraderAPI
            from nbgrader.coursedir import CourseDirectory
            from traitlets.config.loader import PyFileConfigLoader
            config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
            config.CourseDirectory.root = str(self.root)
            config.TrustedResults.course_root = str(self.root)
            config.TrustedResults.unsafe = self.unsafe
            self._api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        return self._api

    def source_notebook(self, assignment: str) -> Path:
        folder = self.root / "solutions" / assignment
        notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        if not notebooks:
            if folder.is_dir() or self.root == REPO_ROOT or not (REPO_ROOT / "solutions" / assignment).is_dir():
                known = sorted({p.name for root in (self.root, REPO_ROOT) if (root / "solutions").is_dir()
                                for p in (root / "solutions").iterdir() if p.is_dir()})
                raise GradingError(f"unknown assignment {assignment!r}; choose one of: {', '.join(known) or '(none)'}")
            shutil.copytree(REPO_ROOT / "solutions" / assignment, folder,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            notebooks = sorted(folder.glob("*.ipynb"))
        if len(notebooks) != 1:
            raise GradingError(f"solutions/{assignment} must hold exactly one notebook, found {len(notebooks)}")
        return notebooks[0]

    def prepare(self, assignment: str):
        """Record the assignment's cells in the gradebook (nbgrader generate_assignment); return the release."""
        source = self.source_notebook(assignment)
        outcome = self.api.generate_assignment(assignment, force=True, create=True)
        if not outcome["success"]:
            raise GradingError(f"nbgrader generate_assignment failed:\n{outcome.get('error') or outcome.get('log')}")
        return nbformat.read(self.root / "assignments" / assignment / source.name, as_version=4)

    def trusted_sources(self, assignment: str) -> dict:
        """grade id -> the source nbgrader recorded for every locked cell (test cells with their hidden tests)."""
        from nbgrader.api import Gradebook
        notebook = self.source_notebook(assignment).stem
        with Gradebook(self.db_url) as gradebook:
            cells = gradebook.find_notebook(notebook, assignment).source_cells
            return {cell.name: cell.source for cell in cells if cell.locked}

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def submit(self, assignment: str, student: str, nb) -> Path:
        """Place a sanitised submission where nbgrader looks for it (submitted/<student>/<assignment>/)."""
        folder = self.root / "submitted" / student / assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        path = folder / self.source_notebook(assignment).name
        nbformat.write(nb, path)
        return path

    def record(self, assignment: str, student: str, result: dict) -> None:
        """Store a trusted result and let nbgrader autograde the submission with it, then write feedback."""
        stored = self.root / RESULTS_FOLDER / assignment / f"{student}.json"
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(result))
        with warnings.catch_warnings():   # nbgrader's own session handling warns on every new submission; harmless
            warnings.filterwarnings("ignore", message="Object of type <Submitted")
            outcome = self.api.autograde(assignment, student, force=True, create=True)
        if not outcome["success"]:
            raise GradingError(f"nbgrader autograde failed for {student}:\n{outcome.get('error') or outcome.get('log')}")
        outcome = self.api.generate_feedback(assignment, student, force=True)
        if not outcome["success"]:
            raise GradingError(f"nbgrader generate_feedback failed for {student}:\n{outcome.get('error') or outcome.get('log')}")

    def stored_result(self, assignment: str, student: str) -> dict:
        path = self.root / RESULTS_FOLDER / assignment / f"{student}.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def scores(self, assignment: str, student: str) -> dict:
        """Points from the gradebook (hand-graded points included): total, max, pending and each graded cell."""
        from nbgrader.api import Gradebook
        with Gradebook(self.db_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            cells, pending = {}, 0.0
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = grade.score
                    if grade.needs_manual_grade and grade.manual_score is None and grade.auto_score is None:
                        pending += grade.max_score
            return {"score": submission.score, "max_score": submission.max_score, "manual_pending": pending,
                    "cells": cells}

    def graded_students(self, assignment: str) -> list[str]:
        from nbgrader.api import Gradebook
        with Gradebook(self.db_url) as gradebook:
            return sorted(s.student.id for s in gradebook.find_assignment(assignment).submissions)

    def max_points(self, assignment: str) -> tuple[float, dict]:
        from nbgrader.api import Gradebook
        with Gradebook(self.db_url) as gradebook:
            cells = {c.name: c.max_score for nb in gradebook.find_assignment(assignment).notebooks for c in nb.grade_cells}
        return sum(cells.values()), cells

    def feedback_page(self, assignment: str, student: str) -> Path | None:
        pages = sorted((self.root / "feedback" / student / assignment).glob("*.html"))
        return pages[0] if pages else None

    def regenerate_feedback(self, assignment: str) -> None:
        outcome = self.api.generate_feedback(assignment, force=True)
        if not outcome["success"]:
            raise GradingError(f"nbgrader generate_feedback failed:\n{outcome.get('error') or outcome.get('log')}")


# ----------------------------------------------------------------------------------------------
# the class's grade sheet


def write_grades(path: Path, rows: list[dict], cells: list[str]) -> None:
    """grades.csv: one row per student; totals, points still to grade by hand, status, notes, each graded cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "manual_pending", "status", "notes", "review", *cells])
        for row in sorted(rows, key=lambda r: r["student"]):
            writer.writerow([row["student"], f"{row['score']:g}", f"{row['max_score']:g}", f"{row['manual_pending']:g}",
                             row["status"], "; ".join(row["notes"]), "; ".join(row.get("flags", [])),
                             *(f"{row['cells'].get(c, 0) or 0:g}" for c in cells)])
    temporary.replace(path)
