"""Google Colab: one repository address, generated set-up cells and badges, an install that leaves Colab alone."""
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from utils import colab

REPO = Path(__file__).resolve().parent.parent
COLAB_PINS = REPO / "tests" / "data" / "colab-pins.txt"
JUPYTER_STACK = {"jupyterlab", "notebook", "nbgrader", "nbconvert", "nbclient", "jupyter-server", "ipykernel",
                 "ipywidgets", "widgetsnbextension", "jupyterlab-widgets", "ipython", "traitlets"}


def test_every_notebook_has_the_generated_setup_lines_and_badge():
    stale = colab.out_of_date()
    assert not stale, f"run `python -m utils.colab` (then `python -m utils.grading release`): {stale}"


def test_the_setup_lines_install_only_the_light_package_from_the_configured_address():
    url = colab.repository_url()
    lines = colab.setup_lines(url)
    assert lines[-1].strip() == f'%pip install -q "ar-course @ git+{url}"'   # no [instructor] / [dev] extras
    assert colab.badge(url, Path("solutions/hw1/hw1.ipynb")).endswith(f"/blob/main/assignments/hw1/hw1.ipynb)")


def _text_lines(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        import nbformat
        return [line for cell in nbformat.read(path, as_version=4).cells for line in cell.source.splitlines()]
    return path.read_text(errors="ignore").splitlines()


def test_the_repository_address_is_written_only_where_it_is_generated():
    url = colab.repository_url()
    owner_and_name = url.removeprefix("https://github.com/")
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    generated = set(colab.setup_lines(url))
    for name in tracked:
        path = REPO / name
        if name == "pyproject.toml" or not path.is_file() or path.suffix not in {".py", ".md", ".ipynb", ".txt", ".yml"}:
            continue
        for line in _text_lines(path):
            if owner_and_name not in line or line in generated:
                continue
            links = re.findall(r"/blob/main/([\w/.-]+\.ipynb)", line)
            assert links and all(colab.badge(url, Path(link)) in line for link in links), \
                f"{name}: the address appears outside the generated set-up lines and badges: {line!r}"


def test_the_readme_links_every_lecture_to_colab():
    readme = (REPO / "README.md").read_text()
    url = colab.repository_url()
    for notebook in colab.course_notebooks():
        assert colab.badge(url, notebook) in readme, f"README: no Colab badge for {notebook}"


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def _fake_installed_packages(folder: Path) -> dict:
    """Metadata-only .dist-info folders for every Colab pin: pip then sees them as installed."""
    pins = {}
    for line in COLAB_PINS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
            info = folder / f"{name.strip().replace('-', '_')}-{version.strip()}.dist-info"
            info.mkdir(parents=True)
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.strip()}\nVersion: {version.strip()}\n")
            (info / "INSTALLER").write_text("pip\n")
            (info / "RECORD").write_text("")
    return pins


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.skipif(not _pypi_reachable(), reason="needs the package registry (pypi.org) to resolve the install")
def test_installing_on_colab_changes_none_of_its_packages(tmp_path):
    pins = _fake_installed_packages(tmp_path / "colab-site")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    wheel = next((tmp_path / "wheel").glob("ar_course-*.whl"))
    result = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet",
                             "--report", str(tmp_path / "report.json"), str(wheel)],
                            env={"PYTHONPATH": str(tmp_path / "colab-site"), "PATH": "/usr/bin:/bin",
                                 "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    would_install = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    changed = {name: f"{pins[name]} -> {would_install[name]}" for name in would_install if name in pins}
    assert not changed, f"installing the course on Colab would change its packages: {changed}"
    assert "ar-course" in would_install
    assert not JUPYTER_STACK & set(would_install), f"the light package pulls in the Jupyter stack: {JUPYTER_STACK & set(would_install)}"
