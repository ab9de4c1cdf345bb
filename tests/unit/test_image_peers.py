"""Which peers an assignment names for a task's image (manager/imagepeers.py): holders of the pinned
digest first, then nodes of earlier live tasks of it; ready nodes with a peer address only, never the
task's own node, at most PEER_MAX, none for an image without a digest."""

from __future__ import annotations

from dataclasses import replace

from clusterfixtures import node, service, snap, task

from manager.imagepeers import ImagePeers
from manager.store.objects import NodeObj

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"reg.example:5000/web:1@{DIGEST}"
HELD = f"reg.example:5000/web@{DIGEST}"


def _node(name: str, holds: bool = False, peer: bool = True, state: str = "ready") -> NodeObj:
    n = node(name, state=state)
    n.description.peer_addr = f"10.0.0.{name[-1]}:4245" if peer else ""
    if holds:
        n.description.images.append(HELD)
    return n


def _svc(image: str = IMAGE):  # type: ignore[no-untyped-def]
    s = service("web", replicas=5)
    s.spec.task.image = image
    return s


def test_holders_first_then_earlier_tasks_never_the_node_itself() -> None:
    s = _svc()
    nodes = [_node("n1", holds=True), _node("n2"), _node("n3"), _node("n4")]
    t_old = task(s, 1, node_id="n-n2", state="preparing", created=1.0)
    t_new = task(s, 2, node_id="n-n3", state="assigned", created=2.0)
    t_own = task(s, 3, node_id="n-n1", state="running", created=0.5)
    peers = ImagePeers(snap(nodes, [s], [t_old, t_new, t_own]))
    assert peers.for_task(t_new) == ["10.0.0.1:4245", "10.0.0.2:4245"]
    assert peers.for_task(t_old) == ["10.0.0.1:4245"]  # the later task's node is never asked: no waiting cycle
    assert peers.for_task(t_own) == []  # it holds it itself: no other holder, no earlier task


def test_only_ready_nodes_with_a_peer_address_at_most_the_limit() -> None:
    s = _svc()
    nodes = [
        _node("n1", holds=True, state="down"),
        _node("n2", holds=True, peer=False),
        *(_node(f"n{i}", holds=True) for i in range(3, 8)),
        _node("n9"),
    ]
    t = task(s, 1, node_id="n-n9", state="assigned")
    got = ImagePeers(snap(nodes, [s], [t]), limit=3).for_task(t)
    assert len(got) == 3 and not {"10.0.0.1:4245", "10.0.0.2:4245", "10.0.0.9:4245"} & set(got)


def test_holders_are_spread_over_the_tasks_nodes() -> None:
    s = _svc()
    nodes = [*(_node(f"n{i}", holds=True) for i in range(1, 5)), *(_node(f"m{i}") for i in range(1, 9))]
    firsts = set()
    for i in range(1, 9):
        t = task(s, i, node_id=f"n-m{i}", state="assigned")
        firsts.add(ImagePeers(snap(nodes, [s], [t]), limit=1).for_task(t)[0])
    assert len(firsts) > 1


def test_no_peers_without_a_digest_or_for_ended_tasks() -> None:
    s = _svc("reg.example:5000/web:1")
    n1 = _node("n1")
    n1.description.images.append("reg.example:5000/web:1")
    t = task(s, 1, node_id="n-n2", state="assigned")
    assert ImagePeers(snap([n1, _node("n2")], [s], [t])).for_task(t) == []
    pinned = _svc()
    failed = task(pinned, 1, node_id="n-n1", state="failed", created=1.0)
    t2 = task(pinned, 2, node_id="n-n2", state="assigned", created=2.0)
    assert ImagePeers(snap([_node("n1"), _node("n2")], [pinned], [failed, t2])).for_task(t2) == []
    unplaced = replace(t2, node_id="")
    assert ImagePeers(snap([_node("n1", holds=True)], [pinned], [unplaced])).for_task(unplaced) == []
