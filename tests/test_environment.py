"""The set-up paths agree: pip (pyproject.toml), the lock, conda (environment.yml), the README and CI."""
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirement(spec: str) -> tuple[str, str]:
    """('nbgrader', '==0.9.*') from 'nbgrader==0.9.*'; conda's single '=' pins count as '=='."""
    name, version = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*([^#]*)", spec).groups()
    return name.lower().replace("_", "-"), version.strip()


def pip_requirements(*groups: str) -> dict:
    specs = list(PROJECT["dependencies"])
    for group in groups:
        specs += PROJECT["optional-dependencies"][group]
    return dict(requirement(s) for s in specs)


def conda_requirements() -> dict:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    specs = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            specs += [s for s in entry["pip"] if not s.startswith("-e")]
        elif not entry.startswith(("python=", "pip")):
            specs.append(entry)
    return dict(requirement(s) for s in specs)


def locked_versions() -> dict:
    """name -> set of locked versions (several where the lock forks by Python version)."""
    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, version = line.split(";")[0].strip().split("==")
            locked.setdefault(name.lower(), set()).add(version)
    return locked


def test_pip_and_conda_list_the_same_packages_and_versions():
    pip, conda = pip_requirements("instructor", "dev"), conda_requirements()
    assert set(pip) == set(conda), f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: {set(conda) - set(pip)}"
    assert pip == conda


def test_the_base_package_is_light_and_the_extras_hold_the_rest():
    base = pip_requirements()
    for package in ["torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "tqdm", "mlxtend", "scikit-learn", "names"]:
        assert package in base
    for heavy in ["nbgrader", "jupyterlab", "nbval", "pytest", "playwright", "nbconvert", "notebook"]:
        assert heavy not in base, f"{heavy} must not be a base dependency (Colab, students)"
    assert {"nbgrader", "jupyterlab"} <= set(pip_requirements("instructor"))
    assert {"pytest", "nbval", "playwright"} <= set(pip_requirements("dev"))


def test_the_lock_pins_every_package_within_the_project_ranges():
    locked = locked_versions()
    for spec in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["instructor"] + PROJECT["optional-dependencies"]["dev"]:
        wanted = Requirement(spec.split("#")[0])
        name = wanted.name.lower().replace("_", "-")
        assert name in locked, f"{name} is missing from requirements.lock: run `make lock`"
        assert all(wanted.specifier.contains(v, prereleases=True) for v in locked[name]), \
            f"requirements.lock pins {name} {locked[name]}, outside {wanted.specifier}: run `make lock`"
    held = dict(requirement(line) for line in (REPO / "lock-constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for name, pin in held.items():
        assert locked[name] == {pin.removeprefix("==")}, f"requirements.lock must hold {name}{pin} (lock-constraints.txt)"


def test_readme_names_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make course" in readme and "make test" in readme and "make course LAB=no" in readme
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert ci[-1] == "make test", "the last thing CI does must be the README's test command"


def test_make_course_installs_from_the_lock_and_registers_no_user_kernel():
    makefile = (REPO / "Makefile").read_text()
    assert "-r requirements.lock" in makefile and "--no-deps -e ." in makefile
    assert "--user" not in makefile, "a user-level kernel would keep pointing into this clone after it is deleted"
    assert "COURSE_STRICT_CHECKS=1" in makefile


def test_the_student_package_and_the_grading_tools_stay_light():
    import subprocess
    import sys
    checks = {
        "import utils, utils.data, utils.checks, utils.train, utils.plotting, utils.models, utils.widgets, sys; "
        "heavy = {'nbgrader', 'nbconvert', 'jupyterlab', 'jupyter_server'} & {m.split('.')[0] for m in sys.modules}; "
        "assert not heavy, heavy": "the lecture notebooks' imports pull in the Jupyter stack",
        "import utils.grading, utils.grading.cli, utils.grading.gradebook, sys; "
        "assert 'torch' not in sys.modules": "importing the grading tools imports PyTorch",
    }
    for code, problem in checks.items():
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{problem}: {result.stderr[-1000:]}"
