"""The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted in as Docker does."""

from __future__ import annotations

import os

from svc.fsutil import write_atomic

HOST_RESOLV_CONF = "/etc/resolv.conf"
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")  # Docker's, when the host only has a local resolver


def _resolv_conf(network: str) -> str:
    try:
        with open(HOST_RESOLV_CONF) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    if network == "host":
        return "\n".join(lines) + "\n"
    # A resolver on the host's loopback is unreachable from the container's own namespace.
    kept = [
        ln
        for ln in lines
        if not (
            ln.startswith("nameserver")
            and ln.split()[1:2]
            and (ln.split()[1].startswith("127.") or ln.split()[1] == "::1")
        )
    ]
    if not any(ln.startswith("nameserver") for ln in kept):
        kept += [f"nameserver {ns}" for ns in FALLBACK_NAMESERVERS]
    return "\n".join(kept) + "\n"


def _embedded_resolv_conf() -> str:
    """The embedded DNS server (dns.py) answers every name, forwarding what it does not know to the
    host's resolvers; the host's search domains are kept. ndots:0 as Docker: `web` is tried as is."""
    try:
        with open(HOST_RESOLV_CONF) as f:
            search = [ln for ln in f.read().splitlines() if ln.startswith(("search", "domain"))]
    except FileNotFoundError:
        search = []
    return "\n".join([*search, "nameserver 127.0.0.11", "options ndots:0"]) + "\n"


def write_etc_files(
    etc_dir: str,
    hostname: str,
    ip: str,
    network: str,
    embedded_dns: bool = False,
    extra_hosts: list[str] | None = None,
) -> list[tuple[str, str, bool]]:
    """Write the three files; return the bind mounts (source, destination, read-only) for the bundle.
    `extra_hosts`: "IP HOST" lines (docker's --add-host), after the container's own, as Docker's."""
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if ip:
        hosts.append(f"{ip}\t{hostname}")
    hosts += [line.replace(" ", "\t", 1) for line in extra_hosts or []]
    files = {
        "hostname": hostname + "\n",
        "hosts": "\n".join(hosts) + "\n",
        "resolv.conf": _embedded_resolv_conf() if embedded_dns else _resolv_conf(network),
    }
    binds = []
    for name, content in files.items():
        path = os.path.join(etc_dir, name)
        write_atomic(path, content.encode(), fsync=False)
        binds.append((path, "/etc/" + name, False))
    return binds
