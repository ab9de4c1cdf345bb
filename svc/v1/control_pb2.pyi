from svc.v1 import cluster_pb2 as _cluster_pb2
from svc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UpdateClusterRequest(_message.Message):
    __slots__ = ("autolock",)
    AUTOLOCK_FIELD_NUMBER: _ClassVar[int]
    autolock: bool
    def __init__(self, autolock: _Optional[bool] = ...) -> None: ...

class UpdateClusterResponse(_message.Message):
    __slots__ = ("autolock", "unlock_key")
    AUTOLOCK_FIELD_NUMBER: _ClassVar[int]
    UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    autolock: bool
    unlock_key: str
    def __init__(self, autolock: _Optional[bool] = ..., unlock_key: _Optional[str] = ...) -> None: ...

class UnlockKeyRequest(_message.Message):
    __slots__ = ("rotate",)
    ROTATE_FIELD_NUMBER: _ClassVar[int]
    rotate: bool
    def __init__(self, rotate: _Optional[bool] = ...) -> None: ...

class UnlockKeyResponse(_message.Message):
    __slots__ = ("unlock_key",)
    UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    unlock_key: str
    def __init__(self, unlock_key: _Optional[str] = ...) -> None: ...

class UnlockRequest(_message.Message):
    __slots__ = ("unlock_key",)
    UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    unlock_key: str
    def __init__(self, unlock_key: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateServiceRequest(_message.Message):
    __slots__ = ("spec", "no_resolve_image")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NO_RESOLVE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    spec: _cluster_pb2.ServiceSpec
    no_resolve_image: bool
    def __init__(self, spec: _Optional[_Union[_cluster_pb2.ServiceSpec, _Mapping]] = ..., no_resolve_image: _Optional[bool] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("service", "version", "spec", "no_resolve_image")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NO_RESOLVE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    service: str
    version: int
    spec: _cluster_pb2.ServiceSpec
    no_resolve_image: bool
    def __init__(self, service: _Optional[str] = ..., version: _Optional[int] = ..., spec: _Optional[_Union[_cluster_pb2.ServiceSpec, _Mapping]] = ..., no_resolve_image: _Optional[bool] = ...) -> None: ...

class ScaleServiceRequest(_message.Message):
    __slots__ = ("service", "replicas")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    service: str
    replicas: int
    def __init__(self, service: _Optional[str] = ..., replicas: _Optional[int] = ...) -> None: ...

class ServiceRef(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.Service]
    def __init__(self, services: _Optional[_Iterable[_Union[_cluster_pb2.Service, _Mapping]]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("service", "node", "filters")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    service: str
    node: str
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[str] = ..., node: _Optional[str] = ..., filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "node_names")
    class NodeNamesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NODE_NAMES_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.Task]
    node_names: _containers.ScalarMap[str, str]
    def __init__(self, tasks: _Optional[_Iterable[_Union[_cluster_pb2.Task, _Mapping]]] = ..., node_names: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PlanPlacementRequest(_message.Message):
    __slots__ = ("specs",)
    SPECS_FIELD_NUMBER: _ClassVar[int]
    specs: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.ServiceSpec]
    def __init__(self, specs: _Optional[_Iterable[_Union[_cluster_pb2.ServiceSpec, _Mapping]]] = ...) -> None: ...

class ServicePlacement(_message.Message):
    __slots__ = ("service", "nodes", "unplaced", "refused")
    class NodesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class UnplacedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    UNPLACED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    service: str
    nodes: _containers.ScalarMap[str, int]
    unplaced: _containers.ScalarMap[str, int]
    refused: str
    def __init__(self, service: _Optional[str] = ..., nodes: _Optional[_Mapping[str, int]] = ..., unplaced: _Optional[_Mapping[str, int]] = ..., refused: _Optional[str] = ...) -> None: ...

class PlanPlacementResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[ServicePlacement]
    def __init__(self, services: _Optional[_Iterable[_Union[ServicePlacement, _Mapping]]] = ...) -> None: ...

class NodeRef(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_cluster_pb2.Node, _Mapping]]] = ...) -> None: ...

class UpdateNodeRequest(_message.Message):
    __slots__ = ("node", "version", "availability", "label_add", "label_rm")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_ADD_FIELD_NUMBER: _ClassVar[int]
    LABEL_RM_FIELD_NUMBER: _ClassVar[int]
    node: str
    version: int
    availability: str
    label_add: _containers.RepeatedScalarFieldContainer[str]
    label_rm: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node: _Optional[str] = ..., version: _Optional[int] = ..., availability: _Optional[str] = ..., label_add: _Optional[_Iterable[str]] = ..., label_rm: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("node", "force")
    NODE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    node: str
    force: bool
    def __init__(self, node: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class ClusterInfoResponse(_message.Message):
    __slots__ = ("cluster_id", "leader_id", "leader_addr", "raft_term", "raft_commit_index", "managers", "nodes", "services", "tasks", "heartbeat_period_seconds", "this_manager", "version", "ca_expires_at", "autolock")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDR_FIELD_NUMBER: _ClassVar[int]
    RAFT_TERM_FIELD_NUMBER: _ClassVar[int]
    RAFT_COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    THIS_MANAGER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CA_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    AUTOLOCK_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    leader_id: str
    leader_addr: str
    raft_term: int
    raft_commit_index: int
    managers: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.ManagerStatus]
    nodes: int
    services: int
    tasks: int
    heartbeat_period_seconds: float
    this_manager: str
    version: str
    ca_expires_at: float
    autolock: bool
    def __init__(self, cluster_id: _Optional[str] = ..., leader_id: _Optional[str] = ..., leader_addr: _Optional[str] = ..., raft_term: _Optional[int] = ..., raft_commit_index: _Optional[int] = ..., managers: _Optional[_Iterable[_Union[_cluster_pb2.ManagerStatus, _Mapping]]] = ..., nodes: _Optional[int] = ..., services: _Optional[int] = ..., tasks: _Optional[int] = ..., heartbeat_period_seconds: _Optional[float] = ..., this_manager: _Optional[str] = ..., version: _Optional[str] = ..., ca_expires_at: _Optional[float] = ..., autolock: _Optional[bool] = ...) -> None: ...

class JoinTokenRequest(_message.Message):
    __slots__ = ("role", "rotate")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROTATE_FIELD_NUMBER: _ClassVar[int]
    role: str
    rotate: bool
    def __init__(self, role: _Optional[str] = ..., rotate: _Optional[bool] = ...) -> None: ...

class JoinTokenResponse(_message.Message):
    __slots__ = ("token", "managers")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    token: str
    managers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token: _Optional[str] = ..., managers: _Optional[_Iterable[str]] = ...) -> None: ...

class ClientBundleResponse(_message.Message):
    __slots__ = ("ca_pem", "cert_pem", "key_pem")
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    def __init__(self, ca_pem: _Optional[bytes] = ..., cert_pem: _Optional[bytes] = ..., key_pem: _Optional[bytes] = ...) -> None: ...

class BackupResponse(_message.Message):
    __slots__ = ("store", "cluster_id", "raft_commit_index", "nodes", "services", "tasks")
    STORE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    RAFT_COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    store: bytes
    cluster_id: str
    raft_commit_index: int
    nodes: int
    services: int
    tasks: int
    def __init__(self, store: _Optional[bytes] = ..., cluster_id: _Optional[str] = ..., raft_commit_index: _Optional[int] = ..., nodes: _Optional[int] = ..., services: _Optional[int] = ..., tasks: _Optional[int] = ...) -> None: ...

class ServiceLogsRequest(_message.Message):
    __slots__ = ("service", "follow", "tail")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    service: str
    follow: bool
    tail: int
    def __init__(self, service: _Optional[str] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ...) -> None: ...

class ServiceLogMessage(_message.Message):
    __slots__ = ("task_id", "task_name", "node_id", "node_hostname", "time", "stream", "data")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_name: str
    node_id: str
    node_hostname: str
    time: float
    stream: str
    data: bytes
    def __init__(self, task_id: _Optional[str] = ..., task_name: _Optional[str] = ..., node_id: _Optional[str] = ..., node_hostname: _Optional[str] = ..., time: _Optional[float] = ..., stream: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _cluster_pb2.NetworkSpec
    def __init__(self, spec: _Optional[_Union[_cluster_pb2.NetworkSpec, _Mapping]] = ...) -> None: ...

class NetworkRef(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: str
    def __init__(self, network: _Optional[str] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[_cluster_pb2.Network, _Mapping]]] = ...) -> None: ...

class CreateSecretRequest(_message.Message):
    __slots__ = ("kind", "spec")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    kind: str
    spec: _cluster_pb2.SecretSpec
    def __init__(self, kind: _Optional[str] = ..., spec: _Optional[_Union[_cluster_pb2.SecretSpec, _Mapping]] = ...) -> None: ...

class SecretRef(_message.Message):
    __slots__ = ("kind", "ref")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    kind: str
    ref: str
    def __init__(self, kind: _Optional[str] = ..., ref: _Optional[str] = ...) -> None: ...

class UpdateSecretRequest(_message.Message):
    __slots__ = ("kind", "ref", "version", "spec", "compare_data")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    COMPARE_DATA_FIELD_NUMBER: _ClassVar[int]
    kind: str
    ref: str
    version: int
    spec: _cluster_pb2.SecretSpec
    compare_data: bool
    def __init__(self, kind: _Optional[str] = ..., ref: _Optional[str] = ..., version: _Optional[int] = ..., spec: _Optional[_Union[_cluster_pb2.SecretSpec, _Mapping]] = ..., compare_data: _Optional[bool] = ...) -> None: ...

class ListSecretsRequest(_message.Message):
    __slots__ = ("kind", "filters")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[str] = ..., filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSecretsResponse(_message.Message):
    __slots__ = ("secrets",)
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.Secret]
    def __init__(self, secrets: _Optional[_Iterable[_Union[_cluster_pb2.Secret, _Mapping]]] = ...) -> None: ...
