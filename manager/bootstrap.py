"""How a manager comes to be: `--init` creates a cluster (from a backup with `--restore`), `--join`
enters one, a restart resumes; `--force-new-cluster` makes a one-manager cluster after quorum loss.

A manager's own files live in `<data dir>/manager/`: `tls/` (its key and certificate),
`state.json` (cluster id, node id, addresses, the Raft key and the last known Raft peers,
0600; with autolock the Raft key and the TLS key sealed in it) and `raft/` (journal and snapshots,
encrypted at rest).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from svc import defaults, tls
from svc.errors import InvalidArgument, Unavailable
from svc.fsutil import read_json, write_atomic, write_json
from svc.join import obtain_identity
from svc.netaddr import local_ip, split_addr

from . import ca as ca_mod
from . import secretbox
from .store import ops

log = logging.getLogger("svcd.manager")


@dataclass
class ManagerOptions:
    """What a manager is started with. Built by the composition root (svcd) from its option
    table, which holds every default: none are repeated here."""

    data_dir: str
    run_dir: str
    listen_addr: str
    advertise_addr: str
    raft_port: int
    metrics_addr: str
    join: str
    token: str
    init: bool
    hostname: str
    heartbeat_period: float
    cert_lifetime: float
    force_new_cluster: bool = False  # (a promoted node's and `svcd up`'s manager never force)
    yes: bool = False
    restore: str = ""  # with init: a backup file from `svc cluster backup` (`svcd manager` only)
    restore_key: str = ""
    insecure_registries: list[str] = field(default_factory=list)  # svcd's flags, beside registries.json
    registry_mirrors: list[str] = field(default_factory=list)
    docker_socket: str = ""  # the Docker Engine API's unix socket; relative: under run_dir; "": none
    docker_tcp: str = ""  # HOST:PORT for the Docker Engine API with mutual TLS (admins only); "": none
    heartbeat_udp_port: int = defaults.HEARTBEAT_UDP_PORT  # (a promoted node's manager: the default)

    @property
    def home(self) -> str:
        return os.path.join(self.data_dir, "manager")


@dataclass
class ManagerState:
    cluster_id: str
    node_id: str
    api_addr: str
    raft_addr: str
    raft_secret: str  # "" on disk while sealed
    peers: list[str] = field(default_factory=list)
    # Autolock: the Raft secret and this manager's TLS key and certificate, sealed with the unlock key
    # (svc/keywrap.py), base64; "" when autolock is off. While it is set, nothing else holds them.
    sealed: str = ""
    # In memory only: the unlock key the files are (to be) sealed with ("" = in the clear), and the
    # identity the sealed document carries. Set at unlock and by upkeep's keep_peers.
    unlock_key: str = field(default="", repr=False, compare=False)
    identity: tls.Identity | None = field(default=None, repr=False, compare=False)

    @property
    def locked(self) -> bool:
        """Loaded sealed and not unlocked yet."""
        return bool(self.sealed) and not self.raft_secret

    @classmethod
    def load(cls, home: str) -> ManagerState | None:
        path = os.path.join(home, "state.json")
        try:
            doc = read_json(path)
            return cls(**{k: v for k, v in doc.items() if k not in _MEMORY_ONLY}) if doc else None
        except (OSError, ValueError, TypeError) as exc:
            raise Unavailable(f"manager state {path} is unreadable or damaged: {exc}") from None

    def unlock(self, home: str, unlock_key: str) -> tls.Identity:
        """Open the sealed document with `unlock_key`: the Raft secret and this manager's identity.
        keywrap.WrongKey if it is not the key they were sealed with (nothing changes then)."""
        import base64
        import json

        from svc import keywrap

        doc = json.loads(keywrap.unseal(unlock_key, base64.b64decode(self.sealed)))
        with open(os.path.join(home, "tls", "ca.pem"), "rb") as f:
            ca_pem = f.read()
        self.raft_secret = doc["raft_secret"]
        self.identity = tls.Identity(ca_pem=ca_pem, cert_pem=doc["cert_pem"].encode(), key_pem=doc["key_pem"].encode())
        self.unlock_key = unlock_key
        return self.identity

    def save(self, home: str) -> None:
        """state.json and, when the identity is known, tls/: sealed when `unlock_key` is set (the TLS key
        file removed once the sealed document is durable), else in the clear (the key written first)."""
        import base64
        import json

        from svc import keywrap

        os.makedirs(home, mode=0o700, exist_ok=True)
        tls_dir = os.path.join(home, "tls")
        doc = {k: v for k, v in asdict(self).items() if k not in _MEMORY_ONLY}
        if self.unlock_key:
            ident = self.identity
            if ident is None:
                raise Unavailable("cannot seal this manager's keys: its identity is not loaded")
            inner = {
                "raft_secret": self.raft_secret,
                "key_pem": ident.key_pem.decode(),
                "cert_pem": ident.cert_pem.decode(),
            }
            doc["sealed"] = base64.b64encode(keywrap.seal(self.unlock_key, json.dumps(inner).encode())).decode()
            doc["raft_secret"] = ""
            os.makedirs(tls_dir, mode=0o700, exist_ok=True)
            write_atomic(os.path.join(tls_dir, "cert.pem"), ident.cert_pem, mode=0o600)
            write_atomic(os.path.join(tls_dir, "ca.pem"), ident.ca_pem, mode=0o600)
            write_json(os.path.join(home, "state.json"), doc, mode=0o600)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(tls_dir, "key.pem"))
        else:
            if self.identity is not None:
                self.identity.save(tls_dir)
            doc["sealed"] = ""
            write_json(os.path.join(home, "state.json"), doc, mode=0o600)
        self.sealed = doc["sealed"]


_MEMORY_ONLY = ("unlock_key", "identity")


def addresses(opts: ManagerOptions) -> tuple[str, str]:
    """(API address, Raft address) others use to reach this manager."""
    listen_host, listen_port = split_addr(opts.listen_addr, "listen address")
    adv = opts.advertise_addr
    if adv:
        host, _, port = adv.rpartition(":") if adv.count(":") == 1 else (adv, "", "")
        host = host or adv
        api_port = int(port) if port.isdigit() else listen_port
    else:
        host = listen_host if listen_host not in ("0.0.0.0", "::", "") else local_ip()
        api_port = listen_port
    return f"{host}:{api_port}", f"{host}:{opts.raft_port}"


def hostname(opts: ManagerOptions) -> str:
    return opts.hostname or socket.gethostname()


def init_cluster(opts: ManagerOptions) -> tuple[ManagerState, tls.Identity, ops.Op]:
    """Create the CA, secrets and this manager's identity; returns the cluster.init op to commit."""
    if opts.heartbeat_period <= 0:
        raise InvalidArgument("--heartbeat-period must be positive")
    if not -1 <= opts.heartbeat_udp_port <= 65535:
        raise InvalidArgument("--heartbeat-udp-port must be a port (0: the gRPC port's number; -1: off)")
    if opts.cert_lifetime < 10:
        raise InvalidArgument("--cert-lifetime must be at least 10 seconds")
    cluster_id = ops.new_id()
    node_id = ops.new_id()
    ca_pem, ca_key = ca_mod.create_root(cluster_id)
    authority = ca_mod.CertificateAuthority(ca_pem, ca_key)
    identity = authority.identity(node_id, "manager", opts.cert_lifetime)
    api_addr, raft_addr = addresses(opts)
    state = ManagerState(
        cluster_id=cluster_id,
        node_id=node_id,
        api_addr=api_addr,
        raft_addr=raft_addr,
        raft_secret=secrets.token_hex(32),
        peers=[raft_addr],
    )
    op = ops.cluster_init(
        {
            "id": cluster_id,
            "name": "default",
            "worker_secret": ca_mod.new_secret(),
            "manager_secret": ca_mod.new_secret(),
            "raft_secret": state.raft_secret,
            "heartbeat_period": opts.heartbeat_period,
            "ca_cert_pem": ca_pem,
            "ca_key_pem": ca_key,
            "cert_lifetime": opts.cert_lifetime,
            "secrets_key": secretbox.new_key(),
        }
    )
    return state, identity, op


def read_backup(opts: ManagerOptions) -> dict[str, Any]:
    """The store in --restore's file, decrypted, authenticated and checked, before anything is written:
    a wrong key, a damaged or a foreign file is refused in one line and leaves nothing behind."""
    from svc import backup as sealed

    from . import backup

    key = sealed.parse_key(opts.restore_key)
    meta, raw = sealed.unseal(sealed.read(opts.restore), key, opts.restore)
    doc = backup.decode(raw, opts.restore)
    cluster = doc["cluster"]
    if meta.get("cluster_id") != cluster["id"]:
        raise InvalidArgument(f"{opts.restore} is damaged: its header and its store name different clusters")
    try:
        authority = ca_mod.CertificateAuthority(cluster["ca_cert_pem"], cluster["ca_key_pem"])
    except (ValueError, TypeError, InvalidArgument) as exc:
        raise InvalidArgument(f"{opts.restore} holds an unusable CA: {exc}") from None
    if authority.cluster_id != cluster["id"]:
        raise InvalidArgument(f"{opts.restore} holds the CA of another cluster ({authority.cluster_id})")
    if authority.cert.not_valid_after_utc.timestamp() < time.time():
        raise InvalidArgument(
            f"{opts.restore} holds a CA that expired on {authority.cert.not_valid_after_utc:%Y-%m-%d}"
        )
    log.info(
        "restoring cluster %s from a backup taken %s (%d services, %d nodes, %d tasks)",
        doc["cluster"]["id"],
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(meta.get("created_at", 0)))),
        len(doc["services"]),
        len(doc["nodes"]),
        len(doc["tasks"]),
    )
    return doc


def restore_cluster(opts: ManagerOptions, doc: dict[str, Any]) -> tuple[ManagerState, tls.Identity, ops.Op]:
    """A new one-manager cluster whose store is the backup's: its id, CA, join secrets, services, tasks and
    nodes. This manager gets a new id and a certificate from the backup's CA; every manager of the old
    cluster leaves it (its id revoked: store.restore). The Raft key is new: the old managers' copies (on
    their disks, and in the backup) open nothing in the new cluster. Returns the op to commit first."""
    cluster = {**doc["cluster"], "raft_secret": secrets.token_hex(32)}
    doc = {**doc, "cluster": cluster}
    node_id = ops.new_id()
    lifetime = float(cluster.get("cert_lifetime") or opts.cert_lifetime)
    rotation = [cluster.get(k) or b"" for k in ("ca_next_cert_pem", "ca_next_key_pem", "ca_cross_pem")]
    identity = ca_mod.CertificateAuthority(cluster["ca_cert_pem"], cluster["ca_key_pem"], *rotation).identity(
        node_id, "manager", lifetime
    )
    api_addr, raft_addr = addresses(opts)
    state = ManagerState(
        cluster_id=cluster["id"],
        node_id=node_id,
        api_addr=api_addr,
        raft_addr=raft_addr,
        raft_secret=cluster["raft_secret"],
        peers=[raft_addr],
    )
    return state, identity, ops.store_restore(doc, node_id)


async def join_cluster(opts: ManagerOptions) -> tuple[ManagerState, tls.Identity]:
    """Get a manager certificate with the token, then ask the leader to add us to Raft."""
    identity = await obtain_identity(opts.join, opts.token, hostname(opts), want_role="manager")
    return await join_raft(opts, identity, opts.join), identity


async def join_raft(opts: ManagerOptions, identity: tls.Identity, via: str) -> ManagerState:
    """With a manager certificate already in hand (joined with a token, or promoted): become a Raft member."""
    from svc.v1 import ca_pb2 as capb
    from svc.v1 import ca_pb2_grpc as capb_grpc

    api_addr, raft_addr = addresses(opts)
    channel = tls.secure_channel(via, identity)
    try:
        resp = await capb_grpc.MembershipStub(channel).JoinRaft(
            capb.JoinRaftRequest(raft_addr=raft_addr, api_addr=api_addr, hostname=hostname(opts)),
            timeout=defaults.FORWARD_TIMEOUT_SECONDS,
        )
    except Exception as exc:
        from svc.rpc import error_from_rpc

        raise error_from_rpc(exc) if hasattr(exc, "code") else exc from None  # type: ignore[arg-type]
    finally:
        await channel.close()
    return ManagerState(
        cluster_id=resp.cluster_id,
        node_id=identity.node_id,
        api_addr=api_addr,
        raft_addr=raft_addr,
        raft_secret=resp.raft_secret,
        peers=list(resp.raft_peers),
    )


def check_fresh(opts: ManagerOptions) -> ManagerState | None:
    """The saved state, or None for a new manager; refuses contradictory flags."""
    if opts.restore and not opts.init:
        raise InvalidArgument("--restore makes a new cluster from a backup: it needs --init")
    if opts.restore and not opts.restore_key:
        raise InvalidArgument(
            "--restore needs the key `svc cluster backup` printed: --restore-key KEY (or SVC_RESTORE_KEY)"
        )
    if opts.restore_key and not opts.restore:
        raise InvalidArgument("--restore-key is the key of a backup: it needs --restore FILE")
    state = ManagerState.load(opts.home)
    if opts.force_new_cluster:
        if opts.init or opts.join:
            raise InvalidArgument("--force-new-cluster recovers this manager's cluster: it excludes --init and --join")
        if state is None:
            raise InvalidArgument(f"--force-new-cluster: {opts.home} holds no manager's state to recover")
        return state
    if state is not None and (opts.init or opts.join):
        raise InvalidArgument(
            f"this manager is already part of cluster {state.cluster_id} "
            f"(state in {opts.home}); start it without --init/--join"
        )
    if state is None and not opts.init and not opts.join:
        raise InvalidArgument("this host is not part of a cluster: start one with --init, or --join ADDR --token T")
    if opts.init and opts.join:
        raise InvalidArgument("--init and --join exclude each other")
    return state


def force_new_cluster(opts: ManagerOptions, saved: ManagerState) -> tuple[ManagerState, ops.Op]:
    """A one-manager cluster from this manager's state, after the others are lost for good: the store
    as this disk holds it, a fresh Raft log with this manager alone, the old log kept beside it.
    Refused while the other managers look reachable (it would split a live cluster) unless --yes."""
    import shutil

    from .store.raft import load_offline

    others = [p for p in saved.peers if p != saved.raft_addr]
    reachable = [p for p in others if _answers(p)]
    if others and (len(reachable) + 1) * 2 > len(saved.peers) and not opts.yes:
        raise InvalidArgument(
            f"--force-new-cluster: this manager's cluster still has a quorum ({', '.join(reachable)} answer): "
            "forcing would split it; add --yes to do it anyway"
        )
    raft_dir = os.path.join(opts.home, "raft")
    state = load_offline(raft_dir, saved.raft_secret)
    if state.cluster is None:
        raise InvalidArgument(f"--force-new-cluster: {raft_dir} holds no cluster state to recover")
    kept = f"{raft_dir}.before-force-new-cluster-{int(time.time())}"
    shutil.move(raft_dir, kept)
    fresh = ManagerState(
        cluster_id=saved.cluster_id,
        node_id=saved.node_id,
        api_addr=saved.api_addr,
        raft_addr=saved.raft_addr,
        raft_secret=saved.raft_secret,
        peers=[saved.raft_addr],
    )
    fresh.unlock_key, fresh.identity = saved.unlock_key, saved.identity  # sealed as before, if autolocked
    fresh.save(opts.home)
    return fresh, ops.store_restore(state.to_plain(), saved.node_id)


def _answers(raft_addr: str, timeout: float = 1.0) -> bool:
    host, port = split_addr(raft_addr, "raft address")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
