"""The instructor's commands: release, autograde, feedback, export (python -m utils.grading ...)."""
import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .gradebook import REPO_ROOT, Course, GradingError, course_secret, write_grades
from .notebooks import SOLUTION_MARKERS
from .submission import SubmissionUnreadable, find_submissions, restore_locked_cells, sanitize

USAGE = """\
python -m utils.grading release [hw ...]                  solutions/<hw> -> assignments/<hw> (all by default)
python -m utils.grading autograde hw SUBMISSIONS [options] grade a class into the kept course folder
python -m utils.grading feedback hw [--course-dir DIR]      regenerate feedback after hand grading
python -m utils.grading export hw [--course-dir DIR]        grades.csv from the gradebook (hand-graded points too)
"""


# ----------------------------------------------------------------------------------------------
# release


def release(assignment: str, destination: Path | None = None) -> Path:
    """Generate the student version of `assignment` (default into assignments/<hw>) with real nbgrader."""
    import tempfile
    if not (REPO_ROOT / "solutions" / assignment).is_dir():
        known = sorted(p.name for p in (REPO_ROOT / "solutions").iterdir() if p.is_dir())
        raise GradingError(f"unknown assignment {assignment!r}; choose one of: {', '.join(known)}")
    destination = Path(destination or REPO_ROOT / "assignments" / assignment)
    with tempfile.TemporaryDirectory() as tmp:
        course = Course(Path(tmp) / "course")
        course.prepare(assignment)
        generated = course.root / "assignments" / assignment
        for path in generated.rglob("*.ipynb"):
            if any(marker in path.read_text() for marker in SOLUTION_MARKERS):
                raise GradingError(f"{path.name}: solution or hidden-test markers survived the release")
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(generated, destination)
    return destination


# ----------------------------------------------------------------------------------------------
# autograde


def _executor(jobs: int, scheduler: str | None):
    """Local worker processes (--jobs), or a dask.distributed cluster (--scheduler ADDRESS)."""
    if scheduler:
        from distributed import Client
        return Client(scheduler)
    import multiprocessing
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_the_grader)


def _die_with_the_grader() -> None:
    """A worker (and so its sandbox, started with --die-with-parent) is killed when the grader dies."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _completed(executor, futures):
    if hasattr(executor, "scheduler"):                  # a dask Client
        from distributed import as_completed as dask_completed
        return dask_completed(futures)
    return as_completed(futures)


def autograde(assignment: str, submissions: Path, course_dir: Path | None = None, out: Path | None = None,
              jobs: int | None = None, scheduler: str | None = None, cell_timeout: float = 60, unsafe: bool = False,
              progress=print) -> list[dict]:
    """Grade every submission in `submissions` into the kept course folder; write grades.csv as students finish."""
    from .sandbox import bubblewrap_problem
    from .scoring import grade_submission
    if not unsafe and (problem := bubblewrap_problem()):
        raise GradingError(f"no sandbox for student code: {problem}. Install bubblewrap, or pass --unsafe "
                           "to run submissions with your own rights (only for code you trust).")
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist (expected one notebook per student)")
    course = Course(course_dir, unsafe=unsafe)
    course.source_notebook(assignment)                  # an unknown assignment fails before the gradebook is touched
    found, skipped = find_submissions(submissions)
    if not found and not skipped:
        raise GradingError(f"no notebooks found in {submissions}: expected <student>.ipynb files or <student>/ folders")
    release_nb = course.prepare(assignment)
    trusted = course.trusted_sources(assignment)
    secret = course_secret(course.root)
    max_score, max_cells = course.max_points(assignment)
    cells = list(max_cells)
    out = Path(out or course.root / "grades" / assignment)
    rows = [{"student": name, "score": 0, "max_score": max_score, "manual_pending": 0, "status": "not graded",
             "notes": [why], "cells": {}} for name, why in skipped.items()]
    jobs = jobs or os.cpu_count() or 1
    executor = _executor(jobs, scheduler)
    futures = {}
    try:
        originals = course.root / ".grading" / assignment / "originals"      # what each student handed in, untouched
        originals.mkdir(parents=True, exist_ok=True)
        for student, path in found.items():
            shutil.copyfile(path, originals / f"{student}.ipynb")
            try:
                nb, notes = sanitize(path, release_nb)
            except SubmissionUnreadable as error:
                rows.append({"student": student, "score": 0, "max_score": max_score, "manual_pending": 0,
                             "status": "not graded", "notes": [f"cannot read {path.name}: {error}"], "cells": {}})
                progress(f"{student}: not graded ({error})")
                continue
            edited = restore_locked_cells(nb, trusted)
            if edited:
                notes.append(f"edited locked cell(s) {', '.join(edited)}: the released version was used")
            course.submit(assignment, student, nb)
            job = {"student": student, "notebook": nb, "trusted_sources": trusted, "secret": secret,
                   "limits": {"cell_timeout": cell_timeout}, "unsafe": unsafe}
            futures[executor.submit(grade_submission, job)] = (student, notes)
        write_grades(out / "grades.csv", rows, cells)
        for future in _completed(executor, list(futures)):
            student, notes = futures[future]
            rows.append(_finish(course, assignment, student, notes, future, max_score))
            row = rows[-1]
            progress(f"{student}: {row['status']}, {row['score']:g}/{row['max_score']:g}"
                     + (f" ({'; '.join(row['notes'])})" if row["notes"] else ""))
            write_grades(out / "grades.csv", rows, cells)
    finally:
        if hasattr(executor, "scheduler"):
            executor.close()
        else:
            executor.shutdown(cancel_futures=True)
    _copy_feedback(course, assignment, [r["student"] for r in rows if r["status"] == "graded"], out)
    return rows


def _finish(course: Course, assignment: str, student: str, notes: list, future, max_score: float) -> dict:
    """Write one student's trusted result into the gradebook; return their grade-sheet row."""
    row = {"student": student, "score": 0, "max_score": max_score, "manual_pending": 0, "status": "not graded",
           "notes": list(notes), "flags": [], "cells": {}}
    try:
        result = future.result()
    except Exception as error:   # a worker that crashed costs only this student
        row["notes"].append(f"the grader failed on this submission: {type(error).__name__}: {error}")
        return row
    row["notes"] += result["notes"]
    row["flags"] = [f"flagged for review: {flag}" for flag in result["flags"]]
    row["seconds"] = dict(result["seconds"])
    if not result["graded"]:
        return row
    started = time.monotonic()
    try:
        course.record(assignment, student, result)
    except GradingError as error:
        row["notes"].append(str(error).splitlines()[0])
        return row
    row["seconds"]["gradebook"] = round(time.monotonic() - started, 2)
    scores = course.scores(assignment, student)
    row.update(status="graded", score=scores["score"], manual_pending=scores["manual_pending"], cells=scores["cells"])
    return row


def _copy_feedback(course: Course, assignment: str, students: list[str], out: Path) -> None:
    """out/feedback/<student>.html for every graded student (nbgrader's pages, hidden tests removed)."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    for student in students:
        page = course.feedback_page(assignment, student)
        if page is not None:
            shutil.copy(page, out / "feedback" / f"{student}.html")


# ----------------------------------------------------------------------------------------------
# after hand grading


def export(assignment: str, course_dir: Path | None = None, out: Path | None = None) -> Path:
    """grades.csv from the gradebook: autograded and hand-graded points, with the grader's notes."""
    course = Course(course_dir)
    max_score, max_cells = course.max_points(assignment)
    rows = []
    for student in course.graded_students(assignment):
        stored = course.stored_result(assignment, student)
        scores = course.scores(assignment, student)
        rows.append({"student": student, "status": "graded", "notes": stored.get("notes", []),
                     "flags": [f"flagged for review: {f}" for f in stored.get("flags", [])], **scores})
    path = Path(out or course.root / "grades" / assignment) / "grades.csv"
    write_grades(path, rows, list(max_cells))
    return path


def feedback(assignment: str, course_dir: Path | None = None, out: Path | None = None) -> Path:
    """Regenerate every feedback page (after hand grading) and copy them to out/feedback/."""
    course = Course(course_dir)
    course.regenerate_feedback(assignment)
    out = Path(out or course.root / "grades" / assignment)
    _copy_feedback(course, assignment, course.graded_students(assignment), out)
    return out / "feedback"


# ----------------------------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.grading", usage=USAGE,
                                     description="Release homework and grade a class with nbgrader, in a sandbox.")
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate assignments/<hw> from solutions/<hw>")
    rel.add_argument("assignments", nargs="*", help="e.g. hw1 (default: every folder in solutions/)")
    grade = commands.add_parser("autograde", help="grade a folder of submissions")
    grade.add_argument("assignment", help="e.g. hw1")
    grade.add_argument("submissions", type=Path, help="folder with <student>.ipynb files or <student>/ folders")
    for command in (grade, commands.add_parser("feedback", help="regenerate feedback after hand grading"),
                    commands.add_parser("export", help="write grades.csv from the gradebook")):
        if command is not grade:
            command.add_argument("assignment", help="e.g. hw1")
        command.add_argument("--course-dir", type=Path, default=None,
                             help="the nbgrader course folder to keep (default: this repository)")
        command.add_argument("--out", type=Path, default=None, help="where grades.csv and feedback/ go "
                             "(default: <course-dir>/grades/<hw>)")
    grade.add_argument("--jobs", type=int, default=None, help="students graded at once (default: number of cores)")
    grade.add_argument("--scheduler", default=None, help="a dask.distributed scheduler address to grade on a cluster")
    grade.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell and per hidden-test call")
    grade.add_argument("--unsafe", action="store_true", help="run submissions without the sandbox (trusted code only)")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for name in args.assignments or sorted(p.name for p in (REPO_ROOT / "solutions").iterdir() if p.is_dir()):
                print(f"released {release(name).relative_to(REPO_ROOT)}")
        elif args.command == "autograde":
            if args.cell_timeout <= 0 or (args.jobs is not None and args.jobs <= 0):
                raise GradingError("--cell-timeout and --jobs must be positive")
            started = time.monotonic()
            rows = autograde(args.assignment, args.submissions, args.course_dir, args.out, args.jobs, args.scheduler,
                             args.cell_timeout, args.unsafe)
            out = args.out or Course(args.course_dir).root / "grades" / args.assignment
            print(f"grades: {out / 'grades.csv'} ({len(rows)} students in {time.monotonic() - started:.0f} s)")
        elif args.command == "feedback":
            print(f"feedback: {feedback(args.assignment, args.course_dir, args.out)}")
        else:
            print(f"grades: {export(args.assignment, args.course_dir, args.out)}")
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
