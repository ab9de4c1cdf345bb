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


def add_update_flags(p: argparse.ArgumentParser) -> None:
    """`svc update`'s: docker's --sysctl-add/-rm, --ulimit-add/-rm, --host-add/-rm, and --init/--no-init."""
    p.add_argument("--init", dest="set_init", action="store_const", const=True, default=None, help="run tini as PID 1")
    p.add_argument("--no-init", dest="set_init", action="store_const", const=False, help="no init as PID 1")
    for name, metavar, rm in (
        ("sysctl", "NAME=VALUE", "NAME"),
        ("ulimit", "NAME=SOFT[:HARD]", "NAME"),
        ("host", "HOST:IP", "HOST[:IP]"),
    ):
        p.add_argument(f"--{name}-add", action="append", default=[], metavar=metavar, help=f"add or replace a {name}")
        p.add_argument(f"--{name}-rm", action="append", default=[], metavar=rm, help=f"remove a {name}")


def update(args: argparse.Namespace, spec: Any) -> None:
    """The update flags onto a service's ContainerSpec: removals first, then additions (docker's order)."""
    if getattr(args, "set_init", None) is not None:
        spec.init = args.set_init
    for name in getattr(args, "sysctl_rm", []):
        spec.sysctls.pop(name, None)
    for item in getattr(args, "sysctl_add", []):
        key, value = kernelopts.parse_sysctl(item)
        spec.sysctls[key] = value
    drop = set(getattr(args, "ulimit_rm", []))
    added = [kernelopts.parse_ulimit(item) for item in getattr(args, "ulimit_add", [])]
    drop |= {name for name, _, _ in added}
    kept = [(u.name, u.soft, u.hard) for u in spec.ulimits if u.name not in drop]
    del spec.ulimits[:]
    for name, soft, hard in [*kept, *added]:
        spec.ulimits.add(name=name, soft=soft, hard=hard)
    hosts = list(spec.extra_hosts)
    for item in getattr(args, "host_rm", []):
        host, _, ip = item.partition(":")
        hosts = [h for h in hosts if not (h.split(" ", 1)[1] == host and ip in ("", h.split(" ", 1)[0]))]
    hosts += [kernelopts.host_line(h) for h in getattr(args, "host_add", [])]
    spec.extra_hosts[:] = list(dict.fromkeys(hosts))
    kernelopts.validate(spec)
