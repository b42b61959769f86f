"""Homework 1 through real nbgrader: release, autograde a whole class, feedback, tampering.

One class of submissions is graded once by the instructor's command (`python -m utils.grading
autograde`); each test then checks one student's row. Expected scores are in EXPECTED.
"""
import subprocess
import sys
from pathlib import Path

import pytest

import submissions as subs

pytestmark = pytest.mark.grading
REPO = Path(__file__).resolve().parent.parent
AUTO_POINTS, MANUAL_POINTS = 20, 2

ALTERNATIVE_SOLUTIONS = {
    # a correct homework written differently from the reference: loops, other parameter names,
    # hand-written training, nn.Embedding for the conditional table
    "histogram_solution": '''
def fit_histogram(x, num_values):
    probs = torch.zeros(num_values, dtype=torch.float64)
    for value in x.tolist():
        probs[value] += 1
    return probs / len(x)


def sample_inverse_cdf(probs, n, *, generator=None):
    cdf = torch.cumsum(probs.double(), 0)
    u = torch.rand(n, generator=generator, dtype=torch.float64) * cdf[-1]
    return (u[:, None] >= cdf[None, :]).sum(1).clamp(max=len(probs) - 1)
''',
    "softmax_solution": '''
class SoftmaxModel(nn.Module):
    def __init__(self, num_values):
        super().__init__()
        self.theta = nn.Parameter(torch.randn(num_values) * 0.01)

    def log_prob(self, x):
        return self.theta[x] - torch.logsumexp(self.theta, dim=0)


def train_softmax_model(train, test, num_values, epochs=20):
    model = SoftmaxModel(num_values)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(epochs):
        for batch in train.split(100):
            loss = -model.log_prob(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
''',
    "joint_solution": '''
class Joint2DModel(nn.Module):
    def __init__(self, num_values):
        super().__init__()
        self.marginal = nn.Parameter(torch.zeros(num_values))
        self.conditional = nn.Embedding(num_values, num_values)

    def log_prob(self, x):
        first = torch.log_softmax(self.marginal, 0)[x[:, 0]]
        second = torch.log_softmax(self.conditional(x[:, 0]), 1)
        return first + second[torch.arange(len(x)), x[:, 1]]

    @torch.no_grad()
    def sample(self, n, *, generator=None):
        first = torch.multinomial(torch.softmax(self.marginal, 0), n, replacement=True, generator=generator)
        second = torch.multinomial(torch.softmax(self.conditional(first), 1), 1, generator=generator)[:, 0]
        return torch.stack([first, second], 1)


def train_joint_model(train, test, num_values, epochs=10):
    model = Joint2DModel(num_values)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    shuffle = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for index in torch.randperm(len(train), generator=shuffle).split(200):
            loss = -model.log_prob(train[index]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
''',
}


def build_class(folder: Path) -> dict:
    """Write one submission per student; return student -> (expected auto score, graded?)."""
    good = subs.filled("hw1")
    alternative = good
    for gid, source in ALTERNATIVE_SOLUTIONS.items():
        alternative = subs.replace_source(alternative, gid, source.strip())
    hang = subs.edit_source(good, "joint_solution", '"""n pairs, a (n, 2) long tensor: x1 first, then x2 given x1."""',
                            '"""n pairs."""\n        while True:\n            pass')
    crash = subs.edit_source(good, "mixture_solution", "def mixture_log_prob(x, logit_weights, means, log_scales, num_values):",
                             "import os\nos._exit(1)\n\n\ndef mixture_log_prob(x, logit_weights, means, log_scales, num_values):")
    students = {
        "alice_solution": (good, AUTO_POINTS),
        "bob_untouched": (subs.release_notebook("hw1"), 0),
        "carol_alternative": (alternative, AUTO_POINTS),
        "dan_deleted_test": (subs.delete_cell(good, "test_fit_histogram"), AUTO_POINTS),
        "erin_test_replaced": (subs.replace_source(good, "test_joint_sample", "pass"), AUTO_POINTS),
        "frank_duplicated": (subs.duplicate_cell(good, "histogram_solution"), AUTO_POINTS),
        "grace_infinite_loop": (hang, AUTO_POINTS - 2),          # Joint2DModel.sample hangs: 2 points lost
        "heidi_kernel_death": (crash, AUTO_POINTS - 6),          # the mixture cell kills the kernel: 3+2+1 lost
        "ivan_stripped_metadata": (subs.strip_metadata(good), AUTO_POINTS),
    }
    for student, (nb, _) in students.items():
        subs.write(nb, folder / student / "hw1.ipynb")
    (folder / "judy_not_a_notebook.ipynb").write_text("{ this is not json")
    expected = {student: score for student, (_, score) in students.items()}
    expected["judy_not_a_notebook"] = 0
    return expected


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw1_class")
    expected = build_class(root / "submitted")
    rows, stdout = subs.autograde_class("hw1", root / "submitted", root / "out", cell_timeout=30)
    return subs.GradedClass("hw1", rows, expected, root / "out", stdout)   # expected: total auto points


@pytest.mark.parametrize("student", ["alice_solution", "bob_untouched", "carol_alternative", "dan_deleted_test",
                                     "erin_test_replaced", "frank_duplicated", "grace_infinite_loop",
                                     "heidi_kernel_death", "ivan_stripped_metadata", "judy_not_a_notebook"])
def test_each_student_gets_the_expected_score(graded_class, student):
    row = graded_class.rows[student]
    expected = graded_class.expected[student]
    assert float(row["score"]) == expected, f"{student}: {row}\n{graded_class.stdout}"
    assert float(row["max_score"]) == AUTO_POINTS + MANUAL_POINTS


def test_the_solution_leaves_only_the_written_answer_to_grade_by_hand(graded_class):
    row = graded_class.rows["alice_solution"]
    assert row["status"] == "graded" and float(row["manual_pending"]) == MANUAL_POINTS


def test_grading_notes_explain_what_happened(graded_class):
    rows = graded_class.rows
    assert "stopped the kernel" in rows["heidi_kernel_death"]["notes"]
    assert "duplicated" in rows["frank_duplicated"]["notes"]
    assert "restored nbgrader metadata" in rows["ivan_stripped_metadata"]["notes"]
    assert rows["judy_not_a_notebook"]["status"] == "not graded"
    assert "cannot read" in rows["judy_not_a_notebook"]["notes"]


def test_feedback_hides_hidden_tests(graded_class):
    graded_class.check_feedback_hides_hidden_tests()     # everyone but the unreadable notebook has a page
    assert len(list((graded_class.out / "feedback").glob("*.html"))) == 9
    assert "NotImplementedError" in graded_class.feedback("bob_untouched"), \
        "feedback should tell a student which parts are missing"


def test_grading_command_rejects_bad_arguments(tmp_path):
    def run(*args):      # a course folder of its own: the repository's assignments/ are read by other test workers
        return subprocess.run([sys.executable, "-m", "utils.grading", *args, "--course-dir", str(tmp_path / "course")],
                              cwd=REPO, capture_output=True, text=True)
    missing = run("autograde", "hw1", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "class").mkdir()
    unknown = run("autograde", "hw99", str(tmp_path / "class"), "--out", str(tmp_path / "out"))
    assert unknown.returncode == 2 and "unknown assignment 'hw99'" in unknown.stderr and "hw1" in unknown.stderr
    empty = run("autograde", "hw1", str(tmp_path / "class"), "--out", str(tmp_path / "out"))
    assert empty.returncode == 2 and "no notebooks found" in empty.stderr
    assert not (tmp_path / "course" / "gradebook.db").exists(), "a bad command line should not touch the gradebook"
