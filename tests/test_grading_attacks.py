"""An adversarial class: every attack on the grader, on classmates and on the feedback, graded once.

Homework 1, graded by the instructor's command into a kept course folder, with 2 jobs. Each
attacker adds one cell to an otherwise untouched release (honest content: 0 points) or to a full
solution (honest content: full points); each must score exactly what its honest content deserves,
be flagged for review where its code shows the attack, and leave everyone else's grades alone.
A spy student reports from inside the sandbox what it could see and do.
"""
import base64
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import submissions as subs
from utils.grading.notebooks import hidden_test_lines, leaked_lines, visible_text

pytestmark = [pytest.mark.grading, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parent.parent
AUTO, MANUAL = 20, 2
MARKER_SECONDS = 6127            # `sleep 6127`: a background process that must not outlive its grading


def with_cell(nb, source: str, after: str = "setup"):
    """A copy of nb with an ordinary code cell inserted after the cell `after`."""
    import copy
    nb = copy.deepcopy(nb)
    nb.cells.insert(subs.cell_index(nb, after) + 1, nbformat.v4.new_code_cell(source.strip()))
    return nb


CHEATS = {   # an untouched homework plus one cheating cell: all must score 0
    "monkeypatch_checks": '''
import torch, utils.checks
torch.equal = lambda *args, **kwargs: True
utils.checks.expect_close = lambda *args, **kwargs: None
utils.checks.expect = lambda *args, **kwargs: None
import utils.models
''',
    "input_transformer": '''
get_ipython().input_transformers_cleanup.append(lambda lines: [])
''',
    "rebind_builtins": '''
import builtins
builtins.float = lambda *args: 0.0
builtins.abs = lambda *args: 0.0
builtins.any = lambda *args: True
def fit_histogram(x, num_values):
    return x
''',
    "always_equal_tensor": '''
import torch
class Agreeable(torch.Tensor):
    def __eq__(self, other): return torch.ones((), dtype=torch.bool)
    def __lt__(self, other): return torch.ones((), dtype=torch.bool)
    def __sub__(self, other): return torch.zeros(1).as_subclass(Agreeable)
def fit_histogram(x, num_values):
    return torch.zeros(num_values).as_subclass(Agreeable)
''',
    "reference_when_graded": '''
import os
if os.environ.get("NBGRADER_EXECUTION"):
    from utils.models import fit_histogram, sample_inverse_cdf
''',
    "steal_the_solutions": '''
import glob, json, sys
repository = sys.prefix.rsplit("/", 1)[0]                       # the virtualenv lives in the course's repository
for path in glob.glob(f"{repository}/solutions/hw1/*.ipynb") + glob.glob("/tmp/**/solutions/hw1/*.ipynb", recursive=True):
    for cell in json.load(open(path))["cells"]:
        if cell["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(cell["source"]):
            exec("".join(cell["source"]))
''',
    "network": '''
import urllib.request
exec(urllib.request.urlopen("https://pypi.org/simple/", timeout=5).read()[:0])
''',
}

HARM_OTHERS = {   # a full solution plus one attack on the class or the grader: all keep full marks
    "write_the_gradebook": '''
import glob, sqlite3, sys
repository = sys.prefix.rsplit("/", 1)[0]
for path in glob.glob(f"{repository}/gradebook.db") + glob.glob("/tmp/**/gradebook.db", recursive=True):
    sqlite3.connect(path).execute("UPDATE grade SET auto_score = 0")
''',
    "overwrite_classmates": '''
import glob, os
for pid in os.listdir("/proc"):                                 # look for the grader's folders through /proc
    if pid.isdigit():
        try:
            for path in glob.glob(os.readlink(f"/proc/{pid}/cwd") + "/../**/*.ipynb", recursive=True):
                if "attack" not in path:
                    open(path, "w").write("{}")
        except OSError:
            continue
for path in glob.glob("/tmp/**/submitted/**/*.ipynb", recursive=True):
    open(path, "w").write("{}")
''',
    "rewrite_the_config_then_die": '''
import glob, os, sys
repository = sys.prefix.rsplit("/", 1)[0]
for path in glob.glob(f"{repository}/nbgrader_config.py") + glob.glob("/tmp/**/nbgrader_config.py", recursive=True):
    try:
        open(path, "a").write("\\nc.Autograde.autograde_preprocessors = []\\n")
    except OSError:
        pass
os._exit(0)
''',
    "detached_process": f'''
import subprocess
subprocess.Popen(["sleep", "{MARKER_SECONDS}"], start_new_session=True)
subprocess.Popen(["sh", "-c", "sleep 20; for f in $(find / -name grades.csv 2>/dev/null); do echo x > $f; done"],
                 start_new_session=True)
''',
    "plant_sitecustomize": '''
import site, sys
for folder in sys.path + ["/work/main", "."]:
    try:
        open(f"{folder}/sitecustomize.py", "w").write("import builtins; builtins.PLANTED = True")
    except OSError:
        pass
''',
    "huge_output": '''
for _ in range(200):
    print("x" * 1_000_000)
''',
}

SPY = '''
import json, os, socket, sys
seen = {"solutions": [], "gradebook": [], "classmates": [], "network": None, "processes": None}
skip = ("/proc", "/sys", "/dev", "/usr", "/lib", "/bin", "/sbin", "/etc", sys.prefix, sys.base_prefix, "/opt/ar-course")
for root, folders, files in os.walk("/"):
    if root.startswith(skip):
        folders[:] = []
        continue
    for name in files:
        path = os.path.join(root, name)
        if "solutions" in path and name.endswith(".ipynb"):
            seen["solutions"].append(path)
        if name == "gradebook.db":
            seen["gradebook"].append(path)
        if name.endswith(".ipynb") and "submission" not in path:
            seen["classmates"].append(path)
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
    seen["network"] = "reached pypi.org"
except OSError as error:
    seen["network"] = f"refused: {type(error).__name__}"
seen["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:50]
try:
    open("/opt/ar-course/utils/planted.py", "w").write("x")
    seen["wrote_utils"] = True
except OSError:
    seen["wrote_utils"] = False
print("SPY-REPORT " + json.dumps(seen))
'''

KILLED_IN_A_HIDDEN_TEST = ('''
def sample_inverse_cdf(probs, n, generator=None):
    if n > 10000:                          # only the hidden test draws this many
        import os
        os._exit(1)
    cdf = torch.cumsum(probs.double(), dim=0)
    u = torch.rand(n, generator=generator, dtype=torch.float64) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)
''')

LEAKS = {   # try to carry hidden tests into the feedback: they never reach the sandbox
    "leak_history_base64": '''
import base64
print("BLOB " + base64.b64encode("\\n".join(In).encode()).decode())
''',
    "leak_zero_width": '''
import glob, sys
repository = sys.prefix.rsplit("/", 1)[0]
paths = glob.glob(f"{repository}/solutions/hw1/*.ipynb") + glob.glob("/submission/*.ipynb")
print("\\u200b".join("".join(open(p).read() for p in paths)))
''',
}


def malformed_notebooks(folder: Path) -> dict:
    """Submissions that broke the whole class before: each must be graded on its honest content."""
    good = json.loads(nbformat.writes(subs.filled("hw1")))
    surrogate = json.dumps(good).replace("Maximum-likelihood", "Maximum\\ud800likelihood")
    (folder / "mal_surrogate.ipynb").write_text(surrogate)
    oops = json.loads(json.dumps(good))
    oops["cells"][0]["metadata"]["nbgrader"] = "oops"
    (folder / "mal_metadata_string.ipynb").write_text(json.dumps(oops))
    bad_schema = json.loads(json.dumps(good))
    bad_schema["cells"].append({"cell_type": "code", "source": 42, "metadata": [], "outputs": "none"})
    bad_schema["cells"].append({"cell_type": "weird", "source": "?"})
    (folder / "mal_schema.ipynb").write_text(json.dumps(bad_schema))
    unknown = json.loads(json.dumps(good))
    unknown["cells"].append({"cell_type": "code", "source": "pass", "execution_count": None, "outputs": [],
                             "metadata": {"nbgrader": {"grade": True, "grade_id": "free_points", "points": 50,
                                                       "locked": True, "solution": False, "schema_version": 3}}})
    (folder / "mal_unknown_graded_cell.ipynb").write_text(json.dumps(unknown))
    (folder / "mal_odd name!.ipynb").write_text(json.dumps(good))
    (folder / "mal_not_json.ipynb").write_text("{ this is not json")
    wrong = subs.release_notebook("hw2")
    nbformat.write(wrong, folder / "mal_wrong_homework.ipynb")
    return {"mal_surrogate": AUTO, "mal_metadata_string": AUTO, "mal_schema": AUTO, "mal_unknown_graded_cell": AUTO,
            "mal_not_json": None, "mal_wrong_homework": 0}


@pytest.fixture(scope="module")
def attacked_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacked_class")
    folder = root / "submitted"
    good, untouched = subs.filled("hw1"), subs.release_notebook("hw1")
    expected = {"alice_honest": AUTO}
    subs.write(good, folder / "alice_honest.ipynb")
    for name, source in CHEATS.items():
        subs.write(with_cell(untouched, source), folder / f"cheat_{name}.ipynb")
        expected[f"cheat_{name}"] = 0
    for name, source in HARM_OTHERS.items():
        subs.write(with_cell(good, source), folder / f"attack_{name}.ipynb")
        expected[f"attack_{name}"] = AUTO
    for name, source in LEAKS.items():             # at the end: the kernel has run every visible test by then
        subs.write(with_cell(good, source, after="written_curse"), folder / f"leak_{name}.ipynb")
        expected[f"leak_{name}"] = AUTO
    subs.write(with_cell(good, SPY), folder / "spy.ipynb")
    expected["spy"] = AUTO
    subs.write(subs.replace_source(good, "histogram_solution", subs.strip_markers(
        subs.source_notebook("hw1").cells[subs.cell_index(good, "histogram_solution")].source).split(
        "def sample_inverse_cdf")[0] + KILLED_IN_A_HIDDEN_TEST), folder / "killed_in_hidden_test.ipynb")
    expected["killed_in_hidden_test"] = AUTO - 2
    expected.update(malformed_notebooks(folder))
    started = time.monotonic()
    rows, stdout = subs.autograde_class("hw1", folder, root / "out", cell_timeout=60, jobs=2,
                                        course_dir=root / "course")
    seconds = time.monotonic() - started
    return {"root": root, "rows": rows, "stdout": stdout, "expected": expected, "seconds": seconds}


def autograded_outputs(attacked_class, student: str) -> str:
    path = attacked_class["root"] / "course" / "autograded" / student / "hw1" / "hw1.ipynb"
    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_every_student_scores_what_their_honest_content_deserves(attacked_class):
    rows, problems = attacked_class["rows"], []
    for student, points in attacked_class["expected"].items():
        row = rows.get(student)
        if points is None:
            if row is None or row["status"] != "not graded":
                problems.append(f"{student}: should be listed as not graded, got {row}")
        elif row is None or row["status"] != "graded" or float(row["score"]) != points:
            problems.append(f"{student}: expected {points}, got {row and (row['status'], row['score'], row['notes'])}")
    assert not problems, "\n".join(problems) + "\n" + attacked_class["stdout"][-4000:]


def test_cheaters_are_flagged_for_review(attacked_class):
    rows = attacked_class["rows"]
    for student in [f"cheat_{name}" for name in CHEATS if name != "input_transformer"] + ["cheat_input_transformer"]:
        assert "flagged for review" in rows[student]["review"], f"{student} was not flagged: {rows[student]}"
    assert rows["alice_honest"]["review"] == ""


def test_the_sandbox_hides_the_course_and_the_network(attacked_class):
    report = json.loads(re.search(r"SPY-REPORT (.*)", autograded_outputs(attacked_class, "spy")).group(1))
    assert report["solutions"] == [] and report["gradebook"] == [], report
    assert report["classmates"] == [], report                       # only its own notebook is there
    assert report["network"].startswith("refused"), report
    assert report["wrote_utils"] is False
    assert max(report["processes"]) < 100, "the sandbox sees processes outside its own PID namespace"


def test_nothing_a_submission_started_outlives_its_grading(attacked_class):
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", f"sleep {MARKER_SECONDS}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"a detached process survived: {left.stdout}"
    time.sleep(20)                                                  # the delayed rewrite of grades.csv never comes
    rows = list(csv.DictReader(open(attacked_class["root"] / "out" / "grades.csv")))
    assert len(rows) > 10 and all(row["student"] for row in rows)


def test_nothing_was_planted_in_the_repository_or_the_course_folder(attacked_class):
    assert not (REPO / "sitecustomize.py").exists()
    config = (attacked_class["root"] / "course" / "nbgrader_config.py").read_text()
    assert "autograde_preprocessors = []" not in config
    assert not (REPO / "utils" / "planted.py").exists()


def test_huge_output_is_capped_before_anything_reads_it(attacked_class):
    page = attacked_class["root"] / "out" / "feedback" / "attack_huge_output.html"
    assert page.stat().st_size < 5 * 2 ** 20, f"feedback page of {page.stat().st_size} bytes"
    assert "dropped the rest of this notebook's output" in page.read_text()


def test_feedback_carries_no_hidden_test_in_any_encoding(attacked_class):
    secrets = hidden_test_lines(REPO / "solutions" / "hw1" / "hw1.ipynb")
    out = attacked_class["root"] / "out" / "feedback"
    for page in out.glob("*.html"):
        text = visible_text(page.read_text())
        assert not leaked_lines(text, secrets), f"{page.name} shows hidden tests"
        assert not leaked_lines(text.replace("\u200b", ""), secrets), f"{page.name} shows hidden tests (zero-width)"
    blob = re.search(r"BLOB (\S+)", autograded_outputs(attacked_class, "leak_leak_history_base64")).group(1)
    history = base64.b64decode(blob).decode()
    assert "# graded: fit_histogram" in history, "the history should hold the visible tests the kernel ran"
    assert not leaked_lines(history, secrets), "the kernel's history holds hidden tests"


def test_unreadable_and_odd_submissions_cost_only_their_authors(attacked_class):
    rows = attacked_class["rows"]
    assert "cannot read" in rows["mal_not_json"]["notes"]
    assert "student id" in rows["mal_odd name!"]["notes"]
    assert "unknown graded cell" in rows["mal_unknown_graded_cell"]["notes"]
    assert "stopped" in rows["killed_in_hidden_test"]["notes"] or "kernel" in rows["killed_in_hidden_test"]["notes"]


def test_grading_students_again_gives_the_same_grades(attacked_class, tmp_path):
    root = attacked_class["root"]
    students = ["alice_honest", "cheat_always_equal_tensor", "killed_in_hidden_test"]
    for student in students:
        subs.write(nbformat.read(root / "submitted" / f"{student}.ipynb", as_version=4), tmp_path / "again" / f"{student}.ipynb")
    again, _ = subs.autograde_class("hw1", tmp_path / "again", tmp_path / "out", cell_timeout=60, jobs=2,
                                    course_dir=root / "course")
    first = attacked_class["rows"]
    for student in students:
        assert (again[student]["score"], again[student]["status"]) == (first[student]["score"], first[student]["status"])
        assert {k: v for k, v in again[student].items() if k.startswith("test_")} == \
               {k: v for k, v in first[student].items() if k.startswith("test_")}
