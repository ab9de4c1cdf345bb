"""Tables, relative times and JSON lines for the CLI's output."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def for_each(refs: list[str], fn: Callable[[str], Any], parallel: int = 1) -> int:
    """Apply `fn` to every named object (several at once with `parallel`); report each failure on
    one line, keep going, and return the exit status (1 if any failed), as docker does."""
    from concurrent.futures import ThreadPoolExecutor

    from svc.errors import SvcError

    def one(ref: str) -> bool:
        try:
            fn(ref)
            return True
        except SvcError as exc:
            print(f"svc: {ref}: {exc}", file=sys.stderr)
            return False

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(refs)))) as pool:
        results = list(pool.map(one, refs))
    return 0 if all(results) else 1


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: Any = None) -> None:
    out = out or sys.stdout
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=False)]
    for r in [list(headers), *rows]:
        line = "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip()
        out.write(line + "\n")


def json_lines(docs: Iterable[dict[str, Any]], out: Any = None) -> None:
    out = out or sys.stdout
    for d in docs:
        out.write(json.dumps(d, sort_keys=True) + "\n")


def ago(ts: float, now: float | None = None) -> str:
    if not ts:
        return ""
    return human_duration((now or time.time()) - ts) + " ago"


def human_duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    m = s // 60
    if m < 60:
        return f"{m} minute{'s' if m != 1 else ''}"
    h = m // 60
    if h < 48:
        return f"{h} hour{'s' if h != 1 else ''}"
    d = h // 24
    return f"{d} days"


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def natural_key(text: str) -> list[Any]:
    """Sort node-2 before node-10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def apply_template(template: str, doc: dict[str, Any]) -> str:
    """A small subset of Go templates: `{{.Field}}` and `{{.a.b}}`."""

    def lookup(m: re.Match[str]) -> str:
        value: Any = doc
        for part in m.group(1).split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return str(value)

    return re.sub(r"\{\{\s*\.([A-Za-z0-9_.]+)\s*\}\}", lookup, template)
