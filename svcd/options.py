"""Every daemon option, defined once: its flag, its default and its help.

The table below makes the argparse flags, the fallbacks for the config file and SVC_*
environment (svc.config), and the help text. No default is written anywhere else: the
option records (ManagerOptions, NodeOptions) take every field from here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from svc import config, defaults
from svc.errors import InvalidArgument


@dataclass(frozen=True)
class Option:
    name: str  # the config key and SVC_<NAME>; the flag is --name-with-dashes
    default: Any
    help: str
    metavar: str | None = None
    type: Any = None
    flag: str = ""  # the flag, where it is not the name (--label for labels)

    def add_to(self, p: argparse.ArgumentParser) -> None:
        flag = self.flag or "--" + self.name.replace("_", "-")
        text = f"{self.help} (default {self.default})" if self.default not in ("", [], False) else self.help
        if isinstance(self.default, bool):
            p.add_argument(flag, dest=self.name, action="store_true", default=None, help=self.help)
        elif isinstance(self.default, list):
            p.add_argument(flag, dest=self.name, action="append", metavar=self.metavar, help=text)
        else:
            p.add_argument(flag, dest=self.name, metavar=self.metavar, type=self.type, help=text)


def _o(name: str, default: Any, help: str, **kw: Any) -> Option:
    return Option(name, default, help, **kw)


COMMON = (
    _o("config", None, f"TOML config file (default {defaults.CONFIG_FILE} if present)"),
    _o("data_dir", defaults.DATA_DIR, "state directory"),
    _o("run_dir", defaults.RUN_DIR, "runtime directory for sockets"),
    _o("log_level", "info", "debug, info, warning or error"),
    _o("log_format", "text", "text or json"),
)
REGISTRY = (  # as dockerd's; merged with <data dir>/registries.json, which is read at every use
    _o(
        "insecure_registries",
        [],
        "registry spoken to over plain HTTP (repeatable)",
        metavar="HOST[:PORT]",
        flag="--insecure-registry",
    ),
    _o("registry_mirrors", [], "Docker Hub mirror, tried first (repeatable)", metavar="URL", flag="--registry-mirror"),
)
IMAGE_GC = (  # the kubelet's imageGCHighThresholdPercent, imageGCLowThresholdPercent, imageMinimumGCAge
    _o(
        "image_gc_high_threshold",
        defaults.IMAGE_GC_HIGH_THRESHOLD_PERCENT,
        "percent of the image store's file system in use that starts removing unused images",
        type=float,
    ),
    _o(
        "image_gc_low_threshold",
        defaults.IMAGE_GC_LOW_THRESHOLD_PERCENT,
        "percent image garbage collection frees down to",
        type=float,
    ),
    _o(
        "image_gc_min_age",
        defaults.IMAGE_GC_MIN_AGE_SECONDS,
        "seconds an image is kept after it was added or last used, whatever the disk",
        type=float,
    ),
)
ENGINE = (
    _o("runtime", defaults.DEFAULT_RUNTIME, "OCI runtime: runc or crun"),
    _o("conmon", "conmon", "conmon binary"),
    _o("cgroup_parent", defaults.CGROUP_PARENT, "cgroup under which containers live"),
    _o("bridge", defaults.BRIDGE_NAME, "bridge device for containers"),
    _o("subnet", defaults.BRIDGE_SUBNET, "container subnet on this node"),
    _o(
        "no_routing_mesh",
        False,
        "no routing mesh on this node: a service's ingress-mode ports are published only where its tasks run",
    ),
    _o("labels", [], "node label (repeatable)", metavar="KEY=VALUE", flag="--label"),
    _o("hostname", "", "this daemon's name in the cluster (default: the host's name)"),
    *IMAGE_GC,
    *REGISTRY,
)
_PEER_PORT = _o(
    "peer_port", defaults.NODE_PEER_PORT, "port on the advertised address serving images to peers (0: none)", type=int
)
_DOCKER_SOCKET = _o(
    "docker_socket",
    defaults.DOCKER_SOCKET_NAME,
    "unix socket of the Docker Engine API (docs/docker-api.md); relative: under --run-dir ('' for none)",
    metavar="PATH",
)
_DOCKER_TCP = _o(
    "docker_tcp",
    "",
    "HOST:PORT serving the Docker Engine API with the cluster's mutual TLS, for an admin's client bundle "
    "(`docker --tlsverify`; '' for none)",
    metavar="ADDR",
)
NODE = (
    *ENGINE,
    _o("join", "", "manager address HOST:PORT to join", metavar="ADDR"),
    _o("token", "", "join token from `svc cluster join-token worker`"),
    _o("metrics_addr", f"127.0.0.1:{defaults.NODE_METRICS_PORT}", "HOST:PORT for /metrics ('' for none)"),
    _o("advertise_addr", "", "address managers and peers reach this node on"),
    _PEER_PORT,
    _o(
        "docker_socket",
        defaults.NODE_DOCKER_SOCKET_NAME,
        "unix socket of this node engine's Docker Engine API (docs/docker-api.md); relative: under --run-dir "
        "('' for none)",
        metavar="PATH",
    ),
)
_MANAGER_CORE = (
    _o("advertise_addr", "", "HOST[:PORT] others reach this manager on"),
    _o("raft_port", defaults.MANAGER_RAFT_PORT, "Raft port on the advertised host", type=int),
    _o("heartbeat_period", defaults.HEARTBEAT_PERIOD_SECONDS, "node heartbeat period in seconds", type=float),
    _o(
        "heartbeat_udp_port",
        defaults.HEARTBEAT_UDP_PORT,
        "UDP port for node heartbeats (0: the gRPC port's number; -1: off, heartbeats on the gRPC stream)",
        type=int,
    ),
    _o("cert_lifetime", defaults.CERT_LIFETIME_SECONDS, "node certificate lifetime in seconds", type=float),
)
MANAGER = (
    _o("init", False, "start a new cluster"),
    _o("join", "", "an existing manager HOST:PORT to join", metavar="ADDR"),
    _o("token", "", "manager join token"),
    _o("listen_addr", f"0.0.0.0:{defaults.MANAGER_GRPC_PORT}", "gRPC HOST:PORT"),
    _o("metrics_addr", f"127.0.0.1:{defaults.MANAGER_METRICS_PORT}", "HOST:PORT for /metrics ('' for none)"),
    _o("hostname", "", "this manager's name (default: the host's name)"),
    _o("force_new_cluster", False, "after losing quorum for good: a one-manager cluster from this manager's state"),
    _o("yes", False, "with --force-new-cluster: even if other managers still answer"),
    _o("restore", "", "with --init: a new cluster from `svc cluster backup`'s FILE", metavar="FILE"),
    _o("restore_key", "", "the key `svc cluster backup` printed for --restore's FILE", metavar="KEY"),
    *_MANAGER_CORE,
    _DOCKER_SOCKET,
    _DOCKER_TCP,
    *REGISTRY,
)
UP = (
    *ENGINE,
    _o("listen_addr", f"127.0.0.1:{defaults.MANAGER_GRPC_PORT}", "manager gRPC HOST:PORT"),
    _o("metrics_addr", f"127.0.0.1:{defaults.MANAGER_METRICS_PORT}", "manager metrics HOST:PORT"),
    _o("node_metrics_addr", f"127.0.0.1:{defaults.NODE_METRICS_PORT}", "node metrics HOST:PORT"),
    _PEER_PORT,
    *_MANAGER_CORE,
    _DOCKER_SOCKET,
    _DOCKER_TCP,
)
ROLES: dict[str, tuple[str, tuple[Option, ...]]] = {
    "node": ("run the worker daemon (engine; with --join, the cluster agent)", NODE),
    "manager": ("run a manager (Raft store, control API, scheduler, dispatcher)", MANAGER),
    "up": ("run a one-host cluster: a manager and a node in one process", UP),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="svcd", description="svc daemons")
    sub = p.add_subparsers(dest="role", required=True)
    for role, (text, options) in ROLES.items():
        sp = sub.add_parser(role, help=text)
        for opt in (*COMMON, *options):
            opt.add_to(sp)
    return p


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags over SVC_* environment over the config file's [role] table over the defaults above."""
    options = [o for o in (*COMMON, *ROLES[args.role][1]) if o.name != "config"]
    given = {o.name: getattr(args, o.name, None) for o in options}
    out = config.resolve(given, {o.name: o.default for o in options}, args.role, args.config)
    for o in options:
        if o.type is not None and isinstance(out[o.name], str):  # from the environment or the file
            try:
                out[o.name] = o.type(out[o.name])
            except ValueError:
                raise InvalidArgument(f"{o.name}: {out[o.name]!r} is not a valid {o.type.__name__}") from None
    _check(out)
    return out


def _check(out: dict[str, Any]) -> None:
    """Values a daemon must refuse before it starts anything (one line, exit 1)."""
    from svc.registry import settings as registry

    if "insecure_registries" in out:
        out["insecure_registries"] = list(registry.insecure_flags(out["insecure_registries"] or []))
        out["registry_mirrors"] = list(registry.mirror_flags(out["registry_mirrors"] or []))
    if "image_gc_high_threshold" in out:
        from node.engine.imagegc import check_thresholds

        check_thresholds(out["image_gc_high_threshold"], out["image_gc_low_threshold"], out["image_gc_min_age"])
