"""Docker's ServiceSpec JSON -> svc's ServiceSpec; what svc cannot honour is refused, never ignored.

Pure. The control API validates the result (manager/servicespec.py): this module only translates.
A field svc has no counterpart for is an InvalidArgument naming it, unless it holds the value the
docker CLI sends by default (an empty list, a zero, `Isolation: default`); UpdateConfig and
RollbackConfig are updateconfig.py's. On an update, what Docker's JSON cannot express (a custom seccomp profile,
the runtime, a port's host address) is kept from the current spec: the caller cannot have meant
to change what it could not see.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from svc import dockerconfig, filerefs
from svc.dockerapi.proto import NS
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as cnt

from . import updateconfig

_NET_MODES = ("host", "none", "bridge")
# Values the docker CLI sends where the user asked for nothing; svc's behaviour is exactly this.
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "Isolation": ("default", ""),
    "Runtime": ("container", ""),
}


def _empty(key: str, value: Any) -> bool:
    if value in (None, "", 0, False, [], {}):
        return True
    if key in _DEFAULTS and value in _DEFAULTS[key]:
        return True
    return isinstance(value, dict) and all(_empty(k, v) for k, v in value.items())


def _check(doc: Any, where: str, known: set[str]) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where} must be a JSON object")
    for key, value in doc.items():
        if key not in known and not _empty(key, value):
            raise InvalidArgument(f"{where}.{key} is not supported by svc")
    return doc


def _strs(doc: dict[str, Any], key: str, where: str) -> list[str]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{where}.{key} must be a list of strings")
    return value


def _list(doc: dict[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}.{key} must be a list")
    return value


def _int(doc: dict[str, Any], key: str, where: str) -> int:
    value = doc.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{where}.{key} must be an integer")
    return value


def _str(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key) or ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}.{key} must be a string")
    return value


def _labels(doc: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = doc.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"{where}.{key} must be an object of strings")
    return value


_CONTAINER = {"Image", "Labels", "Command", "Args", "Hostname", "Env", "Dir", "User", "ReadOnly", "StopSignal",
              "StopGracePeriod", "Healthcheck", "CapabilityAdd", "CapabilityDrop", "Secrets", "Configs",
              "Mounts", "Init", "Sysctls", "Ulimits", "Hosts"}  # fmt: skip


def _container(doc: Any, t: cnt.ContainerSpec) -> None:
    w = "TaskTemplate.ContainerSpec"
    c = _check(doc, w, _CONTAINER)
    t.image = _str(c, "Image", w)
    t.labels.update(_labels(c, "Labels", w))
    t.entrypoint.extend(_strs(c, "Command", w))
    t.cmd.extend(_strs(c, "Args", w))
    t.env.extend(_strs(c, "Env", w))
    t.hostname, t.workdir, t.user = _str(c, "Hostname", w), _str(c, "Dir", w), _str(c, "User", w)
    t.read_only = bool(c.get("ReadOnly"))
    t.stop_signal = _str(c, "StopSignal", w)
    t.stop_grace_seconds = _int(c, "StopGracePeriod", w) / NS
    t.cap_add.extend(_strs(c, "CapabilityAdd", w))
    t.cap_drop.extend(_strs(c, "CapabilityDrop", w))
    t.init = bool(c.get("Init"))
    t.sysctls.update(_labels(c, "Sysctls", w))
    t.extra_hosts.extend(_strs(c, "Hosts", w))  # "IP NAME [ALIAS...]", as svc keeps them
    for i, u in enumerate(_list(c, "Ulimits", w)):
        uw = f"{w}.Ulimits[{i}]"
        lim = _check(u, uw, {"Name", "Soft", "Hard"})
        t.ulimits.add(name=_str(lim, "Name", uw), soft=_int(lim, "Soft", uw), hard=_int(lim, "Hard", uw))
    h = _check(c.get("Healthcheck"), f"{w}.Healthcheck", {"Test", "Interval", "Timeout", "Retries", "StartPeriod"})
    test = _strs(h, "Test", f"{w}.Healthcheck")
    if test == ["NONE"]:
        t.no_healthcheck = True
    elif test:
        hw = f"{w}.Healthcheck"
        t.healthcheck.CopyFrom(
            cnt.HealthConfig(
                test=test,
                interval_seconds=_int(h, "Interval", hw) / NS,
                timeout_seconds=_int(h, "Timeout", hw) / NS,
                retries=_int(h, "Retries", hw),
                start_period_seconds=_int(h, "StartPeriod", hw) / NS,
            )
        )
    for i, mount in enumerate(_list(c, "Mounts", w)):
        _mount(mount, f"{w}.Mounts[{i}]", t)
    for key, refs in (("Secrets", t.secrets), ("Configs", t.configs)):
        kind = key[:-1]
        for i, ref in enumerate(_list(c, key, w)):
            rw = f"{w}.{key}[{i}]"
            r = _check(ref, rw, {"File", f"{kind}ID", f"{kind}Name"})
            f = _check(r.get("File"), f"{rw}.File", {"Name", "UID", "GID", "Mode"})
            try:
                uid, gid = int(f.get("UID") or 0), int(f.get("GID") or 0)
            except (ValueError, TypeError):
                raise InvalidArgument(f"{rw}.File: UID and GID must be numbers") from None
            ref = refs.add(id=_str(r, f"{kind}ID", rw), name=_str(r, f"{kind}Name", rw), target=_str(f, "Name", rw),
                           uid=uid, gid=gid, mode=_int(f, "Mode", rw))  # fmt: skip
            filerefs.normalize(kind.lower(), ref)  # docker's relative target, where svc keeps it: /run/secrets/NAME


def _mount(doc: Any, w: str, t: cnt.ContainerSpec) -> None:
    """A mount (docker's --mount): volume, bind or tmpfs; the checks are containerspec's."""
    m = _check(doc, w, {"Type", "Source", "Target", "ReadOnly", "VolumeOptions", "TmpfsOptions"})
    vol = _check(m.get("VolumeOptions"), f"{w}.VolumeOptions", {"Labels"})
    tmpfs = _check(m.get("TmpfsOptions"), f"{w}.TmpfsOptions", {"SizeBytes", "Mode"})
    t.mounts.add(
        type=_str(m, "Type", w),
        source=_str(m, "Source", w),
        target=_str(m, "Target", w),
        read_only=bool(m.get("ReadOnly")),
        volume_labels=_labels(vol, "Labels", f"{w}.VolumeOptions"),
        tmpfs_size_bytes=_int(tmpfs, "SizeBytes", f"{w}.TmpfsOptions"),
        tmpfs_mode=_int(tmpfs, "Mode", f"{w}.TmpfsOptions"),
    )


_TEMPLATE = {"ContainerSpec", "Resources", "RestartPolicy", "Placement", "Networks", "ForceUpdate"}


def _template(doc: Any, s: cpb.ServiceSpec) -> None:
    tt = _check(doc, "TaskTemplate", _TEMPLATE)
    _container(tt.get("ContainerSpec"), s.task)
    s.force_update = _int(tt, "ForceUpdate", "TaskTemplate")  # `--force`: every task replaced
    # Only what is given is set: a sub-message made present but empty would read as a changed template.
    res = _check(tt.get("Resources"), "TaskTemplate.Resources", {"Limits", "Reservations"})
    lim = _check(res.get("Limits"), "Resources.Limits", {"NanoCPUs", "MemoryBytes", "Pids"})
    limits = {"nano_cpus": _int(lim, "NanoCPUs", "Limits"), "memory_bytes": _int(lim, "MemoryBytes", "Limits"),
              "pids_limit": _int(lim, "Pids", "Limits")}  # fmt: skip
    if any(limits.values()):
        s.task.resources.CopyFrom(cnt.Resources(**limits))
    rsv = _check(res.get("Reservations"), "Resources.Reservations", {"NanoCPUs", "MemoryBytes"})
    reserved = {"nano_cpus": _int(rsv, "NanoCPUs", "Reservations"),
                "memory_bytes": _int(rsv, "MemoryBytes", "Reservations")}  # fmt: skip
    if any(reserved.values()):
        s.reservations.CopyFrom(cnt.Resources(**reserved))
    rp = _check(tt.get("RestartPolicy"), "TaskTemplate.RestartPolicy", {"Condition", "Delay", "MaxAttempts", "Window"})
    if rp.get("Condition"):
        s.restart.condition = _str(rp, "Condition", "RestartPolicy")
    if rp.get("Delay") is not None:
        s.restart.delay_seconds = _int(rp, "Delay", "RestartPolicy") / NS
    if rp.get("MaxAttempts"):
        s.restart.max_attempts = _int(rp, "MaxAttempts", "RestartPolicy")
    pl = _check(tt.get("Placement"), "TaskTemplate.Placement", {"Constraints", "MaxReplicas"})
    if pl.get("Constraints"):
        s.placement.constraints.extend(_strs(pl, "Constraints", "Placement"))
    if pl.get("MaxReplicas"):
        s.placement.max_replicas_per_node = _int(pl, "MaxReplicas", "Placement")
    for i, net in enumerate(_list(tt, "Networks", "TaskTemplate")):
        n = _check(net, f"TaskTemplate.Networks[{i}]", {"Target", "Aliases"})
        target = _str(n, "Target", "Networks")
        if target in _NET_MODES:
            s.task.network = target
        else:
            s.networks.add(target=target, aliases=_strs(n, "Aliases", "Networks"))


_SPEC = {"Name", "Labels", "TaskTemplate", "Mode", "EndpointSpec", "UpdateConfig", "RollbackConfig"}


def service_spec(doc: Any) -> cpb.ServiceSpec:
    """Docker's ServiceSpec (a decoded JSON body) as svc's; InvalidArgument for what svc cannot do."""
    try:
        return _service_spec(doc)
    except (ValueError, TypeError, OverflowError) as exc:  # a number out of its field's range, say
        raise InvalidArgument(f"invalid service spec: {exc}") from None


def _service_spec(doc: Any) -> cpb.ServiceSpec:
    d = _check(doc, "Spec", _SPEC)
    s = cpb.ServiceSpec(name=_str(d, "Name", "Spec"))
    s.labels.update(_labels(d, "Labels", "Spec"))
    updateconfig.from_docker(d.get("UpdateConfig"), "UpdateConfig", s.update_config)
    updateconfig.from_docker(d.get("RollbackConfig"), "RollbackConfig", s.rollback_config)
    _template(d.get("TaskTemplate"), s)
    mode = _check(d.get("Mode"), "Mode", {"Replicated", "Global"})
    for key, value in mode.items():  # a mode is named by its key alone: {"ReplicatedJob": {}} is a job
        if key not in ("Replicated", "Global") and value is not None:
            raise InvalidArgument(f"Mode.{key} is not supported by svc")
    if mode.get("Global") is not None:
        s.mode = "global"
    else:
        rep = _check(mode.get("Replicated"), "Mode.Replicated", {"Replicas"})
        s.mode = "replicated"
        s.replicas = _int(rep, "Replicas", "Mode.Replicated") if "Replicas" in rep else 1
    ep = _check(d.get("EndpointSpec"), "EndpointSpec", {"Mode", "Ports"})
    s.endpoint_mode = _str(ep, "Mode", "EndpointSpec")
    for i, port in enumerate(_list(ep, "Ports", "EndpointSpec")):
        pw = f"EndpointSpec.Ports[{i}]"
        p = _check(port, pw, {"Protocol", "TargetPort", "PublishedPort", "PublishMode", "Name"})
        # ingress: the routing mesh (every node answers); host: only the node that runs the task.
        if _str(p, "PublishMode", pw) not in ("", "ingress", "host"):
            raise InvalidArgument(f"{pw}.PublishMode {p['PublishMode']!r} is not supported by svc")
        s.task.ports.add(
            container_port=_int(p, "TargetPort", pw),
            host_port=_int(p, "PublishedPort", pw),
            protocol=_str(p, "Protocol", pw) or "tcp",
            publish_mode=_str(p, "PublishMode", pw),
        )
    return s


def keep_unseen(new: cpb.ServiceSpec, current: cpb.ServiceSpec) -> None:
    """An update keeps what Docker's JSON cannot express from the current spec (the module says why)."""
    new.task.runtime = current.task.runtime
    if current.task.HasField("seccomp"):
        new.task.seccomp.CopyFrom(current.task.seccomp)
    new.task.attachments.extend(current.task.attachments)
    if not new.task.network and current.task.network == "bridge":
        new.task.network = "bridge"  # the default, spelt out
    if new.endpoint_mode == "vip" and not current.endpoint_mode:
        new.endpoint_mode = ""  # the default, unspelt
    ports = {(p.container_port, p.protocol or "tcp"): p for p in current.task.ports}
    for p in new.task.ports:
        old = ports.get((p.container_port, p.protocol or "tcp"))
        if old is not None:
            p.host_ip, p.protocol = old.host_ip, old.protocol  # "" and "tcp" alike, as it was


def registry_auth(header: str, spec: cpb.ServiceSpec) -> None:
    """X-Registry-Auth (base64url JSON, docker's `--with-registry-auth`) into the spec's credentials."""
    if not header:
        return
    try:
        padded = header + "=" * (-len(header) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, RecursionError):
        raise InvalidArgument("X-Registry-Auth is not base64-encoded JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("identitytoken"), str) and doc["identitytoken"]:
        user, secret = dockerconfig.TOKEN_USER, doc["identitytoken"]  # an identity token: Docker's credentials
        spec.registry_auth.CopyFrom(
            cpb.RegistryAuth(server=str(doc.get("serveraddress") or ""), username=user, password=secret)
        )
    elif isinstance(doc, dict) and doc.get("username"):
        spec.registry_auth.CopyFrom(
            cpb.RegistryAuth(
                server=str(doc.get("serveraddress") or ""),
                username=str(doc["username"]),
                password=str(doc.get("password") or ""),
            )
        )
