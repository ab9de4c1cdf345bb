"""The replicated state machine: compare-and-set, idempotency, forward-only status, snapshots."""

from __future__ import annotations

from dataclasses import replace

from clusterfixtures import node, service, task

from manager.store import ops
from manager.store.objects import ASSIGNED, RUNNING, STARTING, TaskStatusObj
from manager.store.state import StoreState
from svc.v1 import cluster_pb2 as cpb


def fresh() -> StoreState:
    s = StoreState()
    assert s.apply(ops.cluster_init({"id": "c1"}))[0] == ""
    return s


def test_apply_never_raises_and_reports_unknown_ops() -> None:
    s = fresh()
    assert s.apply({"op": "bogus", "v": 1})[0] == "InvalidArgument"
    assert s.apply({"op": "service.create", "v": 1})[0] == "Internal"  # malformed payload
    assert s.apply(ops.noop())[0] == ""


def test_service_cas_and_name_uniqueness() -> None:
    s = fresh()
    spec = cpb.ServiceSpec(name="web", replicas=1)
    _, v1 = s.apply(ops.service_create("s1", spec))
    assert s.apply(ops.service_create("s2", spec))[0] == "AlreadyExists"
    spec2 = cpb.ServiceSpec(name="web", replicas=5)
    code, v2 = s.apply(ops.service_update("s1", v1, spec2))
    assert code == ""
    assert s.apply(ops.service_update("s1", v1, spec2))[0] == "OutOfDate"
    assert s.services["s1"].spec.replicas == 5 and s.services["s1"].version == v2
    assert s.services["s1"].spec_version == 1  # replicas alone do not replace tasks


def test_retried_op_applies_once() -> None:
    s = fresh()
    op = ops.service_create("s1", cpb.ServiceSpec(name="web"))
    first = s.apply(op)
    seq = s.seq
    assert s.apply(op) == first and s.seq == seq


def test_task_status_only_moves_forward_and_only_from_its_node() -> None:
    s = fresh()
    svc = service()
    t = task(svc, 1, "n-a", state=ASSIGNED)
    s.apply(ops.tasks_write(create=[t]))
    s.apply(ops.tasks_status([(t.id, "n-a", TaskStatusObj(state=RUNNING, timestamp=2))]))
    s.apply(ops.tasks_status([(t.id, "n-a", TaskStatusObj(state=STARTING, timestamp=3))]))
    s.apply(ops.tasks_status([(t.id, "n-b", TaskStatusObj(state="failed", timestamp=4))]))
    assert s.tasks[t.id].state == RUNNING
    s.apply(ops.tasks_status([(t.id, "n-a", TaskStatusObj(state=RUNNING, timestamp=5, health="healthy"))]))
    assert s.tasks[t.id].status.health == "healthy"


def test_tasks_write_skips_stale_updates() -> None:
    s = fresh()
    t = task(service(), 1)
    s.apply(ops.tasks_write(create=[t]))
    current = s.tasks[t.id].version
    _, conflicts = s.apply(ops.tasks_write(update=[(t.id, current + 99, {"node_id": "n-a"})]))
    assert conflicts == [t.id] and s.tasks[t.id].node_id == ""
    _, conflicts = s.apply(ops.tasks_write(update=[(t.id, current, {"node_id": "n-a"})]))
    assert conflicts == [] and s.node_tasks("n-a")[0].id == t.id


def test_removed_node_cannot_register_again() -> None:
    s = fresh()
    s.apply(ops.node_register(node("a")))
    s.apply(ops.node_remove("n-a"))
    code, message = s.apply(ops.node_register(replace(node("a"))))
    assert code == "PermissionDenied" and "removed" in message


def test_snapshot_round_trip() -> None:
    s = fresh()
    s.apply(ops.node_register(node("a")))
    s.apply(ops.service_create("s1", cpb.ServiceSpec(name="web", replicas=2)))
    s.apply(ops.tasks_write(create=[task(service(), 1, "n-a"), task(service(), 2, "n-a")]))
    plain = s.to_plain()
    t = StoreState()
    t.load_plain(plain)
    assert t.to_plain() == plain
    assert len(t.node_tasks("n-a")) == 2


def test_a_deposed_leaders_decision_is_refused_whenever_it_commits() -> None:
    """A decision carries the term it was made in; committed in any other term it changes nothing."""
    s = fresh()
    s.apply(ops.node_register(node("a")))
    seq = s.seq
    late = ops.node_states([("n-a", "down", "heartbeat failure")], term=3)
    code, why = s.apply(late, entry_term=4)  # the old leader's write, landed after the election
    assert code == "OutOfDate" and "term 3" in why and "term 4" in why
    assert s.nodes["n-a"].state == "ready" and s.seq == seq
    assert s.apply(late, entry_term=4)[0] == "OutOfDate"  # a retry of the same key: the same answer

    t = task(service(), 1, "n-a")
    assert s.apply(ops.tasks_write(create=[t], term=3), entry_term=5)[0] == "OutOfDate"
    assert t.id not in s.tasks
    assert s.apply(ops.tasks_write(create=[t], term=5), entry_term=5)[0] == ""  # its own term: applies
    assert t.id in s.tasks
    now = ops.node_states([("n-a", "down", "heartbeat failure")], term=5)
    assert s.apply(now, entry_term=5)[0] == "" and s.nodes["n-a"].state == "down"


def test_writes_that_are_not_decisions_are_not_fenced() -> None:
    s = fresh()
    assert s.apply(ops.node_register(node("a")), entry_term=9)[0] == ""  # a node's own claim, any term


def test_the_digest_is_equal_for_replicas_that_applied_the_same_ops() -> None:
    a, b = StoreState(), StoreState()
    log = [ops.cluster_init({"id": "c1"}), ops.node_register(node("a")), ops.node_register(node("b"))]
    for op in log:
        a.apply(op)
        b.apply(op)
    assert a.digest() == b.digest()
    b.apply(ops.node_states([("n-b", "down", "x")], term=1), entry_term=1)
    assert a.digest() != b.digest()
    fenced = ops.node_states([("n-a", "down", "x")], term=1)
    before = a.digest()
    a.apply(fenced, entry_term=2)  # changes nothing but the dedup table
    assert a.digest() != before


def test_a_forced_new_cluster_keeps_everything_but_the_other_managers() -> None:
    old = fresh()
    old.apply(ops.node_register(node("a")))
    for m in ("m1", "m2", "m3"):
        old.apply(ops.node_register(node(m, role="manager")))
    old.apply(ops.service_create("s1", cpb.ServiceSpec(name="web", replicas=3)))
    new = StoreState()
    code, gone = new.apply(ops.store_restore(old.to_plain(), "n-m1"))
    assert code == "" and gone == ["n-m2", "n-m3"]
    assert sorted(new.nodes) == ["n-a", "n-m1"] and "s1" in new.services
    assert new.cluster is not None and {"n-m2", "n-m3"} <= new.cluster.removed_nodes
    assert new.seq > old.seq
