"""Turn whatever a student handed in into a notebook the grader can run, and say what was changed.

A submission may be invalid JSON, break the notebook schema, carry odd metadata (`nbgrader` as a
string), lone surrogate characters, duplicated or deleted nbgrader cells, stripped metadata, or
huge outputs. `sanitize` rebuilds a valid notebook from it against the released version; only a
file that is not a notebook at all is refused (SubmissionUnreadable), and that costs only its author.
"""
import copy
import difflib
import json
import re
from pathlib import Path

import nbformat

from .notebooks import grade_id, nbgrader_metadata

MAX_SUBMISSION_BYTES = 64 * 2 ** 20
STUDENT_ID = re.compile(r"[A-Za-z0-9_.@-]+")


class SubmissionUnreadable(Exception):
    """The file cannot be read as a notebook at all."""


def find_submissions(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """({student id: notebook}, {entry name: why it was skipped}).

    A student hands in `<student>.ipynb` or a folder `<student>/` with one notebook inside.
    """
    found, skipped = {}, {}
    for path in sorted(Path(folder).iterdir()):
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                skipped[path.name] = "no notebook inside the folder"
                continue
            student, notebook = path.name, notebooks[0]
        elif path.suffix == ".ipynb" and path.is_file():
            student, notebook = path.stem, path
        else:
            continue
        if not STUDENT_ID.fullmatch(student):
            skipped[student] = "a student id may only use letters, digits and _.@- (rename it)"
            continue
        found[student] = notebook
    return found, skipped


def _clean_text(value):
    """Strings without lone surrogates (they cannot be written as UTF-8); other values unchanged."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_clean_text(v) for v in value]
    if isinstance(value, dict):
        return {_clean_text(k): _clean_text(v) for k, v in value.items()}
    return value


def _as_source(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return ""


def read_notebook(path: Path, notes: list[str]):
    """Rebuild a schema-valid nbformat 4 notebook from a file, keeping every cell's type, source and metadata."""
    data = Path(path).read_bytes()
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionUnreadable(f"the file is {len(data) // 2 ** 20} MB, over the {MAX_SUBMISSION_BYTES // 2 ** 20} MB limit")
    try:
        raw = _clean_text(json.loads(data.decode("utf-8", "replace")))
    except ValueError as error:
        raise SubmissionUnreadable(f"not a notebook (invalid JSON: {error})") from None
    if isinstance(raw, dict) and raw.get("nbformat") == 3:
        try:
            raw = json.loads(nbformat.writes(nbformat.reads(json.dumps(raw), as_version=4)))
        except Exception as error:
            raise SubmissionUnreadable(f"an nbformat 3 notebook that cannot be converted: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise SubmissionUnreadable("not a notebook (no list of cells)")
    nb = nbformat.v4.new_notebook()
    odd = 0
    for item in raw["cells"]:
        if not isinstance(item, dict) or item.get("cell_type") not in ("code", "markdown", "raw"):
            odd += 1
            continue
        source = _as_source(item.get("source"))
        make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                "raw": nbformat.v4.new_raw_cell}[item["cell_type"]]
        cell = make(source)
        metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        if "nbgrader" in metadata and not isinstance(metadata["nbgrader"], dict):
            odd += 1
            metadata = {k: v for k, v in metadata.items() if k != "nbgrader"}
        cell.metadata = nbformat.from_dict(json.loads(json.dumps(metadata, default=str)))
        nb.cells.append(cell)
    if odd:
        notes.append(f"ignored {odd} malformed cell(s) or metadata entries")
    return nb


def _restore_stripped_metadata(nb, release) -> int:
    """Copy nbgrader metadata from the release onto cells whose metadata a student lost.

    Cells that the student did not edit (instructions, tests) are matched by identical source; a
    solution cell is matched to the first unlabelled cell of its type between its matched neighbours.
    """
    have = {grade_id(c) for c in nb.cells if grade_id(c)}
    matcher = difflib.SequenceMatcher(a=[c.source for c in release.cells], b=[c.source for c in nb.cells],
                                      autojunk=False)
    mapping = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[block.a + k] = block.b + k
    restored = 0
    for i, cell in enumerate(release.cells):
        gid = grade_id(cell)
        if not gid or gid in have:
            continue
        j = mapping.get(i)
        if j is None and nbgrader_metadata(cell).get("solution"):
            before = max((mapping[k] for k in mapping if k < i), default=-1)
            after = min((mapping[k] for k in mapping if k > i), default=len(nb.cells))
            gap = [k for k in range(before + 1, after)
                   if nb.cells[k].cell_type == cell.cell_type and not grade_id(nb.cells[k])]
            j = gap[0] if gap else None
        if j is not None and not grade_id(nb.cells[j]):
            nb.cells[j].metadata["nbgrader"] = copy.deepcopy(cell.metadata["nbgrader"])
            have.add(gid)
            restored += 1
    return restored


def _restore_deleted_cells(nb, release) -> list[str]:
    """Put back, where they were, the release's nbgrader cells that the student deleted."""
    restored, insert_at = [], 0
    for cell in release.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        positions = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c)}
        if gid in positions:
            insert_at = positions[gid] + 1
        else:
            nb.cells.insert(insert_at, copy.deepcopy(cell))
            insert_at += 1
            restored.append(gid)
    return restored


def sanitize(path: Path, release) -> tuple[object, list[str]]:
    """(a gradable notebook, notes on what was changed) for one submission, checked against the release.

    Raises SubmissionUnreadable if the file is not a notebook at all.
    """
    notes: list[str] = []
    nb = read_notebook(path, notes)
    known = {grade_id(c): c for c in release.cells if grade_id(c)}
    restored = _restore_stripped_metadata(nb, release)
    if restored:
        notes.append(f"restored nbgrader metadata on {restored} cell(s)")
    seen = set()
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        if gid is None and "nbgrader" in cell.metadata:
            del cell.metadata["nbgrader"]
        elif gid is not None and (gid in seen or gid not in known):
            del cell.metadata["nbgrader"]     # a duplicate, or a cell this homework does not have
            notes.append(f"cell {index} {'duplicated' if gid in seen else 'claims the unknown graded cell'} "
                         f"{gid!r}; it now runs as an ordinary cell")
        elif gid is not None:
            cell.metadata["nbgrader"] = copy.deepcopy(known[gid].metadata["nbgrader"])   # points etc. as released
            seen.add(gid)
    deleted = _restore_deleted_cells(nb, release)
    if deleted:
        notes.append(f"restored deleted cell(s) {', '.join(deleted)}")
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata = nbformat.from_dict({"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                      "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb, notes


def restore_locked_cells(nb, trusted_sources: dict) -> list[str]:
    """Put the instructor's source (hidden tests included) into every locked cell; return those the student edited.

    nbgrader does the same when it autogrades (OverwriteCells); doing it first keeps its checksum
    check quiet for cells the student left alone, and names the ones they changed.
    """
    from .notebooks import is_locked, split_hidden
    edited = []
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in trusted_sources and is_locked(cell):
            if cell.source.strip() != split_hidden(trusted_sources[gid])[0].strip():
                edited.append(gid)
            cell.source = trusted_sources[gid]
    return edited
