"""Run one submission in a sandbox: its notebook, then its answers to the hidden tests' calls.

Outside (trusted): `Sandbox` starts Debian's bubblewrap (`bwrap`) with
- its own PID, network, IPC and UTS namespaces: no network at all, no view of other processes, and
  every process the submission starts dies with the sandbox;
- a read-only view of the Python installation and the course's `utils` package, in which
  `utils.models` holds only the reference models the homework's own cells import (the rest are
  the answers); nothing of the repository, solutions/, the gradebook or other students' files;
- one writable folder of its own (the notebook, its outputs, the socket to the grader) and a
  private /tmp;
- a user id of its own (when the grader runs as root) and resource limits: CPU time, address space,
  number of processes, file size.
Where bubblewrap cannot run, grading stops with an error unless the instructor passes --unsafe.

Inside (untrusted): `python -m utils.grading.sandbox NOTEBOOK` starts a Jupyter kernel, has it
listen for the grader on a Unix socket before any student code runs (utils.grading.listen),
executes the notebook cell by cell (a time limit per cell, output capped as it arrives; a cell that
kills the kernel is skipped and the notebook run again without it), writes the executed notebook
and waits: the grader then calls into the kernel, and stops the sandbox.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

UTILS_DIR = Path(__file__).resolve().parent.parent
SUBMISSION_DIR = "/submission"                 # the sandbox's own folder, as seen inside
COURSE_DIR_INSIDE = "/opt/ar-course"           # where the utils package appears inside
SOCKET_NAME = "grader.sock"
EXECUTED_NAME = "executed.ipynb"
KERNEL_DEATH_MESSAGE = ("The grader skipped this cell: running it stopped the Python kernel "
                        "(os._exit, a crash or running out of memory).")
MAX_KERNEL_DEATHS = 3


@dataclass
class Limits:
    """What one submission may use."""
    cell_timeout: float = 60.0             # wall-clock seconds per notebook cell and per hidden-test call
    cpu_seconds: int = 1800                # CPU time of each process
    memory_bytes: int = 8 * 2 ** 30        # address space of each process (PyTorch reserves a lot of it)
    processes: int = 256                   # processes and threads of the sandbox's user
    file_bytes: int = 512 * 2 ** 20        # largest file it may write
    output_bytes: int = 2 * 2 ** 20        # outputs kept per notebook (the rest is dropped, with a note)
    startup_seconds: float = 120.0         # kernel start-up and imports


class SandboxError(RuntimeError):
    """The sandbox could not run (bubblewrap missing or not permitted)."""


def bubblewrap_problem() -> str | None:
    """None if bubblewrap can create a sandbox here, else why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (`bwrap`) is not installed: apt-get install bubblewrap"
    result = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                             "--dev", "/dev", "true"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {result.stderr.strip()}"
    return None


def provided_reference_models(notebook) -> list[str]:
    """The utils.models modules that a homework's own (locked) cells import, e.g. ["rnn"]."""
    names = set()
    for cell in notebook.cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("locked"):
            continue
        names.update(re.findall(r"from utils\.models\.(\w+) import", cell.source))
        if re.search(r"from utils\.models import|import utils\.models\b", cell.source):
            raise ValueError("a locked cell imports the whole of utils.models; import the module it needs, "
                             "e.g. `from utils.models.rnn import AutoregressiveRNN`")
    return sorted(names)


def _models_view(folder: Path, provided: list[str]) -> Path:
    """A stand-in for utils/models holding only the provided modules (and what they import)."""
    view = folder / "models"
    view.mkdir()
    wanted, todo = set(), list(provided)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        source = (UTILS_DIR / "models" / f"{name}.py").read_text()
        todo += re.findall(r"from \.(\w+) import", source)
    for name in sorted(wanted):
        shutil.copy(UTILS_DIR / "models" / f"{name}.py", view / f"{name}.py")
    (view / "__init__.py").write_text(
        '"""While homework is graded, the reference models are hidden; this homework provides: '
        f'{", ".join(sorted(provided)) or "none"}."""\n')
    return view


def _readable_roots() -> list[str]:
    """Folders the sandbox sees read-only: the system and this Python (its installation and venv)."""
    roots = ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/fonts", "/etc/ssl",
             "/etc/alternatives", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
             sys.base_prefix, sys.prefix]
    roots += [os.path.realpath(root) for root in (sys.base_prefix, sys.prefix)]   # a venv reached by a symlink
    return [root for root in dict.fromkeys(roots) if os.path.exists(root)]


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts
    return [str(Path(*parts[:i])) for i in range(2, len(parts))]


class Sandbox:
    """One submission's sandbox. Use as a context manager; `start()` runs the notebook and connects.

        with Sandbox(notebook_json, provided_models, limits) as box:
            box.start()                     # executes the notebook, returns the executed notebook (dict)
            link = box.link                 # a utils.grading.remote.SocketLink to the kernel
    """

    def __init__(self, notebook: dict, provided_models: list[str], limits: Limits, unsafe: bool = False):
        self.notebook, self.provided_models, self.limits, self.unsafe = notebook, provided_models, limits, unsafe
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.link = None
        self.cell_seconds = None                  # time the notebook's cells took (reported from inside)
        self.uid = 100000 + os.getpid() % 50000 if os.geteuid() == 0 else None

    def __enter__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="ar-course-sandbox-"))
        os.chmod(self.folder, 0o755)
        work = self.folder / "submission"
        work.mkdir()
        (work / "notebook.ipynb").write_text(json.dumps(self.notebook))
        if self.uid is not None:
            os.chown(work, self.uid, self.uid)
            os.chown(work / "notebook.ipynb", self.uid, self.uid)
        self.models = _models_view(self.folder, self.provided_models)
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def command(self) -> list[str]:
        inner = [sys.executable, "-m", "utils.grading.sandbox", f"{SUBMISSION_DIR}/notebook.ipynb",
                 "--cell-timeout", str(self.limits.cell_timeout), "--output-bytes", str(self.limits.output_bytes)]
        limits = ["prlimit", f"--cpu={self.limits.cpu_seconds}", f"--as={self.limits.memory_bytes}",
                  f"--nproc={self.limits.processes}", f"--fsize={self.limits.file_bytes}", "--core=0", "--"]
        if self.unsafe:
            return limits + inner
        command = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                   "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
        if self.uid is None:   # not root: a user namespace of our own instead of a user id of its own
            command += ["--unshare-user"]
        else:
            command += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
        # the private /tmp first: a Python or course installed under /tmp is then bound on top of it
        command += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
        made = set()
        for target in [*_readable_roots(), COURSE_DIR_INSIDE + "/utils", SUBMISSION_DIR]:
            for parent in _ancestors(target):
                if parent not in made and parent != "/tmp":
                    command += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
        for root in _readable_roots():
            command += ["--ro-bind", root, root]
        command += ["--ro-bind", str(UTILS_DIR), COURSE_DIR_INSIDE + "/utils",
                    "--ro-bind", str(self.models), COURSE_DIR_INSIDE + "/utils/models",
                    "--bind", str(self.folder / "submission"), SUBMISSION_DIR, "--chdir", SUBMISSION_DIR]
        for key, value in self.environment(inside=True).items():
            command += ["--setenv", key, value]
        command += ["--"]
        if self.uid is not None:
            command += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--inh-caps=-all"]
        return command + limits + inner

    def environment(self, inside: bool) -> dict:
        home = SUBMISSION_DIR if inside else str(self.folder / "submission")
        return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": home,
                "PYTHONPATH": COURSE_DIR_INSIDE if inside else str(UTILS_DIR.parent),
                "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.matplotlib", "IPYTHONDIR": f"{home}/.ipython",
                "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                "NBGRADER_EXECUTION": "autograde", "LANG": "C.UTF-8", "COURSE_DEVICE": "cpu"}

    def start(self) -> dict:
        """Execute the notebook in the sandbox and connect to its kernel; return the executed notebook."""
        from .remote import SocketLink
        work = self.folder / "submission"
        env = self.environment(inside=False) if self.unsafe else {}
        with open(self.folder / "runner.log", "wb") as log:      # outside the sandbox's own folder
            self.process = subprocess.Popen(self.command(), cwd=work, env=env or None, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        cells = max(1, len(self.notebook.get("cells", [])))
        deadline = time.monotonic() + self.limits.startup_seconds + \
            (MAX_KERNEL_DEATHS + 1) * cells * (self.limits.cell_timeout + 5)
        sock_path = work / SOCKET_NAME
        while time.monotonic() < deadline:
            if (work / (EXECUTED_NAME + ".done")).exists() and sock_path.exists():
                try:
                    self.link = SocketLink(str(sock_path), timeout=self.limits.cell_timeout)
                    break
                except OSError:
                    pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        executed = self._read_executed(work)
        try:
            self.cell_seconds = float(json.loads((work / (EXECUTED_NAME + ".done")).read_text())["cell_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            self.cell_seconds = None
        if self.link is None:
            problem = (self.folder / "runner.log").read_bytes()[-2000:].decode(errors="replace").strip()
            raise SandboxError(f"the submission's kernel did not become ready{': ' + problem if problem else ''}")
        return executed

    def _read_executed(self, work: Path) -> dict | None:
        path = work / EXECUTED_NAME
        if not path.is_file() or path.stat().st_size > 4 * self.limits.output_bytes + 2 ** 22:
            return None
        try:
            return json.loads(path.read_text(errors="replace"))
        except ValueError:
            return None

    def stop(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)       # bwrap's PID namespace takes everything with it
            self.process.wait()


# ----------------------------------------------------------------------------------------------
# inside the sandbox


def _capped_client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """A NotebookClient that keeps at most `output_bytes` of outputs, dropping the rest as it arrives."""
        output_bytes = 2 * 2 ** 20
        kept = 0
        truncated = False

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if self.kept + size > self.output_bytes:
                if not self.truncated:
                    self.truncated = True
                    from nbformat.v4 import new_output
                    outs.append(new_output("stream", name="stdout",
                                           text="\n[the grader dropped the rest of this notebook's output: over its size limit]\n"))
                return None
            self.kept += size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def run_notebook_inside(path: str, cell_timeout: float, output_bytes: int) -> None:
    """Execute the notebook, write it back executed, then serve the grader from the kernel."""
    import nbformat
    from nbclient.exceptions import DeadKernelError

    folder = Path(path).parent
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)                               # nothing the student prints reaches the grader's pipes
    source = nbformat.read(path, as_version=4)
    if not source.cells:
        source.cells.append(nbformat.v4.new_markdown_cell("(empty)"))
    skipped: set[int] = set()
    cell_seconds = 0.0
    for _attempt in range(MAX_KERNEL_DEATHS + 1):
        nb = nbformat.from_dict(json.loads(json.dumps(source)))
        client = _capped_client_class()(nb, timeout=int(cell_timeout), kernel_name="python3", allow_errors=True,
                                        interrupt_on_timeout=True, resources={"metadata": {"path": str(folder)}})
        client.output_bytes = output_bytes
        died = None
        socket_path = folder / SOCKET_NAME
        socket_path.unlink(missing_ok=True)
        try:
            with client.setup_kernel(stdout=devnull, stderr=devnull):
                listen = nbformat.v4.new_code_cell("from utils.grading.listen import serve_in_background as _serve\n"
                                                   f"_serve({str(socket_path)!r}, globals())\ndel _serve")
                first = nb.cells[0]
                client.execute_cell(listen, 0, store_history=False)     # nbclient stores the cell at its index
                nb.cells[0] = first
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if index in skipped:
                        cell.outputs = [nbformat.v4.new_output("error", ename="KernelDied", evalue=KERNEL_DEATH_MESSAGE,
                                                               traceback=[KERNEL_DEATH_MESSAGE])]
                        continue
                    started = time.monotonic()
                    try:
                        client.execute_cell(cell, index)
                    except DeadKernelError:
                        died = index
                        break
                    finally:
                        cell_seconds += time.monotonic() - started
                if died is None:
                    nbformat.write(nb, folder / EXECUTED_NAME)
                    (folder / (EXECUTED_NAME + ".done")).write_text(
                        json.dumps({"skipped": sorted(skipped), "cell_seconds": round(cell_seconds, 3)}))
                    while True:                      # the grader calls into the kernel, then stops the sandbox
                        time.sleep(60)
        except DeadKernelError:
            pass
        if died is None:
            return
        skipped.add(died)


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m utils.grading.sandbox", description="(runs inside the sandbox)")
    parser.add_argument("notebook")
    parser.add_argument("--cell-timeout", type=float, default=60)
    parser.add_argument("--output-bytes", type=int, default=2 * 2 ** 20)
    args = parser.parse_args(argv)
    run_notebook_inside(args.notebook, args.cell_timeout, args.output_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
