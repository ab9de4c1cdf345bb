"""`svc service VERB` (docker's spelling) parses to the same handler and flags as the short form `svc VERB`."""

from __future__ import annotations

import pytest

from svc.cli.main import parser

VERBS = {
    "create": ["--name", "web", "-p", "8080:80", "busybox", "sleep", "1"],
    "ls": ["-q", "--format", "{{.Name}}"],
    "ps": ["web", "--no-trunc"],
    "inspect": ["web", "api"],
    "scale": ["web=3", "-d"],
    "update": ["web", "--image", "busybox:1"],
    "rollback": ["web"],
    "rm": ["web", "api"],
    "logs": ["web", "-t"],
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_service_group_is_the_short_form(verb: str) -> None:
    short = vars(parser().parse_args([verb, *VERBS[verb]]))
    long = vars(parser().parse_args(["service", verb, *VERBS[verb]]))
    assert long.pop("verb") == verb
    if verb != "create":  # create's CMD positional is also named `command`
        assert long.pop("command") == "service" and short.pop("command") == verb
    assert short == long and short["func"] is long["func"]
