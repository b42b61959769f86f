"""Grading throughput: students per minute at 1 and 2 jobs, and the cost per student beyond the notebook.

    python -m utils.bench.grading                      # hw1, a class of 8, jobs 1 and 2
    python -m utils.bench.grading --students 16 --jobs 1 2 4 --assignment hw2

The class mixes honest and broken submissions: full solutions, untouched releases, and answers that
kill the kernel. Each run grades the class into a fresh course folder with the real command
(sandbox, hidden tests, gradebook, feedback). "Overhead" is everything a student costs beyond
executing their notebook and their hidden tests: sandbox start, sanitising, the gradebook and the
feedback page.
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
    overhead = [t["total"] - t["notebook"] - t["hidden_tests"] + t.get("gradebook", 0) for t in timed]
    return {"jobs": jobs, "students": len(rows), "wall": wall, "per_minute": 60 * len(rows) / wall,
            "notebook": statistics.mean(t["notebook"] for t in timed),
            "hidden_tests": statistics.mean(t["hidden_tests"] for t in timed),
            "overhead": statistics.mean(overhead), "graded": sum(row["status"] == "graded" for row in rows)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="hw1")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        build_class(args.assignment, args.students, Path(tmp))
        print(f"{args.assignment}, {args.students} students (solutions, untouched, kernel deaths)")
        print(f"{'jobs':>4s} {'wall s':>7s} {'students/min':>12s} {'notebook s':>10s} {'hidden tests s':>14s} "
              f"{'overhead s':>10s} {'graded':>6s}")
        for jobs in args.jobs:
            r = run(args.assignment, Path(tmp), jobs)
            print(f"{r['jobs']:4d} {r['wall']:7.1f} {r['per_minute']:12.2f} {r['notebook']:10.2f} "
                  f"{r['hidden_tests']:14.2f} {r['overhead']:10.2f} {r['graded']:3d}/{r['students']}", flush=True)


if __name__ == "__main__":
    main()
