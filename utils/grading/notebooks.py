"""nbgrader cells and hidden tests: reading metadata, splitting hidden regions, spotting leaks.

A graded test cell of an instructor notebook (solutions/) has a visible part, which students see
and run, and a hidden part between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`, which is
the trusted test: it is run by the grader, never inside a submission.
"""
import html
import re

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def nbgrader_metadata(cell) -> dict:
    """The cell's nbgrader metadata, or {} where it is missing or not a dict."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_test_cell(cell) -> bool:
    meta = nbgrader_metadata(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_locked(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("locked"))


def solution_region_removed(source: str) -> str:
    """An instructor cell's source without its `### BEGIN/END SOLUTION` marker lines (the solution kept)."""
    return "\n".join(line for line in source.splitlines() if not re.search(r"(BEGIN|END) SOLUTION", line))


def filled_release(source_notebook, release_notebook):
    """The release with every answer cell filled in from the instructor's solution: a full-marks submission."""
    import copy
    answers = {grade_id(c): c.source for c in source_notebook.cells if nbgrader_metadata(c).get("solution")}
    filled = copy.deepcopy(release_notebook)
    for cell in filled.cells:
        if grade_id(cell) in answers:
            cell.source = solution_region_removed(answers[grade_id(cell)])
    return filled


def split_hidden(source: str) -> tuple[str, str]:
    """(visible part, hidden part) of a test cell's source; the hidden part without its markers."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_HIDDEN:
            inside = True
        elif line.strip() == END_HIDDEN:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return "\n".join(visible).rstrip(), "\n".join(hidden)


def hidden_test_lines(source_notebook) -> list[str]:
    """The distinctive lines inside hidden-test regions of a source notebook or its path (for leak checks)."""
    if not hasattr(source_notebook, "cells"):
        import nbformat
        source_notebook = nbformat.read(source_notebook, as_version=4)
    hidden_lines, public = [], set()
    for cell in source_notebook.cells:
        visible, hidden = split_hidden(cell.source)
        public.update(line.strip() for line in visible.splitlines())
        hidden_lines += [line.strip() for line in hidden.splitlines() if len(line.strip()) >= 25]
    return [line for line in hidden_lines if line not in public]   # lines the release shows anyway are no secret


def visible_text(html_text: str) -> str:
    """What a reader of an HTML page sees: tags removed, entities decoded, spaces collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"[ \t]+", " ", text)


def leaked_lines(text: str, secret_lines: list[str]) -> list[str]:
    """The secret lines that appear in text as whole statements (whitespace collapsed in both).

    A plain substring search per line (fast on large pages), kept only where the match is not part of
    a longer name: `pairs = ...` does not leak from `all_pairs = ...`.
    """
    flat = re.sub(r"\s+", " ", text)
    found = []
    for line in secret_lines:
        needle = re.sub(r"\s+", " ", line)
        start = flat.find(needle)
        while start != -1:
            before = flat[start - 1] if start else " "
            after = flat[start + len(needle)] if start + len(needle) < len(flat) else " "
            if not (before.isalnum() or before in "_.") and not (after.isalnum() or after == "_"):
                found.append(line)
                break
            start = flat.find(needle, start + 1)
    return found
