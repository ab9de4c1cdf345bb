"""README.md's shell blocks, as tests run them: every command README shows is run by a test."""

from __future__ import annotations

import os
import re

from helpers import REPO


def shell_block(after: str) -> list[str]:
    """The commands of the first ```sh block after the line that starts with `after`
    (comment-only lines kept, trailing comments dropped, blank lines skipped)."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index("\n" + after)
    m = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert m, f"README.md has no sh block after {after!r}"
    out = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("#"):
            line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
        out.append(line)
    return out


def sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Split a block at its comment-only lines: [(heading, commands), ...]; the first heading is ''."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in lines:
        if line.startswith("#"):
            out.append((line.lstrip("# ").strip(), []))
        else:
            out[-1][1].append(line)
    return [s for s in out if s[1]]
