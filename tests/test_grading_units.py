"""Fast tests of the grading pieces: the plain-data link, the sandbox command, sanitising, review flags."""
import json

import nbformat
import pytest
import torch
from torch import nn

from utils.grading import remote, sandbox, scoring, submission


def student_namespace() -> dict:
    class Agreeable(torch.Tensor):
        def __eq__(self, other):
            return torch.ones((), dtype=torch.bool)

    class Model(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.logits = nn.Parameter(torch.zeros(k))

        def log_prob(self, x):
            return torch.log_softmax(self.logits, 0)[x]

    def uses(function, x):
        return function(x) + 1

    def broken():
        raise ValueError("nope")

    def draw(generator):
        return torch.rand(3, generator=generator)

    return {"Model": Model, "uses": uses, "broken": broken, "draw": draw,
            "agreeable": lambda: torch.zeros(2).as_subclass(Agreeable), "numbers": [1, 2.5, "a", None, (True,)]}


def test_only_plain_data_comes_back_and_objects_stay_as_handles():
    student = remote.submission(student_namespace())
    model = student.Model(3)
    assert isinstance(model, remote.Remote) and "Model" in repr(model)
    assert torch.allclose(model.log_prob(torch.arange(3)).exp().sum(), torch.tensor(1.0))
    assert student.numbers == [1, 2.5, "a", None, (True,)]
    assert type(student.agreeable()) is torch.Tensor          # a tensor subclass arrives as a plain tensor


class Sneaky(torch.Tensor):
    """A tensor subclass a submission might send (module level, so that it can be pickled)."""


def test_the_trusted_side_refuses_anything_but_plain_data():
    with pytest.raises(remote.ProtocolError, match="not plain data"):
        remote.loads_trusted(remote.dumps({"value": nn.Linear(2, 2)}))
    with pytest.raises(remote.ProtocolError):
        remote.loads_trusted(remote.dumps({"value": torch.zeros(2).as_subclass(Sneaky)}))


def test_student_errors_and_missing_names_say_what_happened():
    student = remote.submission(student_namespace())
    with pytest.raises(remote.SubmissionError, match="ValueError: nope"):
        student.broken()
    with pytest.raises(remote.SubmissionError, match="name 'missing' is not defined"):
        student.missing


def test_trusted_functions_cross_as_call_backs_and_generators_as_copies():
    student = remote.submission(student_namespace())
    assert torch.equal(student.uses(lambda t: t * 10, torch.ones(2)), torch.full((2,), 11.0))
    generator = torch.Generator().manual_seed(4)
    assert torch.equal(student.draw(generator), torch.rand(3, generator=torch.Generator().manual_seed(4)))


def test_secret_seeds_are_the_numbers_in_a_notebook_and_secret_when_graded():
    assert remote.secret_seed(11) == 11
    token = remote.activate(remote.LocalLink({}), "course secret")
    try:
        assert remote.secret_seed(11) not in (11, None) and remote.secret_seed(11) == remote.secret_seed(11)
    finally:
        remote.deactivate(token)


def test_the_sandbox_command_isolates_and_limits(tmp_path):
    box = sandbox.Sandbox({"cells": []}, [], sandbox.Limits(cell_timeout=5))
    box.folder, box.models = tmp_path, tmp_path / "models"
    command = box.command()
    for flag in ["--unshare-pid", "--unshare-net", "--die-with-parent", "--clearenv"]:
        assert flag in command
    assert command.index("--tmpfs") < command.index("--ro-bind"), "/tmp must be mounted before a venv under /tmp"
    assert any(part.startswith("--nproc=") for part in command) and any(part.startswith("--as=") for part in command)
    assert str(tmp_path / "submission") in command
    assert not any("solutions" in part for part in command)


def test_a_homework_sees_only_the_reference_models_its_own_cells_import():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from utils.models.rnn import AutoregressiveRNN"),
                nbformat.v4.new_code_cell("from utils.models.made import MADE")]
    nb.cells[0].metadata["nbgrader"] = {"locked": True}
    assert sandbox.provided_reference_models(nb) == ["rnn"]            # the student's import does not count


def test_review_flags_name_what_an_honest_homework_never_needs():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import builtins\ntorch.equal = lambda *a: True")]
    flags = scoring.review_flags(nb)
    assert "changes Python's builtins" in flags and "replaces library functions" in flags
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    return torch.equal(x, x)")]
    assert scoring.review_flags(nb) == []


def test_malformed_notebooks_are_rebuilt_or_refused(tmp_path):
    release = nbformat.v4.new_notebook()
    release.cells = [nbformat.v4.new_markdown_cell("# intro"), nbformat.v4.new_code_cell("answer = None")]
    release.cells[1].metadata["nbgrader"] = {"grade_id": "answer", "solution": True, "locked": False,
                                             "grade": False, "schema_version": 3}
    raw = json.loads(nbformat.writes(release))
    raw["cells"][0]["metadata"]["nbgrader"] = "oops"
    raw["cells"].append({"cell_type": "code", "source": 42, "metadata": [], "outputs": "none"})
    raw["cells"][1]["source"] = ["answer = '\ud800'"]
    (tmp_path / "odd.ipynb").write_text(json.dumps(raw))
    nb, notes = submission.sanitize(tmp_path / "odd.ipynb", release)
    nbformat.validate(nb)
    assert "ignored" in " ".join(notes) and nb.cells[1].source.startswith("answer = '")
    (tmp_path / "bad.ipynb").write_text("{ not json")
    with pytest.raises(submission.SubmissionUnreadable, match="invalid JSON"):
        submission.sanitize(tmp_path / "bad.ipynb", release)


def test_a_virtualenv_reached_through_a_symlink_is_visible_in_the_sandbox(tmp_path, monkeypatch):
    real = tmp_path / "real-venv"
    real.mkdir()
    (tmp_path / "linked-venv").symlink_to(real)
    monkeypatch.setattr(sandbox.sys, "prefix", str(tmp_path / "linked-venv"))
    roots = sandbox._readable_roots()
    assert str(tmp_path / "linked-venv") in roots and str(real) in roots
