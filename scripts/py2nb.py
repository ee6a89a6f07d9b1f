#!/usr/bin/env python3
"""Build a .ipynb from a percent-format script (cells start with ``# %%`` or ``# %% [markdown]``).

Authoring aid: the committed .ipynb is the source of truth; this turns a draft into one. Markdown cells
are written as comment lines (``# text``). Usage: ``python scripts/py2nb.py draft.py notebooks/NN_x.ipynb``
then execute it in place (``make notebooks`` or ``python scripts/run_notebooks.py notebooks/NN_x.ipynb``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<rest>.*)$")


def convert(text: str) -> nbformat.NotebookNode:
    cells: list[tuple[str, list[str], list[str]]] = []
    kind, lines, tags = None, [], []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            if kind is not None:
                cells.append((kind, lines, tags))
            kind = "markdown" if m.group("md") else "code"
            tags = re.findall(r'"([^"]+)"', m.group("rest")) if "tags=" in m.group("rest") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append((kind, lines, tags))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, body, tags in cells:
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if kind == "markdown":
            src = "\n".join(re.sub(r"^# ?", "", b) for b in body)
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(body))
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    nb = convert(Path(argv[1]).read_text())
    nbformat.write(nb, argv[2])
    print(f"wrote {argv[2]} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
