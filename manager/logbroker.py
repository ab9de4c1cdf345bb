"""`svc logs` across the cluster: the leader subscribes nodes and relays what they publish.

A subscription goes to every node holding tasks of the service, inside its assignment
stream; each node answers with one PublishLogs stream. Without --follow the subscription
ends when every node has closed its stream (or a deadline passes, for nodes that vanish);
with --follow it lasts until the caller goes away, then nodes are told to stop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from svc import defaults
from svc.v1 import control_pb2 as ctl
from svc.v1 import dispatcher_pb2 as dpb

from .core import Manager
from .dispatcher import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class Subscription:
    id: str
    nodes: set[str]
    queue: asyncio.Queue[ctl.ServiceLogMessage | None] = field(default_factory=asyncio.Queue)
    done_nodes: set[str] = field(default_factory=set)
    started_nodes: set[str] = field(default_factory=set)


class LogBroker:
    def __init__(self, manager: Manager, dispatcher: Dispatcher) -> None:
        self.m = manager
        self.dispatcher = dispatcher
        self.subs: dict[str, Subscription] = {}
        dispatcher.log_sink = self

    async def subscribe(self, service_id: str, follow: bool, tail: int) -> AsyncIterator[ctl.ServiceLogMessage]:
        snap = self.m.snapshot()
        by_node: dict[str, list[str]] = {}
        for t in snap.tasks.values():
            if t.service_id == service_id and t.node_id and t.status.container_id:
                by_node.setdefault(t.node_id, []).append(t.id)
        sub = Subscription(uuid.uuid4().hex, set())
        self.subs[sub.id] = sub
        for node_id, task_ids in by_node.items():
            if self.dispatcher.send_log_subscription(
                node_id, dpb.LogSubscription(id=sub.id, task_ids=task_ids, follow=follow, tail=tail)
            ):
                sub.nodes.add(node_id)
        try:
            if not sub.nodes:
                return
            loop = asyncio.get_running_loop()
            answer_by = loop.time() + defaults.LOG_NODE_ANSWER_SECONDS
            while True:
                if not follow and sub.done_nodes >= sub.nodes:
                    while not sub.queue.empty():
                        item = sub.queue.get_nowait()
                        if item is not None:
                            yield item
                    return
                timeout = None if follow else max(0.1, answer_by - loop.time())
                try:
                    item = await asyncio.wait_for(sub.queue.get(), timeout)
                except TimeoutError:
                    # Nodes that never opened a stream are gone or stuck: end without them.
                    sub.nodes = sub.started_nodes | sub.done_nodes
                    answer_by = loop.time() + defaults.LOG_NODE_ANSWER_SECONDS
                    continue
                if item is not None:
                    yield item
        finally:
            del self.subs[sub.id]
            for node_id in sub.nodes - sub.done_nodes:
                self.dispatcher.send_log_subscription(node_id, dpb.LogSubscription(id=sub.id, cancel=True))

    def node_started(self, sub_id: str, node_id: str) -> bool:
        sub = self.subs.get(sub_id)
        if sub is None:
            return False
        sub.started_nodes.add(node_id)
        return True

    def publish(self, sub_id: str, node_id: str, msg: dpb.PublishLogsMessage) -> bool:
        sub = self.subs.get(sub_id)
        if sub is None:
            return False
        snap_tasks = self.m.state.tasks
        task = snap_tasks.get(msg.task_id)
        node = self.m.state.nodes.get(node_id)
        svc = self.m.state.services.get(task.service_id) if task else None
        name = f"{svc.name if svc else '?'}.{task.slot if task and task.slot else node_id[:12]}"
        sub.queue.put_nowait(
            ctl.ServiceLogMessage(
                task_id=msg.task_id,
                task_name=name,
                node_id=node_id,
                node_hostname=node.hostname if node else "",
                time=msg.time,
                stream=msg.stream,
                data=msg.data,
            )
        )
        return True

    def node_done(self, sub_id: str, node_id: str) -> None:
        sub = self.subs.get(sub_id)
        if sub is not None:
            sub.done_nodes.add(node_id)
            sub.queue.put_nowait(None)
