"""Execution time of every lecture and homework-solution notebook (the 90 s budget per notebook).

    python -m utils.bench.notebooks                 # all of course/ and solutions/
    python -m utils.bench.notebooks course/01_likelihood_and_histograms.ipynb

Each notebook runs in a fresh kernel from its own folder, as nbval and nbgrader run it; nothing is
written back. Prints one line per notebook and flags those over budget.
"""
import argparse
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
BUDGET_S, CAP_S = 90, 180


def execution_seconds(path: Path) -> float:
    """Wall-clock seconds to execute the notebook at path end to end (raises if a cell fails)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CAP_S * 2, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "course").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*/*.ipynb"))
    for path in paths:
        seconds = execution_seconds(path)
        flag = "" if seconds <= BUDGET_S else ("  OVER BUDGET" if seconds <= CAP_S else "  OVER CAP")
        print(f"{seconds:7.1f} s  {path.resolve().relative_to(REPO)}{flag}", flush=True)


if __name__ == "__main__":
    main()
