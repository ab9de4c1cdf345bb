"""The suite itself: pytest imports test modules by their base name (no packages under tests/), so
two files with one name in different directories abort the whole run at collection — which a run
of one file never shows."""

from __future__ import annotations

import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_test_module_names_are_unique_across_the_suite() -> None:
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for d, _, files in os.walk(TESTS):
        for name in files:
            if name.endswith(".py"):
                seen[name].append(os.path.relpath(os.path.join(d, name), TESTS))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"modules sharing a name (rename one): {clashes}"
