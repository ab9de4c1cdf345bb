"""A test host's engine, driven over stdin/stdout: one JSON request a line, one JSON answer a line.

Run inside a test host's network namespace (`nsenter --net=...`: the mount namespace stays the
test's, so its mounts are visible to the test's leftover checks). It exists until the managers
send overlay peer sets: the test plays the manager and calls `set_networks` itself.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import pysyncobj.tcp_connection  # noqa: F401  # as in the daemons: it replaces socket.inet_ntop (see nlns.py)
from google.protobuf import json_format

from node.engine.engine import Engine, EngineConfig
from svc.v1 import container_pb2 as pb
from svc.v1 import dispatcher_pb2 as dpb


def _conntrack(netns: str) -> list[tuple[str, str]]:
    import socket

    from pyroute2 import Conntrack

    from node.engine.nlns import NETLINK_NETFILTER, _real_inet_ntop, socket_in

    _real_inet_ntop()
    ct = Conntrack(fileno=socket_in(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_NETFILTER).detach())
    try:
        return [(e.tuple_orig.daddr, e.tuple_reply.saddr) for e in ct.dump_entries()]
    finally:
        ct.close()


def main() -> None:
    cfg = EngineConfig(**json.loads(sys.argv[1]))
    engine = Engine(cfg)
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        op = req.pop("op")
        try:
            result: Any = None
            if op == "import":
                engine.import_image(req["path"], req["ref"])
            elif op == "run":
                spec = json_format.ParseDict(req["spec"], pb.ContainerSpec())
                c = engine.run(spec, req.get("name", ""))
                result = {"id": c.id, "ip": c.ip}
            elif op == "exec":
                code, o, e = engine.exec(req["id"], req["cmd"], timeout=req.get("timeout", 30))
                result = {"code": code, "out": o.decode(), "err": e.decode()}
            elif op == "remove":
                engine.remove(req["id"], force=True)
            elif op == "networks":
                engine.set_networks([json_format.ParseDict(n, dpb.NetworkPeers()) for n in req["networks"]])
            elif op == "entries":
                got = engine.overlays.entries(req["vni"])
                result = {
                    "fdb": sorted([f.mac, f.vtep] for f in got.fdb),
                    "neigh": sorted([n.ip, n.mac] for n in got.neigh),
                }
            elif op == "overlays":
                result = engine.overlays.networks()
            elif op == "vip_rules":
                result = engine.overlays.vip_rules(req["id"])
            elif op == "metrics":
                from prometheus_client import CollectorRegistry, generate_latest

                from node.metrics import EngineCollector

                registry = CollectorRegistry()
                registry.register(EngineCollector(engine))
                result = generate_latest(registry).decode()
            elif op == "conntrack":  # (original destination, reply source) in the container's namespace
                result = sorted(set(_conntrack(engine.namespaces.path_of("svc-" + req["id"][:12]))))
            elif op == "dns":
                result = engine.overlays.dns.serving()
            elif op == "cleanup":  # after a failed test: every container, every network
                for c in engine.containers(all=True):
                    engine.remove(c.id, force=True)
                engine.set_networks([])
            elif op == "close":
                engine.close()
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                return
            else:
                raise ValueError(f"unknown op {op}")
            answer = {"ok": True, "result": result}
        except Exception as exc:
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
