"""Trusted scoring: run a submission in its sandbox, then decide every graded cell in the grader.

`grade_submission(job)` is what a worker does for one student (locally or on a dask cluster): it
takes plain data (the sanitised notebook, the trusted source of every locked cell, the limits) and
returns plain data (the notebook's outputs, one verdict per graded test cell, notes, review flags,
timings). The verdicts come only from the hidden tests, run here against the sandboxed kernel
through utils.grading.remote: nothing the submission does in its kernel can change them, it can
only change what its own functions return.
"""
import copy
import json
import re
import time
from dataclasses import asdict, dataclass, field

from .notebooks import grade_id, is_locked, is_test_cell, split_hidden
from .sandbox import Limits, Sandbox, SandboxError, provided_reference_models

MAX_SANDBOX_STARTS = 3
MESSAGE_LIMIT = 800

# Things an honest homework never needs; a submission that uses them is flagged for a person to look at.
SUSPICIOUS = {
    r"\butils\.models\b|\bfrom utils import models\b": "imports the reference models",
    r"NBGRADER_EXECUTION|is_autograding": "behaves differently while being graded",
    r"\bget_ipython\b|input_transformers|\bast_transformers\b": "changes how later cells run",
    r"\bbuiltins\b|__builtins__": "changes Python's builtins",
    r"\bsys\.modules\b|\bimportlib\b|__import__": "manipulates imported modules",
    r"\bsubprocess\b|\bos\.system\b|\bos\.fork\b|\bmultiprocessing\b|\bos\.kill\b": "starts or signals processes",
    r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b": "uses the network",
    r"/proc\b|gradebook|nbgrader_config|solutions/|sitecustomize": "reads or writes grader files",
    r"__class__|__eq__|__torch_function__|as_subclass": "redefines comparisons or tensor behaviour",
    r"os\._exit|sys\.exit|\bsignal\b": "stops the kernel",
    r"\b(torch|np|numpy|F|nn|utils)(\.\w+)+\s*=(?!=)": "replaces library functions",
}


@dataclass
class Verdict:
    """The grader's decision on one graded test cell (lost: the kernel stopped or hung during the test)."""
    passed: bool
    message: str
    lost: bool = False


@dataclass
class Result:
    """What grading one submission produced (plain data, safe to send between processes)."""
    student: str
    outputs: dict = field(default_factory=dict)       # cell index -> outputs of the executed notebook
    verdicts: dict = field(default_factory=dict)      # grade id -> {"passed", "message"}
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    graded: bool = True


def review_flags(nb) -> list[str]:
    """Why a person should look at this submission: suspicious code in the cells the student wrote."""
    flags = []
    student_code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code" and not is_locked(cell))
    for pattern, reason in SUSPICIOUS.items():
        if re.search(pattern, student_code):
            flags.append(reason)
    return flags


def notebook_for_sandbox(nb, trusted_sources: dict):
    """The notebook the sandbox runs: locked cells as released (test cells without their hidden part)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in trusted_sources and is_locked(cell):
            cell.source = split_hidden(trusted_sources[gid])[0]
    return nb


def run_hidden_test(code: str, link, secret: str) -> Verdict:
    """Run one hidden test in this (trusted) process against the submission behind `link`."""
    from .remote import SubmissionError, SubmissionLost, activate, deactivate
    token = activate(link, secret)
    try:
        exec(compile(code, "<hidden test>", "exec"), {"__name__": "__hidden_test__"})
        return Verdict(True, "passed")
    except AssertionError as error:
        return Verdict(False, _message(str(error) or "a hidden test failed"))
    except NotImplementedError:
        return Verdict(False, "not implemented yet: fill in the cell marked YOUR CODE HERE")
    except SubmissionLost as error:
        return Verdict(False, _message(str(error)), lost=True)
    except SubmissionError as error:
        return Verdict(False, _message(f"your code raised {error}"))
    except Exception as error:
        return Verdict(False, _message(f"the test could not use your code: {type(error).__name__}: {error}"))
    finally:
        deactivate(token)


def _message(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " [...]"


def grade_submission(job: dict) -> dict:
    """Grade one sanitised submission; see the module docstring. Returns a Result as a dict.

    job: {"student", "notebook" (dict), "trusted_sources" (grade id -> source with hidden tests),
          "secret", "limits" (Limits fields), "unsafe"}.
    """
    import nbformat
    started = time.monotonic()
    nb = nbformat.reads(json.dumps(job["notebook"]), as_version=4)     # sources as strings, however they came
    trusted = job["trusted_sources"]
    limits = Limits(**job.get("limits", {}))
    result = Result(job["student"], flags=review_flags(nb))
    runnable_nb = notebook_for_sandbox(nb, trusted)
    provided = provided_reference_models(runnable_nb)
    runnable = json.loads(nbformat.writes(runnable_nb))
    pending = [(grade_id(cell), split_hidden(trusted[grade_id(cell)])[1]) for cell in nb.cells
               if is_test_cell(cell) and grade_id(cell) in trusted]
    timing = {"notebook": 0.0, "kernel_start": 0.0, "hidden_tests": 0.0, "sandbox_starts": 0}
    ran = False                                       # did the sandbox ever come up?
    while pending:
        if timing["sandbox_starts"] == MAX_SANDBOX_STARTS:
            for gid, _ in pending:
                result.verdicts[gid] = asdict(Verdict(False, "not graded: the kernel kept stopping or hanging"))
            break
        timing["sandbox_starts"] += 1
        with Sandbox(runnable, provided, limits, unsafe=job.get("unsafe", False)) as box:
            t0 = time.monotonic()
            try:
                executed = box.start()
            except SandboxError as error:
                result.notes.append(str(error))
                continue
            ran = True
            started_for = time.monotonic() - t0
            cells = min(box.cell_seconds if box.cell_seconds is not None else started_for, started_for)
            timing["notebook"] += cells
            timing["kernel_start"] += started_for - cells
            if timing["sandbox_starts"] == 1:
                _keep_outputs(result, executed)
            while pending:
                gid, code = pending.pop(0)
                t0 = time.monotonic()
                verdict = run_hidden_test(code, box.link, f"{job['secret']}:{gid}")
                timing["hidden_tests"] += time.monotonic() - t0
                result.verdicts[gid] = asdict(verdict)
                if verdict.lost:                      # the kernel is gone or stuck: a fresh one for the rest
                    result.notes.append(f"{gid}: {verdict.message}")
                    break
    result.graded = ran and bool(result.verdicts)     # never grade a class's worth of zeros for a broken sandbox
    result.notes = list(dict.fromkeys(result.notes))
    result.seconds = {key: round(value, 2) for key, value in timing.items()}
    result.seconds["total"] = round(time.monotonic() - started, 2)
    return asdict(result)


def _keep_outputs(result: Result, executed: dict | None) -> None:
    """The executed notebook's outputs by cell index, and a note on cells that stopped the kernel."""
    if executed is None:
        result.notes.append("the executed notebook was too large or unreadable; outputs are not shown")
        return
    result.outputs = {str(i): cell.get("outputs", []) for i, cell in enumerate(executed.get("cells", []))
                      if cell.get("cell_type") == "code"}
    died = [i for i, cell in enumerate(executed.get("cells", []))
            if any(o.get("ename") == "KernelDied" for o in cell.get("outputs", []))]
    if died:
        result.notes.append(f"cell(s) {', '.join(map(str, died))} stopped the kernel and were skipped")
