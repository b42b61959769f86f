"""Google Colab: the set-up lines and "Open in Colab" badges of every notebook, from one address.

The repository address lives only in pyproject.toml ([project.urls] Repository). This script writes
it into the first lines of each notebook's set-up cell (on Colab they install the course's light
`utils` package, nothing of the Jupyter stack) and into a badge in each notebook's title cell:

    python -m utils.colab            # rewrite course/ and solutions/ (then: python -m utils.grading release)
    python -m utils.colab --check    # exit 1 and list the notebooks that are out of date

Students open the released homework (assignments/), so the badge of a solutions/ notebook points there.
"""
import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BRANCH = "main"
SETUP_FIRST_LINE = "# Setup: works locally (after the README's set-up command) and on Google Colab."
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_PATTERN = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def repository_url() -> str:
    """The repository's address, e.g. https://github.com/owner/name (from pyproject.toml)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    url = project["urls"]["Repository"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"[project.urls] Repository must be https://github.com/<owner>/<name>, got {url!r}")
    return url


def setup_lines(url: str) -> list[str]:
    """The generated first lines of every set-up cell."""
    return [SETUP_FIRST_LINE,
            "import sys",
            'if "google.colab" in sys.modules:  # on Colab: install the course\'s light utils package, nothing else',
            f'    %pip install -q "ar-course @ git+{url}"']


def badge(url: str, notebook: Path) -> str:
    """Markdown for an "Open in Colab" badge of a notebook (a path relative to the repository)."""
    path = notebook.as_posix()
    if path.startswith("solutions/"):
        path = "assignments/" + path[len("solutions/"):]
    colab = url.replace("https://github.com/", "https://colab.research.google.com/github/")
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab}/blob/{BRANCH}/{path})"


def course_notebooks() -> list[Path]:
    """Every lecture and homework source notebook, relative to the repository."""
    found = sorted(REPO_ROOT.glob("course/*.ipynb")) + sorted(REPO_ROOT.glob("solutions/*/*.ipynb"))
    return [p.relative_to(REPO_ROOT) for p in found if ".ipynb_checkpoints" not in p.parts]


def with_setup(source: str, url: str) -> str:
    """A set-up cell's source with its generated first lines replaced (the lines after them kept)."""
    lines = source.splitlines()
    if not lines or lines[0] != SETUP_FIRST_LINE:
        raise ValueError(f"the first code cell must start with {SETUP_FIRST_LINE!r}")
    end = next((i for i, line in enumerate(lines) if "%pip install" in line), None)
    if end is None:
        raise ValueError("the set-up cell has no `%pip install` line to regenerate")
    return "\n".join(setup_lines(url) + lines[end + 1:])


def with_badge(source: str, url: str, notebook: Path) -> str:
    """A title cell's source with its badge (the line after the title) written or updated."""
    lines = source.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("the first cell must be markdown starting with a '# ' title")
    wanted = badge(url, notebook)
    if len(lines) > 1 and BADGE_PATTERN.fullmatch(lines[1].strip()):
        lines[1] = wanted
    else:
        lines[1:1] = [wanted]
    return "\n".join(lines)


def regenerate(notebook: Path, url: str) -> bool:
    """Update one notebook in place; return True if it changed."""
    import nbformat
    path = REPO_ROOT / notebook
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0]
    setup = next(cell for cell in nb.cells if cell.cell_type == "code")
    if title.cell_type != "markdown":
        raise ValueError(f"{notebook}: the first cell must be the markdown title")
    new_title, new_setup = with_badge(title.source, url, notebook), with_setup(setup.source, url)
    if (new_title, new_setup) == (title.source, setup.source):
        return False
    title.source, setup.source = new_title, new_setup
    nbformat.write(nb, path)
    return True


def out_of_date(url: str | None = None) -> list[Path]:
    """Notebooks whose set-up lines or badge differ from what regenerate would write."""
    import nbformat
    url = url or repository_url()
    stale = []
    for notebook in course_notebooks():
        nb = nbformat.read(REPO_ROOT / notebook, as_version=4)
        setup = next(cell for cell in nb.cells if cell.cell_type == "code")
        if (with_badge(nb.cells[0].source, url, notebook) != nb.cells[0].source
                or with_setup(setup.source, url) != setup.source):
            stale.append(notebook)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.colab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the notebooks that are out of date")
    args = parser.parse_args(argv)
    url = repository_url()
    if args.check:
        stale = out_of_date(url)
        for notebook in stale:
            print(f"out of date: {notebook}")
        return 1 if stale else 0
    for notebook in course_notebooks():
        if regenerate(notebook, url):
            print(f"updated {notebook}")
    print("now run `python -m utils.grading release` so that assignments/ follows solutions/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
