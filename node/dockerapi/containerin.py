"""Docker's container create body (Config + HostConfig + NetworkingConfig) -> svc's ContainerSpec. Pure.

The rule: every field is either mapped onto the spec (which the engine then validates with the same
rules as `svc container run`: svc/containerspec.py), or holds what the docker CLI sends when the user
asked for nothing (null, "", 0, false, empty, `NetworkMode: default`, `RestartPolicy: no`,
`MemorySwappiness: -1`), or the request is refused with a 501 naming the field: never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from svc.dockerapi.proto import NS, Unsupported
from svc.errors import InvalidArgument
from svc.mountspec import parse_volume_flag, validate_mounts
from svc.seccompprofile import from_security_opts
from svc.v1 import container_pb2 as pb

# Client-side choices or metadata with nothing to do on the engine's side (as for dockerd).
_IGNORED = {"AttachStdout", "AttachStderr", "ExposedPorts", "ArgsEscaped", "Domainname"}
_STDIN = {"AttachStdin", "OpenStdin", "StdinOnce", "Tty"}
_DEFAULTS: dict[str, Any] = {"NetworkMode": "default", "MemorySwappiness": -1}


@dataclass
class Create:
    spec: pb.ContainerSpec
    auto_remove: bool


def empty(value: Any) -> bool:
    """What the docker CLI sends for an option not given."""
    if value is None or value is False or value == "" or value == 0:
        return True
    if isinstance(value, list):
        return all(empty(v) for v in value)
    if isinstance(value, dict):  # a struct of unset fields; a map's keys are data (Volumes: {"/data": {}})
        return all(k[:1].isupper() and empty(v) for k, v in value.items())
    return False


def _refuse_rest(doc: dict[str, Any], used: set[str], where: str) -> None:
    for key in sorted(doc):
        if key in used or key in _IGNORED or empty(doc[key]) or _DEFAULTS.get(key, object()) == doc[key]:
            continue
        if key in _STDIN:
            raise Unsupported("a terminal or stdin (docker run -i/-t, attach stdin) is not supported by svc")
        raise Unsupported(f"{where}{key} is not supported by svc")


def _strs(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{what} must be a list of strings")
    return list(value)


def _obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be an object")
    return value


def _int(value: Any, what: str, lo: int = -(1 << 63), hi: int = (1 << 63) - 1) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{what} must be an integer")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{what} is out of range ({lo} to {hi})")
    return value


def _health(doc: dict[str, Any]) -> pb.HealthConfig:
    h = pb.HealthConfig(test=_strs(doc.get("Test"), "Healthcheck.Test"))
    h.interval_seconds = _int(doc.get("Interval"), "Healthcheck.Interval") / NS
    h.timeout_seconds = _int(doc.get("Timeout"), "Healthcheck.Timeout") / NS
    h.start_period_seconds = _int(doc.get("StartPeriod"), "Healthcheck.StartPeriod") / NS
    h.retries = _int(doc.get("Retries"), "Healthcheck.Retries", 0, (1 << 32) - 1)
    _refuse_rest(doc, {"Test", "Interval", "Timeout", "StartPeriod", "Retries"}, "Healthcheck.")
    return h


def _ports(bindings: dict[str, Any]) -> list[pb.PortMapping]:
    out = []
    for key, binds in sorted(bindings.items()):
        port, _, proto = key.partition("/")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"invalid port {key!r} in PortBindings")
        for b in binds or []:
            b = _obj(b, "PortBindings")
            host = str(b.get("HostPort") or "")
            if host.isdigit() and not 0 < int(host) < 65536:
                raise InvalidArgument(f"invalid host port {host!r} in PortBindings: 1 to 65535")
            if not host.isdigit():
                raise Unsupported(
                    f"PortBindings {key}: a host port chosen by the daemon (-p {port}) is not supported "
                    "by svc: give HOST_PORT:CONTAINER_PORT"
                )
            out.append(
                pb.PortMapping(
                    host_ip=b.get("HostIp") or "",
                    host_port=int(host),
                    container_port=int(port),
                    protocol=proto or "tcp",
                )
            )
    return out


def _mount(doc: dict[str, Any], n: int) -> pb.Mount:
    where = f"HostConfig.Mounts[{n}]."
    m = pb.Mount(
        type=str(doc.get("Type") or ""),
        source=str(doc.get("Source") or ""),
        target=str(doc.get("Target") or ""),
        read_only=bool(doc.get("ReadOnly")),
    )
    vol = _obj(doc.get("VolumeOptions"), where + "VolumeOptions")
    m.volume_labels.update(_obj(vol.get("Labels"), where + "VolumeOptions.Labels"))
    _refuse_rest(vol, {"Labels"}, where + "VolumeOptions.")
    tmpfs = _obj(doc.get("TmpfsOptions"), where + "TmpfsOptions")
    m.tmpfs_size_bytes = _int(tmpfs.get("SizeBytes"), where + "TmpfsOptions.SizeBytes")
    m.tmpfs_mode = _int(tmpfs.get("Mode"), where + "TmpfsOptions.Mode", 0, 0o7777)
    _refuse_rest(tmpfs, {"SizeBytes", "Mode"}, where + "TmpfsOptions.")
    _refuse_rest(doc, {"Type", "Source", "Target", "ReadOnly", "VolumeOptions", "TmpfsOptions"}, where)
    return m


def _network(mode: Any) -> str:
    mode = mode or "default"
    if mode in ("default", "bridge"):
        return "bridge"
    if mode in ("host", "none"):
        return str(mode)
    raise Unsupported(f"network {mode!r} is not supported by svc on a node: bridge, host or none")


def _host(spec: pb.ContainerSpec, hc: dict[str, Any]) -> bool:
    spec.mounts.extend(parse_volume_flag(b) for b in _strs(hc.get("Binds"), "HostConfig.Binds"))
    mounts = hc.get("Mounts") or []
    if not isinstance(mounts, list):
        raise InvalidArgument("HostConfig.Mounts must be a list")
    spec.mounts.extend(_mount(_obj(m, "HostConfig.Mounts"), n) for n, m in enumerate(mounts))
    validate_mounts(list(spec.mounts))
    spec.ports.extend(_ports(_obj(hc.get("PortBindings"), "HostConfig.PortBindings")))
    spec.network = _network(hc.get("NetworkMode"))
    spec.cap_add.extend(_strs(hc.get("CapAdd"), "HostConfig.CapAdd"))
    spec.cap_drop.extend(_strs(hc.get("CapDrop"), "HostConfig.CapDrop"))
    spec.read_only = bool(hc.get("ReadonlyRootfs"))
    spec.resources.memory_bytes = _int(hc.get("Memory"), "HostConfig.Memory")
    spec.resources.nano_cpus = _int(hc.get("NanoCpus"), "HostConfig.NanoCpus")
    pids = _int(hc.get("PidsLimit"), "HostConfig.PidsLimit")
    spec.resources.pids_limit = max(pids, 0)  # -1 and 0: no limit, as Docker's
    spec.init = bool(hc.get("Init"))
    spec.sysctls.update({str(k): str(v) for k, v in _obj(hc.get("Sysctls"), "HostConfig.Sysctls").items()})
    for u in hc.get("Ulimits") or []:
        u = _obj(u, "HostConfig.Ulimits")
        spec.ulimits.append(
            pb.Ulimit(
                name=str(u.get("Name") or ""),
                soft=_int(u.get("Soft"), "Ulimits.Soft"),
                hard=_int(u.get("Hard"), "Ulimits.Hard"),
            )
        )
    for item in _strs(hc.get("ExtraHosts"), "HostConfig.ExtraHosts"):
        name, sep, ip = item.partition(":")
        if not sep:
            raise InvalidArgument(f"invalid ExtraHosts entry {item!r}: HOST:IP expected")
        spec.extra_hosts.append(f"{ip} {name}")
    seccomp = from_security_opts(_strs(hc.get("SecurityOpt"), "HostConfig.SecurityOpt"), read=lambda text: text)
    if seccomp is not None:
        spec.seccomp.CopyFrom(seccomp)
    spec.runtime = str(hc.get("Runtime") or "")
    restart = _obj(hc.get("RestartPolicy"), "HostConfig.RestartPolicy")
    if restart.get("Name") not in (None, "", "no"):
        raise Unsupported(
            f"restart policy {restart.get('Name')!r} is not supported by svc on a node (services restart)"
        )
    log_type = _obj(hc.get("LogConfig"), "HostConfig.LogConfig").get("Type")
    if log_type not in (None, "", "json-file", "k8s-file"):
        raise Unsupported(f"log driver {log_type!r} is not supported by svc (its logs are conmon's files)")
    used = {
        "Binds",
        "Mounts",
        "PortBindings",
        "NetworkMode",
        "CapAdd",
        "CapDrop",
        "ReadonlyRootfs",
        "Memory",
        "NanoCpus",
        "PidsLimit",
        "Init",
        "Sysctls",
        "Ulimits",
        "ExtraHosts",
        "SecurityOpt",
        "Runtime",
        "RestartPolicy",
        "LogConfig",
        "AutoRemove",
    }
    _refuse_rest(hc, used, "HostConfig.")
    return bool(hc.get("AutoRemove"))


def create_request(doc: Any) -> Create:
    """The spec and AutoRemove of a create body; InvalidArgument (400) or Unsupported (501) naming the field."""
    try:
        return _create(doc)
    except RecursionError:
        raise InvalidArgument("the create body is nested too deeply") from None
    except (ValueError, TypeError) as exc:  # a value protobuf cannot hold that no check above caught
        raise InvalidArgument(f"invalid create body: {str(exc)[:200]}") from None


def _create(doc: Any) -> Create:
    if not isinstance(doc, dict):
        raise InvalidArgument("the create body must be a JSON object")
    image = doc.get("Image")
    if not image or not isinstance(image, str):
        raise InvalidArgument("no image given: Config.Image is required")
    spec = pb.ContainerSpec(image=image)
    spec.cmd.extend(_strs(doc.get("Cmd"), "Cmd"))
    spec.entrypoint.extend(_strs(doc.get("Entrypoint"), "Entrypoint"))
    spec.env.extend(_strs(doc.get("Env"), "Env"))
    spec.workdir = str(doc.get("WorkingDir") or "")
    spec.user = str(doc.get("User") or "")
    spec.hostname = str(doc.get("Hostname") or "")
    spec.labels.update({str(k): str(v) for k, v in _obj(doc.get("Labels"), "Labels").items()})
    spec.stop_signal = str(doc.get("StopSignal") or "")
    spec.stop_grace_seconds = float(_int(doc.get("StopTimeout"), "StopTimeout"))
    if doc.get("Healthcheck"):
        spec.healthcheck.CopyFrom(_health(_obj(doc["Healthcheck"], "Healthcheck")))
    auto_remove = _host(spec, _obj(doc.get("HostConfig"), "HostConfig"))
    endpoints = _obj(doc.get("NetworkingConfig"), "NetworkingConfig").get("EndpointsConfig") or {}
    if any(name not in ("bridge", "default", "host", "none") or not empty(v) for name, v in endpoints.items()):
        raise Unsupported("NetworkingConfig.EndpointsConfig (networks besides --network) is not supported by svc")
    used = {
        "Image",
        "Cmd",
        "Entrypoint",
        "Env",
        "WorkingDir",
        "User",
        "Hostname",
        "Labels",
        "StopSignal",
        "StopTimeout",
        "Healthcheck",
        "HostConfig",
        "NetworkingConfig",
    }
    _refuse_rest(doc, used, "")
    return Create(spec, auto_remove)
