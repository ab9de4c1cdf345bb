from svc.v1 import cluster_pb2 as _cluster_pb2
from svc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterRequest(_message.Message):
    __slots__ = ("node_id", "description", "cert_root")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CERT_ROOT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    description: _cluster_pb2.NodeDescription
    cert_root: str
    def __init__(self, node_id: _Optional[str] = ..., description: _Optional[_Union[_cluster_pb2.NodeDescription, _Mapping]] = ..., cert_root: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("node_id", "session_id", "heartbeat_period_seconds", "managers", "leader_addr", "heartbeat_key", "heartbeat_udp_port")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDR_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_KEY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_UDP_PORT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    session_id: str
    heartbeat_period_seconds: float
    managers: _containers.RepeatedScalarFieldContainer[str]
    leader_addr: str
    heartbeat_key: bytes
    heartbeat_udp_port: int
    def __init__(self, node_id: _Optional[str] = ..., session_id: _Optional[str] = ..., heartbeat_period_seconds: _Optional[float] = ..., managers: _Optional[_Iterable[str]] = ..., leader_addr: _Optional[str] = ..., heartbeat_key: _Optional[bytes] = ..., heartbeat_udp_port: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("session_id", "description", "cert_root")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CERT_ROOT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    description: _cluster_pb2.NodeDescription
    cert_root: str
    def __init__(self, session_id: _Optional[str] = ..., description: _Optional[_Union[_cluster_pb2.NodeDescription, _Mapping]] = ..., cert_root: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("period_seconds", "managers", "role", "cert_root", "trust")
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CERT_ROOT_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    period_seconds: float
    managers: _containers.RepeatedScalarFieldContainer[str]
    role: str
    cert_root: str
    trust: str
    def __init__(self, period_seconds: _Optional[float] = ..., managers: _Optional[_Iterable[str]] = ..., role: _Optional[str] = ..., cert_root: _Optional[str] = ..., trust: _Optional[str] = ...) -> None: ...

class AssignmentsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class AssignmentsMessage(_message.Message):
    __slots__ = ("full", "update", "remove", "log_subscriptions", "networks", "networks_set")
    FULL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    LOG_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_SET_FIELD_NUMBER: _ClassVar[int]
    full: bool
    update: _containers.RepeatedCompositeFieldContainer[_cluster_pb2.Task]
    remove: _containers.RepeatedScalarFieldContainer[str]
    log_subscriptions: _containers.RepeatedCompositeFieldContainer[LogSubscription]
    networks: _containers.RepeatedCompositeFieldContainer[NetworkPeers]
    networks_set: bool
    def __init__(self, full: _Optional[bool] = ..., update: _Optional[_Iterable[_Union[_cluster_pb2.Task, _Mapping]]] = ..., remove: _Optional[_Iterable[str]] = ..., log_subscriptions: _Optional[_Iterable[_Union[LogSubscription, _Mapping]]] = ..., networks: _Optional[_Iterable[_Union[NetworkPeers, _Mapping]]] = ..., networks_set: _Optional[bool] = ...) -> None: ...

class NetworkPeers(_message.Message):
    __slots__ = ("network_id", "name", "vni", "subnet", "gateway", "internal", "endpoints", "services", "ingress", "sandbox")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    name: str
    vni: int
    subnet: str
    gateway: str
    internal: bool
    endpoints: _containers.RepeatedCompositeFieldContainer[NetworkEndpoint]
    services: _containers.RepeatedCompositeFieldContainer[ServiceEndpoint]
    ingress: bool
    sandbox: str
    def __init__(self, network_id: _Optional[str] = ..., name: _Optional[str] = ..., vni: _Optional[int] = ..., subnet: _Optional[str] = ..., gateway: _Optional[str] = ..., internal: _Optional[bool] = ..., endpoints: _Optional[_Iterable[_Union[NetworkEndpoint, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[ServiceEndpoint, _Mapping]]] = ..., ingress: _Optional[bool] = ..., sandbox: _Optional[str] = ...) -> None: ...

class NetworkEndpoint(_message.Message):
    __slots__ = ("task_id", "addr", "mac", "node_addr", "node_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    addr: str
    mac: str
    node_addr: str
    node_id: str
    def __init__(self, task_id: _Optional[str] = ..., addr: _Optional[str] = ..., mac: _Optional[str] = ..., node_addr: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class ServiceEndpoint(_message.Message):
    __slots__ = ("name", "aliases", "vip", "task_addrs", "endpoint_mode", "ports")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    TASK_ADDRS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_MODE_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    vip: str
    task_addrs: _containers.RepeatedScalarFieldContainer[str]
    endpoint_mode: str
    ports: _containers.RepeatedCompositeFieldContainer[PublishedPort]
    def __init__(self, name: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., vip: _Optional[str] = ..., task_addrs: _Optional[_Iterable[str]] = ..., endpoint_mode: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[PublishedPort, _Mapping]]] = ...) -> None: ...

class PublishedPort(_message.Message):
    __slots__ = ("published", "target", "protocol")
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    published: int
    target: int
    protocol: str
    def __init__(self, published: _Optional[int] = ..., target: _Optional[int] = ..., protocol: _Optional[str] = ...) -> None: ...

class LogSubscription(_message.Message):
    __slots__ = ("id", "task_ids", "follow", "tail", "cancel")
    ID_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    follow: bool
    tail: int
    cancel: bool
    def __init__(self, id: _Optional[str] = ..., task_ids: _Optional[_Iterable[str]] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ..., cancel: _Optional[bool] = ...) -> None: ...

class PublishLogsMessage(_message.Message):
    __slots__ = ("session_id", "subscription_id", "task_id", "time", "stream", "data")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    subscription_id: str
    task_id: str
    time: float
    stream: str
    data: bytes
    def __init__(self, session_id: _Optional[str] = ..., subscription_id: _Optional[str] = ..., task_id: _Optional[str] = ..., time: _Optional[float] = ..., stream: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class TaskStatusUpdate(_message.Message):
    __slots__ = ("task_id", "status")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    status: _cluster_pb2.TaskStatus
    def __init__(self, task_id: _Optional[str] = ..., status: _Optional[_Union[_cluster_pb2.TaskStatus, _Mapping]] = ...) -> None: ...

class UpdateTaskStatusRequest(_message.Message):
    __slots__ = ("session_id", "updates")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    updates: _containers.RepeatedCompositeFieldContainer[TaskStatusUpdate]
    def __init__(self, session_id: _Optional[str] = ..., updates: _Optional[_Iterable[_Union[TaskStatusUpdate, _Mapping]]] = ...) -> None: ...
