"""`depends_on` of a stack: the order a deploy creates services in, and when a dependency is ready (pure).

Rule (compose's, which docker stack ignores): `depends_on: [db]` or `depends_on: {db: {condition: C}}`
with C `service_started` (the default: a task of db has started) or `service_healthy` (db runs all its
replicas, and a task is only running once healthy where it has a health check). Services are created
dependencies first (ties by name); a name the file does not define, or a cycle, is refused naming it,
before anything is written. `service_completed_successfully` needs jobs, which svc has not: refused.
"""

from __future__ import annotations

from typing import Any

from svc.errors import InvalidArgument

CONDITIONS = ("service_started", "service_healthy")
STARTED_STATES = ("starting", "running")


def parse(services: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{service key: {dependency key: condition}} for every service, each reference checked."""
    out: dict[str, dict[str, str]] = {}
    for key in sorted(services):
        raw = (services[key] or {}).get("depends_on") or []
        deps = {str(d): {} for d in raw} if isinstance(raw, list) else {str(k): v or {} for k, v in raw.items()}
        out[key] = {}
        for dep, opts in deps.items():
            if dep not in services:
                raise InvalidArgument(f"service {key} depends on undefined service {dep}")
            if dep == key:
                raise InvalidArgument(f"service {key} depends on itself")
            condition = str(opts.get("condition", "service_started"))
            if condition not in CONDITIONS:
                raise InvalidArgument(
                    f"services.{key}.depends_on.{dep}.condition: {condition} is not supported"
                    f" (use {' or '.join(CONDITIONS)}; svc has no jobs)"
                )
            out[key][dep] = condition
    return out


def order(graph: dict[str, dict[str, str]]) -> list[str]:
    """Every service, each after what it depends on (ties by name); a cycle is refused, named."""
    done: list[str] = []
    state: dict[str, str] = {}  # "open" while its dependencies are visited, then "done"

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "open":
            cycle = [*path[path.index(key) :], key]
            raise InvalidArgument(f"depends_on has a cycle: {' -> '.join(cycle)}")
        state[key] = "open"
        for dep in sorted(graph.get(key, {})):
            visit(dep, [*path, key])
        state[key] = "done"
        done.append(key)

    for key in sorted(graph):
        visit(key, [])
    return done


def sort_specs(specs: list[Any], namespace: str, keys: list[str]) -> list[Any]:
    """ServiceSpecs (named STACK_KEY) in the order of `keys`."""
    rank = {f"{namespace}_{k}": i for i, k in enumerate(keys)}
    return sorted(specs, key=lambda s: rank.get(s.name, len(rank)))


def ready(condition: str, service: Any, tasks: list[Any]) -> bool:
    """Whether a dependency (its Service and tasks) meets `condition`."""
    wanted = [t for t in tasks if t.desired_state == "running"]
    if condition == "service_healthy":
        return service.desired > 0 and service.running >= service.desired
    return service.desired == 0 or any(t.status.state in STARTED_STATES for t in wanted)


def waits(graph: dict[str, dict[str, str]], key: str, namespace: str) -> list[tuple[str, str]]:
    """(STACK_dependency, condition) a new service `key` waits for before it is created."""
    return [(f"{namespace}_{dep}", cond) for dep, cond in sorted(graph.get(key, {}).items())]
