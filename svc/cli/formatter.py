"""`--format` for every listing and inspect, as docker's formatter does it; pure, writes only to `out`.

Rule: the template is prepared (a leading `table`, surrounding spaces, the two-character escapes `\\t`
and `\\n`) and parsed before any row is printed; one output line (or block) per document; a `table`
template gets a header row rendered from the column titles and is aligned as Go's tabwriter with
docker's settings (cells padded by 3 to at least 10 characters; the last cell of a line is not padded).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svc.cli.gotemplate import Template

TABLE = "table"


def is_template(fmt: str) -> bool:
    """A `--format` that is a template (not empty, not the `json` keyword, not a bare `table`)."""
    return bool(fmt) and fmt not in ("json", TABLE)


def prepare(fmt: str) -> tuple[Template, bool]:
    from svc.cli.gotemplate import Template  # only a command given a template pays for the parser

    table = fmt.startswith(TABLE)
    text = fmt[len(TABLE) :] if table else fmt
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return Template(text), table


def render(fmt: str, docs: Iterable[Any], titles: dict[str, str] | None = None, out: Any = None) -> None:
    """Print each document through the template `fmt` (a bad one fails before anything is printed)."""
    from svc.cli.gotemplate import Header

    out = out or sys.stdout
    template, table = prepare(fmt)
    body = "".join(template.execute(doc) + "\n" for doc in docs)  # all rows first: an error prints nothing
    out.write(tabwrite(template.execute(Header(titles)) + "\n" + body) if table else body)


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (padchar ' ', no flags): a tab ends a cell; cells of a column block (consecutive
    lines that have that column) are padded to the block's widest cell plus `padding`, at least `minwidth`."""
    lines = [line.split("\t") for line in text.split("\n")]
    widths: list[list[int]] = [[0] * (len(cells) - 1) for cells in lines]
    column = 0
    while True:
        rows = [i for i, cells in enumerate(lines) if len(cells) - 1 > column]
        if not rows:
            break
        block: list[int] = []
        for i in [*rows, -1]:
            if block and (i != block[-1] + 1):
                width = max(max(len(lines[j][column]) for j in block) + padding, minwidth)
                for j in block:
                    widths[j][column] = width
                block = []
            if i >= 0:
                block.append(i)
        column += 1
    out = []
    for cells, cell_widths in zip(lines, widths, strict=True):
        out.append("".join(c.ljust(w) for c, w in zip(cells, cell_widths, strict=False)) + cells[-1])
    return "\n".join(out)
