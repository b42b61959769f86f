"""A visible check that prints ✗ fails the test command, and only the test command.

A notebook whose only check is `expect(1 == 2)` is run the way `make test` runs notebooks (nbval,
lax mode) twice: with COURSE_STRICT_CHECKS=1 (what `make test` sets) the cell fails and the report
shows the check's message; without it (students, self-learners) the cell passes and prints ✗.
"""
import os
import subprocess
import sys

import nbformat
import pytest

pytestmark = pytest.mark.slow


def run_notebook_test(folder, strict: bool) -> subprocess.CompletedProcess:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from utils.checks import expect, friendly_check\n"
        "with friendly_check('one equals two', hint='it never will'):\n"
        "    expect(1 == 2, 'one is not two')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "deliberately_failing.ipynb")
    env = {key: value for key, value in os.environ.items() if key != "COURSE_STRICT_CHECKS"}
    if strict:
        env["COURSE_STRICT_CHECKS"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
                           "-q", "deliberately_failing.ipynb"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_failing_check_fails_under_the_test_command(tmp_path):
    result = run_notebook_test(tmp_path, strict=True)
    assert result.returncode != 0, result.stdout
    assert "CheckFailed" in result.stdout and "✗ one equals two: one is not two" in result.stdout
    assert "Hint: it never will" in result.stdout


def test_a_failing_check_only_prints_for_students(tmp_path):
    result = run_notebook_test(tmp_path, strict=False)
    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout
