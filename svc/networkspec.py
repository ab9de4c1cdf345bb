"""Validate a NetworkSpec before anything is written (the store checks only what needs its state:
names taken, overlapping subnets). Pure: the managers and `svc stack deploy` use it."""

from __future__ import annotations

import ipaddress
import re

from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
DRIVERS = ("overlay",)
OPTIONS = ("encrypted", "com.docker.network.driver.mtu")


def validate(spec: cpb.NetworkSpec) -> cpb.NetworkSpec:
    out = cpb.NetworkSpec()
    out.CopyFrom(spec)
    if not _NAME_RE.match(out.name):
        raise InvalidArgument(f"invalid network name {out.name!r}: use letters, digits, '-', '_' and '.' (up to 63)")
    out.driver = out.driver or "overlay"
    if out.driver not in DRIVERS:
        raise InvalidArgument(f"network driver {out.driver!r} is not supported: use overlay")
    for key in out.options:
        if key not in OPTIONS:
            raise InvalidArgument(f"unknown network option {key!r} (known: {', '.join(OPTIONS)})")
    if "encrypted" in out.options:
        # IPsec ESP would carry it; the kernels svc runs on so far have no ESP, so nothing could honour it.
        raise InvalidArgument("encrypted overlay networks need IPsec ESP in the kernel, which svc does not drive yet")
    if "com.docker.network.driver.mtu" in out.options:
        raise InvalidArgument("the overlay MTU is fixed at 1450 (1500 less VXLAN's 50 bytes)")
    if out.subnet:
        try:
            subnet = ipaddress.IPv4Network(out.subnet, strict=True)
        except ValueError as exc:
            raise InvalidArgument(f"invalid subnet {out.subnet!r}: {exc} (give an IPv4 CIDR)") from exc
        if subnet.prefixlen > 29:
            raise InvalidArgument(f"subnet {subnet} is too small: give /29 or larger")
        out.subnet = str(subnet)
        if out.gateway:
            try:
                gw = ipaddress.IPv4Address(out.gateway)
            except ValueError as exc:
                raise InvalidArgument(f"invalid gateway {out.gateway!r}: {exc}") from exc
            if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
                raise InvalidArgument(f"gateway {gw} is not a host address of subnet {subnet}")
    elif out.gateway:
        raise InvalidArgument("--gateway needs --subnet")
    return out
