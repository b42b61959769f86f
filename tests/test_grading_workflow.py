"""The instructor's whole workflow on a kept course folder, with nbgrader's own tools around ours.

release (done by nbgrader inside `autograde`) -> autograde a class (2 local jobs, then a dask
cluster) -> hand-grade the written answer through nbgrader's Gradebook API (what formgrader does)
-> regenerate feedback -> export: the hand-graded points reach the CSV and the feedback page.
Plain `nbgrader autograde` in the same folder grades through the same sandbox and hidden tests.
"""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

import submissions as subs
from utils.grading.notebooks import visible_text

pytestmark = [pytest.mark.grading, pytest.mark.timeout(1200)]
REPO = Path(__file__).resolve().parent.parent


def grading(*args, cwd=REPO) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "utils.grading", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def read_csv(path: Path) -> dict:
    with open(path) as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("workflow")
    subs.write(subs.filled("hw1"), root / "collected" / "alice" / "hw1.ipynb")
    subs.write(subs.release_notebook("hw1"), root / "collected" / "bob.ipynb")
    grading("autograde", "hw1", str(root / "collected"), "--course-dir", str(root / "course"), "--jobs", "2")
    return root / "course"


def test_autograde_keeps_an_nbgrader_course_folder(course):
    for folder in ["submitted/alice/hw1", "autograded/alice/hw1", "feedback/alice/hw1", "assignments/hw1"]:
        assert (course / folder).is_dir(), folder
    assert (course / "gradebook.db").is_file()
    rows = read_csv(course / "grades" / "hw1" / "grades.csv")
    assert (rows["alice"]["score"], rows["alice"]["manual_pending"], rows["bob"]["score"]) == ("20", "2", "0")


def test_hand_grading_reaches_feedback_and_export(course):
    from nbgrader.api import Gradebook
    before = visible_text((course / "grades" / "hw1" / "feedback" / "alice.html").read_text())
    assert "Awaits hand grading (up to 2 points)" in before and "answers worth 2 points await hand grading" in before
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:       # what formgrader does
        grade = gradebook.find_grade("written_curse", "hw1", "hw1", "alice")
        grade.manual_score = 1.5
        comment = gradebook.find_comment("written_curse", "hw1", "hw1", "alice")
        comment.manual_comment = "Good, but say why the tables cannot share parameters."
        gradebook.db.commit()
    grading("feedback", "hw1", "--course-dir", str(course))
    page = visible_text((course / "grades" / "hw1" / "feedback" / "alice.html").read_text())
    assert "say why the tables cannot share parameters" in page and "21.5" in page
    assert "Awaits hand grading" not in page and "Not final" not in page, "a graded answer is no longer pending"
    grading("export", "hw1", "--course-dir", str(course))
    rows = read_csv(course / "grades" / "hw1" / "grades.csv")
    assert (rows["alice"]["score"], rows["alice"]["written_curse"], rows["alice"]["manual_pending"]) == ("21.5", "1.5", "0")


def test_plain_nbgrader_autograde_grades_through_the_sandbox(course):
    subs.write(subs.filled("hw1"), course / "submitted" / "carol" / "hw1" / "hw1.ipynb")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "hw1", "--student=carol", "--force"],
                            cwd=course, capture_output=True, text=True, env=env, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission("hw1", "carol").score == 20


def test_a_dask_cluster_grades_the_same_class(course, tmp_path):
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        grading("autograde", "hw1", str(course.parent / "collected"), "--course-dir", str(tmp_path / "course"),
                "--scheduler", cluster.scheduler_address)
    rows = read_csv(tmp_path / "course" / "grades" / "hw1" / "grades.csv")
    assert (rows["alice"]["score"], rows["bob"]["score"]) == ("20", "0")


def test_without_a_sandbox_grading_stops_unless_asked(tmp_path, monkeypatch):
    from utils.grading import cli, sandbox
    from utils.grading.gradebook import GradingError
    monkeypatch.setattr(sandbox, "bubblewrap_problem", lambda: "bubblewrap (`bwrap`) is not installed")
    with pytest.raises(GradingError, match="no sandbox for student code.*--unsafe"):
        cli.autograde("hw1", tmp_path, course_dir=tmp_path / "course")
