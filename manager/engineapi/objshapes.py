"""Networks, secrets and configs: svc's messages as Docker's JSON, and Docker's create requests as svc's specs.

Pure. The rule is specin's: a field svc has no counterpart for is an InvalidArgument naming it,
unless it holds what the docker CLI sends when the user asked for nothing; the control API validates
what is left (svc/networkspec.py, manager/secretapi.py). A secret's value is never in an answer.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from svc.dockerapi.proto import rfc3339
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb

from .specin import _check as check
from .specin import _labels as labels
from .specin import _str as text

VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def network(n: cpb.Network) -> dict[str, Any]:
    s = n.spec
    ipam = [{k: v for k, v in (("Subnet", s.subnet), ("Gateway", s.gateway)) if v}]
    return {
        "Name": s.name,
        "Id": n.id,
        "Created": rfc3339(n.created_at),
        "Scope": "swarm",
        "Driver": s.driver or "overlay",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": ipam},
        "Internal": s.internal,
        "Attachable": s.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {**dict(s.options), VXLAN_ID_OPTION: str(n.vni)},
        "Labels": dict(s.labels),
    }


_NET_DEFAULTS: dict[str, tuple[Any, ...]] = {"Scope": ("swarm", ""), "Driver": ("default", "")}


def network_spec(doc: Any) -> cpb.NetworkSpec:
    """Docker's NetworkCreateRequest as svc's NetworkSpec (CheckDuplicate is svc's rule anyway: names are unique)."""
    known = {"Name", "CheckDuplicate", "Driver", "Scope", "IPAM", "Internal", "Attachable", "Options", "Labels"}
    d = check(doc, "network", known)
    scope = text(d, "Scope", "network")
    if scope not in _NET_DEFAULTS["Scope"]:
        raise InvalidArgument(f"network Scope {scope!r} is not supported by svc: its networks are swarm-scoped")
    spec = cpb.NetworkSpec(
        name=text(d, "Name", "network"),
        driver=text(d, "Driver", "network"),
        internal=bool(d.get("Internal")),
        attachable=bool(d.get("Attachable")),
    )
    spec.labels.update(labels(d, "Labels", "network"))
    spec.options.update(labels(d, "Options", "network"))
    ipam = check(d.get("IPAM"), "network.IPAM", {"Driver", "Config", "Options"})
    if text(ipam, "Driver", "network.IPAM") not in _NET_DEFAULTS["Driver"]:
        raise InvalidArgument(f"network.IPAM.Driver {ipam['Driver']!r} is not supported by svc: it allocates itself")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list):
        raise InvalidArgument("network.IPAM.Config must be a list")
    if len(configs) > 1:
        raise InvalidArgument("svc networks have one subnet: network.IPAM.Config has more than one")
    for i, c in enumerate(configs):
        cfg = check(c, f"network.IPAM.Config[{i}]", {"Subnet", "Gateway"})
        spec.subnet = text(cfg, "Subnet", f"network.IPAM.Config[{i}]")
        spec.gateway = text(cfg, "Gateway", f"network.IPAM.Config[{i}]")
    return spec


def secret(s: cpb.Secret, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"Name": s.spec.name, "Labels": dict(s.spec.labels)}
    if kind == "config":
        spec["Data"] = base64.b64encode(s.spec.data).decode()
    return {
        "ID": s.id,
        "Version": {"Index": s.version},
        "CreatedAt": rfc3339(s.created_at),
        "UpdatedAt": rfc3339(s.updated_at or s.created_at),
        "Spec": spec,
    }


def secret_spec(doc: Any, kind: str) -> tuple[cpb.SecretSpec, bool]:
    """Docker's SecretSpec/ConfigSpec as svc's, and whether it carried Data. Driver and Templating refused."""
    d = check(doc, kind, {"Name", "Labels", "Data"})
    spec = cpb.SecretSpec(name=text(d, "Name", kind))
    spec.labels.update(labels(d, "Labels", kind))
    raw = d.get("Data")
    if raw is not None:
        if not isinstance(raw, str):
            raise InvalidArgument(f"{kind}.Data must be a base64 string")
        try:
            spec.data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"{kind}.Data is not base64") from None
    return spec, raw is not None
