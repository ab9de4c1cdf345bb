from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class IssueCertificateRequest(_message.Message):
    __slots__ = ("token", "csr_pem", "hostname")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    token: str
    csr_pem: bytes
    hostname: str
    def __init__(self, token: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., hostname: _Optional[str] = ...) -> None: ...

class RenewCertificateRequest(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: bytes
    def __init__(self, csr_pem: _Optional[bytes] = ...) -> None: ...

class IssueCertificateResponse(_message.Message):
    __slots__ = ("node_id", "role", "cert_pem", "ca_pem", "managers", "expires_at")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: str
    cert_pem: bytes
    ca_pem: bytes
    managers: _containers.RepeatedScalarFieldContainer[str]
    expires_at: float
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[str] = ..., cert_pem: _Optional[bytes] = ..., ca_pem: _Optional[bytes] = ..., managers: _Optional[_Iterable[str]] = ..., expires_at: _Optional[float] = ...) -> None: ...

class JoinRaftRequest(_message.Message):
    __slots__ = ("raft_addr", "api_addr", "hostname")
    RAFT_ADDR_FIELD_NUMBER: _ClassVar[int]
    API_ADDR_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    raft_addr: str
    api_addr: str
    hostname: str
    def __init__(self, raft_addr: _Optional[str] = ..., api_addr: _Optional[str] = ..., hostname: _Optional[str] = ...) -> None: ...

class JoinRaftResponse(_message.Message):
    __slots__ = ("raft_secret", "raft_peers", "cluster_id")
    RAFT_SECRET_FIELD_NUMBER: _ClassVar[int]
    RAFT_PEERS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    raft_secret: str
    raft_peers: _containers.RepeatedScalarFieldContainer[str]
    cluster_id: str
    def __init__(self, raft_secret: _Optional[str] = ..., raft_peers: _Optional[_Iterable[str]] = ..., cluster_id: _Optional[str] = ...) -> None: ...

class RootInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateRootRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RootInfoResponse(_message.Message):
    __slots__ = ("fingerprint", "expires_at", "rotating", "old_fingerprint", "rotation_started", "nodes", "renewed", "pending", "down", "ca_pem")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ROTATING_FIELD_NUMBER: _ClassVar[int]
    OLD_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    ROTATION_STARTED_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    RENEWED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    DOWN_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    expires_at: float
    rotating: bool
    old_fingerprint: str
    rotation_started: float
    nodes: int
    renewed: int
    pending: _containers.RepeatedScalarFieldContainer[str]
    down: _containers.RepeatedScalarFieldContainer[str]
    ca_pem: bytes
    def __init__(self, fingerprint: _Optional[str] = ..., expires_at: _Optional[float] = ..., rotating: _Optional[bool] = ..., old_fingerprint: _Optional[str] = ..., rotation_started: _Optional[float] = ..., nodes: _Optional[int] = ..., renewed: _Optional[int] = ..., pending: _Optional[_Iterable[str]] = ..., down: _Optional[_Iterable[str]] = ..., ca_pem: _Optional[bytes] = ...) -> None: ...
