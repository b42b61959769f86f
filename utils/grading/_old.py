"""Instructor tools: release homework and autograde a class, one student at a time.

    python -m utils.grading release hw1            # solutions/hw1 -> assignments/hw1 (no name: all)
    python -m utils.grading autograde hw1 SUBMISSIONS_DIR --out grades/hw1

SUBMISSIONS_DIR holds one notebook per student, either as `<student>.ipynb` or as
`<student>/<anything>.ipynb`. The output folder receives `grades.csv` (one row per student, one column
per graded cell), `feedback/<student>.html` (hidden tests removed) and `log/<student>.txt`.

Grading is built to survive anything a student submits:
- each submission is sanitised first (outputs cleared, duplicated nbgrader cells demoted to plain
  cells, nbgrader metadata restored when it was stripped, the kernel set to python3);
- each student is graded by a separate nbgrader process, so one broken notebook never stops the
  others; a cell that runs past the per-cell timeout is interrupted and graded as an error;
- an answer cell that kills the Python kernel (os._exit, a crash) is replaced by an error and the
  notebook is graded again, so the student keeps the points of every other part (if a locked cell
  dies, e.g. a test calling the student's code, the student is listed for grading by hand);
- a student whose notebook cannot be graded at all still gets a row (score 0, the reason).
"""
import argparse
import copy
import csv
import difflib
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
KERNEL_DEATH_MESSAGE = ("The grader skipped this cell: running it stopped the Python kernel "
                        "(os._exit, sys.exit in a subprocess, a crash or running out of memory).")
MAX_KERNEL_DEATHS = 3


class GradingError(Exception):
    """A problem with the instructor's command (missing folder, unknown assignment, ...)."""


# ----------------------------------------------------------------------------------------------
# nbgrader metadata helpers


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def hidden_test_lines(source_notebook: Path) -> list[str]:
    """The distinctive lines inside hidden-test regions of a source notebook (for leak checks)."""
    lines, inside = [], False
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 25:
                lines.append(line.strip())
    return lines


def visible_text(html_text: str) -> str:
    """What a reader of an HTML page sees: tags removed, entities decoded, spaces collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"[ \t]+", " ", text)


def leaked_lines(text: str, secret_lines: list[str]) -> list[str]:
    """The secret lines that appear in text as whole statements (whitespace collapsed in both)."""
    flat = re.sub(r"\s+", " ", text)
    return [line for line in secret_lines
            if re.search(r"(?<![\w.])" + re.escape(re.sub(r"\s+", " ", line)) + r"(?![\w])", flat)]


class HideTestInternals(Preprocessor):
    """Feedback preprocessor: errors in graded test cells show only `Name: message`.

    A full traceback would print the hidden test line that failed; the message already says what is
    wrong (the tests are written so that it does).
    """

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_test_cell(cell):
            kept = []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
                elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                    continue  # warnings quote the source line that raised them
                kept.append(output)
            cell["outputs"] = kept
        return cell, resources


# ----------------------------------------------------------------------------------------------
# sanitising a submission


def _restore_stripped_metadata(nb, release) -> int:
    """Copy nbgrader metadata from the release onto cells whose metadata a student lost.

    Cells that the student did not edit (instructions, tests) are matched by identical source; a
    solution cell is matched to the first unlabelled code cell between its matched neighbours.
    Returns the number of cells restored.
    """
    have = {grade_id(c) for c in nb.cells if grade_id(c)}
    release_cells = release.cells
    matcher = difflib.SequenceMatcher(a=[c.source for c in release_cells], b=[c.source for c in nb.cells], autojunk=False)
    mapping = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[block.a + k] = block.b + k
    restored = 0
    for i, cell in enumerate(release_cells):
        gid = grade_id(cell)
        if not gid or gid in have:
            continue
        j = mapping.get(i)
        if j is None and cell.metadata["nbgrader"].get("solution"):
            before = max((mapping[k] for k in mapping if k < i), default=-1)
            after = min((mapping[k] for k in mapping if k > i), default=len(nb.cells))
            gap = [k for k in range(before + 1, after) if nb.cells[k].cell_type == cell.cell_type and not grade_id(nb.cells[k])]
            j = gap[0] if gap else None
        if j is not None and not grade_id(nb.cells[j]):
            nb.cells[j].metadata["nbgrader"] = dict(cell.metadata["nbgrader"])
            have.add(gid)
            restored += 1
    return restored


def _restore_deleted_cells(nb, release) -> list[str]:
    """Put back release cells with an nbgrader id that the student deleted, where they were.

    Locked cells (instructions, visible checks, tests) come back as released; nbgrader then
    overwrites graded tests with their full version. A deleted answer cell comes back as the stub.
    (nbgrader's own add_missing_cells handles only some positions, so this runs first.)
    """
    restored = []
    insert_at = 0
    for cell in release.cells:
        gid = grade_id(cell)
        positions = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c)}
        if gid is None:
            continue
        if gid in positions:
            insert_at = positions[gid] + 1
        else:
            nb.cells.insert(insert_at, copy.deepcopy(cell))
            insert_at += 1
            restored.append(gid)
    return restored


def sanitize(notebook_path: Path, release_path: Path, output_path: Path) -> list[str]:
    """Write a gradable copy of a student's notebook; return notes on what was changed.

    Raises GradingError if the file is not a readable notebook at all.
    """
    try:
        nb = nbformat.read(notebook_path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, wrong version...
        raise GradingError(f"cannot read {notebook_path.name} as a notebook: {error}") from error
    release = nbformat.read(release_path, as_version=4)
    notes = []
    restored = _restore_stripped_metadata(nb, release)
    if restored:
        notes.append(f"restored nbgrader metadata on {restored} cell(s)")
    seen_ids, seen_cell_ids = set(), set()
    for index, cell in enumerate(nb.cells):
        cell.setdefault("metadata", {})
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        gid = grade_id(cell)
        if gid is not None:
            if gid in seen_ids:   # a duplicated nbgrader cell: keep its code, drop its grading role
                del cell.metadata["nbgrader"]
                notes.append(f"cell {index} duplicated {gid!r}; it now runs as an ordinary cell")
            seen_ids.add(gid)
    deleted = _restore_deleted_cells(nb, release)
    if deleted:
        notes.append(f"restored deleted cell(s) {', '.join(deleted)}")
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if cell_id is None or cell_id in seen_cell_ids:
            cell["id"] = f"cell-{index}"
        seen_cell_ids.add(cell["id"])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output_path)
    return notes


# ----------------------------------------------------------------------------------------------
# running nbgrader


def _nbgrader(args: list[str], course_dir: Path, extra: list[str] = (), timeout: float = 3600) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in course_dir with the repository's nbgrader_config.py."""
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))  # nbgrader runs `alembic`
    command = [sys.executable, "-m", "nbgrader", *args, "--force",
               f"--CourseDirectory.root={course_dir}",
               f"--CourseDirectory.db_url=sqlite:///{course_dir / 'gradebook.db'}", *extra]
    try:
        return subprocess.run(command, cwd=course_dir, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(command, 124, error.stdout or "", f"timed out after {timeout} s")


def _course_dir_with_source(root: Path, assignment: str) -> Path:
    """A fresh nbgrader course folder under root with solutions/<assignment> copied in."""
    course_dir = root / "course"
    source = REPO_ROOT / "solutions" / assignment
    shutil.copytree(source, course_dir / "solutions" / assignment, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    return course_dir


def check_assignment(assignment: str) -> Path:
    """The source folder of an assignment; raise GradingError listing the valid names."""
    folder = REPO_ROOT / "solutions" / assignment
    if not re.fullmatch(r"[A-Za-z0-9_-]+", assignment or "") or not folder.is_dir():
        known = sorted(p.name for p in (REPO_ROOT / "solutions").iterdir() if p.is_dir())
        raise GradingError(f"unknown assignment {assignment!r}; choose one of: {', '.join(known)}")
    return folder


def release(assignment: str, destination: Path | None = None) -> Path:
    """Generate the student version of `assignment` into destination (default assignments/<hw>)."""
    check_assignment(assignment)
    destination = destination or REPO_ROOT / "assignments" / assignment
    with tempfile.TemporaryDirectory() as tmp:
        course_dir = _course_dir_with_source(Path(tmp), assignment)
        result = _nbgrader(["generate_assignment", assignment], course_dir)
        if result.returncode != 0:
            raise GradingError(f"nbgrader generate_assignment failed:\n{result.stdout}\n{result.stderr}")
        generated = course_dir / "assignments" / assignment
        for path in generated.rglob("*.ipynb"):
            text = path.read_text()
            if any(marker in text for marker in SOLUTION_MARKERS):
                raise GradingError(f"{path.name}: solution or hidden-test markers survived the release")
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(generated, destination)
    return destination


# ----------------------------------------------------------------------------------------------
# autograding a class


@dataclass
class StudentResult:
    student: str
    status: str = "graded"
    notes: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)      # grade cell -> points
    score: float = 0.0
    max_score: float = 0.0
    manual_pending: float = 0.0                      # points that a person still has to grade


def find_submissions(folder: Path) -> dict[str, Path]:
    """student id -> notebook, from `<student>.ipynb` files and `<student>/*.ipynb` folders."""
    if not folder.is_dir():
        raise GradingError(f"submissions folder {folder} does not exist (expected one notebook per student)")
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".ipynb" and path.is_file():
            found[path.stem] = path
        elif path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if notebooks:
                found[path.name] = notebooks[0]
    if not found:
        raise GradingError(f"no notebooks found in {folder}: expected <student>.ipynb files or <student>/ folders")
    bad = [s for s in found if not re.fullmatch(r"[A-Za-z0-9_.@-]+", s)]
    if bad:
        raise GradingError(f"student ids may only use letters, digits and _.@-; rename: {', '.join(bad)}")
    return found


def _fatal_cell(notebook_path: Path, cell_timeout: int) -> int | None:
    """Execute a notebook cell by cell; return the index of the cell that killed the kernel, if any."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    nb = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(notebook_path.parent)}})
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    return index
    except DeadKernelError:
        return None
    finally:
        os.environ.pop("NBGRADER_EXECUTION", None)
    return None


def _autograde_student(course_dir: Path, assignment: str, student: str, cell_timeout: int, log) -> tuple[bool, list]:
    """Autograde one student, skipping cells that kill the kernel. Returns (succeeded, notes)."""
    notes = []
    extra = [f"--Execute.timeout={cell_timeout}"]
    submitted = next((course_dir / "submitted" / student / assignment).glob("*.ipynb"))
    for _ in range(MAX_KERNEL_DEATHS + 1):
        result = _nbgrader(["autograde", assignment, f"--student={student}"], course_dir, extra)
        log.write(result.stdout + result.stderr)
        autograded = course_dir / "autograded" / student / assignment / submitted.name
        if result.returncode == 0 and autograded.exists():
            return True, notes
        fatal = _fatal_cell(submitted, cell_timeout)
        if fatal is None:
            notes.append("nbgrader could not grade this notebook (see the log)")
            return False, notes
        nb = nbformat.read(submitted, as_version=4)
        if nb.cells[fatal].get("metadata", {}).get("nbgrader", {}).get("locked"):
            # nbgrader restores locked cells, so skipping this one would only kill the kernel again
            notes.append(f"cell {fatal} (a locked cell, e.g. a test calling the student's code) stopped the "
                         "kernel; grade this notebook by hand")
            return False, notes
        nb.cells[fatal].source = f"raise RuntimeError({KERNEL_DEATH_MESSAGE!r})"
        nbformat.write(nb, submitted)
        notes.append(f"cell {fatal} stopped the kernel and was skipped")
    return False, notes


def _read_grades(course_dir: Path, assignment: str, result: StudentResult) -> None:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, result.student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                result.scores[grade.name] = grade.score
                if grade.needs_manual_grade and grade.auto_score is None:
                    result.manual_pending += grade.max_score
        result.score, result.max_score = submission.score, submission.max_score


def _zero_scores(course_dir: Path, assignment: str, result: StudentResult) -> None:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        for notebook in gradebook.find_assignment(assignment).notebooks:
            for cell in notebook.grade_cells:
                result.scores[cell.name] = 0.0
                result.max_score += cell.max_score


def _write_feedback(course_dir: Path, assignment: str, student: str, out_dir: Path, secrets: list[str], log) -> str:
    result = _nbgrader(["generate_feedback", assignment, f"--student={student}"], course_dir)
    log.write(result.stdout + result.stderr)
    pages = sorted((course_dir / "feedback" / student / assignment).glob("*.html"))
    if not pages:
        return "no feedback page"
    text = pages[0].read_text()
    submitted = next((course_dir / "submitted" / student / assignment).glob("*.ipynb"))
    own_lines = {line.strip() for cell in nbformat.read(submitted, as_version=4).cells if not is_test_cell(cell)
                 for line in cell.source.splitlines()}   # a student may show their own code, even if it matches
    leaks = leaked_lines(visible_text(text), [line for line in secrets if line not in own_lines])
    if leaks:  # never hand out hidden tests, even if nbgrader's own removal failed
        return f"feedback withheld: it would show {len(leaks)} hidden-test line(s)"
    (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
    (out_dir / "feedback" / f"{student}.html").write_text(text)
    return ""


def autograde(assignment: str, submissions: Path, out_dir: Path, cell_timeout: int = 60,
              progress=print) -> list[StudentResult]:
    """Grade every notebook in `submissions`; write grades.csv, feedback/ and log/ into out_dir."""
    source_dir = check_assignment(assignment)
    found = find_submissions(Path(submissions))
    out_dir = Path(out_dir)
    (out_dir / "log").mkdir(parents=True, exist_ok=True)
    source_notebook = next(source_dir.glob("*.ipynb"))
    secrets = hidden_test_lines(source_notebook)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        course_dir = _course_dir_with_source(Path(tmp), assignment)
        prepared = _nbgrader(["generate_assignment", assignment], course_dir)
        if prepared.returncode != 0:
            raise GradingError(f"nbgrader generate_assignment failed:\n{prepared.stdout}\n{prepared.stderr}")
        release_notebook = course_dir / "assignments" / assignment / source_notebook.name
        for student, path in found.items():
            result = StudentResult(student)
            results.append(result)
            with open(out_dir / "log" / f"{student}.txt", "w") as log:
                try:
                    target = course_dir / "submitted" / student / assignment / source_notebook.name
                    result.notes += sanitize(path, release_notebook, target)
                    ok, notes = _autograde_student(course_dir, assignment, student, cell_timeout, log)
                    result.notes += notes
                except GradingError as error:
                    ok = False
                    result.notes.append(str(error))
                if ok:
                    _read_grades(course_dir, assignment, result)
                    problem = _write_feedback(course_dir, assignment, student, out_dir, secrets, log)
                    if problem:
                        result.notes.append(problem)
                else:
                    result.status = "not graded"
                    _zero_scores(course_dir, assignment, result)
            progress(f"{student}: {result.status}, {result.score:g}/{result.max_score:g}"
                     + (f" ({'; '.join(result.notes)})" if result.notes else ""))
    write_csv(results, out_dir / "grades.csv")
    return results


def write_csv(results: list[StudentResult], path: Path) -> None:
    """One row per student: totals, pending manual points, status, notes, then each graded cell."""
    cells = list(dict.fromkeys(name for r in results for name in r.scores))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "manual_pending", "status", "notes", *cells])
        for r in results:
            writer.writerow([r.student, f"{r.score:g}", f"{r.max_score:g}", f"{r.manual_pending:g}", r.status,
                             "; ".join(r.notes), *(f"{r.scores.get(c, 0):g}" for c in cells)])


# ----------------------------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.grading", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate assignments/<hw> from solutions/<hw>")
    rel.add_argument("assignments", nargs="*", help="e.g. hw1 (default: every folder in solutions/)")
    grade = commands.add_parser("autograde", help="grade a folder of submissions")
    grade.add_argument("assignment", help="e.g. hw1")
    grade.add_argument("submissions", type=Path, help="folder with <student>.ipynb or <student>/ notebooks")
    grade.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/ and log/")
    grade.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell before it is interrupted")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for name in args.assignments or sorted(p.name for p in (REPO_ROOT / "solutions").iterdir() if p.is_dir()):
                print(f"released {release(name).relative_to(REPO_ROOT)}")
        else:
            if args.cell_timeout <= 0:
                raise GradingError("--cell-timeout must be a positive number of seconds")
            results = autograde(args.assignment, args.submissions, args.out, args.cell_timeout)
            print(f"grades: {args.out / 'grades.csv'} ({len(results)} students)")
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
