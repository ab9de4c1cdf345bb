"""A loaded compose document turned into the stack's objects, as docker's cli/compose/convert does (pure
but for reading the files it names: env_file, secret and config files, relative to the compose file).

Rule: every object is `STACK_KEY` unless it has `name:` (or is external), and carries the label
com.docker.stack.namespace=STACK; a service without `networks` joins `default` (STACK_default,
overlay) and gets its short name as an alias on every network; only networks some service uses are
made; named volumes are mounts of `STACK_KEY` volumes, which each node creates when a task needs one
(stack deploy never creates volumes, as docker's). Every reference is checked here (an undefined
network, secret, config or volume, a missing file), and every spec by the managers' own rules
(svc/servicespec.py, svc/networkspec.py), so nothing is written for a file that cannot be deployed.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from svc import filerefs, updatepolicy
from svc.errors import InvalidArgument
from svc.stack import taskopts
from svc.stack.loader import as_map
from svc.units import parse_cpus, parse_duration, parse_size

NAMESPACE = "com.docker.stack.namespace"
IMAGE_LABEL = "com.docker.stack.image"


@dataclass
class Network:
    key: str
    name: str
    external: bool
    spec: Any = None  # cluster_pb2.NetworkSpec unless external


@dataclass
class FileObject:
    kind: str  # secret, config
    key: str
    name: str
    external: bool
    spec: Any = None  # cluster_pb2.SecretSpec (with its data) unless external


@dataclass
class Stack:
    namespace: str
    services: list[Any] = field(default_factory=list)  # cluster_pb2.ServiceSpec, networks and files by name
    networks: list[Network] = field(default_factory=list)
    files: list[FileObject] = field(default_factory=list)


def check_namespace(name: str) -> None:
    """docker's rule for a stack's name (it prefixes every object's)."""
    import re

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]*", name) or len(name) > 40:
        raise InvalidArgument(
            f"invalid stack name {name!r}: use letters, digits, '-' and '_' (up to 40), starting with a letter or digit"
        )


def _labels(value: Any, namespace: str) -> dict[str, str]:
    out = {k: "" if v is None else str(v) for k, v in as_map(value).items()}
    out[NAMESPACE] = namespace
    return out


def _external(obj: dict[str, Any]) -> tuple[bool, str]:
    ext = obj.get("external")
    if isinstance(ext, dict):
        return True, str(ext.get("name") or obj.get("name") or "")
    return bool(ext), str(obj.get("name") or "")


def _networks(doc: dict[str, Any], namespace: str, used: set[str]) -> list[Network]:
    from svc.v1 import cluster_pb2 as cpb

    declared = dict(doc.get("networks") or {})
    declared.setdefault("default", None)
    out = []
    for key in sorted(used):
        obj = declared[key] or {}
        external, name = _external(obj)
        if external:
            out.append(Network(key, name or key, True))
            continue
        name = name or f"{namespace}_{key}"
        spec = cpb.NetworkSpec(
            name=name,
            driver="overlay",
            attachable=bool(obj.get("attachable")),
            internal=bool(obj.get("internal")),
            labels=_labels(obj.get("labels"), namespace),
            options={k: str(v) for k, v in (obj.get("driver_opts") or {}).items()},
        )
        out.append(Network(key, name, False, spec))
    return out


def _read_data(kind: str, key: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(filerefs.MAX_SIZE + 1)
    except FileNotFoundError:
        raise InvalidArgument(f"{kind} {key}: no such file: {path}") from None
    except OSError as exc:
        raise InvalidArgument(f"{kind} {key}: cannot read {path}: {exc.strerror}") from None
    try:
        filerefs.check_data(kind, data)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{kind} {key} ({path}): {exc}") from None
    return data


def _files(doc: dict[str, Any], kind: str, namespace: str, used: set[str], base: str) -> list[FileObject]:
    from svc.v1 import cluster_pb2 as cpb

    out = []
    for key in sorted(used):
        obj = (doc.get(f"{kind}s") or {})[key]
        external, name = _external(obj)
        if external:
            out.append(FileObject(kind, key, name or key, True))
            continue
        if not obj.get("file"):
            raise InvalidArgument(f"{kind} {key}: give file: PATH (or external: true)")
        name = name or f"{namespace}_{key}"
        filerefs.check_name(kind, name)
        data = _read_data(kind, key, os.path.join(base, obj["file"]))
        spec = cpb.SecretSpec(name=name, labels=_labels(obj.get("labels"), namespace), data=data)
        out.append(FileObject(kind, key, name, False, spec))
    return out


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise InvalidArgument(f"cannot split {value!r} into words: {exc}") from None


def env_file(path: str, environ: dict[str, str]) -> dict[str, str | None]:
    """compose's env_file: KEY=VALUE lines, `#` comments; a bare KEY takes the environment's value."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InvalidArgument(f"env_file: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"env_file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out: dict[str, str | None] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key or any(c.isspace() for c in key):
            raise InvalidArgument(f"env_file {path}:{number}: invalid variable name {key!r}")
        out[key] = value if sep else environ.get(key)
    return out


def _environment(svc: dict[str, Any], base: str, environ: dict[str, str]) -> list[str]:
    env: dict[str, Any] = {}
    files = svc.get("env_file") or []
    for path in [files] if isinstance(files, str) else files:
        env.update(env_file(os.path.join(base, path), environ))
    for key, value in as_map(svc.get("environment")).items():
        env[key] = environ.get(key) if value is None else value
    out = []
    for key, value in sorted(env.items()):
        if value is None:
            continue  # a bare KEY the environment does not set is left out, as compose does
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"{key}={value}")
    return out


def _port(item: Any, where: str) -> Any:
    from svc.ports import parse_publish
    from svc.v1 import container_pb2 as pb

    if isinstance(item, dict):
        published = item.get("published") or 0
        if isinstance(published, str) and not published.isdigit():
            raise InvalidArgument(f"{where}.published must be a port number (got {published!r})")
        return pb.PortMapping(
            host_ip=item.get("host_ip", ""),
            host_port=int(published),
            container_port=int(item["target"]),
            protocol=item.get("protocol", "tcp"),
            publish_mode=item.get("mode", ""),  # "": the managers' default, ingress
        )
    text = str(item)
    body, _, proto = text.partition("/")
    if body.isdigit():  # the container's port alone: published where the managers pick
        return pb.PortMapping(container_port=int(body), protocol=proto or "tcp")
    try:
        return parse_publish(text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc}") from None


def _mount(item: Any, where: str, service: str, volumes: dict[str, Any], namespace: str, base: str) -> Any:
    """A compose volume as a mount: `NAME:/path[:ro]` (a volume of the file's `volumes`, STACK_NAME),
    `./dir:/path` or `/dir:/path` (a bind, relative to the compose file), or the long form."""
    from svc import mountspec
    from svc.v1 import container_pb2 as pb

    if isinstance(item, str):
        parts = item.split(":")
        mode = parts.pop() if len(parts) == 3 else ""
        if len(parts) != 2 or mode not in ("", "ro", "rw"):
            raise InvalidArgument(
                f"{where}: {item!r}: use NAME:/path[:ro] or ./dir:/path[:ro] (anonymous volumes are not supported)"
            )
        source, target = parts
        kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        opts: dict[str, Any] = {"type": kind, "source": source, "target": target, "read_only": mode == "ro"}
    else:
        opts = item
    m = pb.Mount(type=opts.get("type", "volume"), target=opts["target"], read_only=bool(opts.get("read_only")))
    source = str(opts.get("source", ""))
    if m.type == "bind":
        m.source = os.path.normpath(os.path.join(base, os.path.expanduser(source))) if source else ""
    elif m.type == "volume":
        if not source:
            raise InvalidArgument(f"{where}: anonymous volumes are not supported: give source: NAME")
        if source not in volumes:
            raise InvalidArgument(f"service {service} refers to undefined volume {source}")
        obj = volumes[source] or {}
        external, name = _external(obj)
        m.source = (name or source) if external else (name or f"{namespace}_{source}")
        if not external:
            m.volume_labels.update(_labels(obj.get("labels"), namespace))
    else:
        tmpfs = opts.get("tmpfs") or {}
        if "size" in tmpfs:
            m.tmpfs_size_bytes = parse_size(str(tmpfs["size"]), f"{where}.tmpfs.size")
        m.tmpfs_mode = int(tmpfs.get("mode", 0))
    try:
        mountspec.validate_mount(m)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc}") from None
    return m


def _file_refs(kind: str, items: list[Any], objects: dict[str, FileObject], service: str) -> list[Any]:
    from svc.v1 import container_pb2 as pb

    out = []
    for item in items:
        opts = {"source": item} if isinstance(item, str) else item
        key = opts["source"]
        obj = objects.get(key)
        if obj is None:
            raise InvalidArgument(f"service {service} refers to undefined {kind} {key}")
        target = opts.get("target") or key
        ref = pb.FileReference(name=obj.name, target=str(target), mode=int(opts.get("mode", filerefs.DEFAULT_MODE)))
        for attr in ("uid", "gid"):
            value = str(opts.get(attr, "0"))
            if not value.isdigit():
                raise InvalidArgument(f"services.{service}.{kind}s: {attr} must be a number (got {value!r})")
            setattr(ref, attr, int(value))
        out.append(filerefs.normalize(kind, ref))
    return out


def _healthcheck(task: Any, hc: dict[str, Any], where: str) -> None:
    if hc.get("disable"):
        task.no_healthcheck = True
        return
    test = hc.get("test")
    h = task.healthcheck
    if isinstance(test, str):
        h.test[:] = ["CMD-SHELL", test]
    elif test:
        h.test[:] = [str(t) for t in test]
    for key, attr in (("interval", "interval_seconds"), ("timeout", "timeout_seconds")):
        if key in hc:
            setattr(h, attr, parse_duration(str(hc[key]), f"{where}.{key}"))
    if "start_period" in hc:
        h.start_period_seconds = parse_duration(str(hc["start_period"]), f"{where}.start_period")
    if "retries" in hc:
        h.retries = int(hc["retries"])


def _deploy(spec: Any, deploy: dict[str, Any], where: str) -> None:
    spec.mode = deploy.get("mode", "replicated")
    if spec.mode == "global":
        if "replicas" in deploy:
            raise InvalidArgument(f"{where}.replicas: a global service runs one task per node")
    else:
        spec.replicas = int(deploy.get("replicas", 1))
    spec.endpoint_mode = deploy.get("endpoint_mode", "")
    placement = deploy.get("placement") or {}
    spec.placement.constraints.extend(placement.get("constraints") or [])
    spec.placement.max_replicas_per_node = int(placement.get("max_replicas_per_node", 0))
    for pref in placement.get("preferences") or []:
        spec.placement.preferences.add(spread=pref["spread"])
    for kind in ("update_config", "rollback_config"):
        _update_config(getattr(spec, kind), deploy.get(kind) or {}, f"{where}.{kind}")
    resources = deploy.get("resources") or {}
    limits = resources.get("limits") or {}
    if "cpus" in limits:
        spec.task.resources.nano_cpus = parse_cpus(str(limits["cpus"]))
    if "memory" in limits:
        spec.task.resources.memory_bytes = parse_size(str(limits["memory"]), f"{where}.resources.limits.memory")
    if "pids" in limits:
        spec.task.resources.pids_limit = int(limits["pids"])
    reservations = resources.get("reservations") or {}
    if "cpus" in reservations:
        spec.reservations.nano_cpus = parse_cpus(str(reservations["cpus"]))
    if "memory" in reservations:
        spec.reservations.memory_bytes = parse_size(
            str(reservations["memory"]), f"{where}.resources.reservations.memory"
        )
    restart = deploy.get("restart_policy") or {}
    spec.restart.condition = restart.get("condition", "any")
    if "delay" in restart:
        spec.restart.delay_seconds = parse_duration(str(restart["delay"]), f"{where}.restart_policy.delay")
    spec.restart.max_attempts = int(restart.get("max_attempts", 0))


def _update_config(config: Any, given: dict[str, Any], where: str) -> None:
    """deploy.update_config / rollback_config: docker's keys onto the spec's UpdateConfig (the managers'
    rules check the values, naming the key)."""
    if "parallelism" in given:
        config.parallelism = int(given["parallelism"])
    for key in ("delay", "monitor"):
        if key in given:
            setattr(config, f"{key}_seconds", parse_duration(str(given[key]), f"{where}.{key}"))
    if "max_failure_ratio" in given:
        try:
            config.max_failure_ratio = float(given["max_failure_ratio"])
        except ValueError:
            raise InvalidArgument(f"{where}.max_failure_ratio must be a number from 0 to 1") from None
    for key in ("failure_action", "order"):
        if key in given:  # only what the file says: an empty config leaves the spec as it was (no rollout)
            setattr(config, key, str(given[key]))
    updatepolicy.validate(config, rollback=where.endswith("rollback_config"), where=where)


def _service_networks(svc: dict[str, Any]) -> dict[str, Any]:
    nets = svc.get("networks")
    if nets is None:
        return {"default": None}
    return dict(nets) if isinstance(nets, dict) else {n: None for n in nets}


def service_spec(
    namespace: str,
    key: str,
    svc: dict[str, Any],
    networks: dict[str, Network],
    files: dict[tuple[str, str], FileObject],
    base: str,
    environ: dict[str, str],
    volumes: dict[str, Any] | None = None,
) -> Any:
    from svc.v1 import cluster_pb2 as cpb

    where = f"services.{key}"
    if not svc.get("image"):
        raise InvalidArgument(f"service {key} has no image (svc stack deploy does not build images)")
    spec = cpb.ServiceSpec(name=f"{namespace}_{key}")
    _deploy(spec, svc.get("deploy") or {}, f"{where}.deploy")
    deploy_labels = _labels((svc.get("deploy") or {}).get("labels"), namespace)
    spec.labels.update({**deploy_labels, IMAGE_LABEL: svc["image"]})
    task = spec.task
    task.image = svc["image"]
    if "entrypoint" in svc:
        task.entrypoint[:] = _split(svc["entrypoint"])
    if "command" in svc:
        task.cmd[:] = _split(svc["command"])
    task.env[:] = _environment(svc, base, environ)
    task.labels.update(_labels(svc.get("labels"), namespace))
    for attr, field_ in (("user", "user"), ("working_dir", "workdir"), ("hostname", "hostname")):
        if attr in svc:
            setattr(task, field_, str(svc[attr]))
    task.read_only = bool(svc.get("read_only"))
    task.cap_add[:] = svc.get("cap_add") or []
    task.cap_drop[:] = svc.get("cap_drop") or []
    if "stop_signal" in svc:
        task.stop_signal = svc["stop_signal"]
    if "stop_grace_period" in svc:
        task.stop_grace_seconds = parse_duration(str(svc["stop_grace_period"]), f"{where}.stop_grace_period")
    if "healthcheck" in svc:
        _healthcheck(task, svc["healthcheck"], f"{where}.healthcheck")
    for i, item in enumerate(svc.get("ports") or []):
        task.ports.append(_port(item, f"{where}.ports.{i}"))
    volumes = volumes or {}
    for i, item in enumerate(svc.get("volumes") or []):
        task.mounts.append(_mount(item, f"{where}.volumes.{i}", key, volumes, namespace, base))
    taskopts.apply(task, svc, where)  # init, tmpfs, sysctls, ulimits, extra_hosts
    for net_key, opts in sorted(_service_networks(svc).items()):
        net = networks[net_key]
        aliases = [key, *((opts or {}).get("aliases") or [])]
        spec.networks.add(target=net.name, aliases=list(dict.fromkeys(aliases)))
    for kind, refs in (("secret", task.secrets), ("config", task.configs)):
        objects = {k: o for (kd, k), o in files.items() if kd == kind}
        refs.extend(_file_refs(kind, svc.get(f"{kind}s") or [], objects, key))
    filerefs.check_refs(list(task.secrets), list(task.configs))
    return spec


def convert(doc: dict[str, Any], namespace: str, base: str, environ: dict[str, str]) -> Stack:
    """The whole stack, every reference checked; nothing is asked of the managers here."""
    check_namespace(namespace)
    services = {k: v or {} for k, v in (doc.get("services") or {}).items()}
    declared_nets = set(doc.get("networks") or {}) | {"default"}
    used_nets: set[str] = set()
    used_files: dict[str, set[str]] = {"secret": set(), "config": set()}
    for key, svc in services.items():
        for net in _service_networks(svc):
            if net not in declared_nets:
                raise InvalidArgument(f"service {key} refers to undefined network {net}")
            used_nets.add(net)
        for kind in used_files:
            declared = doc.get(f"{kind}s") or {}
            for item in svc.get(f"{kind}s") or []:
                source = item if isinstance(item, str) else item["source"]
                if source not in declared:
                    raise InvalidArgument(f"service {key} refers to undefined {kind} {source}")
                used_files[kind].add(source)
    stack = Stack(namespace)
    stack.networks = _networks(doc, namespace, used_nets)
    for kind, used in used_files.items():
        stack.files += _files(doc, kind, namespace, used, base)
    nets = {n.key: n for n in stack.networks}
    files = {(f.kind, f.key): f for f in stack.files}
    for key in sorted(services):
        stack.services.append(
            service_spec(namespace, key, services[key], nets, files, base, environ, doc.get("volumes") or {})
        )
    _check(stack)
    return stack


def _check(stack: Stack) -> None:
    """The managers' own rules for each spec (svc/servicespec.py, svc/networkspec.py), before any write."""
    from svc import networkspec, servicespec

    for n in stack.networks:
        if not n.external:
            try:
                networkspec.validate(n.spec)
            except InvalidArgument as exc:
                raise InvalidArgument(f"network {n.key}: {exc}") from None
    for spec in stack.services:
        try:
            servicespec.validate(spec)
        except InvalidArgument as exc:
            raise InvalidArgument(f"service {spec.name.split('_', 1)[-1]}: {exc}") from None
