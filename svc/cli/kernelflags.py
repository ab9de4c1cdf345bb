"""`--init`, `--sysctl`, `--ulimit` and `--add-host` on `svc container run/create` and `svc create`.

Docker's spellings (`--ulimit nofile=1024:2048`, `--add-host db:10.0.0.5`); the rules are
svc/kernelopts.py's, which the managers and the engine apply again. Docker's service flag for hosts,
`--host`, is svc's manager address option, so services take `--add-host` too.
"""

from __future__ import annotations

import argparse
from typing import Any

from svc import kernelopts


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--init", action="store_true", help="run a tiny init (tini) as PID 1: reaps zombies, forwards signals"
    )
    p.add_argument(
        "--sysctl", action="append", default=[], metavar="NAME=VALUE", help="a namespaced kernel parameter (net.*, ...)"
    )
    p.add_argument(
        "--ulimit",
        action="append",
        default=[],
        metavar="NAME=SOFT[:HARD]",
        help="a resource limit, e.g. nofile=1024:2048",
    )
    p.add_argument(
        "--add-host", action="append", default=[], metavar="HOST:IP", help="a line of /etc/hosts (repeatable)"
    )


def apply(args: argparse.Namespace, spec: Any) -> None:
    """The flags into a ContainerSpec (after its network is set: net.* sysctls need their own)."""
    spec.init = bool(getattr(args, "init", False))
    for item in getattr(args, "sysctl", []):
        name, value = kernelopts.parse_sysctl(item)
        spec.sysctls[name] = value
    for item in getattr(args, "ulimit", []):
        name, soft, hard = kernelopts.parse_ulimit(item)
        spec.ulimits.add(name=name, soft=soft, hard=hard)
    spec.extra_hosts.extend(kernelopts.host_line(h) for h in getattr(args, "add_host", []))
    kernelopts.validate(spec)
