"""svc/stack/depends.py and plan.describe (pure): depends_on orders a deploy's creations, a cycle or an
undefined service is refused naming it, readiness per condition; what --dry-run prints."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from svc.errors import InvalidArgument
from svc.stack import convert, depends, loader, plan
from svc.v1 import cluster_pb2 as cpb


def _doc(tmp: Any, text: str) -> dict[str, Any]:
    path = os.path.join(str(tmp), "c.yml")
    with open(path, "w") as f:
        f.write(text)
    return loader.load([path], {}, lambda _: None)


def test_short_and_long_forms_and_the_order(tmp_path: Any) -> None:
    doc = _doc(
        tmp_path,
        "services:\n  web: {image: busybox, depends_on: {api: {condition: service_healthy}, cache: {}}}\n"
        "  api: {image: busybox, depends_on: [db]}\n  db: {image: busybox}\n  cache: {image: busybox}\n",
    )
    graph = depends.parse(doc["services"])
    assert graph == {
        "api": {"db": "service_started"},
        "cache": {},
        "db": {},
        "web": {"api": "service_healthy", "cache": "service_started"},
    }
    keys = depends.order(graph)
    assert keys == ["db", "api", "cache", "web"]
    assert depends.waits(graph, "web", "app") == [("app_api", "service_healthy"), ("app_cache", "service_started")]
    stack = convert.convert(doc, "app", str(tmp_path), {})
    assert [s.name for s in depends.sort_specs(stack.services, "app", keys)] == [
        "app_db",
        "app_api",
        "app_cache",
        "app_web",
    ]


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
         "depends_on has a cycle: a -> b -> c -> a"),
        ("  a: {image: x, depends_on: [nope]}\n", "service a depends on undefined service nope"),
        ("  a: {image: x, depends_on: [a]}\n", "service a depends on itself"),
        ("  a: {image: x, depends_on: {b: {condition: service_completed_successfully}}}\n  b: {image: x}\n",
         "services.a.depends_on.b.condition: service_completed_successfully is not supported"),
    ],
)  # fmt: skip
def test_bad_dependencies_refused_by_name(tmp_path: Any, services: str, message: str) -> None:
    doc = _doc(tmp_path, "services:\n" + services)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        depends.order(depends.parse(doc["services"]))


def test_an_unknown_condition_is_a_schema_error(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgument, match=re.escape("services.a.depends_on")):
        _doc(tmp_path, "services:\n  a: {image: x, depends_on: {b: {condition: later}}}\n  b: {image: x}\n")


def _task(state: str, desired: str = "running") -> Any:
    t = cpb.Task(desired_state=desired)
    t.status.state = state
    return t


def test_ready() -> None:
    svc = cpb.Service(desired=2, running=1)
    assert depends.ready("service_started", svc, [_task("starting"), _task("pending")])
    assert not depends.ready("service_started", svc, [_task("pending"), _task("running", desired="shutdown")])
    assert not depends.ready("service_healthy", svc, [_task("running"), _task("starting")])
    assert depends.ready("service_healthy", cpb.Service(desired=2, running=2), [])
    assert not depends.ready("service_healthy", cpb.Service(desired=0), [])


def test_dry_run_lines(tmp_path: Any) -> None:
    doc = _doc(tmp_path, "services:\n  web: {image: busybox}\n  api: {image: busybox}\n")
    st = convert.convert(doc, "app", str(tmp_path), {})
    p = plan.make(st, [], {}, {})
    assert plan.describe(p) == [
        "Would create network app_default",
        "Would create service app_api",
        "Would create service app_web",
    ]
    current = cpb.Service(id="s1", version=3)
    current.spec.CopyFrom(st.services[0])
    current.spec.networks[0].target = "n1"
    old = cpb.Service(id="s2")
    old.spec.name = "app_old"
    p = plan.make(st, [current, old], {"app_default": "n1"}, {}, prune=True)
    assert plan.describe(p) == [
        "Would update service app_api (id: s1, spec unchanged: its image tag is looked up again)",
        "Would create service app_web",
        "Would remove service app_old (id: s2)",
    ]
    p = plan.make(st, [current], {"app_default": "n1"}, {}, resolve_image="never")
    assert plan.describe(p) == ["Would create service app_web", "Unchanged service app_api"]
    assert plan.describe(plan.Plan()) == ["Nothing to do"]


def test_a_port_mode_the_managers_wrote_is_no_change(tmp_path: Any) -> None:
    doc = _doc(tmp_path, "services:\n  web: {image: busybox, ports: ['8080:80', {target: 53, mode: host}]}\n")
    st = convert.convert(doc, "app", str(tmp_path), {})
    assert [p.publish_mode for p in st.services[0].task.ports] == ["", "host"]
    current = cpb.Service(id="s1", version=3)
    current.spec.CopyFrom(st.services[0])
    current.spec.networks[0].target = "n1"
    current.spec.task.ports[0].publish_mode = "ingress"  # what the managers store for ""
    current.spec.task.ports[1].host_port = 30000  # picked by the managers
    p = plan.make(st, [current], {"app_default": "n1"}, {}, resolve_image="changed")
    assert p.unchanged == ["app_web"] and not p.update


def test_dry_run_placement_lines(tmp_path: Any) -> None:
    from svc.v1 import control_pb2 as ctl

    doc = _doc(tmp_path, "services:\n  web: {image: busybox}\n  api: {image: busybox}\n")
    st = convert.convert(doc, "app", str(tmp_path), {})
    current = cpb.Service(id="s1", version=3)
    current.spec.CopyFrom(st.services[0])
    current.spec.networks[0].target = "n1"
    p = plan.make(st, [current], {"app_default": "n1"}, {})
    # what the managers are asked: the update as they would compare it (its network by id), then the creates
    specs = plan.placement_specs(p, {"app_default": "n1"}, {})
    assert [s.name for s in specs] == ["app_api", "app_web"] and plan.same(specs[0], current.spec)
    placements = {
        "app_api": ctl.ServicePlacement(service="app_api"),
        "app_web": ctl.ServicePlacement(
            service="app_web",
            nodes={"node-b": 1, "node-a": 2},
            unplaced={"no suitable node (insufficient memory on 2 nodes)": 1},
        ),
    }
    assert plan.describe(p, placements) == [
        "Would update service app_api (id: s1, spec unchanged: its image tag is looked up again)",
        "Would place app_api: no new tasks",
        "Would create service app_web",
        "Would place app_web: 2 on node-a, 1 on node-b",
        "Would not place 1 task of app_web: no suitable node (insufficient memory on 2 nodes)",
    ]
    refused = ctl.ServicePlacement(service="app_web", refused="port 80/tcp is taken")
    assert plan.placement_lines(refused) == ["Would refuse service app_web: port 80/tcp is taken"]
    only = ctl.ServicePlacement(service="app_db", unplaced={"no suitable node (no nodes)": 2})
    assert plan.placement_lines(only) == ["Would not place 2 tasks of app_db: no suitable node (no nodes)"]
