"""`svc cluster info|join-token|client-bundle|backup`."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from svc import defaults, tls
from svc.cli.service import client


def register(sub: Any) -> None:
    p = sub.add_parser("cluster", help="the cluster as a whole")
    csub = p.add_subparsers(dest="verb", required=True)
    info = csub.add_parser("info", help="leader, managers, counts")
    info.set_defaults(func=cmd_info)
    jt = csub.add_parser("join-token", help="print the command that joins a node")
    jt.add_argument("role", choices=["worker", "manager"])
    jt.add_argument("--rotate", action="store_true", help="make a new token; the old one stops working")
    jt.add_argument("-q", "--quiet", action="store_true", help="only the token")
    jt.set_defaults(func=cmd_join_token)
    cb = csub.add_parser("client-bundle", help="write an admin certificate bundle for remote `svc` use")
    cb.add_argument("directory")
    cb.set_defaults(func=cmd_client_bundle)
    bk = csub.add_parser("backup", help="write the cluster's state, encrypted, to FILE; prints the key to restore it")
    bk.add_argument("file")
    bk.add_argument("--force", action="store_true", help="replace FILE if it exists")
    bk.add_argument("-q", "--quiet", action="store_true", help="print only the key")
    bk.set_defaults(func=cmd_backup)


def cmd_info(args: argparse.Namespace) -> int:
    from svc.v1 import common_pb2

    i = client(args).ClusterInfo(common_pb2.Empty())
    print(f"Cluster ID:        {i.cluster_id}")
    print(f"Version:           {i.version}")
    print(f"Leader:            {i.leader_addr} ({i.leader_id[:12]})")
    print(f"Raft term:         {i.raft_term}   commit index: {i.raft_commit_index}")
    print(f"Heartbeat period:  {i.heartbeat_period_seconds:g}s")
    print(f"Nodes: {i.nodes}   Services: {i.services}   Tasks: {i.tasks}")
    print(f"CA expires:        {time.strftime('%Y-%m-%d', time.gmtime(i.ca_expires_at))}")
    print("Managers:")
    for m in i.managers:
        role = "Leader" if m.leader else m.reachability.capitalize()
        print(f"  {m.api_addr:<22} raft {m.raft_addr:<22} {role}")
    return 0


def cmd_join_token(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    resp = client(args).JoinToken(ctl.JoinTokenRequest(role=args.role, rotate=args.rotate))
    if args.quiet:
        print(resp.token)
        return 0
    daemon = "node" if args.role == "worker" else "manager"
    addr = resp.managers[0] if resp.managers else "MANAGER:4242"
    print(f"To add a {args.role} to this cluster, run on it:\n\n    svcd {daemon} --join {addr} --token {resp.token}\n")
    return 0


def cmd_client_bundle(args: argparse.Namespace) -> int:
    from svc.v1 import common_pb2

    resp = client(args).ClientBundle(common_pb2.Empty())
    tls.Identity(ca_pem=resp.ca_pem, cert_pem=resp.cert_pem, key_pem=resp.key_pem).save(args.directory)
    print(
        f"wrote an admin credential to {os.path.abspath(args.directory)} (keep it secret);\n"
        f"use it with: svc --tls-dir {os.path.abspath(args.directory)} --host MANAGER:4242 ..."
    )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """The leader's store after a barrier, sealed here under a fresh key (svc/backup.py): the key is
    printed once and kept nowhere, so the file alone restores nothing."""
    from svc import backup
    from svc.errors import AlreadyExists
    from svc.v1 import common_pb2

    if os.path.exists(args.file) and not args.force:  # before asking the cluster for anything
        raise AlreadyExists(f"{args.file} exists: give another file, or --force to replace it")
    resp = client(args).Backup(common_pb2.Empty())
    key = backup.new_key()
    counts = {"nodes": resp.nodes, "services": resp.services, "tasks": resp.tasks}
    meta = {
        "cluster_id": resp.cluster_id,
        "created_at": time.time(),
        "raft_commit_index": resp.raft_commit_index,
        "svc_version": defaults.VERSION,
        **counts,
    }
    blob = backup.seal(meta, resp.store, key)
    backup.write(args.file, blob, force=args.force)
    if args.quiet:
        print(backup.format_key(key))
        return 0
    print(
        f"wrote a backup of cluster {resp.cluster_id} to {os.path.abspath(args.file)} "
        f"({resp.services} services, {resp.nodes} nodes, {resp.tasks} tasks; {len(blob)} bytes)\n"
        f"key: {backup.format_key(key)}\n"
        "The key is needed to restore (svcd manager --init --restore FILE --restore-key KEY) and is stored "
        "nowhere: keep it apart from the file."
    )
    return 0
