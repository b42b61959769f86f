"""Markdown tables for the benchmarks' result files (the leaderboard, the published results)."""


def markdown_table(columns: list[str], rows: list[list], align: str | None = None) -> str:
    """A GitHub Markdown table: a header of `columns`, one line per row (cells are str()-ed).

    align: one letter per column, "l" or "r" (default: the first column left, the others right).
    """
    align = align or "l" + "r" * (len(columns) - 1)
    if len(align) != len(columns) or any(len(row) != len(columns) for row in rows):
        raise ValueError("every row and `align` need one entry per column")
    cell = lambda value: str(value).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |",
             "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
