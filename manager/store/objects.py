"""The objects the managers replicate: nodes, services, tasks, networks, secrets, configs, and the cluster record.

Objects are immutable; a write replaces an object with a new one whose `version` is the
store's sequence number at that write (Swarm uses the Raft index the same way). Specs are
protobuf messages (ContainerSpec, ServiceSpec) treated as read-only once stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Task states: the model is shared with the nodes (svc/taskstate.py); re-exported for the manager.
from svc.taskstate import (  # noqa: F401
    ACCEPTED,
    ASSIGNED,
    COMPLETE,
    FAILED,
    NEW,
    ORPHANED,
    PENDING,
    PREPARING,
    READY,
    REJECTED,
    REMOVE,
    RUNNING,
    SHUTDOWN,
    STARTING,
    STATE_ORDER,
    TASK_STATES,
    TERMINAL,
    is_terminal,
    moves_forward,
)
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb

# Node states and availability.
NODE_UNKNOWN, NODE_READY, NODE_DOWN = "unknown", "ready", "down"
ACTIVE, PAUSE, DRAIN = "active", "pause", "drain"
WORKER, MANAGER = "worker", "manager"


@dataclass(frozen=True, slots=True)
class NodeObj:
    id: str
    role: str = WORKER
    availability: str = ACTIVE
    state: str = NODE_UNKNOWN
    labels: dict[str, str] = field(default_factory=dict)
    description: cpb.NodeDescription = field(default_factory=cpb.NodeDescription)
    message: str = ""
    raft_addr: str = ""  # managers only
    api_addr: str = ""  # managers only
    manager_metrics_addr: str = ""  # managers only: the manager's own /metrics
    cert_root: str = ""  # digest of the root CA that signed the node's certificate, as the node reports it
    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def hostname(self) -> str:
        return self.description.hostname or self.id[:12]


@dataclass(frozen=True, slots=True)
class UpdateStatusObj:
    """A rollout's progress (Swarm's UpdateStatus): the leader writes it, an update of the spec clears it."""

    state: str  # updating, paused, completed, rollback_started, rollback_paused, rollback_completed
    started_at: float = 0.0
    completed_at: float = 0.0
    message: str = ""


@dataclass(frozen=True, slots=True)
class ServiceObj:
    id: str
    spec: cpb.ServiceSpec
    previous_spec: cpb.ServiceSpec | None = None
    spec_version: int = 1  # bumps on every spec change; tasks record the one they were made from
    vips: tuple[tuple[str, str], ...] = ()  # (network id, address/prefix) per attached network, endpoint mode vip
    update_status: UpdateStatusObj | None = None  # the last rollout's progress; None since the last spec write
    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_global(self) -> bool:
        return self.spec.mode == "global"


@dataclass(frozen=True, slots=True)
class TaskStatusObj:
    state: str = NEW
    timestamp: float = 0.0
    message: str = ""
    err: str = ""
    exit_code: int = 0
    container_id: str = ""
    health: str = ""


@dataclass(frozen=True, slots=True)
class TaskObj:
    id: str
    service_id: str
    slot: int  # 1..N for replicated services, 0 for global ones
    spec: pb.ContainerSpec
    service_version: int
    desired_state: str = RUNNING
    node_id: str = ""  # set by the scheduler; global tasks are born with it
    status: TaskStatusObj = field(default_factory=TaskStatusObj)
    version: int = 0
    created_at: float = 0.0
    networks: tuple[tuple[str, str], ...] = ()  # (network id, address/prefix), allocated when it is made
    started_at: float = 0.0  # when it first ran, as its node reported it (0: never): a rollout's monitor window

    @property
    def state(self) -> str:
        return self.status.state


@dataclass(frozen=True, slots=True)
class NetworkObj:
    id: str
    spec: cpb.NetworkSpec  # subnet and gateway as allocated
    vni: int
    version: int = 0
    created_at: float = 0.0

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class ClusterObj:
    id: str
    name: str = "default"
    worker_secret: str = ""  # join token secrets
    manager_secret: str = ""
    raft_secret: str = ""  # the Raft transport key (never shown)
    heartbeat_period: float = 1.0  # cluster.init always sets it; a literal, so replay never follows defaults.py
    ca_cert_pem: bytes = b""
    ca_key_pem: bytes = b""  # shared by managers through the store; never leaves it in an API answer
    cert_lifetime: float = 0.0
    removed_nodes: frozenset[str] = frozenset()
    unlock_key: str = ""  # autolock's key (SWMKEY-1-...), "" when autolock is off; never in a list or inspect answer
    # A CA root rotation in progress (all empty when none): the next root, its key, and the next root
    # cross-signed by the current one. The leader moves them into ca_cert_pem/ca_key_pem when every node
    # holds a certificate of the next root (manager/carotation.py).
    ca_next_cert_pem: bytes = b""
    ca_next_key_pem: bytes = b""
    ca_cross_pem: bytes = b""
    ca_rotation_started: float = 0.0
    # The data key secrets' values are sealed with (manager/secretbox.py): set once, by cluster init or
    # the leader's first secret; in the store only (encrypted at rest, sealed by autolock), never in an answer.
    secrets_key: bytes = b""
    version: int = 0


@dataclass(frozen=True, slots=True)
class FileObj:
    """A secret (`data` sealed with the cluster's data key) or a config (`data` as given)."""

    id: str
    kind: str  # secret, config
    name: str
    data: bytes
    labels: dict[str, str] = field(default_factory=dict)
    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
