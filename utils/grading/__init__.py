"""Instructor tools: release homework and grade a class with nbgrader, student code in a sandbox.

    python -m utils.grading release hw1
    python -m utils.grading autograde hw1 SUBMISSIONS [--jobs N | --scheduler ADDRESS] [--course-dir DIR]
    python -m utils.grading feedback hw1          # after hand grading in formgrader
    python -m utils.grading export hw1            # grades.csv from the gradebook

One unit per file:
    submission.py  read and sanitise whatever a student handed in
    sandbox.py     run a notebook under bubblewrap (no network, no view of the course, limits)
    remote.py      the calls hidden tests make into a sandboxed kernel: only plain data crosses
    listen.py      inside the sandboxed kernel: start listening for the grader before student code runs
    probes.py      the few helpers hidden tests run inside a submission (e.g. set its weights)
    scoring.py     trusted scoring: every graded cell is decided by its hidden test, in the grader
    gradebook.py   the kept nbgrader course folder: TrustedResults for autograde, feedback, export
    notebooks.py   nbgrader cells, hidden-test regions, leak checks
    cli.py         the command line

Importing this package is light (no PyTorch): nbgrader loads its preprocessors from here.
"""
