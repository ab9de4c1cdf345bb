"""An engine container -> Docker's JSON (inspect, list), and Docker's container list filters. Pure.

Field names are Docker's (API 1.41); what svc has no word for is left at Docker's zero value, never
invented. A container's Status text is dockerd's ("Up 3 seconds", "Exited (0) 2 minutes ago").
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from svc.dockerapi.proto import Unsupported, human_duration, rfc3339
from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb

_DOCKER_STATE = {"created": "created", "running": "running", "exited": "exited"}


def status_text(c: Any, now: float) -> str:
    if c.state == "running":
        health = f" ({c.health.status})" if c.health.status else ""
        return f"Up {human_duration(now - c.started_at)}{health}"
    if c.state == "exited":
        return f"Exited ({c.exit_code}) {human_duration(now - c.finished_at)} ago"
    return "Created"


def _network_mode(c: Any) -> str:
    return c.network or "bridge"


def _ports_list(spec: pb.ContainerSpec) -> list[dict[str, Any]]:
    return [
        {
            "IP": p.host_ip or "0.0.0.0",
            "PrivatePort": p.container_port,
            "PublicPort": p.host_port,
            "Type": p.protocol or "tcp",
        }
        for p in spec.ports
    ]


def _port_map(spec: pb.ContainerSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in spec.ports:
        out.setdefault(f"{p.container_port}/{p.protocol or 'tcp'}", []).append(
            {"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)}
        )
    return out


def _mounts(spec: pb.ContainerSpec) -> list[dict[str, Any]]:
    return [
        {
            "Type": m.type,
            "Name": m.source if m.type == "volume" else "",
            "Source": m.source,
            "Destination": m.target,
            "RW": not m.read_only,
            "Mode": "ro" if m.read_only else "",
        }
        for m in spec.mounts
    ]


def _networks(c: Any) -> dict[str, Any]:
    mode = _network_mode(c)
    if mode == "none":
        return {"none": {"IPAddress": ""}}
    return {mode: {"IPAddress": c.ip if mode == "bridge" else "", "IPPrefixLen": 0, "Gateway": ""}}


def summary(c: Any, now: float) -> dict[str, Any]:
    """GET /containers/json's item (`docker ps`)."""
    return {
        "Id": c.id,
        "Names": [f"/{c.name}"],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": " ".join(c.command),
        "Created": int(c.created_at),
        "Ports": _ports_list(c.spec),
        "Labels": dict(c.spec.labels),
        "State": _DOCKER_STATE.get(c.state, c.state),
        "Status": status_text(c, now),
        "HostConfig": {"NetworkMode": _network_mode(c)},
        "NetworkSettings": {"Networks": _networks(c)},
        "Mounts": _mounts(c.spec),
    }


def _health(c: Any) -> dict[str, Any] | None:
    if not c.health.status:
        return None
    log = [
        {"Start": rfc3339(p.start), "End": rfc3339(p.end), "ExitCode": p.exit_code, "Output": p.output}
        for p in c.health.log
    ]
    return {"Status": c.health.status, "FailingStreak": c.health.failing_streak, "Log": log}


def inspect(c: Any, auto_remove: bool) -> dict[str, Any]:
    """GET /containers/{id}/json (`docker inspect`; `docker logs` and `exec` read Config.Tty from it)."""
    s = c.spec
    state: dict[str, Any] = {
        "Status": _DOCKER_STATE.get(c.state, c.state),
        "Running": c.state == "running",
        "Paused": False,
        "Restarting": False,
        "OOMKilled": bool(c.oom_killed),
        "Dead": False,
        "Pid": c.pid,
        "ExitCode": c.exit_code,
        "Error": c.error,
        "StartedAt": rfc3339(c.started_at),
        "FinishedAt": rfc3339(c.finished_at),
    }
    health = _health(c)
    if health is not None:
        state["Health"] = health
    res = s.resources
    return {
        "Id": c.id,
        "Created": rfc3339(c.created_at),
        "Path": c.command[0] if c.command else "",
        "Args": list(c.command[1:]),
        "State": state,
        "Image": c.image_id,
        "Name": f"/{c.name}",
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": _network_mode(c),
            "PortBindings": _port_map(s),
            "AutoRemove": auto_remove,
            "CapAdd": list(s.cap_add) or None,
            "CapDrop": list(s.cap_drop) or None,
            "ReadonlyRootfs": s.read_only,
            "Memory": res.memory_bytes,
            "NanoCpus": res.nano_cpus,
            "PidsLimit": res.pids_limit or None,
            "Init": s.init or None,
            "Runtime": c.runtime,
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "LogConfig": {"Type": "k8s-file", "Config": {}},
            "ExtraHosts": [f"{h.split(' ', 1)[-1]}:{h.split(' ', 1)[0]}" for h in s.extra_hosts] or None,
            "Sysctls": dict(s.sysctls) or None,
        },
        "Config": {
            "Hostname": s.hostname or c.id[:12],
            "User": s.user,
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": list(s.env),
            "Cmd": list(s.cmd) or None,
            "Image": c.image,
            "WorkingDir": s.workdir,
            "Entrypoint": list(s.entrypoint) or None,
            "Labels": dict(s.labels),
            "StopSignal": s.stop_signal or None,
            "StopTimeout": int(s.stop_grace_seconds) or None,
        },
        "NetworkSettings": {
            "IPAddress": c.ip if _network_mode(c) == "bridge" else "",
            "Ports": _port_map(s),
            "Networks": _networks(c),
        },
        "Mounts": _mounts(s),
    }


_STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}
_NOT_SERVED = {
    "ancestor",
    "before",
    "since",
    "exited",
    "health",
    "network",
    "volume",
    "expose",
    "publish",
    "is-task",
    "isolation",
}


def check_filters(f: dict[str, list[str]]) -> None:
    for key, values in f.items():
        if key in _NOT_SERVED:
            raise Unsupported(f"the container filter {key!r} is not supported by svc: id, name, label, status")
        if key not in ("id", "name", "label", "status"):
            raise InvalidArgument(f"invalid filter {key!r}")
        if key == "status":
            for v in values:
                if v not in _STATUSES:
                    raise InvalidArgument(f"invalid filter 'status={v}'")


def _label_ok(labels: dict[str, str], want: str) -> bool:
    key, sep, value = want.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _name_ok(name: str, pattern: str) -> bool:
    try:
        return re.search(pattern, "/" + name) is not None
    except re.error:
        return fnmatch.fnmatch(name, pattern)


def matches(c: Any, f: dict[str, list[str]]) -> bool:
    """Docker's rule: the values of a key OR'ed, keys AND'ed; every `label` value required."""
    if f.get("id") and not any(c.id.startswith(v) for v in f["id"]):
        return False
    if f.get("name") and not any(_name_ok(c.name, v) for v in f["name"]):
        return False
    if f.get("status") and _DOCKER_STATE.get(c.state, c.state) not in f["status"]:
        return False
    return all(_label_ok(dict(c.spec.labels), v) for v in f.get("label", []))
