"""The control API (svc.v1.Control): validate, write desired state, answer reads.

Every manager serves it; a follower forwards each call to the leader, so the CLI works
against any manager. Reads on the leader come after a committed barrier, so they include
every write acknowledged before them. Updates carry the version the caller read; a stale
one is refused with "out of date, retry" (ABORTED).

A forward that fails because the leader died is retried on the next leader, within the
caller's deadline: any call the leader never received, and reads and ScaleService (it sets an
absolute count) also when the connection broke during the call. Any other write that broke
during the call is answered Unavailable, naming the leader and saying the write may or may
not have been applied. Forwarding errors name the leader, in our words, never gRPC's.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from svc import defaults, kv
from svc.client import BROKEN, NOT_SENT, TIMED_OUT, failure_reason, transport_failure
from svc.errors import Conflict, DeadlineExceeded, InvalidArgument, NotFound, OutOfDate, SvcError, Unavailable
from svc.kv import parse_kv
from svc.rpc import error_from_rpc, handler
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import control_pb2 as ctl
from svc.v1 import control_pb2_grpc as ctl_grpc

from . import backup, networkspec, placementplan, portalloc, secretapi, servicespec, views
from .ca import new_secret
from .core import Manager
from .imagepin import Holding, ImagePinner
from .store import ops
from .store.objects import ACTIVE, DRAIN, MANAGER, NODE_DOWN, NODE_READY, PAUSE, TaskObj

log = logging.getLogger(__name__)

Method = Callable[[Any, Any, Any], Awaitable[Any]]


# Calls that may run twice with the effect of once: reads, and ScaleService, which sets an
# absolute count. ClientBundle stores nothing (a second call issues a second credential); Backup reads.
_RETRY_SAFE_CALLS = frozenset({"Backup", "ClusterInfo", "ClientBundle", "PlanPlacement", "ScaleService", "ServiceLogs"})


def retry_safe(method: str, request: Any) -> bool:
    """Whether a forwarded call whose connection broke mid-call may be sent again to the next leader."""
    if method.startswith(("Get", "List", "Inspect")) or method in _RETRY_SAFE_CALLS:
        return True
    return method == "JoinToken" and not getattr(request, "rotate", False)


def forward_error(method: str, leader: str, kind: str | None, details: str | None, safe: bool) -> SvcError:
    """What a follower answers for a forward to `leader` that failed in transport, naming the leader.

    Never gRPC's own text: the caller's client would take that for a failure of its own connection.
    """
    reason = failure_reason(details)
    if kind == TIMED_OUT:
        err: SvcError = DeadlineExceeded(f"leader {leader} did not answer {method} in time")
    elif kind == NOT_SENT:
        return Unavailable(f"leader {leader} is unreachable: {reason}")
    else:
        err = Unavailable(f"leader {leader} failed during {method}: {reason}")
    if safe:
        return err
    return type(err)(f"{err.message}; the change may or may not have been applied: look before retrying")


class _Forward:
    """One forwarded call's retry state: its deadline, and the leader it last failed on."""

    def __init__(self, m: Manager, method: str, request: Any, context: Any) -> None:
        self.m = m
        self.method = method
        self.safe = retry_safe(method, request)
        loop = asyncio.get_running_loop()
        remaining = context.time_remaining() if hasattr(context, "time_remaining") else None
        budget = defaults.FORWARD_TIMEOUT_SECONDS
        if remaining is not None:  # answer before the caller's deadline, with our reason rather than its timeout
            budget = min(budget, max(remaining - defaults.FORWARD_ANSWER_MARGIN_SECONDS, remaining / 2))
        self.deadline = loop.time() + budget
        self.retry_until = self.deadline
        self.failed: str | None = None
        self.error: SvcError | None = None

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    async def leader(self) -> str | None:
        """The leader to send to next; None: run here (this manager leads). Raises when out of time."""
        while True:
            if self.m.is_leader:
                return None
            now = asyncio.get_running_loop().time()
            if self.failed is None:
                wait = min(defaults.LEADER_WAIT_SECONDS, self.remaining())
            else:
                if now >= self.retry_until:
                    assert self.error is not None
                    if self.m.leader_api_addr() in (None, self.failed):
                        raise type(self.error)(f"{self.error.message}; no other manager has taken over")
                    raise self.error
                wait = min(defaults.FORWARD_RETRY_PAUSE_SECONDS, self.retry_until - now)
            try:
                return await self.m.leader_address(failed=self.failed, timeout=wait)
            except Unavailable:
                if self.m.is_leader:
                    return None
                if self.failed is None:
                    raise
                addr = self.m.leader_api_addr()
                if addr == self.failed and addr != self.m.api_addr:
                    return addr  # Raft still names it after a pause: the failure may have been passing
                # an election is under way: keep waiting until retry_until

    def failure(self, leader: str, exc: grpc.aio.AioRpcError) -> SvcError | None:
        """Note a failed forward; the error to answer at once, or None to retry on the next leader."""
        kind = transport_failure(exc.code(), exc.details())
        if kind is None:
            return error_from_rpc(exc)  # the leader answered: its error, in its words
        error = forward_error(self.method, leader, kind, exc.details(), self.safe)
        if kind == TIMED_OUT or (kind == BROKEN and not self.safe):
            return error
        log.info("forwarding %s: %s; retrying on the next leader", self.method, error)
        if self.failed is None:
            now = asyncio.get_running_loop().time()
            self.retry_until = min(self.deadline, now + defaults.FORWARD_RETRY_SECONDS)
        self.failed, self.error = leader, error
        return None


def on_leader(fn: Method) -> Method:
    """Run on the leader: here if this manager leads, else forwarded with this manager's identity
    (retried on the next leader as the module says)."""

    @functools.wraps(fn)
    async def call(self: ControlService, request: Any, context: Any) -> Any:
        if self.m.is_leader:
            return await fn(self, request, context)
        fwd = _Forward(self.m, fn.__name__, request, context)
        while True:
            leader = await fwd.leader()
            if leader is None:
                return await fn(self, request, context)
            stub = ctl_grpc.ControlStub(self.m.channel(leader))
            try:
                return await getattr(stub, fn.__name__)(request, timeout=max(fwd.remaining(), 0.1))
            except grpc.aio.AioRpcError as exc:
                error = fwd.failure(leader, exc)
                if error is not None:
                    raise error from None

    return call


def on_leader_stream(fn: Any) -> Any:
    """`on_leader` for server-streaming methods: retried only until the first message, and with no
    deadline once it flows (`svc logs -f` runs until stopped)."""

    @functools.wraps(fn)
    async def call(self: ControlService, request: Any, context: Any) -> Any:
        if self.m.is_leader:
            async for item in fn(self, request, context):
                yield item
            return
        fwd = _Forward(self.m, fn.__name__, request, context)
        while True:
            leader = await fwd.leader()
            if leader is None:
                async for item in fn(self, request, context):
                    yield item
                return
            started = False
            try:
                async for item in getattr(ctl_grpc.ControlStub(self.m.channel(leader)), fn.__name__)(request):
                    started = True
                    yield item
                return
            except grpc.aio.AioRpcError as exc:
                error: SvcError | None
                if started:  # the caller has part of the stream already: a retry would repeat it
                    kind = transport_failure(exc.code(), exc.details())
                    error = (
                        error_from_rpc(exc)
                        if kind is None
                        else forward_error(fn.__name__, leader, BROKEN, exc.details(), True)
                    )
                else:
                    error = fwd.failure(leader, exc)
                if error is not None:
                    raise error from None

    return call


def _up_to_date(t: TaskObj, snap: Any) -> bool:
    """A task made from its service's current template (docker's `_up-to-date` task filter)."""
    svc = snap.services.get(t.service_id)
    return svc is not None and t.service_version == svc.spec_version


def _filters(items: list[str], valid: tuple[str, ...]) -> dict[str, str]:
    return kv.parse_filters(items, valid)


class ControlService(ctl_grpc.ControlServicer):
    def __init__(self, manager: Manager, logs: Any, pinner: ImagePinner | None = None) -> None:
        self.m = manager
        self.logs = logs
        self.pinner = pinner

    async def _pin_image(self, spec: cpb.ServiceSpec, no_resolve: bool) -> list[str]:
        """Pin the spec's image to its digest (imagepin's rule); the warnings to hand back."""
        if self.pinner is None:
            return []
        held = [
            Holding(frozenset(n.description.images), n.state == NODE_READY and n.availability == ACTIVE)
            for n in self.m.snapshot().nodes.values()
            if n.description.runtime
        ]
        auth = spec.registry_auth
        creds = (auth.username, auth.password) if spec.HasField("registry_auth") and auth.username else None
        pinned = await self.pinner.pin(spec.task.image, held, creds, lookup=not no_resolve)
        spec.task.image = pinned.image
        return [pinned.warning] if pinned.warning else []

    # ----- services -----

    def _service_id(self, ref: str) -> str:
        snap = self.m.snapshot()
        return views.find_one(((s.id, s.name) for s in snap.services.values()), ref, "service")

    def _service(self, service_id: str) -> cpb.Service:
        snap = self.m.snapshot()
        svc = snap.services.get(service_id)
        if svc is None:
            raise NotFound(f"no such service: {service_id}")
        return views.service_view(svc, views.service_counts(snap)[svc.id])

    @handler
    @on_leader
    async def CreateService(self, request: ctl.CreateServiceRequest, context: Any) -> cpb.Service:
        spec = servicespec.validate(request.spec)
        secretapi.resolve(self.m.snapshot(), spec)
        portalloc.assign(spec, (s.spec for s in self.m.snapshot().services.values()))
        warnings = await self._pin_image(spec, request.no_resolve_image)
        service_id = ops.new_id()
        await self.m.write(ops.service_create(service_id, spec))
        log.info("service %s created (%s)", spec.name, service_id)
        out = self._service(service_id)
        out.warnings.extend(warnings)
        return out

    @handler
    @on_leader
    async def UpdateService(self, request: ctl.UpdateServiceRequest, context: Any) -> cpb.Service:
        await self.m.barrier()
        service_id = self._service_id(request.service)
        spec = servicespec.validate(request.spec)
        secretapi.resolve(self.m.snapshot(), spec)
        current = self.m.snapshot().services[service_id]
        others = (s.spec for sid, s in self.m.snapshot().services.items() if sid != service_id)
        portalloc.assign(spec, others, current.spec)
        if current.is_global != (spec.mode == "global"):
            raise InvalidArgument("a service's mode (replicated or global) cannot change")
        if not spec.HasField("registry_auth") and current.spec.HasField("registry_auth"):
            # the caller read the spec without them (no view shows them): an update keeps them
            spec.registry_auth.CopyFrom(current.spec.registry_auth)
        warnings = []
        if spec.task.image != current.spec.task.image:
            warnings = await self._pin_image(spec, request.no_resolve_image)
        await self.m.write(ops.service_update(service_id, request.version, spec))
        out = self._service(service_id)
        out.warnings.extend(warnings)
        return out

    @handler
    @on_leader
    async def ScaleService(self, request: ctl.ScaleServiceRequest, context: Any) -> cpb.Service:
        if request.replicas > defaults.MAX_REPLICAS:
            raise InvalidArgument(f"replicas must be at most {defaults.MAX_REPLICAS}")
        for _ in range(5):  # the caller asked for a count, not a version: retry our own read-modify-write
            await self.m.barrier()
            service_id = self._service_id(request.service)
            svc = self.m.snapshot().services[service_id]
            if svc.is_global:
                raise InvalidArgument(f"{svc.name} is a global service: it runs one task per node and cannot be scaled")
            spec = cpb.ServiceSpec()
            spec.CopyFrom(svc.spec)
            spec.replicas = request.replicas
            try:
                await self.m.write(ops.service_update(service_id, svc.version, spec))
            except OutOfDate:
                continue
            log.info("service %s scaled to %d", svc.name, request.replicas)
            return self._service(service_id)
        raise OutOfDate(f"service {request.service} keeps changing; retry")

    @handler
    @on_leader
    async def RollbackService(self, request: ctl.ServiceRef, context: Any) -> cpb.Service:
        await self.m.barrier()
        service_id = self._service_id(request.service)
        svc = self.m.snapshot().services[service_id]
        if svc.previous_spec is None:
            raise Conflict(f"service {svc.name} has no previous spec to roll back to")
        await self.m.write(ops.service_update(service_id, svc.version, svc.previous_spec, rollback=True))
        return self._service(service_id)

    @handler
    @on_leader
    async def RemoveService(self, request: ctl.ServiceRef, context: Any) -> ctl.Ack:
        await self.m.barrier()
        service_id = self._service_id(request.service)
        await self.m.write(ops.service_remove(service_id))
        return ctl.Ack()

    @handler
    @on_leader
    async def GetService(self, request: ctl.ServiceRef, context: Any) -> cpb.Service:
        await self.m.barrier()
        return self._service(self._service_id(request.service))

    @handler
    @on_leader
    async def ListServices(self, request: ctl.ListServicesRequest, context: Any) -> ctl.ListServicesResponse:
        f = _filters(list(request.filters), kv.SERVICE_FILTERS)
        await self.m.barrier()
        snap = self.m.snapshot()
        counts = views.service_counts(snap)
        out = []
        for svc in sorted(snap.services.values(), key=lambda s: s.name):
            if "name" in f and not svc.name.startswith(f["name"]):
                continue
            if "id" in f and not svc.id.startswith(f["id"]):
                continue
            if "mode" in f and (svc.spec.mode or "replicated") != f["mode"]:
                continue
            if "label" in f:
                k, _, v = f["label"].partition("=")
                if k not in svc.spec.labels or (v and svc.spec.labels[k] != v):
                    continue
            out.append(views.service_view(svc, counts[svc.id]))
        return ctl.ListServicesResponse(services=out)

    @handler
    @on_leader
    async def ListTasks(self, request: ctl.ListTasksRequest, context: Any) -> ctl.ListTasksResponse:
        f = _filters(list(request.filters), kv.TASK_FILTERS)
        await self.m.barrier()
        snap = self.m.snapshot()
        service_id = self._service_id(request.service) if request.service else ""
        node_ref = request.node or f.get("node", "")
        node_id = (
            views.find_one(((n.id, n.hostname) for n in snap.nodes.values()), node_ref, "node") if node_ref else ""
        )
        names = {s.id: s.name for s in snap.services.values()}
        tasks: list[TaskObj] = []
        for t in snap.tasks.values():
            if service_id and t.service_id != service_id:
                continue
            if node_id and t.node_id != node_id:
                continue
            if "desired-state" in f and t.desired_state != f["desired-state"]:
                continue
            if "id" in f and not t.id.startswith(f["id"]):
                continue
            if f.get("_up-to-date") == "true" and not _up_to_date(t, snap):
                continue
            tasks.append(t)
        tasks.sort(key=lambda t: (names.get(t.service_id, ""), t.slot, t.node_id, -t.created_at))
        return ctl.ListTasksResponse(
            tasks=[views.task_view(t, names.get(t.service_id, ""), snap.networks) for t in tasks],
            node_names={n.id: n.hostname for n in snap.nodes.values()},
        )

    @handler
    @on_leader
    async def PlanPlacement(self, request: ctl.PlanPlacementRequest, context: Any) -> ctl.PlanPlacementResponse:
        """Where these specs' tasks would be placed (manager/placementplan.py); writes nothing."""
        await self.m.barrier()
        return await asyncio.to_thread(placementplan.answer, self.m.snapshot(), list(request.specs), time.time())

    @handler
    @on_leader_stream
    async def ServiceLogs(self, request: ctl.ServiceLogsRequest, context: Any) -> Any:
        await self.m.barrier()
        service_id = self._service_id(request.service)
        async for msg in self.logs.subscribe(service_id, request.follow, request.tail):
            yield msg

    # ----- networks -----

    def _network_id(self, ref: str) -> str:
        snap = self.m.snapshot()
        return views.find_one(((n.id, n.name) for n in snap.networks.values()), ref, "network")

    @handler
    @on_leader
    async def CreateNetwork(self, request: ctl.CreateNetworkRequest, context: Any) -> cpb.Network:
        spec = networkspec.validate(request.spec)
        network_id = ops.new_id()
        await self.m.write(ops.network_create(network_id, spec))
        snap = self.m.snapshot()
        log.info("network %s created (%s, %s)", spec.name, network_id, snap.networks[network_id].spec.subnet)
        return views.network_view(snap.networks[network_id], snap.services)

    @handler
    @on_leader
    async def GetNetwork(self, request: ctl.NetworkRef, context: Any) -> cpb.Network:
        await self.m.barrier()
        network_id = self._network_id(request.network)
        snap = self.m.snapshot()
        return views.network_view(snap.networks[network_id], snap.services)

    @handler
    @on_leader
    async def ListNetworks(self, request: ctl.ListNetworksRequest, context: Any) -> ctl.ListNetworksResponse:
        f = _filters(list(request.filters), kv.NETWORK_FILTERS)
        await self.m.barrier()
        snap = self.m.snapshot()
        out = []
        for n in sorted(snap.networks.values(), key=lambda n: n.name):
            if "name" in f and not n.name.startswith(f["name"]):
                continue
            if "id" in f and not n.id.startswith(f["id"]):
                continue
            if "driver" in f and n.spec.driver != f["driver"]:
                continue
            if "label" in f:
                k, _, v = f["label"].partition("=")
                if k not in n.spec.labels or (v and n.spec.labels[k] != v):
                    continue
            out.append(views.network_view(n, snap.services))
        return ctl.ListNetworksResponse(networks=out)

    @handler
    @on_leader
    async def RemoveNetwork(self, request: ctl.NetworkRef, context: Any) -> ctl.Ack:
        await self.m.barrier()
        network_id = self._network_id(request.network)
        await self.m.write(ops.network_remove(network_id))
        return ctl.Ack()

    # ----- secrets and configs (manager/secretapi.py) -----

    @handler
    @on_leader
    async def CreateSecret(self, request: ctl.CreateSecretRequest, context: Any) -> cpb.Secret:
        out = await secretapi.create(self.m, request)
        log.info("%s %s created (%s)", request.kind, out.spec.name, out.id)
        return out

    @handler
    @on_leader
    async def GetSecret(self, request: ctl.SecretRef, context: Any) -> cpb.Secret:
        await self.m.barrier()
        snap = self.m.snapshot()
        return secretapi.view(secretapi.find(snap, request.kind, request.ref), snap)

    @handler
    @on_leader
    async def ListSecrets(self, request: ctl.ListSecretsRequest, context: Any) -> ctl.ListSecretsResponse:
        await self.m.barrier()
        return secretapi.listing(self.m.snapshot(), request)

    @handler
    @on_leader
    async def UpdateSecret(self, request: ctl.UpdateSecretRequest, context: Any) -> cpb.Secret:
        await self.m.barrier()
        out = await secretapi.update(self.m, request)
        log.info("%s %s updated (%s)", request.kind, out.spec.name, out.id)
        return out

    @handler
    @on_leader
    async def RemoveSecret(self, request: ctl.SecretRef, context: Any) -> ctl.Ack:
        await self.m.barrier()
        await secretapi.remove(self.m, request)
        return ctl.Ack()

    # ----- nodes -----

    def _node_id(self, ref: str) -> str:
        snap = self.m.snapshot()
        return views.find_one(((n.id, n.hostname) for n in snap.nodes.values()), ref, "node")

    def _node(self, node_id: str) -> cpb.Node:
        node = self.m.snapshot().nodes.get(node_id)
        if node is None:
            raise NotFound(f"no such node: {node_id}")
        return views.node_view(node, self.m.raft.leader, self.m.raft.members())

    @handler
    @on_leader
    async def GetNode(self, request: ctl.NodeRef, context: Any) -> cpb.Node:
        await self.m.barrier()
        return self._node(self._node_id(request.node))

    @handler
    @on_leader
    async def ListNodes(self, request: ctl.ListNodesRequest, context: Any) -> ctl.ListNodesResponse:
        f = _filters(list(request.filters), kv.NODE_FILTERS)
        await self.m.barrier()
        leader, members = self.m.raft.leader, self.m.raft.members()
        out = []
        for n in self.m.snapshot().nodes.values():
            if "role" in f and n.role != f["role"]:
                continue
            if "availability" in f and n.availability != f["availability"]:
                continue
            if "hostname" in f and not n.hostname.startswith(f["hostname"]):
                continue
            if "id" in f and not n.id.startswith(f["id"]):
                continue
            out.append(views.node_view(n, leader, members))
        return ctl.ListNodesResponse(nodes=out)

    @handler
    @on_leader
    async def UpdateNode(self, request: ctl.UpdateNodeRequest, context: Any) -> cpb.Node:
        if request.availability and request.availability not in (ACTIVE, PAUSE, DRAIN):
            raise InvalidArgument(f"invalid availability {request.availability!r}: use active, pause or drain")
        adds = parse_kv(list(request.label_add), "label", require_equals=False)
        await self.m.barrier()
        node_id = self._node_id(request.node)
        for _ in range(5):
            node = self.m.snapshot().nodes[node_id]
            labels = {**node.labels, **adds}
            for key in request.label_rm:
                if key not in labels:
                    raise NotFound(f"node {node.hostname} has no label {key!r}")
                labels.pop(key)
            changes: dict[str, Any] = {"labels": labels}
            if request.availability:
                changes["availability"] = request.availability
            try:
                await self.m.write(ops.node_update(node_id, request.version or node.version, **changes))
                return self._node(node_id)
            except OutOfDate:
                if request.version:
                    raise
        # Five lost compare-and-sets in a row: nothing was written, and the caller must hear so.
        raise OutOfDate(f"node {request.node} keeps changing; retry")

    @handler
    @on_leader
    async def RemoveNode(self, request: ctl.RemoveNodeRequest, context: Any) -> ctl.Ack:
        await self.m.barrier()
        node_id = self._node_id(request.node)
        node = self.m.snapshot().nodes[node_id]
        if node.role == MANAGER:
            raise Conflict(f"node {node.hostname} is a manager: demote it first (svc node demote {node.hostname})")
        if node.state != NODE_DOWN and not request.force:
            raise Conflict(f"node {node.hostname} is not down: stop it first, or remove it with --force")
        await self.m.write(ops.node_remove(node_id))
        return ctl.Ack()

    @handler
    @on_leader
    async def PromoteNode(self, request: ctl.NodeRef, context: Any) -> cpb.Node:
        """Mark a worker a manager. Its node daemon learns it from its next heartbeat answer, renews its
        certificate into a manager's, joins Raft and starts a manager in its own process."""
        await self.m.barrier()
        node_id = self._node_id(request.node)
        node = self.m.snapshot().nodes[node_id]
        if node.role == MANAGER:
            raise Conflict(f"node {node.hostname} is a manager already")
        if node.state != NODE_READY or not node.description.runtime:
            raise Conflict(
                f"node {node.hostname} is not a ready node daemon: only a running `svcd node` can be promoted"
            )
        if len(self.m.managers()) >= defaults.MAX_MANAGERS:
            raise Conflict(f"a cluster has at most {defaults.MAX_MANAGERS} managers")
        await self.m.write(ops.node_update(node_id, node.version, role=MANAGER))
        log.info("node %s promoted; it joins Raft at its next heartbeat", node.hostname)
        return self._node(node_id)

    @handler
    @on_leader
    async def DemoteNode(self, request: ctl.NodeRef, context: Any) -> cpb.Node:
        await self.m.barrier()
        node_id = self._node_id(request.node)
        node = self.m.snapshot().nodes[node_id]
        if node.role != MANAGER:
            raise Conflict(f"node {node.hostname} is not a manager")
        managers = self.m.managers()
        if len(managers) <= 1:
            raise Conflict("cannot demote the last manager")
        if node.raft_addr == self.m.raft_addr:
            self.m.raft.transfer_leadership()
            raise Unavailable("this manager is handing over leadership; run the command again")
        # Role first, while the demoted manager still replicates: it sees the change and stops itself.
        await self.m.write(ops.node_update(node_id, 0, role="worker", raft_addr="", api_addr=""))
        await asyncio.sleep(defaults.DEMOTE_SETTLE_SECONDS)
        await asyncio.to_thread(self.m.raft.remove_member, node.raft_addr)
        log.info("manager %s demoted", node.hostname)
        return self._node(node_id)

    # ----- cluster -----

    @handler
    @on_leader
    async def ClusterInfo(self, request: Any, context: Any) -> ctl.ClusterInfoResponse:
        await self.m.barrier()
        snap = self.m.snapshot()
        cluster = snap.cluster
        members = self.m.raft.members()
        managers = [
            cpb.ManagerStatus(
                raft_addr=r,
                api_addr=a,
                leader=r == self.m.raft.leader,
                reachability="reachable" if members.get(r) else "unreachable",
            )
            for _, r, a in self.m.managers(snap)
        ]
        return ctl.ClusterInfoResponse(
            cluster_id=self.m.cluster_id,
            leader_id=self.m.leader_node_id(),
            leader_addr=self.m.leader_api_addr() or "",
            raft_term=self.m.raft.term,
            raft_commit_index=self.m.raft.commit_index,
            managers=managers,
            nodes=len(snap.nodes),
            services=len(snap.services),
            tasks=len(snap.tasks),
            heartbeat_period_seconds=cluster.heartbeat_period if cluster else defaults.HEARTBEAT_PERIOD_SECONDS,
            this_manager=self.m.api_addr,
            version=defaults.VERSION,
            ca_expires_at=self.m.ca().cert.not_valid_after_utc.timestamp(),
            autolock=bool(cluster and cluster.unlock_key),
        )

    @handler
    @on_leader
    async def JoinToken(self, request: ctl.JoinTokenRequest, context: Any) -> ctl.JoinTokenResponse:
        if request.role not in ("worker", "manager"):
            raise InvalidArgument(f"invalid role {request.role!r}: use worker or manager")
        field = f"{request.role}_secret"
        if request.rotate:
            await self.m.barrier()
            cluster = self.m.cluster
            assert cluster is not None
            await self.m.write(ops.cluster_update(cluster.version, **{field: new_secret()}))
            log.info("%s join token rotated", request.role)
        await self.m.barrier()
        cluster = self.m.cluster
        assert cluster is not None
        return ctl.JoinTokenResponse(
            token=self.m.ca().token(getattr(cluster, field)), managers=self.m.manager_api_addrs()
        )

    @handler
    @on_leader
    async def UpdateCluster(self, request: ctl.UpdateClusterRequest, context: Any) -> ctl.UpdateClusterResponse:
        """Autolock on (a new unlock key, answered once) or off; every manager then re-seals its own
        files (manager/autolock.py keep_sealed)."""
        from svc.keywrap import new_unlock_key

        await self.m.barrier()
        cluster = self.m.cluster
        assert cluster is not None
        if not request.HasField("autolock"):
            return ctl.UpdateClusterResponse(autolock=bool(cluster.unlock_key))
        if request.autolock == bool(cluster.unlock_key):
            return ctl.UpdateClusterResponse(autolock=request.autolock)  # no new key: the old one stays
        key = new_unlock_key() if request.autolock else ""
        await self.m.write(ops.cluster_update(cluster.version, unlock_key=key))
        log.info("autolock turned %s", "on" if key else "off")
        return ctl.UpdateClusterResponse(autolock=bool(key), unlock_key=key)

    @handler
    @on_leader
    async def UnlockKey(self, request: ctl.UnlockKeyRequest, context: Any) -> ctl.UnlockKeyResponse:
        from svc.keywrap import new_unlock_key

        await self.m.barrier()
        cluster = self.m.cluster
        assert cluster is not None
        if not cluster.unlock_key:
            raise Conflict("autolock is off: there is no unlock key (svc cluster update --autolock=true)")
        if request.rotate:
            key = new_unlock_key()
            await self.m.write(ops.cluster_update(cluster.version, unlock_key=key))
            log.info("unlock key rotated")
            return ctl.UnlockKeyResponse(unlock_key=key)
        return ctl.UnlockKeyResponse(unlock_key=cluster.unlock_key)

    @handler
    @on_leader
    async def ClientBundle(self, request: Any, context: Any) -> ctl.ClientBundleResponse:
        ident = self.m.ca().identity("admin-" + ops.new_id()[:12], "admin", defaults.ADMIN_CERT_LIFETIME_SECONDS)
        log.info("issued an admin client bundle")
        return ctl.ClientBundleResponse(ca_pem=ident.ca_pem, cert_pem=ident.cert_pem, key_pem=ident.key_pem)

    @handler
    @on_leader
    async def Backup(self, request: Any, context: Any) -> ctl.BackupResponse:
        """The whole store, secrets and CA key included, after a barrier: every write acknowledged
        before this call is in it. The caller encrypts it (svc cluster backup); the policy lets
        only admins (and managers, which forward) call it, as every control method."""
        await self.m.barrier()
        commit_index = self.m.raft.commit_index
        doc = await asyncio.to_thread(self.m.state.to_plain)  # one consistent moment, under the store's lock
        raw = await asyncio.to_thread(backup.encode, doc)
        counts = {k: len(doc[k]) for k in ("nodes", "services", "tasks")}
        log.info("backup taken: %(services)d services, %(nodes)d nodes, %(tasks)d tasks", counts)
        return ctl.BackupResponse(store=raw, cluster_id=self.m.cluster_id, raft_commit_index=commit_index, **counts)
