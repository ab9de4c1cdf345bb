"""svc's control API messages -> the Docker Engine API's JSON (API 1.41): services, tasks, nodes.

Pure: no I/O, no clock. Field names are Docker's (`ID`, `Version.Index`, `Spec.TaskTemplate...`);
times are RFC 3339 in UTC, durations nanoseconds. What svc has no word for is left out, never
invented. The protocol rules both daemons' servers share (the version, errors to status codes,
filters, times) are svc/dockerapi/proto.py's.
"""

from __future__ import annotations

import itertools
from typing import Any

from svc import filerefs
from svc.dockerapi.proto import NS, rfc3339
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as cnt


def filter_sets(f: dict[str, list[str]], rename: dict[str, str] | None = None) -> list[list[str]]:
    """Docker's filters (values of a key OR'ed, keys AND'ed) as svc's `k=v` lists, one list per
    combination of values; the caller joins the answers."""
    rename = rename or {}
    keys = [k for k in sorted(f) if f[k]]
    combos = itertools.product(*([f"{rename.get(k, k)}={v}" for v in f[k]] for k in keys))
    return [list(c) for c in combos]


# ----- services -----


def _duration(seconds: float) -> int:
    return round(seconds * NS)


def container_spec(t: cnt.ContainerSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Image": t.image}
    if t.labels:
        out["Labels"] = dict(t.labels)
    if t.entrypoint:
        out["Command"] = list(t.entrypoint)
    if t.cmd:
        out["Args"] = list(t.cmd)
    if t.hostname:
        out["Hostname"] = t.hostname
    if t.env:
        out["Env"] = list(t.env)
    if t.workdir:
        out["Dir"] = t.workdir
    if t.user:
        out["User"] = t.user
    if t.read_only:
        out["ReadOnly"] = True
    if t.stop_signal:
        out["StopSignal"] = t.stop_signal
    if t.stop_grace_seconds:
        out["StopGracePeriod"] = _duration(t.stop_grace_seconds)
    if t.no_healthcheck:
        out["Healthcheck"] = {"Test": ["NONE"]}
    elif t.HasField("healthcheck") and t.healthcheck.test:
        h = t.healthcheck
        out["Healthcheck"] = {
            "Test": list(h.test),
            "Interval": _duration(h.interval_seconds),
            "Timeout": _duration(h.timeout_seconds),
            "Retries": h.retries,
            "StartPeriod": _duration(h.start_period_seconds),
        }
    if t.cap_add:
        out["CapabilityAdd"] = list(t.cap_add)
    if t.cap_drop:
        out["CapabilityDrop"] = list(t.cap_drop)
    if t.mounts:
        out["Mounts"] = [_mount(m) for m in t.mounts]
    if t.init:
        out["Init"] = True
    if t.sysctls:
        out["Sysctls"] = dict(t.sysctls)
    if t.ulimits:
        out["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in t.ulimits]
    if t.extra_hosts:
        out["Hosts"] = list(t.extra_hosts)
    for key, refs in (("Secrets", t.secrets), ("Configs", t.configs)):
        if refs:
            kind = key[:-1]
            out[key] = [
                {
                    "File": {"Name": _file_name(kind, r.target), "UID": str(r.uid), "GID": str(r.gid), "Mode": r.mode},
                    f"{kind}ID": r.id,
                    f"{kind}Name": r.name,
                }
                for r in refs
            ]
    return out


def _file_name(kind: str, target: str) -> str:
    """A secret's target as docker shows it: relative to /run/secrets (where a relative one goes back to)."""
    if kind == "Secret" and target.startswith(filerefs.SECRETS_DIR + "/"):
        return target[len(filerefs.SECRETS_DIR) + 1 :]
    return target


def _mount(m: cnt.Mount) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": m.type, "Target": m.target}
    if m.source:
        out["Source"] = m.source
    if m.read_only:
        out["ReadOnly"] = True
    if m.volume_labels:
        out["VolumeOptions"] = {"Labels": dict(m.volume_labels)}
    if m.tmpfs_size_bytes or m.tmpfs_mode:
        out["TmpfsOptions"] = {k: v for k, v in (("SizeBytes", m.tmpfs_size_bytes), ("Mode", m.tmpfs_mode)) if v}
    return out


def _ports(t: cnt.ContainerSpec) -> list[dict[str, Any]]:
    # No routing mesh: a published port is bound on the node that runs the task (Docker's "host" mode).
    return [
        {
            "Protocol": p.protocol or "tcp",
            "TargetPort": p.container_port,
            "PublishedPort": p.host_port,
            "PublishMode": p.publish_mode or "host",
        }
        for p in t.ports
    ]


def service_spec(s: cpb.ServiceSpec) -> dict[str, Any]:
    t = s.task
    template: dict[str, Any] = {
        "ContainerSpec": container_spec(t),
        "ForceUpdate": s.force_update,
        "Runtime": "container",
    }
    limits = {k: v for k, v in (("NanoCPUs", t.resources.nano_cpus), ("MemoryBytes", t.resources.memory_bytes),
                                ("Pids", t.resources.pids_limit)) if v}  # fmt: skip
    reservations = {
        k: v for k, v in (("NanoCPUs", s.reservations.nano_cpus), ("MemoryBytes", s.reservations.memory_bytes)) if v
    }
    template["Resources"] = {"Limits": limits, "Reservations": reservations}
    r = s.restart
    policy: dict[str, Any] = {"Condition": r.condition or "any", "MaxAttempts": r.max_attempts}
    if r.HasField("delay_seconds"):  # unset: svc's default (5 s, as Swarm's)
        policy["Delay"] = _duration(r.delay_seconds)
    template["RestartPolicy"] = policy
    placement: dict[str, Any] = {}
    if s.placement.constraints:
        placement["Constraints"] = list(s.placement.constraints)
    if s.placement.max_replicas_per_node:
        placement["MaxReplicas"] = s.placement.max_replicas_per_node
    template["Placement"] = placement
    networks = [{"Target": a.target, **({"Aliases": list(a.aliases)} if a.aliases else {})} for a in s.networks]
    if t.network and t.network != "bridge":
        networks.append({"Target": t.network})
    if networks:
        template["Networks"] = networks
    mode: dict[str, Any] = {"Global": {}} if s.mode == "global" else {"Replicated": {"Replicas": s.replicas}}
    out: dict[str, Any] = {"Name": s.name, "Labels": dict(s.labels), "TaskTemplate": template, "Mode": mode}
    out["EndpointSpec"] = {"Mode": s.endpoint_mode or "vip", "Ports": _ports(t)}
    from . import updateconfig  # it reads this module's units

    out["UpdateConfig"] = updateconfig.to_docker(s.update_config)
    out["RollbackConfig"] = updateconfig.to_docker(s.rollback_config)
    return out


def service(s: cpb.Service, status: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": s.id,
        "Version": {"Index": s.version},
        "CreatedAt": rfc3339(s.created_at),
        "UpdatedAt": rfc3339(s.updated_at),
        "Spec": service_spec(s.spec),
    }
    if s.HasField("previous_spec"):
        out["PreviousSpec"] = service_spec(s.previous_spec)
    endpoint: dict[str, Any] = {"Spec": out["Spec"]["EndpointSpec"]}
    if s.spec.task.ports:
        endpoint["Ports"] = _ports(s.spec.task)
    if s.virtual_ips:
        endpoint["VirtualIPs"] = [{"NetworkID": v.network_id, "Addr": v.addr} for v in s.virtual_ips]
    out["Endpoint"] = endpoint
    if s.HasField("update_status"):
        from . import updateconfig

        out["UpdateStatus"] = updateconfig.status(s.update_status)
    if status:
        out["ServiceStatus"] = {"RunningTasks": s.running, "DesiredTasks": s.desired, "CompletedTasks": 0}
    return out


# ----- tasks and nodes -----


def task(t: cpb.Task) -> dict[str, Any]:
    s = t.status
    status: dict[str, Any] = {"Timestamp": rfc3339(s.timestamp or t.created_at), "State": s.state}
    if s.message:
        status["Message"] = s.message
    if s.err:
        status["Err"] = s.err
    if s.container_id:
        status["ContainerStatus"] = {"ContainerID": s.container_id, "ExitCode": s.exit_code}
    if t.spec.ports and s.state == "running":
        status["PortStatus"] = {"Ports": _ports(t.spec)}
    out: dict[str, Any] = {
        "ID": t.id,
        "Version": {"Index": t.version},
        "CreatedAt": rfc3339(t.created_at),
        "UpdatedAt": rfc3339(s.timestamp or t.created_at),
        "Labels": {},
        "Spec": {"ContainerSpec": container_spec(t.spec)},
        "ServiceID": t.service_id,
        "NodeID": t.node_id,
        "Status": status,
        "DesiredState": t.desired_state,
    }
    if t.slot:
        out["Slot"] = t.slot
    if t.networks:
        out["NetworksAttachments"] = [
            {"Network": {"ID": n.network_id, "Spec": {"Name": n.network_name}}, "Addresses": [n.addr]}
            for n in t.networks
        ]
    return out


def node(n: cpb.Node) -> dict[str, Any]:
    d = n.description
    out: dict[str, Any] = {
        "ID": n.id,
        "Version": {"Index": n.version},
        "CreatedAt": rfc3339(n.created_at),
        "UpdatedAt": rfc3339(n.updated_at),
        "Spec": {"Labels": dict(n.labels), "Role": n.role, "Availability": n.availability},
        "Description": {
            "Hostname": d.hostname,
            "Platform": {"Architecture": d.architecture, "OS": d.os},
            "Resources": {"NanoCPUs": d.nano_cpus, "MemoryBytes": d.memory_bytes},
            "Engine": {"EngineVersion": d.engine_version, "Labels": dict(d.engine_labels)},
        },
        "Status": {"State": n.state or "unknown", "Addr": d.addr.rsplit(":", 1)[0] if d.addr else ""},
    }
    if n.message:
        out["Status"]["Message"] = n.message
    if n.HasField("manager_status"):
        m = n.manager_status
        out["ManagerStatus"] = {"Leader": m.leader, "Reachability": m.reachability, "Addr": m.api_addr}
    return out
