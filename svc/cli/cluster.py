"""`svc cluster info|join-token|client-bundle|backup|update|unlock|unlock-key|ca`."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from svc import defaults, tls
from svc.cli.service import client


def register(sub: Any, command: str | None = None) -> None:
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
    up = csub.add_parser("update", help="change cluster-wide settings")
    up.add_argument(
        "--autolock",
        type=_boolean,
        metavar="true|false",
        help="seal the managers' keys at rest with an unlock key (printed once); a restarted manager waits for it",
    )
    up.set_defaults(func=cmd_update)
    ul = csub.add_parser("unlock", help="unlock this host's locked manager (the key is asked for, or read from stdin)")
    ul.set_defaults(func=cmd_unlock)
    uk = csub.add_parser("unlock-key", help="print the unlock key (autolock)")
    uk.add_argument("--rotate", action="store_true", help="make a new key; the managers re-seal with it")
    uk.add_argument("-q", "--quiet", action="store_true", help="only the key")
    uk.set_defaults(func=cmd_unlock_key)
    ca = csub.add_parser("ca", help="the root CA: fingerprint, expiry, a rotation's progress; --rotate to a new root")
    ca.add_argument(
        "--rotate", action="store_true", help="move every node to a new root CA; waits until every node renewed"
    )
    ca.add_argument("-d", "--detach", action="store_true", help="with --rotate: start it, do not wait")
    ca.add_argument("-q", "--quiet", action="store_true", help="only the root's fingerprint")
    ca.set_defaults(func=cmd_ca)


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid value {text!r}: use true or false")


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
    print(f"Autolock:          {'on' if i.autolock else 'off'}")
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


_KEY_ADVICE = (
    "Keep it safe: a manager that restarts stays locked until `svc cluster unlock` is given this key, "
    "and without it that manager's keys cannot be recovered."
)


def cmd_update(args: argparse.Namespace) -> int:
    from svc.errors import InvalidArgument
    from svc.v1 import control_pb2 as ctl

    if args.autolock is None:
        raise InvalidArgument("nothing to update: give --autolock=true|false")
    resp = client(args).UpdateCluster(ctl.UpdateClusterRequest(autolock=args.autolock))
    if resp.unlock_key:
        print(f"Autolock is on. The managers' keys are sealed with this unlock key:\n\n    {resp.unlock_key}\n")
        print(_KEY_ADVICE)
    else:
        print(f"Autolock is {'on (the unlock key is unchanged)' if resp.autolock else 'off'}.")
    return 0


def cmd_unlock_key(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    resp = client(args).UnlockKey(ctl.UnlockKeyRequest(rotate=args.rotate))
    if args.quiet:
        print(resp.unlock_key)
        return 0
    what = "The new unlock key" if args.rotate else "The unlock key"
    print(f"{what} of this cluster:\n\n    {resp.unlock_key}\n")
    if args.rotate:
        print("A manager that was down during the rotation still needs the previous key once.")
    print(_KEY_ADVICE)
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    """Unlock this host's manager over its root-only unix socket: a locked manager has no TLS key, so
    it serves this call only there, to whoever may open the socket (root)."""
    import getpass
    import sys

    import grpc

    from svc import keywrap
    from svc.client import RpcClient
    from svc.errors import InvalidArgument, Unauthenticated, Unavailable
    from svc.v1 import control_pb2 as ctl
    from svc.v1 import control_pb2_grpc as ctl_grpc

    path = os.path.join(os.environ.get("SVC_RUN_DIR", defaults.RUN_DIR), keywrap.UNLOCK_SOCKET_NAME)
    if not os.path.exists(path):
        raise Unavailable(f"no locked manager on this host ({path} does not exist)")
    if not os.access(path, os.R_OK | os.W_OK):
        raise Unauthenticated(f"cannot open {path}: unlocking is for root")
    key = getpass.getpass("Unlock key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise InvalidArgument("no unlock key given")
    keywrap.parse_unlock_key(key)
    rpc = RpcClient(path, grpc.insecure_channel(f"unix:{path}"), ctl_grpc.UnlockStub)
    try:
        rpc.Unlock(ctl.UnlockRequest(unlock_key=key), timeout=defaults.CLI_RPC_TIMEOUT_SECONDS)
    finally:
        rpc.close()
    print("the manager is unlocked")
    return 0


def cmd_ca(args: argparse.Namespace) -> int:
    """As `docker swarm ca [--rotate] [--detach] [-q]`: a rotation already running is refused, one line."""
    import sys

    from svc.control import CAClient
    from svc.errors import DeadlineExceeded, InvalidArgument
    from svc.v1 import ca_pb2 as capb

    if args.detach and not args.rotate:
        raise InvalidArgument("--detach goes with --rotate")
    ca = CAClient(args.host, getattr(args, "tls_dir", None))
    if not args.rotate:
        info = ca.RootInfo(capb.RootInfoRequest())
        print(info.fingerprint if args.quiet else _ca_text(info))
        return 0
    info = ca.RotateRoot(capb.RotateRootRequest())
    target = info.fingerprint
    if args.detach:
        print(target if args.quiet else f"CA rotation started: new root {target}\n{_ca_text(info)}")
        return 0
    deadline = time.monotonic() + defaults.CA_ROTATE_WAIT_SECONDS
    shown = ""
    tty = sys.stderr.isatty()
    while info.rotating or info.fingerprint != target:
        if info.fingerprint != target:
            raise InvalidArgument(f"another CA rotation replaced this one (the root is now {info.fingerprint})")
        line = f"rotating the CA root: {info.renewed}/{info.nodes} nodes renewed"
        if not args.quiet and line != shown:
            print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)
            shown = line
        if time.monotonic() > deadline:
            waiting = ", ".join(info.pending[:5]) + (" ..." if len(info.pending) > 5 else "")
            raise DeadlineExceeded(
                f"the CA rotation is still running after {defaults.CA_ROTATE_WAIT_SECONDS:.0f}s, waiting for "
                f"{len(info.pending)} node(s) to renew ({waiting}); it goes on: watch it with `svc cluster ca`"
            )
        time.sleep(1.0)
        info = ca.RootInfo(capb.RootInfoRequest())
    if tty and shown and not args.quiet:
        print(file=sys.stderr)
    if args.quiet:
        print(info.fingerprint)
        return 0
    print(f"CA rotation done: every node holds a certificate of the new root\n{_ca_text(info)}")
    print("The join tokens changed with the root: get them with `svc cluster join-token worker|manager`.")
    return 0


def _ca_text(info: Any) -> str:
    expires = time.strftime("%Y-%m-%d", time.gmtime(info.expires_at))
    lines = [f"Root CA:           {info.fingerprint} (expires {expires})"]
    if not info.rotating:
        lines.append("Rotation:          none in progress")
        return "\n".join(lines)
    ago = max(0.0, time.time() - info.rotation_started)
    lines.append(
        f"Rotation:          from {info.old_fingerprint}, started {ago:.0f}s ago: "
        f"{info.renewed}/{info.nodes} nodes renewed"
    )
    if info.pending:
        lines.append(f"Waiting for:       {', '.join(info.pending)}")
    if info.down:
        lines.append(f"Down (not waited): {', '.join(info.down)}")
    return "\n".join(lines)
