"""Grading throughput: students per minute at 1 and 2 jobs, and the cost per student beyond the notebook.

    python -m utils.bench.grading                      # hw1, a class of 8, jobs 1 and 2
    python -m utils.bench.grading --students 16 --jobs 1 2 4 --assignment hw2

The class mixes honest and broken submissions: full solutions, untouched releases, and answers that
kill the kernel. Each run grades the class into a fresh course folder with the real command
(sandbox, hidden tests, gradebook, feedback). Per student (means): "cells" is the time their
notebook's cells ran, "kernel start" the sandbox and kernel coming up before the first cell (what
executing any notebook costs, nbgrader's own autograde included), "hidden tests" the grader's
calls into the kernel, and "grader" everything else a student costs the grader: sanitising, the
worker, the gradebook and the feedback page (wall time x jobs / students, minus the three others).
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]


def build_class(assignment: str, students: int, folder: Path) -> None:
    """`students` submissions: half full solutions, a quarter untouched, a quarter killing the kernel."""
    from ..grading.notebooks import filled_release, nbgrader_metadata
    source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    release = nbformat.read(REPO / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    good = filled_release(source, release)
    broken = nbformat.from_dict(nbformat.reads(nbformat.writes(good), as_version=4))
    answer = next(cell for cell in broken.cells if nbgrader_metadata(cell).get("solution") and cell.cell_type == "code")
    answer.source = "import os\nos._exit(1)\n" + answer.source
    kinds = ["solution", "untouched", "solution", "kernel_death"]
    for index in range(students):
        kind = kinds[index % len(kinds)]
        nb = {"solution": good, "untouched": release, "kernel_death": broken}[kind]
        nbformat.write(nb, folder / f"student{index:03d}_{kind}.ipynb")


def run(assignment: str, submissions: Path, jobs: int) -> dict:
    from ..grading.cli import autograde
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        rows = autograde(assignment, submissions, course_dir=Path(tmp) / "course", jobs=jobs, progress=lambda _: None)
        wall = time.monotonic() - started
    timed = [row["seconds"] for row in rows if "seconds" in row]
    means = {key: statistics.mean(t[key] for t in timed) for key in ("notebook", "kernel_start", "hidden_tests")}
    grader = wall * jobs / len(rows) - sum(means.values())
    return {"jobs": jobs, "students": len(rows), "wall": wall, "per_minute": 60 * len(rows) / wall, **means,
            "grader": grader, "graded": sum(row["status"] == "graded" for row in rows)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="hw1")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        build_class(args.assignment, args.students, Path(tmp))
        print(f"{args.assignment}, {args.students} students (solutions, untouched, kernel deaths)")
        print(f"{'jobs':>4s} {'wall s':>7s} {'students/min':>12s} {'cells s':>8s} {'kernel start s':>14s} "
              f"{'hidden tests s':>14s} {'grader s':>8s} {'graded':>6s}")
        for jobs in args.jobs:
            r = run(args.assignment, Path(tmp), jobs)
            print(f"{r['jobs']:4d} {r['wall']:7.1f} {r['per_minute']:12.2f} {r['notebook']:8.2f} {r['kernel_start']:14.2f} "
                  f"{r['hidden_tests']:14.2f} {r['grader']:8.2f} {r['graded']:3d}/{r['students']}", flush=True)


if __name__ == "__main__":
    main()
