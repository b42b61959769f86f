"""The set-up paths agree: pip (pyproject.toml), conda (environment.yml), README and CI."""
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def requirement(spec: str) -> tuple[str, str]:
    """('nbgrader', '==0.9.*') from 'nbgrader==0.9.*'; conda's single '=' pins count as '=='."""
    name, version = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec).groups()
    return name.lower().replace("_", "-"), version.strip()


def pip_requirements() -> dict:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
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


def test_pip_and_conda_list_the_same_packages_and_versions():
    pip, conda = pip_requirements(), conda_requirements()
    assert set(pip) == set(conda), f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: {set(conda) - set(pip)}"
    assert pip == conda


def test_the_design_card_packages_are_all_there():
    for package in ["torch", "jupyterlab", "nbgrader", "matplotlib", "ipywidgets", "torchvision", "nbval"]:
        assert package in pip_requirements()


def test_readme_names_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make course" in readme and "make test" in readme and "make course LAB=no" in readme
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert ci[-1] == "make test", "the last thing CI does must be the README's test command"
